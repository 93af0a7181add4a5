"""Clause accounting and the turn's reply: every request in a message becomes an op or is named back as not done
(with why and what can be done instead), the ops of one sentence run in an order that composes, and a failed op
is reported rather than ending the story. Runs the rules planner and the edit tools in process, on uploads that
exist only as facts (no files, no FFmpeg): the corpus tests render."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tests.test_agent_corpus as corpus
from api.agent.ops import Op, make_op
from api.agent.tools import Draft, MediaRef, Workspace, normalised, starting_draft, timeline_ms
from api.agent.turn import Step, run_turn
from api.agent.understand import MediaFacts, Understanding, examples_text, understand
from api.agent.understand.model import Unmet, _Found
from api.agent.understand.plan import _GENERAL, _TOPICS, _account, _arrange, _hints
from engine.model.draft import parse_draft
from engine.model.summary import summarize

RANDOM = settings(max_examples=150, deadline=None, database=None)

# The corpus's uploads, as the tools see them: (kind, ms, has sound, width, height).
KNOWN_FILES: dict[str, tuple[str, int | None, bool, int | None, int | None]] = {
    "clip.mp4": ("video", 6000, True, 320, 180), "talk.mp4": ("video", 4000, True, 320, 180),
    "tall.mp4": ("video", 4000, False, 180, 320), "song.mp3": ("audio", 8000, True, None, None),
    "photo1.jpg": ("image", None, False, 320, 240), "photo2.jpg": ("image", None, False, 240, 320),
    "photo3.png": ("image", None, False, 300, 300), "logo.png": ("image", None, False, 200, 200),
}


def _upload(name: str, order: int) -> MediaRef:
    suffix = PurePath(name).suffix.lower()
    guess = ("audio", 8000, True, None, None) if suffix in (".mp3", ".wav", ".m4a", ".aac", ".ogg") else \
        ("image", None, False, 320, 240) if suffix in (".jpg", ".jpeg", ".png", ".webp") else \
        ("video", 6000, True, 320, 180)
    kind, ms, sound, width, height = KNOWN_FILES.get(name, guess)
    return MediaRef(f"m_{order}_{PurePath(name).stem}", name, kind, ms, sound, width, height, float(order))


@dataclass
class Chat:
    """A chat session on uploads known only by their facts; the TurnHooks run_turn calls, kept in memory."""

    uploads: list[str] = field(default_factory=lambda: ["clip.mp4"])
    media: list[MediaRef] = field(default_factory=list)
    draft: Draft = field(default_factory=dict)
    versions: list[Draft] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.media = [_upload(name, k) for k, name in enumerate(self.uploads)]
        self.draft = starting_draft(self.media)

    def check(self, draft: Draft) -> None:
        parse_draft(draft)

    def summary(self, draft: Draft) -> str:
        return summarize(parse_draft(draft))

    def save(self, draft: Draft, note: str) -> int:
        self.versions.append(self.draft)
        self.draft = draft
        return len(self.versions)

    def undo(self) -> Draft | None:
        if not self.versions:
            return None
        self.draft = self.versions.pop()
        return self.draft

    def start_over(self) -> Draft | None:
        first = starting_draft(self.media)
        if not first:
            return None
        self.save(first, "start over")
        return first

    def bed(self, seconds: float) -> MediaRef:
        ref = MediaRef(f"m_bed_{len(self.media)}", "music-bed.wav", "audio", 19_200, True, None, None,
                       float(len(self.media)))
        self.media.append(ref)
        return ref

    def workspace(self, language: str = "en") -> Workspace:
        return Workspace(list(self.media), float(len(self.uploads)), language, make_music_bed=self.bed)

    def facts(self) -> MediaFacts:
        return MediaFacts(videos=sum(m.kind == "video" for m in self.media),
                          images=sum(m.kind == "image" for m in self.media),
                          audios=tuple((m.id, m.filename) for m in self.media if m.kind == "audio"),
                          timeline_ms=timeline_ms(normalised(self.draft, self.workspace())) or None
                          if self.draft.get("t") else None)

    def run(self, plan: Understanding, text: str = "") -> list[Step]:
        return list(run_turn(plan, text, copy.deepcopy(self.draft), self.workspace(plan.language), self))

    def say(self, text: str) -> tuple[Understanding, list[Step]]:
        plan = understand(text, self.facts())
        return plan, self.run(plan, text)


def reply(steps: list[Step]) -> str:
    [final] = [s for s in steps if s.kind == "text"]
    assert steps[-1] is final
    return final.text


# ---- every request yields its op; every request the planner cannot read is named back, in the reply too

KNOWN = {
    "en": [("make it 9:16", "set_aspect"), ("mute it", "mute"), ("play it backwards", "reverse"),
           ("speed it up 2x", "speed"), ("keep only the first 3 seconds", "keep_range"),
           ('add the title "Hello"', "add_text"), ("convert it to a gif", "set_output"),
           ("add background music", "add_music")],
    "zh": [("改成竖屏", "set_aspect"), ("静音", "mute"), ("倒放", "reverse"), ("2倍速", "speed"),
           ("只保留前3秒", "keep_range"), ("加标题「你好」", "add_text"), ("转成GIF", "set_output"),
           ("加背景音乐", "add_music")],
}
JUNK = {
    "en": ["paint it like van gogh", "summon a dragon", "make it smell like pizza", "teach the cat to sing"],
    "zh": ["画成梵高的风格", "召唤一条龙", "让猫跳舞", "变成披萨的味道"],
}
FILLER = {"en": ["please", "thanks!", "hi there", "ok 👍"], "zh": ["谢谢", "你好", "好的🙂"]}
SEPARATORS = [", ", " and ", " then ", "，", "然后"]
WRAPPERS = {"en": ["", "", "The user would like you to: ", "Here is the request: ", "Please "],
            "zh": ["", "", "用户希望：", "请"]}
# Made-up words: no vowels, so never a keyword nor one typo away from one.
NONSENSE = st.text(alphabet="bcdfghjklmnpqrstvwxz", min_size=4, max_size=8)


@st.composite
def messages(draw: st.DrawFn) -> tuple[str, list[str], list[str], list[str]]:
    """(message, the ops it must yield, its junk clauses, its filler clauses)."""
    language = draw(st.sampled_from(["en", "zh"]))
    known = draw(st.lists(st.sampled_from(KNOWN[language]), max_size=4, unique=True))
    junk = draw(st.lists(st.sampled_from(JUNK[language]), max_size=2, unique=True))
    junk += draw(st.lists(st.lists(NONSENSE, min_size=1, max_size=3).map(" ".join), max_size=1))
    filler = draw(st.lists(st.sampled_from(FILLER[language]), max_size=1))
    if language == "en" and draw(st.booleans()):
        junk = [words.title() for words in junk]                   # the reply quotes them as they were written
    parts = draw(st.permutations([phrase for phrase, _ in known] + junk + filler))
    if not parts:
        parts = [KNOWN[language][0][0]]
        known = [KNOWN[language][0]]
    text = draw(st.sampled_from(WRAPPERS[language])) + parts[0]
    for part in parts[1:]:
        text += draw(st.sampled_from(SEPARATORS)) + part
    return text, [op for _, op in known], junk, filler


@RANDOM
@given(messages())
def test_every_request_is_done_or_named(message: tuple[str, list[str], list[str], list[str]]) -> None:
    text, wanted, junk, filler = message
    chat = Chat(["clip.mp4"])
    plan, steps = chat.say(text)
    names = [op.name for op in plan.ops]
    for op in wanted:
        assert op in names, (text, names)
    unmet = [u.words for u in plan.unmet]
    assert sorted(unmet) == sorted(junk), (text, unmet)           # each junk clause, once; no known or filler one
    said = reply(steps)
    for words in junk:
        assert words in said, (text, said)
    assert all(u.en and u.zh for u in plan.unmet)
    if junk:
        assert "Not done" in said or "未完成" in said
    assert plan.not_understood == (not wanted and not junk)


def test_a_message_of_only_unreadable_requests_names_them_and_lists_examples() -> None:
    plan, steps = Chat().say("summon a dragon, then paint it like van gogh")
    assert plan.ops == [] and plan.not_understood is False
    assert [u.words for u in plan.unmet] == ["summon a dragon", "paint it like van gogh"]
    said = reply(steps)
    assert "summon a dragon" in said and "paint it like van gogh" in said and examples_text("en") in said
    assert not [s for s in steps if s.kind == "call"] and steps[-1].spent == 0


def test_filler_alone_is_not_understood_and_gets_examples() -> None:
    for text in ("hello there!", "thanks 🙏", "你好", "The user would like you to: ok"):
        plan = understand(text, MediaFacts(videos=1))
        assert plan.ops == [] and plan.unmet == () and plan.not_understood, text


def test_wrapper_phrases_and_politeness_are_not_requests() -> None:
    for text in ("The user would like you to make it a gif, thanks!", "Here is the request: make it a gif",
                 "Hi! Could you please make it a gif for me? Thank you 🙂", "用户希望：转成GIF，谢谢"):
        plan = understand(text, MediaFacts(videos=1, timeline_ms=6000))
        assert [op.name for op in plan.ops] == ["set_output"] and plan.unmet == (), (text, plan.unmet)


def test_purposes_and_explanations_beside_a_request_are_not_requests() -> None:
    facts = MediaFacts(videos=1, timeline_ms=6000)
    for text in ("Compress it to under 2 MB, to email it to my boss", "压缩到1.5MB以内，我要发微信",
                 "mute it, there's a logo there", "make a slideshow a minute and a half long"):
        plan = understand(text, MediaFacts(videos=1, images=3, timeline_ms=6000))
        assert plan.ops and plan.unmet == (), (text, plan.unmet)
    assert [u.words for u in understand("there's a logo there", facts).unmet] == ["there's a logo there"]
    assert [u.words for u in understand("mute it, it's about my dog", facts).unmet] == ["it's about my dog"]


def test_unmet_words_are_the_users_own() -> None:
    plan = understand("Trim it to the first 3 seconds, then Draw a Moustache on 'Uncle Bob', and mute it",
                      MediaFacts(videos=1, timeline_ms=6000))
    assert [op.name for op in plan.ops] == ["keep_range", "mute"]
    assert [u.words for u in plan.unmet] == ["Draw a Moustache on 'Uncle Bob'"]
    chinese = understand("只保留前三秒，再画一个十二角星，然后静音", MediaFacts(videos=1, timeline_ms=6000))
    assert [u.words for u in chinese.unmet] == ["画一个十二角星"]
    assert "没看懂" in chinese.unmet[0].zh and "「" in chinese.unmet[0].zh


def test_the_hints_are_things_the_planner_understands() -> None:
    facts = MediaFacts(videos=1, images=2, timeline_ms=6000)
    hints = [hint for _, en, zh in _TOPICS for hint in (en, zh)] + [h for pair in _GENERAL for h in pair]
    for hint in hints:
        for example in hint.split(" / "):
            assert understand(example, facts).ops, example
    assert "title" in _hints("put some words on it")[0][0] and "音乐" in _hints("把歌换掉")[1][0]
    assert "I did not understand" in understand("summon a dragon", facts).unmet[0].en


def test_a_planned_op_stands_for_the_words_it_includes() -> None:
    plan = understand("create a 30-second promotional video with music and text overlays", MediaFacts(images=3))
    assert [op.name for op in plan.ops] == ["promo"] and plan.unmet == ()


# ---- the existing corpus: every clause applied or named in the reply

CORPUS = list(corpus.CORPUS) + list(getattr(corpus, "FRESH", []))


def _case(case: Any) -> tuple[list[str], list[str], str]:
    if isinstance(case, tuple):
        return case[0], case[1], case[2]
    return case.uploads, case.before, case.text                   # a FRESH entry of another shape


@pytest.mark.parametrize("case", CORPUS, ids=[_case(c)[2][:48] for c in CORPUS])
def test_every_corpus_clause_is_applied_or_named(case: Any) -> None:
    uploads, before, text = _case(case)
    chat = Chat(list(uploads))
    for earlier in before:
        chat.say(earlier)
    facts = chat.facts()
    plan, clauses = _account(text, facts)
    steps = chat.run(plan, text)
    said = reply(steps)
    for clause in clauses:
        assert clause.verdict in ("op", "declined", "implied", "filler", "context", "unmet"), clause
        if clause.verdict == "unmet":
            assert clause.words in said, (text, clause, said)
    for unmet in plan.unmet:
        assert unmet.words in said, (text, unmet, said)
    failed = [s.response for s in steps if s.kind == "result" and s.response.get("status") != "success"]
    if failed or plan.unmet:
        assert "Not done" in said or "未完成" in said, (text, said)


# ---- the order ops run in

CLIP = MediaFacts(videos=1, timeline_ms=6000)


def _names(text: str) -> list[tuple[str, dict[str, Any]]]:
    return [(op.name, op.args) for op in understand(text, CLIP).ops]


@pytest.mark.parametrize("text", [
    "boomerang GIF out of the first 2 seconds", "make a gif, boomerang it, first 2 seconds",
    "first 2 seconds as a boomerang gif", "把前2秒做成来回播放的GIF",
])
def test_the_range_is_selected_before_the_boomerang_and_the_format(text: str) -> None:
    assert _names(text) == [("keep_range", {"start_ms": 0, "end_ms": 2000}), ("boomerang", {}),
                            ("set_output", {"format": "gif"})]


def test_phases_whatever_the_order_said() -> None:
    assert [n for n, _ in _names("convert to gif, add the title 'Hi', make it square, slow motion, "
                                 "cut the last 2 seconds")] == [
        "remove_end", "speed", "set_aspect", "add_text", "set_output"]
    assert [n for n, _ in _names("make it square and undo")] == ["undo", "set_aspect"]
    assert [n for n, _ in _names("show tracks and reverse it")] == ["reverse", "show_tracks"]


def test_a_repeat_is_never_a_loop_flag() -> None:
    def found(*ops: Op) -> list[_Found]:
        return [_Found(k, op) for k, op in enumerate(ops)]

    ops = _arrange(found(make_op("set_output", loop=True), make_op("repeat", start_ms=0, end_ms=2000, times=3),
                         make_op("speed", factor=2)))
    assert [(op.name, op.args) for op in ops] == [("repeat", {"start_ms": 0, "end_ms": 2000, "times": 3}),
                                                  ("speed", {"factor": 2})]
    gif = _arrange(found(make_op("set_output", format="gif", loop=True), make_op("repeat", end_ms=2000, times=2)))
    assert [op.name for op in gif] == ["repeat", "set_output"] and gif[1].args["loop"] is True
    said = understand("repeat the first 2 seconds three times", MediaFacts(videos=1, timeline_ms=6000)).ops
    if not any(op.name == "repeat" for op in said):
        pytest.skip("the planner does not read repeat requests yet")
    assert [(op.name, op.args) for op in said] == [("repeat", {"start_ms": 0, "end_ms": 2000, "times": 3})]


# ---- the reply: what changed, what did not and why, the summary line

def test_a_failed_op_is_reported_and_the_others_still_run() -> None:
    chat = Chat()
    plan, steps = chat.say("remove the title and make it square")
    assert [op.name for op in plan.ops] == ["set_aspect", "remove_text"]
    results = [s.response["status"] for s in steps if s.kind == "result"]
    assert results == ["success", "error"]
    said = reply(steps)
    assert "Not done" in said and "removing the text" in said and "There is no such text" in said
    assert chat.draft["m"]["aspect"] == "1:1" and "Timeline" in said
    assert steps[-1].spent == make_op("set_aspect", aspect="1:1").spec.credits


def test_edits_after_a_failed_range_are_skipped_and_named() -> None:
    chat = Chat()
    before = copy.deepcopy(chat.draft)
    plan, steps = chat.say("keep 10s to 20s, reverse it and show tracks")
    assert [op.name for op in plan.ops] == ["keep_range", "reverse", "show_tracks"]
    assert [s.args["operation"] for s in steps if s.kind == "call"] == ["keep_range", "show_tracks"]
    said = reply(steps)
    assert "outside the video" in said and "playing it backwards: skipped" in said
    assert chat.draft == before and steps[-1].spent == 0


def test_the_reply_is_in_the_users_language() -> None:
    plan, steps = Chat().say("只保留前3秒，召唤一条龙")
    said = reply(steps)
    assert "未完成" in said and "「召唤一条龙」" in said and "没看懂" in said and "Timeline" in said
    assert [op.name for op in plan.ops] == ["keep_range"]


def test_nothing_to_undo_is_said() -> None:
    _, steps = Chat().say("undo")
    said = reply(steps)
    assert "nothing to undo" in said and "Not done" in said


def test_start_over_returns_to_the_uploads() -> None:
    chat = Chat(["clip.mp4", "photo1.jpg"])
    first = copy.deepcopy(chat.draft)
    chat.say("keep only the first 2 seconds and make it square")
    assert chat.draft != first
    steps = chat.run(Understanding([make_op("start_over"), make_op("mute")], "en", False), "start over and mute")
    assert [s.args["operation"] for s in steps if s.kind == "call"] == ["start_over", "mute"]
    assert "Started over" in reply(steps) and "Timeline" in reply(steps)
    assert chat.versions[-1] == first and chat.draft["t"][0]["sg"] == first["t"][0]["sg"]


def test_start_over_with_no_uploads() -> None:
    chat = Chat([])
    steps = chat.run(Understanding([make_op("start_over")], "zh", False), "重新开始")
    assert "还没有上传的文件" in reply(steps) and "未完成" in reply(steps) and chat.versions == []


def test_the_reply_never_just_says_done_when_a_part_was_not() -> None:
    plan = Understanding([make_op("reverse")], "en", False,
                         (Unmet("blur the faces", "I cannot find faces; I can blur a fixed region instead.",
                                "我无法识别人脸；可以模糊固定的区域。"),))
    said = reply(Chat().run(plan, "reverse it and blur the faces"))
    assert said.index("Not done") > said.index("backwards") and '"blur the faces": I cannot find faces' in said
