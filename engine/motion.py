"""Ken Burns motion over a still, planned so that it moves at an even pace.

zoompan crops whole pixels of its input and scales the crop to the output, so a position that
advances by 1.8 source pixels a frame lands on 1, 2, 2, 2, 1, ... and the picture judders: that
is the jitter of naive zoompan. Two things remove it here:

- the still is prepared ``oversample`` times larger than its box, so one source pixel is a
  fraction of an output pixel;
- the speed is rounded to a whole number of source pixels per frame (per side, for zooms), so
  every frame moves by exactly the same amount. The oversampling (2 or 3) is chosen so that
  this rounding stays close to the asked ``amt``; the distance travelled may differ from it by
  a little, the pace never varies.

Everything here is arithmetic: the plan is a few numbers and three zoompan expressions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from engine.draft import Motion

OVERSAMPLES: Final = (2, 3)
MAX_TRAVEL: Final = 1 / 3          # a crop never narrower than 2/3 of the picture (amt <= 0.5)


@dataclass(frozen=True, slots=True)
class MotionPlan:
    oversample: int
    zoom: str          # zoompan z expression (in ``on``, the output frame number)
    x: str
    y: str


def _whole_steps(per_frame_out: float, frames: int, room_src_at: dict[int, float]) -> tuple[int, int]:
    """(oversample, source pixels per frame): the smallest oversampling whose whole-pixel step is
    within a quarter of the asked speed, else the closest; 0 pixels when even 1 would not fit."""
    best: tuple[float, int, int] | None = None
    for s in OVERSAMPLES:
        step = max(1, round(per_frame_out * s))
        if step * (frames - 1) > room_src_at[s]:
            continue
        error = abs(step / s - per_frame_out) / max(per_frame_out, 1e-9)
        if error <= 0.25:
            return s, step
        if best is None or error < best[0]:
            best = (error, s, step)
    if best is None:
        return OVERSAMPLES[0], 0
    return best[1], best[2]


def plan_motion(motion: Motion, frames: int, box_w: int, box_h: int) -> MotionPlan:
    """Expressions for ``frames`` frames of ``motion`` over a still prepared for a ``box_w`` x ``box_h`` box."""
    n = max(2, frames)
    last = n - 1
    centre_x, centre_y = "floor((iw-iw/zoom)/2+0.5)", "floor((ih-ih/zoom)/2+0.5)"
    amt = motion.amt
    if motion.type in ("zoom-in", "zoom-out"):
        per_side_out = (box_w - box_w / (1 + amt)) / 2 / last
        s, step = _whole_steps(per_side_out, n, {s: box_w * s * MAX_TRAVEL / 2 for s in OVERSAMPLES})
        width = box_w * s
        if step == 0:   # too slow for whole steps within the limits: smooth rate, rounded positions
            zoom = f"1+{amt:g}*on/{last}" if motion.type == "zoom-in" else f"1+{amt:g}*(1-on/{last})"
            return MotionPlan(s, zoom, centre_x, centre_y)
        t = "on" if motion.type == "zoom-in" else f"({last}-on)"
        # w(t) = width - 2*step*t exactly: zoompan takes int(iw/zoom), so aim half a pixel above it
        return MotionPlan(s, f"{width}/({width}-{2 * step}*{t}+0.5)", f"{step}*{t}", centre_y)
    horizontal = motion.type in ("pan-left", "pan-right")
    side = box_w if horizontal else box_h
    per_frame_out = (side - side / (1 + amt)) / last
    s, step = _whole_steps(per_frame_out, n, {s: side * s * MAX_TRAVEL for s in OVERSAMPLES})
    length = side * s
    travel = step * last if step else round((side - side / (1 + amt)) * s)
    zoom = f"{length}/({length - travel}+0.5)"
    forward = motion.type in ("pan-right", "pan-down")
    if step:
        pos = f"{step}*on" if forward else f"{step}*({last}-on)"
    else:
        pos = f"floor({travel}*on/{last}+0.5)" if forward else f"floor({travel}*({last}-on)/{last}+0.5)"
    return MotionPlan(s, zoom, pos, centre_y) if horizontal else MotionPlan(s, zoom, centre_x, pos)
