"""Chunked rendering: a long timeline rendered in parts, on several machines, joined without re-encoding.

The parts are pictures only. The sound is rendered once for the whole timeline and muxed at the
end, so it has no seams. MP4 parts are H.264 made with the whole render's encoder options (each
starts on a keyframe, as every encode does) and are joined with the concat demuxer and ``-c copy``;
GIF parts are lossless (FFV1 in Matroska) and are joined, then given one palette for the whole GIF.

Where a timeline may be cut (:func:`plan_parts`), decided here, once. A part's draft must compose
exactly the frames [start_frame, end_frame) of the whole timeline, so a cut (the frame a part
starts on) may not pass through anything whose frames depend on where it begins:

- never inside a transition of the base track, nor within a frame of one or of a plain cut between
  base items (a part opening or closing on a piece that lies wholly inside a transition, or on a single
  frame, is joined differently by video_graph: see :func:`_join_shape`), a still with motion, a reversed
  clip, a video clip on an upper track, a caption or upper-track still that fades out (a fade is timed
  from the start of its own segment) or is still fading in, or a base item that the whole render joins
  in 4:4:4 (a clip fading in at frame 0);
- free: between base segments, and inside background gaps;
- static: inside a still without motion, a caption, or an upper-track still (both pieces draw the
  same picture, and the second one gets no fade-in);
- inside a plain clip (not reversed; speed 1/4, 1/2, 1, 2 or 4) only where the second piece,
  started at its own ``ss`` (whole ms), shows exactly the source frames the whole render shows
  from there. FFmpeg's accurate seek keeps the first frame at or after ``ss`` and times the clip
  from it, so the cut must fall on a source frame a whole number of output frames from the one
  the whole render starts from (in stream ticks, after ``setpts`` and ``fps`` round), and the clip's
  last frames must be decided alike in the whole render and the second piece (by a source frame both
  read after them, or by the end of the source both reach). This is checked against the source's own
  frame timestamps, read from its packets (nothing decoded) around the points that matter; a source
  whose frames do not line up there (another rate, variable rate, odd timing) is not split there.

The timeline is cut into ``ceil(length / chunk)`` parts of equal ideal length. Each cut goes to the
nearest free frame within a quarter part of its ideal place, else the nearest static one there,
else the nearest free or static frame within half a part, else the nearest exact clip split there;
else that cut is dropped (its neighbours grow). Every part draft is then resolved again and compared
with the slice of the whole timeline it must equal; on any difference, for output that cannot be joined
without re-encoding (WebM, WebP, GIF with a size target), and where the whole render's own timestamps
slip a frame against its layers (:func:`_join_shape`), the plan is one Part holding the whole draft,
which :func:`render_chunked` renders with :func:`engine.pipeline.render`.

Parts on different machines must be rendered with the same codecs, settings and fonts. The join refuses
H.264 parts whose parameter sets differ in anything decoding depends on, since one MP4 track carries one
set (the first part's, which is the whole render's: its VUI comes from the same first frame).
"""

from __future__ import annotations

import copy
import json
import math
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

import av
import numpy as np

from engine import compile as compiler
from engine import gif
from engine.assets import prepare_sources
from engine.canvas import Canvas, OutputSpec, design_size, resolve_canvas
from engine.config import EngineConfig
from engine.draft import AudioTrack, VideoTrack, parse_draft
from engine.encoders import CodecChoice
from engine.errors import DraftError, OutputMismatch, RenderError
from engine.fonts import FontCatalog
from engine.pipeline import NATIVE_ENCODERS, Expected, RenderResult, probe_sources, render, verify
from engine.probe import MediaInfo, OutputInfo, inspect_output
from engine.profiles import AAC_BITRATE, output_args
from engine.resolve import Resolver
from engine.run import FFmpegCommand, run_ffmpeg
from engine.timeline import Blend, Caption, Timeline, Visual, build_timeline
from engine.video_graph import clip_window, rate, secs

ProgressCallback = Callable[[float], None]
CHUNKABLE: Final = ("mp4", "gif")
PART_SUFFIX: Final = {"mp4": ".mp4", "gif": ".mkv"}     # the container render_part writes, whatever the name says
PART_CODEC: Final = {"mp4": "h264", "gif": "ffv1"}
PART_TAG: Final = "reelforge-part "                     # the part files' comment: this, then JSON
EXACT_SPEEDS: Final = (0.25, 0.5, 1.0, 2.0, 4.0)      # (PTS-STARTPTS)/speed is exact in floating point
FREE, STATIC, CLIP, NEVER = 0, 1, 2, 3                  # what a cut at a frame costs
PROBE_SPAN: Final = Fraction(1, 4)                      # seconds of packets read either side of a point
MAX_SPLIT_TRIES: Final = 32                             # frames tried for one clip split


@dataclass(frozen=True, slots=True)
class Part:
    """Frames [start_frame, end_frame) of a whole timeline, and a draft that composes exactly them (no sound)."""

    index: int
    start_frame: int          # on the whole timeline, inclusive
    end_frame: int            # exclusive
    draft: dict[str, Any]

    @property
    def frames(self) -> int:
        return self.end_frame - self.start_frame

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "start_frame": self.start_frame, "end_frame": self.end_frame,
                "draft": copy.deepcopy(self.draft)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Part:
        draft = copy.deepcopy(dict(data["draft"]))
        return cls(int(data["index"]), int(data["start_frame"]), int(data["end_frame"]), draft)


# ---------------------------------------------------------------- planning


@dataclass(frozen=True, slots=True)
class _Cut:
    frame: int
    clip_ss: Mapping[str, int]     # by Visual.where: the ss of the clip piece that starts here


class _Unsplittable(Exception):
    """A part draft cannot be made exactly; the plan falls back to one part."""


def plan_parts(draft: Mapping[str, Any], media: Mapping[str, MediaInfo], chunk_s: float) -> list[Part]:
    """Parts of about ``chunk_s`` each; one Part (the whole draft) when the timeline is not longer than
    ``chunk_s`` or cannot be split exactly. ``media`` maps each ``src`` to its probe (as build_timeline takes)."""
    if chunk_s <= 0:
        raise ValueError(f"chunk_s must be positive, not {chunk_s}")
    model = parse_draft(draft)
    tl = build_timeline(model, media)
    whole = [Part(0, 0, tl.length, copy.deepcopy(dict(draft)))]
    chunk = max(1, round(chunk_s * tl.canvas.fps))
    if tl.output.format not in CHUNKABLE or tl.output.max_bytes is not None or tl.length <= chunk:
        return whole
    shape = _join_shape(tl)
    if shape.slips:
        return whole            # the whole render's timing slips a frame there; parts would not
    cuts = _choose_cuts(tl, math.ceil(tl.length / chunk), shape)
    if not cuts:
        return whole
    first_visual = next((media.get(s.src) for tr in model.t if isinstance(tr, VideoTrack) for s in tr.sg
                         if media.get(s.src) is not None and media[s.src].kind != "audio"), None)
    design = design_size(model, first_visual)   # set on every part, so each keeps the whole's canvas
    bounds = [0, *sorted(cuts), tl.length]
    parts: list[Part] = []
    try:
        for index, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False)):
            part_draft = _part_draft(draft, model.t, tl, a, b, cuts, design)
            part_tl = build_timeline(parse_draft(part_draft), media)
            converted = {(start - a, end - a) for start, end in shape.converted if a <= start and end <= b}
            if not _resolves_to_slice(part_tl, tl, a, b, cuts) or _join_shape(part_tl) != _JoinShape(
                    frozenset(converted), False):
                return whole
            parts.append(Part(index, a, b, part_draft))
    except (DraftError, _Unsplittable):
        return whole
    return parts


def _choose_cuts(tl: Timeline, count: int, shape: _JoinShape) -> dict[int, _Cut]:
    cost = _cut_costs(tl, shape)
    size = tl.length / count
    shortest = max(1, round(size / 4))
    reads: dict[tuple[str, Fraction, Fraction], _Frames | None] = {}
    chosen: dict[int, _Cut] = {}
    previous = 0
    for i in range(1, count):
        target = round(i * size)
        lo = max(previous + shortest, round(target - size / 2))
        hi = min(tl.length - shortest, round(target + size / 2))
        if lo > hi:
            continue
        near_lo, near_hi = max(lo, round(target - size / 4)), min(hi, round(target + size / 4))
        cut = (_nearest(cost, near_lo, near_hi, target, FREE) or _nearest(cost, near_lo, near_hi, target, STATIC)
               or _nearest(cost, lo, hi, target, STATIC) or _clip_split(tl, cost, lo, hi, target, reads))
        if cut is not None:
            chosen[cut.frame] = cut
            previous = cut.frame
    return chosen


def _nearest(cost: np.ndarray, lo: int, hi: int, target: int, worst: int) -> _Cut | None:
    frames = np.nonzero(cost[lo:hi + 1] <= worst)[0] + lo
    if frames.size == 0:
        return None
    return _Cut(int(frames[np.argmin(np.abs(frames - target))]), {})


def _cut_costs(tl: Timeline, shape: _JoinShape) -> np.ndarray:
    """What starting a part at each frame costs: FREE, STATIC, CLIP (an exact split may exist) or NEVER."""
    cost = np.zeros(tl.length + 1, dtype=np.int8)
    cost[0] = cost[tl.length] = NEVER

    def mark(lo: int, hi: int, level: int) -> None:       # frames lo .. hi - 1
        lo, hi = max(lo, 0), min(hi, tl.length + 1)
        if lo < hi:
            np.maximum(cost[lo:hi], level, out=cost[lo:hi])

    for v in tl.base:
        if v.is_still:
            mark(v.start + 1, v.end, STATIC if v.motion is None else NEVER)
        else:
            mark(v.start + 1, v.end, CLIP if _splittable_clip(v) else NEVER)
        for at, blend in ((v.start, v.enter), (v.end, v.exit)):
            # a part may not open or close with a piece that lies wholly inside a transition, or leaves a single
            # frame beside one or beside a cut, since video_graph would join it differently (_join_shape)
            if blend is None:
                mark(at - 1, at, NEVER)
                mark(at + 1, at + 2, NEVER)
            else:
                mark(at - blend.lead - 1, at + blend.lag + 2, NEVER)
    for start, end in shape.converted:
        mark(start + 1, end, NEVER)
    for layer in tl.layers:
        for item in layer.clips:
            end = item.start + item.length
            if isinstance(item, Caption) and item.fade_out == 0:
                faded_in = item.start + max(1, item.fade_in)
            elif isinstance(item, Visual) and item.is_still and item.motion is None and item.exit is None:
                faded_in = item.start + max(1, item.enter.frames if item.enter else 0)
            else:
                faded_in = end
            mark(item.start + 1, faded_in, NEVER)
            mark(faded_in, end, STATIC)
    return cost


@dataclass(frozen=True, slots=True)
class _JoinShape:
    """What video_graph's join of the base track does that depends on where the track is cut."""

    converted: frozenset[tuple[int, int]]   # frames [start, end) of base items it runs through yuv444p and back
    slips: bool                              # its timestamps slip: later frames meet the layers a step early


def _join_shape(tl: Timeline) -> _JoinShape:
    """The base track's pieces joined as video_graph.base_stream and _join join them (keep the two in step).

    Two things there depend on the shape of the chain, not only on each piece. Where what came before a
    transition lies wholly inside it (a clip fading in at frame 0, a first gap no longer than the first half
    of the transition after it), FFmpeg negotiates that join in 4:4:4, and every frame of the items in it
    goes through 4:4:4 and back. And the timestamps slip, moving every later frame a step against the
    layers drawn over it, after a concat input of a single frame (a one-frame clip, gap or transition, or
    one frame left before or after a transition) and after a clip that holds its first frame (a transition
    reaching back past the start of its source) and its last (it runs past the end of its source).
    Parts must not differ from the whole in either; a whole render that slips is not split at all."""
    pieces: list[tuple[int, Blend | None, Visual | None]] = []     # frames, the blend into it, its item
    cursor, leaving = 0, None
    for index, clip in enumerate(tl.base):
        if clip.start > cursor or (index == 0 and clip.start == 0 and clip.enter is not None):
            gap = clip.start - cursor + (leaving.lead if leaving else 0) + (clip.enter.lag if clip.enter else 0)
            pieces.append((gap, leaving, None))
        pieces.append((clip.extent, clip.enter, clip))
        cursor, leaving = clip.end, clip.exit
    if cursor < tl.length or leaving is not None:
        pieces.append((tl.length - cursor + (leaving.lead if leaving else 0), leaving, None))
    if not pieces:
        return _JoinShape(frozenset(), False)
    converted: set[tuple[int, int]] = set()
    slips = any(_held_both_ends(v, tl.canvas) for v in tl.base)
    length, members = pieces[0][0], [pieces[0][2]]
    for frames, blend, item in pieces[1:]:
        members.append(item)
        if blend is None:
            inputs = [length, frames]
        else:
            start = length - blend.frames
            inputs = [n for n in (start, blend.frames, frames - blend.frames) if n > 0]
            if start <= 0:
                converted.update((v.start, v.end) for v in members if v is not None)
        slips = slips or (len(inputs) > 1 and 1 in inputs)
        length += frames - (blend.frames if blend else 0)
    return _JoinShape(frozenset(converted), slips)


def _held_both_ends(v: Visual, canvas: Canvas) -> bool:
    """Whether a clip shows its source's first frame before it starts and its last after it ends."""
    if v.is_still or v.media.duration_ms is None:
        return False
    start_s, _need_s, hold = clip_window(v, v.extent, v.lead_in, canvas)
    shown_s = (v.extent - hold + 2) * v.speed / float(canvas.fps)     # with a frame or two to spare
    return hold > 0 and start_s + shown_s > v.media.duration_ms / 1000


def _splittable_clip(v: Visual) -> bool:
    return not v.reverse and v.speed in EXACT_SPEEDS and v.media.video is not None


# ---------------------------------------------------------------- exact splits inside a clip


@dataclass(frozen=True, slots=True)
class _Frames:
    """Presentation times (stream ticks) of every video frame of a source in one stretch of it."""

    tb: Fraction              # seconds per tick
    origin_us: int            # the container's start (-ss counts from there)
    pts: tuple[int, ...]      # sorted
    to_end: bool              # the stretch runs to the end of the source

    def tick(self, seconds: Fraction) -> Fraction:
        return (Fraction(self.origin_us, 1_000_000) + seconds) / self.tb

    def seconds(self, pts: int) -> Fraction:
        return pts * self.tb - Fraction(self.origin_us, 1_000_000)


def _read_frames(path: str, lo_s: Fraction, hi_s: Fraction) -> _Frames | None:
    """The frame times from ``lo_s`` to ``hi_s`` (s from the start) and a little around; None when unsure."""
    try:
        with av.open(path, metadata_errors="ignore") as container:
            if len(container.streams.video) != 1:
                return None
            stream = container.streams.video[0]
            if stream.time_base is None:
                return None
            tb = Fraction(stream.time_base.numerator, stream.time_base.denominator)
            origin_us = int(container.start_time or 0)
            if lo_s > 0:
                container.seek(origin_us + int(lo_s * 1_000_000), backward=True, any_frame=False)
            pts: list[int] = []
            to_end = True
            for packet in container.demux(stream):
                if packet.pts is None or packet.is_discard:
                    continue
                if packet.dts is not None and packet.dts * tb - Fraction(origin_us, 1_000_000) > hi_s + 1:
                    to_end = False
                    break
                pts.append(packet.pts)
    except (av.FFmpegError, OSError, ValueError):
        return None
    frames = _Frames(tb, origin_us, tuple(sorted(pts)), to_end)
    if not pts or (lo_s > 0 and frames.pts[0] > frames.tick(lo_s)):
        return None                 # the seek landed inside the stretch: frames before it are unknown
    return frames


def _half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


def _kept_from(frames: _Frames, seconds: Fraction) -> int | None:
    """The first frame that ``-ss seconds`` keeps, or None where that could depend on rounding.

    Whether FFmpeg compares in stream ticks (the seek point rounded to a tick) or in microseconds
    (each frame time rounded to one), both must keep the same frame."""
    us = frames.origin_us + _half_up(seconds * 1_000_000)
    at_tick = _half_up(Fraction(us, 1_000_000) / frames.tb)
    by_tick = next((p for p in frames.pts if p >= at_tick), None)
    by_us = next((p for p in frames.pts if _half_up(p * frames.tb * 1_000_000) >= us), None)
    return by_tick if by_tick == by_us else None


def _clip_split(tl: Timeline, cost: np.ndarray, lo: int, hi: int, target: int,
                reads: dict[tuple[str, Fraction, Fraction], _Frames | None]) -> _Cut | None:
    """The exact split inside a base clip nearest ``target`` in [lo, hi], if there is one."""
    frames = (np.nonzero(cost[lo:hi + 1] == CLIP)[0] + lo).tolist()
    for f in sorted(frames, key=lambda x: (abs(x - target), x))[:MAX_SPLIT_TRIES]:
        clip = next(v for v in tl.base if v.start < f < v.end)
        ss = _exact_ss(tl.canvas, clip, f, reads)
        if ss is not None:
            return _Cut(f, {clip.where: ss})
    return None


def _exact_ss(canvas: Canvas, v: Visual, cut: int,
              reads: dict[tuple[str, Fraction, Fraction], _Frames | None]) -> int | None:
    """The ``ss`` (ms) of a piece of ``v`` from timeline frame ``cut`` on that shows just what ``v`` shows there."""

    def read(lo_s: Fraction, hi_s: Fraction) -> _Frames | None:
        key = (v.media.path, max(Fraction(0), lo_s), hi_s)
        if key not in reads:
            reads[key] = _read_frames(*key)
        return reads[key]

    per_frame = Fraction(v.speed) / canvas.fps                 # source seconds per output frame
    start_s, need_s, hold = clip_window(v, v.extent, v.lead_in, canvas)
    read_from = Fraction(secs(start_s))                        # what -ss gets
    head = read(read_from - PROBE_SPAN, read_from + PROBE_SPAN)
    if head is None:
        return None
    tb = head.tb
    anchor = _kept_from(head, read_from) if read_from > 0 else head.pts[0]
    if anchor is None:
        return None
    # the whole render times the clip from `anchor`: its frame `shown` must be a source frame exactly
    shown = v.lead_in + cut - v.start - hold
    step = shown * per_frame / tb
    after_setpts = step / Fraction(v.speed)
    if step.denominator != 1 or after_setpts.denominator != 1 or (v.speed > 1 and after_setpts % 2):
        return None                 # setpts or fps would round the two timings differently
    cut_pts = anchor + int(step)
    cut_s = head.seconds(cut_pts)
    there = read(cut_s - PROBE_SPAN, cut_s + PROBE_SPAN)
    if there is None or (there.tb, there.origin_us) != (tb, head.origin_us) or cut_pts not in there.pts:
        return None
    first_piece = replace(v, length=cut - v.start, exit=None, cut=0)
    first_until = read_from + Fraction(secs(clip_window(first_piece, first_piece.extent, v.lead_in, canvas)[1]))
    if cut_pts > head.tick(first_until) - 1:
        return None                 # the first piece must still read the cut frame, so that it ends alike
    ss = _ss_keeping(there, cut_pts)
    if ss is None:
        return None
    second = replace(v, start=cut, length=v.end - cut, source_in_ms=ss, enter=None)
    second_from, second_need, second_hold = clip_window(second, second.extent, 0, canvas)
    if second_hold or Fraction(secs(second_from)) != Fraction(ss, 1000):
        return None
    until = min(read_from + Fraction(secs(need_s)), Fraction(ss, 1000) + Fraction(secs(second_need)))
    end_s = head.seconds(anchor) + (v.extent - hold) * per_frame     # where the frame after the clip is
    tail_s = min(end_s, Fraction(v.media.duration_ms, 1000)) if v.media.duration_ms else end_s
    tail = read(tail_s - PROBE_SPAN, tail_s + PROBE_SPAN)                # (or the source's end, if sooner)
    if tail is None or (tail.tb, tail.origin_us) != (tb, head.origin_us) or not _ends_alike(tail, end_s, until,
                                                                                               per_frame):
        return None
    return ss


def _ss_keeping(frames: _Frames, cut_pts: int) -> int | None:
    """A whole-ms ``ss`` whose seek keeps the frame at ``cut_pts`` first, however FFmpeg rounds."""
    floor_ms = math.floor(frames.seconds(cut_pts) * 1000)
    for ms in (floor_ms, floor_ms + 1, floor_ms - 1):
        if ms > 0 and _kept_from(frames, Fraction(ms, 1000)) == cut_pts:
            return ms
    return None


def _ends_alike(tail: _Frames, end_s: Fraction, until: Fraction, per_frame: Fraction) -> bool:
    """The clip's last frame is decided alike by the whole render and the second piece: by a frame that
    both read after it, or by the end of the source that both reach."""
    lo, hi = tail.tick(end_s - per_frame / 2), tail.tick(until) - 1
    if any(lo <= p <= hi for p in tail.pts):
        return True
    if not tail.to_end or len(tail.pts) < 2:
        return False
    last, before_last = tail.pts[-1], tail.pts[-2]
    return last < lo and last + 2 * (last - before_last) <= hi


# ---------------------------------------------------------------- part drafts


def _ms(canvas: Canvas, frames: int) -> int:
    """The first whole millisecond that is frame ``frames`` (the inverse of Canvas.frame)."""
    ms = max(0, math.ceil((Fraction(frames) - Fraction(1, 2)) * 1000 / canvas.fps))
    assert canvas.frame(ms) == frames
    return ms


def _items(tl: Timeline) -> list[Visual | Caption]:
    return [*tl.base, *(item for layer in tl.layers for item in layer.clips)]


def _part_draft(draft: Mapping[str, Any], tracks: Sequence[Any], tl: Timeline, a: int, b: int,
                cuts: Mapping[int, _Cut], design: tuple[int, int]) -> dict[str, Any]:
    """The whole draft's frames [a, b): its picture segments there, shifted and trimmed, and no sound."""
    out = copy.deepcopy({key: value for key, value in draft.items() if key != "t"})
    meta = out["m"] = out.get("m") or {}
    meta["width"], meta["height"] = design
    spec = meta["out"] = meta.get("out") or {}
    spec["audio"] = False
    out["d"] = _ms(tl.canvas, b - a)
    items = {item.where: item for item in _items(tl)}
    out["t"] = []
    for i, (raw, track) in enumerate(zip(draft["t"], tracks, strict=True)):
        if isinstance(track, AudioTrack):
            continue
        pieces = []
        for j, seg in enumerate(raw.get("sg") or []):
            item = items.get(f"t[{i}].sg[{j}]")      # None: it starts past the end of the timeline
            if item is not None and item.start < b and item.start + item.length > a:
                pieces.append(_piece(seg, item, a, b, tl, cuts))
        out["t"].append({**copy.deepcopy({k: v for k, v in raw.items() if k != "sg"}), "sg": pieces})
    return out


def _piece(seg: Mapping[str, Any], item: Visual | Caption, a: int, b: int, tl: Timeline,
           cuts: Mapping[int, _Cut]) -> dict[str, Any]:
    cut_before, cut_after = item.start < a, b < tl.length and item.start + item.length > b
    first = max(item.start, a)
    end = b if cut_after else item.start + item.length + (item.cut if isinstance(item, Visual) else 0)
    out = copy.deepcopy(dict(seg))
    out["st"] = _ms(tl.canvas, first - a)
    out["d"] = _ms(tl.canvas, end - a) - out["st"]
    if isinstance(item, Caption):
        if cut_before:
            out["fi"] = 0
        if cut_after:
            out["fo"] = 0
        return out
    if isinstance(out.get("tr"), dict):
        if cut_before:
            out["tr"].pop("in", None)
            out["tr"].pop("in_", None)
        if cut_after:
            out["tr"].pop("out", None)
    if cut_before and not item.is_still:
        ss = cuts[a].clip_ss.get(item.where) if a in cuts else None
        if ss is None:
            raise _Unsplittable(item.where)
        out["ss"] = ss
    return out


def _expected(item: Visual | Caption, a: int, b: int, tl: Timeline, cuts: Mapping[int, _Cut]) -> Visual | Caption:
    """What ``item`` of the whole timeline must resolve to in the part [a, b)."""
    cut_before, cut_after = item.start < a, b < tl.length and item.start + item.length > b
    first, end = max(item.start, a), min(item.start + item.length, b)
    if isinstance(item, Caption):
        return replace(item, where="", start=first - a, length=end - first,
                       fade_in=0 if cut_before else item.fade_in, fade_out=0 if cut_after else item.fade_out)
    ss = cuts[a].clip_ss[item.where] if cut_before and not item.is_still else item.source_in_ms
    return replace(item, where="", label="", start=first - a, length=end - first, source_in_ms=ss,
                   enter=None if cut_before else item.enter, exit=None if cut_after else item.exit,
                   cut=0 if cut_after else item.cut)


def _plain(item: Visual | Caption) -> Visual | Caption:
    return replace(item, where="") if isinstance(item, Caption) else replace(item, where="", label="")


def _resolves_to_slice(part: Timeline, tl: Timeline, a: int, b: int, cuts: Mapping[int, _Cut]) -> bool:
    """Whether the part's timeline is exactly frames [a, b) of the whole one, item by item."""
    def inside(items: Sequence[Visual | Caption]) -> list[Visual | Caption]:
        return [_expected(i, a, b, tl, cuts) for i in items if i.start < b and i.start + i.length > a]

    return (part.canvas == tl.canvas and part.output == replace(tl.output, audio=False) and part.length == b - a
            and [_plain(v) for v in part.base] == inside(tl.base) and len(part.layers) == len(tl.layers)
            and all(p.kind == w.kind and [_plain(i) for i in p.clips] == inside(w.clips)
                    for p, w in zip(part.layers, tl.layers, strict=True)))


# ---------------------------------------------------------------- rendering


def _temp_beside(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.partial")


def _scaled(report: ProgressCallback, low: float, high: float) -> ProgressCallback:
    return lambda fraction: report(low + (high - low) * fraction)


def _run(command: FFmpegCommand, config: EngineConfig, work: Path, cancel: threading.Event | None,
         report: ProgressCallback, low: float, high: float) -> None:
    run_ffmpeg(command, ffmpeg=config.ffmpeg, work_dir=work, timeout_s=config.timeout_s, cancel=cancel,
               on_progress=_scaled(report, low, high))


def _timeline(draft: Mapping[str, Any], resolve: Resolver) -> Timeline:
    model = parse_draft(draft)
    return build_timeline(model, probe_sources(model, resolve))


def render_part(part: Part, output: str | Path, *, config: EngineConfig, resolve: Resolver, codecs: CodecChoice,
                fonts: FontCatalog | None = None, on_progress: ProgressCallback | None = None,
                cancel: threading.Event | None = None) -> Path:
    """Render one part's picture: MP4 parts as H.264 in MP4 (the whole render's encoder options, no sound),
    GIF parts losslessly (FFV1 in Matroska) at the output size and rate. Written under a temporary name
    beside ``output``, checked (exactly ``part.frames`` frames), then renamed. Returns ``output``."""
    tl = _timeline(part.draft, resolve)
    fmt = tl.output.format
    if fmt not in CHUNKABLE:
        raise RenderError(f"{fmt} output is not rendered in parts; render it whole")
    tl = replace(tl, output=replace(tl.output, audio=False))
    if tl.length != part.frames:
        raise OutputMismatch(f"part {part.index} resolves to {tl.length} frames, not {part.frames}")
    out_path = Path(output)
    temp = _temp_beside(out_path)
    report = on_progress or (lambda _fraction: None)
    decodes_video = any(not v.is_still for v in tl.visuals())
    tag = {"part": part.index, "from": part.start_frame, "to": part.end_frame, "encoder": codecs.encoder,
           "encoder_reason": codecs.encoder_reason, "decoder": codecs.decoder if decodes_video else "none",
           "decoder_reason": codecs.decoder_reason if decodes_video else "no video sources (stills and text only)"}
    with tempfile.TemporaryDirectory(prefix="reelforge-part-", dir=config.work_dir) as scratch:
        work = Path(scratch)
        sources, _warnings = prepare_sources(tl, work, fonts or FontCatalog.discover(config.font_dirs),
                                             codecs if decodes_video else None)
        if fmt == "mp4":
            args = output_args(tl.output, rate(tl.canvas), codecs, config.x264_preset)
            command = compiler.compile_render(tl, sources, args, temp)
        else:
            command = compiler.compile_intermediate(tl, sources, temp)
        *head, path = command.output_args
        command = replace(command, output_args=(*head, "-metadata", f"comment={PART_TAG}{json.dumps(tag)}", path))
        try:
            _run(command, config, work, cancel, report, 0.0, 0.99)
            info = inspect_output(temp)
            verify(info, Expected(tl.canvas.width, tl.canvas.height, part.frames, float(tl.canvas.fps), False, True))
            if info.frames != part.frames or info.video_codec != PART_CODEC[fmt]:
                raise OutputMismatch(f"part {part.index}: {info.frames} {info.video_codec} frames written, "
                                     f"expected {part.frames} {PART_CODEC[fmt]}")
            os.replace(temp, out_path)
        finally:
            temp.unlink(missing_ok=True)
    report(1.0)
    return out_path


def render_sound(draft: Mapping[str, Any], output: str | Path, *, config: EngineConfig, resolve: Resolver,
                 on_progress: ProgressCallback | None = None, cancel: threading.Event | None = None) -> Path | None:
    """The whole timeline's sound (AAC in MP4), exactly as long as the timeline; None when the output has none."""
    tl = _timeline(draft, resolve)
    if not tl.output.audio:
        return None
    if tl.output.format != "mp4":
        raise RenderError(f"{tl.output.format} output is not rendered in parts; render it whole")
    out_path = Path(output)
    temp = _temp_beside(out_path)
    args = ["-c:a", "aac", "-b:a", AAC_BITRATE[tl.output.quality], "-f", "mp4"]
    with tempfile.TemporaryDirectory(prefix="reelforge-sound-", dir=config.work_dir) as scratch:
        try:
            _run(compiler.compile_sound(tl, args, temp), config, Path(scratch), cancel,
                 on_progress or (lambda _fraction: None), 0.0, 1.0)
            info = inspect_output(temp)
            if info.audio_codec != "aac" or info.audio_duration_s is None:
                raise OutputMismatch("the sound was not written")
            if abs(info.audio_duration_s - tl.duration_s) > 1 / float(tl.canvas.fps) + 1e-3:
                raise OutputMismatch(f"the sound lasts {info.audio_duration_s:.3f} s, expected {tl.duration_s:.3f} s")
            os.replace(temp, out_path)
        finally:
            temp.unlink(missing_ok=True)
    return out_path


# ---------------------------------------------------------------- joining


def _part_tag(path: Path) -> dict[str, Any]:
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            comment = next((v for k, v in container.metadata.items() if k.lower() == "comment"), "")
    except av.FFmpegError as exc:
        raise OutputMismatch(f"{path.name} cannot be read") from exc
    if not comment.startswith(PART_TAG):
        raise OutputMismatch(f"{path.name} was not made by render_part")
    return dict(json.loads(comment[len(PART_TAG):]))


def _parameter_sets(path: Path) -> object:
    """What of a part's H.264 parameter sets decoding depends on: all of them except the presentation-only
    fields of the VUI (aspect ratio, colour description, chroma location), which the encoder takes from the
    first frame of each part and the joined file takes from the first part, like the whole render."""
    with av.open(str(path)) as container:
        extradata = bytes(container.streams.video[0].codec_context.extradata or b"")
    try:
        return _avcc_for_decoding(extradata)
    except (IndexError, ValueError):
        return extradata


def _avcc_for_decoding(avcc: bytes) -> tuple[tuple[str, ...], tuple[bytes, ...]]:
    if len(avcc) < 7 or avcc[0] != 1:
        raise ValueError("not avcC")
    units: list[list[bytes]] = [[], []]
    pos = 5
    for kind, mask in ((0, 0x1F), (1, 0xFF)):
        count, pos = avcc[pos] & mask, pos + 1
        for _ in range(count):
            size = int.from_bytes(avcc[pos:pos + 2], "big")
            units[kind].append(avcc[pos + 2:pos + 2 + size])
            pos += 2 + size
    return tuple(_sps_for_decoding(sps) for sps in units[0]), tuple(units[1])


class _Bits:
    """An H.264 NAL unit's payload (emulation prevention removed), read bit by bit."""

    def __init__(self, nal: bytes) -> None:
        rbsp = nal.replace(b"\x00\x00\x03", b"\x00\x00")
        self.bits, self.at = "".join(f"{byte:08b}" for byte in rbsp), 0

    def u(self, n: int) -> int:
        if self.at + n > len(self.bits):
            raise IndexError("SPS ends early")
        value, self.at = int(self.bits[self.at:self.at + n] or "0", 2), self.at + n
        return value

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
        return (1 << zeros) - 1 + self.u(zeros)

    def skip_ue(self, count: int) -> None:
        for _ in range(count):
            self.ue()


def _sps_for_decoding(nal: bytes) -> str:
    """The SPS's bits, less the VUI's aspect ratio, overscan, video signal type and chroma location."""
    r = _Bits(nal)
    r.u(8)                                          # NAL header
    profile = r.u(8)
    r.u(16)                                         # constraint flags, level
    r.ue()                                          # seq_parameter_set_id
    if profile in (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135):
        if r.ue() == 3:                             # chroma_format_idc 4:4:4 ...
            r.u(1)                                  # ... separate_colour_plane_flag
        r.skip_ue(2)                                # bit depths
        r.u(1)                                      # qpprime_y_zero_transform_bypass_flag
        if r.u(1):
            raise ValueError("scaling matrices: compared whole")
    r.ue()                                          # log2_max_frame_num_minus4
    order = r.ue()                                  # pic_order_cnt_type
    if order == 0:
        r.ue()
    elif order == 1:
        r.u(1)
        r.skip_ue(2)
        r.skip_ue(r.ue())
    r.ue()                                          # max_num_ref_frames
    r.u(1)
    r.skip_ue(2)                                    # picture size in macroblocks
    if not r.u(1):                                  # frame_mbs_only_flag
        r.u(1)
    r.u(1)                                          # direct_8x8_inference_flag
    if r.u(1):                                      # frame cropping
        r.skip_ue(4)
    if not r.u(1):                                  # vui_parameters_present_flag
        return r.bits
    decoding = r.bits[:r.at]
    if r.u(1) and r.u(8) == 255:                    # aspect ratio (extended SAR)
        r.u(32)
    if r.u(1):                                      # overscan
        r.u(1)
    if r.u(1):                                      # video signal type ...
        r.u(4)
        if r.u(1):                                  # ... colour description
            r.u(24)
    if r.u(1):                                      # chroma location
        r.skip_ue(2)
    return decoding + "|" + r.bits[r.at:]           # timing, HRD and bitstream restrictions stay


def _quoted(path: Path) -> str:
    return "'" + str(path.resolve()).replace("'", "'\\''") + "'"


def _checked_parts(parts: Sequence[Path], fmt: str) -> tuple[list[dict[str, Any]], OutputInfo]:
    """Each part's record, checked: in order, back to back from frame 0, each holding its frames, one size."""
    tags: list[dict[str, Any]] = []
    first: OutputInfo | None = None
    for index, path in enumerate(parts):
        info, tag = inspect_output(path), _part_tag(path)
        first = first or info
        expected_from = tags[-1]["to"] if tags else 0
        if tag["part"] != index or tag["from"] != expected_from:
            raise OutputMismatch(f"{path.name} is part {tag['part']} (frames {tag['from']}-{tag['to']}); "
                                 f"expected part {index}, from frame {expected_from}")
        if info.frames != tag["to"] - tag["from"] or info.video_codec != PART_CODEC[fmt] or info.has_audio:
            raise OutputMismatch(f"{path.name} holds {info.frames} {info.video_codec} frames, "
                                 f"expected {tag['to'] - tag['from']} {PART_CODEC[fmt]} and no sound")
        if (info.width, info.height) != (first.width, first.height):
            raise OutputMismatch(f"{path.name} is {info.width}x{info.height}, part 0 {first.width}x{first.height}")
        tags.append(tag)
    assert first is not None
    if fmt == "mp4":
        sets = [_parameter_sets(path) for path in parts]
        if any(other != sets[0] for other in sets[1:]):
            raise OutputMismatch("the parts were encoded with different H.264 settings (their parameter sets differ); "
                                 "render every part of one output with the same encoder")
    return tags, first


def join_parts(draft: Mapping[str, Any], parts: Sequence[str | Path], sound: str | Path | None, output: str | Path,
               *, config: EngineConfig, frames: int | None = None, on_progress: ProgressCallback | None = None,
               cancel: threading.Event | None = None) -> RenderResult:
    """Join the parts (from :func:`render_part`, in order) without re-encoding their picture.

    MP4: concat demuxer with ``-c copy``, the sound muxed in, ``+faststart``. GIF: the lossless parts
    joined, one palette made over all of them, then applied. The result is checked like render()'s
    (frames, size, duration, sound), against ``frames`` too when given (the plan's last end_frame),
    written under a temporary name, then renamed."""
    started = time.monotonic()
    model = parse_draft(draft)
    canvas, spec = resolve_canvas(model, None)      # the rate and the output settings need no media
    fmt = spec.format
    if fmt not in CHUNKABLE or spec.max_bytes is not None:
        raise RenderError(f"{fmt} output{' with a size target' if spec.max_bytes else ''} is not joined from parts")
    if not parts:
        raise OutputMismatch("there are no parts to join")
    paths = [Path(p) for p in parts]
    tags, first = _checked_parts(paths, fmt)
    total = tags[-1]["to"]
    if frames is not None and total != frames:
        raise OutputMismatch(f"the parts hold {total} frames; the timeline has {frames}")
    if sound is not None and (fmt != "mp4" or model.m.out.audio is False):
        raise OutputMismatch(f"this {fmt} output has no sound, but a sound file was given")
    if sound is None and fmt == "mp4" and model.m.out.audio:
        raise OutputMismatch("the draft asks for sound, but no sound file was given")
    report = on_progress or (lambda _fraction: None)
    fps = float(canvas.fps)
    out_path = Path(output)
    temp = _temp_beside(out_path)
    with tempfile.TemporaryDirectory(prefix="reelforge-join-", dir=config.work_dir) as scratch:
        work = Path(scratch)
        listing = work / "parts.ffconcat"
        listing.write_text("ffconcat version 1.0\n" + "".join(
            f"file {_quoted(p)}\nduration {secs(float(Fraction(t['to'] - t['from']) / canvas.fps))}\n"
            for p, t in zip(paths, tags, strict=True)), encoding="utf-8")
        concat = ("-f", "concat", "-safe", "0", "-protocol_whitelist", "file", "-i", str(listing))
        duration_s = canvas.seconds(total)
        try:
            if fmt == "mp4":
                sound_in = ("-f", "mov", "-protocol_whitelist", "file", "-i", str(sound)) if sound else ()
                maps = ("-map", "0:v:0", *(("-map", "1:a:0") if sound else ()))
                out = (*maps, "-c", "copy", "-map_metadata", "-1", "-movflags", "+faststart", "-f", "mp4", str(temp))
                _run(FFmpegCommand((*concat, *sound_in), out, None, duration_s), config, work, cancel, report, 0, 0.99)
                passes = 1
            else:
                passes = _join_gif(concat, work, temp, first, spec, rate(canvas), total, duration_s, config, cancel,
                                   report)
            info = inspect_output(temp)
            verify(info, Expected(first.width, first.height, total, fps, sound is not None, timed=fmt == "mp4"))
            if info.frames != total:
                raise OutputMismatch(f"{info.frames} frames written, expected {total}")
            if sound is not None and abs((info.audio_duration_s or 0) - duration_s) > 1 / fps + 1e-3:
                raise OutputMismatch(f"the sound lasts {info.audio_duration_s} s, the picture {duration_s:.3f} s")
            os.replace(temp, out_path)
        finally:
            temp.unlink(missing_ok=True)
    report(1.0)
    encoders, decoders = {t["encoder"] for t in tags}, {t["decoder"] for t in tags if t["decoder"] != "none"}
    joined = f"; {len(paths)} parts joined without re-encoding"
    return RenderResult(
        path=out_path, format=fmt, size_bytes=out_path.stat().st_size, duration_s=info.duration_s,
        width=info.width, height=info.height, fps=fps, frames=info.frames, has_audio=info.has_audio,
        video_codec=info.video_codec or "",
        encoder=", ".join(sorted(encoders)) if fmt == "mp4" else NATIVE_ENCODERS["gif"],
        encoder_reason=(tags[0]["encoder_reason"] if fmt == "mp4" else "gif output, from lossless parts") + joined,
        decoder=", ".join(sorted(decoders)) or "none",
        decoder_reason=next((t["decoder_reason"] for t in tags if t["decoder"] != "none"), tags[0]["decoder_reason"]),
        elapsed_s=time.monotonic() - started, passes=passes,
        gif=None if fmt != "gif" else {
            "fps": fps, "width": info.width, "height": info.height, "colors": spec.colors,
            "size_bytes": out_path.stat().st_size, "target_bytes": None, "loop": spec.loop, "dither": spec.dither,
            "stats": spec.stats, "attempts": []},
    )


def _join_gif(concat: Sequence[str], work: Path, temp: Path, first: OutputInfo, spec: OutputSpec, fps: str, total: int,
              duration_s: float, config: EngineConfig, cancel: threading.Event | None, report: ProgressCallback) -> int:
    """The lossless parts as one file, then one palette for all of it (in the same pass when it fits)."""
    joined = work / "joined.mkv"
    copy_args = ("-map", "0:v:0", "-c", "copy", "-map_metadata", "-1", "-f", "matroska", str(joined))
    _run(FFmpegCommand(tuple(concat), copy_args, None, duration_s), config, work, cancel, report, 0.0, 0.2)
    args = output_args(spec, fps, None, config.x264_preset)
    width, height = first.width, first.height
    if gif.one_pass_fits(spec, width, height, total, config.gif_buffer_mb):
        _run(compiler.compile_gif_attempt(joined, width, height, fps, spec, args, temp, duration_s),
             config, work, cancel, report, 0.2, 0.99)
        return 2
    palette_png = work / "palette.png"
    _run(compiler.compile_gif_palette(joined, width, height, fps, spec, palette_png, duration_s),
         config, work, cancel, report, 0.2, 0.5)
    _run(compiler.compile_gif_attempt(joined, width, height, fps, spec, args, temp, duration_s, palette_png),
         config, work, cancel, report, 0.5, 0.99)
    return 3


# ---------------------------------------------------------------- all of it, here


def render_chunked(draft: Mapping[str, Any], output: str | Path, *, config: EngineConfig, resolve: Resolver,
                   codecs: CodecChoice, chunk_s: float, fonts: FontCatalog | None = None,
                   on_progress: ProgressCallback | None = None, cancel: threading.Event | None = None) -> RenderResult:
    """Plan, render every part (one after another, in this process), the sound, and join: the single-machine
    reference for a distributed render. A plan of one part is simply :func:`engine.pipeline.render`."""
    started = time.monotonic()
    model = parse_draft(draft)
    media = probe_sources(model, resolve)
    parts = plan_parts(draft, media, chunk_s)
    if len(parts) == 1:
        return render(model, output, config=config, resolve=resolve, codecs=codecs, fonts=fonts,
                      on_progress=on_progress, cancel=cancel)
    tl = build_timeline(model, media)
    fonts = fonts or FontCatalog.discover(config.font_dirs)
    report = on_progress or (lambda _fraction: None)
    with tempfile.TemporaryDirectory(prefix="reelforge-chunks-", dir=config.work_dir) as scratch:
        work = Path(scratch)
        files = []
        for part in parts:
            share = _scaled(report, 0.8 * part.start_frame / tl.length, 0.8 * part.end_frame / tl.length)
            files.append(render_part(part, work / f"part-{part.index:04d}{PART_SUFFIX[tl.output.format]}",
                                     config=config, resolve=resolve, codecs=codecs, fonts=fonts, cancel=cancel,
                                     on_progress=share))
        sound = render_sound(draft, work / "sound.m4a", config=config, resolve=resolve, cancel=cancel,
                             on_progress=_scaled(report, 0.8, 0.9))
        result = join_parts(draft, files, sound, output, config=config, frames=tl.length, cancel=cancel,
                            on_progress=_scaled(report, 0.9, 1.0))
    return replace(result, elapsed_s=time.monotonic() - started, warnings=(*tl.warnings, *result.warnings),
                   passes=result.passes + len(parts) + (sound is not None))
