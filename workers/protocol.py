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
- Celery task :data:`RENDER_TASK` ``(job_id, spec)`` on queue ``cpu`` or ``gpu``; ``spec`` is the
  RenderJob JSON.

The settings both sides read (``REELFORGE_JOB_LEASE_S`` and the others below) take their
defaults from the ``DEFAULT_*`` constants here, so the API and the workers cannot disagree on them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, Protocol

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
