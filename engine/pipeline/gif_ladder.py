"""GIF size targets as numbers: the settings a search may try, how good each looks, and how big
each is predicted to be from the tries so far. Pure: :mod:`engine.pipeline.gif_size` runs the tries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

from engine.model.canvas import OutputSpec
from engine.model.timeline import Timeline


@dataclass(frozen=True, slots=True)
class GifPoint:
    """One setting of the size search, and what it gave."""

    fps: float
    width: int
    colors: int
    size_bytes: int | None = None

    def label(self) -> str:
        return f"{self.width} px, {self.fps:g} fps, {self.colors} colours"

    def to_dict(self) -> dict[str, Any]:
        return {"fps": self.fps, "width": self.width, "colors": self.colors, "size_bytes": self.size_bytes}


@dataclass(frozen=True, slots=True)
class GifChoice:
    """The setting a size search settled on, and every try on the way."""

    fps: float
    width: int
    height: int
    colors: int
    size_bytes: int
    target_bytes: int
    attempts: tuple[GifPoint, ...]

    def report(self, spec: OutputSpec) -> dict[str, Any]:
        return {"fps": self.fps, "width": self.width, "height": self.height, "colors": self.colors,
                "size_bytes": self.size_bytes, "target_bytes": self.target_bytes, "loop": spec.loop,
                "dither": spec.dither, "stats": spec.stats, "attempts": [a.to_dict() for a in self.attempts],
                "chosen": GifPoint(self.fps, self.width, self.colors).label()}


def settings_report(tl: Timeline, size_bytes: int) -> dict[str, Any]:
    """What a GIF without a size target was made with."""
    spec = tl.output
    return {"fps": float(tl.canvas.fps), "width": tl.canvas.width, "height": tl.canvas.height, "colors": spec.colors,
            "size_bytes": size_bytes, "target_bytes": None, "loop": spec.loop, "dither": spec.dither,
            "stats": spec.stats, "attempts": []}


WIDTH_STEPS: Final = (1.0, 0.85, 0.72, 0.6, 0.5, 0.42, 0.35, 0.28, 0.22)
FPS_STEPS: Final = (30.0, 25.0, 20.0, 15.0, 12.5, 10.0, 8.0, 6.0)
CHOPPY_FPS: Final = 10.0
COLOR_STEPS: Final = (256, 192, 128, 96, 64, 48, 32, 16)
MIN_WIDTH: Final = 64
MAX_ATTEMPTS: Final = 7
AIM: Final = 0.92   # aim a little under the target: predictions are estimates


def quality(p: GifPoint, start: GifPoint) -> float:
    """How much of the start point a setting keeps: width matters most, colours least, and motion
    below 10 fps starts to stutter, so it costs more there."""
    choppy = min(1.0, p.fps / CHOPPY_FPS) ** 1.5
    return (p.width / start.width) * (p.fps / start.fps) ** 0.6 * choppy * (p.colors / start.colors) ** 0.12


DEFAULT_WIDTH_EXPONENT: Final = 1.7   # GIF bytes grow a little slower than pixel count (dither, headers)


def width_exponent(measured: list[GifPoint]) -> float:
    """How bytes grow with width, learnt from two tries that differ only in width, else a default."""
    for a in measured:
        for b in measured:
            if (a.fps, a.colors) == (b.fps, b.colors) and a.width > b.width and a.size_bytes and b.size_bytes:
                return min(2.5, max(1.0, math.log(a.size_bytes / b.size_bytes) / math.log(a.width / b.width)))
    return DEFAULT_WIDTH_EXPONENT


def predicted_size(p: GifPoint, ref: GifPoint, exponent: float = DEFAULT_WIDTH_EXPONENT) -> float:
    """Bytes, scaled from a measured point: pixels per frame, frames per second, bits per pixel."""
    assert ref.size_bytes is not None
    bits = (0.55 + 0.45 * _log2(p.colors) / 8) / (0.55 + 0.45 * _log2(ref.colors) / 8)
    return ref.size_bytes * (p.width / ref.width) ** exponent * (p.fps / ref.fps) * bits


def _log2(n: int) -> float:
    return n.bit_length() - 1 + (0.0 if n & (n - 1) == 0 else 0.5)


def ladder(start: GifPoint) -> list[GifPoint]:
    widths = sorted({max(MIN_WIDTH, int(start.width * s) // 2 * 2) for s in WIDTH_STEPS} | {start.width}, reverse=True)
    fpss = sorted({f for f in FPS_STEPS if f < start.fps} | {start.fps}, reverse=True)
    colors = sorted({c for c in COLOR_STEPS if c < start.colors} | {start.colors}, reverse=True)
    return [GifPoint(f, w, c) for w in widths if w <= start.width for f in fpss for c in colors]


def next_point(target: int, start: GifPoint, tried: list[GifPoint]) -> GifPoint | None:
    """The best-looking untried setting predicted to fit, judged from the closest measured one.

    None when a tried setting already fits and nothing better is predicted to, or when the
    attempts are used up.
    """
    if len(tried) >= MAX_ATTEMPTS:
        return None
    measured = [t for t in tried if t.size_bytes is not None]
    fitting = [t for t in measured if t.size_bytes is not None and t.size_bytes <= target]
    best_fit = max((quality(t, start) for t in fitting), default=0.0)
    seen = {(t.fps, t.width, t.colors) for t in tried}
    options = [p for p in ladder(start) if (p.fps, p.width, p.colors) not in seen]
    if not options or not measured:
        return None if measured else start

    exponent = width_exponent(measured)

    def estimate(p: GifPoint) -> float:
        ref = min(measured, key=lambda t: abs(t.width - p.width) / start.width + abs(t.fps - p.fps) / start.fps)
        return predicted_size(p, ref, exponent)

    under = [p for p in options if estimate(p) <= target * AIM and quality(p, start) > best_fit * 1.02]
    if under:
        return max(under, key=lambda p: quality(p, start))
    if fitting:
        return None
    return min(options, key=estimate)
