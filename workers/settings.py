"""A render-farm worker's settings (``reelforge worker``, ``reelforge farm``): the engine's, plus the
farm's (``REELFORGE_*`` variables; docs/farm.md lists them).

The settings the API reads too take their defaults from :mod:`workers.protocol`, so the two sides
cannot disagree on them.

At start, ``reelforge`` checks every ``REELFORGE_*`` variable against the fields of the settings
classes in engine/, api/ and workers/settings.py (:func:`engine.settings.settings_models` finds each
command package's ``settings`` module) and refuses to start on one that none of them has.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field

from engine.config import EngineConfig
from engine.settings import EngineSettings
from workers.protocol import (
    DEFAULT_CHUNK_OVER_S,
    DEFAULT_CHUNK_S,
    DEFAULT_DATA_DIR,
    DEFAULT_JOB_LEASE_S,
    DEFAULT_JOB_MAX_ATTEMPTS,
    DEFAULT_JOB_TIME_LIMIT_S,
    DEFAULT_RENDER_MEMORY_MB,
    DEFAULT_RENDER_TIME_FLOOR_S,
    DEFAULT_RENDER_TIME_PER_S,
)


class WorkerSettings(EngineSettings):
    redis_url: str | None = Field(None, description="the farm's Redis: Celery broker, result backend and job board")
    data_dir: Path = Field(Path(DEFAULT_DATA_DIR), description="where this host mounts the API's data directory")
    worker_queues: str | None = Field(None, description="queues to consume (cpu, gpu); default: by capability")
    worker_name: str | None = Field(None, description="this worker's name on the farm; default: host and pid")
    job_lease_s: float = Field(DEFAULT_JOB_LEASE_S, gt=1,
                               description="a job whose worker stops renewing this lease is sent again")
    job_max_attempts: int = Field(DEFAULT_JOB_MAX_ATTEMPTS, ge=1, description="tries per job when its worker dies")
    job_time_limit_s: float = Field(DEFAULT_JOB_TIME_LIMIT_S, gt=0, description="the longest one render may run")
    render_time_floor_s: float = Field(DEFAULT_RENDER_TIME_FLOOR_S, gt=0,
                                       description="a render may always run this long, however short its timeline")
    render_time_per_s: float = Field(DEFAULT_RENDER_TIME_PER_S, gt=0,
                                     description="seconds a render may run per second of timeline, between the "
                                                 "floor and job_time_limit_s; past it the job fails")
    render_memory_mb: int = Field(DEFAULT_RENDER_MEMORY_MB, ge=0,
                                  description="address space (RLIMIT_AS) each render process and its FFmpeg may "
                                              "map, in MiB; 0: no cap. Not applied to a job whose codec choice "
                                              "uses the GPU (NVENC or CUDA decoding): CUDA reserves huge virtual "
                                              "ranges it never touches")
    chunk_over_s: float = Field(DEFAULT_CHUNK_OVER_S, gt=0, description="timelines longer than this render in parts")
    chunk_s: float = Field(DEFAULT_CHUNK_S, gt=1, description="the length of each part")
    worker_metrics_port: int = Field(9464, ge=0, le=65535, description="Prometheus metrics of this worker at "
                                     "http://<host>:<port>/metrics; 0: none")
    log_format: Literal["text", "json"] = Field("text", description="log lines on stderr: readable text, or "
                                                "one JSON object per line (time, level, logger, message, job_id...)")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="reelforge's own log lines from this level up (other libraries: WARNING)")
    nvenc_session_limit: int = Field(3, ge=1, description="NVENC sessions a GPU may run before a job uses libx264")
    gpu: str | None = Field(None, description="pin this worker to one GPU: its nvidia-smi (NVML) index, or its UUID "
                            "(GPU-..., or a prefix that names one GPU); it must be one CUDA_VISIBLE_DEVICES leaves "
                            "visible, and a worker pinned to a GPU it cannot see does not start. Default: the GPUs "
                            "CUDA_VISIBLE_DEVICES leaves visible (all when unset)")

    def engine_config(self) -> EngineConfig:
        return replace(super().engine_config(), gpu=self.gpu)


@lru_cache(maxsize=1)
def get_settings() -> WorkerSettings:
    return WorkerSettings()
