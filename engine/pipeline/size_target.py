"""Size targets (``m.out.max_mb``) for every format: what to try, and when to give up.

The target wins over ``quality``: quality only chooses among settings that fit.

MP4 and WebM (:func:`plan_video`): the bits are budgeted from the timeline's length (container
overhead, then sound at a fixed modest rate, the rest for the picture); the largest rung of a
ladder (the canvas's shape at short side 1080/720/540/480/360/240, fps as it is or 24 or 15) whose
bits per pixel stay sane is chosen, and encoded at the quality's own CRF with a VBV cap
(``-maxrate``/``-bufsize``): a file that the quality's CRF would make smaller stays as it is, a
larger one is held to the budget. The file is then weighed: over the target, the cap is scaled by
target/actual * 0.95 and tried again, then a lower rung; never more than :data:`MAX_TRIES`, and
never a file over the target (TargetSizeUnreachable). A target that not even the lowest rung could
meet is refused before anything is encoded (DraftError at ``m.out.max_mb``).

WebP (:func:`plan_webp`): the quality's own setting first, then each try a step lower in quality
and smaller in width (then fps) by how far the last one missed. GIF: :mod:`engine.pipeline.gif_size`.
Pure: render.py runs the encodes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, Final

from engine.encode.profiles import BitrateCap
from engine.errors import DraftError, Issue, TargetSizeUnreachable
from engine.model.canvas import OutputSpec, even
from engine.model.draft import Draft
from engine.model.mediainfo import MediaInfo
from engine.model.timeline import Timeline, build_timeline

SHORT_SIDES: Final = (1080, 720, 540, 480, 360, 240)
FPS_STEPS: Final = (30, 24, 15)
AUDIO_BPS: Final = {"mp4": (96_000, 48_000), "webm": (64_000, 32_000)}   # normal, and when the budget is tight
AUDIO_SHARE_MAX: Final = 0.3            # sound takes at most this share of the budget at its normal rate
CONTAINER_SHARE: Final = 0.025          # of the target, for the container (index, headers, packet overhead)
CONTAINER_BYTES: Final = 4_000
SANE_BPP: Final = {"mp4": 0.08, "webm": 0.06}    # the largest rung with at least this many bits per pixel is chosen
FLOOR_BPP: Final = 0.004                # below this at the lowest rung (stills compress this well), refused up front
MIN_VIDEO_BPS: Final = 8_000
BUFFER_S: Final = 1.0                   # the VBV buffer, in seconds of the cap (less for clips under 4 s)
INITIAL_FILL: Final = 0.9               # x264/NVENC start with the buffer this full: it adds to the bits spent
RETRY_MARGIN: Final = 0.95
MAX_TRIES: Final = 3
LOWER_RUNG: Final = 0.8                 # a lower rung carries at most this share of the pixel rate

VIDEO_FORMATS: Final = ("mp4", "webm")


def applies(spec: OutputSpec) -> bool:
    return spec.max_bytes is not None


@dataclass(frozen=True, slots=True)
class Rung:
    """One picture setting: the output size and rate."""

    width: int
    height: int
    fps: Fraction

    @property
    def pixel_rate(self) -> float:
        return self.width * self.height * float(self.fps)

    def label(self) -> str:
        return f"{self.width}x{self.height}, {float(self.fps):g} fps"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One encode of the search, and what it weighed."""

    rung: Rung
    cap: BitrateCap
    quality: int | None = None     # WebP's -quality; None for MP4/WebM (the spec's CRF)
    size_bytes: int | None = None

    def label(self) -> str:
        rate = f", {self.cap.video_bps / 1000:.0f} kb/s" if self.cap.video_bps else ""
        return self.rung.label() + rate + (f", quality {self.quality}" if self.quality is not None else "")

    def to_dict(self) -> dict[str, Any]:
        return {"width": self.rung.width, "height": self.rung.height, "fps": float(self.rung.fps),
                "video_kbps": round(self.cap.video_bps / 1000, 1) or None,
                "audio_kbps": round(self.cap.audio_bps / 1000, 1) if self.cap.audio_bps else None,
                "quality": self.quality, "size_bytes": self.size_bytes}


@dataclass(frozen=True, slots=True)
class Plan:
    """A size search's fixed facts: the target, the length, the rungs in order of preference."""

    format: str
    target_bytes: int
    duration_s: float
    rungs: tuple[Rung, ...]
    audio_bps: int | None
    first: Attempt

    def report(self, tries: list[Attempt]) -> dict[str, Any]:
        """What the render result says: the setting kept (the last try) and every try."""
        chosen = tries[-1]
        return {**chosen.to_dict(), "target_bytes": self.target_bytes, "chosen": chosen.label(),
                "attempts": [t.to_dict() for t in tries]}


# ---------------------------------------------------------------- the ladder and the budget


def ladder(width: int, height: int, fps: Fraction) -> tuple[Rung, ...]:
    """The canvas and its smaller rungs, same shape, best-looking first: the short side counts most, and
    15 fps only where it leaves more pixels than a smaller size at full motion would."""
    short = min(width, height)
    sides = [short, *(s for s in SHORT_SIDES if s < short)]
    rates = [fps, *(Fraction(f) for f in FPS_STEPS if f < fps - Fraction(1, 100))]
    rungs = {Rung(even(width * s / short), even(height * s / short), r) for s in sides for r in rates}

    def looks(r: Rung) -> tuple[float, float]:
        return (min(r.width, r.height) * (1.0 if r.fps >= 24 or r.fps == fps else 0.6), float(r.fps))

    return tuple(sorted(rungs, key=looks, reverse=True))


def _usable_bits(target_bytes: int) -> float:
    return max(0.0, target_bytes * (1 - CONTAINER_SHARE) - CONTAINER_BYTES) * 8


def _buffer_s(duration_s: float) -> float:
    return min(BUFFER_S, duration_s / 4)


def _video_cap(video_bits: float, duration_s: float, audio_bps: int | None) -> BitrateCap:
    """The cap whose worst case (the whole length at the cap, plus the buffer's start fill) spends ``video_bits``."""
    buffer_s = _buffer_s(duration_s)
    rate = max(0.0, video_bits / (duration_s + INITIAL_FILL * buffer_s))
    return BitrateCap(int(rate), int(rate * buffer_s), audio_bps)


def _audio_bps(spec: OutputSpec, usable_bps: float) -> int | None:
    if not spec.audio:
        return None
    normal, tight = AUDIO_BPS[spec.format]
    return normal if normal <= usable_bps * AUDIO_SHARE_MAX else tight


def _unreachable(spec: OutputSpec, duration_s: float, smallest: str, need_bytes: float) -> DraftError:
    assert spec.max_bytes is not None
    mb = max(0.01, math.ceil(need_bytes / 10_000) / 100)
    return DraftError([Issue(
        "m.out.max_mb", "size_reachable",
        f"max_mb {spec.max_bytes / 1e6:g} cannot hold {duration_s:.1f} s of {spec.format}: even at "
        f"{smallest} it needs about {mb:g} MB; raise max_mb to at least {mb:g} or shorten the timeline")])


def plan_video(tl: Timeline) -> Plan:
    """The first encode of an MP4/WebM size search, or DraftError when the target cannot be met at all."""
    return plan_video_for(tl.output, tl.duration_s, tl.canvas.width, tl.canvas.height, tl.canvas.fps)


def plan_video_for(spec: OutputSpec, duration_s: float, width: int, height: int, fps: Fraction) -> Plan:
    """:func:`plan_video` from the facts it needs: the output, the length, the output canvas."""
    assert spec.max_bytes is not None and spec.format in VIDEO_FORMATS
    duration = max(duration_s, 1e-3)
    usable = _usable_bits(spec.max_bytes)
    audio = _audio_bps(spec, usable / duration)
    video_bits = usable - (audio or 0) * duration
    rungs = ladder(width, height, fps)
    cap = _video_cap(video_bits, duration, audio)
    smallest = min(rungs, key=lambda r: r.pixel_rate)
    floor_bps = max(MIN_VIDEO_BPS, FLOOR_BPP * smallest.pixel_rate)
    if cap.video_bps < floor_bps:
        need = ((floor_bps * (duration + INITIAL_FILL * _buffer_s(duration)) + (audio or 0) * duration) / 8
                + CONTAINER_BYTES) / (1 - CONTAINER_SHARE)
        raise _unreachable(spec, duration, smallest.label(), need)
    rung = next((r for r in rungs if cap.video_bps / r.pixel_rate >= SANE_BPP[spec.format]), smallest)
    return Plan(spec.format, spec.max_bytes, duration, rungs, audio, Attempt(rung, cap))


def retry(plan: Plan, tried: list[Attempt]) -> Attempt | None:
    """The next encode after ``tried`` (the last one weighed): None when the last fits.

    Raises TargetSizeUnreachable when the tries are used up and none fits (nothing is kept)."""
    last = tried[-1]
    assert last.size_bytes is not None
    if last.size_bytes <= plan.target_bytes:
        return None
    if len(tried) >= MAX_TRIES:
        smallest = min(tried, key=lambda t: t.size_bytes or 0)
        raise TargetSizeUnreachable(plan.target_bytes, smallest.size_bytes or 0, smallest.label())
    # the sound does not shrink with the picture's cap: scale only what the picture spent
    sound = (last.cap.audio_bps or 0) * plan.duration_s / 8
    scale = (plan.target_bytes * RETRY_MARGIN - sound) / max(1.0, last.size_bytes - sound)
    scale = min(RETRY_MARGIN, max(0.05, scale))
    cap = replace(last.cap, video_bps=int(last.cap.video_bps * scale), buffer_bits=int(last.cap.buffer_bits * scale))
    if len(tried) == 1:
        return Attempt(last.rung, cap)
    lower = next((r for r in plan.rungs if r.pixel_rate <= last.rung.pixel_rate * LOWER_RUNG), last.rung)
    return Attempt(lower, cap)


# ---------------------------------------------------------------- WebP

WEBP_QUALITY_STEPS: Final = (80, 70, 55, 40, 30)
WEBP_MIN_WIDTH: Final = 64
WEBP_MAX_TRIES: Final = 5
WEBP_AIM: Final = 0.9


def plan_webp(tl: Timeline, quality: int) -> Plan:
    """The first WebP try: the quality's own setting at the output's size and rate."""
    spec = tl.output
    assert spec.max_bytes is not None
    check_animated_floor(tl)
    rung = Rung(tl.canvas.width, tl.canvas.height, tl.canvas.fps)
    first = Attempt(rung, BitrateCap(0, 0, None), quality)
    return Plan(spec.format, spec.max_bytes, max(tl.duration_s, 1e-3), (rung,), None, first)


def retry_webp(plan: Plan, tried: list[Attempt]) -> Attempt | None:
    """The next WebP try: lower quality first, then fewer pixels, in proportion to the miss."""
    last = tried[-1]
    assert last.size_bytes is not None and last.quality is not None
    if last.size_bytes <= plan.target_bytes:
        return None
    if len(tried) >= WEBP_MAX_TRIES:
        smallest = min(tried, key=lambda t: t.size_bytes or 0)
        raise TargetSizeUnreachable(plan.target_bytes, smallest.size_bytes or 0, smallest.label())
    ratio = plan.target_bytes * WEBP_AIM / last.size_bytes
    # a quality step alone is no sure gain on noisy pictures (libwebp may even grow): take both
    quality = next((q for q in WEBP_QUALITY_STEPS if q < last.quality), last.quality)
    start = plan.rungs[0]
    rung = last.rung
    if ratio < 1:
        shrink = math.sqrt(ratio)
        width = max(WEBP_MIN_WIDTH, even(rung.width * shrink))
        fps = rung.fps
        left = ratio / (width / rung.width) ** 2     # what the width could not take, fps takes (not below 5)
        if left < 0.95:
            fps = max(Fraction(5), Fraction(float(rung.fps) * left).limit_denominator(1001))
        rung = Rung(width, even(width * start.height / start.width), fps)
    if (rung, quality) == (last.rung, last.quality):
        smallest = min(tried, key=lambda t: t.size_bytes or 0)
        raise TargetSizeUnreachable(plan.target_bytes, smallest.size_bytes or 0, smallest.label())
    return Attempt(rung, last.cap, quality)


# ---------------------------------------------------------------- GIF and WebP, refused up front

ANIMATED_MIN_FPS: Final = 5.0
ANIMATED_FRAME_BYTES: Final = 12        # the least a frame costs (its header), even when nothing moves
ANIMATED_HEADER_BYTES: Final = 800


def check_animated_floor(tl: Timeline) -> None:
    """GIF/WebP: DraftError when even the slowest rate's frame headers alone pass the target."""
    spec = tl.output
    assert spec.max_bytes is not None
    fps = min(float(tl.canvas.fps), ANIMATED_MIN_FPS)
    need = tl.duration_s * fps * ANIMATED_FRAME_BYTES + ANIMATED_HEADER_BYTES
    if need > spec.max_bytes:
        raise _unreachable(spec, tl.duration_s, f"{fps:g} fps with nothing moving", need)


def check_reachable(tl: Timeline) -> None:
    """Refuse, before any encode, a size target that no setting could meet (DraftError at m.out.max_mb)."""
    if not applies(tl.output):
        return
    if tl.output.format in VIDEO_FORMATS:
        plan_video(tl)
    else:
        check_animated_floor(tl)


def timeline_at(model: Draft, media: Mapping[str, MediaInfo], tl: Timeline, rung: Rung) -> Timeline:
    """``tl`` at a rung's size and rate: the draft's output width and fps set to it, resolved again
    (text and pictures scale with it). A rate too low for one of the draft's short pieces keeps the canvas's."""
    if (rung.width, rung.height, rung.fps) == (tl.canvas.width, tl.canvas.height, tl.canvas.fps):
        return tl

    def at(fps: Fraction) -> Timeline:
        out = model.m.out.model_copy(update={"width": rung.width, "resolution": None, "fps": float(fps)})
        return build_timeline(model.model_copy(update={"m": model.m.model_copy(update={"out": out})}), media)

    try:
        return at(rung.fps)
    except DraftError:
        if rung.fps == tl.canvas.fps:
            raise
        return at(tl.canvas.fps)
