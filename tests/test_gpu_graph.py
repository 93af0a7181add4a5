"""The CUDA path in the filter graph, read as text (there is no GPU here).

With the cuda decoder, a clip that allows it is decoded into CUDA frames (``-hwaccel_output_format
cuda``), sized by ``scale_cuda`` and downloaded (``hwdownload``) before any CPU filter; a clip that
does not keeps today's path (``-hwaccel cuda``, frames copied to system memory by the decoder), with
the reason. The CPU path's command is unchanged (tests/test_golden.py holds it). The real FFmpeg
checks that every CUDA graph parses and takes its options: it stops only where the first CUDA
filter asks for CUDA frames, which no input here can give.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from engine.config import bundled_ffmpeg
from engine.encode.encoders import CodecChoice
from engine.encode.profiles import output_args
from engine.graph.build import Sources, rate
from engine.graph.clip import CUDA_INTERP, cuda_refusal
from engine.graph.compile import compile_render
from engine.graph.video import cuda_path
from engine.media.probe import probe
from engine.model.draft import parse_draft
from engine.model.mediainfo import AudioStream, MediaInfo, VideoStream
from engine.model.timeline import Timeline, build_timeline
from engine.pipeline.assets import decoder_options
from engine.pipeline.render import RenderResult
from engine.run import FFmpegCommand
from tests.conftest import Media
from tests.placeholders import placeholder_sources

CUDA = CodecChoice("libx264", "cuda", 0, "test", "test")
CPU = CodecChoice("libx264", "cpu", None, "test", "test")
CPU_FILTERS = {"crop", "pad", "gblur", "boxblur", "scale", "overlay", "eq", "setsar", "xfade", "fade", "lutyuv",
               "reverse", "tpad", "fps", "setpts", "settb", "trim", "split"}


def _video(name: str, w: int, h: int, codec: str = "h264", pix_fmt: str = "yuv420p", rotation: int = 0,
           ms: int = 3000) -> MediaInfo:
    return MediaInfo(f"/media/{name}", "video", "mp4", "mov", 1_000_000, ms,
                     VideoStream(codec, w, h, 30.0, None, pix_fmt, rotation), AudioStream("aac", 48000, 2))


MEDIA = {m.path.rsplit("/", 1)[1]: m for m in (
    _video("wide.mp4", 1920, 1080), _video("wide2.mp4", 1280, 720), _video("hd.mp4", 1280, 720),
    _video("turned.mp4", 1080, 1920, rotation=90), _video("pro.mov", 1920, 1080, codec="prores", pix_fmt="yuv422p10le"),
    _video("h422.mp4", 1920, 1080, pix_fmt="yuv422p"), _video("av1.mp4", 1920, 1080, codec="av1"),
    _video("tiny.mp4", 128, 72, codec="hevc"), _video("uhd.mp4", 3840, 2160, codec="hevc"),
    MediaInfo("/media/photo.jpg", "image", "jpeg", None, 200_000, None,
              VideoStream("mjpeg", 1920, 1280, None, 1, None, 0), None),
)}


def _timeline(draft: dict[str, Any], media: dict[str, MediaInfo] | None = None) -> Timeline:
    return build_timeline(parse_draft(draft), media or MEDIA)


def _command(tl: Timeline, choice: CodecChoice, sources: Sources | None = None) -> FFmpegCommand:
    base = sources or placeholder_sources(tl)
    src = replace(base, decoder_args=decoder_options(choice))
    return compile_render(tl, src, output_args(tl.output, rate(tl.canvas), choice, "veryfast"), Path("/out/x.mp4"))


def _inputs(command: FFmpegCommand) -> list[list[str]]:
    """The options of each ``-i``, the path last."""
    out: list[list[str]] = []
    now: list[str] = []
    args = list(command.input_args[1:])   # past -copyts
    while args:
        arg = args.pop(0)
        if arg == "-i":
            out.append([*now, args.pop(0)])
            now = []
        else:
            now.append(arg)
    return out


Chain = tuple[tuple[str, ...], str, str, str]   # (inputs, filter, arguments, output)


def _chains(graph: str) -> list[Chain]:
    out = []
    for chain in graph.split(";"):
        m = re.fullmatch(r"((?:\[[^\]]+\])+)([a-z_0-9@]+)(?:=(.*?))?((?:\[[^\]]+\])*)", chain)
        assert m, chain
        out.append((tuple(re.findall(r"\[([^\]]+)\]", m[1])), m[2], m[3] or "", m[4]))
    return out


def _downstream(graph: str, start: str) -> list[list[str]]:
    """Every path of filter names from input label ``start`` (e.g. "0:v") to where it joins another
    input's stream or ends, one list per branch."""
    by_input: dict[str, list[Chain]] = {}
    for chain in _chains(graph):
        for label in chain[0]:
            by_input.setdefault(label, []).append(chain)
    paths: list[list[str]] = []

    def walk(label: str, path: list[str]) -> None:
        nexts = by_input.get(label, [])
        if not nexts:
            paths.append(path)
        for inputs, name, _args, outputs in nexts:
            if len(inputs) > 1 and path:
                paths.append([*path, name])    # a join: where this input's own chain ends
                continue
            outs = re.findall(r"\[([^\]]+)\]", outputs) or [""]
            for out in outs:
                walk(out, [*path, name])

    walk(start, [])
    return paths


def _scale_cuda_args(graph: str) -> list[str]:
    return [args for _i, name, args, _o in _chains(graph) if name == "scale_cuda"]


def _input_of(command: FFmpegCommand, path: str) -> int:
    return next(n for n, opts in enumerate(_inputs(command)) if opts[-1] == path)


def _assert_gpu_chain(command: FFmpegCommand, n: int) -> list[list[str]]:
    """Input ``n`` is decoded into CUDA frames, and every branch from it is scale_cuda, hwdownload, format,
    then only CPU filters: nothing of the CPU touches the picture before it is downloaded."""
    opts = _inputs(command)[n]
    assert opts[opts.index("-hwaccel") + 1] == "cuda"
    assert opts[opts.index("-hwaccel_device") + 1] == "0"
    assert opts[opts.index("-hwaccel_output_format") + 1] == "cuda"
    branches = _downstream(command.filter_graph or "", f"{n}:v")
    for branch in branches:
        body = branch[1:] if branch[0] == "split" else branch
        assert body[:3] == ["scale_cuda", "hwdownload", "format"], branch
        assert "scale_cuda" not in body[3:] and "hwdownload" not in body[3:]
    return branches


def _assert_cpu_chain(command: FFmpegCommand, n: int, cuda_decoder: bool) -> None:
    opts = _inputs(command)[n]
    assert "-hwaccel_output_format" not in opts
    assert ("-hwaccel" in opts) == cuda_decoder
    for branch in _downstream(command.filter_graph or "", f"{n}:v"):
        assert "scale_cuda" not in branch and "hwdownload" not in branch


def _graph_without_inputs(command: FFmpegCommand) -> str:
    """The graph with its input labels numbered away, to compare graphs whose inputs differ."""
    return re.sub(r"\[\d+:[va]\]", "[in]", command.filter_graph or "")


# ---------------------------------------------------------------- the drafts


def test_a_wide_clip_fit_into_a_tall_canvas_scales_its_picture_and_its_blurred_backdrop_on_the_gpu() -> None:
    tl = _timeline({"m": {"width": 720, "height": 1280}, "t": [{"tt": 0, "sg": [{"src": "wide.mp4", "d": 1000}]}]})
    command = _command(tl, CUDA)
    branches = _assert_gpu_chain(command, 0)
    assert len(branches) == 2                                   # a split of the CUDA frames: picture and backdrop
    backdrop, front = sorted(branches, key=lambda b: "gblur" in b, reverse=True)
    assert "gblur" in backdrop and "crop" in backdrop            # the backdrop's crop and blur run on the CPU
    graph = command.filter_graph or ""
    assert "[0:v]split=2" in graph
    sizes = sorted(_scale_cuda_args(graph))
    assert sizes == sorted(["720:404:format=yuv420p:interp_algo=bicubic:param=0.6",   # 1920x1080 into 720 wide
                            "142:80:format=yuv420p:interp_algo=bilinear"])   # the backdrop covers 44x80: bilinear
    assert "overlay" in front[-1:] and "setsar" in front


def test_a_clip_fit_into_a_16_9_canvas_of_its_shape_is_one_scale_on_the_gpu() -> None:
    tl = _timeline({"m": {"width": 1280, "height": 720}, "t": [{"tt": 0, "sg": [{"src": "wide.mp4", "d": 1000}]}]})
    command = _command(tl, CUDA)
    [branch] = _assert_gpu_chain(command, 0)
    assert branch[3:7] == ["tpad", "setpts", "settb", "fps"]    # frames numbered after the download, as on the CPU
    assert "scale" not in branch                                 # no swscale at all
    assert _scale_cuda_args(command.filter_graph or "") == ["1280:720:format=yuv420p:interp_algo=bicubic:param=0.6"]
    assert cuda_path(tl, 0) == {"decode": "nvdec (GPU 0)", "scale": "scale_cuda",
                                "download": "hwdownload to yuv420p at the fitted size",
                                "inputs_on_gpu": ["t[0].sg[0]"], "inputs_on_cpu": []}


def test_a_9_16_cover_scales_on_the_gpu_and_crops_on_the_cpu_and_a_still_with_motion_stays_on_the_cpu() -> None:
    tl = _timeline({"m": {"width": 720, "height": 1280}, "t": [{"tt": 0, "sg": [
        {"src": "wide.mp4", "d": 1000, "fit": "cover"},
        {"src": "photo.jpg", "d": 1000, "mo": "zoom-in", "tr": {"in": "fade"}}]}]})
    command = _command(tl, CUDA)
    clip = _input_of(command, "/media/wide.mp4")
    for branch in _assert_gpu_chain(command, clip):   # its frames, then its two runs (before and in the crossfade)
        assert branch.index("crop") > branch.index("hwdownload")
    assert _scale_cuda_args(command.filter_graph or "") == ["2276:1280:format=yuv420p:interp_algo=bicubic:param=0.6"]
    still = _input_of(command, "/work/still-1.png")
    assert not any(a.startswith("-hwaccel") for a in _inputs(command)[still])
    for motion in _downstream(command.filter_graph or "", f"{still}:v"):
        assert "crop@motion1" in motion and "scale" in motion    # the motion's crop and area scale: CPU, as before
        assert "scale_cuda" not in motion and "hwdownload" not in motion


def test_a_clip_with_blurred_regions_keeps_the_cpu_path_with_its_reason() -> None:
    tl = _timeline({"m": {"width": 1280, "height": 720}, "t": [{"tt": 0, "sg": [
        {"src": "wide.mp4", "d": 1000, "blur": [{"x": 0.1, "y": 0.1, "w": 0.2, "h": 0.2}]},
        {"src": "wide2.mp4", "d": 1000, "crop": {"x": 0, "y": 0, "w": 0.5, "h": 1}}]}]})
    command = _command(tl, CUDA)
    for n in range(2):
        _assert_cpu_chain(command, n, cuda_decoder=True)
    report = cuda_path(tl, 0)
    assert report["inputs_on_gpu"] == [] and report["scale"] == "cpu"
    reasons = {r["input"]: r["reason"] for r in report["inputs_on_cpu"]}
    assert reasons["t[0].sg[0]"].startswith("blurred regions")
    assert reasons["t[0].sg[1]"].startswith("crop")
    # the fallback is exactly today's cuda path: the CPU graph, with -hwaccel cuda on the inputs
    assert command.filter_graph == _command(tl, CPU).filter_graph


def test_a_still_has_no_hwaccel_and_a_still_only_render_reports_no_gpu_inputs() -> None:
    tl = _timeline({"m": {"width": 1280, "height": 720}, "t": [{"tt": 0, "sg": [{"src": "photo.jpg", "d": 1000}]}]})
    command = _command(tl, CUDA)
    assert not any(a.startswith("-hwaccel") for a in command.input_args)
    assert command == _command(tl, CPU)


def test_a_reversed_clip_is_scaled_on_the_gpu_and_turned_round_on_the_cpu() -> None:
    tl = _timeline({"m": {"width": 640, "height": 360}, "t": [{"tt": 0, "sg": [
        {"src": "wide.mp4", "d": 1000, "rev": True}]}]})
    command = _command(tl, CUDA)
    [branch] = _assert_gpu_chain(command, 0)
    assert branch.index("reverse") > branch.index("hwdownload")


def test_rotation_codec_pixel_format_size_and_no_scale_keep_the_cpu_path_with_their_reasons() -> None:
    names = ("turned.mp4", "pro.mov", "h422.mp4", "av1.mp4", "tiny.mp4", "hd.mp4", "wide.mp4")
    tl = _timeline({"m": {"width": 1280, "height": 720}, "t": [{"tt": 0, "sg": [
        {"src": name, "d": 500} for name in names]}]})
    command = _command(tl, CUDA)
    report = cuda_path(tl, 0)
    reasons = [r["reason"] for r in report["inputs_on_cpu"]]
    assert reasons == [
        "rotation metadata (90 degrees): FFmpeg turns the picture on the CPU after decoding",
        "codec prores: the CUDA path takes h264, hevc, vp9 only",
        "pixel format yuv422p: the CUDA path takes 8-bit 4:2:0 (yuv420p)",
        "codec av1: the CUDA path takes h264, hevc, vp9 only",
        "128x72: NVDEC decodes hevc from 144x144 to 8192x8192",
        "already its box's size: nothing to scale",
    ]
    assert report["inputs_on_gpu"] == ["t[0].sg[6]"]
    for name in names[:-1]:
        _assert_cpu_chain(command, _input_of(command, f"/media/{name}"), cuda_decoder=True)
    _assert_gpu_chain(command, _input_of(command, "/media/wide.mp4"))


def test_a_downscale_past_scale_cudas_widest_filter_keeps_the_cpu_path() -> None:
    """scale_cuda's generic filters are swscale's, widened by the ratio, and stop at 256 taps: a 4K clip in a
    portrait GIF-sized canvas makes blurred bars from a few pixels (bilinear, 216x: 432 taps)."""
    draft = {"m": {"width": 90, "height": 160}, "t": [{"tt": 0, "sg": [{"src": "uhd.mp4", "d": 500}]}]}
    report = cuda_path(_timeline(draft), 0)
    assert report["inputs_on_gpu"] == []
    assert report["inputs_on_cpu"][0]["reason"] == ("a 216x downscale (3840x2160 to 18x10): more than scale_cuda's "
                                                   "256-tap filter")
    _assert_cpu_chain(_command(_timeline(draft), CUDA), 0, cuda_decoder=True)
    draft["t"][0]["sg"][0]["fill"] = "#000000"                  # no bars to blur: 43x downscale, bicubic: 171 taps
    assert cuda_path(_timeline(draft), 0)["inputs_on_gpu"] == ["t[0].sg[0]"]


def test_layers_use_the_gpu_path_too() -> None:
    tl = _timeline({"m": {"width": 1280, "height": 720}, "t": [
        {"tt": 0, "sg": [{"src": "hd.mp4", "d": 1000}]},
        {"tt": 0, "sg": [{"src": "wide.mp4", "d": 1000, "box": {"x": 0.5, "y": 0.5, "w": 0.4, "h": 0.4}, "op": 0.8}]}]})
    command = _command(tl, CUDA)
    [branch] = _assert_gpu_chain(command, _input_of(command, "/media/wide.mp4"))
    assert "lutyuv" in branch or "overlay" in branch
    assert cuda_path(tl, None)["inputs_on_gpu"] == ["t[1].sg[0]"]
    assert cuda_path(tl, None)["decode"] == "nvdec"


def test_the_cpu_decoder_gives_the_command_it_always_gave() -> None:
    """decoder "cpu": no CUDA anything, and the command is the placeholder sources' (the golden files' path)."""
    tl = _timeline({"m": {"width": 720, "height": 1280}, "t": [{"tt": 0, "sg": [
        {"src": "wide.mp4", "d": 1000}, {"src": "hd.mp4", "d": 1000, "fit": "cover", "tr": {"in": "fade"}}]}]})
    command = _command(tl, CPU)
    text = " ".join(command.argv("ffmpeg"))
    assert "cuda" not in text and "hwdownload" not in text
    assert command == compile_render(tl, placeholder_sources(tl), output_args(tl.output, rate(tl.canvas), CPU,
                                                                              "veryfast"), Path("/out/x.mp4"))
    # the CUDA graph differs from it only in the clips' scales and the hwaccel options
    cuda = _command(tl, CUDA)
    assert _graph_without_inputs(cuda) != _graph_without_inputs(command)
    cpu_only = [c for c in _chains(command.filter_graph or "") if c[1] != "scale"]
    assert len(cpu_only) < len(_chains(cuda.filter_graph or ""))


def test_every_swscale_flag_the_fit_uses_has_a_scale_cuda_algorithm() -> None:
    assert CUDA_INTERP[None] == {"interp_algo": "bicubic", "param": "0.6"}      # swscale's B=0, C=0.6
    assert CUDA_INTERP["fast_bilinear"]["interp_algo"] == "bilinear"


# ---------------------------------------------------------------- the real FFmpeg


def _ffmpeg_text(*args: str) -> str:
    done = subprocess.run([bundled_ffmpeg(), "-hide_banner", *args], capture_output=True, text=True, timeout=30)
    return done.stdout + done.stderr


def test_every_filter_and_scale_cuda_option_used_exists_in_the_bundled_ffmpeg() -> None:
    listed = _ffmpeg_text("-filters")
    tl = _timeline({"m": {"width": 720, "height": 1280}, "t": [{"tt": 0, "sg": [
        {"src": "wide.mp4", "d": 1000}, {"src": "hd.mp4", "d": 1000, "fit": "cover", "tr": {"in": "fade"}}]}]})
    graph = _command(tl, CUDA).filter_graph or ""
    names = {name.split("@")[0] for _i, name, _a, _o in _chains(graph)}
    for name in names:
        assert re.search(rf"^ \S+ {re.escape(name)} ", listed, re.M), name
    help_text = _ffmpeg_text("-h", "filter=scale_cuda")
    for args in _scale_cuda_args(graph):
        for option in (part.split("=")[0] for part in args.split(":")[2:]):
            assert re.search(rf"^\s+{option}\s", help_text, re.M), option
    for algo in {a["interp_algo"] for a in CUDA_INTERP.values()}:
        assert re.search(rf"^\s+{algo}\s", help_text, re.M), algo


def test_the_cuda_graph_parses_in_the_real_ffmpeg_up_to_the_missing_cuda_frames(media: Media) -> None:
    """No GPU here: the inputs lose their hwaccel options and the graph is run on the CPU's frames.
    FFmpeg parses the graph and sets every filter's options first, so a misspelt filter, option or value
    fails there; this graph fails only at format negotiation, where scale_cuda asks for CUDA frames."""
    real = {"pattern.mp4": probe(media.pattern), "halves.mp4": probe(media.halves)}
    tl = _timeline({"m": {"width": 180, "height": 320}, "t": [{"tt": 0, "sg": [
        {"src": "pattern.mp4", "d": 500}, {"src": "pattern.mp4", "ss": 500, "d": 500, "fit": "cover", "rev": True,
                                           "tr": {"in": "fade"}},
        {"src": "halves.mp4", "d": 500}]}]}, real)
    assert "rotation" in (cuda_refusal(tl.base[2]) or "")                       # the fixture's rotation metadata
    command = _command(tl, CUDA, Sources({}, {}, {}))
    assert len(_scale_cuda_args(command.filter_graph or "")) == 3           # backdrop + picture, and the cover
    inputs = [a for a in command.input_args if a not in ("-hwaccel", "cuda", "-hwaccel_device", "0",
                                                         "-hwaccel_output_format")]
    out = list(command.output_args)
    maps = [a for i, flag in enumerate(out[:-1]) if flag == "-map" for a in (flag, out[i + 1])]
    text = _ffmpeg_text("-nostdin", *inputs, "-filter_complex", command.filter_graph or "", *maps, "-f", "null", "-")
    for wrong in ("Option not found", "No such filter", "Error parsing", "Invalid argument for option",
                  "Unable to parse", "Error applying option"):
        assert wrong not in text, text[-2000:]
    assert "Impossible to convert between the formats" in text and "dst: cuda" in text, text[-2000:]


def test_a_render_on_the_cpu_reports_no_gpu_path(do_render: Callable[..., RenderResult]) -> None:
    result = do_render({"m": {"width": 160, "height": 90}, "t": [{"tt": 0, "sg": [{"src": "red.mp4", "d": 300}]}]})
    assert result.decoder == "cpu"
    assert result.gpu_path is None and result.to_dict()["gpu_path"] is None


def test_the_cuda_path_report_is_plain_json() -> None:
    tl = _timeline({"m": {"width": 1280, "height": 720}, "t": [{"tt": 0, "sg": [
        {"src": "wide.mp4", "d": 500}, {"src": "turned.mp4", "d": 500}]}]})
    report = cuda_path(tl, 0)
    assert json.loads(json.dumps(report)) == report
    assert [r["input"] for r in report["inputs_on_cpu"]] == ["t[0].sg[1]"]


def _on_the_cpu(graph: str) -> str:
    """The CUDA graph with each CUDA filter replaced by its CPU twin: scale_cuda by swscale with the flags
    the CPU path uses for that algorithm, hwdownload by nothing."""
    flags = {"interp_algo=bicubic:param=0.6": "bicubic", "interp_algo=bilinear": "fast_bilinear"}

    def twin(m: re.Match[str]) -> str:
        return f"scale={m[1]}:{m[2]}:flags={flags[m[3]]}"

    graph = re.sub(r"scale_cuda=(\d+):(\d+):format=yuv420p:(interp_algo=[a-z]+(?::param=[0-9.]+)?)", twin, graph)
    return graph.replace("]hwdownload[", "]null[")


def _frame_hashes(command: FFmpegCommand, graph: str) -> list[str]:
    inputs = [a for a in command.input_args if a not in ("-hwaccel", "cuda", "-hwaccel_device", "0",
                                                         "-hwaccel_output_format")]
    out = list(command.output_args)
    maps = [a for i, flag in enumerate(out[:-1]) if flag == "-map" for a in (flag, out[i + 1])]
    done = subprocess.run([bundled_ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error", *inputs,
                           "-filter_complex", graph, *maps, "-f", "framemd5", "-"],
                          capture_output=True, text=True, timeout=60, check=True)
    return [line for line in done.stdout.splitlines() if not line.startswith("#")]


def test_the_cuda_graphs_shape_picks_the_cpu_paths_frames(media: Media) -> None:
    """Scaling before the frames are numbered (on the GPU) instead of after (on the CPU), and the bars'
    backdrop split before its timing filters: with the CUDA filters swapped for their CPU twins, every
    frame is the CPU path's, bit for bit. (What this cannot show is scale_cuda's own pixels: the GPU check.)"""
    real = {"pattern.mp4": probe(media.pattern)}
    tl = _timeline({"m": {"width": 180, "height": 320, "fps": 24}, "t": [{"tt": 0, "sg": [
        {"src": "pattern.mp4", "d": 700, "spd": 1.5},
        {"src": "pattern.mp4", "ss": 500, "d": 600, "fit": "cover", "rev": True, "tr": {"in": "fade"}},
        {"src": "pattern.mp4", "ss": 1200, "d": 500, "fill": "#203040"}]}]}, real)
    cuda = _command(tl, CUDA, Sources({}, {}, {}))
    cpu = _command(tl, CPU, Sources({}, {}, {}))
    assert len(_scale_cuda_args(cuda.filter_graph or "")) == 4
    twin = _on_the_cpu(cuda.filter_graph or "")
    assert "cuda" not in twin and "hwdownload" not in twin
    hashes = _frame_hashes(cpu, cpu.filter_graph or "")
    assert len(hashes) > 40
    assert _frame_hashes(cuda, twin) == hashes
