"""ADK Event JSON, as ``POST /run_sse`` streams it (api-contract.md §6.1), and the simplified stream (Q1).

Keys are camelCase, ``None`` fields are left out, ``actions`` always carries the default dicts,
and each event goes out as one ``data:`` line followed by a blank line.

The simplified stream carries the same turn as ``{"type": ...}`` objects, one per ``data:`` line:
``text`` (``content``; ``partial`` on streaming pieces), ``tool_call`` (``id``, ``name``, ``args``),
``tool_result`` (``id``, ``name``, ``result``, and ``draft`` when the draft changed), ``error``
(``code``, ``message``, ``content``), JSON heartbeats ``{"type": "heartbeat"}``, and a last
``{"type": "done"}``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import string
import time
import uuid
from dataclasses import dataclass
from typing import Any, Final

AUTHOR: Final = "nemo_agent"
TOOL_NAME: Final = "edit_multitrack"
HEARTBEAT: Final = b": heartbeat\ndata:\n\n"
SIMPLE_HEARTBEAT: Final = b'data: {"type":"heartbeat"}\n\n'
SIMPLE_DONE: Final = b'data: {"type":"done"}\n\n'
_ALPHABET: Final = string.ascii_letters + string.digits
Event = dict[str, Any]


def call_id() -> str:
    return f"af-{uuid.uuid4()}"


def _event(invocation: str, parts: list[dict[str, Any]], role: str, *, state_delta: dict[str, Any] | None = None,
           **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "content": {"parts": parts, "role": role},
        "invocationId": invocation,
        "author": AUTHOR,
        "actions": {"stateDelta": state_delta or {}, "artifactDelta": {}, "requestedAuthConfigs": {},
                    "requestedToolConfirmations": {}},
        "id": "".join(secrets.choice(_ALPHABET) for _ in range(8)),
        "timestamp": round(time.time(), 3),
    }
    event.update({k: v for k, v in extra.items() if v is not None})
    return event


def function_call(invocation: str, call: str, args: dict[str, Any]) -> dict[str, Any]:
    return _event(invocation, [{"functionCall": {"id": call, "name": TOOL_NAME, "args": args}}], "model",
                  longRunningToolIds=[])


def function_response(invocation: str, call: str, response: dict[str, Any],
                      draft: dict[str, Any] | None) -> dict[str, Any]:
    delta = {"draft": draft} if draft is not None else None
    return _event(invocation, [{"functionResponse": {"id": call, "name": TOOL_NAME, "response": response}}], "user",
                  state_delta=delta)


def text(invocation: str, words: str, *, partial: bool = False) -> dict[str, Any]:
    return _event(invocation, [{"text": words}], "model", partial=True if partial else None,
                  turnComplete=None if partial else True)


def error(invocation: str, code: str, message: str, words: str) -> dict[str, Any]:
    return _event(invocation, [{"text": words}], "model", errorCode=code, errorMessage=message, turnComplete=True)


def sse(event: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


def chunks(words: str, size: int = 24) -> list[str]:
    """The final text cut into streaming pieces at spaces (or every ``size`` characters for CJK)."""
    pieces, current = [], ""
    for ch in words:
        current += ch
        if len(current) >= size and (ch == " " or not ch.isascii()):
            pieces.append(current)
            current = ""
    if current:
        pieces.append(current)
    return pieces


def simple(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The simplified stream's objects for one ADK event (see the module docstring)."""
    out: list[dict[str, Any]] = []
    for part in event.get("content", {}).get("parts", []):
        if "functionCall" in part:
            call = part["functionCall"]
            out.append({"type": "tool_call", "id": call["id"], "name": call["name"], "args": call["args"]})
        elif "functionResponse" in part:
            answer = part["functionResponse"]
            item = {"type": "tool_result", "id": answer["id"], "name": answer["name"], "result": answer["response"]}
            draft = event.get("actions", {}).get("stateDelta", {}).get("draft")
            out.append(item if draft is None else {**item, "draft": draft})
        elif "text" in part and "errorCode" in event:
            out.append({"type": "error", "code": event["errorCode"], "message": event.get("errorMessage", ""),
                        "content": part["text"]})
        elif "text" in part:
            out.append({"type": "text", "content": part["text"], **({"partial": True} if event.get("partial") else {})})
    return out


def history(turn_id: str, invocation: str, words: str, reply: str | None, started: float,
            ended: float | None) -> list[dict[str, Any]]:
    """A past turn as a session's ``events`` keep it: the user's message, then the agent's reply (once it
    has one). Ids are derived from the turn, so reading the session twice gives the same events."""
    digest = hashlib.sha256(turn_id.encode()).digest()
    ids = ["".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[i:i + 8]) for i in (0, 8)]
    asked = _event(invocation, [{"text": words}], "user", id=ids[0], timestamp=round(started, 3))
    asked["author"] = "user"
    if reply is None:
        return [asked]
    return [asked, _event(invocation, [{"text": reply}], "model", id=ids[1], timestamp=round(ended or started, 3),
                          turnComplete=True)]


@dataclass(frozen=True, slots=True)
class View:
    """How one listener wants a turn: ADK events (``adk``) or the simplified ``{"type": ...}`` objects
    (``simple``), with the streaming text pieces or without them."""

    mode: str = "adk"
    streaming: bool = False

    def frames(self, event: Event) -> list[bytes]:
        if event.get("partial") and not self.streaming:
            return []
        if self.mode == "simple":
            return [sse(item) for item in simple(event)]
        return [sse(event)]

    @property
    def heartbeat(self) -> bytes:
        return SIMPLE_HEARTBEAT if self.mode == "simple" else HEARTBEAT
