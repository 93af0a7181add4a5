"""The embedded default's render workers: a process per job, rendering with the same engine code a farm runs.

The API writes a job to the store as ``pending``; the runner claims the next one in turn (users
take turns, and one user's running jobs are capped: :meth:`api.store.Store.claim_job`), starts
``python -m workers.job`` through :class:`workers.protocol.ChildRender` (by module name: the API
imports nothing of workers/ but its protocol) under the render memory cap and time limit, and
copies its progress into the store as it arrives.

A render that fails (it raised: a bad draft, an FFmpeg error, any exception) fails at once, since
it would fail again; only a process that died with no outcome (killed) is tried again, up to
``max_attempts`` times. A job the server was rendering when it stopped is picked up again when it
starts. Nothing is ever left ``processing`` with nobody working on it, and whatever the outcome, the
job's own scratch folder is deleted when its process ends.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from api.settings import ApiSettings
from api.store import JobRow, Store
from engine.job import RenderJob
from engine.logs import job_context
from engine.run import limited_child
from workers.protocol import (
    CANCELLED,
    ChildEnd,
    ChildOutcome,
    ChildRender,
    capped_env,
    remove_scratch,
    render_memory_cap,
    render_time_limit_s,
)

if TYPE_CHECKING:
    from api.metrics import ApiMetrics

log = logging.getLogger("reelforge.jobs")
POLL_S = 0.5


@dataclass(frozen=True, slots=True)
class RenderRules:
    """What every render the API starts is held to: per-user running cap, memory cap, time limit, and
    where jobs' own scratch folders live."""

    max_running: int | None = None
    memory_mb: int = 0
    time_floor_s: float | None = None
    time_per_s: float = 0.0
    time_ceiling_s: float | None = None
    scratch_root: Path | None = None

    @classmethod
    def of(cls, settings: ApiSettings, scratch_root: Path | None = None) -> RenderRules:
        return cls(max_running=settings.max_running_renders, memory_mb=settings.render_memory_mb,
                   time_floor_s=settings.render_time_floor_s, time_per_s=settings.render_time_per_s,
                   time_ceiling_s=settings.job_time_limit_s, scratch_root=scratch_root)

    def time_limit_s(self, duration_s: float | None) -> float | None:
        if self.time_ceiling_s is None or self.time_floor_s is None:
            return None
        return render_time_limit_s(duration_s, self.time_floor_s, self.time_per_s, self.time_ceiling_s)


class Runner:
    def __init__(self, store: Store, workers: int, max_attempts: int, rules: RenderRules | None = None) -> None:
        self.store, self.slots, self.max_attempts = store, workers, max_attempts
        self.rules = rules or RenderRules()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._running: dict[str, _Worker] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="reelforge-runner", daemon=True)
        self.metrics: ApiMetrics | None = None      # set by the app: renders counted as they start and settle

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._recover()
        self._thread.start()

    def stop(self) -> None:
        """Stop taking jobs; jobs still rendering go back to pending, to be picked up at the next start."""
        self._stop.set()
        self._wake.set()
        self._thread.join(5)
        with self._lock:
            workers = list(self._running.values())
        for worker in workers:
            worker.abandon()
        for worker in workers:
            worker.join(worker.child.grace_s + 5)

    def _recover(self) -> None:
        for job in self.store.jobs_in("processing"):
            if job.attempts < self.max_attempts and not job.cancel:
                self.store.retry_job(job.id)
            else:
                self.store.fail_job(job.id, CANCELLED if job.cancel else
                                    f"interrupted: the server stopped while rendering it ({job.attempts} tries)")

    # ------------------------------------------------------------ requests from the API

    def submitted(self) -> None:
        self._wake.set()

    def cancel(self, job_id: str) -> None:
        self.store.request_cancel(job_id)
        job = self.store.job(job_id)
        if job is not None and job.status == "pending":
            self.store.fail_job(job_id, CANCELLED)
        with self._lock:
            worker = self._running.get(job_id)
        if worker is not None:
            worker.child.cancel()

    def busy(self) -> int:
        with self._lock:
            return len(self._running)

    def workers(self) -> list[dict[str, object]]:
        """This server's own render slots, described as the farm describes its workers."""
        with self._lock:
            running = sorted(self._running)
        return [{"name": "local", "queues": ["local"], "slots": self.slots, "current_jobs": running,
                 "load": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}]

    # ------------------------------------------------------------ the loop

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._fill()
            except Exception:   # the store may be briefly unreachable; the loop must outlive it
                log.exception("render runner: could not start jobs; trying again")
                time.sleep(POLL_S * 4)
            self._wake.wait(POLL_S)
            self._wake.clear()

    def _fill(self) -> None:
        while self.busy() < self.slots and not self._stop.is_set():
            job = self.store.claim_job(self.rules.max_running)
            if job is None:
                return
            try:
                worker = _Worker(job, self.store, self.max_attempts, self.rules, self._finished, self.metrics)
            except Exception:
                log.exception("job %s: its RenderJob cannot be read", job.id)
                self.store.fail_job(job.id, "the render could not start: its job record is unreadable")
                continue
            with self._lock:
                self._running[job.id] = worker
            worker.start()

    def _finished(self, job_id: str) -> None:
        with self._lock:
            self._running.pop(job_id, None)
        self._wake.set()


class _Worker(threading.Thread):
    """One job's process, watched from start to end."""

    def __init__(self, job: JobRow, store: Store, max_attempts: int, rules: RenderRules,
                 done: Callable[[str], None], metrics: ApiMetrics | None = None) -> None:
        super().__init__(name=f"reelforge-job-{job.id}", daemon=True)
        self.job, self.store, self.max_attempts, self.rules, self.done = job, store, max_attempts, rules, done
        self.metrics = metrics
        spec = store.job_spec(job)          # the RenderJob whole, its draft put back from the one stored copy
        self.spec = RenderJob.from_json(spec)
        self.work_dir = self.spec.config.get("work_dir")
        cap = render_memory_cap(rules.memory_mb, self.spec.choice)
        self.child = ChildRender(spec, time_limit_s=rules.time_limit_s(self.spec.duration_s),
                                 preexec=limited_child(cap), env=capped_env(cap), on_progress=self._progress,
                                 should_cancel=self.store_says_cancel, poll_s=POLL_S)

    def abandon(self) -> None:
        """The server is stopping: end the process, and leave the job for the next start."""
        self.child.abandon()

    def run(self) -> None:
        with job_context(job_id=self.job.id, render_id=self.job.render_id or None, worker="local",
                         attempt=self.job.attempts):
            self._run()

    def _run(self) -> None:
        job = self.job
        encoder = str(self.spec.choice.get("encoder") or "unknown") if self.spec.choice else "unknown"
        waited = (job.started_ms - job.created_ms) / 1000 if job.started_ms else None
        log.info("job %s: render started (%s, %s, attempt %d, waited %.1f s)", job.id, job.format, encoder,
                 job.attempts, waited or 0.0)
        if self.metrics is not None:
            self.metrics.render_started(job.format, encoder, waited)
        try:
            self._settle(self.child.run())        # the render process makes its scratch folder (workers/job.py)
        except Exception:
            log.exception("job %s: could not run its render process", self.job.id)
            self._settle(ChildOutcome(ChildEnd.DIED))
        finally:
            if self.rules.scratch_root is not None:
                remove_scratch(self.work_dir, self.rules.scratch_root)
            self.done(self.job.id)
            self._report()

    def _report(self) -> None:
        """The job's end, logged and counted once it is settled (not when it went back to wait)."""
        try:
            row = self.store.job(self.job.id)
        except Exception:
            log.exception("job %s: could not read its end for the log", self.job.id)
            return
        if row is None or row.status not in ("completed", "failed"):
            return
        if row.status == "completed":
            result = row.result or {}
            log.info("job %s: render completed in %.1f s (%s, %s, %s bytes)", row.id, result.get("elapsed_s") or 0,
                     row.format, result.get("encoder"), result.get("size_bytes"))
        else:
            log.info("job %s: render failed: %s", row.id, row.error)
        if self.metrics is not None:
            self.metrics.render_settled(row)

    def _progress(self, percent: int) -> None:
        self.store.set_progress(self.job.id, percent)

    def _settle(self, outcome: ChildOutcome) -> None:
        end, job = outcome.end, self.job
        if end == ChildEnd.DONE:
            self.store.complete_job(job.id, outcome.result)
        elif end == ChildEnd.ABANDONED:
            self.store.retry_job(job.id)
        elif end == ChildEnd.CANCELLED or (end == ChildEnd.DIED and self.store_says_cancel()):
            self.store.fail_job(job.id, CANCELLED)
        elif end in (ChildEnd.FAILED, ChildEnd.TIMED_OUT):
            log.warning("job %s failed: %s\n%s", job.id, outcome.error, outcome.stderr_tail)
            self.store.fail_job(job.id, outcome.error or "the render failed")
        elif job.attempts < self.max_attempts:
            log.warning("job %s: its render process died (exit %s); trying again\n%s", job.id, outcome.returncode,
                        outcome.stderr_tail)
            self.store.retry_job(job.id)
        else:
            log.warning("job %s: its render process died (exit %s) %d times\n%s", job.id, outcome.returncode,
                        job.attempts, outcome.stderr_tail)
            self.store.fail_job(job.id, f"the render worker died (exit {outcome.returncode}) {job.attempts} times; "
                                        "giving up")

    def store_says_cancel(self) -> bool:
        job = self.store.job(self.job.id)
        return bool(job and job.cancel)
