"""The base track as pieces: which frames of which item fill every frame of the timeline.

This is the one place that decides it; the filter graph, the chunk planner and the tests read
it from here (OpenTimelineIO's ``track_with_expanded_transitions`` is the model).

The base track is a row of **items** that tile the timeline ``[0, length)`` end to end: its clips
and stills (:class:`~engine.model.timeline.Visual`) and, wherever there is none, a :class:`Gap`
of background colour. A transition at the timeline's start or end blends with a gap of no
length there. Each item counts its own frames from its start: item frame ``k`` lies on timeline
frame ``item.start + k``, so frames before its start (the first half of an entering transition)
are negative and frames after its end (the second half of a leaving one) are ``length`` and up.

The **pieces** follow one another without gap or overlap. A plain piece shows a run of one item's
frames; a blend shows a run of the outgoing item and an equally long run of the incoming one,
mixed by a transition. Every item's runs are consecutive and, taken together, one unbroken stretch
of its frames: its :meth:`BaseTrack.extent`, which is what the graph makes of it.

Which picture a clip's frame ``k`` shows is :func:`source_seconds`: the source frame presented
at that time, that is the last one whose timestamp is not later than it by more than
:func:`presentation_grace`; the first frame before the source starts and the last one after it
ends (those frames are *held*). Source times count from the file's start (its first timestamp), as
FFmpeg's ``-ss`` does.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from fractions import Fraction
from typing import Final

from engine.model.canvas import Canvas
from engine.model.mediainfo import MediaInfo
from engine.model.timeline import Blend, Timeline, Visual

UNKNOWN_TICK: Final = Fraction(1, 1000)   # a file whose time base is not known: milliseconds, the coarsest in use


@dataclass(frozen=True, slots=True)
class Gap:
    """Background colour on the base track where it has no clip (``length`` 0 at a start or end transition)."""

    start: int
    length: int
    enter: Blend | None = None     # the transition into it from the item before
    exit: Blend | None = None      # the transition out of it into the item after

    @property
    def end(self) -> int:
        return self.start + self.length


Item = Visual | Gap


@dataclass(frozen=True, slots=True)
class Run:
    """Frames ``[first, first + frames)`` of item number ``item``, in that order."""

    item: int
    first: int
    frames: int

    @property
    def stop(self) -> int:
        return self.first + self.frames


@dataclass(frozen=True, slots=True)
class Piece:
    """Timeline frames ``[start, start + frames)``: a run of one item, or a transition between two."""

    start: int
    frames: int
    run: Run                   # what it shows; in a transition, the outgoing item
    kind: str | None = None    # the transition (an xfade name), or None for a plain piece
    into: Run | None = None    # in a transition, the incoming item

    @property
    def end(self) -> int:
        return self.start + self.frames

    @property
    def is_blend(self) -> bool:
        return self.into is not None


@dataclass(frozen=True, slots=True)
class BaseTrack:
    length: int
    items: tuple[Item, ...]
    pieces: tuple[Piece, ...]

    def runs_of(self, item: int) -> list[Run]:
        """Every run of one item, in timeline order."""
        return [r for p in self.pieces for r in (p.run, p.into) if r is not None and r.item == item]

    def extent(self, item: int) -> Run:
        """The item's frames that appear anywhere, as one run: its length plus the transition halves outside it."""
        runs = self.runs_of(item)
        return Run(item, runs[0].first, runs[-1].stop - runs[0].first)

    def piece_at(self, frame: int) -> Piece:
        if not 0 <= frame < self.length:
            raise IndexError(f"frame {frame} is outside the timeline (0-{self.length - 1})")
        return self.pieces[bisect_right([p.start for p in self.pieces], frame) - 1]


def _items(tl: Timeline) -> list[Item]:
    """The clips of the base track with gaps between, before and after, as needed to tile the timeline."""
    items: list[Item] = []
    cursor = 0
    for clip in tl.base:
        if clip.start > cursor or (clip.start == 0 and clip.enter is not None):
            before = items[-1].exit if items and isinstance(items[-1], Visual) else None
            items.append(Gap(cursor, clip.start - cursor, enter=before, exit=clip.enter))
        items.append(clip)
        cursor = clip.end
    last = items[-1] if items else None
    if cursor < tl.length or (isinstance(last, Visual) and last.exit is not None):
        leaving = last.exit if isinstance(last, Visual) else None
        items.append(Gap(cursor, tl.length - cursor, enter=leaving))
    return items


def base_pieces(tl: Timeline) -> BaseTrack:
    """The base track of ``tl`` as items and pieces (see the module's docstring)."""
    items = _items(tl)
    pieces: list[Piece] = []
    for index, item in enumerate(items):
        lag = item.enter.lag if item.enter else 0
        lead = item.exit.lead if item.exit else 0
        if item.length - lead > lag:
            pieces.append(Piece(item.start + lag, item.length - lead - lag, Run(index, lag, item.length - lead - lag)))
        if item.exit is not None and index + 1 < len(items):
            blend = item.exit
            pieces.append(Piece(item.end - blend.lead, blend.frames, Run(index, item.length - blend.lead, blend.frames),
                                blend.kind, Run(index + 1, -blend.lead, blend.frames)))
    return BaseTrack(tl.length, tuple(items), tuple(pieces))


def forward_frame(v: Visual, k: int) -> int:
    """Which of the clip's frames, counted forwards from its in-point, its frame ``k`` shows.

    The same as ``k`` unless the clip is reversed: then it shows its frames last first, the
    transition halves outside it included, and keeps its first frames where the timeline's end
    cuts it (``v.cut``)."""
    return v.length + v.cut - 1 - k if v.reverse else k


def source_seconds(v: Visual, k: int, canvas: Canvas) -> Fraction:
    """The time in the source (seconds from its start) whose picture the clip's frame ``k`` shows.

    May be before 0 or past the end of the source, where the first or last frame is held."""
    return Fraction(v.source_in_ms, 1000) + forward_frame(v, k) * speed_of(v) / canvas.fps


def speed_of(v: Visual) -> Fraction:
    """The clip's speed as an exact fraction (the draft gives a decimal)."""
    return Fraction(str(v.speed))


def presentation_grace(media: MediaInfo) -> Fraction:
    """How much later than a time (seconds) a frame's timestamp may be and the frame still counts as
    presented then: half a tick of the file's time base.

    A file stores each frame's time rounded to its ticks, so a frame that is exactly on time may be
    stored up to half a tick late: Matroska and WebM count in milliseconds, so a 30 fps file's frames
    sit up to half a millisecond off the 30 fps grid. Without the grace that rounding would decide
    which frame shows, and a clip at its own rate would repeat one frame in three and skip the next."""
    tick = Fraction(media.video.time_base) if media.video and media.video.time_base else UNKNOWN_TICK
    return tick / 2
