"""Signed output URLs: unguessable, and they expire.

Clients fetch ``output.url`` with a bare ``curl`` (the seeds send no token to it), so the URL
itself must be the key: an HMAC of the render id and an expiry time, under a secret that is
made once per data directory and never leaves it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path


def load_secret(path: Path) -> bytes:
    """The data directory's signing secret, made on first use (readable by its owner only)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


class Signer:
    def __init__(self, secret: bytes, ttl_s: int) -> None:
        self.secret, self.ttl_s = secret, ttl_s

    def _mac(self, name: str, expires: int) -> str:
        return hmac.new(self.secret, f"{name}\n{expires}".encode(), hashlib.sha256).hexdigest()[:40]

    def sign(self, name: str, since: float = 0.0, now: float | None = None) -> tuple[int, str]:
        """(expiry, signature): valid ``ttl`` from ``since``, or from now once that has run out."""
        now = time.time() if now is None else now
        start = since if since + self.ttl_s > now + 60 else now
        expires = int(start + self.ttl_s)
        return expires, self._mac(name, expires)

    def valid(self, name: str, expires: int, signature: str, now: float | None = None) -> bool:
        if expires < (now or time.time()):
            return False
        return hmac.compare_digest(self._mac(name, expires), signature)
