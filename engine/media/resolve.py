"""Source references: what a segment's ``src`` names, as a local file.

The engine never downloads. The API resolves its own upload URLs to files in its media
store; the CLI resolves paths relative to the draft file (and ``file://`` URLs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from engine.errors import MediaNotFound

Resolver = Callable[[str], Path]


@dataclass(frozen=True, slots=True)
class LocalResolver:
    """Paths, relative to ``base`` when not absolute, and file:// URLs. Remote URLs are refused."""

    base: Path = Path(".")

    def __call__(self, src: str) -> Path:
        parsed = urlparse(src)
        if parsed.scheme in ("http", "https"):
            raise MediaNotFound(src, "remote media must be uploaded first; the renderer reads local files only")
        if parsed.scheme == "file":
            path = Path(unquote(parsed.path))
        elif parsed.scheme and len(parsed.scheme) > 1:
            raise MediaNotFound(src, f"unsupported source scheme {parsed.scheme!r}")
        else:
            path = Path(src)
        path = path if path.is_absolute() else self.base / path
        if not path.is_file():
            raise MediaNotFound(src, "no such file")
        return path


@dataclass(frozen=True, slots=True)
class MappedResolver:
    """Sources the caller has already resolved (the API's uploads): a ``src`` missing from the map is unknown."""

    sources: dict[str, str]

    def __call__(self, src: str) -> Path:
        path = self.sources.get(src)
        if path is None:
            raise MediaNotFound(src, "not one of this session's uploads")
        if not Path(path).is_file():
            raise MediaNotFound(src, "the uploaded file is gone")
        return Path(path)
