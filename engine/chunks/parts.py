"""Rendering one part of a chunked render, and the whole timeline's sound for the join.

Both are written like any output (:mod:`engine.pipeline.output`): under a temporary name, checked,
then renamed. A part carries its place in the whole (a JSON comment) for the join to check.
"""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

from engine.chunks.plan import CHUNKABLE, Part
from engine.config import EngineConfig
from engine.encode.encoders import CodecChoice
from engine.encode.profiles import AAC_BITRATE, output_args
from engine.errors import OutputMismatch, RenderError
from engine.graph import compile as compiler
from engine.graph.build import Sources, rate
from engine.media.fonts import FontCatalog
from engine.media.resolve import Resolver
from engine.model.draft import parse_draft
from engine.model.timeline import Timeline, build_timeline
from engine.pipeline.assets import prepare_sources
from engine.pipeline.output import Expected, staged_output
from engine.pipeline.render import PREPASS_SHARE, probe_sources
from engine.pipeline.reverse import prepare_reversed
from engine.pipeline.scratch import check_free_space, plan_scratch, scratch_folder
from engine.run import FFmpegCommand, run_ffmpeg

ProgressCallback = Callable[[float], None]
PART_SUFFIX: Final = {"mp4": ".mp4", "gif": ".mkv"}     # the container render_part writes, whatever the name says
PART_CODEC: Final = {"mp4": "h264", "gif": "ffv1"}
PART_TAG: Final = "reelforge-part "                     # the part files' comment: this, then JSON


# ---------------------------------------------------------------- rendering


def scaled(report: ProgressCallback, low: float, high: float) -> ProgressCallback:
    return lambda fraction: report(low + (high - low) * fraction)


def run_step(command: FFmpegCommand, config: EngineConfig, work: Path, cancel: threading.Event | None,
             report: ProgressCallback, low: float, high: float) -> None:
    run_ffmpeg(command, ffmpeg=config.ffmpeg, work_dir=work, timeout_s=config.timeout_s, cancel=cancel,
               on_progress=scaled(report, low, high))


def _timeline(draft: Mapping[str, Any], resolve: Resolver, config: EngineConfig,
              cancel: threading.Event | None) -> Timeline:
    model = parse_draft(draft)
    return build_timeline(model, probe_sources(model, resolve, config.probe, cancel))


def render_part(part: Part, output: str | Path, *, config: EngineConfig, resolve: Resolver, codecs: CodecChoice,
                fonts: FontCatalog | None = None, on_progress: ProgressCallback | None = None,
                cancel: threading.Event | None = None) -> Path:
    """Render one part's picture: MP4 parts as H.264 in MP4 (the whole render's encoder options, no sound),
    GIF parts losslessly (FFV1 in Matroska) at the output size and rate. Written under a temporary name
    beside ``output``, checked (exactly ``part.frames`` frames), then renamed. Returns ``output``."""
    tl = _timeline(part.draft, resolve, config, cancel)
    fmt = tl.output.format
    if fmt not in CHUNKABLE:
        raise RenderError(f"{fmt} output is not rendered in parts; render it whole")
    tl = replace(tl, output=replace(tl.output, audio=False))
    if tl.length != part.frames:
        raise OutputMismatch(f"part {part.index} resolves to {tl.length} frames, not {part.frames}")
    report = on_progress or (lambda _fraction: None)
    decodes_video = any(not v.is_still for v in tl.visuals())
    tag = {"part": part.index, "from": part.start_frame, "to": part.end_frame, "encoder": codecs.encoder,
           "encoder_reason": codecs.encoder_reason, "decoder": codecs.decoder if decodes_video else "none",
           "decoder_reason": codecs.decoder_reason if decodes_video else "no video sources (stills and text only)",
           "scenes": [list(s) for s in part.scenes]}
    want = Expected(tl.canvas.width, tl.canvas.height, part.frames, float(tl.canvas.fps), audio=False, timed=True,
                    exact=True, video_codec=PART_CODEC[fmt])
    plan = plan_scratch(tl, config)
    check_free_space(plan, scratch_folder(config))
    with tempfile.TemporaryDirectory(prefix="reelforge-part-", dir=config.work_dir) as scratch, \
            staged_output(output, want) as out:
        work = Path(scratch)
        sources, _warnings = prepare_sources(tl, work, fonts or FontCatalog.discover(config.font_dirs),
                                             codecs if decodes_video else None, cancel)
        share = PREPASS_SHARE if plan.reversed else 0.0
        if plan.reversed:
            sources = prepare_reversed(tl, sources, list(plan.reversed), work, config,
                                       lambda c, low, high: run_step(c, config, work, cancel, report, low * share,
                                                                     high * share), cancel)
        if fmt == "mp4":
            args = output_args(tl.output, rate(tl.canvas), codecs, config.x264_preset)
            command = compiler.compile_render(tl, sources, args, out.temp)
        else:
            command = compiler.compile_intermediate(tl, sources, out.temp)
        *head, path = command.output_args
        command = replace(command, output_args=(*head, "-metadata", f"comment={PART_TAG}{json.dumps(tag)}", path))
        run_step(command, config, work, cancel, report, share, 0.99)
    report(1.0)
    return out.path


def render_sound(draft: Mapping[str, Any], output: str | Path, *, config: EngineConfig, resolve: Resolver,
                 on_progress: ProgressCallback | None = None, cancel: threading.Event | None = None) -> Path | None:
    """The whole timeline's sound (AAC in MP4), exactly as long as the timeline; None when the output has none."""
    tl = _timeline(draft, resolve, config, cancel)
    if not tl.output.audio:
        return None
    if tl.output.format != "mp4":
        raise RenderError(f"{tl.output.format} output is not rendered in parts; render it whole")
    args = ["-c:a", "aac", "-b:a", AAC_BITRATE[tl.output.quality], "-f", "mp4"]
    fps = float(tl.canvas.fps)
    want = Expected(0, 0, 0, fps, audio=True, timed=True, audio_s=tl.duration_s)
    plan = plan_scratch(tl, config, picture=False)
    check_free_space(plan, scratch_folder(config))
    report = on_progress or (lambda _fraction: None)
    with tempfile.TemporaryDirectory(prefix="reelforge-sound-", dir=config.work_dir) as scratch, \
            staged_output(output, want) as out:
        work = Path(scratch)
        sources, share = Sources({}, {}, {}), PREPASS_SHARE if plan.reversed else 0.0
        if plan.reversed:
            sources = prepare_reversed(tl, sources, list(plan.reversed), work, config,
                                       lambda c, low, high: run_step(c, config, work, cancel, report, low * share,
                                                                     high * share), cancel, picture=False)
        run_step(compiler.compile_sound(tl, args, out.temp, sources), config, work, cancel, report, share, 1.0)
    return out.path
