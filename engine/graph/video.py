"""The picture half of the filter graph, built with ffmpeg-python.

Every piece of picture leaves here as a stream of exactly the frames it needs, at the canvas
rate, time base 1/fps, starting at zero, so that concat and xfade line up to the frame. How
many frames and which source frames are decided in timeline.py; this module only says how.

The base track is a chain: clips and background gaps joined by concat, or by xfade where a
transition sits on the cut. Upper tracks and captions are overlays, shifted to their start.
No text from a client reaches a filter string: captions arrive as pictures, sources as file
paths (input arguments), colours as parsed numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

import ffmpeg

from engine.graph.build import Build, Stream, hex_color, rate, secs
from engine.media.stills import PreparedStill
from engine.model.canvas import RGB, Canvas, Rect, even
from engine.model.mediainfo import MediaInfo
from engine.model.timeline import Blend, Caption, Layer, Timeline, Visual

BLUR_SHRINK: Final = 16


def _exact_frames(stream: Stream, frames: int, hold_front: int = 0) -> Stream:
    """Exactly ``frames`` frames: hold the first frame ``hold_front`` times, the last one as long as needed."""
    if hold_front:
        stream = stream.filter("tpad", start=hold_front, start_mode="clone")
    return (stream.filter("tpad", stop=-1, stop_mode="clone")
            .filter("trim", end_frame=frames).filter("setpts", "PTS-STARTPTS"))


def _cover_size(dw: int, dh: int, w: int, h: int) -> tuple[int, int]:
    """The even size that covers a ``w`` x ``h`` box with a ``dw`` x ``dh`` picture."""
    s = max(w / dw, h / dh)
    return max(w, even(math.ceil(dw * s))), max(h, even(math.ceil(dh * s)))


def _fit_video(stream: Stream, info: MediaInfo, box: Rect, fit: str, fill: RGB | None, layer: bool) -> Stream:
    """The clip fitted into its box; sizes come from the probe (rotation and pixel aspect applied)."""
    dw, dh = info.width or box.w, info.height or box.h
    pix = "yuva420p" if layer else "yuv420p"

    def square(s: Stream) -> Stream:
        return s.filter("setsar", "1").filter("format", pix)

    if (dw, dh) == (box.w, box.h):
        return square(stream)
    if fit == "stretch":
        return square(stream.filter("scale", box.w, box.h))
    if fit == "cover":
        sw, sh = _cover_size(dw, dh, box.w, box.h)
        scaled = stream.filter("scale", sw, sh)
        if (sw, sh) != (box.w, box.h):
            scaled = scaled.filter("crop", box.w, box.h, (sw - box.w) // 2, (sh - box.h) // 2)
        return square(scaled)
    s = min(box.w / dw, box.h / dh)
    sw, sh = min(box.w, even(round(dw * s))), min(box.h, even(round(dh * s)))
    if (sw, sh) == (box.w, box.h):   # same shape: nothing to fill
        return square(stream.filter("scale", box.w, box.h))
    x, y = (box.w - sw) // 2, (box.h - sh) // 2
    if fill is None and not layer:   # contain over a blurred, cropped copy of the same picture
        split = stream.filter_multi_output("split")
        small_w, small_h = even(box.w / BLUR_SHRINK), even(box.h / BLUR_SHRINK)
        cw, ch = _cover_size(dw, dh, small_w, small_h)
        backdrop = (split[0].filter("scale", cw, ch, flags="fast_bilinear")
                    .filter("crop", small_w, small_h, (cw - small_w) // 2, (ch - small_h) // 2)
                    .filter("gblur", sigma=f"{max(1.0, min(small_w, small_h) / 10):g}")
                    .filter("scale", box.w, box.h, flags="bilinear").filter("setsar", "1"))
        front = split[1].filter("scale", sw, sh).filter("setsar", "1")
        return ffmpeg.overlay(backdrop, front, x=x, y=y).filter("format", pix)
    color = hex_color(fill or (0, 0, 0), None if not layer or fill else 0)
    return square(stream.filter("scale", sw, sh)).filter("pad", box.w, box.h, x, y, color=color)


def _motion(stream: Stream, still: PreparedStill, frames: int, box: Rect, canvas: Canvas, alpha: bool) -> Stream:
    """Ken Burns: a crop per frame of the oversampled still (engine/media/motion.py), scaled to the box."""
    assert still.motion is not None and still.motion_script is not None
    x, y, w, h = still.motion.crops[0]
    work = "yuva444p" if alpha else "yuv444p"   # 4:4:4 so the crop may start at odd pixels
    return (_repeat(stream.filter("format", work), frames, canvas)
            .filter("sendcmd", f=str(still.motion_script))
            .filter(still.motion_target, w=w, h=h, x=x, y=y, exact=1)
            .filter("scale", box.w, box.h, flags="area")
            .filter("format", "yuva420p" if alpha else "yuv420p"))


def _repeat(stream: Stream, frames: int, canvas: Canvas) -> Stream:
    """One decoded picture shown ``frames`` times at the canvas rate (copies by reference)."""
    tb = f"{canvas.fps.denominator}/{canvas.fps.numerator}"
    return (stream.filter("loop", loop=frames - 1, size=1, start=0)
            .filter("settb", tb).filter("setpts", "N").filter("fps", rate(canvas)))


def still_stream(b: Build, v: Visual, frames: int, layer: bool) -> Stream:
    prepared = b.sources.stills[v.where]
    alpha = layer and prepared.has_alpha
    pic = b.picture(f"{v.where}#{frames}", prepared).video
    if prepared.motion is not None:
        return _motion(pic, prepared, frames, v.box, b.canvas, alpha)
    return _repeat(pic.filter("format", "yuva420p" if layer else "yuv420p"), frames, b.canvas)


def clip_window(v: Visual, frames: int, lead: int, canvas: Canvas) -> tuple[float, float, int]:
    """Which part of the source a clip's rendered extent reads: (start s, length s, frames held first).

    The extent begins ``lead`` frames before the in-point (the first half of a transition); where
    that is before the source's first frame, the first frame is held instead.
    A reversed clip reads the window its frames fill when played forwards and is turned round
    afterwards: its lead then lies past the out-point, and what the timeline's end cut off (the
    frames it would show last) is skipped at the in-point.
    """
    if v.reverse:
        lead = frames - lead - v.length - v.cut
    fps = float(canvas.fps)
    start_s = v.source_in_ms / 1000 - lead / fps * v.speed
    hold = 0
    if start_s < 0:
        hold = min(frames - 1, math.ceil(-start_s * fps / v.speed - 1e-9))
        start_s = 0.0
    return start_s, (frames - hold + 2) / fps * v.speed, hold


def clip_input(b: Build, v: Visual, frames: int, lead: int) -> Any:
    """The ``-i`` of a clip's extent; its picture and its sound read the same one."""
    start_s, need_s, _hold = clip_window(v, frames, lead, b.canvas)
    return b.media(f"{v.where}#{frames}", v.media, start_s=start_s, duration_s=need_s, decode=True)


def clip_stream(b: Build, v: Visual, frames: int, lead: int, layer: bool) -> Stream:
    """The picture of a video clip over its rendered extent."""
    hold = clip_window(v, frames, lead, b.canvas)[2]
    stream = clip_input(b, v, frames, lead).video
    stream = stream.filter("setpts", "PTS-STARTPTS" if v.speed == 1 else f"(PTS-STARTPTS)/{v.speed:g}")
    stream = stream.filter("fps", rate(b.canvas))
    stream = _fit_video(stream, v.media, v.box, v.fit, v.fill, layer)
    stream = _exact_frames(stream, frames, hold)
    # reverse holds every frame until the last one arrives: give it only the frames shown, at their box size
    return stream.filter("reverse") if v.reverse else stream


def visual_stream(b: Build, v: Visual, frames: int, lead: int, layer: bool) -> Stream:
    """A clip or still at its box size; on the base track, placed on the full canvas."""
    stream = still_stream(b, v, frames, layer) if v.is_still else clip_stream(b, v, frames, lead, layer)
    canvas = b.canvas
    if not layer and (v.box.w, v.box.h) != (canvas.width, canvas.height):
        stream = stream.filter("pad", canvas.width, canvas.height, v.box.x, v.box.y, color=hex_color(canvas.bg))
    return stream


def background(b: Build, owner: str, frames: int) -> Stream:
    canvas = b.canvas
    color = f"color=c={hex_color(canvas.bg)}:s={canvas.width}x{canvas.height}:r={rate(canvas)}"
    return (b.lavfi(owner, color, canvas.seconds(frames + 1)).video.filter("format", "yuv420p")
            .filter("trim", end_frame=frames).filter("setpts", "PTS-STARTPTS"))


@dataclass(frozen=True, slots=True)
class _Piece:
    stream: Stream
    frames: int           # how many frames it renders (transition halves included)
    enter: Blend | None   # the transition into it from the piece before


def _cut(stream: Stream, at: int) -> tuple[Stream, Stream]:
    """The frames before ``at`` and the frames from ``at`` on, each starting at time zero."""
    halves = stream.filter_multi_output("split")
    return (halves[0].filter("trim", end_frame=at),
            halves[1].filter("trim", start_frame=at).filter("setpts", "PTS-STARTPTS"))


def _join(pieces: list[_Piece], canvas: Canvas) -> Stream:
    """Pieces end to end: concat at a plain cut; at a transition, xfade over just its frames.

    xfade is handed only the frames that blend (the tail of what came before, the head of the
    next piece) and concat joins the rest: fed whole streams, xfade in this FFmpeg costs about
    8 ms for every frame it merely passes through before the transition.
    After each join the stream is pinned to yuv420p at the canvas time base. Left to itself,
    FFmpeg's format negotiation picks yuv444p for a concat/xfade chain and converts every frame
    there and back; and concat hands out a microsecond time base that xfade refuses.
    """
    tb = f"{canvas.fps.denominator}/{canvas.fps.numerator}"
    acc, length = pieces[0].stream, pieces[0].frames
    for piece in pieces[1:]:
        blend = piece.enter
        if blend is None:
            parts = [acc, piece.stream]
        else:
            overlap = blend.frames
            start = length - overlap                   # where the blend begins in what came before
            main, tail = _cut(acc, start) if start > 0 else (None, acc)
            head, rest = _cut(piece.stream, overlap) if piece.frames > overlap else (piece.stream, None)
            tail, head = tail.filter("format", "yuv420p"), head.filter("format", "yuv420p")
            mixed = ffmpeg.filter([tail, head], "xfade", transition=blend.kind,
                                  duration=secs(canvas.seconds(overlap)), offset=0)
            parts = [p for p in (main, mixed, rest) if p is not None]
        acc = ffmpeg.concat(*parts, v=1, a=0).filter("settb", tb) if len(parts) > 1 else parts[0]
        acc = acc.filter("format", "yuv420p")
        length += piece.frames - (blend.frames if blend else 0)
    return acc


def base_stream(b: Build, tl: Timeline) -> Stream:
    """The base track from frame 0 to the end: clips, and background wherever there is none."""
    pieces: list[_Piece] = []
    cursor, leaving = 0, None   # where the last clip ended, and the transition it left with
    for index, clip in enumerate(tl.base):
        fades_in_at_zero = index == 0 and clip.start == 0 and clip.enter is not None
        if clip.start > cursor or fades_in_at_zero:   # background before the clip, maybe of zero length
            frames = (clip.start - cursor) + (leaving.lead if leaving else 0) + (clip.enter.lag if clip.enter else 0)
            pieces.append(_Piece(background(b, f"gap@{cursor}", frames), frames, leaving))
        stream = visual_stream(b, clip, clip.extent, clip.lead_in, layer=False)
        pieces.append(_Piece(stream, clip.extent, clip.enter))
        cursor, leaving = clip.end, clip.exit
    if cursor < tl.length or leaving is not None:     # background after the last clip, maybe of zero length
        frames = tl.length - cursor + (leaving.lead if leaving else 0)
        pieces.append(_Piece(background(b, f"gap@{cursor}", frames), frames, leaving))
    return _join(pieces, b.canvas)


def _fades(stream: Stream, frames: int, fade_in: int, fade_out: int, canvas: Canvas) -> Stream:
    if fade_in:
        stream = stream.filter("fade", t="in", st=0, d=secs(canvas.seconds(fade_in)), alpha=1)
    if fade_out:
        stream = stream.filter("fade", t="out", st=secs(canvas.seconds(frames - fade_out)),
                               d=secs(canvas.seconds(fade_out)), alpha=1)
    return stream


def _caption_stream(b: Build, item: Caption) -> tuple[Stream, int, int]:
    cap = b.sources.captions[item.where]
    pic = b.picture(item.where, cap.still).video
    stream = _repeat(pic.filter("format", "yuva420p"), item.length, b.canvas)
    return _fades(stream, item.length, item.fade_in, item.fade_out, b.canvas), cap.x, cap.y


def _layer_stream(b: Build, item: Visual) -> tuple[Stream, int, int]:
    stream = visual_stream(b, item, item.extent, 0, layer=True)
    if item.opacity < 1:
        stream = stream.filter("lutyuv", a=f"val*{item.opacity:g}")
    fades = (item.enter.frames if item.enter else 0, item.exit.frames if item.exit else 0)
    return _fades(stream, item.length, *fades, b.canvas), item.box.x, item.box.y


def overlay_layers(b: Build, base: Stream, layers: tuple[Layer, ...]) -> Stream:
    """Draw every upper track over the base, lowest first, each item only during its own frames."""
    out = base
    for layer in layers:
        for item in layer.clips:
            stream, x, y = _caption_stream(b, item) if isinstance(item, Caption) else _layer_stream(b, item)
            stream = stream.filter("setpts", f"PTS+{item.start}")
            out = ffmpeg.overlay(out, stream, x=x, y=y, eof_action="pass", format="yuv420").filter("format", "yuv420p")
    return out
