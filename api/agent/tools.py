"""The edit tools: each op (``api.agent.ops``) applied to a draft, as plain functions on its JSON.

A tool takes the draft (a dict, never changed in place), the session's media and the op's
arguments, and returns the new draft, a small result for the functionResponse event, and what
it did in plain words (English and Chinese). Keys a tool does not know are carried over
untouched. Every segment a tool writes has an explicit start and length, so that later edits
(cuts, speed) can do exact arithmetic on it.

Which media an edit works on: the visual segments already in the draft; when the draft has none,
or when pictures were uploaded after the draft was last saved and are not in it (a new file to
work on, the seeds' "batch style"), a fresh main track is made from those uploads, in upload
order. ``slideshow`` and ``promo`` always use every uploaded picture.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

from api.agent import ops as o
from api.views import media_id_of
from engine.model.draft import ASPECTS, TRACK_AUDIO, TRACK_TEXT, TRACK_VIDEO
from engine.model.placement import DEFAULT_STILL_MS, STILL, Source, place_json

Draft = dict[str, Any]
STILL_MS: Final = DEFAULT_STILL_MS  # a still's length when nothing says otherwise
STILL_CLIP_MS: Final = 5000       # "turn this image into a clip"
TRANSITION_MS: Final = 500
PROMO_TRANSITION_MS: Final = 600
MOTIONS_CYCLE: Final = ("zoom-in", "pan-right", "zoom-out", "pan-left")
SMALL_GIF: Final = {"width": 360, "fps": 10, "colors": 128}
COLOURS: Final = {"title": "#FFFFFF", "caption": "#FFFFFF", "closing": "#FFFFFF"}
TEXT_DEFAULTS: Final = {"title": ("top", 96, True), "caption": ("bottom", 64, False), "closing": ("center", 88, True)}
MUSIC_UNDER_SOUND: Final = 0.35   # music volume under clips that have their own sound
MUSIC_ALONE: Final = 0.8          # music volume when nothing else sounds
BED_FADE_IN_MS: Final = 2000      # the built-in bed is a seamless loop with no fades of its own: the segment fades it


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


def _tracks(draft: Draft, tt: int) -> list[dict[str, Any]]:
    return [t for t in draft.get("t", []) if isinstance(t, dict) and _tt(t) == tt]


def _tt(track: dict[str, Any]) -> int:
    try:
        return int(track.get("tt", -1))
    except (TypeError, ValueError):
        return -1


def _end(seg: dict[str, Any]) -> int:
    return int(seg.get("st") or 0) + int(seg.get("d") or 0)


def timeline_ms(draft: Draft) -> int:
    """The timeline's length, as rendering has it: the draft's ``d``, else the end of the last picture or
    text, else of the last audio (music never lengthens a video). For a draft whose segments all have
    their ``st`` and ``d`` (:func:`normalised`)."""
    return place_json(draft, lambda _src: None).length_ms


def _is_still(seg: dict[str, Any], ws: Workspace) -> bool:
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


def _visual_segment(ref: MediaRef, st: int, d: int | None = None) -> dict[str, Any]:
    length = d if d is not None else (ref.duration_ms or STILL_MS) if ref.kind == "video" else STILL_MS
    return {"src": ref.src, "n": ref.label, "st": st, "d": int(length)}


def _main_track(refs: list[MediaRef], still_ms: int = STILL_MS) -> dict[str, Any]:
    segments, cursor = [], 0
    for ref in refs:
        seg = _visual_segment(ref, cursor, None if ref.kind == "video" else still_ms)
        segments.append(seg)
        cursor += seg["d"]
    return {"tt": TRACK_VIDEO, "n": "Video", "sg": segments}


def starting_draft(media: list[MediaRef]) -> Draft:
    """The draft a session starts from: every picture and clip uploaded, in upload order, on one main track (the
    canvas takes the first picture's shape); {} when nothing visual was uploaded. Uploads put it in ``state``
    at once; undo walks back to it and never past it; "start over" returns to it."""
    visuals = [m for m in media if m.kind in ("video", "image")]
    return {"v": 1, "m": {}, "t": [_main_track(visuals)]} if visuals else {}


def subject(draft: Draft, ws: Workspace) -> Draft:
    """The draft to edit: this one, or a fresh one made from new uploads (see the module's docstring)."""
    has_visuals = any(t.get("sg") for t in _tracks(draft, TRACK_VIDEO))
    used = {str(s.get("src", "")) for t in draft.get("t", []) if isinstance(t, dict) for s in t.get("sg", [])
            if isinstance(s, dict)}
    used_ids = {ref.id for src in used if (ref := ws.by_src(src)) is not None}
    fresh = [m for m in ws.visuals() if m.created > ws.draft_saved_at and m.id not in used_ids]
    if has_visuals and not fresh:
        return normalised(draft, ws)
    refs = fresh if has_visuals else ws.visuals()
    if not refs:
        raise ToolError("There is nothing to edit yet: upload a video or an image first.",
                        "还没有可编辑的素材：请先上传视频或图片。")
    return {"v": 1, "m": {}, "t": [_main_track(refs)]}


def _base(draft: Draft) -> dict[str, Any]:
    tracks = _tracks(draft, TRACK_VIDEO)
    if not tracks:
        raise ToolError("The timeline has no pictures.", "时间线上没有画面。")
    return tracks[0]


def _out(draft: Draft) -> dict[str, Any]:
    meta = draft.setdefault("m", {})
    return meta.setdefault("out", {})


def _seconds(ms: float) -> str:
    value = ms / 1000
    return f"{value:.0f}" if abs(value - round(value)) < 0.05 else f"{value:.1f}"


def _span(st: int, d: int) -> str:
    return f"{_seconds(st)}-{_seconds(st + d)}s"


# ---------------------------------------------------------------- output


def set_output(draft: Draft, ws: Workspace, a: o.SetOutput) -> ToolResult:
    draft = subject(draft, ws)
    out = _out(draft)
    en, zh = [], []
    if a.format:
        out["format"] = a.format
        en.append(f"output as {a.format.upper()}")
        zh.append(f"输出为 {a.format.upper()}")
    fmt = out.get("format", "mp4")
    animated = fmt in ("gif", "webp")
    if a.resolution:
        out["resolution"] = a.resolution
        out.pop("width", None)
        en.append(a.resolution)
        zh.append(a.resolution)
    if a.width:
        out["width"] = a.width
        en.append(f"{a.width} px wide")
        zh.append(f"宽 {a.width} 像素")
    if a.fps:
        out["fps"] = a.fps
        en.append(f"{a.fps:g} fps")
        zh.append(f"{a.fps:g} 帧/秒")
    if a.loop is not None:
        out["loop"] = 0 if a.loop else -1
        en.append("looping" if a.loop else "playing once")
        zh.append("循环播放" if a.loop else "只播放一次")
    if a.audio is not None:
        out["audio"] = a.audio
        en.append("with sound" if a.audio else "no sound")
        zh.append("有声音" if a.audio else "无声音")
    if a.quality:
        out["quality"] = a.quality
        en.append(f"{a.quality} quality")
        zh.append(f"{a.quality} 画质")
    if a.small:
        if animated:
            for key, value in SMALL_GIF.items():
                out.setdefault(key, value)
            en.append(f"compressed ({out['width']} px, {out['fps']:g} fps, {out['colors']} colours)")
            zh.append(f"压缩（{out['width']} 像素，{out['fps']:g} 帧/秒，{out['colors']} 色）")
        else:
            out["quality"] = "low" if out.get("quality") == "medium" else "medium"
            out.setdefault("resolution", "720p")
            en.append(f"compressed ({out['quality']} quality, {out['resolution']})")
            zh.append(f"压缩（{out['quality']} 画质，{out['resolution']}）")
    if a.max_mb:
        if animated:
            out["max_mb"] = a.max_mb
            en.append(f"under {a.max_mb:g} MB")
            zh.append(f"小于 {a.max_mb:g} MB")
        else:        # MP4/WebM have no size search: aim by bitrate (quality and size)
            seconds = max(1.0, timeline_ms(draft) / 1000)
            mbit_per_s = a.max_mb * 8 / seconds
            out["quality"] = "low" if mbit_per_s < 4 else "medium"
            out["resolution"] = "480p" if mbit_per_s < 1.5 else "720p" if mbit_per_s < 6 else "1080p"
            en.append(f"aiming at {a.max_mb:g} MB ({out['quality']} quality, {out['resolution']}; "
                      f"a size target is exact for GIF only)")
            zh.append(f"目标约 {a.max_mb:g} MB（{out['quality']} 画质，{out['resolution']}；只有 GIF 能保证大小）")
    if fmt == "gif" and "loop" not in out:
        out["loop"] = 0
    if not en:
        en, zh = ["kept the output settings"], ["输出设置未变"]
    return ToolResult(draft, {"status": "success", "output": dict(out)},
                      Said("Set the " + ", ".join(en) + ".", "已设置：" + "，".join(zh) + "。"))


# ---------------------------------------------------------------- cutting the timeline


def _cut(seg: dict[str, Any], tt: int, a: int, b: int, ws: Workspace) -> dict[str, Any] | None:
    """The part of ``seg`` inside [a, b), moved to start at (its start - a); None when nothing is inside."""
    st, end = seg["st"], seg["st"] + seg["d"]
    lo, hi = max(st, a), min(end, b)
    if hi - lo < 1:
        return None
    part = dict(seg)
    part["st"], part["d"] = lo - a, hi - lo
    head, tail = lo - st, end - hi            # timeline ms cut from each end
    if tt in (TRACK_VIDEO, TRACK_AUDIO) and not (tt == TRACK_VIDEO and _is_still(seg, ws)):
        rate = float(seg.get("spd") or 1) if tt == TRACK_VIDEO else 1.0
        skipped = tail if seg.get("rev") else head        # a reversed clip shows its source end first
        if skipped and not (tt == TRACK_AUDIO and seg.get("loop")):
            part["ss"] = int(seg.get("ss") or 0) + int(skipped * rate)
    if isinstance(seg.get("tr"), dict):
        tr = dict(seg["tr"])
        if head:
            tr.pop("in", None)
        if tail:
            tr.pop("out", None)
        part["tr"] = tr or None
        if part["tr"] is None:
            part.pop("tr")
    for key in ("fi", "fo"):
        if part.get(key):
            part[key] = min(int(part[key]), part["d"] // 2)
    return part


def _window(draft: Draft, a: int, b: int, shift: int, ws: Workspace) -> list[list[dict[str, Any]]]:
    """Per track: its segments' parts inside [a, b), placed at ``shift``."""
    out = []
    for track in draft.get("t", []):
        parts = []
        for seg in track.get("sg", []):
            part = _cut(seg, _tt(track), a, b, ws)
            if part is not None:
                part["st"] += shift
                parts.append(part)
        out.append(parts)
    return out


def _with_segments(draft: Draft, per_track: list[list[dict[str, Any]]], length: int) -> Draft:
    new = dict(draft)
    new["t"] = [dict(track, sg=segs) for track, segs in zip(draft.get("t", []), per_track, strict=True)]
    if draft.get("d"):
        new["d"] = length
    return new


def _range_check(draft: Draft, start: int, end: int | None) -> tuple[int, int, int]:
    total = timeline_ms(draft)
    stop = total if end is None else min(end, total)
    if start >= total or stop - start < 100:
        raise ToolError(f"That range is outside the video, which is {_seconds(total)} s long.",
                        f"这个时间范围超出了视频长度（{_seconds(total)} 秒）。")
    return total, start, stop


def keep_range(draft: Draft, ws: Workspace, a: o.KeepRange) -> ToolResult:
    draft = subject(draft, ws)
    total, start, stop = _range_check(draft, a.start_ms, a.end_ms)
    new = _with_segments(draft, _window(draft, start, stop, 0, ws), stop - start)
    return ToolResult(new, {"status": "success", "kept_ms": [start, stop], "duration_ms": timeline_ms(new)},
                      Said(f"Trimmed to {_span(start, stop - start)} of the original; the video is now "
                           f"{_seconds(stop - start)} s long.",
                           f"已截取原视频的 {_span(start, stop - start)}，现在时长 {_seconds(stop - start)} 秒。"))


def remove_range(draft: Draft, ws: Workspace, a: o.RemoveRange) -> ToolResult:
    draft = subject(draft, ws)
    total, start, stop = _range_check(draft, a.start_ms, a.end_ms)
    if start == 0 and stop >= total:
        raise ToolError("That would cut the whole video.", "这样会把整个视频都剪掉。")
    before = _window(draft, 0, start, 0, ws)
    after = _window(draft, stop, total, start, ws)
    new = _with_segments(draft, [x + y for x, y in zip(before, after, strict=True)], total - (stop - start))
    return ToolResult(new, {"status": "success", "removed_ms": [start, stop], "duration_ms": timeline_ms(new)},
                      Said(f"Cut out {_span(start, stop - start)}; the video is now "
                           f"{_seconds(timeline_ms(new))} s long.",
                           f"已剪掉 {_span(start, stop - start)}，现在时长 {_seconds(timeline_ms(new))} 秒。"))


def remove_end(draft: Draft, ws: Workspace, a: o.RemoveEnd) -> ToolResult:
    total = timeline_ms(subject(draft, ws))
    if a.ms >= total:
        raise ToolError(f"The video is only {_seconds(total)} s long.", f"视频只有 {_seconds(total)} 秒。")
    return remove_range(draft, ws, o.RemoveRange(start_ms=total - a.ms, end_ms=total))


# ---------------------------------------------------------------- speed, sound, direction


def keep_end(draft: Draft, ws: Workspace, a: o.KeepEnd) -> ToolResult:
    total = timeline_ms(subject(draft, ws))
    if a.ms >= total:
        raise ToolError(f"The video is only {_seconds(total)} s long.", f"视频只有 {_seconds(total)} 秒。")
    return keep_range(draft, ws, o.KeepRange(start_ms=total - a.ms, end_ms=None))


def speed(draft: Draft, ws: Workspace, a: o.Speed) -> ToolResult:
    draft = subject(draft, ws)
    factor = a.factor
    for track in _tracks(draft, TRACK_VIDEO):
        for seg in track.get("sg", []):
            if not _is_still(seg, ws):
                wanted = float(seg.get("spd") or 1) * factor
                if not 0.25 <= wanted <= 4:
                    raise ToolError("Clips can play at 0.25x to 4x their normal speed; that would go past it.",
                                    "片段速度只能在 0.25 到 4 倍之间。")
                seg["spd"] = round(wanted, 4)
    for track in draft.get("t", []):
        if _tt(track) in (TRACK_VIDEO, TRACK_TEXT):
            for seg in track.get("sg", []):
                seg["st"], seg["d"] = round(seg["st"] / factor), max(1, round(seg["d"] / factor))
                if isinstance(seg.get("tr"), dict):
                    for side in ("in", "out"):
                        tr = seg["tr"].get(side)
                        if isinstance(tr, dict) and tr.get("d"):
                            tr["d"] = max(1, round(tr["d"] / factor))
    total = timeline_ms(draft)
    for track in _tracks(draft, TRACK_AUDIO):
        track["sg"] = [p for seg in track.get("sg", []) if (p := _cut(seg, TRACK_AUDIO, 0, total, ws)) is not None]
    how = "faster" if factor > 1 else "slower"
    return ToolResult(draft, {"status": "success", "factor": factor, "duration_ms": total},
                      Said(f"Made it {factor:g}x {'speed' if factor > 1 else 'speed (slower)'}: {how}, now "
                           f"{_seconds(total)} s long.",
                           f"已调整为 {factor:g} 倍速（{'加快' if factor > 1 else '放慢'}），"
                           f"现在时长 {_seconds(total)} 秒。"))


def mute(draft: Draft, ws: Workspace, a: o.Mute) -> ToolResult:
    draft = subject(draft, ws)
    for track in _tracks(draft, TRACK_VIDEO):
        track["mute"] = True
    if a.music:
        for track in _tracks(draft, TRACK_AUDIO):
            track["mute"] = True
        _out(draft)["audio"] = False
    return ToolResult(draft, {"status": "success", "audio": not a.music},
                      Said("Removed the sound." if a.music else "Muted the clips' own sound; the music stays.",
                           "已去掉声音。" if a.music else "已静音原声，保留背景音乐。"))


def _reversed_track(segments: list[dict[str, Any]], ws: Workspace, start: int) -> list[dict[str, Any]]:
    """The segments in reverse order, each clip playing backwards, laid end to end from ``start``."""
    out, cursor = [], start
    for seg in reversed(segments):
        part = {k: v for k, v in seg.items() if k != "tr"}
        if not _is_still(seg, ws):
            part["rev"] = not seg.get("rev", False)
        part["st"] = cursor
        cursor += part["d"]
        out.append(part)
    return out


def reverse(draft: Draft, ws: Workspace, _a: o.Reverse) -> ToolResult:
    draft = subject(draft, ws)
    base = _base(draft)
    base["sg"] = _reversed_track(base.get("sg", []), ws, 0)
    return ToolResult(draft, {"status": "success", "reversed": len(base["sg"])},
                      Said("Reversed it: the video now plays backwards.", "已倒放：视频现在倒着播放。"))


def boomerang(draft: Draft, ws: Workspace, _a: o.Boomerang) -> ToolResult:
    draft = subject(draft, ws)
    base = _base(draft)
    forward = base.get("sg", [])
    length = max((_end(s) for s in forward), default=0)
    base["sg"] = forward + _reversed_track(forward, ws, length)
    out = _out(draft)
    if out.get("format") in ("gif", "webp"):
        out["loop"] = 0
    return ToolResult(draft, {"status": "success", "duration_ms": timeline_ms(draft)},
                      Said(f"Made a boomerang: forwards then backwards, {_seconds(timeline_ms(draft))} s per loop.",
                           f"已做成来回播放（正放再倒放），每次循环 {_seconds(timeline_ms(draft))} 秒。"))


# ---------------------------------------------------------------- canvas


def set_aspect(draft: Draft, ws: Workspace, a: o.SetAspect) -> ToolResult:
    draft = subject(draft, ws)
    meta = draft.setdefault("m", {})
    meta["aspect"] = a.aspect
    meta.pop("width", None)
    meta.pop("height", None)
    if a.fit:
        for track in _tracks(draft, TRACK_VIDEO)[:1]:
            for seg in track.get("sg", []):
                seg["fit"] = a.fit
    width, height = ASPECTS[a.aspect]
    how = {"cover": ", cropped to fill", "stretch": ", stretched"}.get(a.fit or "", "")
    return ToolResult(draft, {"status": "success", "aspect": a.aspect, "width": width, "height": height},
                      Said(f"Changed the frame to {a.aspect} ({width}x{height}){how}.",
                           f"画面比例已改为 {a.aspect}（{width}x{height}）。"))


# ---------------------------------------------------------------- text


def _text_track(draft: Draft, name: str) -> dict[str, Any]:
    for track in _tracks(draft, TRACK_TEXT):
        if track.get("n") == name:
            return track
    track = {"tt": TRACK_TEXT, "n": name, "sg": []}
    draft.setdefault("t", []).append(track)
    return track


def add_text(draft: Draft, ws: Workspace, a: o.AddText) -> ToolResult:
    draft = subject(draft, ws)
    total = timeline_ms(draft)
    default_pos, default_size, default_bold = TEXT_DEFAULTS[a.role]
    if a.start_ms is not None or a.end_ms is not None:
        start = min(a.start_ms or 0, max(0, total - 500))
        end = min(a.end_ms or total, total) if total else (a.end_ms or start + STILL_MS)
    elif a.role == "title":
        start, end = 0, min(total, STILL_MS) if total else STILL_MS
    elif a.role == "closing":
        start, end = max(0, total - STILL_MS), total
    else:
        start, end = 0, total or STILL_MS
    if end - start < 100:
        raise ToolError("There is no time left for that text in the video.", "视频里没有足够的时间放这段文字。")
    style: dict[str, Any] = {"pos": a.position or default_pos, "size": a.size or default_size,
                             "bold": default_bold if a.bold is None else a.bold, "color": a.color or COLOURS[a.role],
                             "stroke": {"w": 3}, "anim": "fade"}
    name = {"title": "Title", "caption": "Caption", "closing": "Closing"}[a.role]
    track = _text_track(draft, name)
    track["sg"] = [s for s in track.get("sg", []) if not (a.role != "caption" and s.get("txt"))]   # one title
    track["sg"].append({"txt": a.text, "st": start, "d": end - start, "style": style})
    track["sg"].sort(key=lambda s: s["st"])
    where = style["pos"]
    return ToolResult(draft, {"status": "success", "text": a.text, "start_ms": start, "end_ms": end,
                              "position": where},
                      Said(f"Added the {a.role} \"{a.text}\" ({_span(start, end - start)}, {where}, {style['color']}).",
                           f"已添加文字“{a.text}”（{_span(start, end - start)}，位置 {where}）。"))


def remove_text(draft: Draft, ws: Workspace, a: o.RemoveText) -> ToolResult:
    draft = subject(draft, ws)
    removed = []
    for track in _tracks(draft, TRACK_TEXT):
        keep = []
        for seg in track.get("sg", []):
            if a.match is None or a.match.lower() in str(seg.get("txt", "")).lower():
                removed.append(seg.get("txt", ""))
            else:
                keep.append(seg)
        track["sg"] = keep
    draft["t"] = [t for t in draft.get("t", []) if not (_tt(t) == TRACK_TEXT and not t.get("sg"))]
    if not removed:
        raise ToolError("There is no such text on the timeline.", "时间线上没有这段文字。")
    quoted = ", ".join(f'"{t}"' for t in removed)
    return ToolResult(draft, {"status": "success", "removed": removed},
                      Said(f"Removed the text {quoted}.", f"已删除文字 {quoted}。"))


# ---------------------------------------------------------------- music


def _clips_sound(draft: Draft, ws: Workspace) -> bool:
    for track in _tracks(draft, TRACK_VIDEO):
        if track.get("mute"):
            continue
        for seg in track.get("sg", []):
            ref = ws.by_src(str(seg.get("src", "")))
            if ref is not None and ref.has_audio and not seg.get("mute"):
                return True
    return False


def _music_source(ws: Workspace, media_id: str | None, seconds: float) -> tuple[MediaRef, bool]:
    """(the audio to use, whether it is the built-in bed)."""
    audios = [m for m in ws.media if m.kind == "audio" or (media_id and m.id == media_id and m.has_audio)]
    chosen = next((m for m in audios if m.id == media_id), None) if media_id else (audios[-1] if audios else None)
    if chosen is not None:
        return chosen, False
    if ws.make_music_bed is None:
        raise ToolError("Upload an audio file to use as music.", "请上传一个音频文件作为背景音乐。")
    bed = ws.make_music_bed(seconds)
    ws.made.append(bed)
    ws.media.append(bed)
    return bed, True


def add_music(draft: Draft, ws: Workspace, a: o.AddMusic) -> ToolResult:
    draft = subject(draft, ws)
    total = timeline_ms(draft)
    if total <= 0:
        raise ToolError("Add some pictures before the music.", "请先添加画面，再加音乐。")
    ref, builtin = _music_source(ws, a.media_id, total / 1000)
    volume = a.volume if a.volume is not None else MUSIC_UNDER_SOUND if _clips_sound(draft, ws) else MUSIC_ALONE
    default_in = min(BED_FADE_IN_MS, total // 3) if builtin else 0
    fade_in = min(a.fade_in_ms if a.fade_in_ms is not None else default_in, total // 2)
    fade_out = min(a.fade_out_ms if a.fade_out_ms is not None else min(1500, total // 4), total - fade_in)
    seg = {"src": ref.src, "n": "Built-in music bed" if builtin else ref.label, "st": 0, "d": total,
           "vol": round(volume, 3), "fi": fade_in, "fo": fade_out,
           "loop": bool(ref.duration_ms is not None and ref.duration_ms < total)}
    others = [t for t in draft.get("t", []) if _tt(t) != TRACK_AUDIO]
    draft["t"] = [*others, {"tt": TRACK_AUDIO, "n": "BGM", "sg": [seg]}]
    if _out(draft).get("audio") is False:       # music asked for after "no sound": the file gets sound again
        del _out(draft)["audio"]
    where = ("the built-in music bed (generated by reelforge, royalty-free)" if builtin else f'"{ref.filename}"')
    where_zh = "内置背景音乐（reelforge 生成，无版权问题）" if builtin else f"“{ref.filename}”"
    return ToolResult(draft, {"status": "success", "music": seg["n"], "builtin": builtin, "volume": seg["vol"]},
                      Said(f"Added {where} as background music at {round(volume * 100)}% over "
                           f"{_span(0, total)}" + (f", fading in over {_seconds(fade_in)} s" if fade_in else "")
                           + (f", fading out over {_seconds(fade_out)} s" if fade_out else "") + ".",
                           f"已添加{where_zh}作为背景音乐，音量 {round(volume * 100)}%，{_span(0, total)}。"))


def _music_segments(draft: Draft) -> list[dict[str, Any]]:
    return [s for t in _tracks(draft, TRACK_AUDIO) for s in t.get("sg", [])]


def set_music(draft: Draft, ws: Workspace, a: o.SetMusic) -> ToolResult:
    draft = subject(draft, ws)
    segments = _music_segments(draft)
    if not segments:
        return add_music(draft, ws, o.AddMusic(volume=a.volume, fade_in_ms=a.fade_in_ms, fade_out_ms=a.fade_out_ms))
    for seg in segments:
        if a.volume is not None:
            seg["vol"] = round(a.volume, 3)
        if a.fade_in_ms is not None:
            seg["fi"] = min(a.fade_in_ms, seg["d"] - int(seg.get("fo") or 0))
        if a.fade_out_ms is not None:
            seg["fo"] = min(a.fade_out_ms, seg["d"] - int(seg.get("fi") or 0))
    seg = segments[0]
    return ToolResult(draft, {"status": "success", "volume": seg.get("vol", 1), "fi": seg.get("fi", 0),
                              "fo": seg.get("fo", 0)},
                      Said(f"Music now at {round(float(seg.get('vol', 1)) * 100)}%, fade in "
                           f"{_seconds(seg.get('fi') or 0)} s, fade out {_seconds(seg.get('fo') or 0)} s.",
                           f"背景音乐音量 {round(float(seg.get('vol', 1)) * 100)}%，"
                           f"淡入 {_seconds(seg.get('fi') or 0)} 秒，"
                           f"淡出 {_seconds(seg.get('fo') or 0)} 秒。"))


def remove_music(draft: Draft, ws: Workspace, _a: o.RemoveMusic) -> ToolResult:
    draft = subject(draft, ws)
    if not _music_segments(draft):
        raise ToolError("There is no music on the timeline.", "时间线上没有背景音乐。")
    draft["t"] = [t for t in draft.get("t", []) if _tt(t) != TRACK_AUDIO]
    return ToolResult(draft, {"status": "success"}, Said("Removed the background music.", "已去掉背景音乐。"))


# ---------------------------------------------------------------- stills, slideshows, transitions


def _lay_out(segments: list[dict[str, Any]]) -> None:
    cursor = 0
    for seg in segments:
        seg["st"] = cursor
        cursor += seg["d"]


def _transitions(segments: list[dict[str, Any]], kind: str, ms: int) -> int:
    """Put ``kind`` on every cut of the main track; returns the length used (shortened to fit short pieces)."""
    if len(segments) < 2:
        return 0
    shortest = min(s["d"] for s in segments)
    length = max(40, min(ms, shortest // 2 - 20))
    for seg in segments[1:]:
        tr = dict(seg.get("tr") or {})
        tr["in"] = {"type": kind, "d": length}
        seg["tr"] = tr
    return length


def still_clip(draft: Draft, ws: Workspace, a: o.StillClip) -> ToolResult:
    images = [m for m in ws.visuals() if m.kind == "image"]
    current = normalised(draft, ws) if draft else {}
    stills = [s for t in _tracks(current, TRACK_VIDEO)[:1] for s in t.get("sg", []) if _is_still(s, ws)]
    if stills:
        draft = current
        base = _base(draft)
    elif images:
        draft = {"v": 1, "m": dict(current.get("m", {})), "t": [_main_track(images)]}
        base = draft["t"][0]
    else:
        raise ToolError("Upload an image first.", "请先上传一张图片。")
    ms = int((a.seconds or STILL_CLIP_MS / 1000) * 1000)
    motion = a.motion or "zoom-in"
    for i, seg in enumerate(base["sg"]):
        if _is_still(seg, ws):
            seg["d"] = ms
            seg["mo"] = motion if a.motion or len(base["sg"]) == 1 else MOTIONS_CYCLE[i % len(MOTIONS_CYCLE)]
    _lay_out(base["sg"])
    _out(draft).setdefault("resolution", "1080p")       # what the image skills promise
    count = sum(1 for s in base["sg"] if _is_still(s, ws))
    return ToolResult(draft, {"status": "success", "images": count, "seconds": ms / 1000, "motion": motion},
                      Said(f"Turned {'the image' if count == 1 else f'{count} images'} into a "
                           f"{_seconds(ms)}-second clip{'' if count == 1 else ' each'} with a gentle {motion}.",
                           f"已把{'图片' if count == 1 else f' {count} 张图片'}做成每张 {_seconds(ms)} 秒的视频，"
                           "带缓慢的镜头运动。"))


def slideshow(draft: Draft, ws: Workspace, a: o.Slideshow) -> ToolResult:
    refs = ws.visuals()
    if not refs:
        raise ToolError("Upload some images first.", "请先上传图片。")
    lone_image = len(refs) == 1 and refs[0].kind == "image"     # one picture: a clip of it, not a 3 s slide
    ms = int((a.seconds or (STILL_CLIP_MS if lone_image else STILL_MS) / 1000) * 1000)
    meta = dict(draft.get("m", {})) if draft else {}
    base = _main_track(refs, still_ms=ms)
    base["n"] = "Slides"
    for i, seg in enumerate(base["sg"]):
        if _by_kind(ws, seg) == "image":
            seg["mo"] = MOTIONS_CYCLE[i % len(MOTIONS_CYCLE)]
    kind = a.transition or "fade"
    used = _transitions(base["sg"], kind, TRANSITION_MS)
    others = [t for t in (draft or {}).get("t", []) if _tt(t) != TRACK_VIDEO]
    new = {"v": 1, "m": meta, "t": [base, *others]}
    _out(new).setdefault("resolution", "1080p")
    return ToolResult(new, {"status": "success", "slides": len(refs), "seconds_each": ms / 1000,
                            "transition": kind, "duration_ms": timeline_ms(new)},
                      Said(f"Made a slideshow of {len(refs)} pictures, {_seconds(ms)} s per image, with "
                           f"{kind} transitions ({used} ms); {_seconds(timeline_ms(new))} s in all.",
                           f"已做成 {len(refs)} 张图片的幻灯片，每张 {_seconds(ms)} 秒，带 {kind} 转场，共 "
                           f"{_seconds(timeline_ms(new))} 秒。"))


def _by_kind(ws: Workspace, seg: dict[str, Any]) -> str | None:
    ref = ws.by_src(str(seg.get("src", "")))
    return ref.kind if ref else None


def set_transition(draft: Draft, ws: Workspace, a: o.SetTransition) -> ToolResult:
    draft = subject(draft, ws)
    segments = _base(draft).get("sg", [])
    if len(segments) < 2:
        raise ToolError("There is only one piece on the timeline, so there is no cut to put a transition on.",
                        "时间线上只有一段素材，没有可以加转场的地方。")
    used = _transitions(segments, a.transition, a.ms or TRANSITION_MS)
    return ToolResult(draft, {"status": "success", "transition": a.transition, "ms": used, "cuts": len(segments) - 1},
                      Said(f"Added {a.transition} transitions ({used} ms) at {len(segments) - 1} cuts.",
                           f"已在 {len(segments) - 1} 个衔接处添加 {a.transition} 转场（{used} 毫秒）。"))


def _orientation(refs: list[MediaRef]) -> str:
    wide = sum(1 for r in refs if r.width and r.height and r.width > r.height * 1.1)
    tall = sum(1 for r in refs if r.width and r.height and r.height > r.width * 1.1)
    return "16:9" if wide >= tall and wide else "9:16" if tall else "1:1"


def promo(draft: Draft, ws: Workspace, a: o.Promo) -> ToolResult:
    refs = ws.visuals()
    if not refs:
        raise ToolError("Upload your images or clips first, then ask for the promo.",
                        "请先上传图片或视频，再制作宣传视频。")
    total = int(a.seconds * 1000)
    lengths = _share(total, refs)
    segments, cursor = [], 0
    for i, (ref, length) in enumerate(zip(refs, lengths, strict=True)):
        seg = _visual_segment(ref, cursor, length)
        if ref.kind == "image":
            seg["mo"] = MOTIONS_CYCLE[i % len(MOTIONS_CYCLE)]
        segments.append(seg)
        cursor += length
    length = cursor
    _transitions(segments, "fade", PROMO_TRANSITION_MS)
    meta = {k: v for k, v in (draft or {}).get("m", {}).items() if k not in ("width", "height")}
    meta.setdefault("aspect", _orientation(refs))
    meta["out"] = {**meta.get("out", {}), "format": "mp4", "resolution": "1080p"}
    new: Draft = {"v": 1, "m": meta, "t": [{"tt": TRACK_VIDEO, "n": "Video", "sg": segments}]}
    zh = ws.language == "zh"
    title = a.title or ("精彩推荐" if zh else "Check this out")
    closing = a.closing or ("感谢观看" if zh else "Thanks for watching")
    new = add_text(new, ws, o.AddText(text=title, role="title", start_ms=0, end_ms=min(3000, length // 3))).draft
    new = add_text(new, ws, o.AddText(text=closing, role="closing", start_ms=max(0, length - min(3000, length // 3)),
                                      end_ms=length)).draft
    music = add_music(new, ws, o.AddMusic(fade_in_ms=1000, fade_out_ms=2000))
    new = music.draft
    short = "" if length >= total - 50 else (f" (your clips and pictures fill {_seconds(length)} s)")
    short_zh = "" if length >= total - 50 else f"（素材只够 {_seconds(length)} 秒）"
    said = Said(f"Made a {_seconds(length)}-second promo{short}: {len(refs)} pieces with motion and crossfades, the "
                f"title \"{title}\", the closing text \"{closing}\", {music.said.en[6:-1]}, 1080p MP4.",
                f"已制作 {_seconds(length)} 秒的宣传视频{short_zh}：{len(refs)} 段素材，带镜头运动和转场，"
                f"标题“{title}”，"
                f"结尾文字“{closing}”，配有背景音乐，1080p MP4。")
    return ToolResult(new, {"status": "success", "duration_ms": length, "pieces": len(refs), "title": title,
                            "closing": closing, "music": music.response.get("music")}, said)


def _share(total: int, refs: list[MediaRef]) -> list[int]:
    """Lengths for each piece that add up to ``total``: clips no longer than themselves, stills the rest."""
    n = len(refs)
    lengths = [0] * n
    left, open_ = total, list(range(n))
    while open_:
        each = left // len(open_)
        capped = [i for i in open_ if refs[i].kind == "video" and (refs[i].duration_ms or 0) < each]
        if not capped:
            for k, i in enumerate(open_):
                lengths[i] = each + (1 if k < left - each * len(open_) else 0)
            break
        for i in capped:
            lengths[i] = int(refs[i].duration_ms or 0)
            left -= lengths[i]
            open_.remove(i)
    return [max(1, x) for x in lengths]


# ---------------------------------------------------------------- the table


Tool = Callable[[Draft, Workspace, Any], ToolResult]
TOOLS: Final[dict[str, Tool]] = {
    "set_output": set_output, "keep_range": keep_range, "remove_range": remove_range, "keep_end": keep_end,
    "remove_end": remove_end,
    "speed": speed, "mute": mute, "reverse": reverse, "boomerang": boomerang, "set_aspect": set_aspect,
    "add_text": add_text, "remove_text": remove_text, "add_music": add_music, "set_music": set_music,
    "remove_music": remove_music, "still_clip": still_clip, "slideshow": slideshow, "set_transition": set_transition,
    "promo": promo,
}


def apply(op: o.Op, draft: Draft, ws: Workspace) -> ToolResult:
    """Run one edit op; ToolError when it cannot be made (nothing changed)."""
    return TOOLS[op.name](draft, ws, op.parsed())
