"""Upload thumbnails for the studio's media list: a small JPEG of a picture or of a clip's first second,
made on first request by FFmpeg in a child process under the probe's memory cap and time limit (the API
never decodes media itself, :mod:`api.mediagate`), then kept beside the upload. At most
``MAX_AT_ONCE`` are made at once; more wait their turn in their own worker thread."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Final

from api.store import MediaRow
from engine.config import ProbeLimits
from engine.run import run_child

MB: Final = 1024 * 1024
EDGE: Final = 320                       # the thumbnail's longer side at most, in px
MAX_AT_ONCE: Final = 2
SHOWN_AS_IS: Final = frozenset({"jpg", "png", "gif", "webp"})   # pictures every browser shows itself
_slots = threading.BoundedSemaphore(MAX_AT_ONCE)


def thumbnail_path(media: MediaRow) -> Path:
    return Path(media.path).with_name(f"{media.id}.thumb.jpg")


def has_thumbnail(media: MediaRow) -> bool:
    """Whether the upload is one that a thumbnail can show (pictures and clips; not sound)."""
    return media.file_type in ("video", "image")


def thumbnail(media: MediaRow, ffmpeg: str, limits: ProbeLimits) -> tuple[Path, str] | None:
    """(file, media type) to show for ``media``: its JPEG thumbnail, made now if it is not made yet; a picture
    that cannot be made smaller but that browsers show is itself. None: there is nothing to show."""
    if not has_thumbnail(media) or not Path(media.path).is_file():
        return None
    out = thumbnail_path(media)
    if not out.is_file():
        with _slots:
            if not out.is_file():
                _make(Path(media.path), out, ffmpeg, limits, seek_s=_seek_s(media))
    if out.is_file():
        return out, "image/jpeg"
    if media.file_type == "image" and media.info.get("format") in SHOWN_AS_IS:
        return Path(media.path), f"image/{'jpeg' if media.info.get('format') == 'jpg' else media.info['format']}"
    return None


def _seek_s(media: MediaRow) -> float:
    """A clip's frame at a tenth of its length, at most 1 s in (its very first frame is often black)."""
    duration = media.info.get("duration")
    if media.file_type != "video" or not isinstance(duration, int | float):
        return 0.0
    return min(1.0, float(duration) / 10)


def _make(source: Path, out: Path, ffmpeg: str, limits: ProbeLimits, seek_s: float) -> None:
    """Write the JPEG through a temporary name, so that a half-written thumbnail is never served."""
    part = out.with_name(f".{out.name}.{os.getpid()}.{threading.get_ident()}.part")
    scale = f"scale='min({EDGE},iw)':'min({EDGE},ih)':force_original_aspect_ratio=decrease"
    argv = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-ss", f"{seek_s:.3f}", "-i", str(source),
            "-threads", "1", "-frames:v", "1", "-vf", scale, "-q:v", "5", "-f", "image2", "-c:v", "mjpeg", str(part)]
    try:
        result = run_child(argv, memory_bytes=limits.memory_mb * MB, timeout_s=limits.timeout_s)
        if result.returncode == 0 and not result.timed_out and part.is_file() and part.stat().st_size > 0:
            part.replace(out)
    finally:
        part.unlink(missing_ok=True)
