"""GIF under a size limit: compose once, then try settings until one fits, and say which.

The timeline is composed once into an intermediate at the largest setting the scratch budget
allows (engine/pipeline/scratch.py), as H.264 at qp 0 with inter frames: a frame that repeats the
last costs next to nothing, and it is lossless but for a level on rare blocks. Each try only
resamples that (fps, width) and makes a new palette (colours), which is cheap. Which setting to
try next is gif_ladder.next_point's job: the best-looking one predicted to fit, judged from what
the tries so far weighed. Only the best fitting try so far is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from engine.config import EngineConfig
from engine.encode.profiles import output_args
from engine.errors import TargetSizeUnreachable
from engine.graph import compile as compiler
from engine.graph.build import Sources
from engine.graph.gif import one_pass_fits
from engine.model.canvas import even, frame_rate, rate_text
from engine.model.timeline import Timeline
from engine.pipeline import gif_ladder
from engine.run import FFmpegCommand

Run = Callable[[FFmpegCommand, float, float], None]


def _try(point: gif_ladder.GifPoint, tl: Timeline, mezz: Path, out: Path, work: Path, config: EngineConfig, run: Run,
         progress: tuple[float, float]) -> int:
    """Encode one setting from the intermediate; returns the FFmpeg runs it took."""
    height = even(point.width * tl.canvas.height / tl.canvas.width)
    spec = replace(tl.output, colors=point.colors)
    fps = rate_text(frame_rate(point.fps))
    args = output_args(spec, fps, None, config.x264_preset)
    low, high = progress
    frames = int(tl.duration_s * point.fps) + 1
    if one_pass_fits(spec, point.width, height, frames, config.gif_buffer_mb):
        run(compiler.compile_gif_attempt(mezz, point.width, height, fps, spec, args, out, tl.duration_s), low, high)
        return 1
    palette_png = out.with_suffix(".palette.png")
    run(compiler.compile_gif_palette(mezz, point.width, height, fps, spec, palette_png, tl.duration_s),
        low, (low + high) / 2)
    run(compiler.compile_gif_attempt(mezz, point.width, height, fps, spec, args, out, tl.duration_s,
                                     palette_png=palette_png), (low + high) / 2, high)
    palette_png.unlink()
    return 2


def search_gif_size(tl: Timeline, sources: Sources, config: EngineConfig, temp: Path, work: Path, run: Run,
                    start: gif_ladder.GifPoint | None = None) -> tuple[int, gif_ladder.GifChoice]:
    """Make the best-looking GIF under ``tl.output.max_bytes`` at ``temp``; returns (FFmpeg runs, the choice).

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
    best: tuple[gif_ladder.GifPoint, Path] | None = None     # the best-looking try that fits, so far
    point = gif_ladder.next_point(target, start, tried)
    while point is not None:
        out = work / f"try-{len(tried)}.gif"
        step = 0.5 + 0.45 * len(tried) / gif_ladder.MAX_ATTEMPTS
        passes += _try(point, tl, mezz, out, work, config, run, (step, step + 0.45 / gif_ladder.MAX_ATTEMPTS))
        measured = replace(point, size_bytes=out.stat().st_size)
        tried.append(measured)
        if measured.size_bytes is not None and measured.size_bytes <= target and (
                best is None or gif_ladder.quality(measured, start) > gif_ladder.quality(best[0], start)):
            if best is not None:
                best[1].unlink()
            best = (measured, out)
        else:
            out.unlink()
        point = gif_ladder.next_point(target, start, tried)
    mezz.unlink()
    if best is None:
        smallest = min(tried, key=lambda t: t.size_bytes or 0)
        raise TargetSizeUnreachable(target, smallest.size_bytes or 0, smallest.label())
    chosen, path = best
    path.replace(temp)
    height = even(chosen.width * tl.canvas.height / tl.canvas.width)
    return passes, gif_ladder.GifChoice(chosen.fps, chosen.width, height, chosen.colors, chosen.size_bytes or 0,
                                        target, tuple(tried))
