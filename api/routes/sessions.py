"""Sessions and their state: E2, E6."""

from __future__ import annotations

import json
import secrets
from dataclasses import replace
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.bodies import INLINE_BYTES, JsonBody
from api.deps import Svc, Token, base_url, owned_session
from api.errors import BadRequest, NotFound
from api.schemas import CreateSessionRequest, SessionCreatedResponse, StateResponse, ok_response, request_body
from api.services import Services
from api.store import MediaRow, SessionRow
from api.views import media_id_of, ok, state
from engine.errors import EngineError
from engine.model.canvas import design_size
from engine.model.draft import VideoTrack, parse_draft
from engine.model.mediainfo import MediaInfo

router = APIRouter(tags=["sessions"])
# Stands for the draft while the state around it is serialised; random, so no client text can match it.
_DRAFT_MARK: Final = json.dumps(f"\x00draft-{secrets.token_hex(16)}")


@router.post("/api/tasks/{user}/with-session/{app}", responses=ok_response(SessionCreatedResponse),
             openapi_extra=request_body(CreateSessionRequest, required=False))
def create_session(user: str, app: str, svc: Svc, token: Token, body: JsonBody) -> dict[str, Any]:
    """A new task and session (``language`` optional, default en); retrying simply makes another."""
    if app != "nemo_agent":
        raise NotFound(f"no app {app!r}; the app is nemo_agent")
    if user not in ("me", token.user_id):
        raise BadRequest("the path's user must be 'me' or your own user id")
    if body is not None and not isinstance(body, dict):
        raise BadRequest('the body must be a JSON object such as {"task_name": "project", "language": "en"}')
    body = body or {}
    task_name, language = body.get("task_name", "project"), body.get("language") or "en"
    if not isinstance(task_name, str) or not isinstance(language, str) or len(task_name) > 200 or len(language) > 35:
        raise BadRequest("task_name and language must be short strings")
    session = svc.store.create_session(token.user_id, task_name or "project", language)
    return ok({"task_id": session.task_id, "session_id": session.id, "user_id": token.user_id,
               "bind_id": token.user_id, "task_name": session.task_name, "language": session.language})


@router.get("/api/state/{app}/{user}/{session_id}/latest", responses=ok_response(StateResponse))
async def latest_state(app: str, user: str, session_id: str, request: Request, svc: Svc, token: Token) -> Response:
    """Everything a client needs to describe the session; cheap enough to poll. The stored draft text goes
    into the answer as it is, never parsed or serialised again; a large one is read in a worker thread,
    so that polling a big draft does not hold up anyone else's requests."""
    session = owned_session(svc, token, user, session_id)
    base = base_url(svc, request)
    if svc.store.draft_head(session.id).size <= INLINE_BYTES:
        return _state(svc, base, session)
    return await run_in_threadpool(_state, svc, base, session)


def _state(svc: Services, base: str, session: SessionRow) -> Response:
    version, meta, text = svc.store.draft_text(session.id)
    media = svc.store.session_media(session.id)
    body = ok(state(base, replace(session, version=version), media, json.loads(_DRAFT_MARK),
                    canvas_of(meta, text, media)))
    before, _, after = json.dumps(body, ensure_ascii=False, separators=(",", ":")).partition(_DRAFT_MARK)
    return Response(before + text + after, media_type="application/json")


def canvas_of(meta: dict[str, Any], text: str, media: list[MediaRow]) -> dict[str, Any]:
    """The draft's canvas keys as canvas_config reads them. A draft that leaves its canvas to its first
    picture or clip (no ``aspect``, not both sizes; an uploads' starting draft) gets the size the engine
    will give it, for a draft up to INLINE_BYTES (a larger one is not parsed on a poll)."""
    if meta.get("aspect") or (meta.get("width") and meta.get("height")) or len(text) > INLINE_BYTES:
        return meta
    try:
        draft = parse_draft(json.loads(text))
    except (EngineError, ValueError):
        return meta
    by_id = {m.id: m for m in media}
    by_name = {m.filename: m for m in media}
    first = next((row for track in draft.t if isinstance(track, VideoTrack) for seg in track.sg
                  if (row := by_id.get(media_id_of(seg.src)) or by_name.get(seg.src)) is not None
                  and row.file_type != "audio"), None)
    if first is None:
        return meta
    width, height = design_size(draft, MediaInfo.from_dict(first.info))
    return {**meta, "width": width, "height": height}
