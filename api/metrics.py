"""The API's Prometheus metrics (``GET /metrics``) and its access log.

Each app has its own :class:`prometheus_client.CollectorRegistry` (never the global one), so tests
can run several apps in one process. Renders are counted where the runners settle them
(:mod:`api.jobs` for the embedded default, :mod:`api.farm` for the farm); queue depth and live
workers are read when Prometheus scrapes; HTTP requests, upload bytes and chat turns are counted
by :class:`ObserveRequests`, which also writes one ``reelforge.access`` line per request; refusals
by the error handlers (api/app.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workers.protocol import CANCELLED

access_log = logging.getLogger("reelforge.access")
log = logging.getLogger("reelforge.metrics")
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
DURATION_BUCKETS: Final = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 3600)
WAIT_BUCKETS: Final = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
REALTIME_BUCKETS: Final = (0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64)
UPLOAD_ROUTE_PREFIX: Final = "/api/upload-video/"
CHAT_ROUTES: Final = frozenset({"/run_sse", "/run"})     # a chat message, streamed or answered whole


def failure_reason(error: str | None) -> str:
    """A failed job's reason as a label with few values: cancelled, timeout, worker_died, render_error."""
    text = (error or "").lower()
    if error == CANCELLED or "cancel" in text:
        return "cancelled"
    if "time limit" in text or "timed out" in text or "took longer" in text:
        return "timeout"
    if "died" in text or "stopped answering" in text or "interrupted" in text or "gave up" in text:
        return "worker_died"
    return "render_error"


class _Live(Collector):
    """Gauges read at scrape time: queue depth per queue and live workers."""

    def __init__(self, read: Callable[[], tuple[Mapping[str, int], int]]) -> None:
        self.read = read

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("reelforge_queue_depth", "render jobs waiting, per queue", labels=["queue"])
        workers = GaugeMetricFamily("reelforge_live_workers", "render workers alive (the embedded default: 1)")
        try:
            queues, live = self.read()
        except Exception as exc:     # a scrape must answer even while Redis or the store is away
            log.warning("metrics: could not read queue depth and workers: %s", exc)
            return
        for queue, n in sorted(queues.items()):
            depth.add_metric([queue], n)
        workers.add_metric([], live)
        yield depth
        yield workers


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.started = Counter("reelforge_renders_started", "renders started (each attempt)",
                               ["format", "encoder"], registry=r)
        self.completed = Counter("reelforge_renders_completed", "renders completed",
                                 ["format", "encoder"], registry=r)
        self.failed = Counter("reelforge_renders_failed", "renders failed or cancelled, by reason "
                              "(cancelled, timeout, worker_died, render_error)", ["format", "encoder", "reason"],
                              registry=r)
        self.duration = Histogram("reelforge_render_duration_seconds", "from a render's start to its end",
                                  ["format"], buckets=DURATION_BUCKETS, registry=r)
        self.queue_wait = Histogram("reelforge_queue_wait_seconds", "from an export's request to its render's start",
                                    ["format"], buckets=WAIT_BUCKETS, registry=r)
        self.realtime = Histogram("reelforge_render_realtime_factor", "seconds of video made per second of "
                                  "rendering (completed renders)", ["format"], buckets=REALTIME_BUCKETS, registry=r)
        self.requests = Counter("reelforge_http_requests", "HTTP requests by route template, method and status",
                                ["route", "method", "status"], registry=r)
        self.upload_bytes = Counter("reelforge_upload_bytes", "bytes received by the upload endpoint", registry=r)
        self.chat_turns = Counter("reelforge_chat_turns", "chat messages answered (POST /run_sse or /run)", registry=r)
        self.refusals = Counter("reelforge_refusals", "requests refused by a limit (rate limits, queue, quota, "
                                "size caps, disk)", ["limit"], registry=r)

    def watch(self, read: Callable[[], tuple[Mapping[str, int], int]]) -> None:
        """Queue depth per queue and live workers come from ``read`` at each scrape."""
        self.registry.register(_Live(read))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    # ------------------------------------------------------------ renders

    def render_started(self, fmt: str, encoder: str, waited_s: float | None) -> None:
        self.started.labels(fmt, encoder or "unknown").inc()
        if waited_s is not None and waited_s >= 0:
            self.queue_wait.labels(fmt).observe(waited_s)

    def render_settled(self, job: Any) -> None:
        """``job``: the store's row after it settled (api.store.JobRow), completed or failed."""
        result: Mapping[str, Any] = job.result or {}
        encoder = str(result.get("encoder") or "unknown")
        rendered_s = ((job.completed_ms - job.started_ms) / 1000 if job.started_ms and job.completed_ms else None)
        if job.status == "completed":
            self.completed.labels(job.format, encoder).inc()
            elapsed = result.get("elapsed_s") or rendered_s
            if elapsed and result.get("duration_s"):
                self.realtime.labels(job.format).observe(float(result["duration_s"]) / float(elapsed))
        elif job.status == "failed":
            self.failed.labels(job.format, encoder, failure_reason(job.error)).inc()
        else:
            return
        if rendered_s is not None:
            self.duration.labels(job.format).observe(max(0.0, rendered_s))

    def refused(self, limit: str) -> None:
        self.refusals.labels(limit).inc()


class ObserveRequests:
    """ASGI middleware: one access-log line and one request count per HTTP request; upload bytes and chat turns.

    The line has the method, the path without its query string (signed URLs carry secrets there), the
    status, the duration in ms and the client's address; the count is by route template, so ids in paths
    do not make new series.
    """

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        path: str = scope.get("path", "")
        upload = scope["method"] == "POST" and path.startswith(UPLOAD_ROUTE_PREFIX)

        async def counting_receive() -> Message:
            message = await receive()
            if upload and message["type"] == "http.request":
                self.metrics.upload_bytes.inc(len(message.get("body", b"")))
            return message

        async def status_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, counting_receive, status_send)
        finally:
            ms = (time.perf_counter() - started) * 1000
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.requests.labels(route, scope["method"], str(status)).inc()
            if route in CHAT_ROUTES and scope["method"] == "POST" and status < 400:
                self.metrics.chat_turns.inc()
            client = scope.get("client")
            access_log.info("%s %s %d %.1f ms %s", scope["method"], path, status, ms, client[0] if client else "-",
                            extra={"method": scope["method"], "path": path, "status": status,
                                   "duration_ms": round(ms, 1), "client": client[0] if client else None})
