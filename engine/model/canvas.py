"""The canvas and the output: sizes, frame rate, and what file to make.

Rules decided here, once:
- The canvas is ``m.width`` x ``m.height``, else the ``m.aspect`` preset (16:9 1920x1080,
  9:16 1080x1920, 1:1 1080x1080, 4:5 1080x1350), else the shape of the first picture, else
  1080x1920; never over 1920 on the long side or 1080 on the short; always even.
- The output scales the canvas: ``out.width``, else ``out.resolution`` (the short side), else
  480 px wide for GIF and WebP; ``scale`` carries that to text sizes and strokes.
- The rate is ``out.fps``, else ``m.fps`` (at most 15 for GIF and WebP), as an exact fraction.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Final, Literal

from PIL import ImageColor

from engine.model.draft import ASPECTS, Draft
from engine.model.mediainfo import MediaInfo

MAX_LONG_SIDE: Final = 1920
MAX_SHORT_SIDE: Final = 1080
ANIMATED_DEFAULT_WIDTH: Final = 480
ANIMATED_DEFAULT_FPS: Final = 15
RESOLUTIONS: Final = {"360p": 360, "480p": 480, "540p": 540, "720p": 720, "1080p": 1080}

RGB = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class Canvas:
    width: int
    height: int
    fps: Fraction
    bg: RGB
    safe: float
    scale: float            # output pixels per draft pixel (text sizes, strokes)

    def frame(self, ms: int) -> int:
        """The frame index at a time in ms: round half up."""
        return int(Fraction(ms) * self.fps / 1000 + Fraction(1, 2))

    def seconds(self, frames: int) -> float:
        return float(frames / self.fps)


@dataclass(frozen=True, slots=True)
class OutputSpec:
    format: Literal["mp4", "gif", "webm", "webp"]
    quality: Literal["high", "medium", "low"]
    audio: bool
    loop: int
    max_bytes: int | None
    colors: int
    dither: str
    bayer_scale: int
    stats: str                 # palettegen statistics: "full" or "diff"
    palette: str = "scenes"    # "scenes", "clip" or "frame": how many palettes a GIF gets
    loop_seam: str = "none"    # "none", "auto" or "crossfade"
    loop_seam_ms: int = 400
    stabilize: int = 0         # levels a pixel may change and still be held (GIF scene router)


@dataclass(frozen=True, slots=True)
class Rect:
    x: int
    y: int
    w: int
    h: int


def rgb(color: str) -> RGB:
    r, g, b, *_ = ImageColor.getrgb(color)
    return (r, g, b)


def even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


# ---------------------------------------------------------------- canvas and output


def frame_rate(value: float) -> Fraction:
    """A rate as an exact fraction; 23.976, 29.97 and 59.94 are the NTSC rates (24, 30, 60) * 1000/1001."""
    ntsc = round(value * 1.001)
    if abs(value - ntsc / 1.001) < 0.005 and abs(value - round(value)) > 0.005:
        return Fraction(ntsc * 1000, 1001)
    return Fraction(str(value)).limit_denominator(1001)


def rate_text(value: Fraction) -> str:
    """A rate as FFmpeg reads it: "30" or "30000/1001"."""
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def fit_within_limits(width: float, height: float) -> tuple[float, float]:
    """``width`` x ``height`` shrunk (never grown) to at most 1920 on the long side and 1080 on the short."""
    long_side, short_side = max(width, height), min(width, height)
    shrink = min(1.0, MAX_LONG_SIDE / long_side, MAX_SHORT_SIDE / short_side)
    return width * shrink, height * shrink


def design_size(draft: Draft, first_visual: MediaInfo | None) -> tuple[int, int]:
    m = draft.m
    if m.width and m.height:
        return even(m.width), even(m.height)
    if m.aspect:
        ratio = Fraction(*map(int, m.aspect.split(":")))
    elif first_visual is not None and first_visual.width and first_visual.height:
        ratio = Fraction(first_visual.width, first_visual.height)
    else:
        ratio = Fraction(9, 16)
    if m.width:
        w, h = float(m.width), float(m.width / ratio)
    elif m.height:
        w, h = float(m.height * ratio), float(m.height)
    elif m.aspect:
        w, h = ASPECTS[m.aspect]
    elif first_visual is not None and first_visual.width and first_visual.height:
        w, h = float(first_visual.width), float(first_visual.height)
    else:
        w, h = 1080.0, 1920.0
    w, h = fit_within_limits(w, h)
    return even(w), even(h)


def resolve_canvas(draft: Draft, first_visual: MediaInfo | None) -> tuple[Canvas, OutputSpec]:
    m, out = draft.m, draft.m.out
    dw, dh = design_size(draft, first_visual)
    animated = out.format in ("gif", "webp")
    if out.width:
        scale = out.width / dw
    elif out.resolution:
        scale = RESOLUTIONS[out.resolution] / min(dw, dh)
    elif animated and dw > ANIMATED_DEFAULT_WIDTH:
        scale = ANIMATED_DEFAULT_WIDTH / dw
    else:
        scale = 1.0
    ow, oh = fit_within_limits(dw * scale, dh * scale)
    ow, oh = even(max(16, ow)), even(max(16, oh))
    fps = frame_rate(out.fps or (min(m.fps, ANIMATED_DEFAULT_FPS) if animated else m.fps))
    canvas = Canvas(ow, oh, fps, rgb(m.bg), m.safe, ow / dw)
    spec = OutputSpec(
        format=out.format, quality=out.quality, audio=bool(out.audio) if out.format in ("mp4", "webm") else False,
        loop=out.loop, max_bytes=int(out.max_mb * 1_000_000) if out.max_mb else None, colors=out.colors,
        dither=out.dither, bayer_scale=out.bayer_scale, stats="diff" if out.stats == "scene" else out.stats,
        palette="frame" if out.stats == "scene" else out.palette, loop_seam=out.loop_seam,
        loop_seam_ms=out.loop_seam_ms, stabilize=out.stabilize,
    )
    return canvas, spec
