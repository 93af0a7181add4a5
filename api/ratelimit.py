"""Rate limits on the API's doors, kept by the ``limits`` package: in this process's memory on the
embedded default, in Redis in farm mode, so every API process counts against the same limits.

Each limit is a moving window named by its setting: ``tokens_per_ip_per_week`` allows at most that
many in any 7 days. A request over one gets 429 with Retry-After (when the oldest hit leaves the
window) and a body that names the limit. Should the storage be unreachable, requests pass: a broken
limiter must not take the API down with it.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from limits import RateLimitItem, RateLimitItemPerDay, RateLimitItemPerMinute
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from api.errors import RateLimited
from api.settings import ApiSettings

log = logging.getLogger("reelforge.ratelimit")
KEY_PREFIX = "reelforge:limits"


class TooManyRequests(RateLimited):
    """429 naming the limit (``data``: retry_after, limit, max and, when known, value)."""

    def __init__(self, retry_after_s: int, limit: str, maximum: int, message: str, value: int | None = None) -> None:
        super().__init__(retry_after_s, message)
        self.data: dict[str, Any] = {"retry_after": retry_after_s, "limit": limit, "max": maximum}
        if value is not None:
            self.data["value"] = value


def rules_of(settings: ApiSettings) -> dict[str, RateLimitItem]:
    """Every rate limit, by the name of the setting that sets it."""
    return {
        "token_requests_per_minute": RateLimitItemPerMinute(settings.token_requests_per_minute),
        "tokens_per_ip_per_week": RateLimitItemPerDay(settings.tokens_per_ip_per_week, 7),
        "exports_per_minute": RateLimitItemPerMinute(settings.exports_per_minute),
        "uploads_per_minute": RateLimitItemPerMinute(settings.uploads_per_minute),
        "chat_turns_per_minute": RateLimitItemPerMinute(settings.chat_turns_per_minute),
    }


class RateLimits:
    def __init__(self, rules: dict[str, RateLimitItem], redis_url: str | None = None) -> None:
        self.rules = rules
        storage: Storage = (RedisStorage(redis_url, key_prefix=KEY_PREFIX, wrap_exceptions=True,
                                                      socket_timeout=2, socket_connect_timeout=2) if redis_url
                            else MemoryStorage())
        self._limiter = MovingWindowRateLimiter(storage)

    @classmethod
    def of(cls, settings: ApiSettings) -> RateLimits:
        return cls(rules_of(settings), settings.redis_url)

    def hit(self, rule: str, key: str) -> int:
        """0 when allowed (and counted); otherwise the seconds until it would be."""
        item = self.rules[rule]
        try:
            if self._limiter.hit(item, rule, key):
                return 0
            reset = self._limiter.get_window_stats(item, rule, key).reset_time
        except Exception as exc:          # the storage is unreachable: let it through
            log.warning("rate limit %s: storage unreachable (%s); not limiting", rule, exc)
            return 0
        return max(1, math.ceil(reset - time.time()))

    def check(self, rule: str, key: str, what: str) -> None:
        """Count one request; TooManyRequests when ``rule`` is used up for ``key``."""
        wait = self.hit(rule, key)
        if wait:
            maximum = self.rules[rule].amount
            raise TooManyRequests(wait, rule, maximum, f"too many {what}: at most {maximum} per "
                                  f"{_window(self.rules[rule])} ({rule}); retry in {wait} s")


def _window(item: RateLimitItem) -> str:
    unit = item.GRANULARITY.name
    return unit if item.multiples == 1 else f"{item.multiples} {unit}s"
