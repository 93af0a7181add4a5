"""Settings: the one place that reads the environment (prefix ``REELFORGE_``).

Only entrypoints call :func:`get_settings`; the engine itself receives an :class:`EngineConfig`.
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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REELFORGE_", env_file=None, extra="ignore")

    ffmpeg_path: str | None = Field(None, description="FFmpeg binary; default: the one in the imageio-ffmpeg wheel")
    work_dir: Path | None = Field(None, description="scratch directory for renders; default: system temp")
    x264_preset: str = "veryfast"
    encoder: EncoderPreference = "auto"
    decoder: DecoderPreference = "auto"
    gif_buffer_mb: int = Field(512, ge=16)
    render_timeout_s: float | None = Field(None, gt=0)
    font_dirs: list[Path] = Field(default_factory=lambda: list(DEFAULT_FONT_DIRS))

    # --- the API server (reelforge serve) ---
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    data_dir: Path = Field(Path("reelforge-data"), description="SQLite state, uploads and outputs")
    public_url: str | None = Field(None, description="base URL clients reach; default: the request's own")
    max_upload_mb: float = Field(500, gt=0, description="per file; larger uploads get 4002")
    url_fetch_timeout_s: float = Field(30, gt=0, description="URL uploads: per network step (connect, each read)")
    url_fetch_deadline_s: float = Field(600, gt=0, description="URL uploads: the whole request, all URLs together")
    allow_private_urls: bool = Field(False, description="let URL uploads reach loopback/private addresses")
    token_requests_per_minute: int = Field(60, ge=1, description="anonymous-token requests per IP per minute")
    token_ttl_days: float = Field(7, gt=0)
    token_credits: int = Field(100, ge=0)
    export_credits: int = Field(0, ge=0, description="credits an export costs (the hosted service charges none)")
    local_workers: int = Field(1, ge=1, le=64, description="render processes the embedded default runs at once")
    job_max_attempts: int = Field(2, ge=1, description="tries per job when a worker dies under it")
    output_url_ttl_s: int = Field(7 * 24 * 3600, ge=60, description="how long a signed output URL works")
    legacy_http_200: bool = Field(False, description="answer body-level error codes with HTTP 200")
    sse_heartbeat_s: float = Field(15, gt=0, description="chat: a heartbeat this often while a turn runs")
    llm_url: str | None = Field(None, description="chat: an OpenAI-compatible API base URL for the LLM planner")
    llm_model: str = Field("gpt-4o-mini", description="chat: the model the LLM planner asks")
    llm_api_key: str | None = Field(None, description="chat: bearer key for the LLM endpoint")
    llm_timeout_s: float = Field(20, gt=0, description="chat: how long the LLM planner may take before the rules")
    # --- the render farm (Celery on Redis); unset: the embedded default's local workers ---
    redis_url: str | None = Field(None, description="farm mode: Celery broker, result backend and job board")
    worker_queues: str | None = Field(None, description="worker: queues to consume (cpu, gpu); default: by capability")
    worker_name: str | None = Field(None, description="worker: its name on the farm; default: host and pid")
    job_lease_s: float = Field(15, gt=1, description="farm: a job whose worker stops renewing this lease is retried")
    job_time_limit_s: float = Field(3600, gt=0, description="farm: the longest one render may run")
    chunk_over_s: float = Field(60, gt=0, description="farm: timelines longer than this render in parallel parts")
    chunk_s: float = Field(30, gt=1, description="farm: the length of each part")
    nvenc_session_limit: int = Field(3, ge=1, description="worker: NVENC sessions a GPU may run before using x264")
    skill_resolutions: dict[str, str] = Field(
        default_factory=lambda: {"best-gif-maker": "720p", "video-compressor-gif": "720p"},
        description="default export resolution per X-Skill-Source when the export does not say")

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
def get_settings() -> Settings:
    return Settings()
