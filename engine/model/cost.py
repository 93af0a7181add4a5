"""The cost of a render, counted from its draft and timeline, and the caps it must stay under.

:func:`check_cost` runs where a render is asked for (the API's export, and the chat's check of
every edit) and again where one starts (the engine's render entry: a worker does not trust the
API). The first cap a draft is over, in the order of :data:`CHECKS`, is named in a
:class:`~engine.errors.LimitExceeded`.

What is counted (:class:`Cost`), and why it costs:

- ``timeline_s``: the timeline's length.
- ``output_pixels``: frames x pixels of the picture the encoder is given (its time).
- ``reverse_pixels``: frames x box pixels of every reversed clip (frames turned round): its whole
  length, and on the first video track the longest transition declared there, for the frames it
  renders beyond its ends.
- ``segments``: video and audio segments; each reads and decodes its source (an FFmpeg input,
  with its own threads and buffers). ``texts``: text segments (an input and an overlay each).
  ``layers``: video segments over the first video track (an overlay each). ``tracks``.
- ``graph_filters``: an upper bound on the filters of the graph (:mod:`engine.graph`), summed over
  the segments from what each asks for (crop, blurred regions and ``m.enhance`` included), whatever
  its neighbours; a test compiles drafts and checks that the graph never holds more.

Every count only grows when a segment is added or made longer (a property test checks it), so a
draft under the caps stays under them while it is trimmed. Two things are outside that: the
canvas (without ``m.width`` or ``m.aspect`` it follows the first picture), and a reversed clip
pushed past the end of a timeline whose length the draft fixes (``d``): it is not rendered, and
adds no reversed frames; like every segment, it still counts as one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Final

from engine.errors import LimitExceeded
from engine.model.draft import AudioSegment, Draft, TextSegment, VideoSegment, VideoTrack
from engine.model.mediainfo import MediaInfo
from engine.model.placement import Source, place
from engine.model.timeline import Timeline

# The most filters each part of a render's graph takes (engine/graph/video.py, audio.py, gif.py).
CLIP_FILTERS: Final = 12          # read onto its frames 4, fitted to its box 4, trimmed 4
BLURRED_BARS: Final = 6           # "contain" over a blurred copy of itself (first video track only)
STILL_FILTERS: Final = 6          # one picture repeated
MOTION_FILTERS: Final = 4         # a still's Ken Burns
REVERSE_FILTERS: Final = 4
ON_CANVAS_FILTERS: Final = 4      # a box on the first video track, padded to the canvas
GAP_FILTERS: Final = 4            # background, before each segment of the first video track and after the last
TRANSITION_FILTERS: Final = 16    # its blend 6, and a cut (split, trim 4) in each of the two items it joins
LAYER_FILTERS: Final = 5          # placed 3, overlaid 2; and one per fade and for opacity
TEXT_FILTERS: Final = 13
CLIP_SOUND_FILTERS: Final = 12    # read, resampled, held, faded, trimmed, placed in its lane
TRACK_SOUND_FILTERS: Final = 8
FIXED_FILTERS: Final = 16         # the joins of the first video track, the mix, a GIF's palette
CROP_FILTERS: Final = 2           # a clip's crop, at its exact size (a still is cropped beforehand)
BLUR_FILTERS: Final = 3           # each blurred region of a clip: cut out, blurred, laid back (and one split)
GRADE_FILTERS: Final = 2          # m.enhance's picture: the grade of every clip and still
LOUDNESS_FILTERS: Final = 5       # m.enhance's loudness: loudnorm, resampled, trimmed again


@dataclass(frozen=True, slots=True)
class Caps:
    """The caps, named as the settings that hold them (:class:`engine.config.EngineConfig`, ``REELFORGE_MAX_*``)."""

    max_timeline_s: float
    max_output_pixels: int
    max_reverse_pixels: int
    max_segments: int
    max_tracks: int
    max_layers: int
    max_texts: int
    max_graph_filters: int

    @classmethod
    def of(cls, config: object) -> Caps:
        """The caps an EngineConfig (or anything with the same attributes) holds."""
        return cls(**{f.name: getattr(config, f.name) for f in fields(cls)})


@dataclass(frozen=True, slots=True)
class Cost:
    """The work a render asks for (see the module's docstring)."""

    timeline_s: float
    output_pixels: int
    reverse_pixels: int
    segments: int
    tracks: int
    layers: int
    texts: int
    graph_filters: int


# (what is counted, the cap on it, what it is in words), checked in this order
CHECKS: Final = (
    ("timeline_s", "max_timeline_s", "the timeline's length in seconds"),
    ("output_pixels", "max_output_pixels", "the output's frames x pixels"),
    ("reverse_pixels", "max_reverse_pixels", "the reversed clips' frames x box pixels"),
    ("segments", "max_segments", "the number of video and audio segments"),
    ("tracks", "max_tracks", "the number of tracks"),
    ("layers", "max_layers", "the number of video segments over the first video track"),
    ("texts", "max_texts", "the number of text segments"),
    ("graph_filters", "max_graph_filters", "the size of the filter graph (filters, at most)"),
)


def check_cost(draft: Draft, tl: Timeline, media: Mapping[str, MediaInfo], caps: Caps) -> Cost:
    """The cost of rendering ``draft`` (resolved as ``tl`` from ``media``, by src), or LimitExceeded naming
    the first cap it is over."""
    cost = measure(draft, tl, media)
    for counted, cap, what in CHECKS:
        value, maximum = getattr(cost, counted), getattr(caps, cap)
        if value > maximum:
            raise LimitExceeded(cap, value, maximum, what)
    return cost


def measure(draft: Draft, tl: Timeline, media: Mapping[str, MediaInfo]) -> Cost:
    """What rendering ``draft`` (resolved as ``tl`` from ``media``, by src) costs."""
    base = next((i for i, track in enumerate(draft.t) if isinstance(track, VideoTrack)), None)
    video = [(i, seg) for i, track in enumerate(draft.t) for seg in track.sg if isinstance(seg, VideoSegment)]
    audio = sum(isinstance(seg, AudioSegment) for track in draft.t for seg in track.sg)
    texts = sum(isinstance(seg, TextSegment) for track in draft.t for seg in track.sg)
    return Cost(
        timeline_s=tl.duration_s,
        output_pixels=tl.length * tl.canvas.width * tl.canvas.height,
        reverse_pixels=_reverse_pixels(draft, tl, media, base),
        segments=len(video) + audio,
        tracks=len(draft.t),
        layers=sum(i != base for i, _ in video),
        texts=texts,
        graph_filters=graph_filters(draft, tl, media),
    )


def _transition_frames(draft: Draft, tl: Timeline, track: int) -> int:
    """The longest transition declared on a track, in frames."""
    lengths = [tr.d for seg in draft.t[track].sg if isinstance(seg, VideoSegment) and seg.tr
               for tr in (seg.tr.in_, seg.tr.out) if tr is not None]
    return max(1, tl.canvas.frame(max(lengths))) if lengths else 0


def _reverse_pixels(draft: Draft, tl: Timeline, media: Mapping[str, MediaInfo], base: int | None) -> int:
    """Frames x box pixels of the reversed clips, each counted from its length in ms (rounded up: the most
    frames it shows, wherever it starts), and on the first video track with the frames a transition may
    add beyond its ends (half of one on each side)."""
    reversed_ = [(_position(v.where), v) for v in tl.visuals() if v.reverse]
    if not reversed_:
        return 0
    placement = place(draft, lambda src: Source.of(media[src]) if src in media else None)
    beyond = _transition_frames(draft, tl, base) if base is not None else 0
    total = 0
    for (i, j), v in reversed_:
        span = placement.span(i, j)
        assert span is not None and span.length_ms is not None
        frames = math.ceil(span.length_ms * tl.canvas.fps / 1000) + (beyond if i == base else 0)
        total += frames * v.box.w * v.box.h
    return total


def _position(where: str) -> tuple[int, int]:
    """(track, segment) of a JSON path such as ``t[2].sg[5]``."""
    track, segment = re.fullmatch(r"t\[(\d+)\]\.sg\[(\d+)\]", where).groups()  # type: ignore[union-attr]
    return int(track), int(segment)


def graph_filters(draft: Draft, tl: Timeline, media: Mapping[str, MediaInfo]) -> int:
    """At most how many filters the graph of ``draft`` holds: a sum over its segments (see the module's docstring)."""
    base = next((i for i, track in enumerate(draft.t) if isinstance(track, VideoTrack)), None)
    sound = draft.m.out.audio is not False and tl.output.format in ("mp4", "webm")   # wherever the segments lie
    total = FIXED_FILTERS + GAP_FILTERS
    enhance = draft.m.enhance
    if enhance is not None and enhance.loudness is not None and sound:
        total += LOUDNESS_FILTERS
    for i, track in enumerate(draft.t):
        for seg in track.sg:
            if isinstance(seg, TextSegment):
                total += TEXT_FILTERS
            elif isinstance(seg, AudioSegment) and sound and not track.mute and seg.vol > 0:
                total += TRACK_SOUND_FILTERS + (seg.vol != 1) + (seg.fi > 0) + (seg.fo > 0)
            elif isinstance(seg, VideoSegment):
                total += _video_filters(seg, media.get(seg.src), i == base, sound and not track.mute)
                total += GRADE_FILTERS if enhance is not None and enhance.picture else 0
    return total


def _video_filters(seg: VideoSegment, info: MediaInfo | None, on_base: bool, sound: bool) -> int:
    still = info is not None and info.kind == "image"
    declared = sum(tr is not None for tr in (seg.tr.in_, seg.tr.out)) if seg.tr else 0
    if still:
        n = STILL_FILTERS + (MOTION_FILTERS if seg.mo is not None and seg.mo.type != "none" else 0)
    else:
        n = CLIP_FILTERS + (REVERSE_FILTERS if seg.rev else 0) + (CROP_FILTERS if seg.crop is not None else 0)
        n += (1 + BLUR_FILTERS * len(seg.blur)) if seg.blur else 0
    if on_base:
        n += GAP_FILTERS + TRANSITION_FILTERS * declared + (ON_CANVAS_FILTERS if seg.box is not None else 0)
        n += BLURRED_BARS if not still and seg.fit == "contain" and seg.fill == "blur" else 0
    else:
        n += LAYER_FILTERS + declared + (seg.op < 1)
    if sound and not still and (info is None or info.has_audio) and not seg.mute and seg.vol > 0:
        n += CLIP_SOUND_FILTERS + (2 if seg.spd < 0.5 else seg.spd != 1) + (seg.vol != 1) + 3 * seg.rev
    return n
