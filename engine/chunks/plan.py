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
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, Final

import av
import numpy as np

from engine.errors import DraftError
from engine.graph.build import secs
from engine.graph.video import clip_window
from engine.model.canvas import Canvas, design_size
from engine.model.draft import AudioTrack, VideoTrack, parse_draft
from engine.model.mediainfo import MediaInfo
from engine.model.timeline import Blend, Caption, Timeline, Visual, build_timeline

CHUNKABLE: Final = ("mp4", "gif")                      # formats whose parts join without re-encoding
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


