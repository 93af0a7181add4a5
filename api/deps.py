"""Route dependencies, as named ``Annotated`` aliases: a signature lists what a route needs."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Header, Request

from api.errors import SessionNotFound, TokenInvalid
from api.services import Services
from api.store import SessionRow, TokenRow


async def services(request: Request) -> Services:
    """Async so that FastAPI calls it inline rather than through the thread pool."""
    svc: Services = request.app.state.services
    return svc


Svc = Annotated[Services, Depends(services)]


async def current_token(svc: Svc, authorization: Annotated[str | None, Header()] = None) -> TokenRow:
    """On the event loop, not in a thread: a primary-key read that WAL never blocks (some 6 us) is
    cheaper than the hop to a worker thread, and every authenticated call makes it."""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise TokenInvalid()
    token = svc.store.token(value.strip())
    if token is None or token.expires <= time.time():
        raise TokenInvalid()
    return token


Token = Annotated[TokenRow, Depends(current_token)]


def owned_session(svc: Services, token: TokenRow, user: str, session_id: str) -> SessionRow:
    """The session, when the path's user is "me" or the token's own id and the token owns it; else 1002
    (never saying whether someone else's session exists)."""
    if user not in ("me", token.user_id):
        raise SessionNotFound()
    session = svc.store.session(session_id)
    if session is None or session.user_id != token.user_id:
        raise SessionNotFound()
    return session


def base_url(svc: Services, request: Request) -> str:
    return (svc.settings.public_url or str(request.base_url)).rstrip("/")
