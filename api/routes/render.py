"""Exports: start (E7), poll (E8), download (E9, and the signed output URL), cancel (E10), and the
first skill version's aliases (E12).

Render ids belong to their owner: two users may both export ``render_1``, each sees only their own,
and the same id again from the same owner is the same job. The store keys each job by a key of its
own (unguessable, unique across users); the signed output URL and the farm use that key.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from api.bodies import JsonBody, check_draft_size
from api.deps import Svc, Token, base_url, owned_session
from api.errors import BadRequest, NotFound, OutOfCredits, PaymentRequired, from_engine
from api.exports import build_job, callback_of, checked, with_output
from api.preview import PREVIEW_X264_PRESET, placement_of, requested_window, window
from api.ratelimit import TooManyRequests
from api.retention import gone_if_expired_job
from api.schemas import (
    ExportRequest,
    FarmResponse,
    PreviewRequest,
    RenderJob,
    SessionRendersResponse,
    file_response,
    ok_response,
    request_body,
)
from api.services import Services
from api.store import PREVIEW_PREFIX, JobRow, NotEnoughCredits, QueueFull, TokenRow, new_job_key, now_ms
from api.views import CONTENT_TYPES, EXTENSIONS, job_body, ok
from api.webhooks import delivery_view, new_delivery_id
from engine.errors import EngineError
from engine.job import RenderJob as EngineRenderJob
from engine.model.mediainfo import MediaInfo

router = APIRouter(tags=["render"])
RENDER_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
CANCEL_WAIT_S = 10.0
FARM_LISTED = 20          # renders the farm listing shows waiting, and ended last


def _attributed(token: TokenRow, skill_source: str | None) -> None:
    """Anonymous tokens must say which skill they come from to export (the hosted API's 402 rule)."""
    if token.anonymous and not (skill_source or "").strip():
        raise PaymentRequired()


def _own_job(svc: Services, token: TokenRow, render_id: str) -> JobRow:
    job = svc.store.own_job(token.user_id, render_id)
    if job is None:
        raise NotFound(f"no render {render_id!r}")
    gone_if_expired_job(svc.store, job)
    return job


def _body(request: Request, svc: Services, job: JobRow) -> dict[str, Any]:
    """The status body, with the webhook delivery's attempts when the export carried a callback."""
    return job_body(base_url(svc, request), svc.signer, job, delivery_view(svc.store, job))


def _queue_full(svc: Services, pending: int) -> TooManyRequests:
    cap = svc.settings.max_queued_renders
    return TooManyRequests(svc.settings.queue_retry_after_s, "max_queued_renders", cap,
                           f"you have {pending} exports waiting to start, the most this server queues for one user "
                           f"(max_queued_renders = {cap}); wait for one to start, then export again", value=pending)


def _start(request: Request, svc: Services, token: TokenRow, body: Any, skill_source: str | None) -> dict[str, Any]:
    _attributed(token, skill_source)
    body = body or {}
    if not isinstance(body, dict):
        raise BadRequest('the body must be a JSON object: {"id": ..., "sessionId": ..., "draft": {...}}')
    render_id = body.get("id")
    if not isinstance(render_id, str) or not RENDER_ID.match(render_id):
        raise BadRequest('id is required: a render id you make, such as "render_1773423613616"')
    svc.limits.check("exports_per_minute", token.user_id, "export requests")
    session_id = str(body.get("sessionId") or body.get("session_id") or "")
    existing = svc.store.own_job(token.user_id, render_id)
    if existing is not None:            # a repeated export with the same id: the same job
        return _body(request, svc, existing)
    if (pending := svc.store.pending_count(token.user_id)) >= svc.settings.max_queued_renders:
        raise _queue_full(svc, pending)
    session = owned_session(svc, token, "me", session_id)
    if "draft" not in body:
        raise BadRequest("draft is required: send data.state.draft from the state call")
    callback = callback_of(body, svc.settings)
    skill = (skill_source or "").strip() or None
    draft = with_output(body["draft"], body.get("output"), skill, svc.settings.skill_resolutions)
    key = new_job_key()
    try:
        draft_text = check_draft_size(body["draft"], svc.settings.max_draft_bytes)
        job, fmt = build_job(svc, key, draft, token.user_id, session.id)
    except EngineError as exc:
        raise from_engine(exc) from None
    row = _pending(key, token, session.id, job, fmt, svc.settings.export_credits, render_id)
    try:
        row, created = svc.store.create_job(row, svc.settings.max_queued_renders)
    except QueueFull as exc:
        raise _queue_full(svc, exc.pending) from None
    except NotEnoughCredits as exc:
        raise OutOfCredits(f"this export costs {exc.needed} credits and {exc.available} are available",
                           {"bind_id": token.user_id, "available": exc.available, "needed": exc.needed}) from None
    if created:             # the session keeps the timeline it last exported
        svc.store.save_draft(session.id, body["draft"], note=f"exported as {render_id}", text=draft_text)
        if callback is not None:
            svc.store.add_webhook(row.id, callback, base_url(svc, request), new_delivery_id())
    svc.runner.submitted()
    return _body(request, svc, row)


def _pending(key: str, token: TokenRow, session_id: str, job: EngineRenderJob, fmt: str, credits: int,
             render_id: str) -> JobRow:
    """A new job's row, waiting to start."""
    return JobRow(key, token.user_id, token.token, session_id, "pending", 0, fmt, job.to_json(), job.output,
                  None, None, 0, False, credits, now_ms(), None, None, render_id)


@router.post("/api/render/proxy/lambda", responses=ok_response(RenderJob), openapi_extra=request_body(ExportRequest))
@router.post("/api/render/proxy/draft", include_in_schema=False)
def start_render(request: Request, svc: Svc, token: Token, body: JsonBody,
                 x_skill_source: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    """Start an export of a draft (free); poll it with GET /api/render/proxy/lambda/{id}."""
    return _start(request, svc, token, body, x_skill_source)


@router.post("/api/render/preview", responses=ok_response(RenderJob), openapi_extra=request_body(PreviewRequest))
def start_preview(request: Request, svc: Svc, token: Token, body: JsonBody) -> dict[str, Any]:
    """Start a quick preview of a draft (the session's current one by default): H.264 MP4, 360p, 15 fps, at most
    20 s (around ``start_ms``-``end_ms`` when given). Free, needs no X-Skill-Source, replaces the session's
    unfinished preview, and is not listed with the session's renders; poll it like an export."""
    body = body or {}
    if not isinstance(body, dict):
        raise BadRequest('the body must be a JSON object: {"sessionId": ..., "start_ms"?: ..., "end_ms"?: ...}')
    svc.limits.check("exports_per_minute", token.user_id, "export and preview requests")
    requested_window(body, 1 << 62)           # the range's own shape, before anything is read
    session = owned_session(svc, token, "me", str(body.get("sessionId") or body.get("session_id") or ""))
    draft_json = body["draft"] if "draft" in body else svc.store.draft(session.id)
    if not isinstance(draft_json, dict):
        raise BadRequest("draft must be a JSON object (the data.state.draft you read from state)")
    if not draft_json.get("t"):
        raise BadRequest("the draft is empty: upload a clip or a picture first", {"field": "draft"})
    key = new_job_key()
    try:
        check_draft_size(draft_json, svc.settings.max_draft_bytes)
        draft, media, _timeline = checked(svc, draft_json, token.user_id, session.id)
        infos = {src: MediaInfo.from_dict(row.info) for src, row in media.items()}
        placement = placement_of(draft, infos)
        stills = frozenset(src for src, info in infos.items() if info.kind == "image")
        part = window(draft_json, draft, placement, requested_window(body, placement.length_ms), stills)
        job, fmt = build_job(svc, key, part, token.user_id, session.id, x264_preset=PREVIEW_X264_PRESET)
    except EngineError as exc:
        raise from_engine(exc) from None
    row = _pending(key, token, session.id, job, fmt, 0, f"{PREVIEW_PREFIX}{secrets.token_hex(8)}")
    try:
        row, _created = svc.store.create_job(row, svc.settings.max_queued_renders)
    except QueueFull as exc:
        raise _queue_full(svc, exc.pending) from None
    for earlier in svc.store.session_jobs(token.user_id, session.id, previews=True):    # this one replaces them
        if earlier.id != row.id and earlier.status in ("pending", "processing"):
            svc.runner.cancel(earlier.id)
    for path in svc.store.expire_previews(token.user_id, session.id, keep=row.id):    # no pile of old previews
        Path(path).unlink(missing_ok=True)
    svc.runner.submitted()
    return _body(request, svc, row)


@router.get("/api/render/proxy/lambda/{render_id}", responses=ok_response(RenderJob))
@router.get("/api/render/proxy/{render_id}", include_in_schema=False)
async def render_status(render_id: str, request: Request, svc: Svc, token: Token,
                        x_skill_source: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    """Where an export (or a preview) is: pending, processing (with progress 0-100), completed (with output.url)
    or failed."""
    if not render_id.startswith(PREVIEW_PREFIX):     # a preview needs no attribution, to start or to poll
        _attributed(token, x_skill_source)
    return _body(request, svc, _own_job(svc, token, render_id))


@router.post("/api/render/proxy/lambda/{render_id}/cancel", responses=ok_response(RenderJob))
async def cancel_render(render_id: str, request: Request, svc: Svc, token: Token) -> dict[str, Any]:
    """Cancel a pending or running export; it ends as failed with the error "cancelled"."""
    job = await run_in_threadpool(_own_job, svc, token, render_id)
    if job.status in ("pending", "processing"):
        await run_in_threadpool(svc.runner.cancel, job.id)
        deadline = time.monotonic() + CANCEL_WAIT_S
        while time.monotonic() < deadline:
            job = await run_in_threadpool(_own_job, svc, token, render_id)
            if job.status not in ("pending", "processing"):
                break
            await asyncio.sleep(0.1)
    return _body(request, svc, job)


@router.get("/api/sessions/{session_id}/renders", tags=["sessions"], responses=ok_response(SessionRendersResponse))
def session_renders(session_id: str, request: Request, svc: Svc, token: Token) -> dict[str, Any]:
    """The session's exports, newest first (previews are not listed), each as E8's ``data``, with E8's whole
    ``output`` (url, format, width, height, duration, size)."""
    session = owned_session(svc, token, "me", session_id)
    return ok({"renders": [listed_render(_body(request, svc, job)) for job in svc.store.session_jobs(
        token.user_id, session.id)]})


def listed_render(body: dict[str, Any]) -> dict[str, Any]:
    """A status body as one item of a list: its ``data``, whose ``output`` is the body's whole one."""
    return {**body["data"], "output": body["output"]}


@router.get("/api/farm/workers", tags=["farm"], responses=ok_response(FarmResponse))
async def farm_workers(svc: Svc, token: Token) -> dict[str, Any]:
    """The live render workers (the farm's, or this server's own): capabilities, encoder, GPU, load, and what each
    renders with its progress; the queue, and the renders that ended last. Your own render ids by name, everyone
    else's renders as rows with no id."""
    return ok(await run_in_threadpool(_farm_listing, svc, token))


def _farm_listing(svc: Services, token: TokenRow) -> dict[str, Any]:
    farm = svc.settings.redis_url is not None
    workers = [dict(w) for w in svc.runner.workers()]
    running_of = [[str(k) for k in [w.get("current_job"), *(w.get("current_jobs") or [])] if k] for w in workers]
    jobs = svc.store.jobs_of([key for keys in running_of for key in keys])
    own = {key: job.render_id for key, job in jobs.items() if job.user_id == token.user_id}
    for worker, running in zip(workers, running_of, strict=True):
        if "current_job" in worker:
            current = worker["current_job"]
            worker["busy"] = 1 if current else 0
            worker["current_job"] = own.get(str(current)) if current else None
        if "current_jobs" in worker:
            current_jobs = [str(k) for k in worker["current_jobs"] or []]
            worker["busy"] = len(current_jobs)
            worker["current_jobs"] = [own[k] for k in current_jobs if k in own]
        worker["encoder"], worker["gpu"] = _codecs(worker) if farm else _local_codecs(svc)
        worker["running"] = [{**_job_row(jobs[k], token, farm), "worker": worker.get("name")} for k in running
                             if k in jobs]
    counts = svc.store.job_counts()
    return {"mode": "farm" if farm else "embedded", "workers": workers,
            "jobs": {"rendering": counts["processing"], "waiting": counts["pending"]},
            "queue": [_job_row(job, token, farm) for job in svc.store.waiting_jobs(FARM_LISTED)],
            "recent": [_job_row(job, token, farm) for job in svc.store.recent_jobs(FARM_LISTED)]}


def _codecs(worker: dict[str, Any]) -> tuple[str | None, str | None]:
    """A farm worker's (encoder, name of the GPU its codecs use or None), from what it announces."""
    choice = worker.get("choice") or {}
    gpus = (worker.get("gpus") or {}).get("gpus") or []
    names = {g["cuda_index"]: str(g.get("name")) for g in gpus if isinstance(g.get("cuda_index"), int)}
    return choice.get("encoder"), gpu_label(choice.get("gpu_index"), names)


def _local_codecs(svc: Services) -> tuple[str | None, str | None]:
    """This server's own (encoder, GPU name or None), from what it found at start-up."""
    return svc.codecs.encoder, gpu_label(svc.codecs.gpu_index, svc.gpu_names)


def gpu_label(index: int | None, names: Mapping[int, str]) -> str | None:
    """The GPU at CUDA ``index`` as the farm page shows it: its name, "GPU <index>" when it is not known, None
    when no GPU is used."""
    if index is None:
        return None
    return names.get(index) or f"GPU {index}"


def _job_row(job: JobRow, token: TokenRow, farm: bool) -> dict[str, Any]:
    """One render as the farm page lists it: the viewer's own by render id, anyone else's with no id or name."""
    result = job.result or {}
    duration = result.get("duration_s")
    mine = job.user_id == token.user_id
    ended = job.status in ("completed", "failed")
    return {"render_id": job.render_id if mine else None, "mine": mine, "preview": job.render_id.startswith(
                PREVIEW_PREFIX), "status": job.status, "progress": job.progress, "format": job.format,
            "duration_ms": round(duration * 1000) if isinstance(duration, int | float) else None,
            "wait_ms": job.started_ms - job.created_ms if job.started_ms else None,
            "render_ms": job.completed_ms - job.started_ms if ended and job.started_ms and job.completed_ms else None,
            "worker": result.get("worker") or (None if farm or not job.started_ms else "local"),
            "createdAt": job.created_ms, "completedAt": job.completed_ms}


def _file(job: JobRow) -> FileResponse:
    if job.status != "completed" or not Path(job.output_path).is_file():
        raise NotFound(f"render {job.render_id!r} has no file yet (status {job.status})")
    return FileResponse(job.output_path, media_type=CONTENT_TYPES[job.format],
                        filename=f"{job.render_id}.{EXTENSIONS[job.format]}")


@router.get("/api/render/proxy/{render_id}/download", response_class=FileResponse,
            responses=file_response("the finished file, as an attachment (Range requests: 206)"))
def download(render_id: str, svc: Svc, token: Token) -> FileResponse:
    """The finished file, for the token that made it (Range requests work, so players can seek)."""
    return _file(_own_job(svc, token, render_id))


@router.get("/render-result/{name}", response_class=FileResponse,
            responses=file_response("the finished file (output.url; no token needed)"))
def signed_result(name: str, svc: Svc, e: int = 0, s: str = "") -> FileResponse:
    """The finished file at an unguessable URL that expires (output.url): no token needed."""
    key = name.rsplit(".", 1)[0]
    if not svc.signer.valid(key, e, s):
        raise NotFound("this link is not valid or has expired; ask the render status for a fresh one")
    job = svc.store.job(key)
    if job is None:
        raise NotFound("no such render")
    gone_if_expired_job(svc.store, job)
    return _file(job)
