"""Hypothesis strategies for drafts over the numbered media (tests/numbered.py), at the tests' tiny canvas.

A draft is drawn in whole frames and then written in milliseconds, each time a millisecond
value picked anywhere in the window that rounds to the frame wanted (4.3), so that the draft
looks like one a client would send and the rounding is exercised. Drawn: 1-5 base segments
(clips and stills, touching or with gaps), speeds, ``rev``, ``ss`` anywhere in the source, lengths
down to one frame, every transition type with lengths down to one frame (at the timeline's start
and end, next to gaps, both ``in`` and ``out`` at one cut, names and aliases), a top-level ``d``
that cuts the last segment or leaves background after it, a layer track (the numbered layer
clip in its box, with opacity and fades) and a caption track.

Transitions are drawn to fit (rule ``transition_fits``) by keeping count of the frames each
segment and gap has left; the few drafts that still do not resolve are rejected by the tests.
"""

from __future__ import annotations

import os
import warnings
from fractions import Fraction
from math import ceil
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase, ReadOnlyDatabase

from engine.model.draft import TRANSITION_ALIASES, TRANSITIONS
from tests.frame_oracle import docs_frame, docs_rate
from tests.numbered import BASE_CLIPS, CANVAS_H, CANVAS_W, CAPTION_BOX, LAYER_BOX, LAYER_CLIP, STILLS

RATES = (30, 30, 25, 24, 29.97, 60)
SPEEDS = (0.25, 0.3, 0.5, 0.75, 1, 1, 1, 1.25, 1.5, 2, 2.5, 3, 4)
BACKGROUNDS = ("#000000", "#808080", "#FFFFFF")
KINDS = (*TRANSITIONS, *TRANSITION_ALIASES)
with warnings.catch_warnings():
    # Hypothesis's pytest plugin imports this (libcst, which warns on import) only when a property
    # fails, to suggest a patch; under filterwarnings=error that import would hide the failure behind
    # an INTERNALERROR, so it is imported here, quietly, once.
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import hypothesis.extra._patching  # noqa: F401
    except ImportError:     # libcst is not installed: then the plugin has nothing to import either
        pass

DATABASE = Path(__file__).parent / "data" / "hypothesis"
LONG_RUN = "REELFORGE_FRAME_EXACT_EXAMPLES"    # set by benchmarks/frame_exact.py
CAPTION_STYLE = {"size": 12, "pos": "bottom-right", "color": "#FFFFFF", "bg": {"color": CAPTION_BOX, "pad": 3, "r": 0}}


class FailuresOnly(ExampleDatabase):
    """Keeps only each test's shrunk failures, not the corpus of near misses Hypothesis collects on the
    way (its ``.secondary`` and ``.pareto`` keys): what is committed is what a run must replay."""

    def __init__(self, db: ExampleDatabase) -> None:
        super().__init__()
        self.db = db

    @staticmethod
    def _kept(key: bytes) -> bool:
        return not key.endswith((b".secondary", b".pareto"))

    def save(self, key: bytes, value: bytes) -> None:
        if self._kept(key):
            self.db.save(key, value)

    def fetch(self, key: bytes) -> Any:
        return self.db.fetch(key) if self._kept(key) else iter(())

    def delete(self, key: bytes, value: bytes) -> None:
        self.db.delete(key, value)


def property_settings(examples: int, long_run_scale: int = 1) -> settings:
    """A bounded run that only reads the saved failures in tests/data/hypothesis (so a test run never
    changes the tree), or, under benchmarks/frame_exact.py, a long one that saves new failures there."""
    long = os.environ.get(LONG_RUN)
    saved = DirectoryBasedExampleDatabase(DATABASE)
    return settings(max_examples=int(long) * long_run_scale if long else examples, deadline=None,
                    database=FailuresOnly(saved) if long else ReadOnlyDatabase(saved),
                    report_multiple_bugs=bool(long),     # a short run shrinks one failure, not every one
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.data_too_large])


def ms_window(frame: int, fps: Fraction) -> tuple[int, int]:
    """Every millisecond value that rounds to ``frame`` (4.3), as (lowest, highest)."""
    low = max(0, ceil((frame - Fraction(1, 2)) * 1000 / fps))
    high = ceil((frame + Fraction(1, 2)) * 1000 / fps) - 1
    return low, high


def _ms(draw: st.DrawFn, frame: int, fps: Fraction) -> int:
    low, high = ms_window(frame, fps)
    return draw(st.sampled_from((low, high)) | st.integers(low, high))


def _transition(draw: st.DrawFn, frames: int, fps: Fraction) -> Any:
    """A transition lasting ``frames`` frames, as a draft writes it (object, or a bare name for 500 ms)."""
    kind = draw(st.sampled_from(KINDS))
    if docs_frame(500, fps) == frames and draw(st.booleans()):
        return kind
    if frames == 1 and draw(st.booleans()):
        d = draw(st.integers(1, ms_window(1, fps)[1]))          # under half a frame still lasts one
    else:
        d = _ms(draw, frames, fps)
    return {"type": kind, "d": d} if kind != "fade" or draw(st.booleans()) else {"d": d}


def _frames(draw: st.DrawFn, most: int) -> int:
    """A transition length in frames, 1 .. ``most``, short ones likely."""
    return draw(st.integers(1, min(most, 3)) | st.integers(1, most)) if most >= 1 else 0


@st.composite
def drafts(draw: st.DrawFn, max_segments: int = 5, max_frames: int = 24, overlays: bool = True) -> dict[str, Any]:
    """A draft over the numbered media (see the module docstring)."""
    fps_value = draw(st.sampled_from(RATES))
    fps = docs_rate(fps_value)
    if fps_value == 60:
        max_frames *= 2

    # the base track, in frames: (start, length, source spec or still)
    segments: list[dict[str, Any]] = []
    cursor = 0
    for i in range(draw(st.integers(1, max_segments))):
        gap = draw(st.sampled_from((0, 0, 0, 0, 1, 3)) | st.integers(0, 6)) if i or draw(st.booleans()) else 0
        length = draw(st.sampled_from((1, 2)) | st.integers(1, max_frames))
        segments.append({"start": cursor + gap, "frames": length,
                         "src": draw(st.sampled_from([*(c.src for c in BASE_CLIPS), *(s.src for s in STILLS)])),
                         "gap": gap})
        cursor += gap + length
    base_end = cursor

    layer_segs = draw(_overlay_spans(base_end)) if overlays and draw(st.booleans()) else []
    caption_segs = draw(_overlay_spans(base_end)) if overlays and draw(st.booleans()) else []
    overlay_end = max((s + n for s, n in [*layer_segs, *caption_segs]), default=0)
    cut = draw(st.sampled_from((None, None, None, "cut", "longer")))
    natural = max(base_end, overlay_end)
    if cut == "cut" and natural > 1:
        length = draw(st.integers(max(1, natural - 8), natural - 1))
    elif cut == "longer":
        length = natural + draw(st.integers(1, 6))
    else:
        cut, length = None, natural

    # transitions, drawn to fit: each kept segment's frames, each gap's frames, used so far
    kept = [s for s in segments if s["start"] < length]
    for s in kept:
        s["end"] = min(length, s["start"] + s["frames"])
        s["room"] = s["end"] - s["start"]
        s["tr"] = {}
    for n, s in enumerate(kept):
        before = kept[n - 1] if n else None
        if before is not None and before["end"] == s["start"]:            # a cut: one transition
            most = min(2 * before["room"] + 1, 2 * s["room"])
            if most >= 1 and draw(st.integers(0, 2)):
                frames = _frames(draw, most)
                tr = _transition(draw, frames, fps)
                before["room"] -= frames // 2
                s["room"] -= frames - frames // 2
                where = draw(st.sampled_from(("in", "out", "both")))
                if where in ("in", "both"):
                    s["tr"]["in"] = tr
                if where in ("out", "both"):   # with both, the later segment's in wins
                    before["tr"]["out"] = tr if where == "out" else _transition(draw, _frames(draw, 40), fps)
        elif s["start"] == 0:                                              # the timeline's start: inside
            if s["room"] >= 1 and draw(st.booleans()):
                frames = _frames(draw, s["room"])
                s["tr"]["in"] = _transition(draw, frames, fps)
                s["room"] -= frames
        else:                                                              # after a gap: centred on the edge
            gap_left = s["start"] - (before["end"] if before else 0) - (before.get("gap_used", 0) if before else 0)
            most = min(2 * gap_left + 1, 2 * s["room"])
            if most >= 1 and draw(st.booleans()):
                frames = _frames(draw, most)
                s["tr"]["in"] = _transition(draw, frames, fps)
                s["room"] -= frames - frames // 2
        after = kept[n + 1] if n + 1 < len(kept) else None
        if after is not None and after["start"] == s["end"]:
            continue
        if s["end"] == length:                                             # the timeline's end: inside
            if s["room"] >= 1 and draw(st.booleans()):
                frames = _frames(draw, s["room"])
                s["tr"]["out"] = _transition(draw, frames, fps)
                s["room"] -= frames
        else:                                                              # before a gap
            gap = (after["start"] if after else length) - s["end"]
            most = min(2 * s["room"] + 1, 2 * gap)
            if most >= 1 and draw(st.booleans()):
                frames = _frames(draw, most)
                s["tr"]["out"] = _transition(draw, frames, fps)
                s["room"] -= frames // 2
                s["gap_used"] = frames - frames // 2
    for s in segments[len(kept):]:
        s["tr"] = {}

    base, end_ms = [], 0
    for s in segments:
        seg, end_ms = _base_segment(draw, s, fps, end_ms)
        base.append(seg)
    tracks: list[dict[str, Any]] = [{"tt": 0, "sg": base}]
    for spans, make, tt in ((layer_segs, _layer_segment, 0), (caption_segs, _caption_segment, 7)):
        if spans:
            sg, end_ms = [], 0
            for start, frames in spans:
                seg, end_ms = make(draw, start, frames, fps, end_ms)
                sg.append(seg)
            tracks.append({"tt": tt, "sg": sg})
    if draw(st.integers(0, 3)) == 0:
        tracks.append({"tt": 1, "sg": [_sound_segment(draw, length, fps)]})
    meta: dict[str, Any] = {"width": CANVAS_W, "height": CANVAS_H, "bg": draw(st.sampled_from(BACKGROUNDS))}
    if draw(st.integers(0, 4)) == 0:                         # the output's rate overrides the canvas's
        meta["fps"], meta["out"] = draw(st.sampled_from(RATES)), {"fps": fps_value}
    else:
        meta["fps"] = fps_value
    draft: dict[str, Any] = {"m": meta, "t": tracks}
    if cut is not None:
        draft["d"] = _ms(draw, length, fps)
    return draft


def _base_segment(draw: st.DrawFn, s: dict[str, Any], fps: Fraction,
                  previous_end_ms: int) -> tuple[dict[str, Any], int]:
    """The segment as the draft writes it, and where it ends in ms. ``st`` is left out (the segment
    then starts where the previous one ends) only where it touches the previous one."""
    seg: dict[str, Any] = {"src": s["src"]}
    if s["gap"]:
        start_ms = seg["st"] = _ms(draw, s["start"], fps)
    elif draw(st.integers(0, 3)) == 0:      # touching in frames, maybe a few ms after the previous end
        start_ms = seg["st"] = draw(st.integers(previous_end_ms, ms_window(s["start"], fps)[1]))
    else:
        start_ms = previous_end_ms
    end_ms = max(start_ms + 1, _ms(draw, s["start"] + s["frames"], fps))
    seg["d"] = end_ms - start_ms
    if s["tr"]:
        seg["tr"] = s["tr"]
    if s["src"].endswith(".png"):
        return seg, end_ms
    clip = next(c for c in BASE_CLIPS if c.src == s["src"])
    seg["ss"] = draw(st.sampled_from((0, 0, clip.duration_ms - 1)) | st.integers(0, clip.duration_ms - 1))
    speed = draw(st.sampled_from(SPEEDS))
    if speed != 1:
        seg["spd"] = speed
    if draw(st.integers(0, 3)) == 0:
        seg["rev"] = True
    if draw(st.integers(0, 5)) == 0:
        seg.update(draw(st.sampled_from(({"mute": True}, {"vol": 0}, {"vol": 0.5}))))
    return seg, end_ms


def _sound_segment(draw: st.DrawFn, length: int, fps: Fraction) -> dict[str, Any]:
    """Music from one of the clips' sound: it never lengthens the timeline, and it may be faded and looped."""
    start_ms = _ms(draw, draw(st.integers(0, max(0, length - 1))), fps)
    d = draw(st.integers(1, 4000))
    seg = {"src": draw(st.sampled_from([c.src for c in BASE_CLIPS])), "st": start_ms, "d": d,
           "vol": draw(st.sampled_from((0.35, 1))), "loop": draw(st.booleans())}
    fi = draw(st.integers(0, d))
    return {**seg, "fi": fi, "fo": draw(st.integers(0, d - fi))}


@st.composite
def _overlay_spans(draw: st.DrawFn, base_end: int) -> list[tuple[int, int]]:
    """One or two (start, frames) spans that do not overlap, mostly within the base track."""
    spans, cursor = [], 0
    for _ in range(draw(st.integers(1, 2))):
        start = cursor + draw(st.integers(0, max(0, base_end - cursor)))
        frames = draw(st.integers(1, max(1, base_end - start + 2)))
        spans.append((start, frames))
        cursor = start + frames
    return spans


def _span_ms(draw: st.DrawFn, start: int, frames: int, fps: Fraction, previous_end_ms: int) -> tuple[int, int]:
    """A layer's or caption's start and end in ms, not before the previous one's end."""
    low, high = ms_window(start, fps)
    start_ms = draw(st.integers(max(low, previous_end_ms), high))
    return start_ms, max(start_ms + 1, _ms(draw, start + frames, fps))


def _layer_segment(draw: st.DrawFn, start: int, frames: int, fps: Fraction,
                   previous_end_ms: int) -> tuple[dict[str, Any], int]:
    start_ms, end_ms = _span_ms(draw, start, frames, fps, previous_end_ms)
    seg: dict[str, Any] = {"src": LAYER_CLIP.src, "st": start_ms, "d": end_ms - start_ms, "box": LAYER_BOX}
    seg["ss"] = draw(st.sampled_from((0, LAYER_CLIP.duration_ms - 1)) | st.integers(0, LAYER_CLIP.duration_ms - 1))
    speed = draw(st.sampled_from(SPEEDS))
    if speed != 1:
        seg["spd"] = speed
    if draw(st.integers(0, 3)) == 0:
        seg["rev"] = True
    if draw(st.integers(0, 3)) == 0:
        seg["op"] = draw(st.sampled_from((0.5, 0.8)))
    fade_in = draw(st.integers(0, frames))
    fade_out = draw(st.integers(0, frames - fade_in))
    tr = {}
    if fade_in:
        tr["in"] = {"type": draw(st.sampled_from(KINDS)), "d": _ms(draw, fade_in, fps)}
    if fade_out:
        tr["out"] = {"type": draw(st.sampled_from(KINDS)), "d": _ms(draw, fade_out, fps)}
    if tr:
        seg["tr"] = tr
    return seg, end_ms


def _caption_segment(draw: st.DrawFn, start: int, frames: int, fps: Fraction,
                     previous_end_ms: int) -> tuple[dict[str, Any], int]:
    start_ms, end_ms = _span_ms(draw, start, frames, fps, previous_end_ms)
    seg: dict[str, Any] = {"txt": "Hi", "st": start_ms, "d": end_ms - start_ms, "style": CAPTION_STYLE}
    fade_in = draw(st.integers(0, frames))
    fade_out = draw(st.integers(0, frames - fade_in))
    if fade_in or draw(st.booleans()):
        seg["fi"] = _ms(draw, fade_in, fps)
    if fade_out or draw(st.booleans()):
        seg["fo"] = _ms(draw, fade_out, fps)
    return seg, end_ms
