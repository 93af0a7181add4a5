"""What every edit tool shares: the draft as JSON, the session's media, results, and the subject.

A tool takes the draft (a dict, never changed in place), the session's media and the op's
arguments, and returns the new draft, a small result for the functionResponse event, and what
it did in plain words (English and Chinese). Keys a tool does not know are carried over
untouched. Every segment a tool writes has an explicit start and length, so that later edits
(cuts, speed, repeats) can do exact arithmetic on it.

Which media an edit works on (:func:`subject`):

- A session starts from the **starting draft** (:func:`starting_draft`): every picture and clip
  uploaded, in upload order, on one main track. The API saves it when files are uploaded, so a
  first edit works on it like on any other draft.
- Pictures uploaded **before any edit** (the draft is still a starting draft, whether or not it
  was saved again after them) join it: the edit works on the starting draft of all uploads.
- Pictures uploaded **after an edit** and not in the draft are a new file to work on (the seeds'
  "batch style"): the edit works on a fresh starting draft of just those uploads.
- A draft with no pictures at all: the starting draft of every upload.

``slideshow`` and ``promo`` always use every uploaded picture.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

from api.views import media_id_of
from engine.model.draft import TRACK_AUDIO, TRACK_VIDEO
from engine.model.placement import DEFAULT_STILL_MS, STILL, Source, place_json

Draft = dict[str, Any]
STILL_MS: Final = DEFAULT_STILL_MS  # a still's length when nothing says otherwise


class ToolError(Exception):
    """The edit cannot be made (no media to work on, out of range); the message is for the user."""

    def __init__(self, en: str, zh: str) -> None:
        super().__init__(en)
        self.en, self.zh = en, zh


@dataclass(frozen=True, slots=True)
class MediaRef:
    """One upload as the tools see it."""

    id: str
    filename: str
    kind: str                    # video | image | audio
    duration_ms: int | None
    has_audio: bool
    width: int | None
    height: int | None
    created: float

    @property
    def src(self) -> str:
        """What a draft's ``src`` says: the upload's path under the API (any base URL resolves it)."""
        return f"/api/media/{self.id}/{quote(self.filename)}"

    @property
    def label(self) -> str:
        return self.filename.rsplit(".", 1)[0][:60] or self.id


@dataclass(frozen=True, slots=True)
class Said:
    en: str
    zh: str

    def in_(self, language: str) -> str:
        return self.zh if language == "zh" else self.en


@dataclass(frozen=True, slots=True)
class ToolResult:
    draft: Draft
    response: dict[str, Any]
    said: Said
    spent: int = 0


@dataclass
class Workspace:
    """What the tools may look at and ask for besides the draft."""

    media: list[MediaRef]
    draft_saved_at: float = 0.0
    language: str = "en"
    make_music_bed: Callable[[float], MediaRef] | None = None   # writes a generated bed, returns it as an upload
    made: list[MediaRef] = field(default_factory=list)

    def by_src(self, src: str) -> MediaRef | None:
        """The upload a ``src`` names, as an export resolves it: by the id in its URL or path, else by file name."""
        wanted = media_id_of(src)
        return (next((m for m in self.media if m.id == wanted), None)
                or next((m for m in self.media if m.filename == src), None))

    def visuals(self) -> list[MediaRef]:
        return [m for m in self.media if m.kind in ("video", "image")]

    def source(self, src: str) -> Source:
        """What placement knows of ``src``. What the tools cannot measure (not an upload, no length) they
        place as a still: an export would refuse the draft anyway, and every segment gets a length."""
        ref = self.by_src(src)
        if ref is None or ref.kind == "image" or ref.duration_ms is None:
            return STILL
        return Source(still=False, duration_ms=ref.duration_ms)


# ---------------------------------------------------------------- reading a draft


def tracks_of(draft: Draft, tt: int) -> list[dict[str, Any]]:
    return [t for t in draft.get("t", []) if isinstance(t, dict) and track_type(t) == tt]


def track_type(track: dict[str, Any]) -> int:
    try:
        return int(track.get("tt", -1))
    except (TypeError, ValueError):
        return -1


def seg_end(seg: dict[str, Any]) -> int:
    return int(seg.get("st") or 0) + int(seg.get("d") or 0)


def timeline_ms(draft: Draft) -> int:
    """The timeline's length, as rendering has it: the draft's ``d``, else the end of the last picture or
    text, else of the last audio (music never lengthens a video). For a draft whose segments all have
    their ``st`` and ``d`` (:func:`normalised`)."""
    return place_json(draft, lambda _src: None).length_ms


def is_still(seg: dict[str, Any], ws: Workspace) -> bool:
    ref = ws.by_src(str(seg.get("src", "")))
    return ref is not None and ref.kind == "image"


def normalised(draft: Draft, ws: Workspace) -> Draft:
    """A copy in which every segment has an explicit integer ``st`` and ``d``, where the engine places it
    (a looped audio segment without ``d`` gets the length it plays: to the timeline's end)."""
    out = copy.deepcopy(draft) if draft else {}
    placement = place_json(out, ws.source)
    for i, track in enumerate(out.get("t", [])):
        for j, seg in enumerate(track.get("sg", []) if isinstance(track, dict) else []):
            span = placement.span(i, j)
            end = placement.end_ms(span) if span is not None else None
            if span is not None and end is not None:
                seg["st"], seg["d"] = span.start_ms, end - span.start_ms
    return out


# ---------------------------------------------------------------- the subject: what "this clip" means


def visual_segment(ref: MediaRef, st: int, d: int | None = None) -> dict[str, Any]:
    length = d if d is not None else (ref.duration_ms or STILL_MS) if ref.kind == "video" else STILL_MS
    return {"src": ref.src, "n": ref.label, "st": st, "d": int(length)}


def main_track(refs: list[MediaRef], still_ms: int = STILL_MS) -> dict[str, Any]:
    segments, cursor = [], 0
    for ref in refs:
        seg = visual_segment(ref, cursor, None if ref.kind == "video" else still_ms)
        segments.append(seg)
        cursor += seg["d"]
    return {"tt": TRACK_VIDEO, "n": "Video", "sg": segments}


def starting_draft(media: list[MediaRef]) -> Draft:
    """The draft a session starts from: every picture and clip uploaded, in upload order, on one main track (the
    canvas takes the first picture's shape); {} when nothing visual was uploaded. Uploads put it in ``state``
    at once; undo walks back to it and never past it; "start over" returns to it."""
    visuals = [m for m in media if m.kind in ("video", "image")]
    return {"v": 1, "m": {}, "t": [main_track(visuals)]} if visuals else {}


def is_starting(draft: Draft, ws: Workspace) -> bool:
    """Whether ``draft`` is still a starting draft: the pictures in it, in upload order, and no edit."""
    used = _used_ids(draft, ws)
    refs = [m for m in ws.visuals() if m.id in used]
    return bool(refs) and normalised(draft, ws) == normalised(starting_draft(refs), ws)


def subject(draft: Draft, ws: Workspace) -> Draft:
    """The draft to edit: this one, the starting draft of every upload, or a fresh one made from new uploads
    (see the module's docstring). ToolError when nothing visual was uploaded."""
    has_visuals = any(t.get("sg") for t in tracks_of(draft, TRACK_VIDEO))
    used = _used_ids(draft, ws)
    fresh = [m for m in ws.visuals() if m.created > ws.draft_saved_at and m.id not in used]
    if has_visuals and not fresh:
        return normalised(draft, ws)
    if not has_visuals or is_starting(draft, ws):
        refs = ws.visuals()
    else:
        refs = fresh
    if not refs:
        raise ToolError("There is nothing to edit yet: upload a video or an image first.",
                        "还没有可编辑的素材：请先上传视频或图片。")
    return starting_draft(refs)


def _used_ids(draft: Draft, ws: Workspace) -> set[str]:
    """The uploads the draft's segments name."""
    used = {str(s.get("src", "")) for t in draft.get("t", []) if isinstance(t, dict) for s in t.get("sg", [])
            if isinstance(s, dict)}
    return {ref.id for src in used if (ref := ws.by_src(src)) is not None}


def clips_sound(draft: Draft, ws: Workspace) -> bool:
    """Whether any clip of a video track plays its own sound."""
    for track in tracks_of(draft, TRACK_VIDEO):
        if track.get("mute"):
            continue
        for seg in track.get("sg", []):
            ref = ws.by_src(str(seg.get("src", "")))
            if ref is not None and ref.has_audio and not seg.get("mute"):
                return True
    return False


def any_sound(draft: Draft, ws: Workspace) -> bool:
    """Whether the file will have sound: a clip's own or a sound track's, and the output keeps sound."""
    if (draft.get("m") or {}).get("out", {}).get("audio") is False:
        return False
    music = any(not t.get("mute") and any(float(1 if s.get("vol") is None else s["vol"]) > 0 for s in t.get("sg", []))
                for t in tracks_of(draft, TRACK_AUDIO))
    return music or clips_sound(draft, ws)


def base_track(draft: Draft) -> dict[str, Any]:
    tracks = tracks_of(draft, TRACK_VIDEO)
    if not tracks:
        raise ToolError("The timeline has no pictures.", "时间线上没有画面。")
    return tracks[0]


def output_of(draft: Draft) -> dict[str, Any]:
    meta = draft.setdefault("m", {})
    return meta.setdefault("out", {})


def secs(ms: float) -> str:
    value = ms / 1000
    return f"{value:.0f}" if abs(value - round(value)) < 0.05 else f"{value:.1f}"


def span_text(st: int, d: int) -> str:
    return f"{secs(st)}-{secs(st + d)}s"
