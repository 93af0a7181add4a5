"""Tokens, credits and claim links: E1, E5, E11.

What ``X-Client-Id`` proves: nothing by itself; anyone can send any id. So a client id's live token
is handed back only to a request that shows it holds it (that token as its bearer) or that comes
from the address it was issued to. Anyone else asking with that id gets 429 until the token expires
(the contract's "1 token per client id per 7 days"); after it expires, the same id gets a new token
for the same user. Seed clients call E1 once, keep the token, and call again only after a 1001, so
they never meet the 429. New tokens are capped per address (``tokens_per_ip_per_week``, the
contract's 10), and every E1 request counts against a burst limit (``token_requests_per_minute``).
"""

from __future__ import annotations

import math
import re
import secrets
import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Request

from api.bodies import JsonBody
from api.deps import Svc, Token
from api.errors import BadRequest, SessionNotFound, TokenInvalid
from api.ratelimit import TooManyRequests
from api.schemas import (
    BalanceResponse,
    ClaimExchangeRequest,
    ClaimExchangeResponse,
    ClaimRequest,
    ClaimResponse,
    TokenResponse,
    ok_response,
    request_body,
)
from api.store import TokenRow
from api.views import ok

router = APIRouter(tags=["account"])
CLAIM_TTL_S = 7 * 24 * 3600
CLAIM = re.compile(r"^clm_[A-Za-z0-9_-]{16,64}$")
BAD_CLAIM = ("this link is not valid or has expired (links last 7 days); ask for a new one, or start a new "
             "session here")


def _holds(token: TokenRow, ip: str, authorization: str | None) -> bool:
    """Whether the request shows it holds ``token``: as its bearer, or from the address it was issued to."""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() == "bearer" and secrets.compare_digest(value.strip().encode(), token.token.encode()):
        return True
    return token.issued_ip is not None and token.issued_ip == ip


@router.post("/api/auth/anonymous-token", responses=ok_response(TokenResponse))
def anonymous_token(request: Request, svc: Svc, x_client_id: Annotated[str | None, Header()] = None,
                    authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    """A token with free credits for this client id; while it is valid, the same token again to the client
    that holds it (its bearer, or the address it was issued to), 429 to anyone else."""
    client_id = (x_client_id or "").strip()
    if not client_id:
        raise BadRequest("the X-Client-Id header is required: send a UUID you keep for this client")
    if len(client_id) > 64:
        raise BadRequest("X-Client-Id must be 64 characters or fewer")
    ip = request.client.host if request.client else "unknown"
    svc.limits.check("token_requests_per_minute", ip, "token requests from this address")
    settings = svc.settings
    token = svc.store.live_token(client_id)
    if token is None:
        wait = svc.limits.hit("tokens_per_ip_per_week", ip)
        if wait:
            raise TooManyRequests(wait, "tokens_per_ip_per_week", settings.tokens_per_ip_per_week,
                                  f"this address has had {settings.tokens_per_ip_per_week} new tokens in 7 days "
                                  f"(tokens_per_ip_per_week); keep using the one you have, or retry in {wait} s")
        token, _new = svc.store.issue_token(client_id, settings.token_credits, settings.token_ttl_days * 86400, ip)
    if not _holds(token, ip, authorization):
        wait = max(1, math.ceil(token.expires - time.time()))
        raise TooManyRequests(wait, "tokens_per_client_id", 1,
                              "this client id already has a live token, issued to another client; send that token "
                              "as Authorization: Bearer to get it back, or use a client id of your own")
    expires = datetime.fromtimestamp(token.expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return ok({"token": token.token, "user_id": token.user_id, "bind_id": token.user_id, "credits": token.available,
               "expires_at": expires})


@router.get("/api/credits/balance/simple", responses=ok_response(BalanceResponse))
def credits(token: Token) -> dict[str, Any]:
    return ok({"available": token.available, "frozen": token.frozen, "total": token.available + token.frozen})


@router.post("/api/auth/claim-token", responses=ok_response(ClaimResponse),
             openapi_extra=request_body(ClaimRequest))
def claim_token(svc: Svc, token: Token, body: Annotated[dict[str, Any] | None, Body()] = None) -> dict[str, Any]:
    """A short-lived claim for a browser link to a session; it cannot call the API."""
    body = body or {}
    session = svc.store.session(str(body.get("session_id", "")))
    if session is None or session.user_id != token.user_id or body.get("task_id") not in (None, session.task_id):
        raise SessionNotFound()
    claim = svc.store.create_claim(token.user_id, session.task_id, session.id, CLAIM_TTL_S)
    return ok({"claim_token": claim, "expires_in": CLAIM_TTL_S, "issued_at": int(time.time())})


@router.post("/api/auth/claim-exchange", responses=ok_response(ClaimExchangeResponse),
             openapi_extra=request_body(ClaimExchangeRequest))
def claim_exchange(request: Request, svc: Svc, body: JsonBody) -> dict[str, Any]:
    """A browser link's claim (E11) for a token of the claim's user and the session it names; no bearer needed,
    the claim is the proof. The token comes back in the body only: never put it in a URL."""
    ip = request.client.host if request.client else "unknown"
    svc.limits.check("token_requests_per_minute", ip, "token requests from this address")
    claim = body.get("claim_token") if isinstance(body, dict) else None
    if not isinstance(claim, str) or not CLAIM.match(claim):
        raise TokenInvalid(BAD_CLAIM)
    found = svc.store.claim(claim)
    if found is None:
        raise TokenInvalid(BAD_CLAIM)
    session = svc.store.session(found.session_id)
    if session is None or session.user_id != found.user_id:
        raise SessionNotFound()
    settings = svc.settings
    token = svc.store.user_token(found.user_id, settings.token_credits, settings.token_ttl_days * 86400)
    return ok({"token": token.token, "session_id": session.id, "task_id": session.task_id, "user_id": token.user_id,
               "expires_in": max(0, int(token.expires - time.time()))})
