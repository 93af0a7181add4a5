"""Reading a clip's frames from its source: where FFmpeg seeks, how much it reads, and which
decoded frame lands on which output frame.

The model says which source time every output frame shows (:func:`engine.model.pieces.source_seconds`).
Here that becomes FFmpeg's work, without leaving the choice to its seeking or resampling:

- The input is read from a little before the first time needed (``-ss``, with ``-copyts`` so that
  every decoded frame keeps its own timestamp from the file), to a little after the last.
- Each decoded frame is given the number of the first output frame that shows it: the output
  frame ``n`` shows the last source frame whose time is not later than ``first + n x step``
  (``step`` = speed / fps) by more than the file's :func:`~engine.model.pieces.presentation_grace`.
  That number is its new timestamp, at one tick per output frame.
- The ``fps`` filter, starting at 0, then fills every output frame with the last frame numbered at
  or before it: it drops the extra frames read before the first time, repeats a frame while the
  next has not come, and holds the first frame where the clip reaches back before the source's
  start. The last frame is cloned without end before all this (``tpad``), so that it is also held
  past the source's end: the fps filter on its own would stop at the end of the file's last frame,
  and drop that frame when it belongs to a later output frame.

A reversed clip reads the same way the frames it shows played forwards, and is turned round
afterwards. Picture and sound read one input.

The CUDA path (where video is decoded on NVDEC, :attr:`engine.graph.build.Build.cuda`): a clip whose
source and look allow it (:func:`cuda_refusal`) is decoded into CUDA frames, scaled to the size its fit
needs by ``scale_cuda`` and only then downloaded (:func:`cuda_scaler`), so that the CPU never touches
the full-size picture. Scaling changes no timestamp, so the frames are numbered onto their output
frames after the download, exactly as above, and every filter after that is the CPU path's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType
from typing import Any, Final

from engine.graph.build import Build, Stream
from engine.model.canvas import Canvas
from engine.model.pieces import Run, presentation_grace, source_seconds, speed_of
from engine.model.timeline import Visual

LEAD_IN_S: Final = Fraction(1, 4)   # read from this long before the first time, so its frame is decoded
DIGITS: Final = 9                   # decimals of a source time written into an option
ROUNDING: Final = 1e-9              # output frames: a frame exactly on the grace counts, whatever the doubles say
VIDEO_ENDS_EARLY_S: Final = 3       # a file's video may end this long before the file does (its sound runs on)

# The codecs every NVDEC since Pascal decodes in 8-bit 4:2:0, with the least and most coded width and height
# it takes (NVIDIA's NVDEC support matrix). AV1 is left out (Ampere and newer only), and so are MPEG-2/4 and
# VC-1, which the data-centre parts do not all decode: with -hwaccel_output_format cuda, a stream NVDEC
# refuses would reach scale_cuda as system-memory frames and fail the render instead of falling back.
NVDEC_SIZES: Final[Mapping[str, tuple[int, int, int, int]]] = MappingProxyType({
    "h264": (48, 16, 4096, 4096), "hevc": (144, 144, 8192, 8192), "vp9": (128, 128, 8192, 8192)})
CUDA_PIX_FMTS: Final = frozenset({"yuv420p"})   # 8-bit 4:2:0, limited range: NVDEC gives nv12
CUDA_OUT_FORMAT: Final = "yuv420p"     # what scale_cuda writes and hwdownload hands on: the CPU path's format
# scale_cuda's algorithm for each of the CPU path's swscale flags (None: swscale's default, bicubic).
# swscale's bicubic is B=0, C=0.6; scale_cuda's is Keys' cubic with a = -param (B=0, C=param) in its
# fixed kernel and swscale's own filter generator with C = param in its generic one (use_filters), so
# param=0.6 is the same curve either way (without it, scale_cuda uses C=0: softer than the CPU path).
CUDA_INTERP: Final[Mapping[str | None, Mapping[str, str]]] = MappingProxyType({
    None: MappingProxyType({"interp_algo": "bicubic", "param": "0.6"}),
    "bicubic": MappingProxyType({"interp_algo": "bicubic", "param": "0.6"}),
    "bilinear": MappingProxyType({"interp_algo": "bilinear"}),
    "fast_bilinear": MappingProxyType({"interp_algo": "bilinear"}),
    "lanczos": MappingProxyType({"interp_algo": "lanczos"}),
})


@dataclass(frozen=True, slots=True)
class ClipRead:
    """How the frames ``run`` of clip ``v`` are read: in forward order from ``first_s`` by ``step_s``."""

    v: Visual
    frames: int
    first_s: Fraction      # source time of the first frame, in forward order (may be before 0)
    step_s: Fraction       # source time between output frames
    seek_s: Fraction       # -ss
    length_s: Fraction     # -t

    @property
    def last_s(self) -> Fraction:
        return self.first_s + (self.frames - 1) * self.step_s


def clip_read(v: Visual, run: Run, canvas: Canvas) -> ClipRead:
    times = (source_seconds(v, run.first, canvas), source_seconds(v, run.stop - 1, canvas))
    first_s, last_s = min(times), max(times)
    step_s = speed_of(v) / canvas.fps
    source_fps = Fraction(v.media.video.fps).limit_denominator(1001) if v.media.video and v.media.video.fps else None
    lead_in = max(LEAD_IN_S, 2 / source_fps) if source_fps else LEAD_IN_S
    end_s = Fraction(v.media.duration_ms or 0, 1000)
    # a window wholly past the end of the picture (a reversed clip cut by the timeline's end, a clip
    # whose file's sound outlasts its picture) still needs the last frame, to hold it
    seek_s = max(Fraction(0), min(first_s, end_s - VIDEO_ENDS_EARLY_S) - lead_in)
    length_s = last_s - seek_s + 2 * step_s + lead_in
    return ClipRead(v, run.frames, first_s, step_s, seek_s, length_s)


def clip_input(b: Build, read: ClipRead, gpu_frames: bool = False) -> Any:
    """The ``-i`` of a clip; its picture and its sound read the same one. ``gpu_frames``: decoded into
    CUDA frames (see :func:`cuda_scaler`)."""
    owner = f"{read.v.where}@{read.first_s}+{read.frames}"
    return b.media(owner, read.v.media, start_s=float(read.seek_s), duration_s=float(read.length_s), decode=True,
                   gpu_frames=gpu_frames)


def cuda_refusal(v: Visual) -> str | None:
    """Why clip ``v`` cannot keep its frames on the GPU until they are scaled; None when it can.

    What refuses: a source NVDEC might not decode into CUDA frames (codec, pixel format, size), and
    whatever must touch the full-size decoded picture on the CPU before it is scaled: rotation (FFmpeg
    turns the picture after decoding, on the CPU), a crop or blurred regions (both in the source's pixels).
    A refused clip is decoded as before: by NVDEC where it can, copied to system memory at once."""
    video = v.media.video
    if video is None:
        return "no video stream"
    if video.rotation:
        return f"rotation metadata ({video.rotation} degrees): FFmpeg turns the picture on the CPU after decoding"
    sizes = NVDEC_SIZES.get(video.codec)
    if sizes is None:
        return f"codec {video.codec}: the CUDA path takes {', '.join(sorted(NVDEC_SIZES))} only"
    if video.pix_fmt not in CUDA_PIX_FMTS:
        return f"pixel format {video.pix_fmt}: the CUDA path takes 8-bit 4:2:0 ({', '.join(sorted(CUDA_PIX_FMTS))})"
    least_w, least_h, most_w, most_h = sizes
    if not (least_w <= video.width <= most_w and least_h <= video.height <= most_h):
        return (f"{video.width}x{video.height}: NVDEC decodes {video.codec} from {least_w}x{least_h} to "
                f"{most_w}x{most_h}")
    if v.crop is not None:
        return "crop: cut from the source picture before it is scaled"
    if v.blur:
        return "blurred regions: drawn on the source picture before it is scaled"
    return None


Scaler = Callable[[Any, int, int, str | None], Any]
"""(stream, width, height, swscale flags or None) -> the stream scaled to width x height."""


def cuda_scaler(read: ClipRead, canvas: Canvas) -> Scaler:
    """Scale CUDA frames of ``read``'s input on the GPU and download them: ``scale_cuda`` (the algorithm
    closest to the CPU path's flags, :data:`CUDA_INTERP`) writing yuv420p, ``hwdownload``, and the frames
    numbered onto their output frames (:func:`frames_on_slots`) as the CPU path numbers them."""

    def scale(stream: Stream, width: int, height: int, flags: str | None) -> Stream:
        if flags not in CUDA_INTERP:
            raise ValueError(f"no scale_cuda algorithm for swscale flags {flags!r}")
        on_gpu = stream.filter("scale_cuda", width, height, format=CUDA_OUT_FORMAT, **CUDA_INTERP[flags])
        downloaded = on_gpu.filter("hwdownload").filter("format", CUDA_OUT_FORMAT)
        return frames_on_slots(downloaded, read, canvas)

    return scale


def _decimal(value: Fraction) -> str:
    """A time as FFmpeg's options read it, to the nanosecond."""
    text = f"{float(value):.{DIGITS}f}".rstrip("0").rstrip(".")
    return f"({text})" if text.startswith("-") else text


def _fraction(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"({value.numerator}/{value.denominator})"


def frames_on_slots(stream: Stream, read: ClipRead, canvas: Canvas) -> Stream:
    """The decoded picture as exactly the frames the model picks, one per output frame, time base 1/fps."""
    per_second = 1 / read.step_s                                                # output frames per source second
    origin = (Fraction(read.v.media.start_us, 1_000_000) + read.first_s) * per_second   # as the file counts
    grace = presentation_grace(read.v.media) * per_second
    # exact fractions, so that only the doubles' last bits are left for ROUNDING to absorb
    slot = f"ceil(PTS*TB*{_fraction(per_second)}-{_fraction(origin)}-{_fraction(grace)}-{ROUNDING:g})"
    fps = canvas.fps
    return (stream.filter("tpad", stop=-1, stop_mode="clone")
            .filter("setpts", f"{slot}/({_fraction(fps)}*TB)")
            .filter("settb", f"{fps.denominator}/{fps.numerator}")
            .filter("fps", fps=_fraction(fps).strip("()"), start_time=0))


def sound_from(stream: Stream, read: ClipRead) -> tuple[Stream, float]:
    """The clip's sound in forward order from its first time (or from the source's start), and how
    long, in output seconds, the picture holds the source's first frame before that: silence."""
    start = max(Fraction(0), read.first_s)
    origin = Fraction(read.v.media.start_us, 1_000_000) + start
    stream = stream.filter("atrim", start=_decimal(origin)).filter("asetpts", "PTS-STARTPTS")
    return stream, float(max(Fraction(0), -read.first_s) / speed_of(read.v))
