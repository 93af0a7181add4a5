"""EngineConfig: everything the engine needs to know about its surroundings, passed in explicitly.

The engine reads no environment and keeps no globals; entrypoints (CLI, API, workers) build
this value from :mod:`engine.settings` and hand it down.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

EncoderPreference = Literal["auto", "libx264", "h264_nvenc"]
DecoderPreference = Literal["auto", "cpu", "cuda"]

def default_font_dirs(platform: str = sys.platform, home: Path | None = None) -> tuple[Path, ...]:
    """Where fonts are installed: the freedesktop folders on Linux and the BSDs, the system's, the local
    machine's and the user's folders on macOS."""
    home = Path.home() if home is None else home
    if platform == "darwin":
        return (Path("/System/Library/Fonts"), Path("/Library/Fonts"), home / "Library/Fonts")
    return (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), home / ".local/share/fonts", home / ".fonts")


DEFAULT_FONT_DIRS: tuple[Path, ...] = default_font_dirs()


def bundled_ffmpeg() -> str:
    """The static FFmpeg build inside the imageio-ffmpeg wheel (no system FFmpeg is assumed)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True, slots=True)
class ProbeLimits:
    """What a media file may declare in its headers, checked before any frame is decoded, and what
    the child process that probes an untrusted file may use (engine.media.isolated)."""

    max_width: int = 8192                    # pixels, as stored
    max_height: int = 8192
    max_pixels: int = 8192 * 8192            # width x height
    max_frame_bytes: int = 8192 * 8192 * 2   # one decoded frame: pixels x the pixel format's bytes per pixel
    max_streams: int = 16                    # every stream in the container, of any kind
    max_duration_s: float = 4 * 3600         # the source's declared length
    memory_mb: int = 1024                    # the probe child's address space (RLIMIT_AS)
    timeout_s: float = 30                    # the probe child's wall-clock time


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
    probe: ProbeLimits = field(default_factory=ProbeLimits)
    # reversed clips and scratch (engine/pipeline/reverse.py, engine/pipeline/scratch.py)
    reverse_in_graph_mb: float = 128             # reversed frames and samples the graph may hold, all together
    reverse_block_mb: float = 256                # frames one block of a reversed window's pre-pass may hold
    scratch_budget_mb: float = 8192              # scratch files one render may write, at most (estimated beforehand)
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
    # GPUs (engine/encode/gpu.py): the process's CUDA_VISIBLE_DEVICES (None: unset), which decides how
    # FFmpeg numbers them, and a pin to one GPU by NVML index or UUID (a worker's REELFORGE_GPU)
    cuda_visible_devices: str | None = None
    gpu: str | None = None

    @classmethod
    def default(cls) -> EngineConfig:
        return cls(ffmpeg=bundled_ffmpeg())
