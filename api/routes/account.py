"""Tokens, credits and claim links: E1, E5, E11."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Request

from api.deps import Svc, Token
from api.errors import BadRequest, RateLimited, SessionNotFound
from api.views import ok

router = APIRouter(tags=["account"])
CLAIM_TTL_S = 7 * 24 * 3600


@router.post("/api/auth/anonymous-token")
def anonymous_token(request: Request, svc: Svc,
                    x_client_id: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    """A token with free credits for this client id; the same token again while it is valid."""
    client_id = (x_client_id or "").strip()
    if not client_id:
        raise BadRequest("the X-Client-Id header is required: send a UUID you keep for this client")
    if len(client_id) > 64:
        raise BadRequest("X-Client-Id must be 64 characters or fewer")
    wait = svc.token_limiter.check(request.client.host if request.client else "unknown")
    if wait:
        raise RateLimited(wait, f"too many token requests from this address; retry in {wait} s")
    settings = svc.settings
    token, _new = svc.store.issue_token(client_id, settings.token_credits, settings.token_ttl_days * 86400)
    expires = datetime.fromtimestamp(token.expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return ok({"token": token.token, "user_id": token.user_id, "bind_id": token.user_id, "credits": token.available,
               "expires_at": expires})


@router.get("/api/credits/balance/simple")
def credits(token: Token) -> dict[str, Any]:
    return ok({"available": token.available, "frozen": token.frozen, "total": token.available + token.frozen})


@router.post("/api/auth/claim-token")
def claim_token(svc: Svc, token: Token, body: Annotated[dict[str, Any] | None, Body()] = None) -> dict[str, Any]:
    """A short-lived claim for a browser link to a session; it cannot call the API."""
    body = body or {}
    session = svc.store.session(str(body.get("session_id", "")))
    if session is None or session.user_id != token.user_id or body.get("task_id") not in (None, session.task_id):
        raise SessionNotFound()
    claim = svc.store.create_claim(token.user_id, session.task_id, session.id, CLAIM_TTL_S)
    return ok({"claim_token": claim, "expires_in": CLAIM_TTL_S, "issued_at": int(time.time())})
