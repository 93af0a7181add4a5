"""Finished files only: every output is written under a temporary name beside its destination,
probed, checked against what it must hold, and only then renamed into place.

render(), a chunked render's parts and sound, and their join all write through :func:`staged_output`,
so nobody can ever see a half-written or wrong file, and a failed write leaves nothing behind.
FFmpeg's exit code is not proof (ffmpeg-python#781): :func:`verify` is.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from engine.errors import OutputMismatch
from engine.media.probe import OutputInfo, inspect_output


@dataclass(frozen=True, slots=True)
class Expected:
    """What the finished file must hold."""

    width: int
    height: int
    frames: int                      # 0: sound only
    fps: float
    audio: bool
    timed: bool                      # whether its container times are exact enough to check (not GIF/WebP delays)
    exact: bool = False              # exactly ``frames``; else within one (a GIF resampled to another rate)
    video_codec: str | None = None   # where it matters (a part: the codec its join expects)
    audio_s: float | None = None     # how long the sound must last, within a frame; None: not checked


def verify(info: OutputInfo, want: Expected) -> None:
    """The file must hold what the timeline says; OutputMismatch says how it does not."""
    if want.frames:
        if info.frames == 0:
            raise OutputMismatch("no video frames were written")
        if abs(info.frames - want.frames) > (0 if want.exact else 1) or (
                want.video_codec is not None and info.video_codec != want.video_codec):
            codec = f" {info.video_codec}" if want.video_codec else ""
            raise OutputMismatch(f"{info.frames}{codec} frames written, expected {want.frames}"
                                 + (f" {want.video_codec}" if want.video_codec else ""))
        if (info.width, info.height) != (want.width, want.height):
            raise OutputMismatch(f"picture is {info.width}x{info.height}, expected {want.width}x{want.height}")
    elif info.video_codec is not None:
        raise OutputMismatch("a picture was written where only sound was asked for")
    if info.has_audio != want.audio:
        raise OutputMismatch("audio " + ("missing" if want.audio else "present but not asked for"))
    if want.audio_s is not None and abs((info.audio_duration_s or 0) - want.audio_s) > 1 / want.fps + 1e-3:
        raise OutputMismatch(f"the sound lasts {info.audio_duration_s or 0:.3f} s, expected {want.audio_s:.3f} s")
    seconds = want.frames / want.fps
    if want.frames and want.timed and abs(info.duration_s - seconds) > 1 / want.fps + 1e-3:
        raise OutputMismatch(f"lasts {info.duration_s:.3f} s, expected {seconds:.3f} s")


class Staged:
    """An output being written: FFmpeg writes ``temp``; ``want`` is what it must hold (set it, at the
    latest, before the ``with`` block ends); ``info`` is what it was found to hold, once renamed."""

    def __init__(self, path: Path, want: Expected | None) -> None:
        self.path = path
        self.temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.partial")
        self.want = want
        self.info: OutputInfo | None = None


@contextmanager
def staged_output(path: str | Path, want: Expected | None = None) -> Iterator[Staged]:
    """Write ``path`` through a temporary file beside it (same folder, so the rename is atomic).

    When the block ends normally the file is probed and verified against ``want`` (OutputMismatch),
    then renamed to ``path``. However the block ends, the temporary file is gone afterwards."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    staged = Staged(out, want)
    try:
        yield staged
        if staged.want is None:
            raise AssertionError(f"nothing said what {out.name} must hold")
        info = inspect_output(staged.temp)
        verify(info, staged.want)
        os.replace(staged.temp, out)
        staged.info = info
    finally:
        staged.temp.unlink(missing_ok=True)
