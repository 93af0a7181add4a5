"""API errors: one typed tree, mapped once to the hosted API's codes and HTTP statuses.

Every error leaves as the envelope ``{"code": <code>, "message": "...", "data": ...}``; clients
that run ``curl -s`` read only the body, so the body always carries the code. Body-level codes
(1001, 1002, 2001, 4001, 4002) go with the HTTP statuses api-contract.md §3 recommends, or with
200 when ``legacy_http_200`` is set; HTTP-level codes (400, 402, 404, 409, 410, 413, 429, 507) keep theirs.

* ApiError
  + BadRequest           400   the request itself is wrong (body, header, field)
    - DraftInvalid       400   the draft cannot be rendered: data.issues names each problem
    - OverLimit          400   valid, but over a documented cap (data: limit, value, max)
  + TokenInvalid        1001   missing, unknown or expired bearer token
  + SessionNotFound     1002   no such session for this token (never says whose it is)
  + OutOfCredits        2001   not enough available credits; data carries the bind id and register URL
  + UnsupportedMedia    4001   not a file type we take
  + MediaTooLarge       4002   over the per-file limit
  + QuotaExceeded       4002   the token's storage quota is full (data names the quota)
  + PaymentRequired      402   an anonymous token without X-Skill-Source asked to export
  + NotFound             404   no such render job (for this token) or route
  + Conflict             409   a render id already used by someone else
  + Gone                 410   the file existed and was removed by the retention policy
  + PayloadTooLarge      413   a JSON body over its limit (refused while it streams in)
  + RateLimited          429   too many requests; Retry-After says when to come back
  + InsufficientStorage  507   the server's disk cannot hold what this render needs now; Retry-After
"""

from __future__ import annotations

from typing import Any, ClassVar

from engine.errors import (
    DraftError,
    EngineError,
    InsufficientDisk,
    LimitExceeded,
    MediaError,
    MediaNotFound,
    MediaUnsupported,
)

BODY_LEVEL = frozenset({1001, 1002, 2001, 4001, 4002})


class ApiError(Exception):
    code: ClassVar[int] = 500
    status: ClassVar[int] = 500
    default_message: ClassVar[str] = "internal error"

    def __init__(self, message: str | None = None, data: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message or self.default_message)
        self.message = message or self.default_message
        self.data = data
        self.headers = headers or {}

    def http_status(self, legacy_http_200: bool) -> int:
        return 200 if legacy_http_200 and self.code in BODY_LEVEL else self.status

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "data": self.data}


class BadRequest(ApiError):
    code, status, default_message = 400, 400, "bad request"


class DraftInvalid(BadRequest):
    default_message = "the draft cannot be rendered"


class TokenInvalid(ApiError):
    code, status = 1001, 401
    default_message = "token missing, invalid or expired; get one from /api/auth/anonymous-token"


class SessionNotFound(ApiError):
    code, status, default_message = 1002, 404, "Session not found"

    def body(self) -> dict[str, Any]:
        return {**super().body(), "detail": "Session not found"}   # what an ADK client looks for


class OutOfCredits(ApiError):
    code, status, default_message = 2001, 403, "not enough credits"


class UnsupportedMedia(ApiError):
    code, status = 4001, 415
    default_message = ("unsupported file type; use mp4, mov, avi, webm, mkv, jpg, png, gif, webp, heic, "
                       "mp3, wav, m4a, aac")


class MediaTooLarge(ApiError):
    code, status, default_message = 4002, 413, "file too large"


class QuotaExceeded(ApiError):
    code, status, default_message = 4002, 413, "your storage quota is full; delete or let old files expire"


class OverLimit(BadRequest):
    default_message = "the request is over one of this server's limits"


class PaymentRequired(ApiError):
    code, status = 402, 402
    default_message = "free plan export blocked: send the X-Skill-Source header, or register or upgrade your plan"


class NotFound(ApiError):
    code, status, default_message = 404, 404, "not found"


class Conflict(ApiError):
    code, status, default_message = 409, 409, "that id is already taken"


class Gone(ApiError):
    code, status, default_message = 410, 410, "this file has expired and was removed"


class PayloadTooLarge(ApiError):
    code, status, default_message = 413, 413, "the request body is too large"


class RateLimited(ApiError):
    code, status, default_message = 429, 429, "rate limited; retry later"

    def __init__(self, retry_after_s: int, message: str | None = None) -> None:
        super().__init__(message, {"retry_after": retry_after_s}, {"Retry-After": str(retry_after_s)})


class InsufficientStorage(ApiError):
    code, status, default_message = 507, 507, "the server is short of disk space; try again later"
    RETRY_AFTER_S: ClassVar[int] = 300

    def __init__(self, message: str | None = None, data: Any = None) -> None:
        super().__init__(message, data, {"Retry-After": str(self.RETRY_AFTER_S)})


def from_engine(exc: EngineError) -> ApiError:
    """The one place an engine error becomes an API error."""
    if isinstance(exc, LimitExceeded):
        return OverLimit(str(exc), exc.details())
    if isinstance(exc, InsufficientDisk):
        return InsufficientStorage(str(exc), exc.details())
    if isinstance(exc, DraftError):
        return DraftInvalid(str(exc), exc.details())
    if isinstance(exc, MediaUnsupported):
        return UnsupportedMedia(str(exc), exc.details())
    if isinstance(exc, MediaNotFound):
        return DraftInvalid(str(exc), exc.details())
    if isinstance(exc, MediaError):
        return BadRequest(str(exc), exc.details())
    return ApiError(str(exc), {"error": exc.code})
