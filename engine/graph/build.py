"""The state of one compile: the canvas, what it may read, and the inputs made so far.

Also the small helpers every part of the graph uses to write numbers the way FFmpeg reads them.
No text from a client reaches a filter string: sources are file paths (input arguments),
captions arrive as pictures, colours as parsed numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ffmpeg

from engine.media.stats import Grade, Loudness
from engine.media.stills import PreparedStill
from engine.model.canvas import RGB, Canvas, rate_text
from engine.model.mediainfo import MediaInfo

Stream = Any   # an ffmpeg-python stream


def secs(value: float) -> str:
    """Seconds as FFmpeg reads them, to the microsecond, without float noise."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def rate(canvas: Canvas) -> str:
    return rate_text(canvas.fps)


def frame_tb(canvas: Canvas) -> str:
    """One frame as a time base: every piece of picture counts its timestamps in frames."""
    return f"{canvas.fps.denominator}/{canvas.fps.numerator}"


def normalise(stream: Stream, canvas: Canvas, pix_fmt: str = "yuv420p", offset: int = 0) -> Stream:
    """Pin a stream of frames: its pixel format, the time base 1/fps, and timestamps that count its
    frames from ``offset`` (0 for a piece of the base track, its start for a layer).

    Every piece, every join and every layer goes through this, so no timestamp downstream depends
    on how a filter upstream computed its own: concat, for one, takes a one-frame input to last no
    time at all, and xfade and overlay pair frames by timestamp."""
    return (stream.filter("format", pix_fmt).filter("settb", frame_tb(canvas))
            .filter("setpts", f"N+{offset}" if offset else "N"))


def hex_color(color: RGB, alpha: float | None = None) -> str:
    text = "0x{:02X}{:02X}{:02X}".format(*color)
    return text if alpha is None else f"{text}@{alpha:g}"


@dataclass(frozen=True, slots=True)
class PreparedCaption:
    still: PreparedStill
    x: int
    y: int


@dataclass(frozen=True, slots=True)
class ReversedWindow:
    """A reversed clip turned round before the graph runs (engine/pipeline/reverse.py): item frames
    ``[first, first + frames)`` in the order they show, at the clip's box size (``video``: a concat
    list of blocks), and its sound over the same frames, last sample first (``sound``: raw f32le,
    stereo, 48 kHz). Either is None when the render does not need it."""

    first: int
    frames: int
    video: Path | None
    sound: Path | None


@dataclass(frozen=True, slots=True)
class Sources:
    """What the compiler may read: probed media plus the pictures prepared for this render."""

    stills: Mapping[str, PreparedStill]           # by Visual.where
    captions: Mapping[str, PreparedCaption]       # by Caption.where
    decoder_args: Mapping[str, str]               # extra input options for decoded video (e.g. hwaccel)
                                                  # ``hwaccel=cuda``: NVDEC, and the CUDA path where a clip allows it
    reversed: Mapping[str, ReversedWindow] = field(default_factory=dict)   # by Visual.where; others reverse in-graph
    grades: Mapping[str, Grade] = field(default_factory=dict)   # m.enhance's picture corrections, by Visual.where
    loudness: Loudness | None = None                            # m.enhance's measured mix and its target


class Build:
    """The state of one compile: canvas, sources, and the inputs made so far.

    ffmpeg-python merges nodes that look alike, so two segments reading the same window of the
    same file would share one ``-i`` and the later one would have to buffer every frame of the
    earlier. Each owner (a segment, a gap) therefore gets its own input: when the options of a
    new one match an existing input, its ``-t`` grows by a microsecond, which changes nothing
    in the output (every piece is trimmed to whole frames) but keeps the inputs apart.
    """

    def __init__(self, canvas: Canvas, sources: Sources) -> None:
        self.canvas, self.sources = canvas, sources
        self._by_owner: dict[str, Any] = {}
        self._signatures: set[tuple[str, tuple[tuple[str, str], ...]]] = set()

    @property
    def cuda(self) -> bool:
        """Whether video is decoded on NVDEC (``decoder_args`` say ``-hwaccel cuda``, which the render's
        CodecChoice gives only after a trial decode on that GPU). A clip that allows it then keeps its
        frames on the GPU until ``scale_cuda`` has sized them (:mod:`engine.graph.clip`); any other clip's
        frames come to system memory straight from the decoder, as they always did."""
        return self.sources.decoder_args.get("hwaccel") == "cuda"

    def input(self, owner: str, path: str, opts: dict[str, str]) -> Any:
        if owner in self._by_owner:
            return self._by_owner[owner]
        nudge = 0
        while True:
            trial = dict(opts)
            if nudge:
                trial["t"] = secs(float(opts.get("t", "0")) + nudge * 1e-6)
            signature = (path, tuple(sorted(trial.items())))
            if signature not in self._signatures:
                break
            nudge += 1
        self._signatures.add(signature)
        node = ffmpeg.input(path, **trial)
        self._by_owner[owner] = node
        return node

    def media(self, owner: str, info: MediaInfo, *, start_s: float, duration_s: float, loop: bool = False,
              decode: bool = False, gpu_frames: bool = False) -> Any:
        """A probed file as an input: its demuxer forced (as probed) and only the file protocol allowed.

        ``decode``: with the decoder's options; ``gpu_frames``: and its frames left on the GPU as CUDA
        frames (``-hwaccel_output_format cuda``), for a graph that scales them there and downloads them."""
        opts: dict[str, str] = {"protocol_whitelist": "file"}
        if info.demuxer:
            opts["f"] = info.demuxer
        if loop:
            opts["stream_loop"] = "-1"
        if start_s > 0:
            opts["ss"] = secs(start_s)
        opts["t"] = secs(duration_s)
        if decode:
            opts.update(self.sources.decoder_args)
        if gpu_frames:
            if not (decode and self.cuda):
                raise ValueError(f"{owner}: CUDA frames need the cuda decoder")
            opts["hwaccel_output_format"] = "cuda"
        return self.input(owner, info.path, opts)

    def picture(self, owner: str, still: PreparedStill) -> Any:
        """A prepared picture: one frame, decoded once, so no decoder threads (each would only hold memory,
        and a render with hundreds of captions would start hundreds of them)."""
        return self.input(owner, str(still.path), {"f": still.demuxer, "protocol_whitelist": "file", "threads": "1"})

    def lavfi(self, owner: str, graph: str, duration_s: float) -> Any:
        return self.input(owner, graph, {"f": "lavfi", "t": secs(duration_s)})
