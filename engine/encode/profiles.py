"""Output profiles: the encoder options for each output format and quality.

MP4 is H.264 (libx264 or NVENC, chosen in encoders.py) with AAC and the index at the front;
WebM is VP9 with Opus; GIF and animated WebP carry no sound and loop. The picture side of GIF
(the palette) lives in gif.py, because it changes the filter graph, not just the options.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from engine.encode.encoders import CodecChoice, h264_encoder_args
from engine.model.canvas import OutputSpec

AAC_BITRATE: Final = {"high": "192k", "medium": "160k", "low": "128k"}
VP9_CRF: Final = {"high": 31, "medium": 35, "low": 40}
WEBP_QUALITY: Final = {"high": 80, "medium": 70, "low": 55}
CONTENT_TYPES: Final = {"mp4": "video/mp4", "gif": "image/gif", "webm": "video/webm", "webp": "image/webp"}


@dataclass(frozen=True, slots=True)
class BitrateCap:
    """What a size-targeted encode may spend (engine/pipeline/size_target.py): the picture's peak average
    rate and its buffer, and the sound's rate."""

    video_bps: int
    buffer_bits: int
    audio_bps: int | None          # None: no sound


def output_args(spec: OutputSpec, fps: str, choice: CodecChoice | None, x264_preset: str,
                cap: BitrateCap | None = None, webp_quality: int | None = None) -> list[str]:
    """Everything after the -map options and before the output path (``choice`` matters for MP4 only).

    ``cap`` (a size target, MP4/WebM): the picture keeps the quality's CRF but may not average more
    than ``cap.video_bps`` over its buffer, and the sound takes ``cap.audio_bps``.
    ``webp_quality``: WebP's -quality instead of the quality's own (a size search's try)."""
    rate = ["-r", fps]
    if spec.format == "mp4":
        audio_rate = f"{cap.audio_bps}" if cap and cap.audio_bps else AAC_BITRATE[spec.quality]
        audio = ["-c:a", "aac", "-b:a", audio_rate] if spec.audio else ["-an"]
        encoder, gpu = (choice.encoder, choice.gpu_index) if choice else ("libx264", None)
        video = h264_encoder_args(encoder, spec.quality, x264_preset, gpu)
        if cap is not None:
            video = _capped(video, cap, average=encoder != "libx264")
        return [*video, *rate, *audio, "-movflags", "+faststart", "-f", "mp4"]
    if spec.format == "webm":
        audio_rate = f"{cap.audio_bps}" if cap and cap.audio_bps else "128k"
        audio = ["-c:a", "libopus", "-b:a", audio_rate] if spec.audio else ["-an"]
        # with -crf, a non-zero -b:v makes VP9 "constrained quality": the CRF, held under the rate
        video = ["-c:v", "libvpx-vp9", "-crf", str(VP9_CRF[spec.quality]),
                 "-b:v", str(cap.video_bps) if cap else "0", "-row-mt", "1",
                 "-deadline", "good", "-cpu-used", "4", "-pix_fmt", "yuv420p"]
        return [*video, *rate, *audio, "-f", "webm"]
    if spec.format == "webp":
        # WebP counts plays (0 forever, 1 once); our loop counts repeats after the first play, as GIF does
        plays = 0 if spec.loop == 0 else (1 if spec.loop < 0 else spec.loop + 1)
        quality = webp_quality if webp_quality is not None else WEBP_QUALITY[spec.quality]
        return ["-c:v", "libwebp_anim", "-quality", str(quality), "-compression_level", "4",
                "-pix_fmt", "yuv420p", *rate, "-an", "-loop", str(plays), "-f", "webp"]
    if spec.format == "gif":
        return ["-c:v", "gif", *rate, "-an", "-loop", str(spec.loop), "-f", "gif"]
    raise ValueError(f"unknown output format {spec.format!r}")


def _capped(video: list[str], cap: BitrateCap, *, average: bool) -> list[str]:
    """H.264 options with a VBV cap; ``average`` (NVENC's VBR) also sets the average rate in place of ``-b:v 0``."""
    out: list[str] = []
    skip = False
    for i, arg in enumerate(video):
        if skip:
            skip = False
            continue
        if arg == "-b:v" and i + 1 < len(video):
            skip = True
            continue
        out.append(arg)
    average_args = ["-b:v", str(cap.video_bps)] if average else []
    return [*out, *average_args, "-maxrate", str(cap.video_bps), "-bufsize", str(max(1, cap.buffer_bits))]
