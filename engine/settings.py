"""The engine's settings: the one place that reads the environment (prefix ``REELFORGE_``).

Only what a render needs lives here; the API and the workers subclass :class:`EngineSettings` with
their own (``api/settings.py``, ``workers/settings.py``), so every process reads the engine's
variables the same way. Only entrypoints call :func:`get_settings`; the engine itself receives an
:class:`EngineConfig`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from engine.config import (
    DEFAULT_FONT_DIRS,
    DecoderPreference,
    EncoderPreference,
    EngineConfig,
    bundled_ffmpeg,
)


class EngineSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REELFORGE_", env_file=None, extra="ignore")

    ffmpeg_path: str | None = Field(None, description="FFmpeg binary; default: the one in the imageio-ffmpeg wheel")
    work_dir: Path | None = Field(None, description="scratch directory for renders; default: system temp")
    x264_preset: str = "veryfast"
    encoder: EncoderPreference = "auto"
    decoder: DecoderPreference = "auto"
    gif_buffer_mb: int = Field(512, ge=16)
    render_timeout_s: float | None = Field(None, gt=0)
    font_dirs: list[Path] = Field(default_factory=lambda: list(DEFAULT_FONT_DIRS))
    # reversed clips and scratch
    reverse_in_graph_mb: float = Field(
        128, ge=0, description="MB of reversed frames and samples FFmpeg may hold in memory at once, for all the "
        "reversed clips of a render together (FFmpeg's reverse filters keep a whole window); a reversed clip past "
        "that is reversed beforehand, block by block, into a scratch file; 0: always beforehand")
    reverse_block_mb: float = Field(
        256, gt=0, description="MB of frames one block of that pre-pass holds: the memory a reversed clip costs "
        "however long it is (at least one frame per block)")
    scratch_budget_mb: float = Field(
        8192, gt=0, description="MB of scratch files one render may write (reversed clips, prepared stills and "
        "captions, a GIF size search's intermediate and tries), estimated from the timeline before anything is "
        "written; a GIF size search starts smaller to stay under it, anything else over it is refused "
        "(limit_exceeded naming scratch_budget_mb)")

    def engine_config(self) -> EngineConfig:
        return EngineConfig(
            ffmpeg=self.ffmpeg_path or bundled_ffmpeg(),
            work_dir=self.work_dir,
            x264_preset=self.x264_preset,
            encoder=self.encoder,
            decoder=self.decoder,
            gif_buffer_mb=self.gif_buffer_mb,
            timeout_s=self.render_timeout_s,
            font_dirs=tuple(self.font_dirs),
            reverse_in_graph_mb=self.reverse_in_graph_mb,
            reverse_block_mb=self.reverse_block_mb,
            scratch_budget_mb=self.scratch_budget_mb,
        )


@lru_cache(maxsize=1)
def get_settings() -> EngineSettings:
    return EngineSettings()
