"""Ken Burns motion over a still, planned so that it moves at an even pace.

zoompan crops whole pixels of its input and scales the crop to the output, so a position that
advances by 1.8 source pixels a frame lands on 1, 2, 2, 2, 1, ... and the picture judders: that
is the jitter of naive zoompan. Two things remove it here:

- the still is prepared larger than its box (``oversample`` times), so one source pixel is a
  fraction of an output pixel;
- the speed is a whole number of source pixels per frame (per side, for zooms), so every frame
  moves by exactly the same amount.

The oversampling is the smallest of ``OVERSAMPLES`` at which a whole-pixel step comes within
``TOLERANCE`` of the asked speed and the picture never has to be enlarged: the cost of the
motion grows with the square of it, and it is most of the cost of a still. So the distance
travelled may differ from ``amt`` by up to that tolerance; the pace never varies.

Everything here is arithmetic: the plan is a few numbers and three zoompan expressions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from engine.draft import Motion

OVERSAMPLES: Final = (1.25, 1.5, 1.75, 2.0, 2.5, 3.0)
TOLERANCE: Final = 0.15


@dataclass(frozen=True, slots=True)
class MotionPlan:
    width: int         # the prepared picture, in pixels
    height: int
    zoom: str          # zoompan expressions, in ``on`` (the output frame number)
    x: str
    y: str


def oversampled(box_w: int, box_h: int, scale: float) -> tuple[int, int]:
    return max(2, int(box_w * scale) // 2 * 2), max(2, int(box_h * scale) // 2 * 2)


def _pick(box_w: int, box_h: int, speed_out: float, frames: int, per_side: int) -> tuple[int, int, int]:
    """(picture width, picture height, source pixels per frame); 0 pixels when no whole step fits.

    ``speed_out`` is the asked speed in output pixels per frame; ``per_side`` is 2 for zooms
    (both edges move) and 1 for pans. The crop never gets smaller than the box (no enlarging).
    """
    best: tuple[float, int, int, int] | None = None
    for scale in OVERSAMPLES:
        width, height = oversampled(box_w, box_h, scale)
        step = max(1, round(speed_out * width / box_w))
        if per_side * step * (frames - 1) > width - box_w:
            continue
        error = abs(step * box_w / width - speed_out) / speed_out if speed_out > 0 else 1.0
        if error <= TOLERANCE:
            return width, height, step
        if best is None or error < best[0]:
            best = (error, width, height, step)
    if best is None:
        width, height = oversampled(box_w, box_h, 2.0)
        return width, height, 0
    return best[1], best[2], best[3]


def plan_motion(motion: Motion, frames: int, box_w: int, box_h: int) -> MotionPlan:
    """Expressions for ``frames`` frames of ``motion`` over a still prepared for a ``box_w`` x ``box_h`` box."""
    n = max(2, frames)
    last = n - 1
    centre_x, centre_y = "floor((iw-iw/zoom)/2+0.5)", "floor((ih-ih/zoom)/2+0.5)"
    amt = motion.amt
    if motion.type in ("zoom-in", "zoom-out"):
        width, height, step = _pick(box_w, box_h, (box_w - box_w / (1 + amt)) / 2 / last, n, per_side=2)
        t = "on" if motion.type == "zoom-in" else f"({last}-on)"
        if step == 0:   # too slow for whole steps: a smooth rate with rounded positions
            return MotionPlan(width, height, f"1+{amt:g}*{t}/{last}", centre_x, centre_y)
        # the crop is width - 2*step*t wide exactly: zoompan takes int(iw/zoom), so aim half a pixel above it
        return MotionPlan(width, height, f"{width}/({width}-{2 * step}*{t}+0.5)", f"{step}*{t}", centre_y)
    horizontal = motion.type in ("pan-left", "pan-right")
    side = box_w if horizontal else box_h
    other = box_h if horizontal else box_w
    length, other_length, step = _pick(side, other, (side - side / (1 + amt)) / last, n, per_side=1)
    width, height = (length, other_length) if horizontal else (other_length, length)
    travel = step * last if step else min(length - side, round(length - length / (1 + amt)))
    zoom = f"{length}/({length - travel}+0.5)"
    forward = motion.type in ("pan-right", "pan-down")
    t = "on" if forward else f"({last}-on)"
    pos = f"{step}*{t}" if step else f"floor({travel}*{t}/{last}+0.5)"
    x, y = (pos, centre_y) if horizontal else (centre_x, pos)
    return MotionPlan(width, height, zoom, x, y)
