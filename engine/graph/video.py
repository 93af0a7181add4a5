"""The picture half of the filter graph, built with ffmpeg-python from the pieces model.

The base track is made item by item (:mod:`engine.model.pieces`): each clip, still and gap becomes
one stream of exactly the frames of its extent, cut into its runs where it has more than one;
plain runs follow one another and each transition is an xfade of its two runs, and everything is
joined with concat. Every one of those streams normalised (:func:`engine.graph.build.normalise`),
so a join never inherits a filter's own timestamp arithmetic. Upper tracks and captions are overlays,
timestamped at their start frame. Which source frame a clip's frame shows is decided in the model
and carried out in :mod:`engine.graph.clip`.

Pixels stay in 4:2:0 throughout (with alpha on layers and in crossfades), but for the crop of a
still's motion (4:4:4, so that it may start at odd pixels) and the transitions other than a
crossfade, which xfade makes in 4:4:4.
"""

from __future__ import annotations

import math
import re
from typing import Any, Final

import ffmpeg

from engine.graph.build import Build, ReversedWindow, Stream, hex_color, normalise, rate, secs
from engine.graph.clip import (
    CUDA_INTERP,
    CUDA_OUT_FORMAT,
    Scaler,
    clip_input,
    clip_read,
    cuda_refusal,
    cuda_scaler,
    frames_on_slots,
)
from engine.graph.looks import graded, source_look
from engine.media.stills import PreparedStill
from engine.model.canvas import RGB, Canvas, Rect, even
from engine.model.pieces import BaseTrack, Gap, Piece, Run, base_pieces
from engine.model.timeline import Caption, Layer, Timeline, Visual

BLUR_SHRINK: Final = 16
BLUR_MIN: Final = 8              # the blurred fill's least side: gblur turns planes of a few pixels to zeros (green)
CUDA_TAPS: Final = 256          # scale_cuda's widest filter (swscale's SWS_FILTER_SIZE_MAX)
CUDA_RADIUS: Final = {"bicubic": 2, "bilinear": 1, "lanczos": 3}   # each algorithm's reach, in source pixels
ALPHA_FORMATS: Final = re.compile(r"^(yuva|gbrap|ya\d|pal8|ayuv|vuya)|rgba|bgra|argb|abgr")   # pix_fmts with alpha


def _cover_size(dw: int, dh: int, w: int, h: int) -> tuple[int, int]:
    """The even size that covers a ``w`` x ``h`` box with a ``dw`` x ``dh`` picture."""
    s = max(w / dw, h / dh)
    return max(w, even(math.ceil(dw * s))), max(h, even(math.ceil(dh * s)))


def _cpu_scale(stream: Stream, width: int, height: int, flags: str | None) -> Stream:
    return stream.filter("scale", width, height, flags=flags) if flags else stream.filter("scale", width, height)


def _fit_video(stream: Stream, size: tuple[int, int], box: Rect, fit: str, fill: RGB | None, layer: bool,
               scale: Scaler = _cpu_scale) -> Stream:
    """The clip fitted into its box; ``size`` is its picture's, from the probe (rotation and pixel aspect
    applied) and its crop.

    ``scale`` makes every scale of the source picture: swscale's ``scale`` on the CPU path; on the CUDA
    path (:func:`engine.graph.clip.cuda_scaler`) ``stream`` is CUDA frames, and ``scale`` sizes them on the
    GPU and downloads them, so that everything after it (crop, pad, the blurred backdrop) runs on the
    CPU as before."""
    dw, dh = size
    pix = "yuva420p" if layer else "yuv420p"

    def square(s: Stream) -> Stream:
        return s.filter("setsar", "1").filter("format", pix)

    if (dw, dh) == (box.w, box.h):
        return square(stream)
    if fit == "stretch":
        return square(scale(stream, box.w, box.h, None))
    if fit == "cover":
        sw, sh = _cover_size(dw, dh, box.w, box.h)
        scaled = scale(stream, sw, sh, None)
        if (sw, sh) != (box.w, box.h):
            scaled = scaled.filter("crop", box.w, box.h, (sw - box.w) // 2, (sh - box.h) // 2)
        return square(scaled)
    s = min(box.w / dw, box.h / dh)
    sw, sh = min(box.w, even(round(dw * s))), min(box.h, even(round(dh * s)))
    if (sw, sh) == (box.w, box.h):   # same shape: nothing to fill
        return square(scale(stream, box.w, box.h, None))
    x, y = (box.w - sw) // 2, (box.h - sh) // 2
    if fill is None and not layer:   # contain over a blurred, cropped copy of the same picture
        split = stream.filter_multi_output("split")
        small_w, small_h = (max(BLUR_MIN, even(side / BLUR_SHRINK)) for side in (box.w, box.h))
        cw, ch = _cover_size(dw, dh, small_w, small_h)
        backdrop = (scale(split[0], cw, ch, "fast_bilinear")
                    .filter("crop", small_w, small_h, (cw - small_w) // 2, (ch - small_h) // 2)
                    .filter("gblur", sigma=f"{max(1.0, min(small_w, small_h) / 10):g}")
                    .filter("scale", box.w, box.h, flags="bilinear").filter("setsar", "1"))
        front = scale(split[1], sw, sh, None).filter("setsar", "1")
        return ffmpeg.overlay(backdrop, front, x=x, y=y).filter("format", pix)
    color = hex_color(fill or (0, 0, 0), None if not layer or fill else 0)
    return square(scale(stream, sw, sh, None)).filter("pad", box.w, box.h, x, y, color=color)


def _source_scales(v: Visual, layer: bool) -> list[tuple[int, int, str | None]]:
    """The scales of the source picture that :func:`_fit_video` makes for clip ``v``: (width, height, flags)."""
    asked: list[tuple[int, int, str | None]] = []

    def record(stream: Stream, width: int, height: int, flags: str | None) -> Stream:
        asked.append((width, height, flags))
        return stream

    _fit_video(ffmpeg.input("-").video, v.picture_size, v.box, v.fit, v.fill, layer, record)
    return asked


def cuda_refusal_here(v: Visual, layer: bool) -> str | None:
    """Why clip ``v`` stays off the CUDA path: :func:`engine.graph.clip.cuda_refusal`, a fit that scales
    nothing (NVDEC's frames are used as they are), or a downscale so steep that scale_cuda's filter would
    pass its 256 taps (its generic filters are swscale's, widened by the ratio: a 4K source into a GIF's
    blurred bars of a few pixels). None: it goes on."""
    refusal = cuda_refusal(v)
    if refusal is not None:
        return refusal
    dw, dh = v.picture_size
    scales = [(w, h, flags) for w, h, flags in _source_scales(v, layer) if (w, h) != (dw, dh)]
    if not scales:
        return "already its box's size: nothing to scale"
    for w, h, flags in scales:
        ratio = max(dw / w, dh / h)
        if 2 * CUDA_RADIUS[CUDA_INTERP[flags]["interp_algo"]] * ratio > CUDA_TAPS:
            return f"a {ratio:.0f}x downscale ({dw}x{dh} to {w}x{h}): more than scale_cuda's {CUDA_TAPS}-tap filter"
    return None


def cuda_path(tl: Timeline, gpu_index: int | None) -> dict[str, Any]:
    """What the CUDA path does for ``tl``'s clips, as a render reports it: decoded on NVDEC and scaled by
    ``scale_cuda`` (``inputs_on_gpu``), or decoded as before and scaled on the CPU, with the reason
    (``inputs_on_cpu``). Stills and text are prepared pictures and compose on the CPU either way."""
    clips = [(v, v not in tl.base) for v in tl.visuals() if not v.is_still]
    on_gpu = [v.where for v, layer in clips if cuda_refusal_here(v, layer) is None]
    on_cpu = [{"input": v.where, "reason": reason} for v, layer in clips
              if (reason := cuda_refusal_here(v, layer)) is not None]
    return {
        "decode": "nvdec" + ("" if gpu_index is None else f" (GPU {gpu_index})"),
        "scale": "scale_cuda" if on_gpu else "cpu",
        "download": f"hwdownload to {CUDA_OUT_FORMAT} at the fitted size" if on_gpu else "by the decoder, whole",
        "inputs_on_gpu": on_gpu,
        "inputs_on_cpu": on_cpu,
    }


def may_be_transparent(v: Visual, layer: bool) -> bool:
    """Whether a clip's fitted frames may be less than opaque (see :func:`_fit_video`): only on a layer,
    where contain leaves transparent bars without a fill colour, or where the source has alpha."""
    if not layer:
        return False
    video = v.media.video
    if video is None or video.pix_fmt is None or ALPHA_FORMATS.search(video.pix_fmt):
        return True
    (dw, dh), box = v.picture_size, v.box
    if v.fit != "contain" or v.fill is not None or (dw, dh) == (box.w, box.h):
        return False
    s = min(box.w / dw, box.h / dh)
    return (min(box.w, even(round(dw * s))), min(box.h, even(round(dh * s)))) != (box.w, box.h)


def _motion(stream: Stream, still: PreparedStill, frames: int, box: Rect, canvas: Canvas, alpha: bool) -> Stream:
    """Ken Burns: a crop per frame of the oversampled still (engine/media/motion.py), scaled to the box."""
    assert still.motion is not None and still.motion_script is not None
    x, y, w, h = still.motion.crops[0]
    # 4:4:4, so that the crop may start at odd pixels: in 4:2:0 a crop's chroma would start half a chroma
    # sample off at every odd offset, and the colour would shake against the picture as the motion moves
    # (twice the frame-to-frame wobble of tests/test_render.py's pace test). It costs about 0.6 core-seconds
    # per 10 s of 1080p motion (benchmarks/README.md), paid for smooth motion.
    work = "yuva444p" if alpha else "yuv444p"
    return (_repeat(stream, frames, canvas, work)
            .filter("sendcmd", f=str(still.motion_script))
            .filter(still.motion_target, w=w, h=h, x=x, y=y, exact=1)
            .filter("scale", box.w, box.h, flags="area")
            .filter("format", "yuva420p" if alpha else "yuv420p"))


def _repeat(stream: Stream, frames: int, canvas: Canvas, pix: str) -> Stream:
    """One decoded picture shown ``frames`` times at the canvas rate (copies by reference).

    The fps filter passes the frames through unchanged (they are already one per tick); it is there
    to give the stream the canvas's frame rate, which xfade checks, instead of the image's 25."""
    looped = stream.filter("format", pix).filter("loop", loop=frames - 1, size=1, start=0)
    return normalise(looped, canvas, pix).filter("fps", rate(canvas))


def still_stream(b: Build, v: Visual, frames: int, layer: bool) -> Stream:
    """A still's picture for ``frames`` frames, at its box size."""
    prepared = b.sources.stills[v.where]
    alpha = layer and prepared.has_alpha
    pic = b.picture(v.where, prepared).video
    grade = b.sources.grades.get(v.where)
    if prepared.motion is not None:
        return _motion(graded(pic, grade, "yuva444p" if alpha else "yuv444p"), prepared, frames, v.box, b.canvas,
                       alpha)
    pix = "yuva420p" if layer else "yuv420p"
    return _repeat(graded(pic, grade, pix), frames, b.canvas, pix)


def clip_stream(b: Build, v: Visual, run: Run, layer: bool) -> Stream:
    """A clip's frames ``run`` (item frames, see the pieces model), at its box size.

    A reversed clip whose window was turned round beforehand (``b.sources.reversed``) is read from
    that file forwards; any other is turned round here, by FFmpeg's reverse filter, which holds every
    frame of ``run`` until the last one arrives (so it is given only the frames shown, at their box size)."""
    pix = "yuva420p" if layer else "yuv420p"
    window = b.sources.reversed.get(v.where)
    if window is not None and window.video is not None:
        return _prepared_frames(b, v, window, run, pix)
    read = clip_read(v, run, b.canvas)
    if b.cuda and cuda_refusal_here(v, layer) is None:   # no look to draw: the picture goes from NVDEC to scale_cuda
        stream = _fit_video(clip_input(b, read, gpu_frames=True).video, v.picture_size, v.box, v.fit, v.fill,
                            layer, cuda_scaler(read, b.canvas))
    else:
        stream = source_look(frames_on_slots(clip_input(b, read).video, read, b.canvas), v)
        stream = _fit_video(stream, v.picture_size, v.box, v.fit, v.fill, layer)
    stream = normalise(stream.filter("trim", end_frame=run.frames), b.canvas, pix)
    return normalise(stream.filter("reverse"), b.canvas, pix) if v.reverse else stream


def _prepared_frames(b: Build, v: Visual, window: ReversedWindow, run: Run, pix: str) -> Stream:
    """Frames ``run`` of a reversed clip from its pre-pass blocks, joined by FFmpeg's concat demuxer."""
    if not (window.first <= run.first and run.stop <= window.first + window.frames):
        raise ValueError(f"{v.where}: frames {run.first}..{run.stop} are outside its reversed window")
    blocks = b.input(f"{v.where}@reversed", str(window.video), {"f": "concat", "protocol_whitelist": "file"})
    cut = blocks.video.filter("trim", start_frame=run.first - window.first, end_frame=run.stop - window.first)
    return normalise(cut, b.canvas, pix)


def visual_stream(b: Build, v: Visual, run: Run, layer: bool) -> Stream:
    """A clip or still at its box size; on the base track, placed on the full canvas."""
    if v.is_still:
        stream = still_stream(b, v, run.frames, layer)
    else:
        pix = "yuva420p" if layer else "yuv420p"
        stream = graded(clip_stream(b, v, run, layer), b.sources.grades.get(v.where), pix)
    canvas = b.canvas
    if not layer and (v.box.w, v.box.h) != (canvas.width, canvas.height):
        stream = normalise(stream.filter("pad", canvas.width, canvas.height, v.box.x, v.box.y,
                                         color=hex_color(canvas.bg)), canvas)
    return stream


def background(b: Build, owner: str, frames: int) -> Stream:
    canvas = b.canvas
    color = f"color=c={hex_color(canvas.bg)}:s={canvas.width}x{canvas.height}:r={rate(canvas)}"
    return normalise(b.lavfi(owner, color, canvas.seconds(frames + 1)).video.filter("trim", end_frame=frames), canvas)


# ---------------------------------------------------------------- the base track


def _item_stream(b: Build, track: BaseTrack, index: int) -> Stream:
    item, extent = track.items[index], track.extent(index)
    if isinstance(item, Gap):
        return background(b, f"gap@{item.start}", extent.frames)
    return visual_stream(b, item, extent, layer=False)


def _run_streams(b: Build, track: BaseTrack) -> dict[tuple[int, int], Stream]:
    """Every run of every item, by (item, first frame): the item's stream, cut where it has several."""
    out: dict[tuple[int, int], Stream] = {}
    for index in range(len(track.items)):
        runs, extent = track.runs_of(index), track.extent(index)
        whole = _item_stream(b, track, index)
        if len(runs) == 1:
            out[(index, runs[0].first)] = whole
            continue
        copies = whole.filter_multi_output("split", len(runs))
        for n, run in enumerate(runs):
            cut = copies[n].filter("trim", start_frame=run.first - extent.first, end_frame=run.stop - extent.first)
            out[(index, run.first)] = normalise(cut, b.canvas)
    return out


def _piece_stream(piece: Piece, runs: dict[tuple[int, int], Stream], canvas: Canvas) -> Stream:
    """A plain piece's run, or a transition's two runs mixed.

    xfade works in 4:4:4 only, so FFmpeg converts both of its inputs there and the result back. A
    crossfade, the common case, needs none of that: the incoming run fades in by its alpha over the
    outgoing one, in 4:2:0, with xfade's own weights (frame k of N is k/N the incoming picture)."""
    shown = runs[(piece.run.item, piece.run.first)]
    if piece.into is None:
        return shown
    incoming = runs[(piece.into.item, piece.into.first)]
    if piece.kind == "fade":
        rising = incoming.filter("format", "yuva420p").filter("fade", t="in", start_frame=0, nb_frames=piece.frames,
                                                               alpha=1)
        return normalise(ffmpeg.overlay(shown, rising, format="yuv420"), canvas)
    mixed = ffmpeg.filter([shown, incoming], "xfade", transition=piece.kind,
                          duration=secs(canvas.seconds(piece.frames)), offset=0)
    return normalise(mixed, canvas)


def base_stream(b: Build, tl: Timeline) -> Stream:
    """The base track from frame 0 to the end: its pieces, in order.

    xfade is handed only the frames that blend and concat joins the rest: fed whole streams,
    xfade in this FFmpeg costs about 8 ms for every frame it merely passes through."""
    track = base_pieces(tl)
    runs = _run_streams(b, track)
    streams = [_piece_stream(piece, runs, b.canvas) for piece in track.pieces]
    if len(streams) == 1:
        return streams[0]
    return normalise(ffmpeg.concat(*streams, v=1, a=0), b.canvas)


# ---------------------------------------------------------------- layers


def _fades(stream: Stream, frames: int, fade_in: int, fade_out: int) -> Stream:
    """Alpha fades counted in frames (the fade filter counts the frames it sees), never in rounded seconds."""
    if fade_in:
        stream = stream.filter("fade", t="in", start_frame=0, nb_frames=fade_in, alpha=1)
    if fade_out:
        stream = stream.filter("fade", t="out", start_frame=frames - fade_out, nb_frames=fade_out, alpha=1)
    return stream


def _caption_stream(b: Build, item: Caption) -> tuple[Stream, int, int]:
    cap = b.sources.captions[item.where]
    stream = _repeat(b.picture(item.where, cap.still).video, item.length, b.canvas, "yuva420p")
    return _fades(stream, item.length, item.fade_in, item.fade_out), cap.x, cap.y


def _layer_stream(b: Build, item: Visual) -> tuple[Stream, int, int]:
    stream = visual_stream(b, item, Run(0, 0, item.length), layer=True)
    if item.opacity < 1:
        stream = stream.filter("lutyuv", a=f"val*{item.opacity:g}")
    fades = (item.enter.frames if item.enter else 0, item.exit.frames if item.exit else 0)
    return _fades(stream, item.length, *fades), item.box.x, item.box.y


def overlay_layers(b: Build, base: Stream, layers: tuple[Layer, ...]) -> Stream:
    """Draw every upper track over the base, lowest first, each item only during its own frames."""
    out = base
    for layer in layers:
        for item in layer.clips:
            stream, x, y = _caption_stream(b, item) if isinstance(item, Caption) else _layer_stream(b, item)
            placed = normalise(stream, b.canvas, "yuva420p", offset=item.start)
            out = ffmpeg.overlay(out, placed, x=x, y=y, eof_action="pass", format="yuv420").filter("format", "yuv420p")
    return out
