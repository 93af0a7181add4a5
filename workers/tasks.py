"""The embedded default's render task (run by :mod:`workers.job`): one RenderJob through the engine,
with the paths, settings and codec choice the job carries. A thin adapter: everything below is the
engine's, the same :func:`engine.pipeline.render.render` a farm worker calls."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from engine.job import RenderJob
from engine.media.resolve import MappedResolver
from engine.pipeline.render import render


def render_job(job: RenderJob, on_progress: Callable[[float], None] | None = None,
               cancel: threading.Event | None = None) -> dict[str, Any]:
    """Render one job; returns the RenderResult as a dict, or raises an EngineError."""
    result = render(job.draft, job.output, config=job.engine_config(), resolve=MappedResolver(job.sources),
                    codecs=job.codec_choice(), on_progress=on_progress, cancel=cancel)
    return result.to_dict()
