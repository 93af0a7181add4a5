"""The ADK-native endpoints (E13) against a real ``reelforge serve``: the same sessions as the NemoVideo
endpoints, as ADK's Session JSON, created, listed, read, patched and deleted; ``/run`` answering with
the turn's events; and another user's session answering like a missing one."""

from __future__ import annotations

from typing import Any

import httpx

from tests.test_api_seeds import uploaded

APP = "/apps/nemo_agent/users"
SESSION_KEYS = {"id", "appName", "userId", "state", "events", "lastUpdateTime"}


def run_body(session_id: str, text: str) -> dict[str, Any]:
    return {"appName": "nemo_agent", "userId": "me", "sessionId": session_id,
            "newMessage": {"role": "user", "parts": [{"text": text}]}}


def not_found(reply: httpx.Response) -> None:
    assert reply.status_code == 404 and reply.json()["code"] == 1002 and reply.json()["detail"] == "Session not found"


def test_list_apps_and_session_crud(api_server, clients, media) -> None:
    assert httpx.get(api_server.base + "/list-apps").json() == ["nemo_agent"]
    client = clients(api_server.base).connect()
    user = client.json("GET", f"/api/state/nemo_agent/me/{client.session_id}/latest")["data"]["user_id"]
    made = client.call("POST", f"{APP}/me/sessions")
    assert made.status_code == 200
    session = made.json()
    assert set(session) == SESSION_KEYS and session["appName"] == "nemo_agent" and session["userId"] == user
    assert session["id"].isdigit() and session["events"] == [] and isinstance(session["lastUpdateTime"], float)
    assert session["state"]["draft"] == {} and session["state"]["video_infos"] == []
    assert set(session["state"]) == {"draft", "video_infos", "canvas_config", "video_analyses", "generated_media"}
    named = client.call("POST", f"{APP}/{user}/sessions", json={"sessionId": "trip-2026_a", "state": {}}).json()
    assert named["id"] == "trip-2026_a"
    for path in (f"{APP}/me/sessions/trip-2026_a", f"{APP}/me/sessions/{session['id']}"):
        again = client.call("POST", path)
        sid = path.rsplit("/", 1)[1]
        assert again.status_code == 400 and again.json()["detail"] == f"Session already exists: {sid}"
    numeric = client.call("POST", f"{APP}/me/sessions/12345")
    assert numeric.status_code == 400 and "numeric" in numeric.json()["message"]
    stateful = client.call("POST", f"{APP}/me/sessions", json={"state": {"mood": "happy"}})
    assert stateful.status_code == 400 and stateful.json()["data"] == {"keys": ["state"]}
    listed = client.call("GET", f"{APP}/me/sessions").json()
    assert [s["id"] for s in listed] == [client.session_id, session["id"], "trip-2026_a"]   # E2's session too
    assert all(set(s) == SESSION_KEYS and s["events"] == [] for s in listed)
    assert client.call("DELETE", f"{APP}/me/sessions/{session['id']}").status_code == 200
    not_found(client.call("GET", f"{APP}/me/sessions/{session['id']}"))
    gone = client.call("GET", f"/api/state/nemo_agent/me/{session['id']}/latest").json()
    assert gone["code"] == 1002
    assert [s["id"] for s in client.call("GET", f"{APP}/me/sessions").json()] == [client.session_id, "trip-2026_a"]
    mine = client.session_id
    client.session_id = "trip-2026_a"
    uploaded(client, media.green_png)
    assert client.call("DELETE", f"{APP}/me/sessions/trip-2026_a").status_code == 200
    again = client.call("POST", f"{APP}/me/sessions/trip-2026_a").json()       # the id is free again, and empty
    assert (again["state"]["draft"], again["state"]["video_infos"], again["events"]) == ({}, [], [])
    client.session_id = mine
    unknown = client.call("GET", "/apps/other_agent/users/me/sessions")
    assert unknown.status_code == 404 and "nemo_agent" in unknown.json()["detail"]


def test_another_users_session_answers_like_a_missing_one(api_server, clients) -> None:
    owner = clients(api_server.base).connect()
    other = clients(api_server.base).connect()
    owner_id = owner.state()["data"]["user_id"]
    sid = owner.session_id
    for method in ("GET", "DELETE", "PATCH"):
        not_found(other.call(method, f"{APP}/me/sessions/{sid}", json={"stateDelta": {}}))
        not_found(other.call(method, f"{APP}/{owner_id}/sessions/{sid}", json={"stateDelta": {}}))
        not_found(owner.call(method, f"{APP}/me/sessions/no-such-session", json={"stateDelta": {}}))
    not_found(other.call("GET", f"{APP}/{owner_id}/sessions"))
    not_found(other.call("POST", "/run", json=run_body(sid, "mute it")))
    not_found(other.call("POST", f"{APP}/{owner_id}/sessions"))
    assert httpx.get(f"{api_server.base}{APP}/me/sessions").json()["code"] == 1001         # the same bearer auth
    assert owner.call("GET", f"{APP}/me/sessions/{sid}").status_code == 200


def test_run_returns_the_turns_events_and_the_session_keeps_them(api_server, clients, media) -> None:
    client = clients(api_server.base).connect()
    session = client.call("POST", f"{APP}/me/sessions", json={"sessionId": "adk-run-1"}).json()
    client.session_id = session["id"]
    [clip] = uploaded(client, media.pattern)                         # E4 into the ADK-made session
    start = client.call("GET", f"{APP}/me/sessions/adk-run-1").json()["state"]["draft"]
    assert [s["src"] for s in start["t"][0]["sg"]] == [clip["url"].removeprefix(api_server.base)]
    before = client.json("GET", "/api/credits/balance/simple")["data"]["available"]
    reply = client.call("POST", "/run", json=run_body("adk-run-1", "trim it to the first 2 seconds"))
    assert reply.status_code == 200 and reply.headers["content-type"] == "application/json"
    events = reply.json()
    assert all(e["author"] == "nemo_agent" and e["invocationId"] == events[0]["invocationId"] for e in events)
    assert not any(e.get("partial") for e in events)                  # streaming false: whole events only
    changed = [e["actions"]["stateDelta"]["draft"] for e in events if "draft" in e["actions"]["stateDelta"]]
    last = events[-1]["content"]["parts"][0]["text"]
    assert events[-1]["turnComplete"] is True and "2 s long" in last
    after = client.call("GET", f"{APP}/me/sessions/adk-run-1").json()
    assert after["state"]["draft"] == changed[-1] != start and after["lastUpdateTime"] >= session["lastUpdateTime"]
    assert max(s["st"] + s["d"] for t in after["state"]["draft"]["t"] for s in t["sg"]) == 2000
    assert client.json("GET", "/api/credits/balance/simple")["data"]["available"] < before
    asked, answered = after["events"]
    assert (asked["author"], asked["content"]["role"], asked["content"]["parts"][0]["text"]) == (
        "user", "user", "trim it to the first 2 seconds")
    assert (answered["author"], answered["content"]["parts"][0]["text"]) == ("nemo_agent", last)
    assert asked["invocationId"] == answered["invocationId"]
    assert client.call("GET", f"{APP}/me/sessions/adk-run-1").json()["events"] == after["events"]   # stable ids
    streamed = client.call("POST", "/run", json={**run_body("adk-run-1", "show tracks"), "streaming": True}).json()
    assert [e.get("partial") for e in streamed][-1] is None and any(e.get("partial") for e in streamed)


def test_patch_sets_the_draft_after_an_exports_checks(api_server, clients, media) -> None:
    client = clients(api_server.base).connect()
    [clip] = uploaded(client, media.red)
    path = f"{APP}/me/sessions/{client.session_id}"
    draft = {"t": [{"tt": 0, "sg": [{"src": clip["url"], "d": 1000}]}]}
    patched = client.call("PATCH", path, json={"stateDelta": {"draft": draft}})
    assert patched.status_code == 200 and patched.json()["state"]["draft"] == draft
    assert client.state()["data"]["draft_version"] == 2                       # the uploads', then this one
    bad = client.call("PATCH", path, json={"stateDelta": {"draft": {"t": [{"tt": 0, "sg": [{"src": "x.mp4"}]}]}}})
    assert bad.status_code == 400 and bad.json()["data"]["issues"][0]["path"] == "t[0].sg[0].src"
    other = client.call("PATCH", path, json={"stateDelta": {"draft": draft, "video_infos": []}})
    assert other.status_code == 400 and other.json()["data"] == {"keys": ["video_infos"]}
    assert client.state()["data"]["draft_version"] == 2 and client.state()["data"]["state"]["draft"] == draft
