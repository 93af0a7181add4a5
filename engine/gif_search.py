"""GIF under a size limit: compose once, then try settings until one fits, and say which.

The timeline is composed once into a lossless intermediate at the largest setting; each try
only resamples that (fps, width) and makes a new palette (colours), which is cheap. Which
setting to try next is gif.next_point's job: the best-looking one predicted to fit, judged
from what the tries so far weighed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from engine import compile as compiler
from engine import gif
from engine.config import EngineConfig
from engine.errors import TargetSizeUnreachable
from engine.profiles import output_args
from engine.run import FFmpegCommand
from engine.timeline import Timeline, even
from engine.video_graph import Sources

Run = Callable[[FFmpegCommand, float, float], Any]


def _rate(fps: float) -> str:
    value = Fraction(str(fps)).limit_denominator(1001)
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def search_gif_size(tl: Timeline, sources: Sources, config: EngineConfig, temp: Path, work: Path, run: Run,
                    report: Callable[[float], None]) -> tuple[int, dict[str, Any]]:
    spec = tl.output
    assert spec.max_bytes is not None
    target = spec.max_bytes
    mezz = work / "composed.mkv"
    run(compiler.compile_intermediate(tl, sources, mezz), 0.0, 0.5)
    start = gif.GifPoint(float(tl.canvas.fps), tl.canvas.width, spec.colors)
    tried: list[gif.GifPoint] = []
    files: dict[tuple[float, int, int], Path] = {}
    point: gif.GifPoint | None = start
    passes = 1
    while point is not None:
        height = even(point.width * tl.canvas.height / tl.canvas.width)
        attempt_spec = replace(spec, colors=point.colors)
        fps = _rate(point.fps)
        out = work / f"try-{len(tried)}.gif"
        args = output_args(attempt_spec, fps, None, config.x264_preset)
        frames = int(tl.duration_s * point.fps) + 1
        step = 0.5 + 0.45 * len(tried) / gif.MAX_ATTEMPTS
        if gif.one_pass_fits(attempt_spec, point.width, height, frames, config.gif_buffer_mb):
            run(compiler.compile_gif_attempt(mezz, point.width, height, fps, attempt_spec, args, out, tl.duration_s),
                step, step + 0.05)
            passes += 1
        else:
            pal = work / f"palette-{len(tried)}.png"
            run(compiler.compile_gif_palette(mezz, point.width, height, fps, attempt_spec, pal, tl.duration_s),
                step, step + 0.02)
            run(compiler.compile_gif_attempt(mezz, point.width, height, fps, attempt_spec, args, out, tl.duration_s,
                                             palette_png=pal), step + 0.02, step + 0.05)
            passes += 2
        measured = replace(point, size_bytes=out.stat().st_size)
        tried.append(measured)
        files[(point.fps, point.width, point.colors)] = out
        point = gif.next_point(target, start, tried)
    fitting = [t for t in tried if t.size_bytes is not None and t.size_bytes <= target]
    attempts = [{"fps": t.fps, "width": t.width, "colors": t.colors, "size_bytes": t.size_bytes} for t in tried]
    if not fitting:
        smallest = min(tried, key=lambda t: t.size_bytes or 0)
        raise TargetSizeUnreachable(target, smallest.size_bytes or 0, smallest.label())
    best = max(fitting, key=lambda t: gif.quality(t, start))
    files[(best.fps, best.width, best.colors)].replace(temp)
    report(0.99)
    height = even(best.width * tl.canvas.height / tl.canvas.width)
    return passes, {"fps": best.fps, "width": best.width, "height": height, "colors": best.colors,
                    "size_bytes": best.size_bytes, "target_bytes": target, "attempts": attempts, "loop": spec.loop,
                    "dither": spec.dither, "stats": spec.stats, "chosen": best.label()}

