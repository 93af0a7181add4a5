"""Where each segment sits on the timeline, in milliseconds, and how long the timeline is.

One set of rules (docs/draft-format.md §4.4) for everything that places segments: the resolved
timeline (:mod:`engine.model.timeline`), the summary line (:mod:`engine.model.summary`) and the
chat's edit tools (``api/agent/tools.py``), so that they cannot disagree.

- ``st`` left out: the segment starts where the previous segment of its track ends (0 for the first).
- ``d`` left out: a clip lasts the rest of its source at its speed, ``(source - ss) / spd``; audio
  the rest of its source, ``source - ss``; stills and text 3000 ms. ``ss`` at or past the end of
  the source is an error (``within_source``); the segment is then placed one millisecond long, so
  that the rest of the draft can still be checked.
- A looped audio segment without ``d`` plays on until the timeline ends; one pass of its source
  is what it adds to the timeline's length, and nothing may follow it in its track.
- The timeline's length: the draft's ``d``; else the end of the last video or text segment; else
  the end of the last audio segment. Music never lengthens a video.

What is known of each source comes from the caller (:class:`Source`, or None when nothing is
known). A segment whose length therefore cannot be known has ``length_ms`` None; the next segment
of its track without ``st`` starts where it starts, and it does not count towards the length.
Pure: no files, no media probing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from engine.errors import Issue
from engine.model.draft import TRACK_AUDIO, TRACK_TEXT, TRACK_VIDEO, AudioTrack, Draft, TextTrack, VideoTrack
from engine.model.mediainfo import MediaInfo

DEFAULT_STILL_MS: Final = 3000
DEFAULT_TEXT_MS: Final = 3000

TrackKind = Literal["video", "audio", "text"]
KINDS: Final[Mapping[int, TrackKind]] = {TRACK_VIDEO: "video", TRACK_AUDIO: "audio", TRACK_TEXT: "text"}


@dataclass(frozen=True, slots=True)
class Source:
    """What placement needs to know of a source: is it a still, and how long it is (None for a still)."""

    still: bool
    duration_ms: int | None = None

    @classmethod
    def of(cls, info: MediaInfo) -> Source:
        return cls(info.kind == "image", None if info.kind == "image" else info.duration_ms)


STILL: Final = Source(still=True)
SourceLookup = Callable[[str], Source | None]


@dataclass(frozen=True, slots=True)
class Slot:
    """A segment's keys that decide its place: ``st``, ``d`` and, for the default length, its source."""

    st: int | None = None
    d: int | None = None
    src: str | None = None          # None for text
    ss: int = 0
    spd: float = 1.0
    loop: bool = False


@dataclass(frozen=True, slots=True)
class Span:
    """One segment, placed: it starts at ``start_ms`` and lasts ``length_ms`` (None: cannot be known)."""

    track: int
    index: int
    start_ms: int
    length_ms: int | None
    to_end: bool = False            # looped audio without d: plays on until the timeline ends

    @property
    def where(self) -> str:
        return f"t[{self.track}].sg[{self.index}]"

    @property
    def own_end_ms(self) -> int | None:
        """Where the segment ends by itself (for a looped one: after one pass of its source)."""
        return None if self.length_ms is None else self.start_ms + self.length_ms


@dataclass(frozen=True, slots=True)
class Placement:
    tracks: tuple[tuple[Span, ...], ...]     # one entry per track of the draft, in its order
    length_ms: int                           # the timeline's length; 0 when nothing has a length
    issues: tuple[Issue, ...]                # within_source, required, no_overlap

    def end_ms(self, span: Span) -> int | None:
        """Where ``span`` stops playing: its own end, or for a looped one the timeline's end."""
        if span.to_end and self.length_ms > span.start_ms:
            return self.length_ms
        return span.own_end_ms

    def span(self, track: int, index: int) -> Span | None:
        return next((s for s in self.tracks[track] if s.index == index), None) if track < len(self.tracks) else None


# ---------------------------------------------------------------- the rules


def default_length_ms(kind: TrackKind, slot: Slot, source: Source | None, where: str,
                      issues: list[Issue]) -> int | None:
    """A segment's length when its ``d`` is left out (see the module's docstring)."""
    if kind == "text":
        return DEFAULT_TEXT_MS
    if source is None:
        return None
    if source.still:
        return DEFAULT_STILL_MS
    if source.duration_ms is None:
        return None
    if slot.ss >= source.duration_ms:
        issues.append(Issue(f"{where}.ss", "within_source",
                            f"starts {slot.ss} ms into the source, which is only {source.duration_ms} ms long"))
        return 1
    speed = slot.spd if kind == "video" else 1.0
    length = int((source.duration_ms - slot.ss) / speed)
    if length <= 0:
        issues.append(Issue(f"{where}.d", "required", "give the segment a length (d, in ms)"))
        return 1
    return length


def _place_track(track: int, kind: TrackKind, slots: Iterable[tuple[int, Slot]], sources: SourceLookup,
                 issues: list[Issue]) -> tuple[Span, ...]:
    spans: list[Span] = []
    cursor = 0
    for index, slot in slots:
        start = slot.st if slot.st is not None else cursor
        where = f"t[{track}].sg[{index}]"
        if slot.d is not None:
            length: int | None = slot.d
        else:
            length = default_length_ms(kind, slot, sources(slot.src) if slot.src is not None else None, where, issues)
        span = Span(track, index, start, length, to_end=kind == "audio" and slot.loop and slot.d is None)
        spans.append(span)
        cursor = span.own_end_ms if span.own_end_ms is not None else start
    _check_overlaps(spans, issues)
    return tuple(spans)


def _check_overlaps(spans: Sequence[Span], issues: list[Issue]) -> None:
    """Segments of one track may touch, not overlap; a looped one without ``d`` reaches the end."""
    furthest: Span | None = None          # of the segments that start earlier, the one that reaches furthest
    for span in sorted((s for s in spans if s.length_ms is not None), key=lambda s: s.start_ms):
        if furthest is not None and _reach(furthest) > span.start_ms:
            until = "the end, looping" if furthest.to_end else f"{furthest.own_end_ms} ms"
            issues.append(Issue(f"{span.where}.st", "no_overlap",
                                f"starts at {span.start_ms} ms, inside {furthest.where} ({furthest.start_ms} ms to "
                                f"{until}); put overlapping segments on another track"))
        if furthest is None or _reach(span) > _reach(furthest):
            furthest = span


def _reach(span: Span) -> float:
    return math.inf if span.to_end else float(span.own_end_ms or span.start_ms)


def _length(kinds: Sequence[TrackKind | None], tracks: Sequence[tuple[Span, ...]], draft_d: int | None) -> int:
    def last_end(wanted: tuple[TrackKind, ...]) -> int:
        return max((s.own_end_ms for kind, spans in zip(kinds, tracks, strict=True) if kind in wanted
                    for s in spans if s.own_end_ms is not None), default=0)

    return draft_d or last_end(("video", "text")) or last_end(("audio",))


def _placement(tracks: Sequence[tuple[TrackKind | None, Iterable[tuple[int, Slot]]]], draft_d: int | None,
               sources: SourceLookup) -> Placement:
    issues: list[Issue] = []
    placed = tuple(_place_track(i, kind, slots, sources, issues) if kind else ()
                   for i, (kind, slots) in enumerate(tracks))
    return Placement(placed, _length([kind for kind, _ in tracks], placed, draft_d), tuple(issues))


# ---------------------------------------------------------------- the two ways in


def place(draft: Draft, sources: SourceLookup) -> Placement:
    """Place every segment of a parsed draft."""
    tracks: list[tuple[TrackKind | None, Iterable[tuple[int, Slot]]]] = []
    for track in draft.t:
        if isinstance(track, TextTrack):
            tracks.append(("text", [(j, Slot(seg.st, seg.d)) for j, seg in enumerate(track.sg)]))
        elif isinstance(track, AudioTrack):
            tracks.append(("audio", [(j, Slot(seg.st, seg.d, seg.src, seg.ss, loop=seg.loop))
                                     for j, seg in enumerate(track.sg)]))
        elif isinstance(track, VideoTrack):
            tracks.append(("video", [(j, Slot(seg.st, seg.d, seg.src, seg.ss, seg.spd))
                                     for j, seg in enumerate(track.sg)]))
    return _placement(tracks, draft.d, sources)


def place_json(draft: Mapping[str, Any], sources: SourceLookup) -> Placement:
    """Place every segment of a draft as JSON, read leniently (what an editor holds need not parse): a
    track whose ``tt`` is unknown, and a segment that is not an object, are left out."""
    tracks: list[tuple[TrackKind | None, Iterable[tuple[int, Slot]]]] = []
    for track in draft.get("t") or []:
        kind = KINDS.get(_int(track.get("tt"), -1)) if isinstance(track, Mapping) else None
        segments = track.get("sg") if isinstance(track, Mapping) else None
        segments = segments if isinstance(segments, list) else []
        tracks.append((kind, [(j, _slot(seg, kind)) for j, seg in enumerate(segments) if isinstance(seg, Mapping)]))
    return _placement(tracks, _int(draft.get("d"), None) or None, sources)


def _slot(seg: Mapping[str, Any], kind: TrackKind | None) -> Slot:
    src = seg.get("src")
    return Slot(st=_int(seg.get("st"), None), d=_int(seg.get("d"), None),
                src=None if kind == "text" or src is None else str(src), ss=_int(seg.get("ss"), 0) or 0,
                spd=_float(seg.get("spd"), 1.0) or 1.0, loop=bool(seg.get("loop")))


def _int(value: Any, default: int | None) -> int | None:
    if value is None or isinstance(value, bool):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _float(value: Any, default: float) -> float:
    try:
        return float(value) if value is not None else default
    except (TypeError, ValueError):
        return default
