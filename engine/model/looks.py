"""Crop and blur regions in pixels, from the fractions a draft gives.

Rules decided here, once (docs/draft-format.md repeats them):
- ``crop`` is a fraction of the source picture as displayed (rotation and pixel aspect applied).
  Its edges are rounded down to even pixels, so that 4:2:0 chroma is never split, and it keeps at
  least ``MIN_CROP_PX`` on each side.
- ``blur`` regions are fractions of the picture after the crop, rounded outwards to even pixels
  (a region never hides less than asked), at least ``MIN_BLUR_PX`` on each side and cut at the
  picture's edges.
"""

from __future__ import annotations

import math
from typing import Final

from engine.model.canvas import Rect
from engine.model.draft import Box

MIN_CROP_PX: Final = 16
MIN_BLUR_PX: Final = 8


def _down(value: float) -> int:
    return int(math.floor(value + 1e-9)) // 2 * 2


def _up(value: float) -> int:
    return -(-int(math.ceil(value - 1e-9)) // 2) * 2


def crop_rect(box: Box, width: int, height: int) -> Rect:
    """The pixels of a ``width`` x ``height`` picture that ``box`` keeps."""
    w = max(min(MIN_CROP_PX, _down(width)), _down(box.w * width))
    h = max(min(MIN_CROP_PX, _down(height)), _down(box.h * height))
    x = min(_down(box.x * width), _down(width - w))
    y = min(_down(box.y * height), _down(height - h))
    return Rect(max(0, x), max(0, y), min(w, _down(width)), min(h, _down(height)))


def blur_rect(box: Box, width: int, height: int) -> Rect:
    """The pixels of a ``width`` x ``height`` picture that a blur region covers."""
    x0, y0 = _down(box.x * width), _down(box.y * height)
    x1 = min(_down(width), max(x0 + MIN_BLUR_PX, _up((box.x + box.w) * width)))
    y1 = min(_down(height), max(y0 + MIN_BLUR_PX, _up((box.y + box.h) * height)))
    x0, y0 = max(0, min(x0, x1 - MIN_BLUR_PX)), max(0, min(y0, y1 - MIN_BLUR_PX))
    return Rect(x0, y0, x1 - x0, y1 - y0)


def kept_size(width: int, height: int, crop: Rect | None) -> tuple[int, int]:
    """The size of a source's picture after its crop."""
    return (crop.w, crop.h) if crop is not None else (width, height)
