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
from api.schemas import (
    CreateSessionRequest,
    SessionCreatedResponse,
    SessionListResponse,
    SessionUploadsResponse,
    StateResponse,
    ok_response,
    request_body,
)
from api.services import Services
from api.store import MediaRow, SessionListing, SessionRow
from api.thumbnails import has_thumbnail
from api.views import generated, media_id_of, media_item, ok, state, thumbnail_url
from engine.errors import EngineError
from engine.model.canvas import design_size
from engine.model.draft import VideoTrack, parse_draft
from engine.model.mediainfo import MediaInfo
from engine.model.summary import summarize

router = APIRouter(tags=["sessions"])
MAX_LISTED: Final = 100
MAX_TITLE: Final = 80
DEFAULT_TASK_NAME: Final = "project"
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
    task_name, language = body.get("task_name", DEFAULT_TASK_NAME), body.get("language") or "en"
    if not isinstance(task_name, str) or not isinstance(language, str) or len(task_name) > 200 or len(language) > 35:
        raise BadRequest("task_name and language must be short strings")
    session = svc.store.create_session(token.user_id, task_name or DEFAULT_TASK_NAME, language)
    return ok({"task_id": session.task_id, "session_id": session.id, "user_id": token.user_id,
               "bind_id": token.user_id, "task_name": session.task_name, "language": session.language})


@router.get("/api/sessions", responses=ok_response(SessionListResponse))
def list_sessions(svc: Svc, token: Token, limit: str = str(MAX_LISTED)) -> dict[str, Any]:
    """Your sessions, the most recently active first (at most ``limit``, 1-100, default 100)."""
    try:
        count = int(limit)
    except ValueError:
        count = 0
    if not 1 <= count <= MAX_LISTED:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_LISTED}", {"field": "limit"})
    return ok({"sessions": [_listed(row) for row in svc.store.session_list(token.user_id, count)]})


def _listed(row: SessionListing) -> dict[str, Any]:
    title = row.title or (row.task_name if row.task_name != DEFAULT_TASK_NAME else None) or row.first_upload
    return {"session_id": row.id, "task_id": row.task_id, "created_at": int(row.created * 1000),
            "updated_at": int(row.updated * 1000), "title": (title or "Untitled").strip()[:MAX_TITLE] or "Untitled",
            "task_name": row.task_name, "uploads": row.uploads, "renders": row.renders}


@router.get("/api/sessions/{session_id}/uploads", responses=ok_response(SessionUploadsResponse))
def session_uploads(session_id: str, request: Request, svc: Svc, token: Token) -> dict[str, Any]:
    """The session's uploads, oldest first, as E4 describes them, each with a ``thumbnail_url`` an <img> can load
    without a token (null for sound, and for an upload that has expired)."""
    session = owned_session(svc, token, "me", session_id)
    base = base_url(svc, request)
    files = []
    for row in svc.store.session_media(session.id):
        if generated(row):
            continue
        shown = has_thumbnail(row) and svc.store.media_expired_at(row.id) is None
        files.append({**media_item(base, row), "thumbnail_url": thumbnail_url(base, svc.signer, row) if shown else None,
                      "created_at": int(row.created * 1000)})
    return ok({"files": files})


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
    body["data"]["summary"] = summary_of(text)
    before, _, after = json.dumps(body, ensure_ascii=False, separators=(",", ":")).partition(_DRAFT_MARK)
    return Response(before + text + after, media_type="application/json")


def summary_of(text: str) -> str | None:
    """The draft's one-line summary, as the agent's "show tracks" gives it; None for an empty draft, one that
    cannot be read, or one over INLINE_BYTES (a poll does not parse a large draft)."""
    if len(text) > INLINE_BYTES:
        return None
    try:
        draft = json.loads(text)
        return summarize(parse_draft(draft)) if isinstance(draft, dict) and draft.get("t") else None
    except (EngineError, ValueError):
        return None


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
