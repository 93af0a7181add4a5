"""One chat turn: the planned ops run one by one on the draft, as a stream of steps.

No web and no database here: the caller passes ``TurnHooks`` (check a draft with every export
rule, describe it, save a new version, step back one version) and turns the steps into ADK
events. An op that fails stops the turn; what ran before it stands. The turn always ends with
one text step that says in plain words what changed (or why not), in the user's language.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from api.agent import events
from api.agent.ops import MAX_TURN_CREDITS, Op
from api.agent.tools import Draft, Said, ToolError, Workspace, apply
from api.agent.understand import Understanding, examples_text
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


def run_turn(plan: Understanding, user_text: str, draft: Draft, ws: Workspace, hooks: TurnHooks) -> Iterator[Step]:
    language = plan.language
    if plan.not_understood or not plan.ops:
        yield Step("text", text=examples_text(language))
        return
    current, said, spent, changed = draft, [], 0, False
    for op in plan.ops:
        call = events.call_id()
        yield Step("call", call, {"operation": op.name, **op.args})
        outcome = _run_op(op, current, ws, hooks, language)
        yield Step("result", call, response=outcome.response, draft=outcome.draft if outcome.changed else None)
        said.append(outcome.said.in_(language))
        if outcome.failed:
            break
        if outcome.changed:
            current, changed = outcome.draft, not outcome.saved
            spent += op.spec.credits
    if changed:
        hooks.save(current, note=user_text[:200])
    words = " ".join(said)
    if changed:
        words += _ready(current).in_(language)
    yield Step("text", text=words.strip(), spent=min(spent, MAX_TURN_CREDITS))


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
                        Said(f"Undid the last edit. {line}", f"已撤销上一步。{line}"), restored, changed=True,
                        saved=True)
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
