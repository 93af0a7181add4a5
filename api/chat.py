"""Chat turns behind ``POST /run_sse``: planning, credits, one turn at a time per session, streaming.

A request is planned (and priced) before its stream opens, so token, session and credit problems
come back as JSON errors. Then the turn runs as a task of its own, not as part of the response:
a client that disconnects does not stop it, and the state endpoint shows its edit. Each turn's
events are kept while it runs, so the same message sent again joins the running turn (and is not
charged twice); a different message waits for the session's turn before it, with heartbeats.

Credits: a turn's price (``api.agent.ops``) is frozen when it is accepted and settled when it
ends: what its successful edits cost is taken, the rest goes back. A server that dies in the
middle of a turn gives the frozen credits back at its next start.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api.agent import events
from api.agent.ops import turn_price
from api.agent.planner import LlmPlanner, plan
from api.agent.tools import Draft, MediaRef, ToolError, Workspace, normalised, timeline_ms
from api.agent.turn import Step, run_turn
from api.agent.understand import MediaFacts, Understanding
from api.bodies import check_draft_size
from api.drafts import check_draft
from api.errors import OutOfCredits
from api.mediagate import MediaGate
from api.store import NO_PARENT, MediaRow, NotEnoughCredits, SessionRow, Store, TokenRow
from engine.errors import EngineError
from engine.model.cost import Caps
from engine.model.draft import parse_draft
from engine.model.summary import summarize

log = logging.getLogger("reelforge.chat")


@dataclass
class _Turn:
    id: str
    session_id: str
    text: str
    invocation: str = field(default_factory=events.invocation_id)
    sent: list[bytes] = field(default_factory=list)
    listeners: list[asyncio.Queue[bytes | None]] = field(default_factory=list)
    done: bool = False

    def publish(self, chunk: bytes) -> None:
        self.sent.append(chunk)
        for queue in self.listeners:
            queue.put_nowait(chunk)

    def finish(self) -> None:
        self.done = True
        for queue in self.listeners:
            queue.put_nowait(None)

    async def stream(self, heartbeat_s: float) -> AsyncIterator[bytes]:
        """Everything sent so far, then the rest as it comes, with heartbeats in the silences."""
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        for chunk in self.sent:
            queue.put_nowait(chunk)
        if self.done:
            queue.put_nowait(None)
        self.listeners.append(queue)
        try:
            while True:
                try:
                    chunk = await asyncio.wait_for(queue.get(), heartbeat_s)
                except TimeoutError:
                    yield events.HEARTBEAT
                    continue
                if chunk is None:
                    return
                yield chunk
        finally:
            self.listeners.remove(queue)


class Chat:
    def __init__(self, store: Store, media_dir: Path, heartbeat_s: float, llm: LlmPlanner | None,
                 media: MediaGate, caps: Caps, max_draft_bytes: int = 2 * 1024 * 1024) -> None:
        self.store, self.media_dir, self.heartbeat_s, self.llm = store, media_dir, heartbeat_s, llm
        self.media, self.caps = media, caps
        self.max_draft_bytes = max_draft_bytes
        self._turns: dict[str, list[_Turn]] = {}          # session id -> its running and waiting turns
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def recover(self) -> None:
        """Turns that were running when the server stopped: give their frozen credits back."""
        for turn_id in self.store.running_turns():
            self.store.end_turn(turn_id, 0, "interrupted", "the server stopped during the turn")

    async def close(self) -> None:
        for task in list(self._tasks):
            await asyncio.wait({task}, timeout=30)

    async def open(self, token: TokenRow, session: SessionRow, text: str, streaming: bool) -> AsyncIterator[bytes]:
        """The stream of one message. Raises OutOfCredits before anything is streamed."""
        if (same := self._unfinished(session.id, text)) is not None:
            return same.stream(self.heartbeat_s)          # the same message again: join it, no new charge
        media = self.store.session_media(session.id)
        facts = await asyncio.to_thread(lambda: _facts(media, self.store.draft(session.id)))    # off the loop
        understanding, planner = await plan(text, facts, self.llm)
        if (same := self._unfinished(session.id, text)) is not None:
            return same.stream(self.heartbeat_s)          # it arrived twice while this one was being planned
        price = 0 if understanding.not_understood else turn_price(understanding.ops)
        turn = _Turn(f"turn_{secrets.token_hex(8)}", session.id, text)
        try:
            self.store.start_turn(turn.id, session.id, token.token, text, price)
        except NotEnoughCredits as exc:
            raise OutOfCredits(f"this edit costs {exc.needed} credits and {exc.available} are available",
                               {"bind_id": token.user_id, "available": exc.available, "needed": exc.needed}) from None
        log.info("turn %s on session %s: %s by %s, %d credits", turn.id, session.id,
                 [op.name for op in understanding.ops], planner, price)
        self._turns.setdefault(session.id, []).append(turn)
        task = asyncio.create_task(self._run(turn, token, session.id, understanding, streaming))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return turn.stream(self.heartbeat_s)

    def _unfinished(self, session_id: str, text: str) -> _Turn | None:
        """The session's running or waiting turn for the same message, if any."""
        return next((t for t in self._turns.get(session_id, []) if t.text == text and not t.done), None)

    async def _run(self, turn: _Turn, token: TokenRow, session_id: str, understanding: Understanding,
                   streaming: bool) -> None:
        lock = self._locks.setdefault(session_id, asyncio.Lock())
        loop = asyncio.get_running_loop()
        spent, reply, status = 0, "", "failed"
        try:
            async with lock:
                def work() -> tuple[int, str]:
                    result = (0, "")
                    for step in self._steps(turn, token, session_id, understanding, loop):
                        if step.kind == "text":
                            result = (step.spent, step.text)
                        for chunk in _encode(turn.invocation, step, streaming):
                            loop.call_soon_threadsafe(turn.publish, chunk)
                    return result

                spent, reply = await asyncio.to_thread(work)
                status = "done"
        except Exception as exc:   # an edit tool bug must still end the stream and give credits back
            log.exception("turn %s failed", turn.id)
            words = "Something went wrong while editing; nothing was changed or charged. Please try again."
            turn.publish(events.sse(events.error(turn.invocation, "500", f"{exc.__class__.__name__}: {exc}", words)))
            spent, reply = 0, words
        finally:
            self.store.end_turn(turn.id, spent, status, reply)
            turn.finish()
            waiting = self._turns.get(session_id, [])
            if turn in waiting:
                waiting.remove(turn)
            if not waiting:
                self._turns.pop(session_id, None)

    def _steps(self, turn: _Turn, token: TokenRow, session_id: str, understanding: Understanding,
               loop: asyncio.AbstractEventLoop) -> Iterator[Step]:
        session = self.store.session(session_id)
        if session is None:
            return
        media = self.store.session_media(session_id)
        folder = self.media_dir / token.user_id / session_id
        ws = Workspace([_ref(m) for m in media], self.store.draft_saved_at(session_id), understanding.language,
                       make_music_bed=lambda _seconds: self._music_bed(token.user_id, session_id, folder, loop))
        hooks = _Hooks(self.store, token.user_id, session_id, self.caps, self.max_draft_bytes)
        yield from run_turn(understanding, turn.text, self.store.draft(session_id), ws, hooks)

    def _music_bed(self, user_id: str, session_id: str, folder: Path, loop: asyncio.AbstractEventLoop) -> MediaRef:
        """Write the built-in music bed into the session's media, as an upload would be. Whatever the timeline's
        length it is one short seamless loop (19.2 s, 3.4 MB), made in a limited child; the draft's segment
        plays it on a loop and fades it. Runs on a turn's thread; the child is awaited on ``loop``."""
        media_id = f"m_{secrets.token_urlsafe(16)}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{media_id}.wav"
        made = asyncio.run_coroutine_threadsafe(self.media.music_bed(path, seed=secrets.randbelow(1000)), loop)
        try:
            info = made.result().to_dict()
        except EngineError as exc:
            log.warning("the music bed could not be made: %s", exc)
            raise ToolError("The built-in music could not be made just now; upload an audio file to use as music.",
                            "内置背景音乐暂时无法生成，请上传一个音频文件作为背景音乐。") from exc
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        row = MediaRow(media_id, user_id, session_id, "music-bed.wav", str(path), "audio", info, path.stat().st_size,
                       digest, "builtin:music-bed", time.time())
        self.store.add_media([row])
        return _ref(row)


@dataclass
class _Hooks:
    store: Store
    user_id: str
    session_id: str
    caps: Caps
    max_draft_bytes: int

    def check(self, draft: Draft) -> None:
        check_draft_size(draft, self.max_draft_bytes)
        check_draft(self.store, draft, self.user_id, self.session_id, self.caps)

    def summary(self, draft: Draft) -> str:
        try:
            return summarize(parse_draft(draft))
        except EngineError:
            return "Timeline: (cannot be read)"

    def save(self, draft: Draft, note: str) -> int:
        return self.store.save_draft(self.session_id, draft, note=note)

    def undo(self) -> Draft | None:
        session = self.store.session(self.session_id)
        if session is None or session.version == 0:
            return None
        current = self.store.draft_version(self.session_id, session.version)
        if current is None or current[1] is None:
            return None
        previous = self.store.draft_version(self.session_id, current[1])
        if previous is None:
            return None
        draft, grandparent, _ = previous
        parent = NO_PARENT if grandparent is None else grandparent
        self.store.save_draft(self.session_id, draft, note="undo", parent=parent)
        return draft


def _ref(row: MediaRow) -> MediaRef:
    info: dict[str, Any] = row.info
    video = info.get("video") or {}
    duration = info.get("duration_ms")
    return MediaRef(row.id, row.filename, row.file_type, int(duration) if duration else None, bool(info.get("audio")),
                    video.get("width"), video.get("height"), row.created)


def _facts(media: list[MediaRow], draft: Draft) -> MediaFacts:
    refs = [_ref(m) for m in media]
    ws = Workspace(refs)
    length = timeline_ms(normalised(draft, ws)) if draft.get("t") else None
    return MediaFacts(videos=sum(1 for m in refs if m.kind == "video"),
                      images=sum(1 for m in refs if m.kind == "image"),
                      audios=tuple((m.id, m.filename) for m in refs if m.kind == "audio"), timeline_ms=length or None)


def _encode(invocation: str, step: Step, streaming: bool) -> list[bytes]:
    if step.kind == "call":
        return [events.sse(events.function_call(invocation, step.call_id, step.args))]
    if step.kind == "result":
        return [events.sse(events.function_response(invocation, step.call_id, step.response, step.draft))]
    pieces = [events.sse(events.text(invocation, piece, partial=True)) for piece in events.chunks(step.text)] \
        if streaming else []
    return [*pieces, events.sse(events.text(invocation, step.text))]
