"""The edit tools: each op (``api.agent.ops``) applied to a draft, as plain functions on its JSON.

What they share (the draft's reading, the results, which media an edit works on) is in
:mod:`api.agent.tools_base`; the picture tools (crop, blur, enhance) in
:mod:`api.agent.tools_picture`. This module holds the timeline and sound tools and the table
:data:`TOOLS` that :func:`apply` runs an op with. No tool renders: each changes the draft's JSON,
and its reply says exactly what changed (lengths from the draft's own arithmetic).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final

from api.agent import ops as o
from api.agent.tools_base import (
    STILL_MS,
    Draft,
    MediaRef,
    Said,
    ToolError,
    ToolResult,
    Workspace,
    base_track,
    clips_sound,
    is_starting,
    is_still,
    main_track,
    normalised,
    output_of,
    secs,
    seg_end,
    span_text,
    starting_draft,
    subject,
    timeline_ms,
    track_type,
    tracks_of,
    visual_segment,
)
from api.agent.tools_picture import blur, crop, enhance
from engine.model.cuts import cut_ends
from engine.model.draft import ASPECTS, TRACK_AUDIO, TRACK_TEXT, TRACK_VIDEO

__all__ = ["TOOLS", "Draft", "MediaRef", "Said", "ToolError", "ToolResult", "Workspace", "apply", "is_starting",
           "normalised", "starting_draft", "subject", "timeline_ms"]

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


# ---------------------------------------------------------------- output


def set_output(draft: Draft, ws: Workspace, a: o.SetOutput) -> ToolResult:
    draft = subject(draft, ws)
    out = output_of(draft)
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
    if a.small and not a.max_mb:      # "smaller" with no number
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
    if a.max_mb:                 # every format holds it at export, whatever quality the export asks for
        out["max_mb"] = a.max_mb
        en.append(f"a size limit (the file will be under {a.max_mb:g} MB)")
        zh.append(f"文件大小上限（导出的文件将小于 {a.max_mb:g} MB）")
    if fmt == "gif" and "loop" not in out:
        out["loop"] = 0
    _set_seam(out, a, fmt, en, zh)
    if not en:
        en, zh = ["kept the output settings"], ["输出设置未变"]
    return ToolResult(draft, {"status": "success", "output": dict(out)},
                      Said("Set the output: " + ", ".join(en) + ".", "已设置：" + "，".join(zh) + "。"))


def _set_seam(out: dict[str, Any], a: o.SetOutput, fmt: str, en: list[str], zh: list[str]) -> None:
    """A GIF asked to loop ends where its picture best matches its start (loop_seam auto), so the loop does
    not jump; a plain GIF keeps its frames. The seam is a GIF's only: another format, or playing once, drops it."""
    seam = a.loop_seam or ("auto" if a.loop else None)
    if fmt != "gif" or a.loop is False or seam == "none":
        out.pop("loop_seam", None)
        out.pop("loop_seam_ms", None)
        return
    if seam is None or out.get("loop_seam") == seam:
        return
    out["loop_seam"] = seam
    if seam == "auto":
        said = ("looping without a jump (it ends at the frame near the end that best matches the start)",
                "无缝循环播放（在结尾附近与开头最接近的一帧处结束）")
    else:
        ms = out.get("loop_seam_ms", 400)
        said = (f"looping without a jump (the last {ms} ms fade into the start)",
                f"无缝循环播放（最后 {ms} 毫秒渐变到开头）")
    for words, text in ((en, said[0]), (zh, said[1])):
        plain = "looping" if words is en else "循环播放"
        if plain in words:
            words[words.index(plain)] = text
        else:
            words.append(text)


# ---------------------------------------------------------------- cutting the timeline


def _cut(seg: dict[str, Any], tt: int, a: int, b: int, ws: Workspace) -> dict[str, Any] | None:
    """The part of ``seg`` inside [a, b), moved to start at (its start - a); None when nothing is inside."""
    st, end = seg["st"], seg["st"] + seg["d"]
    lo, hi = max(st, a), min(end, b)
    if hi - lo < 1:
        return None
    part = dict(seg)
    part["st"], part["d"] = lo - a, hi - lo
    rate = None                               # source ms per timeline ms, where there is a source position
    if tt == TRACK_VIDEO and not is_still(seg, ws):
        rate = float(seg.get("spd") or 1)
    elif tt == TRACK_AUDIO and not seg.get("loop"):
        rate = 1.0
    cut_ends(seg, part, lo - st, end - hi, rate)
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
            part = _cut(seg, track_type(track), a, b, ws)
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
        raise ToolError(f"That range is outside the video, which is {secs(total)} s long.",
                        f"这个时间范围超出了视频长度（{secs(total)} 秒）。")
    return total, start, stop


def keep_range(draft: Draft, ws: Workspace, a: o.KeepRange) -> ToolResult:
    draft = subject(draft, ws)
    total, start, stop = _range_check(draft, a.start_ms, a.end_ms)
    new = _with_segments(draft, _window(draft, start, stop, 0, ws), stop - start)
    return ToolResult(new, {"status": "success", "kept_ms": [start, stop], "duration_ms": timeline_ms(new)},
                      Said(f"Trimmed to {span_text(start, stop - start)} of the original; the video is now "
                           f"{secs(stop - start)} s long.",
                           f"已截取原视频的 {span_text(start, stop - start)}，现在时长 {secs(stop - start)} 秒。"))


def remove_range(draft: Draft, ws: Workspace, a: o.RemoveRange) -> ToolResult:
    draft = subject(draft, ws)
    total, start, stop = _range_check(draft, a.start_ms, a.end_ms)
    if start == 0 and stop >= total:
        raise ToolError("That would cut the whole video.", "这样会把整个视频都剪掉。")
    before = _window(draft, 0, start, 0, ws)
    after = _window(draft, stop, total, start, ws)
    new = _with_segments(draft, [x + y for x, y in zip(before, after, strict=True)], total - (stop - start))
    return ToolResult(new, {"status": "success", "removed_ms": [start, stop], "duration_ms": timeline_ms(new)},
                      Said(f"Cut out {span_text(start, stop - start)}; the video is now "
                           f"{secs(timeline_ms(new))} s long.",
                           f"已剪掉 {span_text(start, stop - start)}，现在时长 {secs(timeline_ms(new))} 秒。"))


def remove_end(draft: Draft, ws: Workspace, a: o.RemoveEnd) -> ToolResult:
    total = timeline_ms(subject(draft, ws))
    if a.ms >= total:
        raise ToolError(f"The video is only {secs(total)} s long.", f"视频只有 {secs(total)} 秒。")
    return remove_range(draft, ws, o.RemoveRange(start_ms=total - a.ms, end_ms=total))


def repeat(draft: Draft, ws: Workspace, a: o.Repeat) -> ToolResult:
    """The range plays ``times`` times in a row, in place; what follows moves later by the added time. Pictures
    are cut at the range's edges and their parts copied; a text or sound wholly inside the range repeats with
    it; one that runs across an edge (the music, a caption over the whole video) plays on across the repeats."""
    draft = subject(draft, ws)
    total, start, stop = _range_check(draft, a.start_ms, a.end_ms)
    start, stop = _snapped(draft, start), _snapped(draft, stop)
    if stop - start < 100:
        raise ToolError("That part is too short to repeat.", "这一段太短，无法重复。")
    length, extra = stop - start, (a.times - 1) * (stop - start)
    per_track, repeated, music_on = [], [], False
    for track in draft.get("t", []):
        tt, segments, cut = track_type(track), [], set()
        for seg in track.get("sg", []):
            if tt == TRACK_VIDEO:
                parts = _repeated_picture(seg, ws, start, stop, a.times)
                cut |= {id(p) for p in parts if p["d"] < seg["d"]}
                segments += parts
            elif start <= seg["st"] and seg_end(seg) <= stop:
                segments += [dict(seg, st=seg["st"] + k * length) for k in range(a.times)]
                repeated.append(seg)
            else:
                part = _stretched(seg, tt, ws, start, extra)
                segments.append(part)
                music_on = music_on or (tt == TRACK_AUDIO and part["d"] > seg["d"])
        segments.sort(key=lambda s: s["st"])
        if tt == TRACK_VIDEO:
            _fit_transitions(segments, cut)
        per_track.append(segments)
    new = _with_segments(draft, per_track, total + extra)
    after = total + extra
    went_on = (f" what followed now starts at {secs(stop + extra)} s;" if stop < total else "")
    went_on_zh = (f"后面的内容顺延到 {secs(stop + extra)} 秒开始；" if stop < total else "")
    texts = [s["txt"] for s in repeated if "txt" in s]
    also = (" The text " + ", ".join(f'"{t}"' for t in texts) + " repeats with it." if texts else "")
    also_zh = ("文字" + "、".join(f"“{t}”" for t in texts) + "随之重复。" if texts else "")
    if music_on:
        also += " The music plays on across the repeats."
        also_zh += "背景音乐连续播放。"
    return ToolResult(new, {"status": "success", "range_ms": [start, stop], "times": a.times, "duration_ms": after},
                      Said(f"Repeated {span_text(start, length)}: it now plays {a.times} times in a row;{went_on} "
                           f"the video is now {secs(after)} s long (was {secs(total)} s).{also}",
                           f"已将 {span_text(start, length)} 连续播放 {a.times} 次；{went_on_zh}"
                           f"视频现在时长 {secs(after)} 秒（原来 {secs(total)} 秒）。{also_zh}"))


def _snapped(draft: Draft, ms: int) -> int:
    """``ms``, moved onto the nearest edge of a picture segment when it is less than one output frame away from it,
    so that cutting there leaves no piece too short to show."""
    meta = draft.get("m") or {}
    out = meta.get("out") or {}
    rate = float(meta.get("fps") or 30)
    rate = float(out.get("fps") or (min(rate, 15) if out.get("format") in ("gif", "webp") else rate))
    frame = math.ceil(1000 / rate)
    edges = {e for t in tracks_of(draft, TRACK_VIDEO) for s in t.get("sg", []) for e in (s["st"], seg_end(s))}
    near = min(edges, key=lambda e: (abs(e - ms), e), default=ms)
    return near if abs(near - ms) < frame else ms


def _repeated_picture(seg: dict[str, Any], ws: Workspace, start: int, stop: int, times: int) -> list[dict[str, Any]]:
    """A picture segment cut at the range's edges: its part before, its part inside once per repeat, its part
    after, each placed where it now plays."""
    length = stop - start
    pieces: list[tuple[int, int, int]] = [(0, start, 0)]
    pieces += [(start, stop, start + k * length) for k in range(times)]
    pieces.append((stop, max(stop, seg_end(seg)), start + times * length))
    parts = []
    for a, b, shift in pieces:
        part = _cut(seg, TRACK_VIDEO, a, b, ws)
        if part is not None:
            part["st"] += shift
            parts.append(part)
    return parts


def _stretched(seg: dict[str, Any], tt: int, ws: Workspace, start: int, extra: int) -> dict[str, Any]:
    """A text or sound that is not wholly inside the repeated range, on the longer timeline: what lies after the
    range's start moves later by ``extra`` (a segment across it lasts ``extra`` longer; a sound that would run
    out of source loops)."""
    st, end = seg["st"], seg_end(seg)
    new_st = st if st < start else st + extra
    new_end = end if end <= start else end + extra
    part = dict(seg, st=new_st)
    return _lasting(part, new_end - new_st, ws) if tt == TRACK_AUDIO else dict(part, d=new_end - new_st)


def _lasting(seg: dict[str, Any], d: int, ws: Workspace) -> dict[str, Any]:
    """An audio segment made ``d`` ms long; it loops when its source runs out before that."""
    ref = ws.by_src(str(seg.get("src", "")))
    runs_out = ref is not None and ref.duration_ms is not None and int(seg.get("ss") or 0) + d > ref.duration_ms
    return dict(seg, d=d, loop=True) if runs_out else dict(seg, d=d)


def _fit_transitions(segments: list[dict[str, Any]], cut: set[int]) -> None:
    """Shorten the transitions that touch a piece a cut made shorter (the ids in ``cut``) to half its length at most,
    so that they fit in it however the track places them; drop one that would last under 40 ms."""
    def fit(owner: dict[str, Any], side: str, limit: int) -> None:
        tr = owner.get("tr")
        if not isinstance(tr, dict) or not tr.get(side):
            return
        value = tr[side] if isinstance(tr[side], dict) else {"type": tr[side]}
        if int(value.get("d") or TRANSITION_MS) <= limit:
            return
        tr = {k: v for k, v in tr.items() if k != side}
        if limit >= 40:
            tr[side] = dict(value, d=limit)
        if tr:
            owner["tr"] = tr
        else:
            owner.pop("tr")

    for i, seg in enumerate(segments):
        if id(seg) not in cut:
            continue
        limit = seg["d"] // 2
        fit(seg, "in", limit)
        fit(seg, "out", limit)
        if i and seg_end(segments[i - 1]) == seg["st"]:
            fit(segments[i - 1], "out", limit)
        if i + 1 < len(segments) and segments[i + 1]["st"] == seg_end(seg):
            fit(segments[i + 1], "in", limit)


# ---------------------------------------------------------------- speed, sound, direction


def keep_end(draft: Draft, ws: Workspace, a: o.KeepEnd) -> ToolResult:
    total = timeline_ms(subject(draft, ws))
    if a.ms >= total:
        raise ToolError(f"The video is only {secs(total)} s long.", f"视频只有 {secs(total)} 秒。")
    return keep_range(draft, ws, o.KeepRange(start_ms=total - a.ms, end_ms=None))


def speed(draft: Draft, ws: Workspace, a: o.Speed) -> ToolResult:
    draft = subject(draft, ws)
    factor = a.factor
    for track in tracks_of(draft, TRACK_VIDEO):
        for seg in track.get("sg", []):
            if not is_still(seg, ws):
                wanted = float(seg.get("spd") or 1) * factor
                if not 0.25 <= wanted <= 4:
                    raise ToolError("Clips can play at 0.25x to 4x their normal speed; that would go past it.",
                                    "片段速度只能在 0.25 到 4 倍之间。")
                seg["spd"] = round(wanted, 4)
    for track in draft.get("t", []):
        if track_type(track) in (TRACK_VIDEO, TRACK_TEXT):
            for seg in track.get("sg", []):
                seg["st"], seg["d"] = round(seg["st"] / factor), max(1, round(seg["d"] / factor))
                if isinstance(seg.get("tr"), dict):
                    for side in ("in", "out"):
                        tr = seg["tr"].get(side)
                        if isinstance(tr, dict) and tr.get("d"):
                            tr["d"] = max(1, round(tr["d"] / factor))
    total = timeline_ms(draft)
    for track in tracks_of(draft, TRACK_AUDIO):
        track["sg"] = [p for seg in track.get("sg", []) if (p := _cut(seg, TRACK_AUDIO, 0, total, ws)) is not None]
    if factor == 1:
        said = Said(f"The speed stays as it is (1x), {secs(total)} s long.",
                    f"速度保持不变（1 倍速），时长 {secs(total)} 秒。")
    else:
        how, zh = ("faster", "加快") if factor > 1 else ("slower", "放慢")
        said = Said(f"Made it {factor:g}x speed: {how}, now {secs(total)} s long.",
                    f"已调整为 {factor:g} 倍速（{zh}），现在时长 {secs(total)} 秒。")
    return ToolResult(draft, {"status": "success", "factor": factor, "duration_ms": total}, said)


def mute(draft: Draft, ws: Workspace, a: o.Mute) -> ToolResult:
    draft = subject(draft, ws)
    for track in tracks_of(draft, TRACK_VIDEO):
        track["mute"] = True
    if a.music:
        for track in tracks_of(draft, TRACK_AUDIO):
            track["mute"] = True
        output_of(draft)["audio"] = False
    return ToolResult(draft, {"status": "success", "audio": not a.music},
                      Said("Removed the sound." if a.music else "Muted the clips' own sound; the music stays.",
                           "已去掉声音。" if a.music else "已静音原声，保留背景音乐。"))


def _reversed_track(segments: list[dict[str, Any]], ws: Workspace, start: int) -> list[dict[str, Any]]:
    """The segments in reverse order, each clip playing backwards, laid end to end from ``start``."""
    out, cursor = [], start
    for seg in reversed(segments):
        part = {k: v for k, v in seg.items() if k != "tr"}
        if not is_still(seg, ws):
            part["rev"] = not seg.get("rev", False)
        part["st"] = cursor
        cursor += part["d"]
        out.append(part)
    return out


def reverse(draft: Draft, ws: Workspace, _a: o.Reverse) -> ToolResult:
    draft = subject(draft, ws)
    base = base_track(draft)
    base["sg"] = _reversed_track(base.get("sg", []), ws, 0)
    return ToolResult(draft, {"status": "success", "reversed": len(base["sg"])},
                      Said("Reversed it: the video now plays backwards.", "已倒放：视频现在倒着播放。"))


def boomerang(draft: Draft, ws: Workspace, _a: o.Boomerang) -> ToolResult:
    draft = subject(draft, ws)
    base = base_track(draft)
    forward = base.get("sg", [])
    length = max((seg_end(s) for s in forward), default=0)
    base["sg"] = forward + _reversed_track(forward, ws, length)
    out = output_of(draft)
    if out.get("format") in ("gif", "webp"):
        out["loop"] = 0
    return ToolResult(draft, {"status": "success", "duration_ms": timeline_ms(draft)},
                      Said(f"Made a boomerang: forwards then backwards, {secs(timeline_ms(draft))} s per loop.",
                           f"已做成来回播放（正放再倒放），每次循环 {secs(timeline_ms(draft))} 秒。"))


# ---------------------------------------------------------------- canvas


def set_aspect(draft: Draft, ws: Workspace, a: o.SetAspect) -> ToolResult:
    draft = subject(draft, ws)
    meta = draft.setdefault("m", {})
    meta["aspect"] = a.aspect
    meta.pop("width", None)
    meta.pop("height", None)
    if a.fit:
        for track in tracks_of(draft, TRACK_VIDEO)[:1]:
            for seg in track.get("sg", []):
                seg["fit"] = a.fit
    width, height = ASPECTS[a.aspect]
    how = {"cover": ", cropped to fill", "stretch": ", stretched"}.get(a.fit or "", "")
    return ToolResult(draft, {"status": "success", "aspect": a.aspect, "width": width, "height": height},
                      Said(f"Changed the frame to {a.aspect} ({width}x{height}){how}.",
                           f"画面比例已改为 {a.aspect}（{width}x{height}）。"))


# ---------------------------------------------------------------- text


def _text_track(draft: Draft, name: str) -> dict[str, Any]:
    for track in tracks_of(draft, TRACK_TEXT):
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
    # one title (or closing text) at a time: a new one replaces those it overlaps; one at another time stays
    # ("'Step 1' for the first 2 seconds and 'Step 2' after that")
    track["sg"] = [s for s in track.get("sg", []) if not (a.role != "caption" and s.get("txt")
                                                          and s["st"] < end and start < s["st"] + s["d"])]
    track["sg"].append({"txt": a.text, "st": start, "d": end - start, "style": style})
    track["sg"].sort(key=lambda s: s["st"])
    where = style["pos"]
    return ToolResult(draft, {"status": "success", "text": a.text, "start_ms": start, "end_ms": end,
                              "position": where},
                      Said(f"Added the {a.role} \"{a.text}\" ({span_text(start, end - start)}, {where}, "
                           f"{style['color']}).",
                           f"已添加文字“{a.text}”（{span_text(start, end - start)}，位置 {where}）。"))


def remove_text(draft: Draft, ws: Workspace, a: o.RemoveText) -> ToolResult:
    draft = subject(draft, ws)
    removed = []
    for track in tracks_of(draft, TRACK_TEXT):
        keep = []
        for seg in track.get("sg", []):
            if a.match is None or a.match.lower() in str(seg.get("txt", "")).lower():
                removed.append(seg.get("txt", ""))
            else:
                keep.append(seg)
        track["sg"] = keep
    draft["t"] = [t for t in draft.get("t", []) if not (track_type(t) == TRACK_TEXT and not t.get("sg"))]
    if not removed:
        raise ToolError("There is no such text on the timeline.", "时间线上没有这段文字。")
    quoted = ", ".join(f'"{t}"' for t in removed)
    return ToolResult(draft, {"status": "success", "removed": removed},
                      Said(f"Removed the text {quoted}.", f"已删除文字 {quoted}。"))


# ---------------------------------------------------------------- music


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
    had_sound = clips_sound(draft, ws)
    if a.replace:                   # the clips' own sound goes; the music plays as the only sound
        for track in tracks_of(draft, TRACK_VIDEO):
            track["mute"] = True
    volume = a.volume if a.volume is not None else MUSIC_UNDER_SOUND if clips_sound(draft, ws) else MUSIC_ALONE
    default_in = min(BED_FADE_IN_MS, total // 3) if builtin else 0
    fade_in = min(a.fade_in_ms if a.fade_in_ms is not None else default_in, total // 2)
    fade_out = min(a.fade_out_ms if a.fade_out_ms is not None else min(1500, total // 4), total - fade_in)
    seg = {"src": ref.src, "n": "Built-in music bed" if builtin else ref.label, "st": 0, "d": total,
           "vol": round(volume, 3), "fi": fade_in, "fo": fade_out,
           "loop": bool(ref.duration_ms is not None and ref.duration_ms < total)}
    others = [t for t in draft.get("t", []) if track_type(t) != TRACK_AUDIO]
    draft["t"] = [*others, {"tt": TRACK_AUDIO, "n": "BGM", "sg": [seg]}]
    if output_of(draft).get("audio") is False:       # music asked for after "no sound": the file gets sound again
        del output_of(draft)["audio"]
    where = ("the built-in music bed (generated by reelforge, royalty-free)" if builtin else f'"{ref.filename}"')
    where_zh = "内置背景音乐（reelforge 生成，无版权问题）" if builtin else f"“{ref.filename}”"
    replaced, replaced_zh = "", ""
    if a.replace:
        replaced = (" It replaces the clips' own sound, which is now muted." if had_sound
                    else " The clips had no sound of their own to replace; the music is the only sound.")
        replaced_zh = "原声已去掉，由音乐替换。" if had_sound else "素材本身没有声音，音乐是唯一的声音。"
    return ToolResult(draft, {"status": "success", "music": seg["n"], "builtin": builtin, "volume": seg["vol"],
                              "replaced": a.replace},
                      Said(f"Added {where} as background music at {round(volume * 100)}% over "
                           f"{span_text(0, total)}" + (f", fading in over {secs(fade_in)} s" if fade_in else "")
                           + (f", fading out over {secs(fade_out)} s" if fade_out else "") + "." + replaced,
                           f"已添加{where_zh}作为背景音乐，音量 {round(volume * 100)}%，{span_text(0, total)}。"
                           + replaced_zh))


def _music_segments(draft: Draft) -> list[dict[str, Any]]:
    return [s for t in tracks_of(draft, TRACK_AUDIO) for s in t.get("sg", [])]


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
                           f"{secs(seg.get('fi') or 0)} s, fade out {secs(seg.get('fo') or 0)} s.",
                           f"背景音乐音量 {round(float(seg.get('vol', 1)) * 100)}%，"
                           f"淡入 {secs(seg.get('fi') or 0)} 秒，"
                           f"淡出 {secs(seg.get('fo') or 0)} 秒。"))


def remove_music(draft: Draft, ws: Workspace, _a: o.RemoveMusic) -> ToolResult:
    draft = subject(draft, ws)
    if not _music_segments(draft):
        raise ToolError("There is no music on the timeline.", "时间线上没有背景音乐。")
    draft["t"] = [t for t in draft.get("t", []) if track_type(t) != TRACK_AUDIO]
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
    stills = [s for t in tracks_of(current, TRACK_VIDEO)[:1] for s in t.get("sg", []) if is_still(s, ws)]
    if stills:
        draft = current
        base = base_track(draft)
    elif images:
        draft = {"v": 1, "m": dict(current.get("m", {})), "t": [main_track(images)]}
        base = draft["t"][0]
    else:
        raise ToolError("Upload an image first.", "请先上传一张图片。")
    ms = int((a.seconds or STILL_CLIP_MS / 1000) * 1000)
    motion = a.motion or "zoom-in"
    for i, seg in enumerate(base["sg"]):
        if is_still(seg, ws):
            seg["d"] = ms
            seg["mo"] = motion if a.motion or len(base["sg"]) == 1 else MOTIONS_CYCLE[i % len(MOTIONS_CYCLE)]
    _lay_out(base["sg"])
    output_of(draft).setdefault("resolution", "1080p")       # what the image skills promise
    count = sum(1 for s in base["sg"] if is_still(s, ws))
    return ToolResult(draft, {"status": "success", "images": count, "seconds": ms / 1000, "motion": motion},
                      Said(f"Turned {'the image' if count == 1 else f'{count} images'} into a "
                           f"{secs(ms)}-second clip{'' if count == 1 else ' each'} with a gentle {motion}.",
                           f"已把{'图片' if count == 1 else f' {count} 张图片'}做成每张 {secs(ms)} 秒的视频，"
                           "带缓慢的镜头运动。"))


def slideshow(draft: Draft, ws: Workspace, a: o.Slideshow) -> ToolResult:
    """Every upload in order on a new main track, with motion on the images and transitions. ``total_s``: the
    whole show lasts exactly that (transitions are centred on the cuts and shorten nothing); clips keep their
    own length and the images share the rest. ``seconds``: that long per image."""
    refs = ws.visuals()
    if not refs:
        raise ToolError("Upload some images first.", "请先上传图片。")
    if a.total_s is not None:
        lengths, note = _show_lengths(refs, round(a.total_s * 1000))
    else:
        lone_image = len(refs) == 1 and refs[0].kind == "image"     # one picture: a clip of it, not a 3 s slide
        ms = int((a.seconds or (STILL_CLIP_MS if lone_image else STILL_MS) / 1000) * 1000)
        lengths, note = [ms if r.kind == "image" else (r.duration_ms or STILL_MS) for r in refs], Said("", "")
    segments, cursor = [], 0
    for i, (ref, length) in enumerate(zip(refs, lengths, strict=True)):
        seg = visual_segment(ref, cursor, length)
        if ref.kind == "image":
            seg["mo"] = MOTIONS_CYCLE[i % len(MOTIONS_CYCLE)]
        segments.append(seg)
        cursor += length
    base = {"tt": TRACK_VIDEO, "n": "Slides", "sg": segments}
    kind = a.transition or "fade"
    used = _transitions(segments, kind, TRANSITION_MS)
    before = normalised(draft, ws) if draft else {}
    carried = [t for t in before.get("t", []) if track_type(t) != TRACK_VIDEO]
    others, dropped = _refit(carried, timeline_ms(before) if before else 0, cursor, ws)
    if dropped:
        quoted = ", ".join(f'"{t}"' for t in dropped)
        note = Said(f"{note.en} The text {quoted} came after the show's end and was removed.",
                    f"{note.zh}文字 {quoted} 超出了幻灯片的结尾，已删除。")
    new = {"v": 1, "m": dict(before.get("m", {})), "t": [base, *others]}
    output_of(new).setdefault("resolution", "1080p")
    total = timeline_ms(new)
    per_image = [length for ref, length in zip(refs, lengths, strict=True) if ref.kind == "image"]
    each = _per_image(per_image)
    each_en = f", {each} s per image" if each else ""
    each_zh = f"，每张图片 {each} 秒" if each else ""
    clips = sum(1 for r in refs if r.kind == "video")
    whole = all(length >= (r.duration_ms or STILL_MS) for r, length in zip(refs, lengths, strict=True)
                if r.kind == "video")
    clips_en = (f" ({clips} clip{'s' if clips > 1 else ''} at {'their' if clips > 1 else 'its'} own length)"
                if clips and whole else "")
    pictures = "1 picture" if len(refs) == 1 else f"{len(refs)} pictures"
    cuts = (f", with {kind} transitions ({used} ms, centred on the cuts)" if used else "")
    cuts_zh = (f"，带 {kind} 转场（{used} 毫秒）" if used else "")
    return ToolResult(new, {"status": "success", "slides": len(refs), "seconds_each": (per_image[0] / 1000
                            if per_image else None), "transition": kind, "duration_ms": total},
                      Said(f"Made a slideshow of {pictures}{clips_en}{each_en}{cuts}; "
                           f"{secs(total)} s in all.{note.en}",
                           f"已做成 {len(refs)} 张图片的幻灯片{each_zh}{cuts_zh}，共 {secs(total)} 秒。{note.zh}"))


MIN_SLIDE_MS: Final = 500


def _show_lengths(refs: list[MediaRef], total: int) -> tuple[list[int], Said]:
    """Lengths of the pieces of a show ``total`` ms long, and what to tell about them: clips at their own length
    and images sharing the rest; when the clips leave the images under MIN_SLIDE_MS each, every piece gets an
    equal share (longer clips cut short); a show of clips only is as long as they are, at most ``total``."""
    count = len(refs)
    if total < count * MIN_SLIDE_MS:
        raise ToolError(f"{count} pictures need at least {secs(count * MIN_SLIDE_MS)} s "
                        f"({secs(MIN_SLIDE_MS)} s each); ask for a longer show.",
                        f"{count} 张图片至少需要 {secs(count * MIN_SLIDE_MS)} 秒（每张 {secs(MIN_SLIDE_MS)} 秒），"
                        "请把总时长设长一些。")
    clip_ms = [r.duration_ms or STILL_MS for r in refs if r.kind == "video"]
    images = count - len(clip_ms)
    if images and sum(clip_ms) + images * MIN_SLIDE_MS <= total:
        each, left = divmod(total - sum(clip_ms), images)
        lengths, k = [], 0
        for ref in refs:
            if ref.kind == "video":
                lengths.append(ref.duration_ms or STILL_MS)
            else:
                lengths.append(each + (1 if k < left else 0))
                k += 1
        return lengths, Said("", "")
    if not images and sum(clip_ms) <= total:
        short = sum(clip_ms) < total
        if not short:
            return clip_ms, Said("", "")
        return clip_ms, Said(f" Your clips are only {secs(sum(clip_ms))} s together, so the show is that long, not "
                             f"{secs(total)} s; add images or ask me to slow it down.",
                             f"视频素材总共只有 {secs(sum(clip_ms))} 秒，所以幻灯片只有这么长，"
                             f"而不是 {secs(total)} 秒；可以加图片或放慢速度。")
    lengths = _share(total, refs)
    return lengths, Said(f" Your clips are {secs(sum(clip_ms))} s together, too long for {secs(total)} s: every "
                         f"piece gets an equal share, so longer clips were cut to {secs(max(lengths))} s.",
                         f"视频素材共 {secs(sum(clip_ms))} 秒，超过了 {secs(total)} 秒：每段平均分配时长，"
                         f"较长的视频被截短到 {secs(max(lengths))} 秒。")


def _per_image(lengths: list[int]) -> str:
    """The time per image in words: "4", "6.67"; "" when there are no images."""
    if not lengths:
        return ""
    value = sum(lengths) / len(lengths) / 1000
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _refit(tracks: list[dict[str, Any]], old: int, length: int,
           ws: Workspace) -> tuple[list[dict[str, Any]], list[str]]:
    """Text and sound tracks carried from a timeline ``old`` ms long onto one ``length`` ms long: what ran to the old
    end runs to the new one (music loops when its source is shorter, a text over the whole video stays over all of
    it, a closing text keeps its length), and nothing runs past the end. Also returns the texts that no longer fit."""
    out, dropped = [], []
    for track in tracks:
        tt, segments = track_type(track), []
        for seg in track.get("sg", []):
            if seg_end(seg) >= old and tt == TRACK_AUDIO and seg["st"] < length:
                seg = _lasting(seg, length - seg["st"], ws)
            elif seg_end(seg) >= old and tt == TRACK_TEXT:
                d = length if seg["st"] == 0 else min(seg["d"], length)
                seg = dict(seg, st=length - d, d=d)
            part = _cut(seg, tt, 0, length, ws)
            if part is not None:
                segments.append(part)
            elif seg.get("txt"):
                dropped.append(str(seg["txt"]))
        if segments:
            out.append(dict(track, sg=segments))
    return out, dropped


def set_transition(draft: Draft, ws: Workspace, a: o.SetTransition) -> ToolResult:
    draft = subject(draft, ws)
    segments = base_track(draft).get("sg", [])
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
        seg = visual_segment(ref, cursor, length)
        if ref.kind == "image":
            seg["mo"] = MOTIONS_CYCLE[i % len(MOTIONS_CYCLE)]
        segments.append(seg)
        cursor += length
    length = cursor
    _transitions(segments, "fade", PROMO_TRANSITION_MS)
    meta = {k: v for k, v in (draft or {}).get("m", {}).items() if k not in ("width", "height")}
    meta.setdefault("aspect", _orientation(refs))
    kept = {k: v for k, v in meta.get("out", {}).items() if k not in ("loop_seam", "loop_seam_ms")}   # GIF only
    meta["out"] = {**kept, "format": "mp4", "resolution": "1080p"}
    new: Draft = {"v": 1, "m": meta, "t": [{"tt": TRACK_VIDEO, "n": "Video", "sg": segments}]}
    zh = ws.language == "zh"
    title = a.title or ("精彩推荐" if zh else "Check this out")
    closing = a.closing or ("感谢观看" if zh else "Thanks for watching")
    new = add_text(new, ws, o.AddText(text=title, role="title", start_ms=0, end_ms=min(3000, length // 3))).draft
    new = add_text(new, ws, o.AddText(text=closing, role="closing", start_ms=max(0, length - min(3000, length // 3)),
                                      end_ms=length)).draft
    music = add_music(new, ws, o.AddMusic(fade_in_ms=1000, fade_out_ms=2000))
    new = music.draft
    short = "" if length >= total - 50 else (f" (your clips and pictures fill {secs(length)} s)")
    short_zh = "" if length >= total - 50 else f"（素材只够 {secs(length)} 秒）"
    said = Said(f"Made a {secs(length)}-second promo{short}: {len(refs)} pieces with motion and crossfades, the "
                f"title \"{title}\", the closing text \"{closing}\", {music.said.en[6:-1]}, 1080p MP4.",
                f"已制作 {secs(length)} 秒的宣传视频{short_zh}：{len(refs)} 段素材，带镜头运动和转场，"
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
    "promo": promo, "repeat": repeat, "crop": crop, "blur": blur, "enhance": enhance,
}


def apply(op: o.Op, draft: Draft, ws: Workspace) -> ToolResult:
    """Run one edit op; ToolError when it cannot be made (nothing changed)."""
    return TOOLS[op.name](draft, ws, op.parsed())
