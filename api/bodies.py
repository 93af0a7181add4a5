"""Request bodies: how large, how deep and how many values a JSON body may be, checked on the raw
bytes while and before they are parsed, and parsed off the event loop.

:class:`BodyLimit` is an ASGI middleware in front of every route. It refuses a body whose
Content-Length is over ``max_json_body_bytes`` before reading any of it, and counts a chunked
body as it arrives, refusing it the moment it passes the limit (413, in the envelope). A JSON
body within the limit is measured on its bytes (nesting depth, number of values: a few array
passes, no Python object per value) and refused with a 400 naming the limit when it is over one; only then
is it parsed, in a worker thread when it is large, and the parsed value is handed to the route
(:data:`JsonBody`). Multipart bodies sent to the upload route go through untouched: it streams
them to disk with its own per-file limit.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Annotated, Any, Final

import numpy as np
from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from api.errors import ApiError, BadRequest, PayloadTooLarge, from_engine
from engine.errors import LimitExceeded

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

PARSED: Final = "reelforge.json_body"     # scope key: the body, already parsed by BodyLimit
INLINE_BYTES: Final = 64 * 1024           # smaller bodies are measured and parsed on the loop (a thread hop costs more)
STREAMED_UPLOADS: Final = ("/api/upload-video/",)
JSON_OBJECT_BODY: Final = {"requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}}

_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_WHITESPACE = np.array([ord(c) for c in " \t\r\n"], dtype=np.uint8)


@dataclass(frozen=True, slots=True)
class JsonLimits:
    max_bytes: int
    max_depth: int
    max_values: int


@dataclass(frozen=True, slots=True)
class Shape:
    """What :func:`measure` found: the deepest nesting and the number of values."""

    depth: int
    values: int


def measure(raw: bytes) -> Shape:
    """The nesting depth and value count of a JSON text, from its bytes alone.

    Exact for valid JSON; for invalid JSON a guess that the parser then refuses anyway. Works on
    whole arrays (a few bytes of scratch per byte of body), never on one Python object per value:
    escaped backslashes and quotes go first, then what lies between quotes, then whitespace; what
    is left is the body's structure, each string reduced to ``""``.
    """
    text = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    data = np.frombuffer(text, dtype=np.uint8)
    quotes = data == ord('"')
    inside = np.bitwise_xor.accumulate(quotes.view(np.uint8))        # 1 from an opening quote to its closing one
    keep = inside == 0
    keep &= ~np.isin(data, _WHITESPACE)
    keep |= quotes
    structure = data[keep].tobytes()
    brackets = np.frombuffer(structure.translate(None, _NOT_BRACKET), dtype=np.uint8)
    opens = (brackets == ord("[")) | (brackets == ord("{"))
    steps = opens.astype(np.int8) * 2 - 1
    depth = int(np.cumsum(steps, dtype=np.int32).max(initial=0))
    empty = structure.count(b"[]") + structure.count(b"{}")
    values = structure.count(b",") + int(opens.sum()) - empty + (1 if structure else 0)
    return Shape(depth, values)


def check_shape(raw: bytes, limits: JsonLimits) -> None:
    """LimitExceeded naming ``max_json_depth`` or ``max_json_values`` when the body is over one."""
    shape = measure(raw)
    if shape.depth > limits.max_depth:
        raise LimitExceeded("max_json_depth", shape.depth, limits.max_depth, "the JSON body's nesting depth")
    if shape.values > limits.max_values:
        raise LimitExceeded("max_json_values", shape.values, limits.max_values, "the number of values in the JSON body")


def parse(raw: bytes, limits: JsonLimits) -> Any:
    """The body's value, after its shape is checked; BadRequest when it is not JSON."""
    check_shape(raw, limits)
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None


def check_draft_size(draft: Any, max_bytes: int) -> str:
    """The draft as compact JSON, or LimitExceeded naming ``max_draft_bytes`` when it is longer than that."""
    text = json.dumps(draft, separators=(",", ":"))
    size = len(text.encode())
    if size > max_bytes:
        raise LimitExceeded("max_draft_bytes", size, max_bytes, "the draft's size as compact JSON, in bytes")
    return text


def _json_like(content_type: str) -> bool:
    """What FastAPI would parse as JSON, and no content type at all (curl -d without -H)."""
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind in ("", "application/json") or (kind.startswith("application/") and kind.endswith("+json"))


class BodyLimit:
    """ASGI middleware: every body but a streamed upload is limited, measured and parsed here (module docstring)."""

    def __init__(self, app: App, limits: JsonLimits, streamed: tuple[str, ...] = STREAMED_UPLOADS) -> None:
        self.app, self.limits, self.streamed = app, limits, streamed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", ())}
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        if content_type.lower().startswith("multipart/form-data") and scope["path"].startswith(self.streamed):
            await self.app(scope, receive, send)
            return
        length = headers.get(b"content-length", b"").strip()
        if length.isdigit() and int(length) > self.limits.max_bytes:
            await _refuse(send, self._too_large(int(length)))
            return
        chunks: list[bytes] = []
        size, ended = 0, False
        while not ended:
            message = await receive()
            if message["type"] != "http.request":        # the client went away mid-body: nobody to answer
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limits.max_bytes:
                await _refuse(send, self._too_large(size, streaming=True))
                return
            chunks.append(chunk)
            ended = not message.get("more_body", False)
        raw = b"".join(chunks)
        if raw and _json_like(content_type):
            try:
                scope[PARSED] = await self._parse(raw)
            except LimitExceeded as exc:
                await _refuse(send, from_engine(exc))
                return
            except BadRequest:
                pass                                     # the route says what is wrong, in its own words
        await self.app(scope, _replay(raw, receive), send)

    async def _parse(self, raw: bytes) -> Any:
        if len(raw) <= INLINE_BYTES:
            return parse(raw, self.limits)
        return await run_in_threadpool(parse, raw, self.limits)

    def _too_large(self, size: int, streaming: bool = False) -> PayloadTooLarge:
        cap = self.limits.max_bytes
        said = f"more than {cap} bytes arrived" if streaming else f"Content-Length is {size} bytes"
        return PayloadTooLarge(f"the request body is too large: {said}, over the limit of {cap} (max_json_body_bytes)",
                               {"limit": "max_json_body_bytes", "value": size, "max": cap})


def _replay(raw: bytes, receive: Receive) -> Receive:
    """A receive that gives the app the body already read, then whatever comes next (a disconnect)."""
    pending: list[Message] = [{"type": "http.request", "body": raw, "more_body": False}]

    async def again() -> Message:
        return pending.pop(0) if pending else await receive()

    return again


async def _refuse(send: Send, error: ApiError) -> None:
    body = json.dumps(error.body(), separators=(",", ":")).encode()
    await send({"type": "http.response.start", "status": error.status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


async def json_body(request: Request) -> Any:
    """The request's JSON body (None when there is none), parsed by :class:`BodyLimit` off the loop.

    A body BodyLimit did not parse (it is not valid JSON, or its content type is not JSON) is
    refused here with a 400 that says so."""
    if PARSED in request.scope:
        return request.scope[PARSED]
    raw = await request.body()
    if not raw.strip():
        return None
    if not _json_like(request.headers.get("content-type", "")):
        raise BadRequest("send the body as JSON, with Content-Type: application/json")
    limits: JsonLimits = request.app.state.json_limits
    return await run_in_threadpool(parse, raw, limits)


JsonBody = Annotated[Any, Depends(json_body)]
