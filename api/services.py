"""What the routes share, made once per app: settings, the store, the runner, the URL signer."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from api.agent.planner import LlmPlanner
from api.chat import Chat
from api.farm import FarmRunner
from api.jobs import Runner
from api.ratelimit import RateLimiter
from api.settings import ApiSettings
from api.signing import Signer, load_secret
from api.store import Store
from engine.config import EngineConfig
from engine.encode.encoders import CodecChoice
from engine.model.cost import Caps


def runner_for(settings: ApiSettings, store: Store) -> Runner | FarmRunner:
    """The farm when REELFORGE_REDIS_URL is set, else the embedded default's local workers."""
    if settings.redis_url:
        return FarmRunner(store, settings.redis_url, settings.job_max_attempts, settings.job_lease_s)
    return Runner(store, settings.local_workers, settings.job_max_attempts)


@dataclass(frozen=True)
class Services:
    settings: ApiSettings
    store: Store
    runner: Runner | FarmRunner
    chat: Chat
    token_limiter: RateLimiter
    signer: Signer
    engine: EngineConfig
    codecs: CodecChoice
    media_dir: Path
    outputs_dir: Path
    scratch_dir: Path

    @classmethod
    def build(cls, settings: ApiSettings, codecs: CodecChoice) -> Services:
        data = settings.data_dir.resolve()
        for folder in ("media", "outputs", "scratch"):
            (data / folder).mkdir(parents=True, exist_ok=True)
        store = Store(data / "reelforge.db")
        engine = settings.engine_config()
        if engine.work_dir is None:      # renders' scratch space next to the data, not in a small /tmp
            engine = replace(engine, work_dir=data / "scratch")
        llm = (LlmPlanner(settings.llm_url, settings.llm_model, settings.llm_api_key, settings.llm_timeout_s)
               if settings.llm_url else None)
        return cls(settings=settings, store=store,
                   runner=runner_for(settings, store),
                   chat=Chat(store, data / "media", settings.sse_heartbeat_s, llm, Caps.of(engine)),
                   token_limiter=RateLimiter(settings.token_requests_per_minute),
                   signer=Signer(load_secret(data / "secret.key"), settings.output_url_ttl_s),
                   engine=engine, codecs=codecs, media_dir=data / "media", outputs_dir=data / "outputs",
                   scratch_dir=data / "scratch")
