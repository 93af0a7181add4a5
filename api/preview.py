"""The studio's quick preview: a short, small, fast render of a draft, so a person sees an edit before
spending a full export on it.

A preview is H.264 MP4 whose short side is 360 px, at 15 fps, low quality with x264's fastest preset,
and at most ``MAX_PREVIEW_MS`` long: a window of the timeline (around the playhead when the page gives
one, else its start). The window is cut from the draft itself (:func:`window`): every segment is
placed as rendering places it (:func:`engine.model.placement.place`), the ones outside the window are
left out, the ones across its edges are trimmed (their source in-points moved to match), and the
rest shifted to start at the window's start, so the engine renders only what the preview shows.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from api.errors import BadRequest
from engine.model.cuts import cut_ends
from engine.model.draft import AudioTrack, Draft, VideoTrack
from engine.model.mediainfo import MediaInfo
from engine.model.placement import STILL, Placement, Source, place

MAX_PREVIEW_MS: Final = 20_000
PREVIEW_OUTPUT: Final = {"format": "mp4", "quality": "low", "resolution": "360p", "fps": 15}
PREVIEW_X264_PRESET: Final = "ultrafast"
# m.out keys that would make a preview something other than a quick small MP4
_DROPPED_OUT_KEYS: Final = ("width", "max_mb", "loop_seam", "loop_seam_ms", "colors", "dither", "bayer_scale",
                            "stats", "palette", "stabilize", "loop")


@dataclass(frozen=True, slots=True)
class Window:
    start_ms: int
    end_ms: int


def _ms(body: Mapping[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value) or value < 0:
        raise BadRequest(f"{key} must be a whole number of milliseconds, 0 or more", {"field": key})
    return int(value)


def requested_window(body: Mapping[str, Any], length_ms: int) -> Window:
    """The part of a ``length_ms`` timeline to preview: ``start_ms``/``end_ms`` when given (either may be left
    out), trimmed to the timeline and to at most MAX_PREVIEW_MS from its start; else the first MAX_PREVIEW_MS.
    BadRequest: not whole milliseconds, end before start, or a start past the timeline's end."""
    start, end = _ms(body, "start_ms"), _ms(body, "end_ms")
    if start is not None and end is not None and end <= start:
        raise BadRequest(f"end_ms ({end}) must be after start_ms ({start})", {"field": "end_ms"})
    if start is None:
        start = 0 if end is None else max(0, end - MAX_PREVIEW_MS)
    if start >= length_ms:
        raise BadRequest(f"start_ms ({start}) is past the end of the draft, which lasts {length_ms} ms",
                         {"field": "start_ms", "length_ms": length_ms})
    end = min(end if end is not None else start + MAX_PREVIEW_MS, start + MAX_PREVIEW_MS, length_ms)
    return Window(start, end)


def placement_of(draft: Draft, media: Mapping[str, MediaInfo]) -> Placement:
    """Where rendering puts each segment of a checked draft (``media``: its sources, by ``src``)."""
    return place(draft, lambda src: Source.of(media[src]) if src in media else STILL)


def window(draft_json: Mapping[str, Any], draft: Draft, placement: Placement, cut: Window,
           stills: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The draft with only what happens in ``cut``, moved to start at 0, and the preview's output settings.

    ``draft_json`` is the draft as sent and ``draft`` the same, parsed; ``placement`` is where it puts each
    segment; ``stills``: the sources that are pictures (they have no in-point to move). Kept segments get an
    explicit ``st`` and ``d``; a segment cut at its start starts its source later (its ``ss`` moves by what was
    cut, at its speed; a reversed clip's moves at the other end) and loses its entry transition and fade-in
    there; one cut at its end loses its exit transition and fade-out."""
    out = copy.deepcopy(dict(draft_json))
    out["d"] = cut.end_ms - cut.start_ms
    tracks: list[Any] = []
    for i, (track, spans) in enumerate(zip(draft.t, placement.tracks, strict=True)):
        track_json = dict(out["t"][i])
        kept: list[dict[str, Any]] = []
        for span in spans:
            seg = dict(track_json["sg"][span.index])
            begin = span.start_ms
            finish = placement.length_ms if span.to_end or span.length_ms is None else begin + span.length_ms
            if finish <= cut.start_ms or begin >= cut.end_ms:
                continue
            cut_front, cut_back = max(0, cut.start_ms - begin), max(0, finish - cut.end_ms)
            seg["st"] = max(begin, cut.start_ms) - cut.start_ms
            if not span.to_end:
                seg["d"] = min(finish, cut.end_ms) - max(begin, cut.start_ms)
            rate = None                       # source ms per timeline ms, where there is a source position
            if isinstance(track, VideoTrack) and seg.get("src") not in stills:
                rate = float(seg.get("spd", 1.0))
            elif isinstance(track, AudioTrack) and not seg.get("loop"):
                rate = 1.0
            cut_ends(track_json["sg"][span.index], seg, cut_front, cut_back, rate)
            if isinstance(track, AudioTrack):   # no fade at a cut end: the full render has none at the window edge
                if cut_front:
                    seg["fi"] = 0
                if cut_back:
                    seg["fo"] = 0
            kept.append(seg)
        track_json["sg"] = kept
        tracks.append(track_json)
    out["t"] = tracks
    meta = dict(out.get("m") or {})
    preset = {k: v for k, v in dict(meta.get("out") or {}).items() if k not in _DROPPED_OUT_KEYS}
    meta["out"] = {**preset, **PREVIEW_OUTPUT}
    out["m"] = meta
    return out
