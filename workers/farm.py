"""A render-farm worker: ``reelforge worker``, one Celery worker process that renders one job at a time.

At start it reads the GPUs (pynvml) and proves the codecs with trial runs, then consumes the
``gpu`` queue when it can use NVENC or CUDA decoding, else ``cpu`` (``REELFORGE_WORKER_QUEUES``
overrides). It runs Celery's solo pool, one job at a time; each render runs in a child process
(``python -m workers.job``, as on the embedded default) under the render memory cap and a time
limit scaled by the timeline's length, and dies with the worker (the kernel's parent-death signal),
FFmpeg with it. Run one per GPU, pinned with ``CUDA_VISIBLE_DEVICES`` or ``REELFORGE_GPU``.

Crash safety comes from the job board (:mod:`workers.board`), not from the broker alone: the task
is acknowledged late (a message whose worker vanished is delivered again), every run first
*claims* the job, and while it renders the worker renews a short lease. When the lease runs out
the API sends the job again, up to the attempts limit, then fails it with the reason; a render
process that died under a live worker gives its lease up for the same retry. A render that raised
fails at once (it would fail again), with a message in the API's words; the detail goes to this
worker's log. Outputs are written under a temporary name and renamed when checked, so a
half-written file is never served; the job's own scratch folder is deleted when its task ends.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import redis
from celery import Celery

from engine.config import EngineConfig
from engine.encode.encoders import Capabilities, CodecChoice, detect_capabilities
from engine.encode.ffmpeg_select import with_chosen_ffmpeg
from engine.encode.gpu import GpuDiscovery, discover_gpus
from engine.errors import EncoderUnavailable, EngineError
from engine.job import RenderJob
from engine.logs import job_context
from engine.run import limited_child
from workers.board import RUN, Board, Registry
from workers.chunked import Chunked
from workers.job import public_error
from workers.metrics import WorkerMetrics
from workers.protocol import (
    ANNOUNCE_EVERY_S,
    CANCELLED,
    CPU_QUEUE,
    GPU_QUEUE,
    RENDER_TASK,
    ChildEnd,
    ChildRender,
    JobEntry,
    capped_env,
    job_key,
    remove_scratch,
    render_memory_cap,
    render_time_limit_s,
    scratch_folder,
)
from workers.settings import WorkerSettings
from workers.storage import SharedDirectory

log = logging.getLogger("reelforge.worker")


def queues_for(choice: CodecChoice) -> list[str]:
    """The queue a worker with this codec choice serves: ``gpu`` when it uses the GPU at all."""
    return [GPU_QUEUE] if choice.encoder == "h264_nvenc" or choice.decoder == "cuda" else [CPU_QUEUE]


def encoder_for_job(choice: CodecChoice, discovery: GpuDiscovery, session_limit: int) -> CodecChoice:
    """The codec choice for the next job: libx264 instead of NVENC while the GPU runs ``session_limit``
    encode sessions already (consumer cards refuse more)."""
    if choice.encoder != "h264_nvenc" or choice.gpu_index is None:
        return choice
    gpu = next((g for g in discovery.gpus if g.cuda_index == choice.gpu_index), None)   # gpu_index is FFmpeg's
    if gpu is None or gpu.nvenc_sessions < session_limit:
        return choice
    return replace(choice, encoder="libx264", encoder_reason=(
        f"{gpu.label()} runs {gpu.nvenc_sessions} NVENC sessions (limit {session_limit})"))


def gpu_summary(discovery: GpuDiscovery) -> str:
    """The start-up line's GPUs: each one's NVML index, name, UUID, PCI bus id and CUDA index (FFmpeg's)."""
    if not discovery.gpus:
        return f"no GPU ({discovery.note})"
    return "; ".join(f"GPU {g.nvml_index} {g.name} {g.uuid} pci {g.pci_bus_id or '?'} cuda {g.cuda_index}"
                     for g in discovery.gpus)


def make_app(settings: WorkerSettings) -> Celery:
    """The workers' Celery app, with the reliability settings (the API sends to the same broker with a plain
    app of its own; the task's name and arguments are :mod:`workers.protocol`'s)."""
    app = Celery("reelforge", broker=settings.redis_url, backend=settings.redis_url)
    app.conf.update(
        task_acks_late=True,                    # a worker that dies mid-render leaves the message to redeliver
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,           # never hold a second job while rendering one
        task_default_queue=CPU_QUEUE,
        broker_transport_options={"visibility_timeout": settings.job_time_limit_s + 600},
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_ignore_result=True,                # the chord's tasks keep theirs (workers/chunked.py)
        result_expires=24 * 3600,
    )
    return app


@dataclass
class FarmWorker:
    settings: WorkerSettings
    name: str
    board: Board
    registry: Registry
    config: EngineConfig
    capabilities: Capabilities
    queues: list[str]
    chunked: Chunked | None = None
    current: str | None = None
    rendered: int = 0
    started: float = field(default_factory=time.time)
    metrics: WorkerMetrics | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def info(self) -> dict[str, Any]:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        return {"name": self.name, "host": socket.gethostname(), "pid": os.getpid(), "queues": self.queues,
                "choice": self.capabilities.choice.to_dict(), "gpus": self.capabilities.discovery.to_dict(),
                "current_job": self.current, "rendered": self.rendered, "load": load, "started": self.started}

    def announce_forever(self) -> None:
        while not self._stop.wait(ANNOUNCE_EVERY_S):
            try:
                self.registry.announce(self.name, self.info())
            except redis.RedisError as exc:
                log.warning("could not announce this worker: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        self.registry.leave(self.name)

    def render(self, job_id: str, spec: str) -> dict[str, Any]:
        """The Celery task body: claim, render with a renewed lease, report. Whatever happens, the job ends
        on the board (or gives its lease up to be sent again) and its scratch folder is gone. Every line
        logged meanwhile carries the job id, this worker's name and the attempt."""
        outcome = self.board.claim(job_id, self.name, self.settings.job_lease_s, self.settings.job_max_attempts)
        if outcome != RUN:
            with job_context(job_id=job_id, worker=self.name):
                log.info("job %s not run here: %s", job_id, outcome)
            if self.metrics is not None:
                self.metrics.rendered("skipped")
            return {"job": job_id, "skipped": outcome}
        entry = JobEntry.from_hash(self.board.redis.hgetall(job_key(job_id)))
        with job_context(job_id=job_id, worker=self.name, attempt=entry.attempts if entry else None):
            started = time.monotonic()
            log.info("job %s: render started", job_id)
            answer = self._claimed(job_id, spec)
            status = str(answer.get("status", "failed"))
            log.info("job %s: render %s in %.1f s", job_id, status, time.monotonic() - started)
            if self.metrics is not None:
                self.metrics.rendered(status, time.monotonic() - started)
            return answer

    def _claimed(self, job_id: str, spec: str) -> dict[str, Any]:
        job: RenderJob | None = None
        try:
            job = RenderJob.from_json(spec)
            return self._run(job_id, job, spec)
        except Exception as exc:            # never a traceback for the client, never a retry of what would repeat
            log.exception("job %s failed", job_id)
            _code, message = public_error(exc)
            self.board.fail(job_id, message)
            return {"job": job_id, "status": "failed", "error": message}
        finally:
            if job is not None:
                self._clean(job)

    def _run(self, job_id: str, job: RenderJob, spec: str) -> dict[str, Any]:
        if self.chunked is not None:
            try:
                parts = self.chunked.plan(job)
            except EngineError as exc:
                _code, message = public_error(exc)
                self.board.fail(job_id, message)
                return {"job": job_id, "status": "failed", "error": message}
            if len(parts) > 1:             # a chord of parts renders it, here and on other workers
                try:
                    self.chunked.start(job_id, spec, parts, self.board.queue(job_id) or self.queues[0])
                    return {"job": job_id, "status": "chunked", "parts": len(parts)}
                except Exception:          # the broker refused the chord: render it whole, here
                    log.exception("job %s: could not start its parts; rendering it whole", job_id)
                    self.board.renew(job_id, self.name, self.settings.job_lease_s)
        self.current = job_id
        self.registry.announce(self.name, self.info())
        try:
            return self._render(job_id, job)
        finally:
            self.current = None
            self.rendered += 1
            self.registry.announce(self.name, self.info())

    def child_job(self, job: RenderJob, codecs: CodecChoice) -> RenderJob:
        """The job as this worker's render process takes it: local paths, this worker's engine settings and
        codec choice, and the job's own scratch folder (as mounted here) when the API gave it one."""
        storage = SharedDirectory(job.data_root, self.settings.data_dir)
        config = self.config
        if (work_dir := self._scratch(job)) is not None:
            config = replace(config, work_dir=work_dir)
        return replace(job, sources={src: str(storage.input(path)) for src, path in job.sources.items()},
                       output=str(storage.output(job.output)), config=RenderJob.config_of(config),
                       choice=codecs.to_dict())

    def _scratch(self, job: RenderJob) -> Path | None:
        """The job's own scratch folder on this worker, or None."""
        if job.data_root is None:
            return None
        api_root = Path(job.data_root)
        own = scratch_folder(job.config.get("work_dir"), api_root / "scratch")
        if own is None:
            return None
        return (self.settings.data_dir / own.relative_to(api_root.resolve())).resolve()

    def _clean(self, job: RenderJob) -> None:
        if (work_dir := self._scratch(job)) is not None:
            remove_scratch(work_dir, self.settings.data_dir / "scratch")

    def _render(self, job_id: str, job: RenderJob) -> dict[str, Any]:
        gpus = discover_gpus(visible_devices=self.config.cuda_visible_devices)   # sessions now, numbered as at start
        codecs = encoder_for_job(self.capabilities.choice, gpus, self.settings.nvenc_session_limit)
        local = self.child_job(job, codecs)
        limit = render_time_limit_s(job.duration_s, self.settings.render_time_floor_s,
                                    self.settings.render_time_per_s, self.settings.job_time_limit_s)
        cap = render_memory_cap(self.settings.render_memory_mb, local.choice)
        child = ChildRender(local.to_json(), time_limit_s=limit, preexec=limited_child(cap), env=capped_env(cap),
                            on_progress=lambda percent: self.board.progress(job_id, percent))
        done = threading.Event()
        keeper = threading.Thread(target=self._keep_lease, args=(job_id, child, done), daemon=True)
        keeper.start()
        try:
            outcome = child.run()
        finally:
            done.set()
            keeper.join(5)
        if outcome.end == ChildEnd.DONE:
            SharedDirectory(job.data_root, self.settings.data_dir).publish(Path(local.output), job.output)
            self.board.complete(job_id, {**outcome.result, "worker": self.name})
            return {"job": job_id, "status": "completed"}
        if outcome.end == ChildEnd.CANCELLED:
            self.board.fail(job_id, CANCELLED)
            return {"job": job_id, "status": CANCELLED}
        if outcome.end in (ChildEnd.FAILED, ChildEnd.TIMED_OUT):
            log.warning("job %s failed: %s\n%s", job_id, outcome.error, outcome.stderr_tail)
            self.board.fail(job_id, outcome.error or "the render failed")
            return {"job": job_id, "status": "failed", "error": outcome.error}
        log.warning("job %s: its render process died (exit %s); giving the job up to be sent again\n%s", job_id,
                    outcome.returncode, outcome.stderr_tail)
        self.board.release(job_id, self.name)
        return {"job": job_id, "status": "died"}

    def _keep_lease(self, job_id: str, child: ChildRender, done: threading.Event) -> None:
        every = max(0.5, self.settings.job_lease_s / 4)
        while not done.wait(min(every, 0.5)):
            try:
                if self.board.cancel_requested(job_id):
                    child.cancel()
                self.board.renew(job_id, self.name, self.settings.job_lease_s)
            except redis.RedisError as exc:       # keep rendering; the lease may lapse and the job be retried
                log.warning("job %s: could not renew its lease: %s", job_id, exc)


def run_worker(settings: WorkerSettings) -> int:
    """``reelforge worker``: detect, announce, consume until stopped."""
    if not settings.redis_url:
        raise SystemExit("reelforge worker needs REELFORGE_REDIS_URL (for example redis://localhost:6379/0)")
    client = redis.Redis.from_url(settings.redis_url)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise SystemExit(f"reelforge worker: cannot reach Redis at {settings.redis_url}: {exc}") from None
    config = settings.engine_config()
    config = replace(config, timeout_s=config.timeout_s or settings.job_time_limit_s)
    try:    # the FFmpeg that can NVENC on this driver, before the trials that prove it
        config, ffmpeg = with_chosen_ffmpeg(config, settings.ffmpeg_path)
        capabilities = detect_capabilities(config)
    except EncoderUnavailable as exc:       # a forced FFmpeg, encoder or decoder, or REELFORGE_GPU, that cannot be met
        raise SystemExit(f"reelforge worker: {exc}") from None
    queues = ([q.strip() for q in settings.worker_queues.split(",") if q.strip()] if settings.worker_queues
              else queues_for(capabilities.choice))
    name = settings.worker_name or f"{socket.gethostname()}-{os.getpid()}"
    board = Board(client)
    app = make_app(settings)
    chunked = Chunked(app, settings, board, config,
                      lambda: encoder_for_job(capabilities.choice,
                                              discover_gpus(visible_devices=config.cuda_visible_devices),
                                              settings.nvenc_session_limit),
                      worker_name=name)
    metrics = WorkerMetrics(name, lambda: discover_gpus(visible_devices=config.cuda_visible_devices))
    worker = FarmWorker(settings, name, board, Registry(client), config, capabilities, queues, chunked,
                        metrics=metrics)
    try:
        port = metrics.serve(settings.worker_metrics_port)
        if port:
            log.info("metrics at http://0.0.0.0:%d/metrics", port, extra={"worker": name})
    except OSError as exc:      # rendering matters more than its metrics: say so loudly, and render
        port = None
        log.warning("no metrics: cannot listen on port %d (%s); give each worker on a host its own "
                    "REELFORGE_WORKER_METRICS_PORT, or 0 for none", settings.worker_metrics_port, exc)
    app.task(name=RENDER_TASK, acks_late=True, reject_on_worker_lost=True)(worker.render)
    chunked.register()
    worker.registry.announce(name, worker.info())
    threading.Thread(target=worker.announce_forever, name="reelforge-announce", daemon=True).start()
    print(f"reelforge worker {name}: queues {','.join(queues)}; encoder {capabilities.choice.encoder} "
          f"({capabilities.choice.encoder_reason}); decoder {capabilities.choice.decoder}; "
          f"{gpu_summary(capabilities.discovery)}; ffmpeg {ffmpeg.path} ({ffmpeg.choice.reason}); "
          f"metrics {f'on port {port}' if port else 'off'}", flush=True)
    try:
        app.Worker(queues=queues, pool="solo", concurrency=1, hostname=f"{name}@%h", loglevel="WARNING",
                   without_gossip=True, without_mingle=True).start()
    finally:
        worker.stop()
        metrics.close()
    return 0
