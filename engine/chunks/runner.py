"""A chunked render in one process: the single-machine reference for a render farm's chord."""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from engine.chunks.join import join_parts
from engine.chunks.parts import PART_SUFFIX, ProgressCallback, render_part, render_sound, scaled
from engine.chunks.plan import plan_parts
from engine.config import EngineConfig
from engine.encode.encoders import CodecChoice
from engine.media.fonts import FontCatalog
from engine.media.resolve import Resolver
from engine.model.cost import Caps, check_cost
from engine.model.draft import parse_draft
from engine.model.timeline import build_timeline
from engine.pipeline.render import RenderResult, probe_sources, render
from engine.pipeline.scratch import check_free_space, plan_chunked, scratch_folder


def render_chunked(draft: Mapping[str, Any], output: str | Path, *, config: EngineConfig, resolve: Resolver,
                   codecs: CodecChoice, chunk_s: float, fonts: FontCatalog | None = None,
                   on_progress: ProgressCallback | None = None, cancel: threading.Event | None = None) -> RenderResult:
    """Plan, render every part (one after another, in this process), the sound, and join: the single-machine
    reference for a distributed render. A plan of one part is simply :func:`engine.pipeline.render`."""
    started = time.monotonic()
    model = parse_draft(draft)
    media = probe_sources(model, resolve, config.probe, cancel)
    tl = build_timeline(model, media)
    check_cost(model, tl, media, Caps.of(config))
    parts = plan_parts(draft, media, chunk_s)
    if len(parts) == 1:
        return render(model, output, config=config, resolve=resolve, codecs=codecs, fonts=fonts,
                      on_progress=on_progress, cancel=cancel)
    check_free_space(plan_chunked(tl, config), scratch_folder(config))
    fonts = fonts or FontCatalog.discover(config.font_dirs)
    report = on_progress or (lambda _fraction: None)
    with tempfile.TemporaryDirectory(prefix="reelforge-chunks-", dir=config.work_dir) as scratch:
        work = Path(scratch)
        files = []
        for part in parts:
            share = scaled(report, 0.8 * part.start_frame / tl.length, 0.8 * part.end_frame / tl.length)
            files.append(render_part(part, work / f"part-{part.index:04d}{PART_SUFFIX[tl.output.format]}",
                                     config=config, resolve=resolve, codecs=codecs, fonts=fonts, cancel=cancel,
                                     on_progress=share))
        sound = render_sound(draft, work / "sound.m4a", config=config, resolve=resolve, cancel=cancel,
                             on_progress=scaled(report, 0.8, 0.9))
        result = join_parts(draft, files, sound, output, config=config, frames=tl.length, cancel=cancel,
                            on_progress=scaled(report, 0.9, 1.0))
    return replace(result, elapsed_s=time.monotonic() - started, warnings=(*tl.warnings, *result.warnings),
                   passes=result.passes + len(parts) + (sound is not None))
