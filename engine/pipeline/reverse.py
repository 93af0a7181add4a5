"""Reversed clips in bounded memory: turning a reversed clip round before the graph runs.

FFmpeg's ``reverse`` and ``areverse`` filters hold every frame and sample of their input until the
last arrives: three reversed 30 s layers at 360x640 held 1.7 GB, one at 1080x1920 and 60 fps would
hold about 9 GB. A render keeps in its graph only the smallest reversed windows, while together they
hold at most ``EngineConfig.reverse_in_graph_mb``; every other window (a clip's extent: every frame it
shows, transition halves included) is turned round beforehand, into the render's scratch folder:

- **Picture**: the window's frames, in the order they show, are cut into blocks of at most
  ``reverse_block_mb`` of frames at the clip's box size. Each block is one small FFmpeg run that reads
  just the source frames it shows, forwards, exactly as the graph would (engine/graph/clip.py), turns
  them round and writes them losslessly (H.264 at qp 0, every frame intra; FFV1 where a layer has
  alpha to keep). The first block shows the source's latest frames: the blocks are the forward blocks
  in reverse order. The graph reads them in order through a concat list: memory per block, whatever
  the window's length.
- **Sound**: one FFmpeg run writes the window's sound forwards as raw floats (nothing held), then the
  file is turned round here, a megabyte at a time.

Frame for frame and sample for sample, the result is what the graph's own reverse would give.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

import numpy as np

from engine.config import EngineConfig
from engine.errors import OutputMismatch
from engine.graph import compile as compiler
from engine.graph.audio import samples
from engine.graph.build import ReversedWindow, Sources
from engine.graph.video import may_be_transparent
from engine.media.stills import stop_if_cancelled
from engine.model.canvas import Canvas
from engine.model.pieces import Run, base_pieces
from engine.model.timeline import Timeline, Visual
from engine.pipeline.output import Expected, staged_output
from engine.run import FFmpegCommand

RunStep = Callable[[FFmpegCommand, float, float], None]   # a command, and its share of the progress
SAMPLE_BYTES: Final = 8             # one stereo sample of 32-bit floats
TURN_BYTES: Final = 1 << 20         # the sound is turned round this much at a time
MB: Final = 2**20


@dataclass(frozen=True, slots=True)
class Window:
    """A reversed clip's extent: the frames it shows (``extent``, item frames), on the base track or a layer."""

    v: Visual
    extent: Run
    layer: bool

    @property
    def transparent(self) -> bool:
        """Whether its frames may have alpha to keep (then written as FFV1, else as H.264)."""
        return may_be_transparent(self.v, self.layer)

    @property
    def frame_bytes(self) -> int:
        """One frame at the box size as the graph holds it (4:2:0, with alpha on a layer)."""
        return self.v.box.w * self.v.box.h * (5 if self.layer else 3) // 2

    def sound_samples(self, canvas: Canvas) -> int:
        return samples(canvas, self.extent.frames)

    def held_bytes(self, canvas: Canvas, sound: bool) -> int:
        """What FFmpeg's reverse (and areverse, with ``sound``) hold of this window in the graph."""
        return self.extent.frames * self.frame_bytes + (self.sound_samples(canvas) * SAMPLE_BYTES if sound else 0)


def reversed_windows(tl: Timeline) -> list[Window]:
    """Every reversed clip's window, base track first, then the layers, in timeline order."""
    track = base_pieces(tl)
    out = [Window(item, track.extent(i), False) for i, item in enumerate(track.items)
           if isinstance(item, Visual) and item.reverse]
    out += [Window(v, Run(0, 0, v.length), True) for layer in tl.layers for v in layer.clips
            if isinstance(v, Visual) and v.reverse]
    return out


def has_sound(tl: Timeline, w: Window) -> bool:
    """Whether the render mixes this clip's own sound."""
    return tl.output.audio and w.v.volume > 0 and w.v.media.has_audio


def windows_to_prepare(tl: Timeline, in_graph_mb: float) -> list[Window]:
    """The windows turned round beforehand: all but the smallest, which stay in the graph while together
    they hold at most ``in_graph_mb``."""
    windows = reversed_windows(tl)
    by_size = sorted(range(len(windows)), key=lambda i: windows[i].held_bytes(tl.canvas, has_sound(tl, windows[i])))
    held, in_graph = 0, set()
    for i in by_size:
        held += windows[i].held_bytes(tl.canvas, has_sound(tl, windows[i]))
        if held > in_graph_mb * MB:
            break
        in_graph.add(i)
    return [w for i, w in enumerate(windows) if i not in in_graph]


def block_frames(w: Window, block_mb: float) -> int:
    """Frames per block of the window's pre-pass: as many as ``block_mb`` holds, at least one."""
    return max(1, int(block_mb * MB) // w.frame_bytes)


def prepare_reversed(tl: Timeline, sources: Sources, windows: list[Window], work: Path, config: EngineConfig,
                     run: RunStep, cancel: threading.Event | None, *, picture: bool = True) -> Sources:
    """Turn ``windows`` round into ``work`` (see the module's docstring); returns ``sources`` with them.

    ``picture`` False: only their sound (a chunked render's sound pass). The sound is made only where
    the render mixes it. ``run`` is given each FFmpeg command with its share of the progress (0 to 1)."""
    steps = sum(w.extent.frames * (int(picture) + int(has_sound(tl, w))) for w in windows) or 1   # for progress
    done = 0
    prepared = dict(sources.reversed)
    for n, w in enumerate(windows):
        video = sound = None
        if picture:
            video = _picture(tl, sources, w, work / f"reversed-{n}", config, run, cancel, (done, steps))
            done += w.extent.frames
        if has_sound(tl, w):
            sound = _sound(tl, w, work / f"reversed-{n}", run, cancel, (done, steps))
            done += w.extent.frames
        prepared[w.v.where] = ReversedWindow(w.extent.first, w.extent.frames, video, sound)
    return replace(sources, reversed=prepared)


def _picture(tl: Timeline, sources: Sources, w: Window, stem: Path, config: EngineConfig, run: RunStep,
             cancel: threading.Event | None, progress: tuple[int, int]) -> Path:
    """Write the window's blocks and the concat list that joins them; returns the list."""
    size = block_frames(w, config.reverse_block_mb)
    codec, codec_name = (compiler.FFV1, "ffv1") if w.transparent else (compiler.X264_LOSSLESS, "h264")
    plain = replace(sources, reversed={})     # blocks reverse in their own small graphs
    done, steps = progress
    names: list[str] = []
    for first in range(w.extent.first, w.extent.stop, size):
        stop_if_cancelled(cancel)
        block = Run(w.extent.item, first, min(size, w.extent.stop - first))
        path = stem.with_name(f"{stem.name}-{len(names):05d}.mkv")
        want = Expected(w.v.box.w, w.v.box.h, block.frames, float(tl.canvas.fps), audio=False, timed=False,
                        exact=True, video_codec=codec_name)
        with staged_output(path, want) as out:
            run(compiler.compile_reversed_block(tl, plain, w.v, block, w.layer, codec, out.temp),
                done / steps, (done + block.frames) / steps)
        done += block.frames
        names.append(path.name)
    listing = stem.with_suffix(".concat")
    listing.write_text("ffconcat version 1.0\n" + "".join(f"file {name}\n" for name in names), encoding="ascii")
    return listing


def _sound(tl: Timeline, w: Window, stem: Path, run: RunStep, cancel: threading.Event | None,
           progress: tuple[int, int]) -> Path:
    """Write the window's sound forwards, then turn the file round; returns the turned file."""
    done, steps = progress
    forward, backward = stem.with_suffix(".forward.f32"), stem.with_suffix(".sound.f32")
    try:
        run(compiler.compile_forward_sound(tl, w.v, w.extent, forward), done / steps, (done + w.extent.frames) / steps)
        want = w.sound_samples(tl.canvas) * SAMPLE_BYTES
        if forward.stat().st_size != want:
            raise OutputMismatch(f"{w.v.where}: its sound has {forward.stat().st_size // SAMPLE_BYTES} samples, "
                                 f"expected {want // SAMPLE_BYTES}")
        turn_round(forward, backward, cancel)
    finally:
        forward.unlink(missing_ok=True)
    return backward


def turn_round(source: Path, target: Path, cancel: threading.Event | None = None) -> None:
    """Write the stereo float samples of ``source`` into ``target`` last first, a megabyte at a time."""
    end = source.stat().st_size
    if end % SAMPLE_BYTES:
        raise OutputMismatch(f"{source.name} does not hold whole stereo samples")
    with source.open("rb") as src, target.open("wb") as dst:
        while end > 0:
            stop_if_cancelled(cancel)
            start = max(0, end - TURN_BYTES)
            src.seek(start)
            chunk = np.frombuffer(src.read(end - start), dtype="<f4").reshape(-1, 2)
            dst.write(chunk[::-1].tobytes())
            end = start
