"""A GIF with a palette for each scene, its frames composed once and passed through Python.

One palette for a whole clip spends its 256 colours on what most of the clip shows, and a scene
that is a small part of it loses its hues (a cat's green eyes come out amber). A palette for
every frame keeps them, but FFmpeg's GIF encoder then writes every frame whole and the file
grows by half. Here each scene gets its own palette and its own FFmpeg encoder, inside which
frames share the palette and only what changed is written; the scene GIFs are then spliced into
one file (engine/media/gif_splice.py).

The flow, for one render: FFmpeg composes the timeline (or resamples an intermediate) and writes
packed RGB frames to a pipe; each frame goes through the loop seam
(engine/pipeline/loop_seam.py), then to the encoder of its scene. Scenes come from the draft
(engine/model/scenes.py: its shots and transitions, exactly) and, inside video clips, from the
pictures (engine/media/scene_cuts.py: a colour histogram per frame). When a scene ends, its
encoder's input closes and it makes the palette and the GIF while the next scene's frames flow
to the next encoder, so composing and encoding overlap.

Memory stays flat: an encoder holds its scene's frames (palettegen must see the last one before
paletteuse maps the first), at most half of ``EngineConfig.gif_buffer_mb`` for the scene being
fed and half for the one finishing; a scene that may be longer than that is kept losslessly on
disk (FFV1) beside its palette, and mapped in a second run.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import IO, Any, Final

import numpy as np

from engine.config import EngineConfig
from engine.encode.profiles import output_args
from engine.errors import FFmpegStalled, OutputMismatch
from engine.graph import compile as compiler
from engine.graph.gif import RAW_BYTES_PER_PIXEL, buffered_bytes
from engine.media.gif_splice import GifJoiner
from engine.media.scene_cuts import SceneWatch, Start
from engine.model.canvas import OutputSpec, rate_text
from engine.model.scenes import MAX_SCENES, Scene, min_scene_frames
from engine.pipeline.loop_seam import LoopSeam, seam_frames
from engine.run import STALL_RETRIES, FFmpegCommand, PipedFFmpeg, run_ffmpeg

ProgressCallback = Callable[[float], None]
log = logging.getLogger("reelforge.gif")
MB: Final = 2**20
MIN_BLEND_COLOURS: Final = 16
BLUE_SLACK: Final = 1     # the eye sees blue least (0.11 of luma against 0.59 for green): one more level held


@dataclass(frozen=True, slots=True)
class FrameSource:
    """An FFmpeg command that writes ``length`` packed RGB frames of ``width`` x ``height`` to standard output."""

    command: FFmpegCommand
    width: int
    height: int
    fps: Fraction
    length: int


@dataclass(frozen=True, slots=True)
class SceneGif:
    """What :func:`encode_by_scene` made."""

    frames: int
    scenes: tuple[Scene, ...]
    seam: dict[str, Any] | None
    passes: int

    def report(self) -> dict[str, Any]:
        """The render result's ``gif`` keys: the scenes and palettes used, and the loop seam."""
        out: dict[str, Any] = {"scenes": [s.to_dict() for s in self.scenes], "palettes": len(self.scenes)}
        if self.seam is not None:
            out["loop_seam"] = self.seam
        return out


class _SceneEncoder:
    """One scene's FFmpeg: fed raw frames; makes the scene's palette and GIF when its input closes."""

    def __init__(self, scene: Scene, max_frames: int, source: FrameSource, spec: OutputSpec, config: EngineConfig,
                 work: Path, cancel: threading.Event | None, stack: contextlib.ExitStack) -> None:
        self.scene, self.frames = scene, 0
        if scene.kind == "blend":
            # every pixel of a crossfade changes every frame, so nothing is saved by sharing a palette: a
            # palette for each frame, fitted to that frame's mix; with half the colours, since each frame is
            # written whole and shows for a moment (a shared palette of all of them looks worse, at any size)
            spec = replace(spec, palette="frame", colors=max(MIN_BLEND_COLOURS, spec.colors // 2))
        self.gif = work / f"scene-{scene.start:07d}.gif"
        self._spec, self._config, self._work, self._cancel = spec, config, work, cancel
        fps = rate_text(source.fps)
        self._args = output_args(spec, fps, None, config.x264_preset)
        half_budget = config.gif_buffer_mb * MB // 2
        self.spooled = spec.palette != "frame" and buffered_bytes(source.width, source.height, max_frames) > half_budget
        self._palette, self._spool = self.gif.with_suffix(".palette.png"), self.gif.with_suffix(".mkv")
        if self.spooled:
            command = compiler.compile_scene_palette_and_spool(source.width, source.height, fps, spec,
                                                               self._palette, self._spool)
        else:
            command = compiler.compile_scene_gif(source.width, source.height, fps, spec, self._args, self.gif)
        self._proc = stack.enter_context(PipedFFmpeg(command, ffmpeg=config.ffmpeg, work_dir=work, reads=True,
                                                     writes=False, timeout_s=config.timeout_s, cancel=cancel))

    def write(self, frame: np.ndarray) -> None:
        stdin: IO[bytes] | None = self._proc.stdin
        assert stdin is not None
        try:
            with self._proc.waiting():
                stdin.write(memoryview(np.ascontiguousarray(frame)).cast("B"))
        except (BrokenPipeError, ValueError) as exc:
            raise self._proc.failure() from exc
        self.frames += 1

    def close(self) -> None:
        """No more frames: FFmpeg goes on to the palette and the GIF on its own."""
        stdin = self._proc.stdin
        if stdin is not None and not stdin.closed:
            try:
                stdin.close()
            except BrokenPipeError as exc:
                raise self._proc.failure() from exc

    def finish(self) -> int:
        """Wait for the scene's GIF; returns the FFmpeg runs it took."""
        self._proc.finish()
        if not self.spooled:
            return 1
        run_ffmpeg(compiler.compile_spooled_gif(self._spool, self._palette, self._spec, self._args, self.gif),
                   ffmpeg=self._config.ffmpeg, work_dir=self._work, timeout_s=self._config.timeout_s,
                   cancel=self._cancel)
        self._spool.unlink()
        self._palette.unlink()
        return 2


def composer_frame(composer: PipedFFmpeg, size: int) -> bytes | None:
    """The composer's next frame (None at its end), waited for as a read it must answer."""
    assert composer.stdout is not None
    with composer.waiting():
        return _read_frame(composer.stdout, size)


def _read_frame(stream: IO[bytes], size: int) -> bytes | None:
    """Exactly one frame's bytes, or None at the end of the stream."""
    chunks, got = [], 0
    while got < size:
        chunk = stream.read(size - got)
        if not chunk:
            if got:
                raise OutputMismatch(f"the composed picture ended inside a frame ({got} of {size} bytes)")
            return None
        chunks.append(chunk)
        got += len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class _Router:
    """Frames in output order to the encoder of their scene, opening and closing encoders at the cuts."""

    def __init__(self, planned: Sequence[Scene], source: FrameSource, spec: OutputSpec, config: EngineConfig,
                 work: Path, cancel: threading.Event | None, stack: contextlib.ExitStack, joiner: GifJoiner) -> None:
        self._joiner = joiner
        self._planned = {s.start: s for s in planned}
        self._ends = sorted(s.end for s in planned)
        self._source, self._spec, self._config, self._work, self._cancel = source, spec, config, work, cancel
        self._stack = stack
        self._watch = SceneWatch(source.width, source.height, float(source.fps))
        self._watching = False
        self._min_frames = min_scene_frames(float(source.fps))    # a strobe must not make a scene of every frame
        self._hold = Stabiliser(spec.stabilize)
        self._open: _SceneEncoder | None = None
        self._pending: deque[_SceneEncoder] = deque()
        self.made: list[Scene] = []
        self.passes = 0
        self.pushed = 0      # frames given to the router
        self.written = 0     # frames given to encoders (the watch may hold a few back)

    def _planned_end(self, frame: int) -> int:
        return next((end for end in self._ends if end > frame), self._ends[-1])

    def _start(self, scene: Scene) -> None:
        if self._open is not None:
            self._close_open()
            while len(self._pending) > 1:          # one finishing while the next is fed: memory stays in budget
                self._join(self._pending.popleft())
        self._hold.reset()
        self._open = _SceneEncoder(scene, max(1, self._planned_end(scene.start) - scene.start), self._source,
                                   self._spec, self._config, self._work, self._cancel, self._stack)

    def _close_open(self) -> None:
        assert self._open is not None
        self._open.close()
        self._pending.append(self._open)
        self._open = None

    def _join(self, encoder: _SceneEncoder) -> None:
        """A finished scene's GIF into the output, and gone from the scratch folder."""
        self.passes += encoder.finish()
        if self._joiner.append(encoder.gif.read_bytes()) != encoder.frames:
            raise OutputMismatch(f"a scene's GIF does not hold its {encoder.frames} frames")
        encoder.gif.unlink()
        self.made.append(replace(encoder.scene, end=encoder.scene.start + encoder.frames))

    def _write(self, frame: np.ndarray, starts: Start | None) -> None:
        if starts is not None and self._open is not None and self._open.frames >= self._min_frames and \
                len(self.made) + len(self._pending) + 1 < MAX_SCENES:
            self._start(Scene(self.written, self.written + 1, starts, "pictures", watch=True))
        assert self._open is not None
        self._open.write(self._hold(frame))
        self.written += 1

    def push(self, frame: np.ndarray) -> None:
        planned = self._planned.get(self.pushed)
        self.pushed += 1
        if planned is not None:
            for held, _starts in self._watch.flush():
                self._write(held, None)
            self._start(planned)
            self._watch.reset()
            self._watching = planned.watch
        if not self._watching:
            self._write(frame, None)
            return
        for out, starts in self._watch.push(frame):
            self._write(out, starts)

    def finish(self) -> None:
        for held, _starts in self._watch.flush():
            self._write(held, None)
        if self._open is not None:
            self._close_open()
        while self._pending:
            self._join(self._pending.popleft())


class Stabiliser:
    """Hold a pixel at its last value while it changes by at most ``levels`` (of 255) in red and green and
    ``levels`` + :data:`BLUE_SLACK` in blue.

    A GIF encoder writes a pixel whose palette index is the same as in the last frame as unchanged
    (transparent, or outside the changed rectangle), which LZW then codes almost for free; noise and
    slow drift of a level or two would otherwise change the dithered index of most pixels of every
    frame. The error is at most that per channel; a scene's first frame is never held.

    Frames are BGRA, so a pixel is one 32-bit word and the test runs on four bytes at once (SWAR): per
    byte, the change is at most ``levels`` when neither its top bit nor the carry out of its low seven
    bits plus ``127 - levels`` is set. About 0.5 ms a frame at 480 x 270."""

    def __init__(self, levels: int) -> None:
        self._levels = min(levels, 127)
        self._last: np.ndarray | None = None
        blue = min(self._levels + BLUE_SLACK, 127)                 # BGRA: blue is the low byte
        self._bias = np.uint32((0x7F - self._levels) * 0x00010100 + (0x7F - blue))

    def reset(self) -> None:
        self._last = None

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        last = self._last
        if self._levels <= 0:
            return frame
        if last is None or last.shape != frame.shape:
            self._last = frame
            return frame
        change = np.maximum(frame, last)
        np.subtract(change, np.minimum(frame, last), out=change)
        words = change.view(np.uint32)
        top = words & np.uint32(0x00808080)                  # B, G and R; alpha is the high byte
        words &= np.uint32(0x007F7F7F)
        words += self._bias
        words &= np.uint32(0x00808080)
        words |= top
        held = np.where(words == 0, last.view(np.uint32), frame.view(np.uint32)).view(np.uint8)
        self._last = held
        return held


def encode_by_scene(source: FrameSource, scenes: Sequence[Scene], spec: OutputSpec, config: EngineConfig,
                    work: Path, output: Path, report: ProgressCallback,
                    cancel: threading.Event | None) -> SceneGif:
    """Make the GIF ``output`` from ``source``'s frames with a palette for each scene.

    ``scenes`` (in the source's frames, tiling ``[0, source.length)``) are where the draft cuts;
    those marked ``watch`` may be cut again where the pictures change. The loop seam is applied
    first; scene bounds move with it. An FFmpeg of it that deadlocks (FFmpegStalled, see engine.run)
    makes the whole GIF again, from a folder of its own, at most STALL_RETRIES times."""
    for attempt in range(STALL_RETRIES + 1):
        folder = Path(tempfile.mkdtemp(prefix="gif-", dir=work))
        try:
            return _encode_by_scene(source, scenes, spec, config, folder, output, report, cancel)
        except FFmpegStalled as stalled:
            if attempt == STALL_RETRIES:
                raise FFmpegStalled(stalled.argv, stalled.stall_s, STALL_RETRIES + 1) from stalled
            log.warning("the GIF's FFmpeg stalled; making the GIF again (try %d of %d)", attempt + 2,
                        STALL_RETRIES + 1)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    raise AssertionError("unreachable")


def _encode_by_scene(source: FrameSource, scenes: Sequence[Scene], spec: OutputSpec, config: EngineConfig,
                     work: Path, output: Path, report: ProgressCallback,
                     cancel: threading.Event | None) -> SceneGif:
    seam = LoopSeam(spec.loop_seam, source.length, float(source.fps), spec.loop_seam_ms) \
        if spec.loop_seam != "none" else None
    head = seam_frames(spec.loop_seam, source.length, float(source.fps), spec.loop_seam_ms) \
        if spec.loop_seam == "crossfade" else 0
    planned = _shifted(scenes, head)
    frame_size = source.width * source.height * RAW_BYTES_PER_PIXEL
    with contextlib.ExitStack() as stack:
        joiner = GifJoiner(stack.enter_context(output.open("wb")), source.fps, spec.loop)
        router = _Router(planned, source, spec, config, work, cancel, stack, joiner)
        composer = stack.enter_context(PipedFFmpeg(source.command, ffmpeg=config.ffmpeg, work_dir=work, reads=False,
                                                   writes=True, timeout_s=config.timeout_s, cancel=cancel))
        assert composer.stdout is not None
        read = 0
        while (raw := composer_frame(composer, frame_size)) is not None:
            if read >= source.length:
                raise OutputMismatch(f"the composed picture has more than the {source.length} frames expected")
            frame = np.frombuffer(raw, np.uint8).reshape(source.height, source.width, RAW_BYTES_PER_PIXEL)
            for out in seam.push(frame) if seam is not None else (frame,):
                router.push(out)
            read += 1
            report(0.95 * read / source.length)
        composer.check()
        composer.finish()
        if read != source.length:
            raise OutputMismatch(f"the composed picture has {read} frames, expected {source.length}")
        for out in seam.finish() if seam is not None else ():
            router.push(out)
        router.finish()
        joiner.close()
    report(1.0)
    return SceneGif(joiner.frames, tuple(router.made), seam.report() if seam is not None else None,
                    router.passes + 1)


def by_scene(spec: OutputSpec) -> bool:
    """Whether this GIF goes through the scene router: palettes per scene, or any loop seam."""
    return spec.palette == "scenes" or spec.loop_seam != "none"


def _shifted(scenes: Sequence[Scene], head: int) -> list[Scene]:
    """The draft's scenes in output frames, when the seam drops the first ``head`` frames."""
    out = [replace(s, start=max(0, s.start - head), end=s.end - head) for s in scenes if s.end - head > 0]
    return out or [Scene(0, 1, watch=True)]
