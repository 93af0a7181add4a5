"""A sliding-window limit per key (per client IP for anonymous tokens), kept in the app's memory.

Generous by default: someone running test suites against their own server asks for dozens of
tokens an hour; an abusive burst asks for hundreds a minute.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque


class RateLimiter:
    def __init__(self, limit: int, window_s: float = 60.0) -> None:
        self.limit, self.window_s = limit, window_s
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str, now: float | None = None) -> int:
        """0 when allowed (and counted); otherwise the seconds to wait."""
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and now - hits[0] >= self.window_s:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(1, math.ceil(self.window_s - (now - hits[0])))
            hits.append(now)
            if len(self._hits) > 10_000:      # forget quiet clients so memory stays bounded
                for quiet in [k for k, v in self._hits.items() if not v or now - v[-1] >= self.window_s]:
                    del self._hits[quiet]
            return 0
