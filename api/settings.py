"""The API server's settings (``reelforge serve``): the engine's, plus the server, uploads, tokens,
chat, the LLM planner and how it runs renders (``REELFORGE_*`` variables; docs/api.md lists them).

The settings a farm's API and workers both read take their defaults from :mod:`workers.protocol`,
so the two sides cannot disagree on them.

At start, ``reelforge`` checks every ``REELFORGE_*`` variable against the fields of the settings
classes in engine/, api/ and workers/settings.py (:func:`engine.settings.settings_models` finds each
command package's ``settings`` module) and refuses to start on one that none of them has.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field

from engine.settings import EngineSettings
from workers.protocol import (
    DEFAULT_DATA_DIR,
    DEFAULT_JOB_LEASE_S,
    DEFAULT_JOB_MAX_ATTEMPTS,
    DEFAULT_JOB_TIME_LIMIT_S,
    DEFAULT_RENDER_MEMORY_MB,
    DEFAULT_RENDER_TIME_FLOOR_S,
    DEFAULT_RENDER_TIME_PER_S,
)


class ApiSettings(EngineSettings):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    data_dir: Path = Field(Path(DEFAULT_DATA_DIR), description="SQLite state, uploads and outputs")
    public_url: str | None = Field(None, description="base URL clients reach; default: the request's own")
    max_upload_mb: float = Field(500, gt=0, description="per file; larger uploads get 4002")
    max_upload_files: int = Field(10, ge=1, le=1000, description="files (or URLs) one upload request may carry; "
                                  "one more is refused with 400 while the body streams in, and nothing is kept")
    url_fetch_timeout_s: float = Field(30, gt=0, description="URL uploads: per network step (connect, each read)")
    url_fetch_deadline_s: float = Field(600, gt=0, description="URL uploads: the whole request, all URLs together")
    allow_private_urls: bool = Field(False, description="let URL uploads reach loopback/private addresses")
    token_ttl_days: float = Field(7, gt=0)
    token_credits: int = Field(100, ge=0)
    export_credits: int = Field(0, ge=0, description="credits an export costs (the hosted service charges none)")
    output_url_ttl_s: int = Field(7 * 24 * 3600, ge=60, description="how long a signed output URL works")
    legacy_http_200: bool = Field(False, description="answer body-level error codes with HTTP 200")
    # --- logs and readiness
    log_format: Literal["text", "json"] = Field("text", description="log lines on stderr: readable text, or "
                                                "one JSON object per line (time, level, logger, message, job_id...)")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="reelforge's own log lines from this level up (other libraries: WARNING)")
    ready_min_free_mb: float = Field(500, ge=0, description="/ready answers 503 while the data directory's disk "
                                                            "has less free space than this, in MB; 0: no check")
    skill_resolutions: dict[str, str] = Field(
        default_factory=lambda: {"best-gif-maker": "720p", "video-compressor-gif": "720p"},
        description="default export resolution per X-Skill-Source when the export does not say")
    # --- webhooks: an export's callback URL gets the job's status body, signed, when the job ends
    webhook_secret: str | None = Field(None, min_length=16,
                                       description="HMAC-SHA256 key that signs every callback (Reelforge-Signature); "
                                                   "unset: exports that carry a callback are refused with 400")
    webhook_allow_private: bool = Field(False, description="let callback URLs reach loopback/private addresses "
                                                           "(an internal receiver; tests)")
    webhook_timeout_s: float = Field(10, gt=0, description="callbacks: per network step of one attempt")
    webhook_retry_base_s: float = Field(1, gt=0, description="callbacks: the wait before the first retry; it "
                                                             "doubles after each failed attempt (with jitter)")
    webhook_retry_max_s: float = Field(300, gt=0, description="callbacks: the longest wait between two attempts")
    webhook_retry_for_s: float = Field(3600, gt=0, description="callbacks: no attempt starts this long after the "
                                                               "job ended; the delivery then fails")
    # --- chat
    sse_heartbeat_s: float = Field(15, gt=0, description="chat: a heartbeat this often while a turn runs")
    llm_url: str | None = Field(None, description="chat: an OpenAI-compatible API base URL for the LLM planner")
    llm_model: str = Field("gpt-4o-mini", description="chat: the model the LLM planner asks")
    llm_api_key: str | None = Field(None, description="chat: bearer key for the LLM endpoint")
    llm_timeout_s: float = Field(20, gt=0, description="chat: how long the LLM planner may take before the rules")
    # --- request bodies and drafts
    max_json_body_bytes: int = Field(2 * 1024 * 1024, ge=1024,
                                     description="any request body but a multipart upload; a longer one gets 413 "
                                                 "as soon as it passes this, before the rest is read")
    max_json_depth: int = Field(32, ge=4, le=512,
                                description="how deeply objects and lists may nest in a JSON body (drafts included)")
    max_json_values: int = Field(250_000, ge=100,
                                 description="values (objects, lists, strings, numbers, ...) in one JSON body")
    max_draft_bytes: int = Field(2 * 1024 * 1024, ge=1024,
                                 description="a draft's size as compact JSON, whether sent to export or made by chat")
    draft_history_versions: int = Field(50, ge=2, le=10_000,
                                        description="draft versions kept per session: how far undo can walk back")
    # --- renders: local worker processes, or the farm when redis_url is set
    local_workers: int = Field(2, ge=1, le=64, description="render processes the embedded default runs at once; "
                               "with max_running_renders below it, one user's long render never holds them all")
    job_max_attempts: int = Field(DEFAULT_JOB_MAX_ATTEMPTS, ge=1, description="tries per job when its worker dies")
    redis_url: str | None = Field(None, description="farm mode: Celery broker and job board")
    job_lease_s: float = Field(DEFAULT_JOB_LEASE_S, gt=1,
                               description="farm: a job whose worker stops renewing this lease is sent again")
    # --- disk: the storage quota and retention (0 turns each off)
    storage_quota_mb: float = Field(2000, ge=0,
                                    description="uploads plus kept render outputs one user may store, in MB "
                                                "(10^6 bytes); an upload or export past it gets 4002; 0: no quota")
    retention_uploads_days: float = Field(30, ge=0, description="uploads are deleted this many days after they "
                                                                "arrive; their URLs then answer 410; 0: keep forever")
    retention_outputs_days: float = Field(30, ge=0, description="render outputs are deleted this many days after "
                                                                "the render ended; downloads then answer 410; 0: keep")
    retention_jobs_days: float = Field(90, ge=0, description="finished render jobs are trimmed to a record that "
                                                             "answers 410 (their draft copy and output go); 0: keep")
    retention_drafts_days: float = Field(90, ge=0, description="draft history versions older than this are deleted; "
                                                               "a session's current draft is always kept; 0: keep")
    retention_parts_days: float = Field(1, ge=0, description="farm: parts of chunked renders left under "
                                                             "outputs/.parts by a job no longer running; 0: keep")
    retention_interval_s: float = Field(3600, ge=0, description="how often the server deletes what expired "
                                                                "(also `reelforge gc`); 0: only `reelforge gc`")
    # --- fairness: per-user caps, rate limits, render time and memory
    max_queued_renders: int = Field(10, ge=1, description="exports one user may have waiting to start; one more "
                                                          "gets 429 with Retry-After and nothing is stored")
    max_running_renders: int = Field(1, ge=1, description="exports of one user that render at once; the rest wait "
                                                          "while other users' exports start in turn")
    queue_retry_after_s: int = Field(30, ge=1, description="the Retry-After of a 429 for a full render queue")
    token_requests_per_minute: int = Field(20, ge=1, description="anonymous-token requests per IP per minute "
                                                                 "(a burst limit; every request counts)")
    tokens_per_ip_per_week: int = Field(10, ge=1, description="new anonymous tokens per IP per 7 days "
                                                              "(api-contract 4.3); returning a live token is free")
    exports_per_minute: int = Field(30, ge=1, description="export requests per user per minute")
    uploads_per_minute: int = Field(20, ge=1, description="upload requests per user per minute")
    chat_turns_per_minute: int = Field(10, ge=1, description="chat messages (/run_sse) per user per minute")
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


@lru_cache(maxsize=1)
def get_settings() -> ApiSettings:
    return ApiSettings()
