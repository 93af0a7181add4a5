"""Probing media into a typed MediaInfo: what a file is, by its content, never by its name.

Stills are read with Pillow (HEIC too, through pillow-heif); audio and video with PyAV, and
only from an allow-list of real media containers: FFmpeg will happily "open" a text file
(the tty demuxer), a playlist that points elsewhere (hls, concat) or an image sequence, and
none of those may reach a render. A file counts as media only if its first frame or audio
packet actually decodes, so truncated and renamed-junk files fail here, with a typed error,
rather than halfway through a render.

Before anything is decoded, what the headers declare is held to a :class:`ProbeLimits`: the
picture's width, height and pixels, the bytes one decoded frame takes in its pixel format, the
number of streams and the duration. Over a cap is :class:`MediaOverLimit` (naming the setting).
Opening an audio/video file may itself decode a frame (FFmpeg does, to learn what the container
leaves out), so untrusted files are probed in a memory- and time-limited child
(:mod:`engine.media.isolated`); the caps are what keep that child's work small.
"""

from __future__ import annotations

import mmap
import struct
import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

import av
from PIL import Image, ImageMode, ImageOps, UnidentifiedImageError

from engine.config import ProbeLimits
from engine.errors import MediaNotFound, MediaOverLimit, MediaUnsupported
from engine.media.animinfo import NotAnimation, gif_info, webp_info
from engine.model.mediainfo import AudioStream, MediaInfo, MediaKind, VideoStream

try:  # HEIC/HEIF stills from phones; optional so that a missing wheel only loses that format
    from pillow_heif import register_heif_opener
except ImportError:  # pragma: no cover
    register_heif_opener = None


# Pillow formats we accept as stills, and the FFmpeg demuxers we accept for audio/video.
IMAGE_FORMATS: Final = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "HEIF": "heic", "BMP": "bmp",
                        "TIFF": "tiff", "MPO": "jpg"}
CONTAINERS: Final = {
    "mov": "mov", "mp4": "mp4", "matroska": "mkv", "webm": "webm", "avi": "avi", "mp3": "mp3", "wav": "wav",
    "aac": "aac", "flac": "flac", "ogg": "ogg", "mpegts": "ts", "flv": "flv", "mpeg": "mpg", "asf": "wmv",
    "ipod": "m4a", "caf": "caf", "aiff": "aiff", "m4v": "mp4",
}
DEFAULT_LIMITS: Final = ProbeLimits()
UNKNOWN_FORMAT_BYTES: Final = 8       # a frame whose pixel format the headers do not give is costed as 16-bit RGBA


def probe(path: str | Path, limits: ProbeLimits = DEFAULT_LIMITS) -> MediaInfo:
    """Describe one local file, or raise MediaNotFound / MediaUnsupported (MediaOverLimit past a cap)."""
    p = Path(path)
    if not p.is_file():
        raise MediaNotFound(str(path), "no such file")
    size = p.stat().st_size
    if size == 0:
        raise MediaUnsupported(str(path), "the file is empty")
    still = _probe_still(p, size, limits)
    if still is not None:
        return still
    return _probe_av(p, size, limits)


def _check_picture(source: str, width: int, height: int, bytes_per_pixel: float, pix_fmt: str | None,
                  limits: ProbeLimits) -> None:
    """Refuse a picture whose declared size, or the memory one decoded frame of it takes, is over a cap."""
    shape = f"{width}x{height}"
    if width > limits.max_width:
        raise MediaOverLimit(source, f"the picture is {shape} pixels; at most {limits.max_width} wide "
                             "(probe_max_width)", "probe_max_width", width, limits.max_width)
    if height > limits.max_height:
        raise MediaOverLimit(source, f"the picture is {shape} pixels; at most {limits.max_height} high "
                             "(probe_max_height)", "probe_max_height", height, limits.max_height)
    if width * height > limits.max_pixels:
        raise MediaOverLimit(source, f"the picture is {shape} = {width * height:,} pixels; at most "
                             f"{limits.max_pixels:,} (probe_max_pixels)", "probe_max_pixels", width * height,
                             limits.max_pixels)
    frame_bytes = int(width * height * bytes_per_pixel)
    if frame_bytes > limits.max_frame_bytes:
        kind = pix_fmt or "unknown pixel format"
        raise MediaOverLimit(source, f"one decoded {shape} frame ({kind}) takes {frame_bytes:,} bytes; at most "
                             f"{limits.max_frame_bytes:,} (probe_max_frame_bytes)", "probe_max_frame_bytes",
                             frame_bytes, limits.max_frame_bytes)


def _check_duration(source: str, duration_ms: int | None, limits: ProbeLimits) -> None:
    if duration_ms is not None and duration_ms / 1000 > limits.max_duration_s:
        raise MediaOverLimit(source, f"it lasts {duration_ms / 1000:g} s; at most {limits.max_duration_s:g} s "
                             "(probe_max_duration_s)", "probe_max_duration_s", duration_ms / 1000,
                             limits.max_duration_s)


def _pillow_bytes_per_pixel(mode: str) -> int:
    """What Pillow keeps per pixel in memory: one band as its type, several 8-bit bands packed in 4 bytes."""
    try:
        described = ImageMode.getmode(mode)
    except KeyError:
        return UNKNOWN_FORMAT_BYTES
    item = int(described.typestr[2:])
    return item if len(described.bands) == 1 else max(4, item * len(described.bands))


def _av_bytes_per_pixel(stream: Any) -> tuple[float, str | None]:
    fmt = stream.codec_context.format
    if fmt is None or not fmt.name:
        return UNKNOWN_FORMAT_BYTES, None
    return max(fmt.padded_bits_per_pixel, fmt.bits_per_pixel) / 8 or UNKNOWN_FORMAT_BYTES, fmt.name


def _open_image(path: Path) -> Image.Image:
    if register_heif_opener is not None:
        register_heif_opener()   # idempotent; registers the HEIF plugin with Pillow
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)    # the probe caps decide, below
        return Image.open(path)


def _probe_still(path: Path, size: int, limits: ProbeLimits) -> MediaInfo | None:
    try:
        with _open_image(path) as im:
            fmt = IMAGE_FORMATS.get(im.format or "")
            if fmt is None:
                return None
            _check_picture(str(path), im.width, im.height, _pillow_bytes_per_pixel(im.mode), im.mode, limits)
            animated = bool(getattr(im, "is_animated", False)) and fmt in ("gif", "webp")
            im.seek(0)       # animated GIF/WebP: a still made of the first frame
            im.load()        # decode for real: truncated files fail here
            upright = ImageOps.exif_transpose(im) if fmt in ("jpg", "tiff", "webp", "heic") else im
            width, height = upright.size
        frames, duration_ms, fps = _animation_timing(path, fmt) if animated else (1, None, None)
    except UnidentifiedImageError:
        return None      # not a still: maybe audio or video
    except Image.DecompressionBombError as exc:     # over twice Pillow's own guard: far over any sane cap
        raise MediaOverLimit(str(path), f"the picture is over {2 * (Image.MAX_IMAGE_PIXELS or 0):,} pixels; at "
                             f"most {limits.max_pixels:,} (probe_max_pixels)", "probe_max_pixels",
                             2 * (Image.MAX_IMAGE_PIXELS or 0), limits.max_pixels) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise MediaUnsupported(str(path), f"unreadable image ({exc})") from exc
    return MediaInfo(str(path), "image", fmt, None, size, duration_ms,
                     VideoStream(fmt, width, height, fps, frames, None, 0), None)


def _animation_timing(path: Path, fmt: str) -> tuple[int, int | None, float | None]:
    """Frames, length and mean frame rate of an animated GIF/WebP, from its blocks (nothing decoded).

    Still ``kind="image"``: a draft uses its first frame. The timing is for people and clients
    (``reelforge probe``, the API's video_infos)."""
    try:
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            info = gif_info(data) if fmt == "gif" else webp_info(data)   # type: ignore[arg-type]
    except (OSError, ValueError, IndexError, struct.error):
        return 1, None, None          # Pillow read its first frame; the timing is a nicety
    fps = round(info.frames * 1000 / info.duration_ms, 3) if info.duration_ms else None
    return info.frames, info.duration_ms or None, fps


def _probe_av(path: Path, size: int, limits: ProbeLimits) -> MediaInfo:
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except MemoryError:
        raise                 # out of memory is not a verdict on the file (av's ENOMEM error is both)
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise MediaUnsupported(str(path), "not a media file we can read") from exc
    with container:
        demuxer = container.format.name.split(",")[0]
        fmt = _container_kind(container.format.name, path)
        if fmt is None:
            raise MediaUnsupported(str(path), f"unsupported container ({container.format.name})")
        _check_headers(container, path, limits)
        vstreams = [s for s in container.streams.video if not _is_cover_art(s)]
        astreams = list(container.streams.audio)
        if not vstreams and not astreams:
            raise MediaUnsupported(str(path), "no audio or video stream")
        video = _video_stream(container, vstreams[0], path, limits) if vstreams else None
        audio = _audio_stream(container, astreams[0], path) if astreams else None
        duration_ms = _duration_ms(container)
        start_us = int(container.start_time or 0)
    kind: MediaKind = "video" if video else "audio"
    if duration_ms is None or duration_ms <= 0:
        raise MediaUnsupported(str(path), "the media has no duration")
    return MediaInfo(str(path), kind, fmt, demuxer, size, duration_ms, video, audio, start_us)


def _check_headers(container: av.container.InputContainer, path: Path, limits: ProbeLimits) -> None:
    """The caps, from what the container and its streams declare: nothing of ours is decoded yet."""
    count = len(container.streams)
    if count > limits.max_streams:
        raise MediaOverLimit(str(path), f"it holds {count} streams; at most {limits.max_streams} "
                             "(probe_max_streams)", "probe_max_streams", count, limits.max_streams)
    _check_duration(str(path), _duration_ms(container), limits)
    for stream in container.streams.video:
        if stream.codec_context.width and stream.codec_context.height:
            per_pixel, pix_fmt = _av_bytes_per_pixel(stream)
            _check_picture(str(path), stream.codec_context.width, stream.codec_context.height, per_pixel, pix_fmt,
                          limits)


def _container_kind(names: str, path: Path) -> str | None:
    parts = names.split(",")
    if "mov" in parts:  # one demuxer for mov/mp4/m4a: the extension only picks the label
        suffix = path.suffix.lower().lstrip(".")
        return suffix if suffix in ("mov", "mp4", "m4a", "m4v", "3gp") else "mp4"
    for name in parts:
        if name in CONTAINERS:
            return CONTAINERS[name]
    return None


def _is_cover_art(stream: av.stream.Stream) -> bool:
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def _video_stream(container: av.container.InputContainer, stream: Any, path: Path, limits: ProbeLimits) -> VideoStream:
    rotation = 0
    stream.codec_context.thread_count = 1     # one frame: no decoder threads, each with its own buffers
    try:
        for frame in container.decode(stream):
            rotation = int(getattr(frame, "rotation", 0) or 0) % 360
            # headers that left the size out: the frame is decoded (in the child's limits), held to the caps now
            _check_picture(str(path), frame.width, frame.height, _av_bytes_per_pixel(stream)[0], frame.format.name,
                          limits)
            break
        else:
            raise MediaUnsupported(str(path), "the video stream has no decodable frame")
    except MemoryError:
        raise
    except av.FFmpegError as exc:
        raise MediaUnsupported(str(path), f"the video does not decode ({exc})") from exc
    width, height = stream.width, stream.height
    sar = stream.sample_aspect_ratio
    if sar and sar.numerator and sar.denominator and sar != 1:
        width = int(round(width * Fraction(sar.numerator, sar.denominator)))
    if rotation in (90, 270):
        width, height = height, width
    rate = stream.average_rate or stream.guessed_rate
    fps = float(rate) if rate else None
    tb = stream.time_base
    return VideoStream(stream.codec_context.name, width, height, fps, stream.frames or None,
                       stream.codec_context.format.name if stream.codec_context.format else None, rotation,
                       f"{tb.numerator}/{tb.denominator}" if tb else None)


def _audio_stream(container: av.container.InputContainer, stream: Any, path: Path) -> AudioStream:
    try:
        if container.streams.video:
            container.seek(0)
        for _frame in container.decode(stream):
            break
        else:
            raise MediaUnsupported(str(path), "the audio stream has no decodable samples")
    except MemoryError:
        raise
    except av.FFmpegError as exc:
        raise MediaUnsupported(str(path), f"the audio does not decode ({exc})") from exc
    ctx = stream.codec_context
    return AudioStream(ctx.name, ctx.sample_rate or 0, ctx.channels or 0)


def _duration_ms(container: av.container.InputContainer) -> int | None:
    if container.duration:
        return int(round(container.duration / 1000))   # av.time_base is microseconds
    best = 0.0
    for stream in container.streams:
        if stream.duration and stream.time_base:
            best = max(best, float(stream.duration * stream.time_base))
    return int(round(best * 1000)) or None


@dataclass(frozen=True, slots=True)
class OutputInfo:
    """What a rendered file holds, read from its packets without decoding (fast even for long files)."""

    container: str
    video_codec: str | None
    width: int
    height: int
    frames: int
    duration_s: float
    audio_codec: str | None
    audio_duration_s: float | None
    loop: int | None = None    # GIF/WebP: 0 forever, N times more; None when the file says nothing

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None


def inspect_output(path: str | Path) -> OutputInfo:
    """Frames, size, codecs and duration of a rendered file (animated images through Pillow)."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head[:6] in (b"GIF87a", b"GIF89a") or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return _inspect_animation(Path(path))
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise MediaUnsupported(str(path), "the output cannot be read back") from exc
    with container:
        vstream = container.streams.video[0] if container.streams.video else None
        astream = container.streams.audio[0] if container.streams.audio else None
        indexed = _indexed_lengths(vstream, astream)
        frames, v_end, a_end = indexed if indexed is not None else _demuxed_lengths(container, vstream, astream)
        v_start = float(vstream.start_time * vstream.time_base) if vstream is not None and vstream.start_time else 0.0
        return OutputInfo(
            container=container.format.name.split(",")[0],
            video_codec=vstream.codec_context.name if vstream is not None else None,
            width=vstream.width if vstream is not None else 0,
            height=vstream.height if vstream is not None else 0,
            frames=frames,
            duration_s=v_end - v_start,
            audio_codec=astream.codec_context.name if astream is not None else None,
            audio_duration_s=a_end if astream is not None else None,
        )


def _indexed_lengths(vstream: Any, astream: Any) -> tuple[int, float, float] | None:
    """Frame count and stream ends from the container's index (MP4 keeps one), without reading packets."""
    if vstream is None or not vstream.frames or not vstream.duration or not vstream.time_base:
        return None
    v_end = float((vstream.start_time or 0) * vstream.time_base + vstream.duration * vstream.time_base)
    a_end = 0.0
    if astream is not None:
        if not astream.duration or not astream.time_base:
            return None
        a_end = float((astream.start_time or 0) * astream.time_base + astream.duration * astream.time_base)
    return vstream.frames, v_end, a_end


def _demuxed_lengths(container: Any, vstream: Any, astream: Any) -> tuple[int, float, float]:
    """Frame count and stream ends by reading every packet (no decoding): for containers without an index."""
    frames, v_end, a_end = 0, 0.0, 0.0
    for packet in container.demux():
        if packet.pts is None or packet.time_base is None:
            continue
        end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
        if vstream is not None and packet.stream.index == vstream.index:
            frames += 1
            v_end = max(v_end, end)
        elif astream is not None and packet.stream.index == astream.index:
            a_end = max(a_end, end)
    return frames, v_end, a_end


def _inspect_animation(path: Path) -> OutputInfo:
    try:
        data = path.read_bytes()
        info = gif_info(data) if data[:3] == b"GIF" else webp_info(data)
    except (OSError, NotAnimation, IndexError, struct.error) as exc:
        raise MediaUnsupported(str(path), "the output cannot be read back") from exc
    return OutputInfo(container=info.format, video_codec=info.format, width=info.width, height=info.height,
                      frames=info.frames, duration_s=info.duration_ms / 1000, audio_codec=None,
                      audio_duration_s=None, loop=info.loop)
