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
        )


@lru_cache(maxsize=1)
def get_settings() -> EngineSettings:
    return EngineSettings()
