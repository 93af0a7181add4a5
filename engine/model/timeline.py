"""The resolved timeline: a draft plus what its media are, in whole frames, ready to compile.

Rules decided here, once (docs/draft-format.md repeats them for clients):
- Time: a millisecond value becomes a frame index by rounding ``ms * fps / 1000`` half up.
  A segment occupies frames [frame(st), frame(st + d)).
- Where segments sit in milliseconds (``st`` and ``d`` left out) and the timeline's length are
  :mod:`engine.model.placement`'s rules, shared with the summary line and the chat's tools.
  Anything past the end is cut.
- Segments in one track may not overlap. Later tracks draw on top of earlier ones.
- The first video track is the base: its segments and the gaps between them (background
  colour) form one continuous picture. A transition between two adjacent segments is centred
  on the cut: it takes ``d/2`` from each side, using source frames beyond the trim points
  where the source has them and holding the edge frame where it does not, so transitions
  never move or shorten anything. At the very start or end of the timeline it lies inside the
  segment. Every video transition has an audio crossfade of the same length.
- Segments on upper video tracks and text are layers: their transitions are fades inside the
  segment.
- A reversed clip (``rev``) shows the frames it would show forwards, last first, transition
  halves included (so what it shows before its start lies past its out-point in the source).
  FFmpeg holds a reversed clip whole in memory, so it may cover at most ``MAX_REVERSE_MS`` of
  source and last at most as long on the timeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Final, Literal

from engine.errors import DraftError, Issue
from engine.model.canvas import RGB, Canvas, OutputSpec, Rect, even, resolve_canvas, rgb
from engine.model.draft import (
    MAX_DURATION_MS,
    AudioSegment,
    AudioTrack,
    Draft,
    Motion,
    TextSegment,
    TextStyle,
    TextTrack,
    Transition,
    VideoSegment,
    VideoTrack,
)
from engine.model.looks import blur_rect, crop_rect, kept_size
from engine.model.mediainfo import MediaInfo
from engine.model.placement import STILL, Source, Span, place

TEXT_FADE_MS: Final = 300
MAX_REVERSE_MS: Final = 30_000   # a reversed clip is buffered whole: 30 s of 1080x1920 frames is about 2.8 GB


@dataclass(frozen=True, slots=True)
class Blend:
    """A transition at one cut: ``lead`` frames before the cut, ``lag`` frames after it."""

    kind: str
    lead: int
    lag: int

    @property
    def frames(self) -> int:
        return self.lead + self.lag


@dataclass(frozen=True, slots=True)
class Visual:
    """A clip or still on a video track."""

    where: str                 # JSON path of the segment, for messages
    label: str
    media: MediaInfo
    start: int                 # first frame on the timeline
    length: int                # frames
    source_in_ms: int
    speed: float
    volume: float              # 0 when muted
    fit: str
    fill: RGB | None           # bar colour for "contain"; None: blurred copy of the picture
    box: Rect
    opacity: float
    motion: Motion | None
    enter: Blend | None = None
    exit: Blend | None = None
    reverse: bool = False      # plays its source range backwards (clips only)
    cut: int = 0               # frames of the segment past the timeline's end, left out
    crop: Rect | None = None   # the source pixels kept (engine/model/looks.py)
    blur: tuple[Rect, ...] = ()   # pixels of the picture after the crop, blurred

    @property
    def picture_size(self) -> tuple[int, int]:
        """The source picture's size after its crop (the box's size when the probe gave none)."""
        return kept_size(self.media.width or self.box.w, self.media.height or self.box.h, self.crop)

    @property
    def is_still(self) -> bool:
        return self.media.kind == "image"

    @property
    def end(self) -> int:
        return self.start + self.length

    @property
    def lead_in(self) -> int:
        """Frames rendered before ``start`` (the first half of an entering transition)."""
        return self.enter.lead if self.enter else 0

    @property
    def tail_out(self) -> int:
        """Frames rendered after the end (the second half of a leaving transition)."""
        return self.exit.lag if self.exit else 0

    @property
    def extent(self) -> int:
        """Every frame this clip renders, transitions included."""
        return self.lead_in + self.length + self.tail_out


@dataclass(frozen=True, slots=True)
class Sound:
    where: str
    label: str
    media: MediaInfo
    start: int
    length: int
    source_in_ms: int
    volume: float
    fade_in_ms: int
    fade_out_ms: int
    loop: bool


@dataclass(frozen=True, slots=True)
class Caption:
    where: str
    text: str
    style: TextStyle
    start: int
    length: int
    fade_in: int              # frames
    fade_out: int


@dataclass(frozen=True, slots=True)
class Layer:
    """One upper track: video clips or captions drawn over everything below."""

    kind: Literal["video", "text"]
    clips: tuple[Visual, ...] | tuple[Caption, ...]


@dataclass(frozen=True, slots=True)
class Enhancement:
    """``m.enhance``: grade each picture from its own statistics; normalise the mix to ``loudness`` LUFS.
    A timeline has one only where it asks for either."""

    picture: bool
    loudness: float | None


@dataclass(frozen=True, slots=True)
class Timeline:
    canvas: Canvas
    output: OutputSpec
    length: int                               # frames
    base: tuple[Visual, ...]
    layers: tuple[Layer, ...]
    sounds: tuple[Sound, ...]
    warnings: tuple[str, ...] = field(default=())
    enhance: Enhancement | None = None

    @property
    def duration_s(self) -> float:
        return self.canvas.seconds(self.length)

    def visuals(self) -> list[Visual]:
        """Every clip and still, base track first."""
        return [*self.base, *(c for layer in self.layers for c in layer.clips if isinstance(c, Visual))]

    def captions(self) -> list[Caption]:
        return [c for layer in self.layers for c in layer.clips if isinstance(c, Caption)]


# ---------------------------------------------------------------- segments in milliseconds


@dataclass(frozen=True, slots=True)
class _Placed:
    where: str
    start_ms: int
    end_ms: int


def _placed(span: Span, issues: list[Issue]) -> _Placed:
    """A span (engine/model/placement.py) as the frames below need it: always some length, and a looped
    segment without ``d`` running on until it is cut at the timeline's end, like anything else past it."""
    if span.length_ms is None:            # a source of unknown length
        issues.append(Issue(f"{span.where}.d", "required", "give the segment a length (d, in ms)"))
        return _Placed(span.where, span.start_ms, span.start_ms + 1)
    return _Placed(span.where, span.start_ms, span.start_ms + (MAX_DURATION_MS if span.to_end else span.length_ms))


def _media_for(src: str, where: str, media: Mapping[str, MediaInfo], wanted: str,
               issues: list[Issue]) -> MediaInfo | None:
    info = media.get(src)
    if info is None:
        issues.append(Issue(f"{where}.src", "media_known", f"no media for {src!r}"))
        return None
    if wanted == "picture" and info.kind == "audio":
        issues.append(Issue(f"{where}.src", "has_picture", f"{src!r} is audio only; put it on an audio track (tt 1)"))
        return None
    if wanted == "sound" and not info.has_audio:
        issues.append(Issue(f"{where}.src", "has_audio", f"{src!r} has no audio"))
        return None
    return info


# ---------------------------------------------------------------- transitions


def _blend(tr: Transition, canvas: Canvas, cut: int, length: int) -> Blend:
    frames = max(1, canvas.frame(tr.d))
    if cut <= 0:
        return Blend(tr.type, 0, frames)
    if cut >= length:
        return Blend(tr.type, frames, 0)
    lead = frames // 2
    return Blend(tr.type, lead, frames - lead)


def _chain_blends(clips: list[tuple[Visual, VideoSegment]], canvas: Canvas, length: int,
                  issues: list[Issue]) -> list[Visual]:
    """Attach the transitions of the base track, centred on each cut, and check that they fit.

    A cut between two adjacent clips has one transition: the later clip's ``in``, else the
    earlier clip's ``out``. Both clips carry it (as ``exit`` and ``enter``) so each knows how
    many extra frames to render.
    """
    enters: list[Blend | None] = []
    for i, (clip, seg) in enumerate(clips):
        prev = clips[i - 1] if i else None
        tr = seg.tr.in_ if seg.tr else None
        if tr is None and prev is not None and prev[0].end == clip.start and prev[1].tr:
            tr = prev[1].tr.out
        enters.append(_blend(tr, canvas, clip.start, length) if tr else None)
    out: list[Visual] = []
    for i, (clip, seg) in enumerate(clips):
        if i + 1 < len(clips) and clips[i + 1][0].start == clip.end:
            exit_ = enters[i + 1]
        else:
            tr = seg.tr.out if seg.tr else None
            exit_ = _blend(tr, canvas, clip.end, length) if tr else None
        out.append(replace(clip, enter=enters[i], exit=exit_))

    def ms(frames: int) -> str:
        return f"{canvas.seconds(frames) * 1000:.0f} ms"

    previous_end = 0
    for i, clip in enumerate(out):
        inside = (clip.enter.lag if clip.enter else 0) + (clip.exit.lead if clip.exit else 0)
        if inside > clip.length:
            issues.append(Issue(f"{clip.where}.tr", "transition_fits",
                                f"its transitions need {ms(inside)} of the segment, "
                                f"which is only {ms(clip.length)} long"))
        if clip.start > previous_end:   # a background gap before this clip
            before = out[i - 1] if i else None
            used = (before.exit.lag if before and before.exit else 0) + (clip.enter.lead if clip.enter else 0)
            if used > clip.start - previous_end:
                issues.append(Issue(f"{clip.where}.tr", "transition_fits",
                                    f"the transitions around the {ms(clip.start - previous_end)} gap before it "
                                    "are longer than the gap"))
        previous_end = clip.end
    if out and out[-1].end < length and out[-1].exit and out[-1].exit.lag > length - out[-1].end:
        issues.append(Issue(f"{out[-1].where}.tr.out", "transition_fits",
                            "the transition is longer than the gap after it"))
    return out


def _layer_blends(clip: Visual, seg: VideoSegment, canvas: Canvas, issues: list[Issue]) -> Visual:
    enter = exit_ = None
    if seg.tr and seg.tr.in_:
        enter = Blend("fade", 0, max(1, canvas.frame(seg.tr.in_.d)))
    if seg.tr and seg.tr.out:
        exit_ = Blend("fade", max(1, canvas.frame(seg.tr.out.d)), 0)
    if (enter.lag if enter else 0) + (exit_.lead if exit_ else 0) > clip.length:
        issues.append(Issue(f"{clip.where}.tr", "transition_fits", "fades are longer than the segment"))
    return replace(clip, enter=enter, exit=exit_)


# ---------------------------------------------------------------- the whole timeline


def build_timeline(draft: Draft, media: Mapping[str, MediaInfo]) -> Timeline:
    """Resolve a parsed draft against probed media, or raise DraftError with every problem found."""
    issues: list[Issue] = []
    warnings: list[str] = []
    first_visual = next((media.get(s.src) for tr in draft.t if isinstance(tr, VideoTrack) for s in tr.sg
                         if media.get(s.src) is not None and media[s.src].kind != "audio"), None)
    canvas, spec = resolve_canvas(draft, first_visual)

    infos: dict[tuple[int, int], MediaInfo | None] = {}
    for i, track in enumerate(draft.t):
        for j, seg in enumerate(track.sg):
            if not isinstance(seg, TextSegment):
                wanted = "picture" if isinstance(seg, VideoSegment) else "sound"
                infos[(i, j)] = _media_for(seg.src, f"t[{i}].sg[{j}]", media, wanted, issues)
    # A source with no media (reported above) is placed as a still, so the rest of the draft is checked too.
    placement = place(draft, lambda src: Source.of(media[src]) if src in media else STILL)
    issues.extend(placement.issues)
    placed = {i: [_placed(span, issues) for span in spans] for i, spans in enumerate(placement.tracks)}
    issues.extend(Issue(f"{p.where}.d", "min_length", f"shorter than one frame at {float(canvas.fps):g} fps")
                  for track_placed in placed.values() for p in track_placed
                  if canvas.frame(p.end_ms) <= canvas.frame(p.start_ms))
    length = canvas.frame(placement.length_ms)
    if length <= 0:
        issues.append(Issue("t", "not_empty", "the draft has nothing to render: add a segment with a length"))
    if issues:
        raise DraftError(issues)

    base: list[Visual] = []
    layers: list[Layer] = []
    sounds: list[Sound] = []
    base_index = next((i for i, tr in enumerate(draft.t) if isinstance(tr, VideoTrack)), None)
    for i, track in enumerate(draft.t):
        clipped = [(j, p) for j, p in enumerate(placed[i]) if canvas.frame(p.start_ms) < length]
        if len(clipped) < len(placed[i]):
            warnings.append(f"t[{i}]: {len(placed[i]) - len(clipped)} segment(s) start after the end and are left out")
        if isinstance(track, VideoTrack):
            pairs = []
            for j, p in clipped:
                seg = track.sg[j]
                info = infos[(i, j)]
                assert info is not None
                pairs.append((_visual(seg, info, p, canvas, length, track.mute, warnings, issues), seg))
            pairs.sort(key=lambda pair: pair[0].start)
            if i == base_index:
                base = _chain_blends(pairs, canvas, length, issues)
                warnings.extend(f"{v.where}.op: opacity applies to upper tracks; the first video track is opaque"
                                for v in base if v.opacity < 1)
            else:
                layers.append(Layer("video", tuple(_layer_blends(v, s, canvas, issues) for v, s in pairs)))
        elif isinstance(track, TextTrack):
            captions = tuple(sorted((_caption(track.sg[j], p, canvas, length, issues) for j, p in clipped),
                                    key=lambda c: c.start))
            layers.append(Layer("text", captions))
        elif isinstance(track, AudioTrack) and not track.mute:
            for j, p in clipped:
                seg = track.sg[j]
                info = infos[(i, j)]
                assert info is not None
                sounds.append(_sound(seg, info, p, canvas, length, issues))
    if issues:
        raise DraftError(issues)
    has_sound = any(s.volume > 0 for s in sounds) or any(
        v.volume > 0 and v.media.has_audio
        for v in [*base, *(c for layer in layers for c in layer.clips if isinstance(c, Visual))])
    wants_audio = draft.m.out.audio if draft.m.out.audio is not None else has_sound
    if draft.m.out.audio and spec.format in ("gif", "webp"):
        warnings.append(f"m.out.audio: {spec.format} has no sound; the audio is left out")
    spec = replace(spec, audio=bool(wants_audio) and spec.format in ("mp4", "webm"))
    enhance = draft.m.enhance
    asked = enhance is not None and (enhance.picture or enhance.loudness is not None)
    return Timeline(canvas, spec, length, tuple(base), tuple(layers), tuple(sounds), tuple(warnings),
                    Enhancement(enhance.picture, enhance.loudness) if enhance is not None and asked else None)


def _box(seg: VideoSegment, canvas: Canvas) -> Rect:
    if seg.box is None:
        return Rect(0, 0, canvas.width, canvas.height)
    x, y = int(round(seg.box.x * canvas.width)), int(round(seg.box.y * canvas.height))
    w = even(min(seg.box.w * canvas.width, canvas.width - x) or 2)
    h = even(min(seg.box.h * canvas.height, canvas.height - y) or 2)
    return Rect(x, y, w, h)


def _reversible(seg: VideoSegment, p: _Placed, issues: list[Issue]) -> None:
    """A reversed clip is held in memory whole, so it must be short both in the source and on the timeline."""
    timeline_ms = p.end_ms - p.start_ms
    source_ms = timeline_ms * seg.spd
    if max(timeline_ms, source_ms) > MAX_REVERSE_MS:
        issues.append(Issue(f"{p.where}.rev", "reverse_length",
                            f"a reversed clip may cover at most {MAX_REVERSE_MS / 1000:g} s of its source and last "
                            f"at most {MAX_REVERSE_MS / 1000:g} s (it is held in memory whole); this one covers "
                            f"{source_ms / 1000:g} s and lasts {timeline_ms / 1000:g} s: trim it first (ss and d)"))


def _visual(seg: VideoSegment, info: MediaInfo, p: _Placed, canvas: Canvas, length: int, track_muted: bool,
            warnings: list[str], issues: list[Issue]) -> Visual:
    start = canvas.frame(p.start_ms)
    end = min(length, canvas.frame(p.end_ms))
    if info.kind == "video" and info.duration_ms is not None:
        available = (info.duration_ms - seg.ss) / seg.spd
        if p.end_ms - p.start_ms > available + 1000 / float(canvas.fps):
            held = "is held at the start (the clip is reversed)" if seg.rev else "holds after that"
            warnings.append(f"{p.where}: the source ends {available / 1000:.2f} s in; its last frame {held}")
    fill = None if seg.fill == "blur" else rgb(seg.fill)
    motion = seg.mo if info.kind == "image" and seg.mo is not None and seg.mo.type != "none" else None
    if seg.mo is not None and info.kind != "image":
        warnings.append(f"{p.where}.mo: motion applies to stills only; ignored for this clip")
    reverse = seg.rev and info.kind == "video"
    if reverse:
        _reversible(seg, p, issues)
    elif seg.rev:
        warnings.append(f"{p.where}.rev: reverse applies to clips only; ignored for this still")
    box = _box(seg, canvas)
    crop = crop_rect(seg.crop, info.width or box.w, info.height or box.h) if seg.crop is not None else None
    kept = kept_size(info.width or box.w, info.height or box.h, crop)
    return Visual(
        where=p.where, label=seg.n or source_label(seg.src), media=info, start=start, length=max(1, end - start),
        source_in_ms=seg.ss, speed=seg.spd, volume=0.0 if (seg.mute or track_muted) else seg.vol, fit=seg.fit,
        fill=fill, box=box, opacity=seg.op, motion=motion, reverse=reverse,
        cut=max(0, canvas.frame(p.end_ms) - max(end, start + 1)),
        crop=crop, blur=tuple(blur_rect(region, *kept) for region in seg.blur),
    )


def _sound(seg: AudioSegment, info: MediaInfo, p: _Placed, canvas: Canvas, length: int, issues: list[Issue]) -> Sound:
    start = canvas.frame(p.start_ms)
    end = min(length, canvas.frame(p.end_ms))
    if seg.fi + seg.fo > p.end_ms - p.start_ms:
        issues.append(Issue(f"{p.where}.fi", "fades_fit", "fade-in plus fade-out is longer than the segment"))
    return Sound(p.where, seg.n or source_label(seg.src), info, start, max(1, end - start), seg.ss, seg.vol, seg.fi,
                 seg.fo, seg.loop)


def _caption(seg: TextSegment, p: _Placed, canvas: Canvas, length: int, issues: list[Issue]) -> Caption:
    anim = seg.style.anim or "none"
    fi = seg.fi if seg.fi is not None else (TEXT_FADE_MS if anim in ("fade", "fade-in") else 0)
    fo = seg.fo if seg.fo is not None else (TEXT_FADE_MS if anim in ("fade", "fade-out") else 0)
    start = canvas.frame(p.start_ms)
    end = min(length, canvas.frame(p.end_ms))
    frames = max(1, end - start)
    fade_in, fade_out = canvas.frame(fi), canvas.frame(fo)
    if fade_in + fade_out > frames:
        issues.append(Issue(f"{p.where}.fi", "fades_fit", "fade-in plus fade-out is longer than the text is shown"))
    return Caption(p.where, seg.txt, seg.style, start, frames, fade_in, fade_out)


def source_label(src: str) -> str:
    """A segment's name from its file: folder, query and extension dropped, _ and - read as spaces."""
    name = src.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return stem.replace("_", " ").replace("-", " ") or "clip"
