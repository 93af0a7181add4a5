"""GIF: a palette made for the clip, in one pass when memory allows, and size targets.

One pass (split → palettegen → paletteuse) decodes and composes the timeline once, but the
second branch of the split must hold every frame until palettegen has seen the last one, so it
is used only when that buffer fits ``EngineConfig.gif_buffer_mb``; longer or larger GIFs make
the palette in a first pass and use it in a second, and memory stays flat. Per-scene palettes
(``palette: frame``) never buffer: palettegen emits one palette per frame.

Defaults come from the benchmark (benchmarks/README.md): diff statistics, which spend the
palette on what moves, bayer dithering, which is stable from frame to frame and so
compresses well, and rectangle diff mode, which re-dithers only the part that changed.
"""

from __future__ import annotations

from typing import Any, Final

import ffmpeg

from engine.model.canvas import OutputSpec

Stream = Any
STATS_MODES: Final = {"full": "full", "diff": "diff"}
BYTES_PER_BUFFERED_PIXEL: Final = 4    # frames wait in the split as packed RGB with alpha


def buffered_bytes(width: int, height: int, frames: int) -> int:
    return width * height * frames * BYTES_PER_BUFFERED_PIXEL


def one_pass_fits(spec: OutputSpec, width: int, height: int, frames: int, budget_mb: int) -> bool:
    return spec.palette == "frame" or buffered_bytes(width, height, frames) <= budget_mb * 1024 * 1024


# palettegen's "diff" statistics count, at each pixel that changes, the colour it changes FROM (FFmpeg's
# update_histogram_diff reads the previous frame there). So colours that appear after the first frame and stay
# to the end are never counted: a black frame and then a still made a palette of black alone, and a GIF of a
# black frame. One frame of an unlikely colour after the last makes every last colour change, and count.
SENTINEL: Final = "0x010203"


def palette_options(spec: OutputSpec) -> dict[str, object]:
    mode = "single" if spec.palette == "frame" else STATS_MODES[spec.stats]
    return {"max_colors": spec.colors, "stats_mode": mode, "reserve_transparent": 1}


SENTINEL_PAD: Final = {"stop": 1, "stop_mode": "add", "color": SENTINEL}    # tpad's options


def needs_sentinel(spec: OutputSpec) -> bool:
    return palette_options(spec)["stats_mode"] == "diff"


def counted(stream: Stream, spec: OutputSpec) -> Stream:
    """What palettegen must see: the frames, and after them the sentinel frame where "diff" needs it."""
    return stream.filter("tpad", **SENTINEL_PAD) if needs_sentinel(spec) else stream


def palette(stream: Stream, spec: OutputSpec) -> Stream:
    return counted(stream, spec).filter("palettegen", **palette_options(spec))


def apply_palette(stream: Stream, pal: Stream, spec: OutputSpec) -> Stream:
    opts: dict[str, object] = {"dither": spec.dither}
    if spec.dither == "bayer":
        opts["bayer_scale"] = spec.bayer_scale
    if spec.palette == "frame":
        opts["new"] = 1
    else:
        # Only the rectangle that changed is mapped again; outside it paletteuse keeps the last frame's
        # indices. With a new palette on every frame those point into the last frame's palette, and a
        # picture's small details vanished (a 150-example frame-exact run found it), so never with new=1.
        opts["diff_mode"] = "rectangle"
    return ffmpeg.filter([stream, pal], "paletteuse", **opts)


def one_pass(stream: Stream, spec: OutputSpec) -> Stream:
    split = stream.filter_multi_output("split")
    return apply_palette(split[0], palette(split[1], spec), spec)


def raw_frames(width: int, height: int, fps: str) -> Stream:
    """The frames a scene encoder reads from its standard input, as the scene router writes them: BGRA, the
    format palettegen and paletteuse work in, so the encoders convert nothing."""
    return ffmpeg.input("pipe:0", f="rawvideo", pix_fmt=RAW_PIXELS, s=f"{width}x{height}", r=fps).video


RAW_PIXELS: Final = "bgra"
RAW_BYTES_PER_PIXEL: Final = 4
