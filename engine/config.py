"""EngineConfig: everything the engine needs to know about its surroundings, passed in explicitly.

The engine reads no environment and keeps no globals; entrypoints (CLI, API, workers) build
this value from :mod:`engine.settings` and hand it down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

EncoderPreference = Literal["auto", "libx264", "h264_nvenc"]
DecoderPreference = Literal["auto", "cpu", "cuda"]

DEFAULT_FONT_DIRS: tuple[Path, ...] = (
    Path("/usr/share/fonts"),
    Path("/usr/local/share/fonts"),
    Path.home() / ".local/share/fonts",
    Path.home() / ".fonts",
)


def bundled_ffmpeg() -> str:
    """The static FFmpeg build inside the imageio-ffmpeg wheel (no system FFmpeg is assumed)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True, slots=True)
class EngineConfig:
    ffmpeg: str
    work_dir: Path | None = None                 # scratch space; None: the system temp dir
    x264_preset: str = "veryfast"
    encoder: EncoderPreference = "auto"          # "libx264" / "h264_nvenc" force one (no silent fallback)
    decoder: DecoderPreference = "auto"
    gif_buffer_mb: int = 512                     # one-pass GIF only when its frame buffer fits in this
    timeout_s: float | None = None               # wall-clock limit per FFmpeg run
    font_dirs: tuple[Path, ...] = field(default=DEFAULT_FONT_DIRS)
    # The cost model's caps (engine/model/cost.py; descriptions in engine/settings.py): a render
    # over one is refused before anything is queued or run.
    max_timeline_s: float = 3600.0
    max_output_pixels: int = 3600 * 30 * 1080 * 1920      # an hour of 1080x1920 at 30 fps
    max_reverse_pixels: int = 60 * 30 * 1080 * 1920       # a minute of it, reversed
    max_segments: int = 200
    max_tracks: int = 32
    max_layers: int = 200
    max_texts: int = 600
    max_graph_filters: int = 12_000

    @classmethod
    def default(cls) -> EngineConfig:
        return cls(ffmpeg=bundled_ffmpeg())
