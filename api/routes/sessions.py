"""Sessions and their state: E2, E6."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from api.deps import Svc, Token, base_url, owned_session
from api.errors import BadRequest, NotFound
from api.views import ok, state

router = APIRouter(tags=["sessions"])


@router.post("/api/tasks/{user}/with-session/{app}")
def create_session(user: str, app: str, svc: Svc, token: Token,
                   body: Annotated[dict[str, Any] | None, Body()] = None) -> dict[str, Any]:
    """A new task and session (``language`` optional, default en); retrying simply makes another."""
    if app != "nemo_agent":
        raise NotFound(f"no app {app!r}; the app is nemo_agent")
    if user not in ("me", token.user_id):
        raise BadRequest("the path's user must be 'me' or your own user id")
    body = body or {}
    task_name, language = body.get("task_name", "project"), body.get("language") or "en"
    if not isinstance(task_name, str) or not isinstance(language, str) or len(task_name) > 200 or len(language) > 35:
        raise BadRequest("task_name and language must be short strings")
    session = svc.store.create_session(token.user_id, task_name or "project", language)
    return ok({"task_id": session.task_id, "session_id": session.id, "user_id": token.user_id,
               "bind_id": token.user_id, "task_name": session.task_name, "language": session.language})


@router.get("/api/state/{app}/{user}/{session_id}/latest")
async def latest_state(app: str, user: str, session_id: str, request: Request, svc: Svc,
                       token: Token) -> dict[str, Any]:
    """Everything a client needs to describe the session; cheap enough to poll (two indexed reads,
    on the event loop: see api.deps.current_token)."""
    session = owned_session(svc, token, user, session_id)
    return ok(state(base_url(svc, request), session, svc.store.session_media(session.id)))
