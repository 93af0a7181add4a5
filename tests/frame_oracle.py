"""What every frame of a draft must show, read twice: once from the engine's pieces model, once
from docs/draft-format.md §4 (4.3-4.9) by this module's own arithmetic on the draft JSON.

The property tests first check that the two readings agree (the model against the documented
rules), then that a render shows what they say. Both work in whole frames and exact fractions.

- :func:`docs_reading`: the base track frame by frame (which segment and which of its frames, or
  the background; for a transition, both sides), the layers and the captions, straight from the
  draft's milliseconds.
- :func:`model_reading`: the same from :func:`engine.model.pieces.base_pieces` and the resolved
  :class:`~engine.model.timeline.Timeline`.
- :func:`expected_pictures`: what the numbered media must then show, frame by frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from engine.model.canvas import rgb
from engine.model.mediainfo import MediaInfo
from engine.model.pieces import Gap, base_pieces, presentation_grace, source_seconds
from engine.model.timeline import Caption, Timeline, Visual
from tests.numbered import CLIPS, STILLS, Numbered, Shown, bg_luma

DEFAULT_TRANSITION_MS = 500
DEFAULT_STILL_MS = DEFAULT_TEXT_MS = 3000
TEXT_FADE_MS = 300
ALIASES = {"crossfade": "fade", "cross-fade": "fade", "fade-black": "fadeblack", "fade-through-black": "fadeblack",
           "fade-white": "fadewhite"}                                                      # 3.9
NTSC = {23.976: Fraction(24000, 1001), 29.97: Fraction(30000, 1001), 59.94: Fraction(60000, 1001)}


# ---------------------------------------------------------------- the readings' shared shapes


@dataclass(frozen=True)
class Ref:
    """Frame ``k`` of base segment ``seg`` (its index in the base track's ``sg``), counted from the
    segment's first frame; ``seg`` None is the background."""

    seg: int | None
    k: int = 0

    def __str__(self) -> str:
        return "background" if self.seg is None else f"sg[{self.seg}] frame {self.k}"


@dataclass(frozen=True)
class BaseFrame:
    """One frame of the base track: ``out`` alone, or ``out`` blending into ``into`` (step ``step`` of ``frames``)."""

    out: Ref
    into: Ref | None = None
    kind: str | None = None
    step: int = 0
    frames: int = 0

    def __str__(self) -> str:
        if self.into is None:
            return str(self.out)
        return f"{self.kind} {self.step + 1}/{self.frames}: {self.out} -> {self.into}"


@dataclass(frozen=True)
class Overlay:
    """A layer or caption segment: frames [start, end), fully opaque in [start + fade_in, end - fade_out)."""

    seg: int
    start: int
    end: int
    fade_in: int
    fade_out: int

    def state(self, f: int) -> str:
        if not self.start <= f < self.end:
            return "absent"
        return "full" if self.start + self.fade_in <= f < self.end - self.fade_out else "fading"


@dataclass(frozen=True)
class Reading:
    fps: Fraction
    length: int
    base: tuple[BaseFrame, ...]
    layers: tuple[Overlay, ...]          # the upper video track's segments (at most one such track here)
    captions: tuple[Overlay, ...]
    source_times: dict[tuple[int, int], Fraction]   # (base seg, k) -> source time, for every clip frame shown
    layer_times: dict[tuple[int, int], Fraction]    # (layer seg, k) -> source time


# ---------------------------------------------------------------- docs/draft-format.md §4, read independently


def docs_rate(value: float) -> Fraction:
    """4.2: the NTSC decimals are n*1000/1001; any other decimal is an exact fraction."""
    return NTSC.get(value, Fraction(str(value)))


def docs_frame(ms: int, fps: Fraction) -> int:
    """4.3: frame(ms) = floor(ms * fps / 1000 + 0.5)."""
    return int(Fraction(ms) * fps / 1000 + Fraction(1, 2))


def _transition(value: Any) -> tuple[str, int] | None:
    """3.9: a name, or an object with ``type`` (default fade) and ``d`` (default 500 ms)."""
    if value is None:
        return None
    if isinstance(value, str):
        name, d = value, DEFAULT_TRANSITION_MS
    else:
        name, d = value.get("type", "fade"), value.get("d", DEFAULT_TRANSITION_MS)
    name = name.lower()
    return ALIASES.get(name, name), d


def _placed_ms(track: Mapping[str, Any], media: Mapping[str, MediaInfo]) -> list[tuple[int, int]]:
    """4.4: each segment's [start, end) in ms; ``st`` defaults to where the previous one ends."""
    out, cursor = [], 0
    for seg in track["sg"]:
        start = seg["st"] if seg.get("st") is not None else cursor
        d = seg.get("d")
        if d is None:
            if "txt" in seg:
                d = DEFAULT_TEXT_MS
            elif media[seg["src"]].kind == "image":
                d = DEFAULT_STILL_MS
            else:
                d = int((media[seg["src"]].duration_ms - seg.get("ss", 0)) / seg.get("spd", 1))
        out.append((start, start + d))
        cursor = start + d
    return out


def docs_reading(draft: Mapping[str, Any], media: Mapping[str, MediaInfo]) -> Reading:
    meta = draft.get("m", {})
    fps = docs_rate((meta.get("out") or {}).get("fps") or meta.get("fps", 30))     # 4.2: out.fps, else m.fps

    def frame(ms: int) -> int:
        return docs_frame(ms, fps)

    tracks = draft["t"]
    placed = [_placed_ms(t, media) for t in tracks]
    visual_end = max((e for t, p in zip(tracks, placed, strict=True) if t["tt"] in (0, 7) for _s, e in p), default=0)
    length = frame(draft.get("d") or visual_end)

    def span(start_ms: int, end_ms: int) -> tuple[int, int, int]:
        """First frame, end frame (cut at the timeline's end) and the uncut frame count."""
        first = frame(start_ms)
        whole = max(frame(end_ms), first + 1)
        return first, min(length, whole), whole - first

    base_at = next(i for i, t in enumerate(tracks) if t["tt"] == 0)
    base_sg = tracks[base_at]["sg"]
    kept = sorted((span(*p) + (j,) for j, p in enumerate(placed[base_at]) if frame(p[0]) < length),
                  key=lambda s: s[0])

    # 4.7: the transitions of the base track, as (first frame, frames, kind, outgoing seg, incoming seg)
    blends: list[tuple[int, int, str, int | None, int | None]] = []

    def centred(cut: int, tr: tuple[str, int], out: int | None, into: int | None) -> None:
        frames = max(1, frame(tr[1]))
        if cut == 0:
            lead = 0                      # at the very start: inside the segment
        elif cut == length:
            lead = frames                 # at the very end: inside the segment
        else:
            lead = frames // 2            # centred on the cut, half (rounded down) before it
        blends.append((cut - lead, frames, tr[0], out, into))

    for n, (start, end, _whole, j) in enumerate(kept):
        tr = base_sg[j].get("tr") or {}
        before = kept[n - 1] if n else None
        touching = before is not None and before[1] == start
        entering = _transition(tr.get("in"))
        if entering is None and touching:
            entering = _transition((base_sg[before[3]].get("tr") or {}).get("out"))
        if entering is not None:
            centred(start, entering, before[3] if touching else None, j)
        after = kept[n + 1] if n + 1 < len(kept) else None
        if after is None or after[0] != end:
            leaving = _transition(tr.get("out"))
            if leaving is not None:
                centred(end, leaving, j, None)

    starts = {j: start for start, _end, _whole, j in kept}
    base: list[BaseFrame] = []
    for f in range(length):
        blend = next((b for b in blends if b[0] <= f < b[0] + b[1]), None)
        if blend is not None:
            first, frames, kind, out, into = blend
            base.append(BaseFrame(_ref(out, f, starts), _ref(into, f, starts), kind, f - first, frames))
            continue
        seg = next((j for start, end, _whole, j in kept if start <= f < end), None)
        base.append(BaseFrame(_ref(seg, f, starts)))

    # 4.4 reverse and speed: which source time a segment's frame k shows, transition halves included
    whole_of = {j: whole for _start, _end, whole, j in kept}
    source_times = {}
    for bf in base:
        for ref in (bf.out, bf.into):
            if ref is not None and ref.seg is not None and media[base_sg[ref.seg]["src"]].kind == "video":
                source_times[(ref.seg, ref.k)] = _source_time(base_sg[ref.seg], ref.k, whole_of[ref.seg], fps)

    layers: list[Overlay] = []
    captions: list[Overlay] = []
    layer_times = {}
    for t, p in zip(tracks, placed, strict=True):
        if t is tracks[base_at] or t["tt"] == 1:
            continue
        for j, (seg, (s, e)) in enumerate(zip(t["sg"], p, strict=True)):
            if frame(s) >= length:
                continue
            start, end, whole = span(s, e)
            if t["tt"] == 0:     # 4.7 on layers: opacity fades inside the segment
                tr = seg.get("tr") or {}
                fades = [_transition(tr.get(key)) for key in ("in", "out")]
                fi, fo = (max(1, frame(x[1])) if x else 0 for x in fades)
                layers.append(Overlay(j, start, end, fi, fo))
                for k in range(end - start):
                    layer_times[(j, k)] = _source_time(seg, k, whole, fps)
            else:                # 4.11: fi / fo, or 300 ms from style.anim
                anim = (seg.get("style") or {}).get("anim") or "none"
                fi, fo = (seg[key] if seg.get(key) is not None else TEXT_FADE_MS if anim in ("fade", way) else 0
                          for key, way in (("fi", "fade-in"), ("fo", "fade-out")))
                captions.append(Overlay(j, start, end, frame(fi), frame(fo)))
    return Reading(fps, length, tuple(base), tuple(layers), tuple(captions), source_times, layer_times)


def _ref(seg: int | None, f: int, starts: Mapping[int, int]) -> Ref:
    return Ref(None) if seg is None else Ref(seg, f - starts[seg])


def _source_time(seg: Mapping[str, Any], k: int, whole: int, fps: Fraction) -> Fraction:
    """4.4: frame k plays ``ss + k * spd / fps``; reversed, the same frames last first (frame k shows
    what forward frame ``whole - 1 - k`` shows, ``whole`` counting the frames the segment covers uncut)."""
    forward = whole - 1 - k if seg.get("rev") else k
    return Fraction(seg.get("ss", 0), 1000) + forward * Fraction(str(seg.get("spd", 1))) / fps


# ---------------------------------------------------------------- the engine's model


def _seg(where: str) -> int:
    return int(where.rsplit("sg[", 1)[1].rstrip("]"))


def model_reading(tl: Timeline) -> Reading:
    track = base_pieces(tl)
    fps = tl.canvas.fps
    base: list[BaseFrame] = []
    source_times = {}

    def ref(item: int, k: int) -> Ref:
        it = track.items[item]
        if isinstance(it, Gap):
            return Ref(None)
        r = Ref(_seg(it.where), k)
        if not it.is_still:
            source_times[(r.seg, k)] = source_seconds(it, k, tl.canvas)
        return r

    for f in range(tl.length):
        p = track.piece_at(f)
        out = ref(p.run.item, p.run.first + f - p.start)
        if p.into is None:
            base.append(BaseFrame(out))
        else:
            base.append(BaseFrame(out, ref(p.into.item, p.into.first + f - p.start), p.kind, f - p.start, p.frames))

    layers: list[Overlay] = []
    captions: list[Overlay] = []
    layer_times = {}
    for layer in tl.layers:
        for item in layer.clips:
            if isinstance(item, Caption):
                captions.append(Overlay(_seg(item.where), item.start, item.start + item.length, item.fade_in,
                                        item.fade_out))
            else:
                assert isinstance(item, Visual)
                fi = item.enter.frames if item.enter else 0
                fo = item.exit.frames if item.exit else 0
                layers.append(Overlay(_seg(item.where), item.start, item.end, fi, fo))
                for k in range(item.length):
                    layer_times[(_seg(item.where), k)] = source_seconds(item, k, tl.canvas)
    return Reading(fps, tl.length, tuple(base), tuple(layers), tuple(captions), source_times, layer_times)


# ---------------------------------------------------------------- what the numbered media must show


@dataclass(frozen=True)
class Expected:
    """Frame by frame: the base band (one picture, or two blending), the layer and the caption."""

    base: tuple[tuple[Shown, Shown | None, BaseFrame], ...]
    layer: tuple[tuple[str, Shown | None, float], ...]     # state, layer frame (when full), opacity
    caption: tuple[str, ...]
    edges: frozenset[int]     # frames where a source frame's time is exactly on the grace boundary


def expected_pictures(draft: Mapping[str, Any], reading: Reading, numbered: Numbered) -> Expected:
    """The pictures of :func:`model_reading` (or :func:`docs_reading`) on numbered media."""
    video = [t for t in draft["t"] if t["tt"] == 0]
    base_sg, layer_sg = video[0]["sg"], (video[1]["sg"] if len(video) > 1 else [])
    grey = bg_luma(_bg(draft))
    stills = {s.src: s.ident for s in STILLS}
    edges: set[int] = set()

    def clip_frame(src: str, t: Fraction, speed: Fraction, f: int) -> Shown:
        grace = presentation_grace(numbered.media[src])
        if numbered.on_the_edge(src, t, grace):
            edges.add(f)
        return Shown("clip", CLIPS[src].ident, numbered.frame_at(src, t, grace))

    def shown(ref: Ref | None, f: int) -> Shown | None:
        if ref is None:
            return None
        if ref.seg is None:
            return Shown("background", grey=grey)
        seg = base_sg[ref.seg]
        if seg["src"] in stills:
            return Shown("still", stills[seg["src"]])
        return clip_frame(seg["src"], reading.source_times[(ref.seg, ref.k)], Fraction(str(seg.get("spd", 1))), f)

    base = tuple((shown(bf.out, f), shown(bf.into, f), bf) for f, bf in enumerate(reading.base))
    layers = []
    for f in range(reading.length):
        active = [o for o in reading.layers if o.state(f) != "absent"]
        if not active:
            layers.append(("absent", None, 0.0))
            continue
        o = active[0]
        seg = layer_sg[o.seg]
        op = float(seg.get("op", 1))
        if o.state(f) == "full":
            t = reading.layer_times[(o.seg, f - o.start)]
            layers.append(("full", clip_frame(seg["src"], t, Fraction(str(seg.get("spd", 1))), f), op))
        else:
            layers.append(("fading", None, op))
    captions = tuple(next((o.state(f) for o in reading.captions if o.state(f) != "absent"), "absent")
                     for f in range(reading.length))
    return Expected(base, tuple(layers), captions, frozenset(edges))


def _bg(draft: Mapping[str, Any]) -> tuple[int, int, int]:
    return rgb(draft.get("m", {}).get("bg", "#000000"))
