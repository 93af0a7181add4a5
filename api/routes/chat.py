"""Chat (E3): ``POST /run_sse``, an ADK ``RunAgentRequest`` in, a text/event-stream of ADK events out.

``?stream=simple`` asks for the simplified stream instead (api-contract Q1): ``{"type": ...}`` objects
with JSON heartbeats and a last ``{"type": "done"}`` (see ``api.agent.events``); ``?stream=adk``, or
no ``stream``, is the default ADK Event JSON with comment heartbeats.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.agent.events import View
from api.deps import Svc, Token, owned_session
from api.errors import ApiError, NotFound
from api.schemas import ErrorBody, RunAgentRequest, request_body
from api.store import SessionRow, TokenRow

router = APIRouter(tags=["chat"])
MAX_MESSAGE_CHARS = 4000
STREAM_MODES = ("adk", "simple")


class UnprocessableBody(ApiError):
    """The body is not a RunAgentRequest (ADK answers 422)."""

    code, status, default_message = 422, 422, "the body must be a RunAgentRequest"


@dataclass(frozen=True, slots=True)
class RunRequest:
    """A RunAgentRequest, read (snake_case or camelCase) and checked."""

    session_id: str
    user: str
    text: str
    streaming: bool


def _field(body: dict[str, Any], snake: str, camel: str) -> Any:
    return body.get(snake) if body.get(snake) is not None else body.get(camel)


def _message_text(body: dict[str, Any]) -> str:
    message = _field(body, "new_message", "newMessage")
    if not isinstance(message, dict) or not isinstance(message.get("parts"), list):
        raise UnprocessableBody("new_message.parts is required: {\"new_message\": {\"parts\": [{\"text\": \"...\"}]}}")
    if message.get("role") not in (None, "user"):
        raise UnprocessableBody("new_message.role must be \"user\"")
    texts = [p["text"] for p in message["parts"] if isinstance(p, dict) and isinstance(p.get("text"), str)]
    text = "\n".join(texts).strip()
    if not text:
        raise UnprocessableBody("the message has no text: send new_message.parts[0].text")
    if len(text) > MAX_MESSAGE_CHARS:
        raise UnprocessableBody(f"the message is longer than {MAX_MESSAGE_CHARS} characters")
    return text


def run_request(body: Any) -> RunRequest:
    """The body of ``/run_sse`` and ``/run``, or UnprocessableBody (422); an app other than nemo_agent is 404."""
    if not isinstance(body, dict):
        raise UnprocessableBody()
    app = _field(body, "app_name", "appName")
    if app not in (None, "nemo_agent"):
        raise NotFound(f"no app {app!r}; the app is nemo_agent")
    session_id = _field(body, "session_id", "sessionId")
    if not isinstance(session_id, str) or not session_id:
        raise UnprocessableBody("session_id is required")
    streaming = _field(body, "streaming", "streaming")
    if streaming is not None and not isinstance(streaming, bool):
        raise UnprocessableBody("streaming must be true or false")
    text = _message_text(body)
    return RunRequest(session_id, str(_field(body, "user_id", "userId") or "me"), text, bool(streaming))


async def admitted(svc: Svc, token: TokenRow, request: RunRequest) -> SessionRow:
    """The request's session, after the rate limit: what /run_sse and /run check before a turn starts."""
    session = await run_in_threadpool(owned_session, svc, token, request.user, request.session_id)
    await run_in_threadpool(svc.limits.check, "chat_turns_per_minute", token.user_id, "chat messages")
    return session


@router.post("/run_sse", response_model=None, response_class=StreamingResponse,
             openapi_extra=request_body(RunAgentRequest),
             responses={200: {"description": "text/event-stream: one ADK Event (the AdkEvent schema) per "
                                             "`data:` line; `: heartbeat` comments while the turn runs; the stream "
                                             "ends with the turn",
                              "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                        "4XX": {"model": ErrorBody, "description": "before the stream opens: 1001, 1002 (404), 2001, "
                                                                  "422 (not a RunAgentRequest), 429"}})
async def run_sse(svc: Svc, token: Token, body: Annotated[Any, Body()] = None,
                  stream: Annotated[str, Query(description="adk (default) or simple")] = "adk") -> StreamingResponse:
    """Send a message to the editing agent; the answer streams as ADK events (tool calls, results with the
    new draft in ``actions.stateDelta``, one final text). Heartbeats (``: heartbeat`` and an empty ``data:``)
    keep the connection alive; the stream ends when the turn does. ``?stream=simple``: the same turn as
    ``{"type": "text"|"tool_call"|"tool_result"|"error"|"heartbeat"|"done", ...}`` objects."""
    if stream not in STREAM_MODES:
        raise UnprocessableBody(f"stream must be one of {', '.join(STREAM_MODES)}")
    request = run_request(body)
    session = await admitted(svc, token, request)
    events = await svc.chat.open(token, session, request.text, View(stream, request.streaming))
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
