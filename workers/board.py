"""The job board and the worker registry in Redis: what a farm worker tells the API, and what it reads.

The protocol (the API reads and writes the same keys with its own code, since api/ and workers/
never import each other; docs/farm.md describes it):

- ``reelforge:job:<id>``, a hash: ``status`` (queued, processing, completed, failed), ``progress``
  (0-100), ``attempts``, ``worker``, ``lease`` (epoch seconds until which the worker vouches for
  the job), ``result`` (JSON), ``error``, ``cancel`` ("1" when asked to stop), ``queue``.
- ``reelforge:worker:<name>``, a JSON string with a short TTL, renewed while the worker lives: its
  host, queues, GPU and codec choice, current job and load.
- Celery task ``reelforge.render(job_id, spec)`` carries the RenderJob JSON.

A worker *claims* a job before rendering it, in one Lua script: a finished job, a cancelled one, or
one another live worker holds is not run again (a redelivered or duplicated message is harmless),
and a job over its attempts is failed instead.
"""

from __future__ import annotations

import json
import time
from typing import Any, Final

import redis

JOB_KEY: Final = "reelforge:job:{}"
WORKER_KEY: Final = "reelforge:worker:{}"
WORKER_PATTERN: Final = "reelforge:worker:*"
TASK_NAME: Final = "reelforge.render"
JOB_TTL_S: Final = 30 * 24 * 3600

# KEYS[1] job hash; ARGV: worker, now, lease_s, max_attempts. Returns "run", or why not.
_CLAIM: Final = """
local h = redis.call('HGETALL', KEYS[1])
local job = {}
for i = 1, #h, 2 do job[h[i]] = h[i + 1] end
if job.status == 'completed' or job.status == 'failed' then return job.status end
if job.cancel == '1' then
  redis.call('HSET', KEYS[1], 'status', 'failed', 'error', 'cancelled')
  return 'cancelled'
end
if job.status == 'processing' and job.worker ~= ARGV[1] and tonumber(job.lease or '0') > tonumber(ARGV[2]) then
  return 'held'
end
local attempts = tonumber(job.attempts or '0')
if attempts >= tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[1], 'status', 'failed',
             'error', 'the render worker died ' .. attempts .. ' times; giving up')
  return 'exhausted'
end
redis.call('HSET', KEYS[1], 'status', 'processing', 'worker', ARGV[1], 'attempts', attempts + 1,
           'lease', tonumber(ARGV[2]) + tonumber(ARGV[3]), 'progress', 0)
return 'run'
"""


class Board:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._claim = client.register_script(_CLAIM)

    def claim(self, job_id: str, worker: str, lease_s: float, max_attempts: int) -> str:
        """'run' when this worker should render the job now; otherwise why not."""
        outcome = self._claim(keys=[JOB_KEY.format(job_id)], args=[worker, time.time(), lease_s, max_attempts])
        return outcome.decode() if isinstance(outcome, bytes) else str(outcome)

    def renew(self, job_id: str, worker: str, lease_s: float) -> None:
        key = JOB_KEY.format(job_id)
        if self.redis.hget(key, "worker") in (worker, worker.encode()):
            self.redis.hset(key, "lease", time.time() + lease_s)

    def progress(self, job_id: str, percent: int) -> None:
        self.redis.hset(JOB_KEY.format(job_id), "progress", percent)

    def hold(self, job_id: str, seconds: float, pieces: int) -> None:
        """A chord now owns the job: its lease runs ``seconds``; progress is the mean of ``pieces``."""
        self.redis.hset(JOB_KEY.format(job_id), mapping={"lease": time.time() + seconds, "pieces": pieces,
                                                        "chunked": 1})

    def piece_progress(self, job_id: str, piece: str, percent: int) -> None:
        """One part's (or the sound's) progress; the job's is the mean over all of them, below 100 until joined."""
        key = JOB_KEY.format(job_id)
        self.redis.hset(key, f"piece:{piece}", percent)
        fields = self.redis.hgetall(key)
        pieces = int(fields.get(b"pieces", b"1"))
        done = sum(int(v) for k, v in fields.items() if k.startswith(b"piece:"))
        self.redis.hset(key, "progress", min(99, done // max(1, pieces)))

    def queue(self, job_id: str) -> str | None:
        value = self.redis.hget(JOB_KEY.format(job_id), "queue")
        return value.decode() if isinstance(value, bytes) else value

    def cancel_requested(self, job_id: str) -> bool:
        return self.redis.hget(JOB_KEY.format(job_id), "cancel") in (b"1", "1")

    def complete(self, job_id: str, result: dict[str, Any]) -> None:
        key = JOB_KEY.format(job_id)
        self.redis.hset(key, mapping={"status": "completed", "progress": 100, "result": json.dumps(result),
                                      "lease": 0})
        self.redis.expire(key, JOB_TTL_S)

    def fail(self, job_id: str, error: str) -> None:
        key = JOB_KEY.format(job_id)
        self.redis.hset(key, mapping={"status": "failed", "error": error, "lease": 0})
        self.redis.expire(key, JOB_TTL_S)


class Registry:
    """Live workers: each renews its own key; a worker that dies drops out when its key expires."""

    def __init__(self, client: redis.Redis, ttl_s: float = 10) -> None:
        self.redis, self.ttl_s = client, ttl_s

    def announce(self, name: str, info: dict[str, Any]) -> None:
        self.redis.set(WORKER_KEY.format(name), json.dumps({**info, "seen": time.time()}), px=int(self.ttl_s * 1000))

    def leave(self, name: str) -> None:
        self.redis.delete(WORKER_KEY.format(name))

    def live(self) -> list[dict[str, Any]]:
        keys = sorted(self.redis.scan_iter(WORKER_PATTERN))
        values = self.redis.mget(keys) if keys else []
        return [json.loads(v) for v in values if v]
