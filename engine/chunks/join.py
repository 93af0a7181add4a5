"""Joining the parts of a chunked render without re-encoding their picture.

MP4 parts are H.264 made with the whole render's encoder options (each starts on a keyframe, as
every encode does) and are joined with the concat demuxer and ``-c copy``, the sound (rendered once
for the whole timeline, so it has no seams) muxed in. GIF parts are lossless (FFV1 in Matroska) and
are joined, then given one palette for the whole GIF.

Parts on different machines must be rendered with the same codecs, settings and fonts. The join refuses
H.264 parts whose parameter sets differ in anything decoding depends on, since one MP4 track carries one
set (the first part's, which is the whole render's: its VUI comes from the same first frame).
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from engine.chunks.h264 import parameter_sets
from engine.chunks.parts import PART_CODEC, PART_TAG, ProgressCallback, run_step
from engine.chunks.plan import CHUNKABLE
from engine.config import EngineConfig
from engine.encode.profiles import output_args
from engine.errors import OutputMismatch, RenderError
from engine.graph import compile as compiler
from engine.graph.build import secs
from engine.graph.gif import one_pass_fits
from engine.media.probe import OutputInfo, inspect_output
from engine.model.canvas import OutputSpec, rate_text, resolve_canvas
from engine.model.draft import parse_draft
from engine.model.scenes import Scene
from engine.pipeline.gif_scenes import FrameSource, by_scene, encode_by_scene
from engine.pipeline.output import Expected, staged_output
from engine.pipeline.render import NATIVE_ENCODERS, RenderResult
from engine.run import FFmpegCommand


def _part_tag(path: Path) -> dict[str, Any]:
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            comment = next((v for k, v in container.metadata.items() if k.lower() == "comment"), "")
    except av.FFmpegError as exc:
        raise OutputMismatch(f"{path.name} cannot be read") from exc
    if not comment.startswith(PART_TAG):
        raise OutputMismatch(f"{path.name} was not made by render_part")
    return dict(json.loads(comment[len(PART_TAG):]))


def _quoted(path: Path) -> str:
    return "'" + str(path.resolve()).replace("'", "'\\''") + "'"


def _checked_parts(parts: Sequence[Path], fmt: str) -> tuple[list[dict[str, Any]], OutputInfo]:
    """Each part's record, checked: in order, back to back from frame 0, each holding its frames, one size."""
    tags: list[dict[str, Any]] = []
    first: OutputInfo | None = None
    for index, path in enumerate(parts):
        info, tag = inspect_output(path), _part_tag(path)
        first = first or info
        expected_from = tags[-1]["to"] if tags else 0
        if tag["part"] != index or tag["from"] != expected_from:
            raise OutputMismatch(f"{path.name} is part {tag['part']} (frames {tag['from']}-{tag['to']}); "
                                 f"expected part {index}, from frame {expected_from}")
        if info.frames != tag["to"] - tag["from"] or info.video_codec != PART_CODEC[fmt] or info.has_audio:
            raise OutputMismatch(f"{path.name} holds {info.frames} {info.video_codec} frames, "
                                 f"expected {tag['to'] - tag['from']} {PART_CODEC[fmt]} and no sound")
        if (info.width, info.height) != (first.width, first.height):
            raise OutputMismatch(f"{path.name} is {info.width}x{info.height}, part 0 {first.width}x{first.height}")
        tags.append(tag)
    assert first is not None
    if fmt == "mp4":
        sets = [parameter_sets(path) for path in parts]
        if any(other != sets[0] for other in sets[1:]):
            raise OutputMismatch("the parts were encoded with different H.264 settings (their parameter sets differ); "
                                 "render every part of one output with the same encoder")
    return tags, first


def join_parts(draft: Mapping[str, Any], parts: Sequence[str | Path], sound: str | Path | None, output: str | Path,
               *, config: EngineConfig, frames: int | None = None, on_progress: ProgressCallback | None = None,
               cancel: threading.Event | None = None) -> RenderResult:
    """Join the parts (from :func:`render_part`, in order) without re-encoding their picture.

    MP4: concat demuxer with ``-c copy``, the sound muxed in, ``+faststart``. GIF: the lossless parts
    joined, one palette made over all of them, then applied. The result is checked like render()'s
    (frames, size, duration, sound), against ``frames`` too when given (the plan's last end_frame),
    written under a temporary name, then renamed."""
    started = time.monotonic()
    model = parse_draft(draft)
    canvas, spec = resolve_canvas(model, None)      # the rate and the output settings need no media
    fmt = spec.format
    if fmt not in CHUNKABLE or spec.max_bytes is not None:
        raise RenderError(f"{fmt} output{' with a size target' if spec.max_bytes else ''} is not joined from parts")
    if not parts:
        raise OutputMismatch("there are no parts to join")
    paths = [Path(p) for p in parts]
    tags, first = _checked_parts(paths, fmt)
    total = tags[-1]["to"]
    if frames is not None and total != frames:
        raise OutputMismatch(f"the parts hold {total} frames; the timeline has {frames}")
    if sound is not None and (fmt != "mp4" or model.m.out.audio is False):
        raise OutputMismatch(f"this {fmt} output has no sound, but a sound file was given")
    if sound is None and fmt == "mp4" and model.m.out.audio:
        raise OutputMismatch("the draft asks for sound, but no sound file was given")
    report = on_progress or (lambda _fraction: None)
    fps = float(canvas.fps)
    duration_s = canvas.seconds(total)
    want = Expected(first.width, first.height, total, fps, sound is not None, timed=fmt == "mp4", exact=True,
                    audio_s=duration_s if sound is not None else None)
    with tempfile.TemporaryDirectory(prefix="reelforge-join-", dir=config.work_dir) as scratch, \
            staged_output(output, want) as out:
        work = Path(scratch)
        listing = work / "parts.ffconcat"
        listing.write_text("ffconcat version 1.0\n" + "".join(
            f"file {_quoted(p)}\nduration {secs(float(Fraction(t['to'] - t['from']) / canvas.fps))}\n"
            for p, t in zip(paths, tags, strict=True)), encoding="utf-8")
        scene_report: dict[str, Any] = {}
        concat = ("-f", "concat", "-safe", "0", "-protocol_whitelist", "file", "-i", str(listing))
        if fmt == "mp4":
            sound_in = ("-f", "mov", "-protocol_whitelist", "file", "-i", str(sound)) if sound else ()
            maps = ("-map", "0:v:0", *(("-map", "1:a:0") if sound else ()))
            args = (*maps, "-c", "copy", "-map_metadata", "-1", "-movflags", "+faststart", "-f", "mp4", str(out.temp))
            run_step(FFmpegCommand((*concat, *sound_in), args, None, duration_s), config, work, cancel, report, 0, 0.99)
            passes = 1
        else:
            scenes = [Scene.from_record(r) for r in tags[0].get("scenes") or ()] or [Scene(0, total, watch=True)]
            passes, scene_report = _join_gif(concat, work, out.temp, first, spec, canvas.fps, total, duration_s,
                                             scenes, config, cancel, report)
            out.want = replace(want, frames=scene_report.pop("frames", total))
    assert out.info is not None
    info, out_path = out.info, out.path
    report(1.0)
    encoders, decoders = {t["encoder"] for t in tags}, {t["decoder"] for t in tags if t["decoder"] != "none"}
    joined = f"; {len(paths)} parts joined without re-encoding"
    return RenderResult(
        path=out_path, format=fmt, size_bytes=out_path.stat().st_size, duration_s=info.duration_s,
        width=info.width, height=info.height, fps=fps, frames=info.frames, has_audio=info.has_audio,
        video_codec=info.video_codec or "",
        encoder=", ".join(sorted(encoders)) if fmt == "mp4" else NATIVE_ENCODERS["gif"],
        encoder_reason=(tags[0]["encoder_reason"] if fmt == "mp4" else "gif output, from lossless parts") + joined,
        decoder=", ".join(sorted(decoders)) or "none",
        decoder_reason=next((t["decoder_reason"] for t in tags if t["decoder"] != "none"), tags[0]["decoder_reason"]),
        elapsed_s=time.monotonic() - started, passes=passes,
        gif=None if fmt != "gif" else {
            "fps": fps, "width": info.width, "height": info.height, "colors": spec.colors,
            "size_bytes": out_path.stat().st_size, "target_bytes": None, "loop": spec.loop, "dither": spec.dither,
            "stats": spec.stats, "attempts": [], **scene_report},
    )


def _join_gif(concat: Sequence[str], work: Path, temp: Path, first: OutputInfo, spec: OutputSpec, fps: Fraction,
              total: int, duration_s: float, scenes: Sequence[Scene], config: EngineConfig,
              cancel: threading.Event | None, report: ProgressCallback) -> tuple[int, dict[str, Any]]:
    """The lossless parts as one file, then the palettes: a palette for each scene (the draft's, which the parts
    carry, and those seen in the pictures), as render() makes them, or one for all of it.
    Returns (FFmpeg runs, the scenes report with the ``frames`` written)."""
    joined = work / "joined.mkv"
    copy_args = ("-map", "0:v:0", "-c", "copy", "-map_metadata", "-1", "-f", "matroska", str(joined))
    run_step(FFmpegCommand(tuple(concat), copy_args, None, duration_s), config, work, cancel, report, 0.0, 0.2)
    width, height, text = first.width, first.height, rate_text(fps)
    if by_scene(spec):
        source = FrameSource(compiler.compile_raw_resampled(joined, width, height, text, duration_s, total),
                             width, height, fps, total)
        made = encode_by_scene(source, scenes, spec, config, work, temp, lambda f: report(0.2 + 0.79 * f), cancel)
        return 1 + made.passes, made.report() | {"frames": made.frames}
    args = output_args(spec, text, None, config.x264_preset)
    if one_pass_fits(spec, width, height, total, config.gif_buffer_mb):
        run_step(compiler.compile_gif_attempt(joined, width, height, text, spec, args, temp, duration_s),
                 config, work, cancel, report, 0.2, 0.99)
        return 2, {}
    palette_png = work / "palette.png"
    run_step(compiler.compile_gif_palette(joined, width, height, text, spec, palette_png, duration_s),
             config, work, cancel, report, 0.2, 0.5)
    run_step(compiler.compile_gif_attempt(joined, width, height, text, spec, args, temp, duration_s, palette_png),
             config, work, cancel, report, 0.5, 0.99)
    return 3, {}
