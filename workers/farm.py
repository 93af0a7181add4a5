"""A render-farm worker: ``reelforge worker``, one Celery worker process that renders one job at a time.

At start it reads the GPUs (pynvml) and proves the codecs with trial runs, then consumes the
``gpu`` queue when it can use NVENC or CUDA decoding, else ``cpu`` (``REELFORGE_WORKER_QUEUES``
overrides). It runs Celery's solo pool: the render happens in this process, so killing the worker
kills its render, and FFmpeg dies with it (the kernel's parent-death signal). Run one per GPU,
pinned with ``CUDA_VISIBLE_DEVICES``.

Crash safety comes from the job board (:mod:`workers.board`), not from the broker alone: the task
is acknowledged late (a message whose worker vanished is delivered again), every run first
*claims* the job, and while it renders the worker renews a short lease. When the lease runs out
the API sends the job again, up to the attempts limit, then fails it with the reason. Outputs are
written under a temporary name and renamed when checked, so a half-written file is never served.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

import redis
from celery import Celery

from engine.config import EngineConfig
from engine.encode.encoders import Capabilities, CodecChoice, detect_capabilities
from engine.encode.gpu import GpuDiscovery, discover_gpus
from engine.errors import EngineError, RenderCancelled
from engine.job import RenderJob
from engine.media.resolve import MappedResolver
from engine.pipeline.render import render
from workers.board import RUN, Board, Registry
from workers.chunked import Chunked
from workers.protocol import ANNOUNCE_EVERY_S, CANCELLED, CPU_QUEUE, GPU_QUEUE, RENDER_TASK
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
    gpu = next((g for g in discovery.gpus if g.index == choice.gpu_index), None)
    if gpu is None or gpu.nvenc_sessions < session_limit:
        return choice
    return replace(choice, encoder="libx264",
                   encoder_reason=f"GPU {gpu.index} runs {gpu.nvenc_sessions} NVENC sessions (limit {session_limit})")


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
        """The Celery task body: claim, render with a renewed lease, report."""
        outcome = self.board.claim(job_id, self.name, self.settings.job_lease_s, self.settings.job_max_attempts)
        if outcome != RUN:
            log.info("job %s not run here: %s", job_id, outcome)
            return {"job": job_id, "skipped": outcome}
        job = RenderJob.from_json(spec)
        if self.chunked is not None:
            try:
                parts = self.chunked.plan(job)
            except EngineError as exc:
                self.board.fail(job_id, str(exc))
                return {"job": job_id, "status": "failed", "error": str(exc)}
            if len(parts) > 1:             # a chord of parts renders it, here and on other workers
                try:
                    self.chunked.start(job_id, spec, parts, self.board.queue(job_id) or self.queues[0])
                    return {"job": job_id, "status": "chunked", "parts": len(parts)}
                except Exception:          # the broker refused the chord: render it whole, here
                    log.exception("job %s: could not start its parts; rendering it whole", job_id)
                    self.board.renew(job_id, self.name, self.settings.job_lease_s)
        self.current = job_id
        self.registry.announce(self.name, self.info())
        cancel, done = threading.Event(), threading.Event()
        keeper = threading.Thread(target=self._keep_lease, args=(job_id, cancel, done), daemon=True)
        keeper.start()
        try:
            return self._render(job_id, job, cancel)
        finally:
            done.set()
            keeper.join(5)
            self.current = None
            self.rendered += 1
            self.registry.announce(self.name, self.info())

    def _render(self, job_id: str, job: RenderJob, cancel: threading.Event) -> dict[str, Any]:
        last = [-1]

        def progress(fraction: float) -> None:
            percent = min(99, int(fraction * 100))
            if percent > last[0]:
                last[0] = percent
                self.board.progress(job_id, percent)

        codecs = encoder_for_job(self.capabilities.choice, discover_gpus(), self.settings.nvenc_session_limit)
        storage = SharedDirectory(job.data_root, self.settings.data_dir)
        try:
            sources = {src: str(storage.input(path)) for src, path in job.sources.items()}
            output = storage.output(job.output)
            result = render(job.draft, output, config=self.config, resolve=MappedResolver(sources),
                            codecs=codecs, on_progress=progress, cancel=cancel)
            storage.publish(output, job.output)
        except RenderCancelled:
            self.board.fail(job_id, CANCELLED)
            return {"job": job_id, "status": CANCELLED}
        except EngineError as exc:
            self.board.fail(job_id, str(exc))
            return {"job": job_id, "status": "failed", "error": str(exc)}
        self.board.complete(job_id, {**result.to_dict(), "worker": self.name})
        return {"job": job_id, "status": "completed"}

    def _keep_lease(self, job_id: str, cancel: threading.Event, done: threading.Event) -> None:
        every = max(0.5, self.settings.job_lease_s / 4)
        while not done.wait(min(every, 0.5)):
            try:
                if self.board.cancel_requested(job_id):
                    cancel.set()
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
    capabilities = detect_capabilities(config)
    queues = ([q.strip() for q in settings.worker_queues.split(",") if q.strip()] if settings.worker_queues
              else queues_for(capabilities.choice))
    name = settings.worker_name or f"{socket.gethostname()}-{os.getpid()}"
    board = Board(client)
    app = make_app(settings)
    chunked = Chunked(app, settings, board, config,
                      lambda: encoder_for_job(capabilities.choice, discover_gpus(), settings.nvenc_session_limit),
                      worker_name=name)
    worker = FarmWorker(settings, name, board, Registry(client), config, capabilities, queues, chunked)
    app.task(name=RENDER_TASK, acks_late=True, reject_on_worker_lost=True)(worker.render)
    chunked.register()
    worker.registry.announce(name, worker.info())
    threading.Thread(target=worker.announce_forever, name="reelforge-announce", daemon=True).start()
    print(f"reelforge worker {name}: queues {','.join(queues)}; encoder {capabilities.choice.encoder} "
          f"({capabilities.choice.encoder_reason}); decoder {capabilities.choice.decoder}", flush=True)
    try:
        app.Worker(queues=queues, pool="solo", concurrency=1, hostname=f"{name}@%h", loglevel="WARNING",
                   without_gossip=True, without_mingle=True).start()
    finally:
        worker.stop()
    return 0
