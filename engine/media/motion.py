"""Ken Burns motion over a still, planned so that it moves at an even pace.

A motion is a crop rectangle per frame over a picture prepared larger than its box, scaled
down to the box. Crops are whole pixels, so a position that advances by 1.8 source pixels a
frame would land on 1, 2, 2, 2, 1, ... and the picture would judder: that is the jitter of
naive zoompan. Two things remove it here:

- the still is prepared larger than its box (``OVERSAMPLES`` times), so one source pixel is a
  fraction of an output pixel;
- the speed is a whole number of source pixels per frame (per side, for zooms), so every frame
  moves by exactly the same amount.

The oversampling is the smallest at which a whole-pixel step comes within ``TOLERANCE`` of the
asked speed without ever enlarging the picture: the cost of motion grows with its square. So the
distance travelled may differ from ``amt`` by up to that tolerance; the pace never varies.

The rectangles are sent to FFmpeg's crop filter frame by frame (sendcmd), with the scaler
behind it: cheaper than zoompan, which re-creates its scaler every frame and works in 4:4:4.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Final

from engine.model.draft import Motion

OVERSAMPLES: Final = (1.25, 1.5, 1.75, 2.0, 2.5, 3.0)
TOLERANCE: Final = 0.2

Crop = tuple[int, int, int, int]   # x, y, width, height, in pixels of the prepared picture


@dataclass(frozen=True, slots=True)
class MotionPlan:
    width: int                     # the prepared picture
    height: int
    crops: tuple[Crop, ...]        # one per frame

    def commands(self, target: str, fps: Fraction) -> str:
        """A sendcmd script: each frame's crop, sent half a frame before the frame."""
        lines = []
        for n, (x, y, w, h) in enumerate(self.crops):
            at = float((n - Fraction(1, 2)) / fps) if n else 0.0
            lines.append(f"{at:.6f} {target} w {w}, {target} h {h}, {target} x {x}, {target} y {y};")
        return "\n".join(lines) + "\n"


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


def _nearest(value: float) -> int:
    return math.floor(value + 0.5)   # not round(): banker's rounding would make the steps uneven


def _centred(width: int, height: int, crop_w: float) -> Crop:
    """A crop of the picture's shape, ``crop_w`` wide, in the middle; each edge rounded on its own."""
    crop_h = crop_w * height / width
    left, top = _nearest((width - crop_w) / 2), _nearest((height - crop_h) / 2)
    right, bottom = _nearest((width + crop_w) / 2), _nearest((height + crop_h) / 2)
    return left, top, right - left, bottom - top


def plan_motion(motion: Motion, frames: int, box_w: int, box_h: int) -> MotionPlan:
    """The crops for ``frames`` frames of ``motion`` over a still fitted to a ``box_w`` x ``box_h`` box."""
    n = max(2, frames)
    last = n - 1
    amt = motion.amt
    order = range(n) if motion.type in ("zoom-in", "pan-right", "pan-down") else range(last, -1, -1)
    if motion.type in ("zoom-in", "zoom-out"):
        width, height, step = _pick(box_w, box_h, (box_w - box_w / (1 + amt)) / 2 / last, n, per_side=2)
        shrink = [2 * step * t for t in order] if step else [width * (1 - 1 / (1 + amt * t / last)) for t in order]
        return MotionPlan(width, height, tuple(_centred(width, height, width - s) for s in shrink))
    horizontal = motion.type in ("pan-left", "pan-right")
    side, across = (box_w, box_h) if horizontal else (box_h, box_w)
    length, breadth, step = _pick(side, across, (side - side / (1 + amt)) / last, n, per_side=1)
    travel = step * last if step else min(length - side, round(length - length / (1 + amt)))
    span = length - travel                               # the crop along the motion
    cross = _nearest(span * breadth / length)           # and across it
    offset = _nearest((breadth - cross) / 2)
    moves = [step * t if step else _nearest(travel * t / last) for t in order]
    if horizontal:
        return MotionPlan(length, breadth, tuple((m, offset, span, cross) for m in moves))
    return MotionPlan(breadth, length, tuple((offset, m, cross, span) for m in moves))
