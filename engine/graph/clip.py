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
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Final

from engine.graph.build import Build, Stream
from engine.model.canvas import Canvas
from engine.model.pieces import Run, presentation_grace, source_seconds, speed_of
from engine.model.timeline import Visual

LEAD_IN_S: Final = Fraction(1, 4)   # read from this long before the first time, so its frame is decoded
DIGITS: Final = 9                   # decimals of a source time written into an option
ROUNDING: Final = 1e-9              # output frames: a frame exactly on the grace counts, whatever the doubles say
VIDEO_ENDS_EARLY_S: Final = 3       # a file's video may end this long before the file does (its sound runs on)


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


def clip_input(b: Build, read: ClipRead) -> Any:
    """The ``-i`` of a clip; its picture and its sound read the same one."""
    owner = f"{read.v.where}@{read.first_s}+{read.frames}"
    return b.media(owner, read.v.media, start_s=float(read.seek_s), duration_s=float(read.length_s), decode=True)


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
