"""The render farm's protocol: what the API and the workers write to Redis and send each other.

Both sides speak it through this module (api/farm.py and workers/board.py); it is the only module
of workers/ that api/ may import, so it imports nothing but the standard library. docs/farm.md
describes the same protocol for people.

- ``reelforge:job:<id>``, a hash: the job's *board entry*, with the fields of :class:`JobField`.
  The API creates it (:func:`queued_write`); a worker claims it, renews its lease and reports
  progress; whoever ends the job writes one of :func:`completed_write` or :func:`failed_write`.
  An ended job's lease is 0 (nobody vouches for it any more) and its entry expires after
  :data:`JOB_TTL_S`. Those two rules live in :func:`_ended` only, so no writer can forget them.
- ``reelforge:worker:<name>``, a JSON string that expires after :data:`WORKER_TTL_S` unless its
  worker renews it: the worker's host, queues, codec choice, current job and load
  (:func:`live_workers` reads them all).
- Celery task :data:`RENDER_TASK` ``(job_id, spec)`` on queue ``cpu`` or ``gpu``, with the task id
  :func:`task_id` (the job and its attempt, so a cancel can revoke the message); ``spec`` is the
  RenderJob JSON.
- ``python -m workers.job``: one render in a child process, run by :class:`ChildRender` in the
  embedded default's API and in a farm worker alike, under the memory cap and time limit below.

The settings both sides read (``REELFORGE_JOB_LEASE_S`` and the others below) take their
defaults from the ``DEFAULT_*`` constants here, so the API and the workers cannot disagree on them.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, Final, Protocol

JOB_KEY_PREFIX: Final = "reelforge:job:"
WORKER_KEY_PREFIX: Final = "reelforge:worker:"
WORKER_PATTERN: Final = WORKER_KEY_PREFIX + "*"
RENDER_TASK: Final = "reelforge.render"
CPU_QUEUE: Final = "cpu"
GPU_QUEUE: Final = "gpu"

JOB_TTL_S: Final = 30 * 24 * 3600        # an ended job's entry is kept this long (the API's SQLite row stays)
WORKER_TTL_S: Final = 10.0               # a worker that stops renewing its key drops out of listings after this
ANNOUNCE_EVERY_S: Final = 3.0            # how often a live worker renews it
CANCELLED: Final = "cancelled"           # the error of a job that was cancelled

DEFAULT_DATA_DIR: Final = "reelforge-data"
DEFAULT_JOB_LEASE_S: Final = 15.0
DEFAULT_JOB_MAX_ATTEMPTS: Final = 2
DEFAULT_JOB_TIME_LIMIT_S: Final = 3600.0
DEFAULT_CHUNK_OVER_S: Final = 60.0
DEFAULT_CHUNK_S: Final = 30.0
DEFAULT_RENDER_MEMORY_MB: Final = 6144
DEFAULT_RENDER_TIME_FLOOR_S: Final = 300.0
DEFAULT_RENDER_TIME_PER_S: Final = 10.0


class JobStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class JobField(StrEnum):
    """The fields of a board entry."""

    STATUS = "status"          # a JobStatus
    PROGRESS = "progress"      # 0-100
    ATTEMPTS = "attempts"      # claims so far
    WORKER = "worker"          # the name of the worker that claimed it last
    LEASE = "lease"            # epoch seconds until which that worker vouches for the job; 0 when ended
    RESULT = "result"          # the RenderResult as JSON, once completed
    ERROR = "error"            # why it failed
    CANCEL = "cancel"          # "1" once someone asked it to stop
    QUEUE = "queue"            # the Celery queue it was sent to
    PIECES = "pieces"          # a job rendered in parts: how many pieces report progress
    CHUNKED = "chunked"        # "1" when a chord of parts owns the job


PIECE_FIELD_PREFIX: Final = "piece:"     # "piece:<name>": one part's (or the sound's) progress


def job_key(job_id: str) -> str:
    return JOB_KEY_PREFIX + job_id


def worker_key(name: str) -> str:
    return WORKER_KEY_PREFIX + name


def task_id(job_id: str, attempts: int) -> str:
    """The Celery task id of a job's message sent after ``attempts`` claims (what a cancel revokes)."""
    return f"{job_id}:{attempts}"


def render_time_limit_s(duration_s: float | None, floor_s: float, per_s: float, ceiling_s: float) -> float:
    """How long one render may run: ``per_s`` seconds per second of timeline, at least ``floor_s``, at
    most ``ceiling_s`` (also when the length is not known)."""
    if duration_s is None:
        return ceiling_s
    return min(ceiling_s, max(floor_s, per_s * duration_s))


def uses_gpu(choice: Mapping[str, Any] | None) -> bool:
    """Whether a codec choice (CodecChoice fields) encodes or decodes on the GPU."""
    return bool(choice) and (choice.get("encoder") == "h264_nvenc" or choice.get("decoder") == "cuda")


def render_memory_cap(memory_mb: int, choice: Mapping[str, Any] | None) -> int | None:
    """The address-space cap in bytes for a render with this codec choice; None (no cap) when ``memory_mb``
    is 0 or the render uses the GPU, whose driver reserves far more address space than it uses."""
    if memory_mb <= 0 or uses_gpu(choice):
        return None
    return memory_mb * 1024 * 1024


def capped_env(memory_cap: int | None) -> dict[str, str]:
    """Environment for a render process under an address-space cap: few malloc arenas and one BLAS thread,
    so what it maps tracks what it uses rather than the host's core count."""
    return {"MALLOC_ARENA_MAX": "2", "OPENBLAS_NUM_THREADS": "1"} if memory_cap is not None else {}


def scratch_folder(work_dir: str | Path | None, scratch_root: str | Path) -> Path | None:
    """A job's own scratch folder: ``work_dir`` when it lies strictly inside ``scratch_root``, else None
    (a shared or outside folder is never a job's to delete)."""
    if not work_dir:
        return None
    folder, root = Path(work_dir).resolve(), Path(scratch_root).resolve()
    return folder if folder != root and folder.is_relative_to(root) else None


def remove_scratch(work_dir: str | Path | None, scratch_root: str | Path) -> None:
    """Delete a job's own scratch folder (see :func:`scratch_folder`); anything else is left alone."""
    folder = scratch_folder(work_dir, scratch_root)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------- writes


class _Pipeline(Protocol):
    def hset(self, name: str, *, mapping: Mapping[str, str | int | float]) -> Any: ...

    def expire(self, name: str, time: int) -> Any: ...

    def execute(self) -> Any: ...


class RedisClient(Protocol):
    """The part of ``redis.Redis`` the protocol uses (it imports no Redis client of its own)."""

    def pipeline(self) -> Any: ...

    def scan_iter(self, match: str) -> Iterable[Any]: ...

    def mget(self, keys: list[Any]) -> list[Any]: ...


@dataclass(frozen=True, slots=True)
class JobWrite:
    """One change to a board entry: these fields, then (when ``ttl_s`` is set) an expiry, in one transaction."""

    job_id: str
    fields: Mapping[str, str | int | float]
    ttl_s: int | None = None

    @property
    def key(self) -> str:
        return job_key(self.job_id)

    def apply(self, client: RedisClient) -> None:
        pipe: _Pipeline = client.pipeline()
        pipe.hset(self.key, mapping=dict(self.fields))
        if self.ttl_s is not None:
            pipe.expire(self.key, self.ttl_s)
        pipe.execute()


def queued_write(job_id: str, queue: str, attempts: int, cancel: bool) -> JobWrite:
    """The API sends the job (again): a fresh entry, nobody on it yet."""
    return JobWrite(job_id, {JobField.STATUS: JobStatus.QUEUED, JobField.PROGRESS: 0, JobField.ATTEMPTS: attempts,
                             JobField.QUEUE: queue, JobField.LEASE: 0, JobField.CANCEL: "1" if cancel else "0"})


def cancel_request_write(job_id: str) -> JobWrite:
    """Ask whoever renders the job to stop (a rendering worker sees it within half a second)."""
    return JobWrite(job_id, {JobField.CANCEL: "1"})


def _ended(job_id: str, status: JobStatus, fields: Mapping[str, str | int | float]) -> JobWrite:
    return JobWrite(job_id, {JobField.STATUS: status, **fields, JobField.LEASE: 0}, ttl_s=JOB_TTL_S)


def completed_write(job_id: str, result: Mapping[str, Any]) -> JobWrite:
    return _ended(job_id, JobStatus.COMPLETED, {JobField.PROGRESS: 100, JobField.RESULT: json.dumps(result)})


def failed_write(job_id: str, error: str) -> JobWrite:
    """The job ends without an output: ``error`` says why (:data:`CANCELLED` when it was cancelled)."""
    return _ended(job_id, JobStatus.FAILED, {JobField.ERROR: error})


def gave_up_error(attempts: int, worker: str | None = None) -> str:
    """The error of a job whose workers kept dying under it."""
    last = f" (last: {worker})" if worker else ""
    return f"the render worker died {attempts} times{last}; giving up"


# ---------------------------------------------------------------- reads


def _text(value: str | bytes | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True, slots=True)
class JobEntry:
    """A board entry as read back (from ``HGETALL``, with or without ``decode_responses``)."""

    status: str | None
    progress: int = 0
    attempts: int = 0
    worker: str | None = None
    lease: float = 0.0
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    cancel: bool = False
    queue: str | None = None

    @classmethod
    def from_hash(cls, raw: Mapping[Any, Any]) -> JobEntry | None:
        """The entry, or None when there is none (the hash is empty: the job was never sent, or expired)."""
        if not raw:
            return None
        fields = {_text(k): _text(v) for k, v in raw.items()}
        return cls(status=fields.get(JobField.STATUS), progress=int(fields.get(JobField.PROGRESS) or 0),
                   attempts=int(fields.get(JobField.ATTEMPTS) or 0), worker=fields.get(JobField.WORKER),
                   lease=float(fields.get(JobField.LEASE) or 0), result=json.loads(fields.get(JobField.RESULT) or "{}"),
                   error=fields.get(JobField.ERROR), cancel=fields.get(JobField.CANCEL) == "1",
                   queue=fields.get(JobField.QUEUE))

    def leased(self, now: float | None = None) -> bool:
        """Whether a worker still vouches for the job."""
        return self.lease >= (time.time() if now is None else now)


def live_workers(client: RedisClient) -> list[dict[str, Any]]:
    """Every live worker's announcement, in the order of their keys."""
    keys = sorted(client.scan_iter(match=WORKER_PATTERN))
    return [json.loads(v) for v in (client.mget(keys) if keys else []) if v]


# ---------------------------------------------------------------- one render in a child process

CHILD_MODULE: Final = "workers.job"
CHILD_CANCEL_GRACE_S: Final = 10.0       # a child asked to stop is killed after this


class ChildEnd(StrEnum):
    DONE = "done"
    FAILED = "failed"              # the render raised: it would fail again, so it is not retried
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"        # it ran past its time limit and was stopped
    DIED = "died"                  # the process ended with no outcome (killed, crashed): worth another try
    ABANDONED = "abandoned"        # its parent is stopping; the job is for the next start


@dataclass(frozen=True, slots=True)
class ChildOutcome:
    end: ChildEnd
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None       # in the API's words (FAILED, TIMED_OUT)
    returncode: int | None = None
    stderr_tail: str = ""          # for the server's log, never for clients


class ChildRender:
    """One RenderJob in its own process, ``python -m workers.job`` (its line protocol is in that module):
    progress as it comes, cancel (asked, then SIGKILL after a grace period), a time limit, and an
    outcome that says how it ended. ``preexec`` runs in the child before it starts (the memory cap);
    ``should_cancel`` is asked every ``poll_s`` (a cancel from another process)."""

    def __init__(self, spec: str, *, time_limit_s: float | None = None, preexec: Callable[[], None] | None = None,
                 env: Mapping[str, str] | None = None, on_progress: Callable[[int], None] | None = None,
                 should_cancel: Callable[[], bool] | None = None, poll_s: float = 0.5,
                 grace_s: float = CHILD_CANCEL_GRACE_S) -> None:
        self.spec, self.time_limit_s, self.preexec, self.env = spec, time_limit_s, preexec, dict(env or {})
        self.on_progress, self.should_cancel, self.poll_s, self.grace_s = on_progress, should_cancel, poll_s, grace_s
        self.proc: subprocess.Popen[str] | None = None
        self._cancelled, self._abandoned, self._timed_out = threading.Event(), threading.Event(), threading.Event()
        self._stderr: deque[str] = deque(maxlen=200)

    def cancel(self) -> None:
        self._cancelled.set()
        self._tell("cancel")

    def abandon(self) -> None:
        self._abandoned.set()
        self._tell("cancel")

    def run(self) -> ChildOutcome:
        proc = subprocess.Popen([sys.executable, "-m", CHILD_MODULE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True, preexec_fn=self.preexec,
                                env={**os.environ, **self.env} if self.env else None)
        self.proc = proc
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        drain = threading.Thread(target=self._drain, args=(proc.stderr,), daemon=True)
        drain.start()
        threading.Thread(target=self._watch, args=(proc,), daemon=True).start()
        self._tell(self.spec)
        if self._stopping():
            self._tell("cancel")
        event: dict[str, Any] | None = None
        last = -1
        for line in proc.stdout:
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(message, dict):
                continue
            if message.get("event") == "progress" and self.on_progress is not None:
                percent = min(99, int(float(message.get("progress") or 0) * 100))
                if percent > last:
                    last = percent
                    self.on_progress(percent)
            elif message.get("event") in ("done", "failed"):
                event = message
        proc.wait()
        drain.join(2)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            try:
                stream.close()
            except OSError:                    # a pipe whose other end went first
                pass
        return self._outcome(event, proc.returncode)

    def _outcome(self, event: dict[str, Any] | None, returncode: int) -> ChildOutcome:
        tail = "".join(self._stderr)[-8000:]
        if event is not None and event.get("event") == "done":
            result = event.get("result")
            return ChildOutcome(ChildEnd.DONE, result if isinstance(result, dict) else {}, None, returncode, tail)
        if self._abandoned.is_set():
            return ChildOutcome(ChildEnd.ABANDONED, returncode=returncode, stderr_tail=tail)
        if self._timed_out.is_set():
            message = (f"the render ran past its time limit of {math.ceil(self.time_limit_s or 0)} s and was "
                       "stopped (the limit grows with the timeline's length)")
            return ChildOutcome(ChildEnd.TIMED_OUT, error=message, returncode=returncode, stderr_tail=tail)
        error = event.get("error") if event is not None else None
        if self._cancelled.is_set() or (isinstance(error, dict) and error.get("code") == CANCELLED):
            return ChildOutcome(ChildEnd.CANCELLED, error=CANCELLED, returncode=returncode, stderr_tail=tail)
        if event is not None:
            message = error.get("message") if isinstance(error, dict) else None
            return ChildOutcome(ChildEnd.FAILED, error=str(message or "the render failed"), returncode=returncode,
                                stderr_tail=tail)
        return ChildOutcome(ChildEnd.DIED, returncode=returncode, stderr_tail=tail)

    def _stopping(self) -> bool:
        return self._cancelled.is_set() or self._abandoned.is_set() or self._timed_out.is_set()

    def _tell(self, line: str) -> None:
        proc = self.proc
        if proc is not None and proc.stdin is not None and proc.poll() is None:
            try:
                proc.stdin.write(line + "\n")
                proc.stdin.flush()
            except (OSError, ValueError):      # it is ending already
                pass

    def _drain(self, stream: IO[str]) -> None:
        for line in stream:
            self._stderr.append(line)

    def _watch(self, proc: subprocess.Popen[str]) -> None:
        started = time.monotonic()
        asked = started
        kill_at: float | None = None
        while proc.poll() is None:
            now = time.monotonic()
            if kill_at is None:
                if self.should_cancel is not None and now - asked >= self.poll_s:
                    asked = now
                    try:
                        if self.should_cancel():
                            self.cancel()
                    except Exception:              # the store or Redis may blink; ask again next time
                        pass
                if self.time_limit_s is not None and now - started > self.time_limit_s:
                    self._timed_out.set()
                    self._tell("cancel")
                if self._stopping():
                    kill_at = now + self.grace_s
            elif now >= kill_at:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                return
            time.sleep(0.05)
