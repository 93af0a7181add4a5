"""Signed webhooks, against a real ``reelforge serve`` and a real receiver on loopback: the export's callback
gets one signed POST of the status body when the job ends, failures are retried and shown in the status body,
a restart resumes what is still due, and a callback to a non-public address is refused at submission."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from api.store import JobRow, Store, now_ms
from api.webhooks import Policy, signature
from tests.apiserver import Client, RedisServer, Server, Worker, until

SECRET = "whsec_test_0123456789abcdef"
FAST_RETRIES = {"REELFORGE_WEBHOOK_SECRET": SECRET, "REELFORGE_WEBHOOK_ALLOW_PRIVATE": "true",
                "REELFORGE_WEBHOOK_RETRY_BASE_S": "0.2", "REELFORGE_WEBHOOK_RETRY_MAX_S": "1",
                "REELFORGE_WEBHOOK_TIMEOUT_S": "2", "REELFORGE_LOCAL_WORKERS": "2"}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTP server on loopback that records every request and answers the next scripted status (then 200)."""

    answers: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                                      body))
                    status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(f"answer {status} ".encode() * 100)   # longer than what reelforge keeps

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}{path}"

    def requests(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


def verify(secret: str, header: str, body: bytes) -> bool:
    """What a receiver does (the docs' example): recompute v1 over "<t>.<raw body>" and compare in constant time."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"]) and abs(time.time() - int(parts["t"])) < 300


def without_webhook(body: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in body.items() if k != "webhook"}
    out["data"] = {k: v for k, v in body["data"].items() if k != "webhook"}
    return out


def short_draft(url: str, d: int = 1000) -> dict[str, Any]:
    return {"m": {"width": 160, "height": 90}, "t": [{"tt": 0, "sg": [{"src": url, "d": d}]}]}


def long_draft(url: str) -> dict[str, Any]:
    return {"m": {"width": 320, "height": 180, "out": {"format": "webm"}},
            "t": [{"tt": 0, "sg": [{"src": url, "d": 15_000}]}]}


def export(client: Client, draft: dict[str, Any], callback: str, key: str = "callback") -> dict[str, Any]:
    body = {"id": f"render_{time.time_ns()}", "sessionId": client.session_id, "draft": draft, key: callback}
    return client.json("POST", "/api/render/proxy/lambda", json=body)


def status(client: Client, render_id: str) -> dict[str, Any]:
    return client.json("GET", f"/api/render/proxy/lambda/{render_id}")


def settled(client: Client, render_id: str, timeout_s: float = 60) -> dict[str, Any]:
    """The status body once the job has ended and its delivery is delivered or failed."""
    return until(lambda: (b := status(client, render_id))["webhook"]["state"] in ("delivered", "failed") and b,
                 timeout_s)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {**FAST_RETRIES, "REELFORGE_WEBHOOK_RETRY_FOR_S": "3"}
    with Server(tmp_path_factory.mktemp("webhooks") / "data", env=env) as running:
        yield running


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.close()


@pytest.fixture()
def client(server: Server, media, clients) -> Client:  # type: ignore[no-untyped-def]
    made: Client = clients(server.base).connect()
    [clip] = made.upload(media.pattern)["data"]["files"]
    made.clip_url = clip["url"]  # type: ignore[attr-defined]
    return made


def test_a_finished_export_posts_its_status_body_once_signed(client: Client, receiver: Receiver) -> None:
    started = export(client, short_draft(client.clip_url), receiver.url("/done"))  # type: ignore[attr-defined]
    assert started["code"] == 0, started
    assert started["webhook"]["state"] == "waiting" and started["webhook"]["url"] == receiver.url("/done")
    final = settled(client, started["id"])
    [got] = receiver.requests("/done")
    assert got.headers["content-type"] == "application/json"
    assert got.headers["reelforge-event"] == "render.completed"
    assert got.headers["reelforge-delivery"] == final["webhook"]["delivery_id"]
    assert verify(SECRET, got.headers["reelforge-signature"], got.body)
    assert not verify("another secret 0123456789", got.headers["reelforge-signature"], got.body)
    assert got.json() == without_webhook(final)                     # the status body, as the status endpoint says
    assert got.json()["status"] == "completed" and httpx.get(got.json()["output"]["url"]).status_code == 200
    hook = final["webhook"]
    assert final["data"]["webhook"] == hook
    assert (hook["delivered"], hook["event"], hook["attempt_count"], hook["next_attempt_at"]) == (
        True, "render.completed", 1, None)
    [attempt] = hook["attempts"]
    assert attempt["status"] == 200 and attempt["error"] is None and attempt["duration_ms"] >= 0
    assert attempt["response"] == ("answer 200 " * 100)[:256]       # only the first 256 bytes are kept
    time.sleep(1)
    assert len(receiver.requests("/done")) == 1                      # a 2xx ends it


def test_the_webhook_alias_and_an_export_without_a_callback(client: Client, receiver: Receiver) -> None:
    aliased = export(client, short_draft(client.clip_url), receiver.url("/alias"), key="webhook")  # type: ignore[attr-defined]
    assert settled(client, aliased["id"])["webhook"]["delivered"]
    plain = client.export(short_draft(client.clip_url))  # type: ignore[attr-defined]
    assert "webhook" not in plain and "webhook" not in client.wait(plain["id"])["data"]


def test_failed_attempts_are_retried_and_shown(client: Client, receiver: Receiver) -> None:
    receiver.answers = [500, 500, 200]
    started = export(client, short_draft(client.clip_url), receiver.url("/flaky"))  # type: ignore[attr-defined]
    final = settled(client, started["id"])
    got = receiver.requests("/flaky")
    assert len(got) == 3
    assert len({r.headers["reelforge-delivery"] for r in got}) == 1 and len({r.body for r in got}) == 1
    assert all(verify(SECRET, r.headers["reelforge-signature"], r.body) for r in got)
    hook = final["webhook"]
    assert hook["delivered"] and hook["attempt_count"] == 3
    assert [a["status"] for a in hook["attempts"]] == [500, 500, 200]
    assert [a["error"] for a in hook["attempts"]] == ["HTTP 500", "HTTP 500", None]
    first, second, third = (a["at"] for a in hook["attempts"])
    assert 150 <= second - first and 300 <= third - second          # backoff: ~0.2 s, then ~0.4 s (+-20%)


def test_a_receiver_that_never_answers_2xx_is_given_up_on(client: Client, receiver: Receiver) -> None:
    receiver.answers = [503] * 100
    started = export(client, short_draft(client.clip_url), receiver.url("/down"))  # type: ignore[attr-defined]
    final = settled(client, started["id"], timeout_s=30)
    hook = final["webhook"]
    assert (hook["state"], hook["delivered"], hook["next_attempt_at"]) == ("failed", False, None)
    assert hook["attempt_count"] == len(receiver.requests("/down")) >= 3
    assert all(a["status"] == 503 for a in hook["attempts"])
    assert hook["attempts"][-1]["at"] - final["data"]["completedAt"] <= 3000 + 1000  # none due after retry_for_s


def test_a_cancelled_export_sends_render_cancelled(client: Client, receiver: Receiver) -> None:
    started = export(client, long_draft(client.clip_url), receiver.url("/cancelled"))  # type: ignore[attr-defined]
    cancelled = client.json("POST", f"/api/render/proxy/lambda/{started['id']}/cancel")
    assert cancelled["status"] == "failed" and cancelled["data"]["cancelled"]
    final = settled(client, started["id"])
    [got] = receiver.requests("/cancelled")
    assert got.headers["reelforge-event"] == final["webhook"]["event"] == "render.cancelled"
    assert got.json()["error"] == "cancelled" and got.json() == without_webhook(final)


def test_an_unreachable_receiver_is_recorded_as_an_error(client: Client, receiver: Receiver) -> None:
    closed = Receiver()
    url = closed.url("/gone")
    closed.close()                                                   # nothing listens on that port now
    started = export(client, short_draft(client.clip_url), url)  # type: ignore[attr-defined]
    hook = until(lambda: (b := status(client, started["id"]))["webhook"]["attempt_count"] >= 1 and b)["webhook"]
    assert hook["attempts"][0]["status"] is None and "Connect" in hook["attempts"][0]["error"]


# ---------------------------------------------------------------- the signature and the backoff


def test_the_signature_is_hmac_sha256_of_timestamp_dot_raw_body() -> None:
    header = signature("whsec_example_0123456789", 1765000000, b'{"status":"completed"}')
    # printf '%s' '1765000000.{"status":"completed"}' | openssl dgst -sha256 -hmac whsec_example_0123456789
    assert header == "t=1765000000,v1=2584a088723884ad0f813e9a19c0c7b3bfa6304774696c78f57dc3d57579c0fa"


def test_retries_double_from_the_base_up_to_the_cap_with_jitter() -> None:
    policy = Policy(secret="s" * 16, retry_base_s=1, retry_max_s=300)
    for failed, nominal in ((1, 1), (2, 2), (3, 4), (9, 256), (10, 300), (60, 300), (5000, 300)):
        waits = [policy.delay_s(failed) for _ in range(50)]
        assert all(0.8 * nominal <= w <= 1.2 * nominal for w in waits), (failed, min(waits), max(waits))
    assert len({round(policy.delay_s(3), 6) for _ in range(20)}) > 1


def test_the_store_keeps_one_delivery_per_job_and_one_sender_per_attempt(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = Store(tmp_path / "reelforge.db")
    store.create_job(JobRow("job_1", "u", "tok", "s", "pending", 0, "mp4", "{}", "/x.mp4", None, None, 0, False, 0,
                            now_ms(), None, None, "r1"))
    store.fail_job("job_1", "cancelled")                 # ended before its callback was recorded: due at once
    store.add_webhook("job_1", "http://a.test/hook", "http://api", "d1")
    store.add_webhook("job_1", "http://b.test/hook", "http://api", "d2")     # once per job: a repeat changes nothing
    row = store.webhook("job_1")
    assert (row["state"], row["url"], row["delivery_id"]) == ("pending", "http://a.test/hook", "d1")
    now = time.time()
    assert store.claim_webhook("job_1", now, now + 60) is not None
    assert store.claim_webhook("job_1", now, now + 60) is None and store.due_webhooks(now, 10) == []   # held
    assert store.claim_webhook("job_1", now + 61, now + 120) is not None    # its holder died: the lease ran out
    store.record_webhook_attempt("job_1", now_ms(), 5, 200, None, "ok", "delivered", None)
    assert store.webhook("job_1")["state"] == "delivered" and store.webhook("job_1")["lease_until"] is None
    assert store.webhook_attempts("job_1", 20)[0] == 1
    [(rowid, *_)] = store.jobs_before(now_ms() + 1000)
    store.expire_jobs([rowid], time.time())              # retention trims the job: its delivery record goes too
    assert store.webhook("job_1") is None and store.webhook_attempts("job_1", 20)[0] == 0


# ---------------------------------------------------------------- refused at submission


@pytest.mark.parametrize("callback", ["http://10.0.0.1/hook", "http://127.0.0.1:9/hook", "http://[::1]/hook",
                                      "http://169.254.169.254/latest", "http://localhost:9/hook", "ftp://93.184.216.34/hook",
                                      "http://user:pw@93.184.216.34/hook", "not a url", 42])
def test_a_callback_to_a_non_public_address_is_refused_changing_nothing(tmp_path, media, clients,  # type: ignore[no-untyped-def]
                                                                          callback: Any, guarded: Server) -> None:
    client = clients(guarded.base).connect()
    [clip] = client.upload(media.pattern)["data"]["files"]
    credits = client.json("GET", "/api/credits/balance/simple")["data"]
    body = {"id": "render_refused", "sessionId": client.session_id, "draft": short_draft(clip["url"]),
            "callback": callback}
    reply = client.call("POST", "/api/render/proxy/lambda", json=body)
    assert (reply.status_code, reply.json()["code"]) == (400, 400), reply.text
    assert "callback" in reply.json()["message"] and reply.json()["data"] == {"field": "callback"}
    assert client.call("GET", "/api/render/proxy/lambda/render_refused").status_code == 404
    assert client.json("GET", "/api/credits/balance/simple")["data"] == credits


def test_a_callback_needs_a_secret_to_sign_with(media, clients, guarded: Server) -> None:  # type: ignore[no-untyped-def]
    client = clients(guarded.base).connect()
    [clip] = client.upload(media.pattern)["data"]["files"]
    body = {"id": "render_unsigned", "sessionId": client.session_id, "draft": short_draft(clip["url"]),
            "callback": "http://93.184.216.34/hook"}                 # public, so only the missing secret refuses it
    reply = client.call("POST", "/api/render/proxy/lambda", json=body)
    assert (reply.status_code, reply.json()["code"]) == (400, 400)
    assert "REELFORGE_WEBHOOK_SECRET" in reply.json()["message"]
    assert client.call("GET", "/api/render/proxy/lambda/render_unsigned").status_code == 404


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The defaults: no secret, private callback addresses refused (as private upload URLs are)."""
    with Server(tmp_path_factory.mktemp("webhooks-guarded") / "data", env={"REELFORGE_LOCAL_WORKERS": "1"}) as s:
        yield s


# ---------------------------------------------------------------- restart


def test_a_restart_resumes_a_pending_delivery(tmp_path, media, clients, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    receiver.answers = [500] * 1000
    server = Server(tmp_path / "data", env={**FAST_RETRIES, "REELFORGE_WEBHOOK_RETRY_MAX_S": "0.5"}).start()
    try:
        client = clients(server.base).connect()
        [clip] = client.upload(media.pattern)["data"]["files"]
        started = export(client, short_draft(clip["url"]), receiver.url("/restart"))
        until(lambda: status(client, started["id"])["webhook"]["attempt_count"] >= 2)
        server.stop()
        before = len(receiver.requests("/restart"))
        with receiver.lock:
            receiver.answers = []                                    # the receiver is fixed while the API is down
        server.start()
        final = settled(client, started["id"])
        got = receiver.requests("/restart")
        assert final["webhook"]["delivered"] and final["webhook"]["attempt_count"] == len(got) == before + 1
        assert len({r.headers["reelforge-delivery"] for r in got}) == 1 and len({r.body for r in got}) == 1
        assert verify(SECRET, got[-1].headers["reelforge-signature"], got[-1].body)
    finally:
        server.stop()


# ---------------------------------------------------------------- farm mode


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs Debian's redis-server")
def test_a_farm_render_is_delivered_too(tmp_path, media, clients, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    """The farm records a job's end through the same store call as the embedded runner: one hook serves both."""
    with RedisServer(tmp_path) as redis_server:
        env = {**FAST_RETRIES, "REELFORGE_REDIS_URL": redis_server.url, "REELFORGE_DATA_DIR": str(tmp_path / "data")}
        server = Server(tmp_path / "data", env=env).start()
        worker = Worker("w1", env, tmp_path / "w1.log").start()
        try:
            client = clients(server.base).connect()
            [clip] = client.upload(media.pattern)["data"]["files"]
            started = export(client, short_draft(clip["url"]), receiver.url("/farm"))
            final = settled(client, started["id"], timeout_s=120)
            [got] = receiver.requests("/farm")
            assert final["status"] == "completed" and final["webhook"]["delivered"], final
            assert got.headers["reelforge-event"] == "render.completed"
            assert verify(SECRET, got.headers["reelforge-signature"], got.body)
            assert got.json() == without_webhook(final)
        finally:
            worker.stop()
            server.stop()
