"""What the routes share, made once per app: settings, the store, the runner, the rate limits, the URL
signer, the retention cleaner. Building it sweeps the scratch folder of what no pending or running job owns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from api.agent.planner import LlmPlanner
from api.chat import Chat
from api.farm import FarmRunner
from api.jobs import RenderRules, Runner
from api.mediagate import MediaGate
from api.ratelimit import RateLimits
from api.retention import Cleaner, Rules, sweep_scratch
from api.settings import ApiSettings
from api.signing import Signer, load_secret
from api.store import Store
from api.webhooks import Deliveries, Policy
from engine.config import EngineConfig
from engine.encode.encoders import CodecChoice
from engine.model.cost import Caps


def runner_for(settings: ApiSettings, store: Store, scratch_root: Path | None = None) -> Runner | FarmRunner:
    """The farm when REELFORGE_REDIS_URL is set, else the embedded default's local workers."""
    rules = RenderRules.of(settings, scratch_root)
    if settings.redis_url:
        return FarmRunner(store, settings.redis_url, settings.job_max_attempts, settings.job_lease_s, rules)
    return Runner(store, settings.local_workers, settings.job_max_attempts, rules)


@dataclass(frozen=True)
class Services:
    settings: ApiSettings
    store: Store
    runner: Runner | FarmRunner
    chat: Chat
    media_gate: MediaGate
    limits: RateLimits
    signer: Signer
    engine: EngineConfig
    codecs: CodecChoice
    media_dir: Path
    outputs_dir: Path
    scratch_dir: Path
    cleaner: Cleaner
    webhooks: Deliveries
    gpu_names: Mapping[int, str]     # the GPUs found at start-up, by CUDA index (the farm page names the one used)

    @classmethod
    def build(cls, settings: ApiSettings, codecs: CodecChoice, gpu_names: Mapping[int, str] | None = None) -> Services:
        data = settings.data_dir.resolve()
        for folder in ("media", "outputs", "scratch"):
            (data / folder).mkdir(parents=True, exist_ok=True)
        store = Store(data / "reelforge.db", history=settings.draft_history_versions)
        rules = Rules.of(settings)
        sweep_scratch(store, data / "scratch", farm=rules.farm, lease_s=rules.lease_s)
        engine = settings.engine_config()
        if engine.work_dir is None:      # renders' scratch space next to the data, not in a small /tmp
            engine = replace(engine, work_dir=data / "scratch")
        llm = (LlmPlanner(settings.llm_url, settings.llm_model, settings.llm_api_key, settings.llm_timeout_s)
               if settings.llm_url else None)
        gate = MediaGate(engine.probe, settings.probe_max_children)
        signer = Signer(load_secret(data / "secret.key"), settings.output_url_ttl_s)
        return cls(settings=settings, store=store,
                   runner=runner_for(settings, store, data / "scratch"),
                   chat=Chat(store, data / "media", settings.sse_heartbeat_s, llm, gate, Caps.of(engine),
                             settings.max_draft_bytes),
                   media_gate=gate,
                   limits=RateLimits.of(settings),
                   signer=signer,
                   engine=engine, codecs=codecs, media_dir=data / "media", outputs_dir=data / "outputs",
                   scratch_dir=data / "scratch",
                   cleaner=Cleaner(store, data, rules, settings.retention_interval_s),
                   webhooks=Deliveries(store, signer, Policy.of(settings)), gpu_names=dict(gpu_names or {}))
