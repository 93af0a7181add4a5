"""The planner itself: the handlers in their fixed order, :func:`understand` with its clause accounting, the
order the ops run in, and the reply listing examples when nothing was understood."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from api.agent.ops import Op, make_op
from api.agent.understand.builders import _PROMO, _find_images, _find_promo
from api.agent.understand.clauses import _blank, _requests, _Words
from api.agent.understand.edits import _find_aspect, _find_effects, _find_speed
from api.agent.understand.model import MediaFacts, Span, Understanding, Unmet, _Context, _Declined, _Found, _Result
from api.agent.understand.music import _find_music
from api.agent.understand.output import _find_output
from api.agent.understand.picture import _find_picture
from api.agent.understand.ranges import _find_ranges, _find_repeat
from api.agent.understand.sentence import _PH_BASE, _PLACEHOLDER, _prepare
from api.agent.understand.session import _find_session
from api.agent.understand.titles import _find_text, _find_text_removal

_CJK: Final = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")

_HANDLERS: Final[tuple[Callable[[str, _Context], _Result], ...]] = (
    _find_session, _find_picture, _find_aspect, _find_promo, _find_text_removal, _find_text, _find_music,
    _find_images, _find_effects, _find_speed, _find_repeat, _find_ranges, _find_output,
)

# The order ops run in, whatever order they are said in (within a phase, the order said): a sentence's edits then
# compose as meant ("a boomerang GIF of the first 2 seconds" cuts first, then plays it back and forth).
_PHASES: Final[tuple[frozenset[str], ...]] = tuple(frozenset(names.split()) for names in (
    "undo",                                           # its own first step: it restores a saved version
    "start_over",                                     # back to the uploads, before anything is built on them
    "promo slideshow still_clip",                     # builders make the timeline the edits work on
    "set_transition",
    "keep_range remove_range keep_end remove_end",    # select the range
    "repeat speed reverse boomerang",                 # then its timing
    "set_aspect crop blur enhance",                   # the picture
    "add_text remove_text",                           # text, timed on the final timeline
    "mute add_music set_music remove_music",          # sound
    "set_output",                                     # the file
    "show_tracks pointer",                            # read-only, so they see the result
))
_WORDS_MAX: Final = 160                               # an unmet clause is quoted back up to this many characters
_EDIT_PHASE: Final = 6                                # an op no phase names runs with the picture edits

# Words a planned op already stands for, so a clause of only these is accounted for ("a promo with music and
# text overlays": the promo brings both).
_IMPLIED: Final[dict[str, re.Pattern[str]]] = {
    "promo": re.compile(r"\b(?:music|bgm|songs?|soundtrack|texts?|titles?|captions?|overlays?|logos?|transitions?"
                        r"|photos?|images?|pictures?|clips?|videos?|products?|closing|cta)\b"
                        r"|音乐|配乐|文字|标题|字幕|转场|图片|照片|视频|产品|logo"),
    "slideshow": re.compile(r"\b(?:transitions?|photos?|images?|pictures?|pics?|slides?|logos?|files?)\b"
                            r"|转场|图片|照片|相片"),
    "still_clip": re.compile(r"\b(?:photos?|images?|pictures?|pics?|logos?)\b|图片|照片|相片"),
}

# A clause made only of these asks for nothing: greetings, politeness, agents' wrapper phrases, "it", emoji.
_FILLER: Final = re.compile(
    r"\b(?:the\s+)?user\s+(?:would\s+like|wants|is\s+asking|asks|asked|requests|requested|needs)(?:\s+(?:you|me))?"
    r"(?:\s+to)?\b|\b(?:here\s+is|here's|this\s+is)\s+(?:the\s+|their\s+|my\s+)?(?:user's\s+)?(?:request|task|ask)\b"
    r"|\b(?:user\s+)?(?:request|task|instructions?)\s*:"
    r"|\b(?:hi|hello|hey|hiya|yo|greetings|good\s+(?:morning|afternoon|evening))(?:\s+there)?\b"
    r"|\b(?:please|pls|plz|kindly|thanks|thank\s+you|thx|ty|cheers|much\s+appreciated|in\s+advance)\b"
    r"|\b(?:can|could|would|will)\s+(?:you|u)(?:\s+please)?\b|\bwould\s+you\s+mind\b|\b(?:for|to)\s+me\b"
    r"|\b(?:i'd|i\s+would|we'd|we\s+would)\s+like(?:\s+(?:you\s+)?to)?\b|\b(?:i|we)\s+(?:want|need)(?:\s+you)?\s+to\b"
    r"|\bi\s+wanna\b|\blet's\b|\b(?:ok|okay|sure|great|cool|nice|awesome|perfect|yes|yeah|yep|alright)\b"
    r"|\bthat's\s+(?:all|it)\b|\bthat\s+is\s+all\b"
    r"|\b(?:for\s+)?(?:marketers|developers|designers|creators|influencers|students|teachers|social\s+media"
    r"|small\s+business(?:\s+owners)?|business\s+owners|sharing|everyone|my\s+(?:team|friends|family|boss|client))\b"
    r"|\b(?:so\s+(?:that\s+)?i\s+can\s+|in\s+order\s+)?to\s+(?:email|send|share|post|upload|text|whatsapp)"
    r"(?:\s+it)?(?:\s+(?:to|on|with|via)(?:\s+(?:my|the|our|a|an))?\s+\w+)?\b"
    r"|用户(?:希望|想要|想|要求|需要|说|请求)(?:你)?|(?:我要|要|想|用来|方便)?(?:发|分享|传)(?:到|给)?"
    r"(?:微信|朋友圈|群里?|邮件|邮箱|朋友|客户)|以下是(?:用户的?)?(?:请求|需求|任务)|(?:请求|需求|任务)\s*[:：]"
    r"|你好|您好|嗨|哈喽|请|麻烦(?:你)?|帮(?:我|忙)?|一下|谢谢|感谢|多谢|好的|可以吗|能不能|能否|可以|行吗|就这样"
    r"|我(?:想|要|希望|需要)|给我|吧|呢|啊|哦|嗯|了")
# A clause that only explains another ("there's a logo there", "因为…"): not a request of its own when the message
# asks for something else.
_CONTEXT: Final = re.compile(r"(?:there's|there\s+is|there\s+are|because|since|which\s+is\s+where)\b"
                             r"|那里有|这里有|因为|由于")
_LEAD: Final = re.compile(r"[\s:：,，!！]+")
_TRAIL: Final = re.compile(r"(?:[\s,，!！]*(?:\b(?:please|pls|plz|thanks|thank\s+you|thx|for\s+me)\b"
                          r"|谢谢|吧|一下|[^\w\s\ue000-\ue0ff]))+\s*$")
_STOP_WORDS: Final = re.compile(
    r"\b(?:a|an|the|some|of|with|to|and|or|in|on|for|it|its|this|that|these|those|me|my|i|you|we|us|our|your|just"
    r"|now|so|also|too|then|also|really|quickly|video|clip|file|footage|one|thing|do|do\s+it|go)\b"
    r"|这个|那个|视频|一个|它|的|把|将")


@dataclass(frozen=True, slots=True)
class _Clause:
    """One request of the message and what became of it."""

    span: Span                     # in the prepared sentence
    words: str                     # the user's own words for it
    verdict: str                   # op | declined | implied | filler | context | unmet


def understand(text: str, facts: MediaFacts) -> Understanding:
    """The ops one chat sentence asks for, in the order they should run, and the requests that yield none."""
    return _account(text, facts)[0]


def _account(text: str, facts: MediaFacts) -> tuple[Understanding, list[_Clause]]:
    """:func:`understand`, with the verdict on every clause (tests read it)."""
    language = "zh" if _CJK.search(text) else "en"
    quotes, s = _prepare(text)
    prepared = s
    ctx = _Context(facts=facts, quotes=quotes, raw=text.lower(), promo=bool(_PROMO.search(s)))
    found: list[_Found] = []
    declined: list[_Declined] = []
    used: list[Span] = []
    for handler in _HANDLERS:
        hits, spans = handler(s, ctx)
        found += [h for h in hits if isinstance(h, _Found)]
        declined += [h for h in hits if isinstance(h, _Declined)]
        used += spans or [(h.pos, h.pos + 1) for h in hits]      # a handler that names no span: where it found it
        used += [(h.pos, h.pos + 1) for h in hits if isinstance(h, _Declined)]
        s = _blank(s, spans)
    ops = _arrange(found)
    clauses = _clauses(text, prepared, quotes, used, declined, ops)
    unmet = _unmet(clauses, declined, prepared, language)
    understanding = Understanding(ops=ops, language=language, not_understood=not ops and not unmet, unmet=unmet)
    return understanding, clauses


def _clauses(text: str, s: str, quotes: tuple[str, ...], used: list[Span], declined: list[_Declined],
             ops: list[Op]) -> list[_Clause]:
    """Every request of the message with its verdict: an op came from it, a handler declined it, a planned op
    already stands for its words, it asks for nothing, it explains another request, or it is not met."""
    words = _Words(text, s, quotes, _PH_BASE)
    implied = [_IMPLIED[op.name] for op in ops if op.name in _IMPLIED]
    clauses: list[_Clause] = []
    for a, b in _requests(s):
        if any(a <= d.pos < b for d in declined):
            verdict = "declined"
        elif any(x < b and y > a for x, y in used):
            verdict = "op"
        elif not _asks(s[a:b]):
            verdict = "filler"
        elif (ops or declined) and _CONTEXT.match(s, _trimmed(s, a, b)[0]):
            verdict = "context"
        elif implied and not _asks(s[a:b], implied):
            verdict = "implied"
        else:
            verdict = "unmet"
        said = ""
        if verdict == "unmet":
            said = words.of(_trimmed(s, a, b)) or _restore(s[slice(*_trimmed(s, a, b))], quotes)
        said = said or _restore(s[a:b], quotes)
        clauses.append(_Clause((a, b), _short(said), verdict))
    return clauses


def _short(words: str) -> str:
    return words if len(words) <= _WORDS_MAX else words[:_WORDS_MAX - 1].rstrip() + "…"


def _trimmed(s: str, a: int, b: int) -> Span:
    """The clause without the filler it opens or ends with ("The user would like you to: ", " please")."""
    while (m := _FILLER.match(s, a, b)) or (m := _LEAD.match(s, a, b)):
        if m.end() == a:
            break
        a = m.end()
    while (m := _TRAIL.search(s, a, b)) and m.start() > a:
        b = m.start()
    return (a, b) if a < b else (a, a)


def _asks(clause: str, also: Iterable[re.Pattern[str]] = ()) -> bool:
    """Whether anything is left of the clause once filler (and words in ``also``) are taken out."""
    rest = _PLACEHOLDER.sub(" Q ", clause)
    for pattern in (*also, _FILLER, _STOP_WORDS):
        rest = pattern.sub(" ", rest)
    return bool(re.search(r"[^\W_]", rest))


def _restore(part: str, quotes: tuple[str, ...]) -> str:
    """A stretch of the prepared sentence with its quoted texts put back."""
    def quote(m: re.Match[str]) -> str:
        k = ord(m.group()) - _PH_BASE
        return f"'{quotes[k]}'" if k < len(quotes) else ""

    return " ".join(_PLACEHOLDER.sub(quote, part).split())


def _unmet(clauses: list[_Clause], declined: list[_Declined], s: str, language: str) -> tuple[Unmet, ...]:
    """What the reply names as not done, in sentence order: what handlers declined, then clauses not understood."""
    notes: list[tuple[int, Unmet]] = [(d.pos, d.unmet) for d in declined]
    notes += [(c.span[0], _not_understood(c.words, s[slice(*c.span)], language)) for c in clauses
              if c.verdict == "unmet" and c.words]
    return tuple(unmet for _, unmet in sorted(notes, key=lambda note: note[0]))


def _not_understood(words: str, clause: str, language: str) -> Unmet:
    """An unmet clause: not understood, and examples of what can be said instead, on its topic when it has one."""
    en, zh = _hints(clause)
    return Unmet(words, "I did not understand this, so nothing was done for it. You could say, for example: "
                        + "; ".join(f'"{e}"' for e in en) + ".",
                 "这部分我没看懂，所以没有执行。可以这样说，例如：" + "、".join(f"「{z}」" for z in zh) + "。")


# What a clause seems to be about -> examples of that (English, Chinese); the first two topics found are used.
_TOPICS: Final[tuple[tuple[re.Pattern[str], str, str], ...]] = tuple(
    (re.compile(rf"\b(?:{en_words})|{zh_words}"), en, zh) for en_words, zh_words, en, zh in (
        (r"titles?|texts?|captions?|subtitles?|words|writ|says?", "标题|文字|字幕|写",
         "add the title 'Summer Sale' at the top", "加标题『夏日特卖』放在顶部"),
        (r"music|songs?|audio|sound|bgm|tunes?|volume|loud|quiet|voice", "音乐|歌|声音|音量|配乐",
         "add background music at 30% and fade it out", "加背景音乐，音量30%，淡出"),
        (r"trim|cut|shorten|long|seconds?|minutes?|start|end|part", "剪|截|秒|开头|结尾|长",
         "keep only the first 3 seconds", "只保留前5秒"),
        (r"gif|loop|animated|animation|meme", "动图|循环",
         "convert this clip into a looping GIF with no sound", "把这个视频转成循环GIF，去掉声音"),
        (r"fast|slow|speed|quick|backwards?|reverse|rewind|boomerang", "快|慢|速|倒|来回",
         "speed it up 2x / slow motion / reverse it", "2倍速 / 慢动作 / 倒放"),
        (r"vertical|square|tiktok|reels?|shape|portrait|landscape|wide|crop|frame", "竖|方形|横|比例|裁",
         "make it 9:16 for TikTok", "改成竖屏9:16"),
        (r"photos?|images?|pictures?|pics?|slides?", "图|照片|相片",
         "make a slideshow, 3 seconds per photo, with crossfades", "做成幻灯片，每张图片3秒，加转场"),
        (r"promo|advert|commercial|marketing", "宣传|广告",
         "create a 30-second promotional video", "做一个30秒的宣传视频"),
        (r"export|download|save|720|1080|mp4|quality|resolution|size|mb|smaller|compress",
         "导出|下载|清晰|画质|压缩|大小", "convert it into a 720p MP4 under 10 MB", "导出成1080P的MP4"),
    ))
_GENERAL: Final = (("keep only the first 3 seconds", "convert this clip into a looping GIF with no sound"),
                   ("只保留前5秒", "把这个视频转成循环GIF，去掉声音"))


def _hints(clause: str) -> tuple[list[str], list[str]]:
    topics = [(en, zh) for pattern, en, zh in _TOPICS if pattern.search(clause)][:2]
    if not topics:
        return list(_GENERAL[0]), list(_GENERAL[1])
    return [en for en, _ in topics], [zh for _, zh in topics]


def _phase(name: str) -> int:
    return next((k for k, names in enumerate(_PHASES) if name in names), _EDIT_PHASE)


def arrange(ops: Iterable[Op]) -> list[Op]:
    """Ops in the order they run: by phase (:data:`_PHASES`), then in the order given."""
    return sorted(ops, key=lambda op: _phase(op.name))


def _arrange(found: list[_Found]) -> list[Op]:
    """The ops by phase, in the order said within one; mute keeps music that is added; a repeat is not a loop."""
    ops = [f.op for f in sorted(found, key=lambda f: (_phase(f.op.name), f.pos))]
    if any(op.name == "add_music" for op in ops):
        ops = [make_op("mute", music=False) if op.name == "mute" else op for op in ops]
    if any(op.name == "repeat" for op in ops):
        ops = [o for op in ops if (o := _no_loop_flag(op)) is not None]
    return ops


def _no_loop_flag(op: Op) -> Op | None:
    """set_output without a loop flag when the file is not a GIF/WebP ("repeat it 3 times" is a repeat)."""
    if op.name != "set_output" or "loop" not in op.args or op.args.get("format") in ("gif", "webp"):
        return op
    args = {k: v for k, v in op.args.items() if k != "loop"}
    return make_op("set_output", **args) if args else None
_EXAMPLES: Final = {
    "en": ("I didn't catch an edit in that. Things I can do (several in one message is fine):",
           ("convert this clip into a looping GIF with no sound",
            "make a small GIF of seconds 2 to 5 at 15 fps, 480px wide, under 5 MB",
            "keep only the first 3 seconds / cut the last 2 seconds / remove 0:02 to 0:05",
            "speed it up 2x / slow motion / reverse it / boomerang loop",
            "make it 9:16 for TikTok / square / 16:9",
            "add the title 'Summer Sale' at the top in yellow for the first 3 seconds",
            "add background music at 30% and fade it out",
            "turn this image into a 5-second clip with a slow zoom in",
            "make a slideshow, 3 seconds per photo, with crossfades",
            "create a 30-second promotional video with music and text overlays",
            "convert it into a 720p MP4",
            "undo / show tracks / export / credits")),
    "zh": ("这句话里我没找到可以执行的编辑。可以这样说（一句话里可以包含多项）：",
           ("把这个视频转成循环GIF，去掉声音",
            "截取第2秒到第5秒做成GIF，15帧，480像素宽，小于5MB",
            "只保留前5秒 / 去掉最后2秒 / 剪掉前2秒",
            "2倍速 / 慢动作 / 倒放 / 来回播放",
            "改成竖屏9:16 / 方形 / 横屏16:9",
            "加标题「夏日特卖」放在顶部，黄色，前3秒显示",
            "加背景音乐，音量30%，淡出",
            "把这张图片做成5秒的视频，慢慢放大",
            "做成幻灯片，每张图片3秒，加转场",
            "做一个30秒的宣传视频",
            "导出成1080P的MP4",
            "撤销 / 状态 / 导出 / 积分")),
}


def examples_text(language: str) -> str:
    """A reply listing examples of what the planner understands, in ``language`` ("en" or "zh")."""
    intro, examples = _EXAMPLES.get(language, _EXAMPLES["en"])
    quote = "「{}」" if language == "zh" else '"{}"'
    return "\n".join([intro, *(f"- {quote.format(example)}" for example in examples)])
