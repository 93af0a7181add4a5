"""GIF under a size limit: compose once, then try settings until one fits, and say which.

The timeline is composed once into an intermediate at the largest setting the scratch budget
allows (engine/pipeline/scratch.py), as H.264 at qp 0 with inter frames: a frame that repeats the
last costs next to nothing, and it is lossless but for a level on rare blocks. Each try only
resamples that (fps, width) and makes a new palette (colours), which is cheap. Which setting to
try next is gif_ladder.next_point's job: the best-looking one predicted to fit, judged from what
the tries so far weighed. Only the best fitting try so far is kept.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from engine.config import EngineConfig
from engine.encode.profiles import output_args
from engine.errors import TargetSizeUnreachable
from engine.graph import compile as compiler
from engine.graph.build import Sources
from engine.graph.gif import one_pass_fits
from engine.model.canvas import OutputSpec, even, frame_rate, rate_text
from engine.model.scenes import Scene, planned_scenes, rescaled
from engine.model.timeline import Timeline
from engine.pipeline import gif_ladder, gif_scenes
from engine.run import FFmpegCommand

Run = Callable[[FFmpegCommand, float, float], None]
# a scene-by-scene GIF of these frames at this path, its progress between the two fractions
EncodeScenes = Callable[[gif_scenes.FrameSource, Sequence[Scene], OutputSpec, Path, float, float], gif_scenes.SceneGif]


def resampled_frames(length: int, fps: Fraction, to: Fraction) -> int:
    """Frames ``length`` frames at ``fps`` make at rate ``to``: every whole output frame time inside them."""
    return max(1, math.floor(length * to / fps))


def _try(point: gif_ladder.GifPoint, tl: Timeline, mezz: Path, out: Path, config: EngineConfig, run: Run,
         progress: tuple[float, float], by_scene: EncodeScenes) -> tuple[int, dict[str, Any]]:
    """Encode one setting from the intermediate; returns (FFmpeg runs, what a scene-by-scene GIF reports)."""
    height = even(point.width * tl.canvas.height / tl.canvas.width)
    spec = replace(tl.output, colors=point.colors)
    rate = frame_rate(point.fps)
    fps = rate_text(rate)
    low, high = progress
    if gif_scenes.by_scene(spec):
        frames = resampled_frames(tl.length, tl.canvas.fps, rate)
        source = gif_scenes.FrameSource(
            compiler.compile_raw_resampled(mezz, point.width, height, fps, tl.duration_s, frames),
            point.width, height, rate, frames)
        scenes = rescaled(planned_scenes(tl), float(rate / tl.canvas.fps), frames)
        made = by_scene(source, scenes, spec, out, low, high)
        return made.passes, made.report() | {"frames": made.frames}
    args = output_args(spec, fps, None, config.x264_preset)
    frames = int(tl.duration_s * point.fps) + 1
    if one_pass_fits(spec, point.width, height, frames, config.gif_buffer_mb):
        run(compiler.compile_gif_attempt(mezz, point.width, height, fps, spec, args, out, tl.duration_s), low, high)
        return 1, {}
    palette_png = out.with_suffix(".palette.png")
    run(compiler.compile_gif_palette(mezz, point.width, height, fps, spec, palette_png, tl.duration_s),
        low, (low + high) / 2)
    run(compiler.compile_gif_attempt(mezz, point.width, height, fps, spec, args, out, tl.duration_s,
                                     palette_png=palette_png), (low + high) / 2, high)
    palette_png.unlink()
    return 2, {}


def search_gif_size(tl: Timeline, sources: Sources, config: EngineConfig, temp: Path, work: Path, run: Run,
                    by_scene: EncodeScenes, start: gif_ladder.GifPoint | None = None,
                    ) -> tuple[int, gif_ladder.GifChoice, dict[str, Any]]:
    """Make the best-looking GIF under ``tl.output.max_bytes`` at ``temp``; returns (FFmpeg runs, the choice,
    the chosen try's scenes report with its ``frames``; empty for one palette).

    ``start``: the first setting, which the intermediate is made at (default: the canvas's size and rate)."""
    target = tl.output.max_bytes
    assert target is not None
    full = gif_ladder.GifPoint(float(tl.canvas.fps), tl.canvas.width, tl.output.colors)
    start = start or full
    mezz = work / "composed.mkv"
    resample = None
    if (start.width, start.fps) != (full.width, full.fps):
        height = even(start.width * tl.canvas.height / tl.canvas.width)
        resample = (start.width, height, rate_text(frame_rate(start.fps)))
    run(compiler.compile_intermediate(tl, sources, mezz, compiler.X264_QP0, resample), 0.0, 0.5)
    passes = 1
    tried: list[gif_ladder.GifPoint] = []
    best: tuple[gif_ladder.GifPoint, Path, dict[str, Any]] | None = None     # the best-looking try that fits, so far
    point = gif_ladder.next_point(target, start, tried)
    while point is not None:
        out = work / f"try-{len(tried)}.gif"
        step = 0.5 + 0.45 * len(tried) / gif_ladder.MAX_ATTEMPTS
        runs, scenes = _try(point, tl, mezz, out, config, run, (step, step + 0.45 / gif_ladder.MAX_ATTEMPTS), by_scene)
        passes += runs
        measured = replace(point, size_bytes=out.stat().st_size)
        tried.append(measured)
        if measured.size_bytes is not None and measured.size_bytes <= target and (
                best is None or gif_ladder.quality(measured, start) > gif_ladder.quality(best[0], start)):
            if best is not None:
                best[1].unlink()
            best = (measured, out, scenes)
        else:
            out.unlink()
        point = gif_ladder.next_point(target, start, tried)
    mezz.unlink()
    if best is None:
        smallest = min(tried, key=lambda t: t.size_bytes or 0)
        raise TargetSizeUnreachable(target, smallest.size_bytes or 0, smallest.label())
    chosen, path, scenes = best
    path.replace(temp)
    height = even(chosen.width * tl.canvas.height / tl.canvas.width)
    return passes, gif_ladder.GifChoice(chosen.fps, chosen.width, height, chosen.colors, chosen.size_bytes or 0,
                                        target, tuple(tried)), scenes
