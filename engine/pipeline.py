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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine import compile as compiler
from engine import gif
from engine.config import EngineConfig
from engine.draft import Draft, VideoTrack, parse_draft
from engine.encoders import Capabilities, CodecChoice, detect_capabilities, input_decoder_args
from engine.errors import DraftError, Issue, MediaError, OutputMismatch
from engine.fonts import FontCatalog
from engine.gif_search import search_gif_size
from engine.probe import MediaInfo, inspect_output, probe
from engine.profiles import output_args
from engine.resolve import LocalResolver, Resolver
from engine.run import run_ffmpeg
from engine.stills import prepare_still
from engine.text import render_text
from engine.timeline import Timeline, build_timeline
from engine.video_graph import PreparedCaption, Sources, rate

ProgressCallback = Callable[[float], None]


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
    encoder: str
    encoder_reason: str
    decoder: str
    decoder_reason: str
    elapsed_s: float
    passes: int
    warnings: tuple[str, ...] = ()
    gif: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["path"] = str(self.path)
        return out


def probe_sources(draft: Draft, resolve: Resolver) -> dict[str, MediaInfo]:
    """Probe every distinct ``src`` once; a missing or unreadable one is a MediaError naming it."""
    media: dict[str, MediaInfo] = {}
    for track in draft.t:
        for seg in track.sg:
            src = getattr(seg, "src", None)
            if src is None or src in media:
                continue
            try:
                media[src] = probe(resolve(src))
            except MediaError as exc:
                raise type(exc)(src, exc.reason) from exc
    return media


def _gif_target_only(draft: Draft) -> None:
    out = draft.m.out
    if out.max_mb is not None and out.format != "gif":
        raise DraftError([Issue("m.out.max_mb", "gif_only", "a size target is supported for gif output only")])


def prepare_sources(tl: Timeline, work: Path, fonts: FontCatalog, decoder: CodecChoice | None) -> tuple[Sources, list[str]]:
    """Write the stills and captions this timeline needs into ``work``."""
    stills, captions, warnings = {}, {}, []
    canvas = tl.canvas
    for index, v in enumerate(tl.visuals()):
        if not v.is_still:
            continue
        on_base = v in tl.base
        stills[v.where] = prepare_still(
            v.media, box=(v.box.w, v.box.h), fit=v.fit, fill=v.fill, blur_fill=on_base and v.fill is None,
            backdrop=canvas.bg if on_base else None, motion=v.motion is not None, out=work / f"still-{index}.png")
    for index, cap in enumerate(c for layer in tl.layers if layer.kind == "text" for c in layer.clips):
        text = render_text(cap.text, cap.style, canvas_w=canvas.width, canvas_h=canvas.height,  # type: ignore[union-attr]
                           scale=canvas.scale, safe=canvas.safe, fonts=fonts)
        path = work / f"text-{index}.png"
        text.image.save(path, format="PNG", compress_level=1)
        from engine.stills import PreparedStill

        captions[cap.where] = PreparedCaption(PreparedStill(path, text.image.width, text.image.height, True),  # type: ignore[union-attr]
                                              text.x, text.y)
        warnings.extend(f"{cap.where}: {w}" for w in text.warnings)  # type: ignore[union-attr]
    decoder_args: Mapping[str, str] = {}
    if decoder is not None and decoder.decoder == "cuda":
        args = input_decoder_args("cuda", decoder.gpu_index)
        decoder_args = dict(zip(args[0::2], args[1::2]))
        decoder_args = {k.lstrip("-"): v for k, v in decoder_args.items()}
    return Sources(stills, captions, decoder_args), warnings


def verify(path: Path, tl: Timeline) -> None:
    """FFmpeg's exit code is not proof: the file must hold what the timeline says."""
    info = inspect_output(path)
    frame_s = 1 / float(tl.canvas.fps)
    if info.frames == 0:
        raise OutputMismatch("no video frames were written")
    if abs(info.frames - tl.length) > 1:
        raise OutputMismatch(f"{info.frames} frames written, the timeline has {tl.length}")
    if (info.width, info.height) != (tl.canvas.width, tl.canvas.height):
        raise OutputMismatch(f"picture is {info.width}x{info.height}, expected {tl.canvas.width}x{tl.canvas.height}")
    if info.has_audio != tl.output.audio:
        raise OutputMismatch("audio " + ("missing" if tl.output.audio else "present but not asked for"))
    if tl.output.format in ("mp4", "webm") and abs(info.duration_s - tl.duration_s) > frame_s + 1e-3:
        raise OutputMismatch(f"lasts {info.duration_s:.3f} s, the timeline {tl.duration_s:.3f} s")


def _temp_name(output: Path) -> Path:
    return output.with_name(f".{output.name}.{uuid.uuid4().hex[:8]}.partial")


def render(
    draft: Draft | Mapping[str, Any],
    output: str | Path,
    *,
    config: EngineConfig,
    resolve: Resolver | None = None,
    capabilities: Capabilities | None = None,
    fonts: FontCatalog | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> RenderResult:
    """Render ``draft`` to ``output`` (format from ``draft.m.out.format``). Raises EngineError subclasses."""
    started = time.monotonic()
    model = draft if isinstance(draft, Draft) else parse_draft(draft)
    _gif_target_only(model)
    media = probe_sources(model, resolve or LocalResolver())
    tl = build_timeline(model, media)
    caps = capabilities or detect_capabilities(config)
    choice = caps.choice
    needs_decoder = any(not v.is_still for v in tl.visuals())
    out_path = Path(output)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    report = on_progress or (lambda _f: None)
    with tempfile.TemporaryDirectory(prefix="reelforge-", dir=config.work_dir) as tmp:
        work = Path(tmp)
        sources, warnings = prepare_sources(tl, work, fonts or FontCatalog.discover(config.font_dirs),
                                            choice if needs_decoder else None)
        temp = _temp_name(out_path)
        try:
            passes, gif_report = _encode(tl, sources, choice, config, temp, work, report, cancel)
            verify(temp, tl) if gif_report is None or tl.output.max_bytes is None else None
            os.replace(temp, out_path)
        finally:
            temp.unlink(missing_ok=True)
    info = inspect_output(out_path)
    report(1.0)
    uses_h264 = tl.output.format == "mp4"
    return RenderResult(
        path=out_path, format=tl.output.format, size_bytes=out_path.stat().st_size, duration_s=info.duration_s,
        width=info.width, height=info.height, fps=float(tl.canvas.fps) if gif_report is None else gif_report["fps"],
        frames=info.frames, has_audio=info.has_audio, video_codec=info.video_codec or "",
        encoder=choice.encoder if uses_h264 else _native_encoder(tl.output.format),
        encoder_reason=choice.encoder_reason if uses_h264 else f"{tl.output.format} output",
        decoder=choice.decoder if needs_decoder else "none",
        decoder_reason=choice.decoder_reason if needs_decoder else "no video sources (stills and text only)",
        elapsed_s=time.monotonic() - started, passes=passes, warnings=(*tl.warnings, *warnings), gif=gif_report,
    )


def _native_encoder(fmt: str) -> str:
    return {"gif": "gif (palettegen/paletteuse)", "webm": "libvpx-vp9", "webp": "libwebp_anim"}.get(fmt, fmt)


def _encode(tl: Timeline, sources: Sources, choice: CodecChoice, config: EngineConfig, temp: Path, work: Path,
            report: ProgressCallback, cancel: threading.Event | None) -> tuple[int, dict[str, Any] | None]:
    """Run the passes this output needs; returns (passes, GIF report or None)."""
    fps = rate(tl.canvas)
    args = output_args(tl.output, fps, choice, config.x264_preset)
    run = lambda cmd, lo, hi: run_ffmpeg(  # noqa: E731 - one place for the shared run options
        cmd, ffmpeg=config.ffmpeg, work_dir=work, timeout_s=config.timeout_s, cancel=cancel,
        on_progress=lambda f: report(lo + (hi - lo) * f))
    spec = tl.output
    if spec.format == "gif" and spec.max_bytes is not None:
        return search_gif_size(tl, sources, config, temp, work, run, report)
    if spec.format == "gif" and not gif.one_pass_fits(spec, tl.canvas.width, tl.canvas.height, tl.length,
                                                      config.gif_buffer_mb):
        palette_png = work / "palette.png"
        run(compiler.compile_palette(tl, sources, palette_png), 0.0, 0.5)
        run(compiler.compile_with_palette(tl, sources, palette_png, args, temp), 0.5, 0.99)
        return 2, _gif_report(tl, temp, [])
    run(compiler.compile_render(tl, sources, args, temp), 0.0, 0.99)
    return 1, _gif_report(tl, temp, []) if spec.format == "gif" else None


def _gif_report(tl: Timeline, path: Path, attempts: list[dict[str, Any]]) -> dict[str, Any]:
    spec = tl.output
    return {"fps": float(tl.canvas.fps), "width": tl.canvas.width, "height": tl.canvas.height, "colors": spec.colors,
            "size_bytes": path.stat().st_size, "target_bytes": spec.max_bytes, "attempts": attempts,
            "loop": spec.loop, "dither": spec.dither, "stats": spec.stats}
