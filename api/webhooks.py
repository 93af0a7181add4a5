"""Signed webhooks: an export's ``callback`` URL is told when its job ends.

At submission the URL goes through the URL uploads' SSRF guard (:func:`api.uploads.checked_url`: http or https,
no credentials, every address the host resolves to public unless ``webhook_allow_private``). The delivery is a
row in SQLite (:mod:`api.store`, ``webhooks``), made due in the very transaction that ends the job
(``complete_job``/``fail_job``, which the embedded runner and the farm share), so nothing here runs on the
job's path or a request's.

:class:`Deliveries` sends them from the API process: one thread finds due deliveries in SQLite and hands them
through a bounded queue to a few sender threads; a full queue leaves the rest due in SQLite for the next look.
Before each attempt a sender claims the row with a short lease, so no two senders (in this process or another
API process on the same data directory) send it at once, and a restart resumes whatever is still due.

Each attempt POSTs the job's status body (:func:`api.views.job_body`, fixed at the first attempt, without the
``webhook`` field that describes the delivery itself) with::

    Content-Type: application/json
    Reelforge-Event: render.completed | render.failed | render.cancelled
    Reelforge-Delivery: <uuid, the same on every attempt of one delivery>
    Reelforge-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" under the secret>

A 2xx ends it. Anything else (another status, a redirect, which is never followed, a timeout, a refused
connection) is recorded and retried after 1, 2, 4 ... times ``webhook_retry_base_s`` (at most
``webhook_retry_max_s``, each with +-20% jitter) until ``webhook_retry_for_s`` after the job ended, when the
delivery fails. Every attempt (when, how long, the HTTP status or the error, the response's first 256 bytes)
is kept and shown in the job's status body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import random
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Final

import httpx

from api.errors import BadRequest
from api.settings import ApiSettings
from api.signing import Signer
from api.store import JobRow, Store, now_ms
from api.uploads import IPAddress, UploadRejected, checked_url
from api.views import job_body
from workers.protocol import CANCELLED

log = logging.getLogger("reelforge.webhooks")

MAX_URL_CHARS: Final = 2048
RESPONSE_KEEP: Final = 256          # bytes of a receiver's answer kept per attempt
SHOWN_ATTEMPTS: Final = 20          # the newest attempts the status body lists (attempt_count counts all)
POLL_S: Final = 0.5
SENDERS: Final = 4
QUEUE_SIZE: Final = 64
USER_AGENT: Final = "reelforge-webhooks/1"


@dataclass(frozen=True, slots=True)
class Policy:
    secret: str
    allow_private: bool = False
    timeout_s: float = 10
    retry_base_s: float = 1
    retry_max_s: float = 300
    retry_for_s: float = 3600

    @classmethod
    def of(cls, settings: ApiSettings) -> Policy:
        return cls(secret=settings.webhook_secret or "", allow_private=settings.webhook_allow_private,
                   timeout_s=settings.webhook_timeout_s, retry_base_s=settings.webhook_retry_base_s,
                   retry_max_s=settings.webhook_retry_max_s, retry_for_s=settings.webhook_retry_for_s)

    @property
    def lease_s(self) -> float:
        """Long enough for one attempt to end, whatever happens in it (DNS, a few addresses, each step)."""
        return 6 * self.timeout_s + 5

    def delay_s(self, failed: int) -> float:
        """The wait after the ``failed``-th failed attempt: doubling from the base, capped, jittered."""
        return min(self.retry_max_s, self.retry_base_s * 2 ** min(failed - 1, 40)) * random.uniform(0.8, 1.2)


# ------------------------------------------------------------------ at submission


def check_callback(raw: Any, settings: ApiSettings, field: str = "callback") -> str:
    """The callback URL to keep, or BadRequest (400) saying why not; nothing is stored either way."""
    if not isinstance(raw, str) or not raw.strip():
        raise BadRequest(f"{field} must be an http(s) URL, such as \"https://example.com/hooks/reelforge\"",
                         {"field": field})
    if len(raw) > MAX_URL_CHARS:
        raise BadRequest(f"{field} is longer than {MAX_URL_CHARS} characters", {"field": field})
    try:
        url, _ = checked_url(raw.strip(), settings.webhook_allow_private)
    except UploadRejected as exc:
        raise BadRequest(f"{field} refused: {exc}", {"field": field}) from None
    if not settings.webhook_secret:
        raise BadRequest(f"this server cannot sign callbacks: REELFORGE_WEBHOOK_SECRET is not set; export without "
                         f"{field}, or ask the server's operator", {"field": field})
    return str(url)


def new_delivery_id() -> str:
    return str(uuid.uuid4())


# ------------------------------------------------------------------ signing and reading


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The Reelforge-Signature value: ``t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>." + body)>``."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def event_of(job: JobRow) -> str:
    if job.status == "completed":
        return "render.completed"
    return "render.cancelled" if job.error == CANCELLED else "render.failed"


def delivery_view(store: Store, job: JobRow) -> dict[str, Any] | None:
    """The status body's ``webhook``: where the job's delivery stands, with its newest attempts; None without one."""
    row = store.webhook(job.id)
    if row is None:
        return None
    count, attempts = store.webhook_attempts(job.id, SHOWN_ATTEMPTS)
    state = str(row["state"])
    ended = job.status in ("completed", "failed")
    return {"url": row["url"], "delivery_id": row["delivery_id"], "state": state, "delivered": state == "delivered",
            "event": row["event"] or (event_of(job) if ended else None), "attempt_count": count,
            "attempts": [{"at": a["at_ms"], "duration_ms": a["duration_ms"], "status": a["status"],
                          "error": a["error"], "response": a["response"]} for a in attempts],
            "next_attempt_at": int(row["next_at"] * 1000) if state == "pending" and row["next_at"] else None}


# ------------------------------------------------------------------ sending


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int | None          # the HTTP status, when an answer came
    error: str | None           # why there was no 2xx answer
    response: str | None        # the answer's first RESPONSE_KEEP bytes
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def post(raw_url: str, body: bytes, headers: dict[str, str], policy: Policy,
         transport: httpx.BaseTransport | None = None) -> Outcome:
    """One attempt. The host is resolved and checked again (a name may point elsewhere since submission) and the
    connection goes to a checked address, as URL uploads do; redirects are not followed."""
    start = time.monotonic()
    status = error = text = None
    try:
        url, addresses = checked_url(raw_url, policy.allow_private)
        with httpx.Client(timeout=httpx.Timeout(policy.timeout_s), follow_redirects=False, trust_env=False,
                          transport=transport) as client:
            response = _send_pinned(client, url, addresses, body, headers)
            try:
                status, text = response.status_code, _head(response)
            finally:
                response.close()
        if not 200 <= status < 300:
            error = f"HTTP {status}" + (" (redirects are not followed)" if 300 <= status < 400 else "")
    except UploadRejected as exc:
        error = str(exc)
    except httpx.TimeoutException as exc:
        error = f"timed out ({exc.__class__.__name__}, {policy.timeout_s:g} s per step)"
    except httpx.HTTPError as exc:
        error = f"{exc.__class__.__name__}: {exc}"[:300]
    return Outcome(status, error, text, int((time.monotonic() - start) * 1000))


def _send_pinned(client: httpx.Client, url: httpx.URL, addresses: list[IPAddress], body: bytes,
                 headers: dict[str, str]) -> httpx.Response:
    host = url.raw_host.decode("ascii")
    sent = {**headers, "Host": url.netloc.decode("ascii"), "Accept-Encoding": "identity", "Connection": "close"}
    extensions = {"sni_hostname": host} if url.scheme == "https" else {}

    def request(ip: IPAddress) -> httpx.Request:
        return client.build_request("POST", url.copy_with(host=str(ip)), headers=sent, content=body,
                                    extensions=extensions)

    for ip in addresses[:-1]:
        try:
            return client.send(request(ip), stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout):
            continue
    return client.send(request(addresses[-1]), stream=True)


def _head(response: httpx.Response) -> str:
    kept = b""
    for chunk in response.iter_bytes():
        kept += chunk
        if len(kept) >= RESPONSE_KEEP:
            break
    return kept[:RESPONSE_KEEP].decode("utf-8", "replace")


class Deliveries:
    """The API process's webhook senders (see the module docstring)."""

    def __init__(self, store: Store, signer: Signer, policy: Policy, senders: int = SENDERS,
                 queue_size: int = QUEUE_SIZE, transport: httpx.BaseTransport | None = None) -> None:
        self.store, self.signer, self.policy, self.transport = store, signer, policy, transport
        self._queue: queue.Queue[str] = queue.Queue(maxsize=queue_size)
        self._queued: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._dispatch, name="reelforge-webhooks", daemon=True)]
        self._threads += [threading.Thread(target=self._send, name=f"reelforge-webhook-{i}", daemon=True)
                          for i in range(senders)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop looking; an attempt under way may finish (what is left is resumed by the next start)."""
        self._stop.set()
        deadline = time.monotonic() + self.policy.timeout_s + 2
        for thread in self._threads:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))

    def _dispatch(self) -> None:
        while not self._stop.is_set():
            try:
                room = self._queue.maxsize - self._queue.qsize()
                for job_id in self.store.due_webhooks(time.time(), room) if room > 0 else []:
                    with self._lock:
                        if job_id in self._queued:
                            continue
                        self._queued.add(job_id)
                    self._queue.put_nowait(job_id)    # never blocks: only this thread puts, at most ``room``
            except Exception:   # the store may be briefly unreachable; the loop must outlive it
                log.exception("webhooks: could not read due deliveries; trying again")
            self._stop.wait(POLL_S)

    def _send(self) -> None:
        while not self._stop.is_set():
            try:
                job_id = self._queue.get(timeout=POLL_S)
            except queue.Empty:
                continue
            try:
                self.attempt(job_id)
            except Exception:   # its lease runs out and the next look tries again
                log.exception("webhooks: job %s: the delivery attempt broke", job_id)
            finally:
                with self._lock:
                    self._queued.discard(job_id)

    def attempt(self, job_id: str) -> Outcome | None:
        """One attempt at the job's delivery, if it is due and nobody else holds it; what came of it."""
        now = time.time()
        row = self.store.claim_webhook(job_id, now, now + self.policy.lease_s)
        if row is None:
            return None
        event, body = row["event"], row["body"]
        if body is None:
            job = self.store.job(job_id)
            if job is None:
                self.store.record_webhook_attempt(job_id, now_ms(), 0, None, "the job no longer exists", None,
                                                  "failed", None)
                return None
            event = event_of(job)
            body = json.dumps(job_body(row["base"], self.signer, job), separators=(",", ":"), ensure_ascii=False)
            self.store.set_webhook_body(job_id, event, body)
        failed_before, _ = self.store.webhook_attempts(job_id, 0)
        raw = body.encode()
        started_ms = now_ms()
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, "Reelforge-Event": event,
                   "Reelforge-Delivery": row["delivery_id"],
                   "Reelforge-Signature": signature(self.policy.secret, int(time.time()), raw)}
        outcome = post(row["url"], raw, headers, self.policy, self.transport)
        state, next_at = "delivered", None
        if not outcome.delivered:
            ended_s = (row["ended_ms"] or started_ms) / 1000
            next_at = time.time() + self.policy.delay_s(failed_before + 1)
            state = "pending" if next_at <= ended_s + self.policy.retry_for_s else "failed"
            next_at = next_at if state == "pending" else None
        self.store.record_webhook_attempt(job_id, started_ms, outcome.duration_ms, outcome.status, outcome.error,
                                          outcome.response, state, next_at)
        if state == "delivered":
            log.info("job %s: %s delivered to %s (attempt %d)", job_id, event, row["url"], failed_before + 1)
        elif state == "failed":
            log.warning("job %s: %s to %s failed %d times; giving up: %s", job_id, event, row["url"],
                        failed_before + 1, outcome.error)
        else:
            log.info("job %s: %s to %s: %s; retrying in %.1f s", job_id, event, row["url"], outcome.error,
                     (next_at or 0) - time.time())
        return outcome
