"""The one-line timeline summary clients print for "show tracks":

    Timeline (3 tracks): 1. Video: city timelapse (0-10s) 2. BGM: Lo-fi (0-10s, 35%) 3. Title: "Urban Dreams" (0-3s)

It reads only the draft (optionally with source lengths, for segments whose ``d`` is left
out), so it works on any draft a client holds, renderable or not. Spans are placed by
:mod:`engine.model.placement`, as rendering places them.
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.model.draft import AudioSegment, AudioTrack, Draft, TextSegment, TextTrack, VideoSegment, VideoTrack
from engine.model.placement import STILL, Source, place
from engine.model.timeline import source_label

TRACK_NAMES = {VideoTrack: "Video", AudioTrack: "Audio", TextTrack: "Text"}
MAX_QUOTE = 40


def _seconds(ms: int) -> str:
    return f"{ms / 1000:.2f}".rstrip("0").rstrip(".")


def _quote(text: str) -> str:
    flat = " ".join(text.split())
    return '"' + (flat if len(flat) <= MAX_QUOTE else flat[: MAX_QUOTE - 1] + "…") + '"'


def src_is_still(src: str) -> bool:
    suffix = src.split("?", 1)[0].lower().rsplit(".", 1)[-1]
    return suffix in ("jpg", "jpeg", "png", "webp", "gif", "heic", "heif", "bmp")


def summarize(draft: Draft, durations: Mapping[str, int | None] | None = None) -> str:
    """The summary line; ``durations`` maps a src to its length in ms (None for stills)."""
    lengths = durations or {}

    def source(src: str) -> Source | None:
        known = lengths.get(src)
        if known is not None:
            return Source(still=False, duration_ms=known)
        return STILL if src_is_still(src) else None

    placement = place(draft, source)
    parts = []
    for number, (track, spans) in enumerate(zip(draft.t, placement.tracks, strict=True), start=1):
        name = track.n or TRACK_NAMES[type(track)]
        items = []
        for seg, placed in zip(track.sg, spans, strict=True):
            start, end = placed.start_ms, placement.end_ms(placed)
            span = f"{_seconds(start)}-{_seconds(end)}s" if end is not None else f"from {_seconds(start)}s"
            if isinstance(seg, TextSegment):
                items.append(f"{_quote(seg.txt)} ({span})")
                continue
            extra = ""
            if isinstance(track, AudioTrack) or isinstance(seg, AudioSegment):
                extra = ", muted" if track.mute else f", {round(seg.vol * 100)}%"
            elif isinstance(seg, VideoSegment) and (seg.mute or track.mute):
                extra = ", muted"
            elif isinstance(seg, VideoSegment) and seg.spd != 1:
                extra = f", {seg.spd:g}x"
            items.append(f"{seg.n or source_label(seg.src)} ({span}{extra})")
        parts.append(f"{number}. {name}: " + (", ".join(items) if items else "empty"))
    count = len(draft.t)
    head = f"Timeline ({count} track{'s' if count != 1 else ''})"
    return head + (": " + " ".join(parts) if parts else ": empty")
