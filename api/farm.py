"""Farm mode: the API queues render jobs to Celery workers on Redis instead of running them itself.

Same interface as :class:`api.jobs.Runner` (start, stop, submitted, cancel, busy), so the routes
do not know which one runs. The API keeps its SQLite job rows as the record clients read; one
thread keeps them in step with the farm's job board (the Redis hashes workers write: status,
progress, result), spoken through :mod:`workers.protocol`, the one module of workers/ the API
imports. The same thread:

- sends pending jobs to the ``gpu`` queue when any live worker serves it, else ``cpu``, only while
  that queue's live workers have room (one job each), in the same turns as the embedded default
  (:meth:`api.store.Store.claim_job`: users take turns, one user's running jobs are capped), so a
  user's thousand exports never stand in the broker in front of another user's one. A job sent
  is ``processing`` in the store from then on;
- retries a job whose worker stopped renewing its lease (killed, lost), up to the attempts
  limit, then fails it with the reason: nothing stays ``processing`` with nobody on it;
- after an API restart simply carries on: jobs, board and queue all outlive the API process.

A cancel of a job still in the broker revokes its message by its real task id
(:func:`workers.protocol.task_id`), and the board's claim refuses it should a worker get it anyway.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Final

import redis
from celery import Celery

from api.jobs import RenderRules
from api.store import JobRow, Store
from workers.protocol import (
    CANCELLED,
    CPU_QUEUE,
    GPU_QUEUE,
    RENDER_TASK,
    JobEntry,
    JobStatus,
    cancel_request_write,
    failed_write,
    gave_up_error,
    job_key,
    live_workers,
    queued_write,
    task_id,
)

if TYPE_CHECKING:
    from api.metrics import ApiMetrics

log = logging.getLogger("reelforge.farm")
SYNC_S: Final = 0.25


class FarmRunner:
    def __init__(self, store: Store, redis_url: str, max_attempts: int, lease_s: float,
                 rules: RenderRules | None = None) -> None:
        self.store, self.max_attempts, self.lease_s = store, max_attempts, lease_s
        self.rules = rules or RenderRules()
        self.redis = redis.Redis.from_url(redis_url, decode_responses=True)
        self.celery = Celery("reelforge", broker=redis_url)
        self.celery.conf.update(broker_connection_retry_on_startup=True, task_ignore_result=True)
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._loop, name="reelforge-farm", daemon=True)
        self.metrics: ApiMetrics | None = None      # set by the app: renders counted as they are sent and settle

    # ------------------------------------------------------------ the Runner interface

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop watching; the farm keeps rendering, and the next start picks up where this one left."""
        self._stop.set()
        self._wake.set()
        self._thread.join(5)

    def submitted(self) -> None:
        self._wake.set()

    def cancel(self, job_id: str) -> None:
        self.store.request_cancel(job_id)
        job = self.store.job(job_id)
        if job is not None and job.status == "pending":           # never sent: nothing on the farm to stop
            self.store.fail_job(job_id, CANCELLED)
            return
        entry = JobEntry.from_hash(self.redis.hgetall(job_key(job_id)))
        cancel_request_write(job_id).apply(self.redis)
        if entry is None or entry.status == JobStatus.QUEUED:
            failed_write(job_id, CANCELLED).apply(self.redis)
            if entry is not None:
                self.celery.control.revoke(task_id(job_id, entry.attempts))
        self._wake.set()

    def busy(self) -> int:
        return len(self.store.jobs_in("processing"))

    def workers(self) -> list[dict[str, Any]]:
        return live_workers(self.redis)

    # ------------------------------------------------------------ the loop

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._sync()
            except (redis.RedisError, OSError) as exc:   # Redis restarting: wait, then carry on
                log.warning("farm: cannot reach Redis (%s); retrying", exc)
                time.sleep(2)
            self._wake.wait(SYNC_S)
            self._wake.clear()

    def _sync(self) -> None:
        for job in self.store.jobs_in("processing"):
            entry = JobEntry.from_hash(self.redis.hgetall(job_key(job.id)))
            if entry is None:              # claimed here, and the API stopped before sending it
                self._send(job)
            else:
                self._follow(job, entry)
        self._dispatch()

    def _dispatch(self) -> None:
        """Send pending jobs, in turn, while the queue's live workers have room for them."""
        workers = self.workers()
        queue = self._queue(workers)
        room = sum(1 for w in workers if queue in w.get("queues", [])) - self.store.job_counts()["processing"]
        while room > 0 and not self._stop.is_set():
            job = self.store.claim_job(self.rules.max_running)
            if job is None:
                return
            entry = JobEntry.from_hash(self.redis.hgetall(job_key(job.id)))
            if entry is not None:         # sent by an older API, which queued everything at once: follow it
                self._follow(job, entry)
            else:
                self._send(job, queue=queue)
            room -= 1

    def _queue(self, workers: list[dict[str, Any]] | None = None) -> str:
        workers = self.workers() if workers is None else workers
        return GPU_QUEUE if any(GPU_QUEUE in w.get("queues", []) for w in workers) else CPU_QUEUE

    def _send(self, job: JobRow, attempts: int = 0, queue: str | None = None) -> None:
        queue = queue or self._queue()
        queued_write(job.id, queue, attempts, job.cancel).apply(self.redis)
        self.celery.send_task(RENDER_TASK, args=[job.id, self.store.job_spec(job)], queue=queue,
                              task_id=task_id(job.id, attempts))
        log.info("job %s sent to the %s queue (attempt %d)", job.id, queue, attempts + 1,
                 extra={"job_id": job.id, "attempt": attempts + 1})
        if self.metrics is not None:
            choice = json.loads(job.spec).get("choice") or {}
            self.metrics.render_started(job.format, str(choice.get("encoder") or "unknown"),
                                        (job.started_ms - job.created_ms) / 1000 if job.started_ms and not attempts
                                        else None)

    def _settled(self, job_id: str, worker: str | None, attempt: int) -> None:
        row = self.store.job(job_id)
        if row is None or row.status not in ("completed", "failed"):
            return
        log.info("job %s: render %s%s", job_id, row.status, f": {row.error}" if row.error else "",
                 extra={"job_id": job_id, "worker": worker, "attempt": attempt})
        if self.metrics is not None:
            self.metrics.render_settled(row)

    def _follow(self, job: JobRow, entry: JobEntry) -> None:
        if entry.status == JobStatus.COMPLETED:
            self.store.complete_job(job.id, entry.result)
            self._settled(job.id, entry.worker, entry.attempts)
        elif entry.status == JobStatus.FAILED:
            self.store.fail_job(job.id, entry.error or "render failed")
            self._settled(job.id, entry.worker, entry.attempts)
        elif entry.status == JobStatus.PROCESSING:
            if entry.leased():
                self.store.mark_processing(job.id, entry.attempts, entry.progress)
            elif entry.attempts < self.max_attempts:
                log.warning("job %s: worker %s stopped answering; sending it again", job.id, entry.worker,
                            extra={"job_id": job.id, "worker": entry.worker, "attempt": entry.attempts})
                self.store.mark_processing(job.id, entry.attempts, 0)
                self._send(job, entry.attempts)
            else:
                reason = gave_up_error(entry.attempts, entry.worker)
                failed_write(job.id, reason).apply(self.redis)
                self.store.fail_job(job.id, reason)
                self._settled(job.id, entry.worker, entry.attempts)
