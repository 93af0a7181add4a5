"""Scene cuts seen in the pictures, while the frames pass, for palettes per scene.

What matters for a palette is which colours a scene holds, so the measures are of colours: each
frame's colour histogram (RGB in 16 x 16 x 16 bins, from a sample of about 8 000 pixels),
compared with the frame before (its *step*) and with the mean of the scene so far (its
*drift*), as the share of pixels in colours the other does not hold (one minus the histograms'
intersection). Within a shot, a step is 0.01-0.06, camera footage with grain and motion
included: motion changes where colours are, not which. A cut is one step near 1; a crossfade a
run of steps of 0.2-0.6. So frames whose step passes :data:`MOVING` are held back until the
run ends, and then, if the frames after it hold other colours than the frames before it, the
run is a transition: one frame long, a cut; three or more, a blend, which gets a palette of
its own, and the next shot starts after it. A slow change (a long dissolve, a pan onto
something new) shows as drift and starts a new shot where it passes :data:`CUT_NOVELTY`.
It costs under a millisecond a frame at GIF sizes.
"""

from __future__ import annotations

from typing import Final, Literal

import numpy as np

MOVING: Final = 0.12        # a step above this is a transition under way (a shot's own frames stay below 0.06)
STILL_MOVING: Final = 0.08  # ... and one above this keeps it under way (a crossfade's steps dip mid-way)
CUT_NOVELTY: Final = 0.35   # colours this new to the scene (share of pixels) start a new one
SAMPLE_PIXELS: Final = 8000
BITS: Final = 4             # per channel: 16 x 16 x 16 bins
MAX_RUN_S: Final = 1.0      # a transition longer than this is judged as it goes (frames are held back meanwhile)
MIN_DRIFT_SCENE_S: Final = 0.5   # drift may end a shot only after this long
MIN_BLEND_FRAMES: Final = 3      # a shorter transition is a cut: its frames join the shot after it

Start = Literal["shot", "blend"]


def colour_histogram(frame: np.ndarray, step: int = 1) -> np.ndarray:
    """A frame's (H x W x 3 or 4, uint8, colour channels first) colour histogram, sampled every ``step`` pixels
    each way, summing to 1."""
    sample = frame[::step, ::step, :3].reshape(-1, 3) >> (8 - BITS)
    index = (sample[:, 0].astype(np.int32) << (2 * BITS)) | (sample[:, 1].astype(np.int32) << BITS) | sample[:, 2]
    counts = np.bincount(index, minlength=1 << (3 * BITS)).astype(np.float64)
    return counts / max(1.0, counts.sum())


def novelty(histogram: np.ndarray, other: np.ndarray) -> float:
    """The share of ``histogram`` in colours that ``other`` does not hold: 0 for the same colours, 1 for none shared."""
    return float(1.0 - np.minimum(histogram, other).sum())


class SceneWatch:
    """Feed it a scene's frames in order; it gives them back, a little later when a transition may be under
    way, each marked with the kind of scene it starts (None: it continues the current one)."""

    def __init__(self, width: int, height: int, fps: float) -> None:
        self.step = max(1, int((width * height / SAMPLE_PIXELS) ** 0.5))
        self._max_run = max(2, round(MAX_RUN_S * fps))
        self._min_drift = max(2, round(MIN_DRIFT_SCENE_S * fps))
        self.reset()

    def reset(self) -> None:
        """A new scene starts (a cut the draft knows; :meth:`flush` first): forget the last one."""
        self._prev: np.ndarray | None = None      # the last frame's histogram
        self._base: np.ndarray | None = None      # the last steady frame's, before a run of changing ones
        self._run: list[tuple[np.ndarray, np.ndarray]] = []
        self._sum: np.ndarray | None = None
        self._count = 0
        self._shot_next = False

    @property
    def held(self) -> int:
        """Frames held back while a transition may be under way (at most one second's)."""
        return len(self._run)

    def _begin(self, hist: np.ndarray) -> None:
        self._sum, self._count = hist.copy(), 1

    def _add(self, hist: np.ndarray) -> None:
        if self._sum is None:
            self._begin(hist)
        else:
            self._sum += hist
            self._count += 1

    def push(self, frame: np.ndarray) -> list[tuple[np.ndarray, Start | None]]:
        hist = colour_histogram(frame, self.step)
        prev, self._prev = self._prev, hist
        if prev is None:
            self._base = hist
            self._begin(hist)
            return [(frame, None)]
        if novelty(hist, prev) > (STILL_MOVING if self._run else MOVING):
            self._run.append((frame, hist))
            return self._end_run(hist) if len(self._run) > self._max_run else []
        out = self._end_run(hist) if self._run else []
        self._base = hist
        assert self._sum is not None
        if self._shot_next or (self._count >= self._min_drift and novelty(hist, self._sum / self._count) > CUT_NOVELTY):
            self._shot_next = False
            self._begin(hist)
            return [*out, (frame, "shot")]
        self._add(hist)
        return [*out, (frame, None)]

    def _end_run(self, after: np.ndarray) -> list[tuple[np.ndarray, Start | None]]:
        """The held run is over (``after``: the first steady frame's histogram, or the last held one's):
        a transition if the colours after it are new, else more of the same shot."""
        run, self._run = self._run, []
        assert self._base is not None
        if novelty(after, self._base) <= CUT_NOVELTY:
            for _frame, hist in run:
                self._add(hist)
            return [(frame, None) for frame, _hist in run]
        self._base = after
        kind: Start = "blend" if len(run) >= MIN_BLEND_FRAMES else "shot"
        self._begin(run[0][1])
        for _frame, hist in run[1:]:
            self._add(hist)
        self._shot_next = kind == "blend"
        return [(run[0][0], kind), *((frame, None) for frame, _hist in run[1:])]

    def flush(self) -> list[tuple[np.ndarray, Start | None]]:
        """The scene ends here (the draft cuts, or the frames end): what is held, as more of the current shot."""
        run, self._run = self._run, []
        return [(frame, None) for frame, _hist in run]
