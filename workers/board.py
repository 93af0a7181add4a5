"""The worker's side of the job board and the worker registry in Redis (the protocol: :mod:`workers.protocol`).

A worker *claims* a job before rendering it, in one Lua script: a finished job, a cancelled one, or
one another live worker holds is not run again (a redelivered or duplicated message is harmless),
and a job over its attempts is failed instead. The script only decides; the failure itself is
written with :func:`workers.protocol.failed_write`, like every other ending.
"""

from __future__ import annotations

import json
import time
from typing import Any, Final

import redis

from workers.protocol import (
    CANCELLED,
    PIECE_FIELD_PREFIX,
    WORKER_TTL_S,
    JobField,
    completed_write,
    failed_write,
    gave_up_error,
    job_key,
    live_workers,
    worker_key,
)

RUN: Final = "run"                   # the claim's answer when this worker should render the job now
EXHAUSTED: Final = "exhausted"       # the job is over its attempts (then it is failed)

# KEYS[1] the job's entry; ARGV: worker, now, lease_s, max_attempts. Returns "run", or why not
# ("completed", "failed", "cancelled", "held", "exhausted:<attempts>"). Writes only when it answers "run".
_CLAIM: Final = """
local h = redis.call('HGETALL', KEYS[1])
local job = {}
for i = 1, #h, 2 do job[h[i]] = h[i + 1] end
if job.status == 'completed' or job.status == 'failed' then return job.status end
if job.cancel == '1' then return 'cancelled' end
if job.status == 'processing' and job.worker ~= ARGV[1] and tonumber(job.lease or '0') > tonumber(ARGV[2]) then
  return 'held'
end
local attempts = tonumber(job.attempts or '0')
if attempts >= tonumber(ARGV[4]) then return 'exhausted:' .. attempts end
redis.call('HSET', KEYS[1], 'status', 'processing', 'worker', ARGV[1], 'attempts', attempts + 1,
           'lease', tonumber(ARGV[2]) + tonumber(ARGV[3]), 'progress', 0)
return 'run'
"""


class Board:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._claim = client.register_script(_CLAIM)

    def claim(self, job_id: str, worker: str, lease_s: float, max_attempts: int) -> str:
        """:data:`RUN` when this worker should render the job now; otherwise why not. A job that was
        cancelled before it ran, or is over its attempts, is failed here."""
        answer = self._claim(keys=[job_key(job_id)], args=[worker, time.time(), lease_s, max_attempts])
        outcome = answer.decode() if isinstance(answer, bytes) else str(answer)
        if outcome == CANCELLED:
            self.fail(job_id, CANCELLED)
        elif outcome.startswith(EXHAUSTED + ":"):
            self.fail(job_id, gave_up_error(int(outcome.split(":", 1)[1])))
            outcome = EXHAUSTED
        return outcome

    def renew(self, job_id: str, worker: str, lease_s: float) -> None:
        key = job_key(job_id)
        if self.redis.hget(key, JobField.WORKER) in (worker, worker.encode()):
            self.redis.hset(key, JobField.LEASE, time.time() + lease_s)

    def release(self, job_id: str, worker: str | None = None) -> None:
        """Give up the lease while the job is still processing (its render process died): the API then sends
        it again, or fails it when it is over its attempts, as for a worker that died. With ``worker``, only
        while that worker holds it; without, whoever does (a chord of parts)."""
        key = job_key(job_id)
        if worker is None or self.redis.hget(key, JobField.WORKER) in (worker, worker.encode()):
            self.redis.hset(key, JobField.LEASE, 0)

    def progress(self, job_id: str, percent: int) -> None:
        self.redis.hset(job_key(job_id), JobField.PROGRESS, percent)

    def hold(self, job_id: str, seconds: float, pieces: int) -> None:
        """Hand the job to a chord of parts: its lease runs ``seconds``; progress is the mean of ``pieces``."""
        self.redis.hset(job_key(job_id), mapping={JobField.LEASE: time.time() + seconds, JobField.PIECES: pieces,
                                                  JobField.CHUNKED: 1})

    def piece_progress(self, job_id: str, piece: str, percent: int) -> None:
        """One part's (or the sound's) progress; the job's is the mean over all of them, below 100 until joined."""
        key = job_key(job_id)
        self.redis.hset(key, PIECE_FIELD_PREFIX + piece, percent)
        fields = {k.decode(): v for k, v in self.redis.hgetall(key).items()}
        pieces = int(fields.get(JobField.PIECES, b"1"))
        done = sum(int(v) for k, v in fields.items() if k.startswith(PIECE_FIELD_PREFIX))
        self.redis.hset(key, JobField.PROGRESS, min(99, done // max(1, pieces)))

    def queue(self, job_id: str) -> str | None:
        value = self.redis.hget(job_key(job_id), JobField.QUEUE)
        return value.decode() if isinstance(value, bytes) else value

    def cancel_requested(self, job_id: str) -> bool:
        return self.redis.hget(job_key(job_id), JobField.CANCEL) in (b"1", "1")

    def complete(self, job_id: str, result: dict[str, Any]) -> None:
        completed_write(job_id, result).apply(self.redis)

    def fail(self, job_id: str, error: str) -> None:
        failed_write(job_id, error).apply(self.redis)


class Registry:
    """Live workers: each renews its own key; a worker that dies drops out when its key expires."""

    def __init__(self, client: redis.Redis, ttl_s: float = WORKER_TTL_S) -> None:
        self.redis, self.ttl_s = client, ttl_s

    def announce(self, name: str, info: dict[str, Any]) -> None:
        self.redis.set(worker_key(name), json.dumps({**info, "seen": time.time()}), px=int(self.ttl_s * 1000))

    def leave(self, name: str) -> None:
        self.redis.delete(worker_key(name))

    def live(self) -> list[dict[str, Any]]:
        return live_workers(self.redis)
