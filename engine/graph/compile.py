"""Timeline → FFmpegCommand: one FFmpeg process, one filter graph, for the whole render.

The graph is built with ffmpeg-python's nodes and returned as data (inputs, graph text, outputs),
so the same timeline gives byte-identical commands and tests can read them without running
anything. run.py writes the graph to a file and starts the process.

The graph is put in order here, not by ffmpeg-python's ``compile``: its walk recurses once per
filter along the longest chain (every caption and layer adds to one chain of overlays, so a
few hundred of them pass Python's recursion limit) and compares nodes in lists (quadratic).
:func:`sort_graph` visits the nodes in the same order with a stack of its own, so the text is
the same, whatever the graph's depth.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import ffmpeg
from ffmpeg import _run as ffmpeg_args  # its formatting helpers; none of them recurses
from ffmpeg.dag import DagEdge
from ffmpeg.nodes import FilterNode, InputNode, Node, OutputNode

from engine.graph import gif
from engine.graph.audio import RAW_FORMAT, forward_sound, mixed_sound
from engine.graph.build import Build, Sources, rate
from engine.graph.looks import cropped
from engine.graph.video import base_stream, clip_stream, overlay_layers
from engine.model.canvas import Canvas, OutputSpec
from engine.model.pieces import Run
from engine.model.timeline import Timeline, Visual
from engine.run import FFmpegCommand

Stream = Any
_PLACEHOLDER = "__reelforge_output__"
_ONE_PICTURE = ("-frames:v", "1", "-update", "1", "-f", "image2")   # the palette, as a PNG file
SAMPLE_READ_S = 1.0     # how much of a clip each picture sample may read to find its frame
FFV1 = ("-c:v", "ffv1", "-level", "3")                                 # lossless, with alpha
# H.264 at qp 0 in 4:2:0, every frame intra: exact through FFmpeg's decoder, twice as fast as FFV1 both ways
X264_LOSSLESS = ("-c:v", "libx264", "-qp", "0", "-preset", "ultrafast", "-g", "1", "-pix_fmt", "yuv420p")
# ... and with inter frames, where a frame that repeats the last costs next to nothing (FFV1 codes every frame
# whole: 78 MB/s of a 1080 wide still); FFmpeg decodes a rare inter block a level off, which no GIF palette shows
X264_QP0 = ("-c:v", "libx264", "-qp", "0", "-preset", "ultrafast", "-pix_fmt", "yuv420p")


def _palette_file(path: Path) -> Stream:
    return ffmpeg.input(str(path), f="png_pipe", protocol_whitelist="file").video


def _resampled(source: Path, width: int, height: int, fps: str) -> Stream:
    """The size search's lossless intermediate at one setting's rate and width."""
    return (ffmpeg.input(str(source), f="matroska", protocol_whitelist="file").video
            .filter("fps", fps).filter("scale", width, height, flags="lanczos"))


def picture(b: Build, tl: Timeline) -> Stream:
    """The composed picture, every frame of the timeline, at the output size and rate."""
    return overlay_layers(b, base_stream(b, tl), tl.layers)


Outgoing = dict[Node, dict[Any, list[tuple[Node, Any, Any]]]]


def sort_graph(sink: Node) -> tuple[list[Node], Outgoing]:
    """Every node ``sink`` reads from, each after all of its inputs, and every node's outgoing edges.

    The order of ffmpeg-python's ``topo_sort`` (depth first, inputs in their order, a node once it
    is done), walked with an explicit stack."""
    order: list[Node] = []
    done: set[Node] = set()
    outgoing: Outgoing = {}
    stack: list[tuple[Node, Iterator[DagEdge]]] = [(sink, iter(sink.incoming_edges))]
    while stack:
        node, edges = stack[-1]
        for edge in edges:
            upstream = edge.upstream_node
            outgoing.setdefault(upstream, {}).setdefault(edge.upstream_label, []).append(
                (edge.downstream_node, edge.downstream_label, edge.upstream_selector))
            if upstream not in done:
                stack.append((upstream, iter(upstream.incoming_edges)))
                break
        else:
            stack.pop()
            done.add(node)
            order.append(node)
    return order, outgoing


def _command(streams: Sequence[Stream], out_args: Sequence[str], output: Path, duration_s: float) -> FFmpegCommand:
    """Inputs, graph and outputs of the graph that makes ``streams``, with our options in the outputs."""
    sink = ffmpeg.output(*streams, _PLACEHOLDER).node
    assert isinstance(sink, OutputNode)
    order, outgoing = sort_graph(sink)
    inputs = [node for node in order if isinstance(node, InputNode)]
    names = {(node, None): str(i) for i, node in enumerate(inputs)}
    graph = ffmpeg_args._get_filter_arg([n for n in order if isinstance(n, FilterNode)], outgoing, names)
    maps = ffmpeg_args._get_output_args(sink, names)[:-1]
    return FFmpegCommand(
        # clips pick their frames by the file's own timestamps
        input_args=("-copyts", *(arg for node in inputs for arg in ffmpeg_args._get_input_args(node))),
        output_args=(*maps, *out_args, str(output)),
        filter_graph=graph,
        duration_s=duration_s,
    )


def compile_render(tl: Timeline, sources: Sources, out_args: Sequence[str], output: Path) -> FFmpegCommand:
    """The whole render in one pass: picture (with its GIF palette when it fits) and sound."""
    b = Build(tl.canvas, sources)
    video = picture(b, tl)
    if tl.output.format == "gif":
        video = gif.one_pass(video, tl.output)
    streams = [video, mixed_sound(b, tl)] if tl.output.audio else [video]
    return _command(streams, out_args, output, tl.duration_s)


def compile_sound(tl: Timeline, out_args: Sequence[str], output: Path, sources: Sources | None = None) -> FFmpegCommand:
    """The whole timeline's sound alone, for a chunked render to mux under its joined picture
    (``sources``: only the reversed clips' prepared sound is read from it)."""
    b = Build(tl.canvas, sources or Sources({}, {}, {}))
    return _command([mixed_sound(b, tl)], out_args, output, tl.duration_s)


def compile_loudness_scan(tl: Timeline, sources: Sources, metadata: Path) -> FFmpegCommand:
    """The whole timeline's sound measured by ebur128 (EBU R128): every 100 ms its integrated loudness so far,
    loudness range and true peak, written to ``metadata`` (engine/media/stats.py reads it); nothing else."""
    b = Build(tl.canvas, replace(sources, loudness=None))
    scan = (mixed_sound(b, tl).filter("ebur128", peak="true", metadata=1)
            .filter("ametadata", mode="print", file=str(metadata)))
    return _command([scan], ["-f", "null"], Path("-"), tl.duration_s)


def compile_picture_samples(v: Visual, times_s: Sequence[float], width: int, height: int,
                            output: Path) -> FFmpegCommand:
    """One frame of clip ``v`` at each source time, cropped as its segment says, scaled to ``width`` x
    ``height`` and laid side by side, as one raw yuv444p picture: what m.enhance measures a clip by."""
    b = Build(Canvas(width, height, Fraction(1), (0, 0, 0), 0.0, 1.0), Sources({}, {}, {}))
    samples = []
    for n, at in enumerate(times_s):
        inp = b.media(f"{v.where}@sample{n}", v.media, start_s=at, duration_s=SAMPLE_READ_S)
        samples.append(cropped(inp.video.filter("trim", end_frame=1), v)
                       .filter("scale", width, height, flags="area").filter("setsar", "1")
                       .filter("format", "yuv444p").filter("setpts", "0"))
    row = samples[0] if len(samples) == 1 else ffmpeg.filter(samples, "hstack", inputs=len(samples))
    return _command([row], ["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "yuv444p"], output, 1.0)


def compile_palette(tl: Timeline, sources: Sources, palette_png: Path) -> FFmpegCommand:
    """GIF first pass: compose the timeline and keep only its palette."""
    pal = gif.palette(picture(Build(tl.canvas, sources), tl), tl.output)
    return _command([pal], _ONE_PICTURE, palette_png, tl.duration_s)


def compile_with_palette(tl: Timeline, sources: Sources, palette_png: Path, out_args: Sequence[str],
                         output: Path) -> FFmpegCommand:
    """GIF second pass: compose again and map it through the palette from the first pass."""
    video = gif.apply_palette(picture(Build(tl.canvas, sources), tl), _palette_file(palette_png), tl.output)
    return _command([video], out_args, output, tl.duration_s)


def compile_intermediate(tl: Timeline, sources: Sources, output: Path, codec: Sequence[str] = FFV1,
                         resample: tuple[int, int, str] | None = None) -> FFmpegCommand:
    """The composed picture, losslessly (FFV1 unless ``codec`` says otherwise), for the size search to
    re-encode cheaply; ``resample`` (width, height, rate) makes it at that setting instead of the canvas's."""
    video = picture(Build(tl.canvas, sources), tl)
    fps = rate(tl.canvas)
    if resample is not None:
        width, height, fps = resample
        video = video.filter("fps", fps).filter("scale", width, height, flags="lanczos")
    args = [*codec, "-r", fps, "-an", "-f", "matroska"]
    return _command([video], args, output, tl.duration_s)


def compile_reversed_block(tl: Timeline, sources: Sources, v: Visual, run: Run, layer: bool, codec: Sequence[str],
                           output: Path) -> FFmpegCommand:
    """Frames ``run`` of reversed clip ``v`` at its box size, turned round, losslessly: one block of
    its pre-pass (engine/pipeline/reverse.py). ``sources`` must not hold ``v``'s prepared window."""
    video = clip_stream(Build(tl.canvas, sources), v, run, layer)
    args = [*codec, "-r", rate(tl.canvas), "-an", "-f", "matroska"]
    return _command([video], args, output, tl.canvas.seconds(run.frames))


def compile_forward_sound(tl: Timeline, v: Visual, extent: Run, output: Path) -> FFmpegCommand:
    """Reversed clip ``v``'s sound over ``extent``, forwards and exactly as long, as raw f32le stereo:
    its pre-pass turns the file round."""
    stream = forward_sound(Build(tl.canvas, Sources({}, {}, {})), v, extent)
    args = ["-c:a", "pcm_f32le", "-f", RAW_FORMAT]
    return _command([stream], args, output, tl.canvas.seconds(extent.frames))


def compile_gif_attempt(source: Path, width: int, height: int, fps: str, spec: OutputSpec, out_args: Sequence[str],
                        output: Path, duration_s: float, palette_png: Path | None = None) -> FFmpegCommand:
    """One point of the GIF size search: the intermediate resampled, then palettised.

    With ``palette_png`` the palette comes from a file (made by :func:`compile_gif_palette`),
    so nothing is buffered; without it, in one pass.
    """
    video = _resampled(source, width, height, fps)
    if palette_png is None:
        return _command([gif.one_pass(video, spec)], out_args, output, duration_s)
    return _command([gif.apply_palette(video, _palette_file(palette_png), spec)], out_args, output, duration_s)


def compile_gif_palette(source: Path, width: int, height: int, fps: str, spec: OutputSpec, output: Path,
                        duration_s: float) -> FFmpegCommand:
    """The palette of one size-search setting, for a two-pass attempt."""
    return _command([gif.palette(_resampled(source, width, height, fps), spec)], _ONE_PICTURE, output, duration_s)


RAW_OUT = ("-an", "-f", "rawvideo", "-pix_fmt", gif.RAW_PIXELS, "pipe:1")
SPOOL = ("-c:v", "ffv1", "-level", "3", "-slices", "4", "-an", "-f", "matroska")   # lossless BGRA, for a long scene


def compile_raw_frames(tl: Timeline, sources: Sources) -> FFmpegCommand:
    """The composed picture, every frame, as raw BGRA on standard output: what the GIF scene router reads."""
    video = picture(Build(tl.canvas, sources), tl).filter("format", gif.RAW_PIXELS)
    return _command([video], RAW_OUT[:-1], Path(RAW_OUT[-1]), tl.duration_s)


def compile_raw_resampled(source: Path, width: int, height: int, fps: str, duration_s: float,
                          frames: int) -> FFmpegCommand:
    """A lossless intermediate (the size search's, a chunked GIF's joined parts) resampled, as raw BGRA:
    exactly ``frames`` of them (the rate filter may make one more at the end)."""
    video = (_resampled(source, width, height, fps).filter("trim", end_frame=frames)
             .filter("format", gif.RAW_PIXELS))
    return _command([video], RAW_OUT[:-1], Path(RAW_OUT[-1]), duration_s)


def compile_scene_gif(width: int, height: int, fps: str, spec: OutputSpec, out_args: Sequence[str],
                      output: Path) -> FFmpegCommand:
    """One scene's GIF from raw frames on standard input, its palette made from them in the same pass."""
    return _command([gif.one_pass(gif.raw_frames(width, height, fps), spec)], out_args, output, 0.0)


def compile_scene_palette_and_spool(width: int, height: int, fps: str, spec: OutputSpec, palette_png: Path,
                                    spool: Path) -> FFmpegCommand:
    """A scene too long to buffer: its palette, and its frames kept losslessly for :func:`compile_spooled_gif`."""
    options = ":".join(f"{k}={v}" for k, v in gif.palette_options(spec).items())
    sentinel = "tpad=" + ":".join(f"{k}={v}" for k, v in gif.SENTINEL_PAD.items()) + "," \
        if gif.needs_sentinel(spec) else ""
    raw = ("-f", "rawvideo", "-pix_fmt", gif.RAW_PIXELS, "-s", f"{width}x{height}", "-r", fps, "-i", "pipe:0")
    return FFmpegCommand(
        input_args=raw,
        output_args=("-map", "[p]", *_ONE_PICTURE, str(palette_png), "-map", "[s]", *SPOOL, str(spool)),
        filter_graph=f"[0:v]split[a][s];[a]{sentinel}palettegen={options}[p]",
    )


def compile_spooled_gif(spool: Path, palette_png: Path, spec: OutputSpec, out_args: Sequence[str],
                        output: Path) -> FFmpegCommand:
    """A long scene's GIF: its spooled frames through the palette made from them."""
    video = ffmpeg.input(str(spool), f="matroska", protocol_whitelist="file").video
    return _command([gif.apply_palette(video, _palette_file(palette_png), spec)], out_args, output, 0.0)
