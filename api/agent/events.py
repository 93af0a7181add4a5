"""ADK Event JSON, as ``POST /run_sse`` streams it (api-contract.md §6.1).

Keys are camelCase, ``None`` fields are left out, ``actions`` always carries the default dicts,
and each event goes out as one ``data:`` line followed by a blank line.
"""

from __future__ import annotations

import json
import secrets
import string
import time
import uuid
from typing import Any, Final

AUTHOR: Final = "nemo_agent"
TOOL_NAME: Final = "edit_multitrack"
HEARTBEAT: Final = b": heartbeat\ndata:\n\n"
_ALPHABET: Final = string.ascii_letters + string.digits


def invocation_id() -> str:
    return f"e-{uuid.uuid4()}"


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
