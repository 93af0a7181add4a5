"""Loop seams: where a looping GIF joins its last frame to its first, so that the jump does not show.

The GIF pipeline streams every composed frame (uint8, H x W x 3, RGB) through a LoopSeam, in order,
before it cuts scenes and encodes. Pure numpy: no FFmpeg, no files.

- ``none``: every frame passes through; the seam is only measured.
- ``auto``: the clip ends early, at the end ``e`` (exclusive) in the last SEARCH_SHARE of the frames
  whose next frame, ``frame[e]``, is most like ``frame[0]``: then ``frame[e-1] -> frame[0]`` looks
  like an ordinary step. A clip that repeats with period P ends at ``e = P``, so no frame shows twice.
  All frames are kept unless such an end beats the seam as it is: frame 0 against the frame that
  would follow the last, guessed by carrying the motion of the last frames on. Matches within
  half a typical step of the best are ties, and the longest loop among them wins: a clip that
  does not loop is not cut short for a difference nobody would see.
- ``crossfade``: the first n frames are blended into the last n, so the loop flows from the blended
  end into ``frame[n]``; the output is n frames shorter.

Memory: auto holds the search window (at most ``ceil(SEARCH_SHARE * length)`` frames, plus one
small thumbnail per window frame), since which of them survive is known only at the end;
crossfade holds the first n frames, each freed once it is blended; none holds no frame.
Frames are held as given, not copied: do not write into a frame after pushing it.

Distances ``d(a, b)`` are the mean absolute difference of small thumbnails (box-averaged to about
THUMB_WIDTH px wide), on the 0-255 scale: cheap, and blind to grain that does not show at a loop.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, Final

import numpy as np

SEARCH_SHARE: Final = 0.15          # auto looks for its end in the last 15 % of the frames
THUMB_WIDTH: Final = 64             # thumbnails for distances are about this wide
SLOPE_FRAMES: Final = 4             # auto: the motion carried past the last frame is the mean over this many
TYPICAL_PAIRS: Final = 16           # typical_step: the median step over this many pairs at the end
MATCH_TOLERANCE: Final = 0.5        # auto: matches this close (0-255) are equally good ...
NOTICEABLE_STEPS: Final = 0.5       # ... as are matches within half a typical step: the longer loop wins
MODES: Final = ("none", "auto", "crossfade")


def seam_frames(mode: str, length: int, fps: float, seam_ms: int) -> int:
    """Frames a crossfade blends (0 for none/auto): round(seam_ms*fps/1000), at least 1, at most length // 3.

    Halves round up. A clip under 3 frames has no room for a blend (0).
    """
    _check(mode, length)
    if mode != "crossfade":
        return 0
    if fps <= 0:
        raise ValueError(f"fps must be positive, not {fps}")
    wanted = max(1, math.floor(seam_ms * fps / 1000 + 0.5))
    return min(wanted, length // 3)


def output_length(mode: str, length: int, fps: float, seam_ms: int) -> int | None:
    """Frames the seam will let out of `length`: known up front for none (length) and crossfade (length - n);
    None for auto (known at finish)."""
    if mode == "auto":
        _check(mode, length)
        return None
    return length - seam_frames(mode, length, fps, seam_ms)


def search_window(length: int) -> int:
    """How many of the last frames auto searches (and holds): ceil(SEARCH_SHARE * length), at least 1."""
    return max(1, math.ceil(SEARCH_SHARE * length - 1e-9))


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """The frame's colour channels (the first three: RGB, or BGR of BGRA) box-averaged to about THUMB_WIDTH px
    wide, float32 on the 0-255 scale."""
    frame = frame[..., :3]
    height, width = frame.shape[:2]
    box = max(1, width // THUMB_WIDTH)
    rows, cols = max(1, height // box), max(1, width // box)
    if box == 1:
        return frame.astype(np.float32)
    cropped = frame[: rows * box, : cols * box]
    boxes: np.ndarray = cropped.reshape(rows, box, cols, box, -1).mean(axis=(1, 3), dtype=np.float32)
    return boxes


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two thumbnails, 0-255."""
    return float(np.abs(a - b).mean())


def _check(mode: str, length: int) -> None:
    if mode not in MODES:
        raise ValueError(f"loop seam mode must be one of {', '.join(MODES)}, not {mode!r}")
    if length < 0:
        raise ValueError(f"length must be at least 0, not {length}")


class LoopSeam:
    """Streams a clip's frames through one loop seam; see the module docstring for the modes."""

    def __init__(self, mode: str, length: int, fps: float, seam_ms: int) -> None:
        self.mode = mode
        self.length = length
        self.blend = seam_frames(mode, length, fps, seam_ms)        # n, crossfade only
        self.window_start = length - search_window(length) if mode == "auto" else length
        self._pushed = 0
        self._finished = False
        self._first: np.ndarray | None = None                       # thumbnail of frame 0
        self._recent: deque[np.ndarray] = deque(maxlen=TYPICAL_PAIRS + 1)   # thumbnails of the last input frames
        self._held: list[np.ndarray | None] = []                    # auto: window frames; crossfade: the first n
        self._window_thumbs: list[np.ndarray] = []                  # auto: one per held frame
        self._out_first: np.ndarray | None = None                   # thumbnails of the first and last output frames
        self._out_last: np.ndarray | None = None
        self._frames_out = 0
        self._end: int | None = None                                # auto: chosen end, exclusive

    @property
    def held_frames(self) -> int:
        """Frames held right now (for the memory bound: auto's window, crossfade's n)."""
        return sum(frame is not None for frame in self._held)

    def push(self, frame: np.ndarray) -> list[np.ndarray]:
        """Takes the next input frame; returns the output frames now ready, in order."""
        if self._finished:
            raise ValueError("push after finish")
        if self._pushed >= self.length:
            raise ValueError(f"more frames than the declared length ({self.length})")
        index = self._pushed
        self._pushed += 1
        thumb = thumbnail(frame)
        self._recent.append(thumb)
        if index == 0:
            self._first = thumb
        if self.mode == "auto":
            return self._push_auto(index, frame, thumb)
        if self.mode == "crossfade" and self.blend:
            return self._push_crossfade(index, frame, thumb)
        return self._emit([frame], thumb)

    def finish(self) -> list[np.ndarray]:
        """After the last push: the frames still held, in order."""
        if self._finished:
            raise ValueError("finish called twice")
        self._finished = True
        if self.mode == "auto":
            return self._finish_auto()
        if self._pushed != self.length:
            raise ValueError(f"{self._pushed} frames pushed, {self.length} declared")
        return []

    def output_index(self, input_index: int) -> int | None:
        """Where input frame i lands in the output (None: dropped).

        Valid once the frame has been pushed; for auto, exact after finish (before it, a held frame
        answers its own index). Crossfade's first n frames answer None: they live on only as blends
        into the last n output frames.
        """
        if not 0 <= input_index < max(self.length, self._pushed):
            raise IndexError(f"frame {input_index} is outside the clip of {self.length} frames")
        if self.mode == "crossfade":
            return input_index - self.blend if input_index >= self.blend else None
        if self.mode == "auto" and self._end is not None and input_index >= self._end:
            return None
        return input_index

    def report(self) -> dict[str, Any]:
        """After finish: what the seam did, and the jump at the loop before and after it (0-255)."""
        if not self._finished:
            raise ValueError("report before finish")
        out: dict[str, Any] = {"mode": self.mode, "frames_in": self._pushed, "frames_out": self._frames_out}
        if self.mode == "auto":
            out["end"] = self._end
        if self.mode == "crossfade":
            out["crossfade_frames"] = self.blend
        if self._pushed:
            assert self._first is not None and self._out_first is not None and self._out_last is not None
            out["seam_before"] = round(distance(self._recent[-1], self._first), 2)
            out["seam_after"] = round(distance(self._out_last, self._out_first), 2)
            out["typical_step"] = round(self._typical_step(), 2)
        return out

    def _typical_step(self) -> float:
        """The median difference of neighbouring frames at the end of the input (0 for a single frame)."""
        steps = [distance(a, b) for a, b in zip(self._recent, list(self._recent)[1:], strict=False)]
        return float(np.median(steps)) if steps else 0.0

    def _emit(self, frames: list[np.ndarray], last_thumb: np.ndarray, first_thumb: np.ndarray | None = None) -> \
            list[np.ndarray]:
        """Counts frames going out and remembers the thumbnails of the first and the latest."""
        if frames:
            if self._out_first is None:
                self._out_first = first_thumb if first_thumb is not None else last_thumb
            self._out_last = last_thumb
            self._frames_out += len(frames)
        return frames

    def _push_auto(self, index: int, frame: np.ndarray, thumb: np.ndarray) -> list[np.ndarray]:
        if index < self.window_start:
            return self._emit([frame], thumb)
        self._held.append(frame)
        self._window_thumbs.append(thumb)
        return []

    def _finish_auto(self) -> list[np.ndarray]:
        """Chooses the end: the window frame most like frame 0 ends the clip just before it."""
        count = self._pushed
        first = self._first
        if count == 0 or first is None:
            self._end = 0
            return []
        costs = {end: distance(self._window_thumbs[end - self.window_start], first)
                 for end in range(max(2, self.window_start), count)}
        costs[count] = self._keep_all_cost(first)
        good_enough = min(costs.values()) + max(MATCH_TOLERANCE, NOTICEABLE_STEPS * self._typical_step())
        best_end = max(end for end, cost in costs.items() if cost <= good_enough)   # the longest loop of the best
        self._end = best_end
        kept = [frame for frame in self._held[: max(0, best_end - self.window_start)] if frame is not None]
        last_thumb = self._window_thumbs[best_end - 1 - self.window_start] if kept else first
        self._held, self._window_thumbs = [], []
        return self._emit(kept, last_thumb, first)

    def _keep_all_cost(self, first: np.ndarray) -> float:
        """How far frame 0 is from the frame that would follow the last, guessed by carrying on its motion.

        Ending at e is judged by d(frame[e], frame[0]); keeping every frame needs the same measure of a
        frame that does not exist. Comparing d(frame[-1], frame[0]) instead would tie with ending at
        length - 1, and would keep a clip whose last frame repeats the first (shown twice at the loop).
        The motion is the mean step over the last SLOPE_FRAMES frames, so that grain is not doubled.
        The guess is never taken below |d(frame[-1], frame[0]) - typical step|, which the true next
        frame cannot beat if it is one ordinary step on (a jump of 0 where a step was due is a stall).
        """
        if len(self._recent) < 2:
            return 0.0
        span = min(SLOPE_FRAMES, len(self._recent) - 1)
        last, earlier = self._recent[-1], self._recent[-1 - span]
        guessed = distance(np.clip(last + (last - earlier) / span, 0, 255), first)
        return max(guessed, abs(distance(last, first) - self._typical_step()))

    def _push_crossfade(self, index: int, frame: np.ndarray, thumb: np.ndarray) -> list[np.ndarray]:
        n = self.blend
        tail = self.length - n
        if index < n:
            self._held.append(frame)
            return []
        if index < tail:
            return self._emit([frame], thumb)
        k = index - tail
        start = self._held[k]
        assert start is not None
        self._held[k] = None                                                # blended: no longer needed
        weight = (k + 1) / (n + 1)
        mixed = frame.astype(np.float32) * (1 - weight) + start.astype(np.float32) * weight
        blended = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
        return self._emit([blended], thumbnail(blended))
