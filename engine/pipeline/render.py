"""render(): a draft in, a checked file out.

The steps: parse and validate the draft, probe every source, resolve the timeline, prepare the
pictures FFmpeg cannot make safely (stills, text), choose the encoder, compile one command, run
it with progress, check the result against the timeline, and only then move it into place.
The output is written under a temporary name beside its destination and renamed when complete,
so nobody can ever see a half-written file.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from engine.config import EngineConfig
from engine.encode.encoders import CodecChoice, detect_capabilities
from engine.encode.profiles import output_args
from engine.errors import MediaError, OutputMismatch
from engine.graph import compile as compiler
from engine.graph.build import Sources, rate
from engine.graph.gif import one_pass_fits
from engine.media.fonts import FontCatalog
from engine.media.probe import OutputInfo, inspect_output, probe
from engine.media.resolve import LocalResolver, Resolver
from engine.model.draft import Draft, parse_draft
from engine.model.mediainfo import MediaInfo
from engine.model.timeline import Timeline, build_timeline
from engine.pipeline.assets import prepare_sources
from engine.pipeline.gif_ladder import settings_report
from engine.pipeline.gif_size import search_gif_size
from engine.run import FFmpegCommand, run_ffmpeg

ProgressCallback = Callable[[float], None]
PROBE_THREADS = 4
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

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["path"] = str(self.path)
        return out


@dataclass(frozen=True, slots=True)
class Expected:
    """What the finished file must hold."""

    width: int
    height: int
    frames: int
    fps: float
    audio: bool
    timed: bool            # whether its container times are exact enough to check (not GIF/WebP delays)


def probe_sources(draft: Draft, resolve: Resolver) -> dict[str, MediaInfo]:
    """Probe every distinct ``src`` once (a few at a time); a missing or unreadable one is a MediaError naming it."""
    sources = list(dict.fromkeys(seg.src for track in draft.t for seg in track.sg if hasattr(seg, "src")))

    def one(src: str) -> MediaInfo:
        try:
            return probe(resolve(src))
        except MediaError as exc:
            raise type(exc)(src, exc.reason) from exc

    with ThreadPoolExecutor(max_workers=PROBE_THREADS) as pool:
        return dict(zip(sources, pool.map(one, sources), strict=True))


def verify(info: OutputInfo, want: Expected) -> None:
    """FFmpeg's exit code is not proof: the file must hold what the timeline says."""
    if info.frames == 0:
        raise OutputMismatch("no video frames were written")
    if abs(info.frames - want.frames) > 1:
        raise OutputMismatch(f"{info.frames} frames written, expected {want.frames}")
    if (info.width, info.height) != (want.width, want.height):
        raise OutputMismatch(f"picture is {info.width}x{info.height}, expected {want.width}x{want.height}")
    if info.has_audio != want.audio:
        raise OutputMismatch("audio " + ("missing" if want.audio else "present but not asked for"))
    seconds = want.frames / want.fps
    if want.timed and abs(info.duration_s - seconds) > 1 / want.fps + 1e-3:
        raise OutputMismatch(f"lasts {info.duration_s:.3f} s, expected {seconds:.3f} s")


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
    tl = build_timeline(model, probe_sources(model, resolve or LocalResolver()))
    choice = codecs or detect_capabilities(config).choice
    decodes_video = any(not v.is_still for v in tl.visuals())
    out_path = Path(output)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    report = on_progress or (lambda _fraction: None)
    temp = out_path.with_name(f".{out_path.name}.{uuid.uuid4().hex[:8]}.partial")
    with tempfile.TemporaryDirectory(prefix="reelforge-", dir=config.work_dir) as scratch:
        work = Path(scratch)
        sources, warnings = prepare_sources(tl, work, fonts or FontCatalog.discover(config.font_dirs),
                                            choice if decodes_video else None)
        try:
            passes, gif_report, want = _encode(tl, sources, choice, config, temp, work, report, cancel)
            info = inspect_output(temp)
            verify(info, want)
            os.replace(temp, out_path)
        finally:
            temp.unlink(missing_ok=True)
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
    )


def _expected(tl: Timeline) -> Expected:
    return Expected(tl.canvas.width, tl.canvas.height, tl.length, float(tl.canvas.fps), tl.output.audio,
                    timed=tl.output.format in ("mp4", "webm"))


def _encode(tl: Timeline, sources: Sources, choice: CodecChoice, config: EngineConfig, temp: Path, work: Path,
            report: ProgressCallback, cancel: threading.Event | None) -> tuple[int, dict[str, Any] | None, Expected]:
    """Run the FFmpeg passes this output needs: (passes, GIF report, what the file must hold)."""

    def run(command: FFmpegCommand, low: float, high: float) -> None:
        run_ffmpeg(command, ffmpeg=config.ffmpeg, work_dir=work, timeout_s=config.timeout_s, cancel=cancel,
                   on_progress=lambda f: report(low + (high - low) * f))

    spec = tl.output
    args = output_args(spec, rate(tl.canvas), choice, config.x264_preset)
    if spec.format == "gif" and spec.max_bytes is not None:
        passes, chosen = search_gif_size(tl, sources, config, temp, work, run)
        frames = round(tl.duration_s * chosen.fps)
        want = Expected(chosen.width, chosen.height, frames, chosen.fps, False, timed=False)
        return passes, chosen.report(spec), want
    passes = 1
    if spec.format == "gif" and not one_pass_fits(spec, tl.canvas.width, tl.canvas.height, tl.length,
                                                      config.gif_buffer_mb):
        palette_png = work / "palette.png"
        run(compiler.compile_palette(tl, sources, palette_png), 0.0, 0.5)
        run(compiler.compile_with_palette(tl, sources, palette_png, args, temp), 0.5, 0.99)
        passes = 2
    else:
        run(compiler.compile_render(tl, sources, args, temp), 0.0, 0.99)
    gif_report = settings_report(tl, temp.stat().st_size) if spec.format == "gif" else None
    return passes, gif_report, _expected(tl)
