"""ADK-native endpoints (E13), for clients written against ADK's own API server.

``GET /list-apps``; ``GET|POST /apps/{app}/users/{uid}/sessions``; ``GET|POST|PATCH|DELETE
/apps/{app}/users/{uid}/sessions/{sid}``; ``POST /run``. They are the NemoVideo endpoints' sessions
(the same store, drafts, credits and bearer token): ``uid`` is "me" or the token's own user id, and a
user or session that is not the caller's gets the answer a missing session gets (404, code 1002,
``detail: "Session not found"``). A session is ADK's Session JSON: ``id``, ``appName``, ``userId``,
``state`` (the E6 state: ``draft``, ``video_infos``, ``canvas_config``, ``video_analyses``,
``generated_media``), ``events`` (each chat turn as the user's message and the agent's final reply)
and ``lastUpdateTime`` (epoch seconds).

The state is the server's: a session is created empty (a body may carry only an empty ``state``
and empty ``events``), and PATCH takes ``stateDelta.draft`` alone, checked as an export checks it.
Session ids made by the server are numeric; an id the client picks must have a character that is
not a digit, so it can never take one the server will hand out.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Annotated, Any, Final

from fastapi import APIRouter, Body, Request
from starlette.concurrency import run_in_threadpool

from api.agent import events
from api.bodies import check_draft_size
from api.chat import invocation_of
from api.deps import Svc, Token, base_url, owned_session
from api.drafts import check_draft
from api.errors import BadRequest, NotFound, SessionNotFound, from_engine
from api.routes.chat import admitted, run_request
from api.routes.sessions import canvas_of
from api.schemas import (
    AdkCreateSessionRequest,
    AdkEvent,
    AdkSession,
    AdkUpdateSessionRequest,
    RunAgentRequest,
    ok_response,
    request_body,
)
from api.services import Services
from api.store import SessionExists, SessionRow, TokenRow
from api.views import state
from engine.errors import EngineError

router = APIRouter(tags=["adk"])
APP: Final = "nemo_agent"
_CLIENT_ID: Final = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_CREATE_KEYS: Final = {"session_id", "sessionId", "state", "events"}


class SessionAlreadyExists(BadRequest):
    """A session created under an id that is taken (ADK answers 400 with this detail)."""

    def body(self) -> dict[str, Any]:
        return {**super().body(), "detail": self.message}


class AppNotFound(NotFound):
    def body(self) -> dict[str, Any]:
        return {**super().body(), "detail": self.message}


def _app(app: str) -> None:
    if app != APP:
        raise AppNotFound(f"App not found: {app} (the app is {APP})")


def _user(token: TokenRow, uid: str) -> None:
    if uid not in ("me", token.user_id):
        raise SessionNotFound()


def session_json(svc: Services, base: str, session: SessionRow, *, full: bool = True) -> dict[str, Any]:
    """ADK's Session JSON; ``full=False`` (a list of sessions) leaves ``state`` and ``events`` empty."""
    body: dict[str, Any] = {"id": session.id, "appName": APP, "userId": session.user_id, "state": {}, "events": [],
                            "lastUpdateTime": svc.store.session_updated_at(session.id)}
    if full:
        version, meta, text = svc.store.draft_text(session.id)
        media = svc.store.session_media(session.id)
        body["state"] = state(base, replace(session, version=version), media, json.loads(text),
                              canvas_of(meta, text, media))["state"]
        body["events"] = [event for turn in svc.store.session_turns(session.id)
                          for event in events.history(turn["id"], invocation_of(turn["id"]), turn["text"],
                                                      turn["reply"], turn["created"], turn["ended"])]
    return body


def _empty_state(body: Any) -> str | None:
    """The id a create body asks for; BadRequest when it carries state or events (the state is the server's).
    Both ADK forms are read: ``{"sessionId", "state", "events"}``, and an older body that is the state itself."""
    if body is None:
        return None
    if not isinstance(body, dict):
        raise BadRequest('the body must be a JSON object such as {"state": {}}')
    if set(body) <= _CREATE_KEYS:
        wanted = body.get("session_id") or body.get("sessionId")
        given = sorted(key for key in ("state", "events") if body.get(key) not in (None, {}, []))
    else:
        wanted, given = None, sorted(key for key, value in body.items() if value not in (None, {}, []))
    if given:
        raise BadRequest(f"a new session starts empty: {', '.join(given)} cannot be set here; upload files "
                         "and chat (/run, /run_sse), or PATCH {\"stateDelta\": {\"draft\": ...}}", {"keys": given})
    if wanted is not None and not isinstance(wanted, str):
        raise BadRequest("sessionId must be a string")
    return wanted


def _create(svc: Services, token: TokenRow, session_id: str | None) -> SessionRow:
    if session_id is None:
        return svc.store.create_session(token.user_id, "project", "en")
    if not _CLIENT_ID.fullmatch(session_id):
        raise BadRequest("a session id is 1 to 128 letters, digits, '_', '.', ':' or '-'")
    if session_id.isdigit():
        own = svc.store.session(session_id)
        if own is not None and own.user_id == token.user_id:
            raise SessionAlreadyExists(f"Session already exists: {session_id}")
        raise BadRequest("numeric session ids are made by the server: leave the id out, or pick one with a letter")
    try:
        return svc.store.create_session(token.user_id, "project", "en", session_id=session_id)
    except SessionExists:
        raise SessionAlreadyExists(f"Session already exists: {session_id}") from None


@router.get("/list-apps", responses=ok_response(list[str]))
async def list_apps() -> list[str]:
    """The agents this server runs: only nemo_agent."""
    return [APP]


@router.get("/apps/{app}/users/{uid}/sessions", responses=ok_response(list[AdkSession]))
def list_sessions(app: str, uid: str, request: Request, svc: Svc, token: Token) -> list[dict[str, Any]]:
    """The caller's sessions, oldest first (``state`` and ``events`` empty: read one session for them)."""
    _app(app)
    _user(token, uid)
    base = base_url(svc, request)
    return [session_json(svc, base, s, full=False) for s in svc.store.user_sessions(token.user_id)]


@router.post("/apps/{app}/users/{uid}/sessions", responses=ok_response(AdkSession),
             openapi_extra=request_body(AdkCreateSessionRequest, required=False))
def create_session(app: str, uid: str, request: Request, svc: Svc, token: Token,
                   body: Annotated[Any, Body()] = None) -> dict[str, Any]:
    """A new, empty session (the same as E2 makes); ``sessionId`` in the body picks its id."""
    _app(app)
    _user(token, uid)
    session = _create(svc, token, _empty_state(body))
    return session_json(svc, base_url(svc, request), session)


@router.post("/apps/{app}/users/{uid}/sessions/{sid}", responses=ok_response(AdkSession),
             openapi_extra=request_body(AdkCreateSessionRequest, required=False))
def create_session_with_id(app: str, uid: str, sid: str, request: Request, svc: Svc, token: Token,
                           body: Annotated[Any, Body()] = None) -> dict[str, Any]:
    """A new, empty session under the id ``sid``; 400 ``Session already exists: <sid>`` when it is taken."""
    _app(app)
    _user(token, uid)
    _empty_state(body)
    return session_json(svc, base_url(svc, request), _create(svc, token, sid))


@router.get("/apps/{app}/users/{uid}/sessions/{sid}", responses=ok_response(AdkSession))
def get_session(app: str, uid: str, sid: str, request: Request, svc: Svc, token: Token) -> dict[str, Any]:
    _app(app)
    return session_json(svc, base_url(svc, request), owned_session(svc, token, uid, sid))


@router.delete("/apps/{app}/users/{uid}/sessions/{sid}")
async def delete_session(app: str, uid: str, sid: str, svc: Svc, token: Token) -> None:
    """Forget the session (waiting for a turn that is running on it); its uploads and renders stay until
    retention removes them."""
    _app(app)
    session = await run_in_threadpool(owned_session, svc, token, uid, sid)
    async with svc.chat.lock(session.id):
        await run_in_threadpool(svc.store.delete_session, session.id)


@router.patch("/apps/{app}/users/{uid}/sessions/{sid}", responses=ok_response(AdkSession),
              openapi_extra=request_body(AdkUpdateSessionRequest))
async def update_session(app: str, uid: str, sid: str, request: Request, svc: Svc, token: Token,
                         body: Annotated[Any, Body()] = None) -> dict[str, Any]:
    """``{"stateDelta": {"draft": {...}}}``: make that draft current (a new version; undo walks back), after
    every check an export makes. Other state keys are the server's and are refused."""
    _app(app)
    session = await run_in_threadpool(owned_session, svc, token, uid, sid)
    delta = body.get("stateDelta", body.get("state_delta")) if isinstance(body, dict) else None
    if not isinstance(delta, dict):
        raise BadRequest('send {"stateDelta": {"draft": {...}}}')
    if other := sorted(set(delta) - {"draft"}):
        raise BadRequest(f"only the draft can be changed; not {', '.join(other)}", {"keys": other})
    if "draft" in delta:
        draft = delta["draft"]
        if not isinstance(draft, dict):
            raise BadRequest("stateDelta.draft must be a draft object")

        def save() -> None:
            check_draft_size(draft, svc.settings.max_draft_bytes)
            try:
                check_draft(svc.store, draft, token.user_id, session.id, svc.chat.caps)
            except EngineError as exc:
                raise from_engine(exc) from None
            svc.store.save_draft(session.id, draft, note="client")

        async with svc.chat.lock(session.id):
            await run_in_threadpool(save)
    return await run_in_threadpool(session_json, svc, base_url(svc, request), session)


@router.post("/run", responses=ok_response(list[AdkEvent]), openapi_extra=request_body(RunAgentRequest))
async def run(svc: Svc, token: Token, body: Annotated[Any, Body()] = None) -> list[dict[str, Any]]:
    """The body of ``/run_sse``; the answer is the JSON array of the events that stream would carry (the whole
    turn, once it has ended)."""
    request = run_request(body)
    session = await admitted(svc, token, request)
    return await svc.chat.run(token, session, request.text, request.streaming)
