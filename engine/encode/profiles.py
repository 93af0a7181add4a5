"""Output profiles: the encoder options for each output format and quality.

MP4 is H.264 (libx264 or NVENC, chosen in encoders.py) with AAC and the index at the front;
WebM is VP9 with Opus; GIF and animated WebP carry no sound and loop. The picture side of GIF
(the palette) lives in gif.py, because it changes the filter graph, not just the options.
"""

from __future__ import annotations

from typing import Final

from engine.encode.encoders import CodecChoice, h264_encoder_args
from engine.model.canvas import OutputSpec

AAC_BITRATE: Final = {"high": "192k", "medium": "160k", "low": "128k"}
VP9_CRF: Final = {"high": 31, "medium": 35, "low": 40}
WEBP_QUALITY: Final = {"high": 80, "medium": 70, "low": 55}
CONTENT_TYPES: Final = {"mp4": "video/mp4", "gif": "image/gif", "webm": "video/webm", "webp": "image/webp"}


def output_args(spec: OutputSpec, fps: str, choice: CodecChoice | None, x264_preset: str) -> list[str]:
    """Everything after the -map options and before the output path (``choice`` matters for MP4 only)."""
    rate = ["-r", fps]
    if spec.format == "mp4":
        audio = ["-c:a", "aac", "-b:a", AAC_BITRATE[spec.quality]] if spec.audio else ["-an"]
        encoder, gpu = (choice.encoder, choice.gpu_index) if choice else ("libx264", None)
        video = h264_encoder_args(encoder, spec.quality, x264_preset, gpu)
        return [*video, *rate, *audio, "-movflags", "+faststart", "-f", "mp4"]
    if spec.format == "webm":
        audio = ["-c:a", "libopus", "-b:a", "128k"] if spec.audio else ["-an"]
        video = ["-c:v", "libvpx-vp9", "-crf", str(VP9_CRF[spec.quality]), "-b:v", "0", "-row-mt", "1",
                 "-deadline", "good", "-cpu-used", "4", "-pix_fmt", "yuv420p"]
        return [*video, *rate, *audio, "-f", "webm"]
    if spec.format == "webp":
        # WebP counts plays (0 forever, 1 once); our loop counts repeats after the first play, as GIF does
        plays = 0 if spec.loop == 0 else (1 if spec.loop < 0 else spec.loop + 1)
        return ["-c:v", "libwebp_anim", "-quality", str(WEBP_QUALITY[spec.quality]), "-compression_level", "4",
                "-pix_fmt", "yuv420p", *rate, "-an", "-loop", str(plays), "-f", "webp"]
    if spec.format == "gif":
        return ["-c:v", "gif", *rate, "-an", "-loop", str(spec.loop), "-f", "gif"]
    raise ValueError(f"unknown output format {spec.format!r}")
