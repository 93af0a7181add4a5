"""The embedded default's render workers: a process per job, rendering with the same engine code a farm runs.

The API writes a job to the store as ``pending``; the runner claims it, starts
``python -m workers.job`` (by module name: the API imports nothing of workers/ but its protocol), hands
it the RenderJob on stdin and copies its progress into the store as it arrives. A worker that
dies mid-render is retried up to ``max_attempts`` times, then the job fails with the reason; a
job the server was rendering when it stopped is picked up again when it starts. Nothing is ever
left ``processing`` with nobody working on it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import IO

from api.store import JobRow, Store
from engine.run import die_with_parent

log = logging.getLogger("reelforge.jobs")
CANCEL_GRACE_S = 10.0
POLL_S = 0.5


class Runner:
    def __init__(self, store: Store, workers: int, max_attempts: int) -> None:
        self.store, self.slots, self.max_attempts = store, workers, max_attempts
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._running: dict[str, _Worker] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="reelforge-runner", daemon=True)

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
            worker.join(CANCEL_GRACE_S + 5)

    def _recover(self) -> None:
        for job in self.store.jobs_in("processing"):
            if job.attempts < self.max_attempts and not job.cancel:
                self.store.retry_job(job.id)
            else:
                self.store.fail_job(job.id, "cancelled" if job.cancel else
                                    f"interrupted: the server stopped while rendering it ({job.attempts} tries)")

    # ------------------------------------------------------------ requests from the API

    def submitted(self) -> None:
        self._wake.set()

    def cancel(self, job_id: str) -> None:
        self.store.request_cancel(job_id)
        job = self.store.job(job_id)
        if job is not None and job.status == "pending":
            self.store.fail_job(job_id, "cancelled")
        with self._lock:
            worker = self._running.get(job_id)
        if worker is not None:
            worker.cancel()

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
            job = self.store.claim_job()
            if job is None:
                return
            worker = _Worker(job, self.store, self.max_attempts, self._finished)
            with self._lock:
                self._running[job.id] = worker
            worker.start()

    def _finished(self, job_id: str) -> None:
        with self._lock:
            self._running.pop(job_id, None)
        self._wake.set()


class _Worker(threading.Thread):
    """One job's process, watched from start to end."""

    def __init__(self, job: JobRow, store: Store, max_attempts: int, done: Callable[[str], None]) -> None:
        super().__init__(name=f"reelforge-job-{job.id}", daemon=True)
        self.job, self.store, self.max_attempts, self.done = job, store, max_attempts, done
        self.proc: subprocess.Popen[str] | None = None
        self._cancelled = threading.Event()
        self._abandoned = threading.Event()
        self._stderr: deque[str] = deque(maxlen=40)

    def cancel(self) -> None:
        self._cancelled.set()
        self._tell("cancel")

    def abandon(self) -> None:
        """The server is stopping: end the process, and leave the job for the next start."""
        self._abandoned.set()
        self._tell("cancel")

    def _tell(self, line: str) -> None:
        proc = self.proc
        if proc is not None and proc.stdin is not None and proc.poll() is None:
            try:
                proc.stdin.write(line + "\n")
                proc.stdin.flush()
            except OSError:
                pass

    def run(self) -> None:
        try:
            self._run()
        finally:
            self.done(self.job.id)

    def _run(self) -> None:
        proc = subprocess.Popen([sys.executable, "-m", "workers.job"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True, preexec_fn=die_with_parent)
        self.proc = proc
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        threading.Thread(target=self._drain, args=(proc.stderr,), daemon=True).start()
        threading.Thread(target=self._watch_cancel, args=(proc,), daemon=True).start()
        proc.stdin.write(self.store.job_spec(self.job) + "\n")
        proc.stdin.flush()
        outcome: dict[str, object] | None = None
        last_saved = -1
        for line in proc.stdout:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if event.get("event") == "progress":
                percent = min(99, int(float(event.get("progress", 0)) * 100))
                if percent > last_saved:
                    last_saved = percent
                    self.store.set_progress(self.job.id, percent)
            elif event.get("event") in ("done", "failed"):
                outcome = event
        proc.wait()
        self._settle(outcome, proc.returncode)

    def _settle(self, outcome: dict[str, object] | None, returncode: int) -> None:
        if self._abandoned.is_set() and not (outcome and outcome.get("event") == "done"):
            self.store.retry_job(self.job.id)
        elif outcome is not None and outcome.get("event") == "done":
            result = outcome.get("result")
            self.store.complete_job(self.job.id, result if isinstance(result, dict) else {})
        elif self._cancelled.is_set() or self.store_says_cancel():
            self.store.fail_job(self.job.id, "cancelled")
        elif outcome is not None:
            error = outcome.get("error")
            message = error.get("message") if isinstance(error, dict) else None
            self.store.fail_job(self.job.id, str(message or "render failed"))
        elif self.job.attempts < self.max_attempts:
            self.store.retry_job(self.job.id)
        else:
            tail = " | ".join(line.strip() for line in list(self._stderr)[-3:] if line.strip())
            self.store.fail_job(self.job.id, f"the render worker died (exit {returncode}) {self.job.attempts} times"
                                + (f": {tail}" if tail else ""))

    def store_says_cancel(self) -> bool:
        job = self.store.job(self.job.id)
        return bool(job and job.cancel)

    def _drain(self, stream: IO[str]) -> None:
        for line in stream:
            self._stderr.append(line)

    def _watch_cancel(self, proc: subprocess.Popen[str]) -> None:
        """Cancels can come from another API process too (a restart): look at the store now and then."""
        while proc.poll() is None:
            if not self._cancelled.is_set() and self.store_says_cancel():
                self.cancel()
            if self._cancelled.is_set() or self._abandoned.is_set():
                deadline = time.monotonic() + CANCEL_GRACE_S
                while proc.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.1)
                if proc.poll() is None:
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                return
            time.sleep(POLL_S)
