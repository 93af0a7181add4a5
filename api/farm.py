"""Farm mode: the API queues render jobs to Celery workers on Redis instead of running them itself.

Same interface as :class:`api.jobs.Runner` (start, stop, submitted, cancel, busy), so the routes
do not know which one runs. The API keeps its SQLite job rows as the record clients read; one
thread keeps them in step with the farm's job board (the Redis hashes workers write: status,
progress, result; see workers/board.py for the protocol, which this module speaks with its own
code because api/ and workers/ never import each other). The same thread:

- sends each pending job once, to the ``gpu`` queue when any live worker serves it, else ``cpu``;
- retries a job whose worker stopped renewing its lease (killed, lost), up to the attempts
  limit, then fails it with the reason: nothing stays ``processing`` with nobody on it;
- after an API restart simply carries on: jobs, board and queue all outlive the API process.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Final

import redis
from celery import Celery

from api.store import JobRow, Store

log = logging.getLogger("reelforge.farm")
JOB_KEY: Final = "reelforge:job:{}"            # the board's keys and the task's name (workers/board.py)
WORKER_PATTERN: Final = "reelforge:worker:*"
TASK_NAME: Final = "reelforge.render"
SYNC_S: Final = 0.25


class FarmRunner:
    def __init__(self, store: Store, redis_url: str, max_attempts: int, lease_s: float) -> None:
        self.store, self.max_attempts, self.lease_s = store, max_attempts, lease_s
        self.redis = redis.Redis.from_url(redis_url, decode_responses=True)
        self.celery = Celery("reelforge", broker=redis_url)
        self.celery.conf.update(broker_connection_retry_on_startup=True, task_ignore_result=True)
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._loop, name="reelforge-farm", daemon=True)

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
        self.redis.hset(JOB_KEY.format(job_id), "cancel", "1")
        if self.redis.hget(JOB_KEY.format(job_id), "status") in (None, "queued"):
            self.redis.hset(JOB_KEY.format(job_id), mapping={"status": "failed", "error": "cancelled"})
            self.celery.control.revoke(job_id)
        self._wake.set()

    def busy(self) -> int:
        return len(self.store.jobs_in("processing"))

    def workers(self) -> list[dict[str, Any]]:
        keys = sorted(self.redis.scan_iter(WORKER_PATTERN))
        return [json.loads(v) for v in (self.redis.mget(keys) if keys else []) if v]

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
        for job in self.store.jobs_in("pending") + self.store.jobs_in("processing"):
            board = self.redis.hgetall(JOB_KEY.format(job.id))
            if not board:
                self._send(job)
            else:
                self._follow(job, board)

    def _queue(self) -> str:
        return "gpu" if any("gpu" in w.get("queues", []) for w in self.workers()) else "cpu"

    def _send(self, job: JobRow, attempts: int = 0) -> None:
        queue = self._queue()
        self.redis.hset(JOB_KEY.format(job.id), mapping={"status": "queued", "progress": 0, "attempts": attempts,
                                                         "queue": queue, "lease": 0,
                                                         "cancel": "1" if job.cancel else "0"})
        self.celery.send_task(TASK_NAME, args=[job.id, job.spec], queue=queue, task_id=f"{job.id}:{attempts}")
        log.info("job %s sent to the %s queue (attempt %d)", job.id, queue, attempts + 1)

    def _follow(self, job: JobRow, board: dict[str, str]) -> None:
        status = board.get("status")
        attempts = int(board.get("attempts") or 0)
        if status == "completed":
            self.store.complete_job(job.id, json.loads(board.get("result") or "{}"))
        elif status == "failed":
            self.store.fail_job(job.id, board.get("error") or "render failed")
        elif status == "processing":
            if float(board.get("lease") or 0) >= time.time():
                self.store.mark_processing(job.id, attempts, int(board.get("progress") or 0))
            elif attempts < self.max_attempts:
                log.warning("job %s: worker %s stopped answering; sending it again", job.id, board.get("worker"))
                self.store.retry_job(job.id)
                self._send(job, attempts)
            else:
                reason = f"the render worker died {attempts} times (last: {board.get('worker')}); giving up"
                self.redis.hset(JOB_KEY.format(job.id), mapping={"status": "failed", "error": reason})
                self.store.fail_job(job.id, reason)
