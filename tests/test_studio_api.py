"""The endpoints the studio page calls (docs/api.md, "Studio"), against a real ``reelforge serve``: the claim
link's exchange, the session list, a session's uploads (with thumbnails an <img> can show) and renders, the
quick preview, and the farm page's additions. Each refusal is checked for what the client reads and for
having changed nothing."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import httpx

from tests.apiserver import Client, Server


def db(server: Server) -> sqlite3.Connection:
    """The server's own database (WAL: safe beside the running server), to move a claim's expiry into the past."""
    return sqlite3.connect(server.data_dir / "reelforge.db", timeout=30, isolation_level=None)


def claim_for(client: Client) -> str:
    body = client.json("POST", "/api/auth/claim-token", json={"session_id": client.session_id})
    assert body["code"] == 0, body
    return str(body["data"]["claim_token"])


def exchange(base: str, claim: Any) -> httpx.Response:
    """What the studio page does with ``?ct=``: no bearer, the claim in the body."""
    return httpx.post(base + "/api/auth/claim-exchange", json={"claim_token": claim}, timeout=30)


# ---------------------------------------------------------------- claim exchange


def test_a_claim_link_opens_its_session_with_its_owners_token(api_server, clients) -> None:
    owner = clients(api_server.base).connect()
    claim = claim_for(owner)
    reply = exchange(api_server.base, claim)
    assert reply.status_code == 200
    data = reply.json()["data"]
    assert data["token"] == owner.token and data["token"].startswith("nmv_usr_")
    assert data["session_id"] == owner.session_id and data["task_id"].startswith("task_")
    assert 6 * 86400 < data["expires_in"] <= 7 * 86400
    browser = Client(api_server.base, token=data["token"], session_id=data["session_id"])
    try:
        assert browser.state()["data"]["session_id"] == owner.session_id      # the token opens the session
    finally:
        browser.close()
    assert exchange(api_server.base, claim).json()["data"]["token"] == owner.token     # a link opens again


def test_a_bad_or_expired_claim_is_refused_with_a_readable_401_and_changes_nothing(api_server, clients) -> None:
    owner = clients(api_server.base).connect()
    claim = claim_for(owner)
    with db(api_server) as con:
        tokens_before = con.execute("SELECT COUNT(*) FROM tokens").fetchone()[0]
    for bad in ("clm_" + "x" * 32, "nmv_usr_abc", "", 42, None, claim + "x"):
        reply = exchange(api_server.base, bad)
        assert reply.status_code == 401, bad
        body = reply.json()
        assert body["code"] == 1001 and body["data"] is None
        assert "not valid or has expired" in body["message"], body
    not_json = httpx.post(api_server.base + "/api/auth/claim-exchange", content=b"{", timeout=30,
                          headers={"Content-Type": "application/json"})
    assert (not_json.status_code, not_json.json()["code"]) == (400, 400)
    con = db(api_server)
    try:
        con.execute("UPDATE claims SET expires = ? WHERE claim = ?", (time.time() - 1, claim))
        expired = exchange(api_server.base, claim)
        assert (expired.status_code, expired.json()["code"]) == (401, 1001)
        assert "expired" in expired.json()["message"]
        assert con.execute("SELECT COUNT(*) FROM tokens").fetchone()[0] == tokens_before    # no token was made
    finally:
        con.close()
    assert "nmv_usr_" not in str(exchange(api_server.base, claim).request.url)
