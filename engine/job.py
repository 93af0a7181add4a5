"""A render job as data: everything a worker needs, in one JSON document.

The API builds it (draft, where each source lies on disk, where the output goes, the engine
settings and the codec choice it made once at start-up); a worker, local or on a farm, turns
it back into a render. Nothing in it refers to the web or to the queue that carried it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from engine.config import EngineConfig, ProbeLimits
from engine.encode.encoders import CodecChoice


@dataclass(frozen=True, slots=True)
class RenderJob:
    job_id: str
    draft: dict[str, Any]
    sources: dict[str, str]                  # a draft's src -> a local file
    output: str                              # where the finished file goes
    config: dict[str, Any] = field(default_factory=dict)    # EngineConfig fields, as JSON
    choice: dict[str, Any] | None = None     # CodecChoice fields; None: the worker detects its own
    data_root: str | None = None             # the directory sources and output lie under, as the API sees it
    duration_s: float | None = None          # the timeline's length, as the API checked it (None: not known)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> RenderJob:
        data = json.loads(text)
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    @staticmethod
    def config_of(config: EngineConfig) -> dict[str, Any]:
        out = asdict(config)
        out["work_dir"] = str(config.work_dir) if config.work_dir else None
        out["font_dirs"] = [str(p) for p in config.font_dirs]
        return out

    def engine_config(self) -> EngineConfig:
        raw = dict(self.config)
        if raw.get("work_dir"):
            raw["work_dir"] = Path(raw["work_dir"])
        if "font_dirs" in raw:
            raw["font_dirs"] = tuple(Path(p) for p in raw["font_dirs"])
        if isinstance(raw.get("probe"), dict):
            raw["probe"] = ProbeLimits(**raw["probe"])
        return EngineConfig(**raw) if raw else EngineConfig.default()

    def codec_choice(self) -> CodecChoice | None:
        return CodecChoice(**self.choice) if self.choice else None
