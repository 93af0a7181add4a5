"""Loop seams: a pass-through stand-in until the loop seam module (issue 12) lands."""

from __future__ import annotations

from typing import Any, Final

import numpy as np

SEARCH_SHARE: Final = 0.15


def seam_frames(mode: str, length: int, fps: float, seam_ms: int) -> int:
    return 0 if mode != "crossfade" else max(1, min(length // 3, round(seam_ms * fps / 1000)))


def output_length(mode: str, length: int, fps: float, seam_ms: int) -> int | None:
    return None if mode == "auto" else length - seam_frames(mode, length, fps, seam_ms)


class LoopSeam:
    def __init__(self, mode: str, length: int, fps: float, seam_ms: int) -> None:
        self.mode = mode

    def push(self, frame: np.ndarray) -> list[np.ndarray]:
        return [frame]

    def finish(self) -> list[np.ndarray]:
        return []

    def output_index(self, input_index: int) -> int | None:
        return input_index

    def report(self) -> dict[str, Any]:
        return {"mode": self.mode}
