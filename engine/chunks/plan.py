"""Where a long timeline may be cut into parts, and the draft of each part.

A part's draft must compose exactly the frames [start_frame, end_frame) of the whole timeline, so
a cut (the frame a part starts on) may pass only where nothing whose frames depend on where it
begins spans it. That is read from the pieces model (:mod:`engine.model.pieces`), which says what
every frame of the base track shows, and from the layers (:func:`cut_costs`):

- base track: never strictly inside a transition (a blend piece), nor on the cut a transition is
  centred on (each part would drop its half); free between two items that no transition joins,
  and inside background gaps; static inside a still without motion; never inside a still with
  motion (its motion is timed from its start);
- inside a clip, where the piece whose ``ss`` moves can be given a whole-ms one. Item frame ``k``
  shows ``ss + f x spd x 1000 / fps`` ms of source, where ``f = forward_frame(k)`` counts the clip's
  frames from its in-point (``k`` itself, or from the end for a reversed clip), and a piece's ``ss``
  is the time of its first frame in forward order. Cut at ``k``, a forward clip's later piece starts
  from ``f = k`` and its earlier one keeps ``ss``; a reversed clip's earlier piece starts (forwards)
  from ``f = forward_frame(k - 1)`` and its later one keeps ``ss``. So the cut is allowed where that
  time is a whole number of ms inside the source (at 30 fps and speed 1 every third frame, at speed
  1.5 every frame); the graph reads a clip started at such an ``ss`` frame for frame as the whole
  clip (:mod:`engine.graph.clip`);
- layers: captions and upper-track stills without motion are static from the end of their fade-in
  to the start of their fade-out (fades count frames from their own segment's ends, so a part may
  begin on either edge of a steady stretch, never inside a fade); anything else on a layer (video
  clips, stills with motion) never.

The timeline is cut into ``ceil(length / chunk)`` parts of equal ideal length. Each cut goes to the
nearest free frame within a quarter part of its ideal place, else the nearest static one there,
else the nearest free or static frame within half a part, else the nearest clip split there;
else that cut is dropped (its neighbours grow). No part is shorter than a quarter part, nor than
:data:`MIN_PART_FRAMES`: an H.264 part no longer than its encoder's reordering delay (2 frames with
x264's B-frames) starts with other decode timestamps than the parts after it, which the concat join
cannot line up (the join's check then refuses the result).

Every part draft is then resolved again, and what each of its frames shows
(:mod:`engine.chunks.shown`: base pieces with their item, source time or still, blend kind and
progress; layers with their item, source time and fade) must equal the whole timeline's slice of
frames. On any difference, for output that cannot be joined without re-encoding (WebM, WebP, GIF
with a size target), or for a timeline not longer than one part, the plan is one Part holding the
whole draft, which :func:`render_chunked` renders with :func:`engine.pipeline.render.render`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, Final

import numpy as np

from engine.chunks.shown import Shown
from engine.errors import DraftError
from engine.model.canvas import Canvas, design_size
from engine.model.draft import AudioTrack, Draft, VideoTrack, parse_draft
from engine.model.mediainfo import MediaInfo
from engine.model.pieces import Gap, base_pieces, source_seconds, speed_of
from engine.model.scenes import planned_scenes
from engine.model.timeline import Caption, Timeline, Visual, build_timeline

CHUNKABLE: Final = ("mp4", "gif")                      # formats whose parts join without re-encoding
FREE, STATIC, CLIP, NEVER = 0, 1, 2, 3                  # what a cut at a frame costs
MIN_PART_FRAMES: Final = 16    # H.264 delays at most 16 frames: a part this long starts like any other


@dataclass(frozen=True, slots=True)
class Part:
    """Frames [start_frame, end_frame) of a whole timeline, and a draft that composes exactly them (no sound)."""

    index: int
    start_frame: int          # on the whole timeline, inclusive
    end_frame: int            # exclusive
    draft: dict[str, Any]
    scenes: tuple[tuple[Any, ...], ...] = ()   # a GIF's: the whole timeline's scenes (Scene.to_record), for the join

    @property
    def frames(self) -> int:
        return self.end_frame - self.start_frame

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "start_frame": self.start_frame, "end_frame": self.end_frame,
                "draft": copy.deepcopy(self.draft), "scenes": [list(s) for s in self.scenes]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Part:
        draft = copy.deepcopy(dict(data["draft"]))
        scenes = tuple(tuple(s) for s in data.get("scenes", ()))
        return cls(int(data["index"]), int(data["start_frame"]), int(data["end_frame"]), draft, scenes)


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
    if tl.enhance is not None:   # m.enhance measures the whole timeline once (engine/pipeline/enhance.py)
        return whole
    chunk = max(1, round(chunk_s * tl.canvas.fps))
    if tl.output.format not in CHUNKABLE or tl.output.max_bytes is not None or tl.length <= chunk:
        return whole
    cuts = choose_cuts(cut_costs(tl), math.ceil(tl.length / chunk))
    parts = (_split(draft, model, tl, media, cuts) if cuts else None) or whole
    if tl.output.format == "gif":     # the join gives each scene its palette, and needs the draft's scenes for it
        scenes = tuple(tuple(s.to_record()) for s in planned_scenes(tl))
        parts = [replace(p, scenes=scenes) for p in parts]
    return parts


def split_at(draft: Mapping[str, Any], media: Mapping[str, MediaInfo], cuts: Sequence[int]) -> list[Part] | None:
    """The parts of ``draft`` that start at ``cuts`` (frames, besides 0), or None where a part's draft
    would not compose exactly its slice of the whole timeline. No cost is consulted: this is the check."""
    model = parse_draft(draft)
    return _split(draft, model, build_timeline(model, media), media, cuts)


# ---------------------------------------------------------------- where a cut may go


def cut_costs(tl: Timeline) -> np.ndarray:
    """What starting a part at each frame 0..length costs: FREE, STATIC, CLIP (an exact clip split) or NEVER."""
    cost = np.zeros(tl.length + 1, dtype=np.int8)

    def mark(lo: int, hi: int, level: int) -> None:       # frames lo .. hi - 1
        lo, hi = max(lo, 0), min(hi, tl.length + 1)
        if lo < hi:
            np.maximum(cost[lo:hi], level, out=cost[lo:hi])

    track = base_pieces(tl)
    for item in track.items:
        if isinstance(item, Gap):
            continue
        if item.is_still:
            mark(item.start + 1, item.end, STATIC if item.motion is None else NEVER)
        else:
            cost[item.start + 1:item.end] = np.maximum(cost[item.start + 1:item.end], _clip_cost(item, tl.canvas))
    for piece in track.pieces:
        if piece.into is not None:
            mark(piece.start + 1, piece.end, NEVER)
            joined_at = track.items[piece.into.item].start
            mark(joined_at, joined_at + 1, NEVER)
    for layer in tl.layers:
        for clip in layer.clips:
            end = clip.start + clip.length
            if isinstance(clip, Caption):
                fade_in, fade_out = clip.fade_in, clip.fade_out
            elif isinstance(clip, Visual) and clip.is_still and clip.motion is None:
                fade_in, fade_out = (clip.enter.frames if clip.enter else 0), (clip.exit.frames if clip.exit else 0)
            else:
                fade_in, fade_out = clip.length, 0
            # steady from its last fading-in frame on; a part may begin right where it starts to fade out
            steady_from, steady_to = clip.start + fade_in, end - fade_out + 1 if fade_out else end
            mark(clip.start + 1, steady_from, NEVER)
            mark(max(steady_from, clip.start + 1), steady_to, STATIC)
            mark(steady_to, end, NEVER)
    cost[0] = cost[tl.length] = NEVER
    return cost


def _clip_cost(v: Visual, canvas: Canvas) -> np.ndarray:
    """CLIP or NEVER for a cut at each of the clip's item frames 1 .. length - 1 (see the module's docstring)."""
    k = np.arange(1, v.length, dtype=np.int64)
    if v.media.duration_ms is None or v.media.video is None:
        return np.full(k.shape, NEVER, dtype=np.int8)
    per_frame = speed_of(v) * 1000 / canvas.fps            # ms of source per frame
    # the frame, counted forwards, that the split-off side starts from: forward_frame(k) of a forward
    # clip (the side after), forward_frame(k - 1) of a reversed one (the side before)
    forward = v.length + v.cut - k if v.reverse else k
    whole_ms = forward % per_frame.denominator == 0
    ss = v.source_in_ms + forward * per_frame.numerator // per_frame.denominator
    return np.where(whole_ms & (ss < v.media.duration_ms), CLIP, NEVER).astype(np.int8)


def choose_cuts(cost: np.ndarray, count: int) -> list[int]:
    """Up to ``count - 1`` cuts near equal shares of the timeline (the policy in the module's docstring)."""
    length = len(cost) - 1
    size = length / count
    shortest = max(MIN_PART_FRAMES, round(size / 4))
    chosen: list[int] = []
    previous = 0
    for i in range(1, count):
        target = round(i * size)
        lo = max(previous + shortest, round(target - size / 2))
        hi = min(length - shortest, round(target + size / 2))
        if lo > hi:
            continue
        near_lo, near_hi = max(lo, round(target - size / 4)), min(hi, round(target + size / 4))
        for a, b, worst in ((near_lo, near_hi, FREE), (near_lo, near_hi, STATIC), (lo, hi, STATIC), (lo, hi, CLIP)):
            cut = _nearest(cost, a, b, target, worst)
            if cut is not None:
                chosen.append(cut)
                previous = cut
                break
    return chosen


def _nearest(cost: np.ndarray, lo: int, hi: int, target: int, worst: int) -> int | None:
    frames = np.nonzero(cost[lo:hi + 1] <= worst)[0] + lo
    if frames.size == 0:
        return None
    return int(frames[np.argmin(np.abs(frames - target))])


# ---------------------------------------------------------------- part drafts


def _split(draft: Mapping[str, Any], model: Draft, tl: Timeline, media: Mapping[str, MediaInfo],
           cuts: Sequence[int]) -> list[Part] | None:
    first_visual = next((media.get(s.src) for tr in model.t if isinstance(tr, VideoTrack) for s in tr.sg
                         if media.get(s.src) is not None and media[s.src].kind != "audio"), None)
    design = design_size(model, first_visual)   # set on every part, so each keeps the whole's canvas
    bounds = [0, *sorted(set(cuts)), tl.length]
    if bounds[1] <= 0 or bounds[-2] >= tl.length:
        return None
    whole = Shown.of(tl)
    parts: list[Part] = []
    try:
        for index, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False)):
            part_draft = _part_draft(draft, model.t, tl, a, b, design)
            part_tl = build_timeline(parse_draft(part_draft), media)
            if (part_tl.canvas != tl.canvas or part_tl.output != replace(tl.output, audio=False)
                    or part_tl.length != b - a or Shown.of(part_tl) != whole.slice(a, b)):
                return None
            parts.append(Part(index, a, b, part_draft))
    except (DraftError, _Unsplittable):
        return None
    return parts


def _ms(canvas: Canvas, frames: int) -> int:
    """The first whole millisecond that is frame ``frames`` (the inverse of Canvas.frame)."""
    ms = max(0, math.ceil((Fraction(frames) - Fraction(1, 2)) * 1000 / canvas.fps))
    assert canvas.frame(ms) == frames
    return ms


def _segments(tl: Timeline) -> list[Visual | Caption]:
    return [*tl.base, *(item for layer in tl.layers for item in layer.clips)]


def _part_draft(draft: Mapping[str, Any], tracks: Sequence[Any], tl: Timeline, a: int, b: int,
                design: tuple[int, int]) -> dict[str, Any]:
    """The whole draft's frames [a, b): its picture segments there, shifted and trimmed, and no sound."""
    out = copy.deepcopy({key: value for key, value in draft.items() if key != "t"})
    meta = out["m"] = out.get("m") or {}
    meta["width"], meta["height"] = design
    spec = meta["out"] = meta.get("out") or {}
    spec["audio"] = False
    out["d"] = _ms(tl.canvas, b - a)
    items = {item.where: item for item in _segments(tl)}
    out["t"] = []
    for i, (raw, track) in enumerate(zip(draft["t"], tracks, strict=True)):
        if isinstance(track, AudioTrack):
            continue
        pieces = []
        for j, seg in enumerate(raw.get("sg") or []):
            item = items.get(f"t[{i}].sg[{j}]")      # None: it starts past the end of the timeline
            if item is not None and item.start < b and item.start + item.length > a:
                pieces.append(_piece(seg, item, a, b, tl))
        out["t"].append({**copy.deepcopy({k: v for k, v in raw.items() if k != "sg"}), "sg": pieces})
    return out


def _piece(seg: Mapping[str, Any], item: Visual | Caption, a: int, b: int, tl: Timeline) -> dict[str, Any]:
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
    if not item.is_still:
        # the item frame the piece shows first when played forwards (see the module's docstring)
        if item.reverse:
            k = b - item.start - 1 if cut_after else item.length + item.cut - 1
        else:
            k = first - item.start
        ss = source_seconds(item, k, tl.canvas) * 1000
        if ss.denominator != 1:
            raise _Unsplittable(item.where)
        if ss != item.source_in_ms:
            out["ss"] = int(ss)
    return out
