"""render(): a draft in, a checked file out.

The steps: parse and validate the draft, probe every source, resolve the timeline, work out the
scratch files it may write and refuse it if they pass the budget or the free disk
(:mod:`engine.pipeline.scratch`), prepare the pictures FFmpeg cannot make safely (stills, text),
turn round the reversed clips too large to hold in the graph (:mod:`engine.pipeline.reverse`),
choose the encoder, compile one command, run it with progress, check the result against the
timeline, and only then move it into place
(:mod:`engine.pipeline.output`: a temporary name beside the destination, renamed when checked,
so nobody can ever see a half-written file). The scratch folder goes with the render, however it
ends; a cancel is seen between probes, between prepared pictures and within every FFmpeg run.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from engine.config import EngineConfig, ProbeLimits
from engine.encode.encoders import CodecChoice, detect_capabilities
from engine.encode.profiles import WEBP_QUALITY, BitrateCap, output_args
from engine.errors import MediaError, RenderCancelled
from engine.graph import compile as compiler
from engine.graph.build import Sources, rate
from engine.graph.gif import one_pass_fits
from engine.graph.video import cuda_path
from engine.media.fonts import FontCatalog
from engine.media.probe import DEFAULT_LIMITS, probe
from engine.media.resolve import LocalResolver, Resolver
from engine.model.canvas import OutputSpec
from engine.model.cost import Caps, check_cost
from engine.model.draft import Draft, parse_draft
from engine.model.mediainfo import MediaInfo
from engine.model.scenes import Scene, planned_scenes
from engine.model.timeline import Timeline, build_timeline
from engine.pipeline import gif_scenes, size_target
from engine.pipeline.assets import prepare_sources
from engine.pipeline.enhance import Enhanced, measure_enhance
from engine.pipeline.gif_ladder import settings_report
from engine.pipeline.gif_size import search_gif_size
from engine.pipeline.output import Expected, staged_output, verify
from engine.pipeline.reverse import prepare_reversed
from engine.pipeline.scratch import ScratchPlan, check_free_space, plan_scratch, scratch_folder
from engine.run import FFmpegCommand, run_ffmpeg

__all__ = ["NATIVE_ENCODERS", "Expected", "ProgressCallback", "RenderResult", "probe_sources", "render", "verify"]

ProgressCallback = Callable[[float], None]
PROBE_THREADS = 4
PREPASS_SHARE = 0.3   # of the progress, for turning reversed clips round before the render proper
NATIVE_ENCODERS = {"gif": "gif (palettegen/paletteuse)", "webm": "libvpx-vp9", "webp": "libwebp_anim"}


@dataclass(frozen=True, slots=True)
class RenderResult:
    path: Path
    format: str
    size_bytes: int
    duration_s: float
    width: int
    height: int
    fps: float
    frames: int
    has_audio: bool
    video_codec: str
    encoder: str            # what encoded the picture, and why that one
    encoder_reason: str
    decoder: str            # what decoded the video sources ("none" for stills and text only), and why
    decoder_reason: str
    elapsed_s: float
    passes: int             # FFmpeg runs it took
    warnings: tuple[str, ...] = ()
    gif: dict[str, Any] | None = None   # GIF settings used; with a size target, every try and the one chosen
    target_bytes: int | None = None     # m.out.max_mb in bytes; size_bytes is at most this
    encoding: dict[str, Any] | None = None   # with a size target: the settings chosen (size, fps, rates) and every try
    enhance: dict[str, Any] | None = None   # m.enhance: what its first pass measured and what was done
    gpu_path: dict[str, Any] | None = None  # decoder "cuda": which clips NVDEC + scale_cuda took, which not and why

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["path"] = str(self.path)
        return out


def probe_sources(draft: Draft, resolve: Resolver, limits: ProbeLimits = DEFAULT_LIMITS,
                  cancel: threading.Event | None = None) -> dict[str, MediaInfo]:
    """Probe every distinct ``src`` once (a few at a time); a missing or unreadable one is a MediaError naming it.

    ``cancel`` is checked before each probe: once it is set, no other probe starts (RenderCancelled)."""
    sources = list(dict.fromkeys(seg.src for track in draft.t for seg in track.sg if hasattr(seg, "src")))

    def one(src: str) -> MediaInfo:
        if cancel is not None and cancel.is_set():
            raise RenderCancelled()
        try:
            return probe(resolve(src), limits)
        except MediaError as exc:
            raise type(exc)(src, *exc.args[1:]) from exc      # the same error, naming the draft's src

    pool = ThreadPoolExecutor(max_workers=PROBE_THREADS)
    try:
        return dict(zip(sources, pool.map(one, sources), strict=True))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def render(
    draft: Draft | Mapping[str, Any],
    output: str | Path,
    *,
    config: EngineConfig,
    resolve: Resolver | None = None,
    codecs: CodecChoice | None = None,
    fonts: FontCatalog | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> RenderResult:
    """Render ``draft`` to ``output`` (format from ``draft.m.out.format``). Raises EngineError subclasses.

    ``codecs``: the encoder and decoder to use, as chosen once by the caller
    (:func:`engine.encoders.detect_capabilities`); None detects them now.
    """
    started = time.monotonic()
    model = draft if isinstance(draft, Draft) else parse_draft(draft)
    media = probe_sources(model, resolve or LocalResolver(), config.probe, cancel)
    tl = build_timeline(model, media)
    check_cost(model, tl, media, Caps.of(config))        # the API checked it too; a worker does not rely on that
    plan = plan_scratch(tl, config)
    check_free_space(plan, scratch_folder(config))
    size_target.check_reachable(tl)                      # a target nothing could meet: refused before any encode
    choice = codecs or detect_capabilities(config).choice
    decodes_video = any(not v.is_still for v in tl.visuals())
    report = on_progress or (lambda _fraction: None)
    with tempfile.TemporaryDirectory(prefix="reelforge-", dir=config.work_dir) as scratch, \
            staged_output(output) as out:
        work = Path(scratch)
        catalog = fonts or FontCatalog.discover(config.font_dirs)
        encoding: dict[str, Any] | None = None
        if tl.output.max_bytes is not None and tl.output.format != "gif":
            tl, passes, encoding, enhance_report, out.want, warnings = _encode_to_target(
                model, media, tl, catalog, choice, decodes_video, config, out.temp, work, report, cancel)
            gif_report = None
        else:
            sources, warnings = prepare_sources(tl, work, catalog, choice if decodes_video else None, cancel)
            enhanced = measure_enhance(tl, sources, work, config, cancel)
            sources, warnings, enhance_report = enhanced.sources, [*warnings, *enhanced.warnings], enhanced.report
            passes, gif_report, out.want = _encode(tl, sources, choice, config, out.temp, work, report, cancel, plan)
            passes += enhanced.passes
            if tl.output.max_bytes is not None:
                encoding = gif_report
    assert out.info is not None and out.want is not None
    warnings += _scratch_warnings(tl, plan)
    info, want, out_path = out.info, out.want, out.path
    report(1.0)
    h264 = tl.output.format == "mp4"
    return RenderResult(
        path=out_path, format=tl.output.format, size_bytes=out_path.stat().st_size, duration_s=info.duration_s,
        width=info.width, height=info.height, fps=want.fps, frames=info.frames, has_audio=info.has_audio,
        video_codec=info.video_codec or "",
        encoder=choice.encoder if h264 else NATIVE_ENCODERS[tl.output.format],
        encoder_reason=choice.encoder_reason if h264 else f"{tl.output.format} output",
        decoder=choice.decoder if decodes_video else "none",
        decoder_reason=choice.decoder_reason if decodes_video else "no video sources (stills and text only)",
        elapsed_s=time.monotonic() - started, passes=passes, warnings=(*tl.warnings, *warnings), gif=gif_report,
        target_bytes=tl.output.max_bytes, encoding=encoding, enhance=enhance_report,
        gpu_path=cuda_path(tl, choice.gpu_index) if decodes_video and choice.decoder == "cuda" else None,
    )


def _expected(tl: Timeline) -> Expected:
    """The timeline's every frame, exactly: a render one frame short is a wrong render."""
    return Expected(tl.canvas.width, tl.canvas.height, tl.length, float(tl.canvas.fps), tl.output.audio,
                    timed=tl.output.format in ("mp4", "webm"), exact=True)


def _scratch_warnings(tl: Timeline, plan: ScratchPlan) -> list[str]:
    start = plan.gif_start
    if start is None or (start.width, start.fps) == (tl.canvas.width, float(tl.canvas.fps)):
        return []
    return [f"m.out.max_bytes: the size search started at {start.width} px and {start.fps:g} fps, not the canvas's "
            f"size and rate, to keep its scratch files under this server's scratch_budget_mb"]


def _encode_to_target(model: Draft, media: Mapping[str, MediaInfo], tl: Timeline, fonts: FontCatalog,
                      choice: CodecChoice, decodes_video: bool, config: EngineConfig, temp: Path, work: Path,
                      report: ProgressCallback, cancel: threading.Event | None,
                      ) -> tuple[Timeline, int, dict[str, Any], dict[str, Any] | None, Expected, list[str]]:
    """MP4, WebM or WebP under ``m.out.max_mb``: encode, weigh, and try again lower until it fits
    (engine/pipeline/size_target.py chooses the settings). ``m.enhance`` is measured once, at the first size: what
    it measures (the sources' pictures, the mix) is the same at every size.

    Returns (the timeline used, FFmpeg runs, the settings report, the enhance report, what the file must hold,
    warnings)."""
    spec = tl.output
    video = spec.format in size_target.VIDEO_FORMATS
    search = size_target.plan_video(tl) if video else size_target.plan_webp(tl, WEBP_QUALITY[spec.quality])
    attempt: size_target.Attempt | None = search.first
    tried: list[size_target.Attempt] = []
    runs, now = 0, tl
    prepared: tuple[size_target.Rung, Timeline, Sources, list[str]] | None = None
    enhanced: Enhanced | None = None
    while attempt is not None:
        if prepared is None or prepared[0] != attempt.rung:      # a retry at the same size reuses its pictures
            now = size_target.timeline_at(model, media, tl, attempt.rung)
            made = size_target.Rung(now.canvas.width, now.canvas.height, now.canvas.fps)
            sources, warnings = prepare_sources(now, work, fonts, choice if decodes_video else None, cancel)
            if enhanced is None:
                enhanced = measure_enhance(now, sources, work, config, cancel)
                runs += enhanced.passes
            sources = replace(sources, grades=enhanced.sources.grades, loudness=enhanced.sources.loudness)
            prepared = (made, now, sources, [*warnings, *enhanced.warnings])
        made, now, sources, warnings = prepared
        attempt = replace(attempt, rung=made)
        temp.unlink(missing_ok=True)                          # FFmpeg runs without -y: the last try goes first
        passes, _gif, want = _encode(now, sources, choice, config, temp, work, _share(report, len(tried)), cancel,
                                     plan_scratch(now, config), attempt.cap if video else None, attempt.quality)
        runs += passes
        tried.append(replace(attempt, size_bytes=temp.stat().st_size))
        attempt = (size_target.retry if video else size_target.retry_webp)(search, tried)
    return now, runs, search.report(tried), enhanced.report if enhanced else None, want, warnings


def _share(report: ProgressCallback, k: int) -> ProgressCallback:
    """Try ``k``'s part of the progress: the first try most of it, each retry half of what is left."""
    low, high = (0.0 if k == 0 else 1 - 0.2 / 2 ** (k - 1)), 1 - 0.2 / 2 ** k
    return lambda fraction: report(low + (high - low) * fraction)


def _encode(tl: Timeline, sources: Sources, choice: CodecChoice, config: EngineConfig, temp: Path, work: Path,
            report: ProgressCallback, cancel: threading.Event | None,
            plan: ScratchPlan, cap: BitrateCap | None = None,
            webp_quality: int | None = None) -> tuple[int, dict[str, Any] | None, Expected]:
    """Run the FFmpeg passes this output needs: (passes, GIF report, what the file must hold).

    Reversed windows too large to hold in the graph are turned round first (engine/pipeline/reverse.py)."""
    prepass = PREPASS_SHARE if plan.reversed else 0.0
    runs = 0

    def run_at(command: FFmpegCommand, low: float, high: float) -> None:
        nonlocal runs
        runs += 1
        run_ffmpeg(command, ffmpeg=config.ffmpeg, work_dir=work, timeout_s=config.timeout_s, cancel=cancel,
                   on_progress=lambda f: report(low + (high - low) * f))

    def run(command: FFmpegCommand, low: float, high: float) -> None:
        run_at(command, prepass + (1 - prepass) * low, prepass + (1 - prepass) * high)

    if plan.reversed:
        sources = prepare_reversed(tl, sources, list(plan.reversed), work, config,
                                   lambda c, low, high: run_at(c, prepass * low, prepass * high), cancel)
    spec = tl.output
    args = output_args(spec, rate(tl.canvas), choice, config.x264_preset, cap, webp_quality)
    def by_scene(source: gif_scenes.FrameSource, scenes: Sequence[Scene], spec: OutputSpec, output: Path,
                 low: float, high: float) -> gif_scenes.SceneGif:
        nonlocal runs
        made = gif_scenes.encode_by_scene(source, scenes, spec, config, work, output,
                                          lambda f: report(prepass + (1 - prepass) * (low + (high - low) * f)), cancel)
        runs += made.passes
        return made

    if spec.format == "gif" and spec.max_bytes is not None:
        _passes, chosen, scenes = search_gif_size(tl, sources, config, temp, work, run, by_scene, plan.gif_start)
        frames = scenes.pop("frames", round(tl.duration_s * chosen.fps))
        want = Expected(chosen.width, chosen.height, frames, chosen.fps, False, timed=False, exact=bool(scenes))
        return runs, chosen.report(spec) | scenes, want
    if spec.format == "gif" and gif_scenes.by_scene(spec):
        source = gif_scenes.FrameSource(compiler.compile_raw_frames(tl, sources), tl.canvas.width, tl.canvas.height,
                                        tl.canvas.fps, tl.length)
        made = by_scene(source, planned_scenes(tl), spec, temp, 0.0, 1.0)
        want = replace(_expected(tl), frames=made.frames)
        return runs, settings_report(tl, temp.stat().st_size) | made.report(), want
    if spec.format == "gif" and not one_pass_fits(spec, tl.canvas.width, tl.canvas.height, tl.length,
                                                      config.gif_buffer_mb):
        palette_png = work / "palette.png"
        run(compiler.compile_palette(tl, sources, palette_png), 0.0, 0.5)
        run(compiler.compile_with_palette(tl, sources, palette_png, args, temp), 0.5, 0.99)
    else:
        run(compiler.compile_render(tl, sources, args, temp), 0.0, 0.99)
    gif_report = settings_report(tl, temp.stat().st_size) if spec.format == "gif" else None
    return runs, gif_report, _expected(tl)
