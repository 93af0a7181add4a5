"""Chat turns behind ``POST /run_sse`` and ``POST /run``: planning, credits, one turn at a time per session,
streaming; and the uploads' starting draft.

A request is planned (and priced) before its stream opens, so token, session and credit problems
come back as JSON errors. Then the turn runs as a task of its own, not as part of the response:
a client that disconnects does not stop it, and the state endpoint shows its edit. Each turn's
events are kept while it runs, so the same message sent again joins the running turn (and is not
charged twice), each listener in its own ``View`` (ADK events or the simplified stream); a
different message waits for the session's turn before it, with heartbeats.

Uploads go onto the timeline at once (``_Hooks.place_uploads``), under the same per-session lock
as turns, so an upload and a running turn never overwrite each other's version. Undo never walks
back to an empty timeline; "start over" returns to the current project's starting draft.

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
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api.agent import events
from api.agent.events import Event, View
from api.agent.ops import turn_price
from api.agent.planner import LlmPlanner, plan
from api.agent.tools import Draft, MediaRef, ToolError, Workspace, normalised, starting_draft, timeline_ms
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
UPLOADS_NOTE = "uploads"       # the note of a version that uploads made: a project's starting draft


@dataclass
class _Turn:
    id: str
    session_id: str
    text: str
    sent: list[Event] = field(default_factory=list)
    listeners: list[asyncio.Queue[Event | None]] = field(default_factory=list)
    done: bool = False

    @property
    def invocation(self) -> str:
        return invocation_of(self.id)

    def publish(self, event: Event) -> None:
        self.sent.append(event)
        for queue in self.listeners:
            queue.put_nowait(event)

    def finish(self) -> None:
        self.done = True
        for queue in self.listeners:
            queue.put_nowait(None)

    async def follow(self, heartbeat_s: float | None) -> AsyncIterator[Event | None]:
        """Every event so far, then the rest as they come; None after each ``heartbeat_s`` of silence."""
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        for earlier in self.sent:
            queue.put_nowait(earlier)
        if self.done:
            queue.put_nowait(None)
        self.listeners.append(queue)
        try:
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), heartbeat_s)
                except TimeoutError:
                    yield None
                    continue
                if event is None:
                    return
                yield event
        finally:
            self.listeners.remove(queue)

    async def stream(self, heartbeat_s: float, view: View) -> AsyncIterator[bytes]:
        """The turn as ``view`` wants it, with heartbeats in the silences."""
        async for event in self.follow(heartbeat_s):
            if event is None:
                yield view.heartbeat
                continue
            for frame in view.frames(event):
                yield frame
        if view.mode == "simple":
            yield events.SIMPLE_DONE

    async def collect(self, streaming: bool) -> list[Event]:
        """The whole turn's events, once it has ended."""
        return [e async for e in self.follow(None) if e is not None and (streaming or not e.get("partial"))]


def invocation_of(turn_id: str) -> str:
    """A turn's ADK invocation id, the same each time it is asked for (the session's events repeat it)."""
    return f"e-{uuid.UUID(hex=hashlib.sha256(turn_id.encode()).hexdigest()[:32])}"


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

    def lock(self, session_id: str) -> asyncio.Lock:
        """The session's lock: a turn holds it while it runs; anything else that saves a draft takes it too."""
        return self._locks.setdefault(session_id, asyncio.Lock())

    async def open(self, token: TokenRow, session: SessionRow, text: str, view: View) -> AsyncIterator[bytes]:
        """The stream of one message. Raises OutOfCredits before anything is streamed."""
        turn = await self._admit(token, session, text)
        return turn.stream(self.heartbeat_s, view)

    async def run(self, token: TokenRow, session: SessionRow, text: str, streaming: bool) -> list[Event]:
        """One message's whole turn, once it has ended (``POST /run``). Raises OutOfCredits before it starts."""
        turn = await self._admit(token, session, text)
        return await turn.collect(streaming)

    async def _admit(self, token: TokenRow, session: SessionRow, text: str) -> _Turn:
        """The turn for this message: the same message still running (joined, no new charge), or a new one,
        planned, priced and started."""
        if (same := self._unfinished(session.id, text)) is not None:
            return same
        media = self.store.session_media(session.id)
        facts = await asyncio.to_thread(lambda: _facts(media, self.store.draft(session.id)))    # off the loop
        understanding, planner = await plan(text, facts, self.llm)
        if (same := self._unfinished(session.id, text)) is not None:
            return same                                   # it arrived twice while this one was being planned
        price = 0 if understanding.not_understood else turn_price(understanding.ops)
        turn = _Turn(f"turn_{secrets.token_hex(16)}", session.id, text)
        try:
            self.store.start_turn(turn.id, session.id, token.token, text, price)
        except NotEnoughCredits as exc:
            raise OutOfCredits(f"this edit costs {exc.needed} credits and {exc.available} are available",
                               {"bind_id": token.user_id, "available": exc.available, "needed": exc.needed}) from None
        log.info("turn %s on session %s: %s by %s, %d credits", turn.id, session.id,
                 [op.name for op in understanding.ops], planner, price)
        self._turns.setdefault(session.id, []).append(turn)
        task = asyncio.create_task(self._run(turn, token, session.id, understanding))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return turn

    async def place_uploads(self, session_id: str, user_id: str, new_ids: set[str]) -> int | None:
        """Put just-uploaded pictures and clips on the session's timeline (``_Hooks.place_uploads``), under the
        session's lock so that a running turn and an upload never overwrite each other's version; the new
        version, or None when the timeline did not change."""
        async with self.lock(session_id):
            hooks = _Hooks(self.store, user_id, session_id, self.caps, self.max_draft_bytes)
            return await asyncio.to_thread(hooks.place_uploads, new_ids)

    def _unfinished(self, session_id: str, text: str) -> _Turn | None:
        """The session's running or waiting turn for the same message, if any."""
        return next((t for t in self._turns.get(session_id, []) if t.text == text and not t.done), None)

    async def _run(self, turn: _Turn, token: TokenRow, session_id: str, understanding: Understanding) -> None:
        lock = self.lock(session_id)
        loop = asyncio.get_running_loop()
        spent, reply, status = 0, "", "failed"
        try:
            async with lock:
                def work() -> tuple[int, str]:
                    result = (0, "")
                    for step in self._steps(turn, token, session_id, understanding, loop):
                        if step.kind == "text":
                            result = (step.spent, step.text)
                        for event in _events(turn.invocation, step):
                            loop.call_soon_threadsafe(turn.publish, event)
                    return result

                spent, reply = await asyncio.to_thread(work)
                status = "done"
        except Exception as exc:   # an edit tool bug must still end the stream and give credits back
            log.exception("turn %s failed", turn.id)
            words = "Something went wrong while editing; nothing was changed or charged. Please try again."
            turn.publish(events.error(turn.invocation, "500", f"{exc.__class__.__name__}: {exc}", words))
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
        """The version before the current one, saved as the new current; None (nothing changes) when there is
        none, or when it would leave an empty timeline: undo stops at the starting draft."""
        session = self.store.session(self.session_id)
        if session is None or session.version == 0:
            return None
        current = self.store.draft_version(self.session_id, session.version)
        if current is None or current[1] is None:
            return None
        previous = self.store.draft_version(self.session_id, current[1])
        if previous is None or not has_content(previous[0]):
            return None
        draft, grandparent, _ = previous
        parent = NO_PARENT if grandparent is None else grandparent
        self.store.save_draft(self.session_id, draft, note="undo", parent=parent)
        return draft

    def start_over(self) -> Draft | None:
        """The starting draft of the current project saved as a new version: the nearest version back along
        the current one's history that is an untouched starting draft (what uploads saved, see
        :meth:`place_uploads`), else the starting draft of every picture and clip of the session; None when
        nothing visual was uploaded."""
        start = self._project_start()
        if not has_content(start):
            return None
        self.store.save_draft(self.session_id, start, note="start over")
        return start

    def _project_start(self) -> Draft:
        media = self._media()
        ws = Workspace(media)
        session = self.store.session(self.session_id)
        version: int | None = session.version if session else None
        while version:
            kept = self.store.draft_version(self.session_id, version)
            if kept is None:
                break
            draft, version, _ = kept
            if has_content(draft) and _starting_refs(draft, ws, []) is not None:
                return draft
        return starting_draft(media)

    def _media(self) -> list[MediaRef]:
        return [_ref(m) for m in self.store.session_media(self.session_id)]

    def place_uploads(self, new_ids: set[str]) -> int | None:
        """Put the uploads ``new_ids`` on the timeline as a new version (note "uploads"); the version, or None
        when the timeline stays as it was.

        - Audio alone changes nothing.
        - When the current draft is empty (no segments) or is itself an untouched starting draft (exactly
          ``starting_draft`` of the pictures and clips in it), it becomes the starting draft of those and the
          new ones: every visual upload in upload order.
        - When it has been edited, the new version is the starting draft of the new files alone, the fresh
          draft ``tools.subject`` would make of them at the next edit; undo walks back to the edited one.
        - A starting draft that breaks one of the export rules (a cap) is not saved; the draft stays as it
          was and a chat edit works from the uploads as before.
        """
        media = self._media()
        ws = Workspace(media)
        new = [m for m in ws.visuals() if m.id in new_ids]
        if not new:
            return None
        current = self.store.draft(self.session_id)
        before = _starting_refs(current, ws, [m for m in ws.visuals() if m.id not in new_ids])
        draft = starting_draft(new if before is None else before + new)
        try:
            self.check(draft)
        except EngineError as exc:
            log.info("session %s: the uploads' starting draft is not saved: %s", self.session_id, exc)
            return None
        return self.save(draft, note=UPLOADS_NOTE)


def has_content(draft: Draft) -> bool:
    """Whether the draft has anything on its timeline (a segment on some track)."""
    tracks = draft.get("t")
    return isinstance(tracks, list) and any(isinstance(t, dict) and t.get("sg") for t in tracks)


def _starting_refs(draft: Draft, ws: Workspace, earlier: list[MediaRef]) -> list[MediaRef] | None:
    """The uploads ``draft`` is the untouched starting draft of (``earlier`` when it is empty); None when it
    has been edited."""
    if not has_content(draft):
        return earlier
    tracks = draft.get("t") or []
    segments = tracks[0].get("sg") if len(tracks) == 1 and isinstance(tracks[0], dict) else None
    if not isinstance(segments, list):
        return None
    refs = [ws.by_src(str(seg.get("src", ""))) if isinstance(seg, dict) else None for seg in segments]
    known = [ref for ref in refs if ref is not None]
    return known if len(known) == len(refs) and starting_draft(known) == draft else None


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


def _events(invocation: str, step: Step) -> list[Event]:
    """A step's ADK events; a text always comes in streaming pieces too (listeners that did not ask for
    ``streaming`` skip them), so a joiner gets the pieces or not, whatever the first sender asked."""
    if step.kind == "call":
        return [events.function_call(invocation, step.call_id, step.args)]
    if step.kind == "result":
        return [events.function_response(invocation, step.call_id, step.response, step.draft)]
    pieces = [events.text(invocation, piece, partial=True) for piece in events.chunks(step.text)]
    return [*pieces, events.text(invocation, step.text)]
