"""One chat turn: the planned ops run one by one on the draft, as a stream of steps.

No web and no database here: the caller passes ``TurnHooks`` (check a draft with every export
rule, describe it, save a new version, step back one version, start over) and turns the steps
into ADK events. The turn always ends with one text step, in the user's language, that says
what changed, what was not done (each part of the request the planner could not read, and each
op that failed, with why and what can be done instead), and the draft's summary line when the
draft changed; it never reads as done when a part was not.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from api.agent import events
from api.agent.ops import MAX_TURN_CREDITS, Op
from api.agent.tools import Draft, Said, ToolError, Workspace, apply
from api.agent.understand import Understanding, examples_text
from api.agent.understand.model import Unmet
from engine.errors import DraftError, EngineError

POINTERS = {
    "export": Said("To export, use the Export button (POST /api/render/proxy/lambda with the current draft); "
                   "nothing is rendered inside the chat.",
                   "导出请点击导出按钮（用当前草稿调用 POST /api/render/proxy/lambda）；聊天中不会渲染。"),
    "credits": Said("Your credits are on the balance page (GET /api/credits/balance/simple); export is free.",
                    "积分余额请查看余额接口（GET /api/credits/balance/simple）；导出免费。"),
    "upload": Said("Upload files with the upload button (POST /api/upload-video/nemo_agent/me/<session>), then tell "
                   "me what to make.",
                   "请用上传按钮上传文件（POST /api/upload-video/nemo_agent/me/<session>），然后告诉我要做什么。"),
}


def _ready(draft: Draft) -> Said:
    """The closing hint; it names the format, since an export's own ``output.format`` decides the file."""
    fmt = str(((draft.get("m") or {}).get("out") or {}).get("format") or "mp4")
    if fmt == "mp4":
        return Said(" Export it when you are ready.", " 准备好后即可导出。")
    return Said(f' Export it as {fmt.upper()} (output.format "{fmt}") when you are ready.',
                f' 准备好后请以 {fmt.upper()} 格式导出（output.format "{fmt}"）。')


class TurnHooks(Protocol):
    def check(self, draft: Draft) -> None:
        """Raise EngineError (DraftError, MediaError) when the draft cannot be exported."""

    def summary(self, draft: Draft) -> str:
        """The one-line timeline summary."""

    def save(self, draft: Draft, note: str) -> int:
        """Make it the session's draft, as a new version; returns the version."""

    def undo(self) -> Draft | None:
        """Restore the version before the current one (saving it as the new current); None: nothing to undo.
        Never walks back past the starting draft (the uploads on the timeline) to nothing."""

    def start_over(self) -> Draft | None:
        """Make the starting draft (every upload, no edits) current again, as a new version; None: no uploads."""


@dataclass(frozen=True, slots=True)
class Step:
    kind: str                                  # call | result | text
    call_id: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    response: dict[str, Any] = field(default_factory=dict)
    draft: Draft | None = None                 # results: the new draft (the stateDelta)
    text: str = ""
    spent: int = 0                             # text: credits the turn used


# A failed op of these leaves the edits after it working on footage the user did not ask for: they are skipped.
_FOUNDATION: Final = frozenset({"start_over", "promo", "slideshow", "still_clip", "keep_range", "remove_range",
                                "keep_end", "remove_end"})
_DOING: Final[dict[str, Said]] = {name: Said(en, zh) for name, en, zh in (
    ("set_output", "the output file settings", "输出文件设置"),
    ("keep_range", "keeping part of the video", "保留片段"),
    ("remove_range", "cutting part of the video out", "剪掉片段"),
    ("keep_end", "keeping the end", "保留结尾"),
    ("remove_end", "cutting the end off", "剪掉结尾"),
    ("speed", "changing the speed", "调整速度"),
    ("mute", "removing the sound", "去掉声音"),
    ("reverse", "playing it backwards", "倒放"),
    ("boomerang", "the boomerang", "来回播放"),
    ("set_aspect", "changing the shape", "更改画面比例"),
    ("add_text", "adding the text", "添加文字"),
    ("remove_text", "removing the text", "删除文字"),
    ("add_music", "adding the music", "添加音乐"),
    ("set_music", "changing the music", "调整音乐"),
    ("remove_music", "removing the music", "删除音乐"),
    ("still_clip", "turning the picture into a clip", "图片转视频"),
    ("slideshow", "the slideshow", "幻灯片"),
    ("set_transition", "the transitions", "转场"),
    ("promo", "the promo", "宣传视频"),
    ("repeat", "repeating part of the video", "重复片段"),
    ("crop", "cropping the picture", "裁剪画面"),
    ("blur", "blurring part of the picture", "模糊画面区域"),
    ("enhance", "enhancing the picture and sound", "增强画面和声音"),
    ("start_over", "starting over", "重新开始"),
    ("show_tracks", "showing the timeline", "显示时间线"),
    ("undo", "undo", "撤销"),
    ("pointer", "the pointer", "说明"),
)}
_NOT_DONE: Final = Said("Not done:", "未完成：")


def run_turn(plan: Understanding, user_text: str, draft: Draft, ws: Workspace, hooks: TurnHooks) -> Iterator[Step]:
    """Run the plan's ops in order and end with the reply.

    An op that fails changes nothing and is reported as not done, with the tool's or the draft check's reason;
    the turn goes on with the other ops. After a failed builder or range selection (:data:`_FOUNDATION`) the
    edits after it are skipped (not run, not charged) and reported as not done too, since they would shape
    footage the user did not ask for; read-only ops still run. Only edits that succeed cost credits.
    """
    language = plan.language
    unmet = [_unmet_line(u, language) for u in plan.unmet]
    if plan.not_understood or not plan.ops:
        lines = [_NOT_DONE.in_(language), *unmet, ""] if unmet else []
        yield Step("text", text="\n".join([*lines, examples_text(language)]))
        return
    current, said, not_done, spent = draft, [], [], 0
    changed = moved = False                    # changed: edits to save; moved: the draft is not what it was
    blocked: Op | None = None                  # the failed foundation op the edits after it depended on
    for op in plan.ops:
        if blocked is not None and op.spec.edits:
            not_done.append(_line(_doing(op, language), Said(
                f"skipped, because {_DOING[blocked.name].en} could not be done.",
                f"已跳过，因为{_DOING[blocked.name].zh}没有完成。").in_(language), language))
            continue
        call = events.call_id()
        yield Step("call", call, {"operation": op.name, **op.args})
        outcome = _run_op(op, current, ws, hooks, language)
        yield Step("result", call, response=outcome.response, draft=outcome.draft if outcome.changed else None)
        if outcome.failed:
            not_done.append(_line(_doing(op, language), outcome.said.in_(language), language))
            if op.name in _FOUNDATION:
                blocked = op
            continue
        said.append(outcome.said.in_(language))
        if outcome.changed:
            current, moved = outcome.draft, True
            changed = not outcome.saved
            spent += op.spec.credits
    if changed:
        hooks.save(current, note=user_text[:200])
    lines = [" ".join(s for s in said if s)]
    if unmet or not_done:
        lines += [_NOT_DONE.in_(language), *unmet, *not_done]
    if moved and current.get("t"):
        lines.append(hooks.summary(current))
    if changed:
        lines.append(_ready(current).in_(language).strip())
    yield Step("text", text="\n".join(line for line in lines if line).strip(), spent=min(spent, MAX_TURN_CREDITS))


def _doing(op: Op, language: str) -> str:
    doing = _DOING.get(op.name, Said(op.name, op.name)).in_(language)
    if op.name == "add_text" and op.args.get("text"):
        doing += f' "{op.args["text"]}"' if language != "zh" else f"「{op.args['text']}」"
    return doing


def _line(what: str, why: str, language: str) -> str:
    return f"- {what}：{why}" if language == "zh" else f"- {what}: {why}"


def _unmet_line(unmet: Unmet, language: str) -> str:
    words = f"「{unmet.words}」" if language == "zh" else f'"{unmet.words}"'
    return _line(words, unmet.zh if language == "zh" else unmet.en, language)


@dataclass(frozen=True, slots=True)
class _Outcome:
    response: dict[str, Any]
    said: Said
    draft: Draft
    changed: bool = False
    saved: bool = False                        # undo saves its own version
    failed: bool = False


def _run_op(op: Op, draft: Draft, ws: Workspace, hooks: TurnHooks, language: str) -> _Outcome:
    if op.name == "show_tracks":
        if not draft.get("t"):
            return _Outcome({"status": "success", "summary": ""},
                            Said("The timeline is empty: upload a file and tell me what to make.",
                                 "时间线是空的：请上传文件并告诉我要做什么。"), draft)
        line = hooks.summary(draft)
        return _Outcome({"status": "success", "summary": line}, Said(line, line), draft)
    if op.name == "pointer":
        return _Outcome({"status": "success", "topic": op.args.get("topic")}, POINTERS[op.args["topic"]], draft)
    if op.name == "undo":
        restored = hooks.undo()
        if restored is None:
            return _Outcome({"status": "error", "message": "nothing to undo"},
                            Said("There is nothing to undo.", "没有可以撤销的操作。"), draft, failed=True)
        line = hooks.summary(restored) if restored.get("t") else "the timeline is empty"
        return _Outcome({"status": "success", "summary": line},
                        Said("Undid the last edit.", "已撤销上一步。"), restored, changed=True, saved=True)
    if op.name == "start_over":
        started = hooks.start_over()
        if started is None:
            return _Outcome({"status": "error", "message": "there are no uploads to start from"},
                            Said("There are no uploads to start from: upload a file first.",
                                 "还没有上传的文件，无法重新开始：请先上传文件。"), draft, failed=True)
        line = hooks.summary(started) if started.get("t") else "the timeline is empty"
        return _Outcome({"status": "success", "summary": line},
                        Said("Started over from your uploads, with no edits.",
                             "已回到上传的原始素材，撤掉了所有修改。"), started, changed=True, saved=True)
    try:
        result = apply(op, draft, ws)
        hooks.check(result.draft)
    except ToolError as exc:
        return _Outcome({"status": "error", "message": exc.en}, Said(exc.en, exc.zh), draft, failed=True)
    except DraftError as exc:
        first = exc.issues[0].message if exc.issues else str(exc)
        return _Outcome({"status": "error", "message": first, "issues": exc.details().get("issues", [])},
                        Said(f"I could not make that edit: {first}.", f"无法完成这个修改：{first}。"), draft,
                        failed=True)
    except EngineError as exc:
        return _Outcome({"status": "error", "message": str(exc)},
                        Said(f"I could not make that edit: {exc}.", f"无法完成这个修改：{exc}。"), draft, failed=True)
    return _Outcome(result.response, result.said, result.draft, changed=True)
