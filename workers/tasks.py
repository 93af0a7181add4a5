"""What a render process (:mod:`workers.job`) runs: one RenderJob through the engine, or one piece of a
job rendered in parts (a part's picture, or the whole timeline's sound), with the paths, settings and
codec choice the job carries. A thin adapter: everything below is the engine's, the same functions a
farm's chunked tasks and :func:`engine.pipeline.render.render` use."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from engine.chunks import Part, render_part, render_sound
from engine.job import RenderJob
from engine.media.resolve import MappedResolver
from engine.pipeline.render import render

PART, SOUND = "part", "sound"


def render_job(job: RenderJob, on_progress: Callable[[float], None] | None = None,
               cancel: threading.Event | None = None) -> dict[str, Any]:
    """Render one job; returns the RenderResult as a dict, or raises an EngineError."""
    result = render(job.draft, job.output, config=job.engine_config(), resolve=MappedResolver(job.sources),
                    codecs=job.codec_choice(), on_progress=on_progress, cancel=cancel)
    return result.to_dict()


def piece_request(kind: str, job: RenderJob, part: Part | None = None) -> dict[str, Any]:
    """The first line :mod:`workers.job` reads to render one piece of ``job`` into ``job.output``."""
    return {"piece": kind, "job": json.loads(job.to_json()), **({"part": part.to_dict()} if part is not None else {})}


def render_piece(request: Mapping[str, Any], on_progress: Callable[[float], None] | None = None,
                 cancel: threading.Event | None = None) -> dict[str, Any]:
    """Render the piece a :func:`piece_request` asks for; ``{"output": path}`` (None: the timeline has no sound)."""
    job = RenderJob.from_json(json.dumps(request["job"]))
    config, resolve = job.engine_config(), MappedResolver(job.sources)
    if request["piece"] == PART:
        made: Path | None = render_part(Part.from_dict(request["part"]), job.output, config=config, resolve=resolve,
                                        codecs=job.codec_choice(), on_progress=on_progress, cancel=cancel)
    elif request["piece"] == SOUND:
        made = render_sound(job.draft, job.output, config=config, resolve=resolve, on_progress=on_progress,
                            cancel=cancel)
    else:
        raise ValueError(f"no piece {request['piece']!r}")
    return {"output": str(made) if made else None}
