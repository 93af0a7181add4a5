"""The FastAPI app: the hosted API's endpoints over the engine, on the embedded default.

``create_app(settings)`` is a factory (nothing is built at import time): tests make apps with
their own settings, and ``reelforge serve`` makes one for uvicorn.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import schemas
from api.bodies import BodyLimit, JsonLimits
from api.errors import (
    ApiError,
    InsufficientStorage,
    MediaTooLarge,
    OverLimit,
    PayloadTooLarge,
    QuotaExceeded,
    RateLimited,
)
from api.farm import FarmRunner
from api.metrics import CONTENT_TYPE, ApiMetrics, ObserveRequests
from api.routes import account, adk, chat, docs, media, render, sessions
from api.services import Services
from api.settings import ApiSettings
from api.studio import routes as studio
from engine.encode.encoders import CodecChoice, detect_capabilities
from engine.encode.ffmpeg_select import select_ffmpeg
from workers.protocol import CPU_QUEUE, GPU_QUEUE

DESCRIPTION = f"""Self-hosted render engine and API, drop-in for the hosted nemo_agent API
(NemoVideo's "mega-skill" API).

* **Envelope**: every answer is `{{"code": 0, "message": "...", "data": {{...}}}}`; an error carries its code in
  `code` too (the `ErrorBody` schema). HTTP statuses follow docs/api.md; with `REELFORGE_LEGACY_HTTP_200=true`
  the body-level codes 1001, 1002, 2001, 4001, 4002 come with HTTP 200.
* **Auth**: `Authorization: Bearer <token>` (from `POST /api/auth/anonymous-token`) on everything else.
  Attribution headers `X-Skill-Source`, `X-Skill-Version`, `X-Skill-Platform`; an anonymous token must send
  `X-Skill-Source` to export (402 otherwise).
* **Drafts**: the timeline a client reads from the state (E6) and sends to export (E7) has its own JSON Schema:
  the `Draft` component here, served whole at [{schemas.DRAFT_SCHEMA_PATH}]({schemas.DRAFT_SCHEMA_PATH})
  (`reelforge schema` prints it; docs/draft-format.md explains it).
* The schemas describe the answers; every answer may carry more keys than they list (clients read the superset).
  The first skill version's aliases `POST /api/render/proxy/draft` and `GET /api/render/proxy/{{id}}` work as
  E7 and E8 and are not listed.
"""
TAGS = [
    {"name": "account", "description": "Tokens, credits and claim links (E1, E5, E11)."},
    {"name": "sessions", "description": "Sessions and their state (E2, E6)."},
    {"name": "media", "description": "Uploads (E4) and the uploaded files."},
    {"name": "render", "description": "Exports: start, poll, download, cancel (E7-E10)."},
    {"name": "chat", "description": "The editing agent over SSE (E3)."},
    {"name": "adk", "description": "ADK's own API server endpoints (E13)."},
    {"name": "farm", "description": "The render workers."},
    {"name": "docs", "description": "Schemas for client authors."},
    {"name": "health", "description": "Liveness."},
]


def create_app(settings: ApiSettings, codecs: CodecChoice | None = None) -> FastAPI:
    """The app; ``codecs`` skips detecting the encoder (tests), else it is detected once at start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        run_settings = settings
        if codecs is None:    # the FFmpeg that can NVENC on this driver runs the trials and every render
            run_settings = settings.model_copy(update={"ffmpeg_path": select_ffmpeg(settings.ffmpeg_path).path})
        gpu_names: dict[int, str] = {}
        if codecs is None:
            found = detect_capabilities(run_settings.engine_config())
            chosen = found.choice
            gpu_names = {g.cuda_index: g.name for g in found.discovery.gpus if g.cuda_index is not None}
        else:
            chosen = codecs
        services = Services.build(run_settings, chosen, gpu_names)
        app.state.services = services
        services.runner.metrics = metrics       # renders are counted where the runner settles them
        metrics.watch(lambda: queues_and_workers(services))
        services.runner.start()
        services.cleaner.start()
        services.webhooks.start()
        services.chat.recover()
        try:
            yield
        finally:
            await services.chat.close()
            services.runner.stop()
            services.cleaner.stop()
            services.webhooks.stop()

    app = FastAPI(title="reelforge", version="0.1.0", lifespan=lifespan, description=DESCRIPTION,
                  openapi_tags=TAGS)
    for module in (account, sessions, media, render, chat, adk, docs):
        app.include_router(module.router)
    app.include_router(studio.router)       # the web pages: /, /farm, /workspace/claim, /studio/static/*
    schemas.install(app)
    limits = JsonLimits(settings.max_json_body_bytes, settings.max_json_depth, settings.max_json_values)
    app.state.json_limits = limits
    app.add_middleware(BodyLimit, limits=limits)
    metrics = ApiMetrics()
    app.state.metrics = metrics
    app.add_middleware(ObserveRequests, metrics=metrics)      # outermost: sees every request and its status
    install_error_handlers(app, settings.legacy_http_200)

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    async def prometheus_metrics(request: Request) -> Response:
        return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE)

    @app.get("/ready", tags=["health"], responses={503: {"description": "a check failed; data.failed names it"}})
    def ready(request: Request) -> JSONResponse:
        svc: Services = request.app.state.services
        checks = readiness(svc)
        failed = [name for name, check in checks.items() if not check["ok"]]
        body = {"code": 503 if failed else 0, "message": f"not ready: {', '.join(failed)}" if failed else "ready",
                "data": {"ready": not failed, "failed": failed, "checks": checks}}
        return JSONResponse(body, status_code=503 if failed else 200)

    @app.get("/health", tags=["health"])
    async def health(request: Request) -> dict[str, Any]:
        svc: Services = request.app.state.services
        return {"code": 0, "message": "ok", "data": {"status": "ok", "rendering": svc.runner.busy(),
                                                     "encoder": svc.codecs.encoder, "decoder": svc.codecs.decoder}}

    return app


def queues_and_workers(svc: Services) -> tuple[dict[str, int], int]:
    """Jobs waiting per queue, and live workers: for Prometheus, read at each scrape."""
    pending = svc.store.job_counts()["pending"]
    if isinstance(svc.runner, FarmRunner):
        depth = {"pending": pending}    # waiting in the API's turns, not yet sent
        for queue in (CPU_QUEUE, GPU_QUEUE):   # sent, in the broker (Celery's Redis list is named as the queue)
            depth[queue] = int(svc.runner.redis.llen(queue))
        return depth, len(svc.runner.workers())
    return {"local": pending}, 1


def readiness(svc: Services) -> dict[str, dict[str, Any]]:
    """/ready's checks: SQLite takes a write transaction, the data disk is above its floor, and on a farm
    Redis answers and a worker is alive. Each: {"ok": bool, "detail": str}."""
    checks: dict[str, dict[str, Any]] = {}
    try:
        db = sqlite3.connect(svc.store.path, timeout=1, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")      # the write lock: fails when the file, its folder or its lock is not ours
            db.execute("ROLLBACK")
        finally:
            db.close()
        checks["sqlite"] = {"ok": True, "detail": "writable"}
    except sqlite3.Error as exc:
        checks["sqlite"] = {"ok": False, "detail": f"cannot write {svc.store.path.name}: {exc}"}
    floor_mb = svc.settings.ready_min_free_mb
    try:
        free_mb = shutil.disk_usage(svc.settings.data_dir.resolve()).free / 1e6
        checks["disk"] = {"ok": free_mb >= floor_mb, "free_mb": round(free_mb, 1), "floor_mb": floor_mb,
                          "detail": f"{free_mb:,.0f} MB free (floor {floor_mb:,.0f} MB, REELFORGE_READY_MIN_FREE_MB)"}
    except OSError as exc:
        checks["disk"] = {"ok": False, "detail": f"cannot read the data directory's disk: {exc}"}
    if isinstance(svc.runner, FarmRunner):
        try:
            svc.runner.redis.ping()
            checks["redis"] = {"ok": True, "detail": "answers"}
            live = len(svc.runner.workers())
            checks["workers"] = {"ok": live > 0, "live": live,
                                 "detail": f"{live} live worker(s)" if live else "no live render worker"}
        except Exception as exc:
            checks["redis"] = {"ok": False, "detail": f"cannot reach Redis: {exc}"}
    return checks


def refusal_limit(exc: ApiError) -> str | None:
    """Which limit refused a request, for reelforge_refusals_total; None when it was no limit."""
    if isinstance(exc, (RateLimited, OverLimit)):     # the rate limits' and caps' data name the setting
        limit = exc.data.get("limit") if isinstance(exc.data, dict) else None
        return str(limit or ("max_queued_renders" if isinstance(exc, RateLimited) else "over_limit"))
    if isinstance(exc, QuotaExceeded):
        return "storage_quota"
    if isinstance(exc, MediaTooLarge):
        return "upload_size"
    if isinstance(exc, PayloadTooLarge):
        return "body_size"
    if isinstance(exc, InsufficientStorage):
        return "disk"
    return None


def install_error_handlers(app: FastAPI, legacy_http_200: bool) -> None:
    """Every error leaves as the envelope; this is the only place errors become HTTP."""

    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, exc: ApiError) -> JSONResponse:
        metrics: ApiMetrics | None = getattr(request.app.state, "metrics", None)
        if metrics is not None and (limit := refusal_limit(exc)) is not None:
            metrics.refused(limit)
        return JSONResponse(exc.body(), status_code=exc.http_status(legacy_http_200), headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def on_invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"where": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")}
                    for e in exc.errors()]
        message = "; ".join(f"{p['where']}: {p['message']}" for p in problems) or "invalid request"
        return JSONResponse({"code": 400, "message": message, "data": {"problems": problems}}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "error"
        return JSONResponse({"code": exc.status_code, "message": message, "data": None},
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))
