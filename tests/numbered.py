"""Numbered-frame media, and a reader that says which frame of which source a rendered frame shows.

Every picture made here carries a **code band** at its top: a row (or two) of 8x8 blocks, each
black (luma 16) or white (luma 235), spelling 16 bits: two sync bits (1, 0), a 4-bit source id and
a 10-bit frame number (the frame's index in its file; 0 for stills). Below the band is a **body**
of one flat colour per source. Base-track sources have grey bodies (chroma exactly 128), and so
has the background colour the tests use, so every blend of them stays grey: a region that turns
coloured is a layer (green body) or a caption (a magenta box), and nothing else.

The canvas the tests render on is laid out so that nothing covers the base's band::

    rows  0..7    base code band (16 blocks of 8x8 across 128 px)
    rows 48..95   left half:  the layer box (x 0, y 0.5, w 0.5, h 0.5), its own band at rows 48..63
                  right half: the caption (bottom-right, magenta box)

Clips are lossless (H.264 ``-qp 0`` in MP4, or FFV1 in Matroska, whose millisecond timestamps
are not exact frame times), at several rates, each with a sine of its own pitch. Their frame
times are read back from the files, so the oracle works from what the files really hold.

Reading a frame: every block of a band is taken at full resolution. A block is *exact* when all
its pixels are within :data:`TOL` of one level. A plain frame must read exactly; in a blend of
two pictures, a block where both have the same level must read exactly that level, and a block
where they differ must lie between them (see :func:`check_blend`).
"""

from __future__ import annotations

import subprocess
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np
from PIL import Image

from engine.media.probe import probe
from engine.model.mediainfo import MediaInfo

BLOCK = 8
BITS = 16                  # sync 2 + id 4 + frame 10
ID_BITS, FRAME_BITS = 4, 10
LOW, HIGH = 16, 235        # luma of a 0 and a 1 bit
TOL = 2                    # an exact block: every pixel within this of its level

CANVAS_W, CANVAS_H = 128, 96
LAYER_BOX = {"x": 0, "y": 0.5, "w": 0.5, "h": 0.5}
LAYER_RECT = (0, 48, 64, 48)          # x, y, w, h on the canvas
CAPTION_RECT = (64, 48, 64, 48)
GREEN = (150, 64, 64)                 # Y, Cb, Cr of the layer's body
CAPTION_BOX = "#FF00FF"


# ---------------------------------------------------------------- the catalogue


@dataclass(frozen=True)
class ClipSpec:
    src: str
    ident: int
    fps: Fraction
    seconds: Fraction
    tone_hz: int
    body: tuple[int, int, int] = (100, 128, 128)     # Y, Cb, Cr
    size: tuple[int, int] = (CANVAS_W, CANVAS_H)

    @property
    def container(self) -> str:
        return "matroska" if self.src.endswith(".mkv") else "mp4"

    @property
    def duration_ms(self) -> int:
        return int(self.seconds * 1000)


@dataclass(frozen=True)
class StillSpec:
    src: str
    ident: int
    body: int              # grey level (RGB)
    size: tuple[int, int] = (CANVAS_W, CANVAS_H)


F = Fraction
BASE_CLIPS: tuple[ClipSpec, ...] = (
    ClipSpec("c1.mp4", 1, F(30), F(3), 330, (60, 128, 128)),
    ClipSpec("c2.mkv", 2, F(30), F(3), 440, (80, 128, 128)),
    ClipSpec("c3.mp4", 3, F(30), F(3), 550, (120, 128, 128)),
    ClipSpec("c4.mp4", 4, F(24), F(5, 2), 660, (140, 128, 128)),
    ClipSpec("c5.mkv", 5, F(25), F(2), 770, (160, 128, 128)),
    ClipSpec("c6.mp4", 6, F(60), F(2), 880, (180, 128, 128)),
    ClipSpec("c7.mp4", 7, F(30000, 1001), F(2), 990, (200, 128, 128)),
    ClipSpec("c8.mkv", 8, F(30000, 1001), F(3, 2), 1100, (45, 128, 128)),
)
LAYER_CLIP = ClipSpec("layer.mp4", 9, F(30), F(3), 1210, GREEN, size=(64, 48))
STILLS: tuple[StillSpec, ...] = (StillSpec("s10.png", 10, 96), StillSpec("s11.png", 11, 200))
CLIPS = {c.src: c for c in (*BASE_CLIPS, LAYER_CLIP)}
NAMES = {**{c.ident: f"clip {c.ident}" for c in CLIPS.values()}, **{s.ident: f"still {s.ident}" for s in STILLS}}


def code_bits(ident: int, frame: int) -> np.ndarray:
    """The 16 bits of a picture's band, in block order."""
    assert 0 <= ident < 2 ** ID_BITS and 0 <= frame < 2 ** FRAME_BITS
    value = 1 | ident << 2 | frame << (2 + ID_BITS)
    return np.array([(value >> i) & 1 for i in range(BITS)], dtype=np.int64)


def band_rows(width: int) -> int:
    per_row = width // BLOCK
    return -(-BITS // per_row) * BLOCK


def _geq_bit(width: int) -> str:
    """The geq expression of the band bit under pixel (X, Y) for frame N: 1 or 0."""
    per_row = width // BLOCK
    index = f"(floor(Y/{BLOCK})*{per_row}+floor(X/{BLOCK}))"
    return f"mod(floor(CODE/pow(2,{index})),2)"


def _clip_filter(spec: ClipSpec) -> str:
    w, h = spec.size
    code = f"(1+{spec.ident * 4}+N*{2 ** (2 + ID_BITS)})"
    rows = band_rows(w)
    y, cb, cr = spec.body
    lum = f"if(lt(Y,{rows}),{LOW}+{HIGH - LOW}*{_geq_bit(w).replace('CODE', code)},{y})"
    return (f"color=c=black:s={w}x{h}:r={spec.fps.numerator}/{spec.fps.denominator}:d={float(spec.seconds)},"
            f"format=yuv420p,geq=lum='{lum}':cb='if(lt(Y,{rows // 2}),128,{cb})':cr='if(lt(Y,{rows // 2}),128,{cr})'")


def still_picture(spec: StillSpec) -> Image.Image:
    w, h = spec.size
    rgb = np.full((h, w, 3), spec.body, dtype=np.uint8)
    bits = code_bits(spec.ident, 0)
    per_row = w // BLOCK
    for i, bit in enumerate(bits):
        r, c = divmod(i, per_row)
        rgb[r * BLOCK:(r + 1) * BLOCK, c * BLOCK:(c + 1) * BLOCK] = 255 if bit else 0
    return Image.fromarray(rgb, "RGB")


# ---------------------------------------------------------------- making the files


@dataclass(frozen=True)
class Numbered:
    """The made files: where they are, what the engine's probe says, and each clip's frame times."""

    dir: Path
    media: dict[str, MediaInfo]                       # by src (a file name in ``dir``)
    times: dict[str, tuple[Fraction, ...]]            # by src: each frame's time from the file's start

    def frame_at(self, src: str, t: Fraction, grace: Fraction) -> int:
        """The frame of ``src`` shown at source time ``t``: the last one whose time is not later than
        ``t + grace`` (it follows ``t`` by at most the grace), the first one before the file starts
        and the last one after it ends."""
        return max(0, bisect_right(self.times[src], t + grace) - 1)

    def on_the_edge(self, src: str, t: Fraction, grace: Fraction) -> bool:
        """Whether a frame's time is exactly ``t + grace``, where the rule's "at most" decides."""
        i = bisect_left(self.times[src], t + grace)
        return i < len(self.times[src]) and self.times[src][i] == t + grace


def make_numbered(ffmpeg: str, out: Path) -> Numbered:
    """Write every clip and still of the catalogue into ``out`` (about a second of FFmpeg)."""
    out.mkdir(parents=True, exist_ok=True)
    procs = []
    for spec in CLIPS.values():
        if spec.container == "mp4":
            codecs = ["-c:v", "libx264", "-qp", "0", "-preset", "veryfast", "-c:a", "aac"]
        else:
            codecs = ["-c:v", "ffv1", "-level", "3", "-c:a", "pcm_s16le"]
        args = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                _clip_filter(spec), "-f", "lavfi", "-i", f"sine=f={spec.tone_hz}:d={float(spec.seconds)}:r=48000",
                *codecs, "-pix_fmt", "yuv420p", "-shortest", str(out / spec.src)]
        procs.append(subprocess.Popen(args))
    for spec in STILLS:
        still_picture(spec).save(out / spec.src)
    for proc in procs:
        if proc.wait() != 0:
            raise RuntimeError(f"ffmpeg failed making numbered media: {proc.args}")
    media = {src: probe(out / src) for src in [*CLIPS, *(s.src for s in STILLS)]}
    times = {src: _frame_times(out / src) for src in CLIPS}
    return Numbered(out, media, times)


def _frame_times(path: Path) -> tuple[Fraction, ...]:
    with av.open(str(path)) as container:
        start = Fraction(container.start_time or 0, 1_000_000)
        stream = container.streams.video[0]
        pts = sorted(f.pts for f in container.decode(stream))
        return tuple(p * stream.time_base - start for p in pts)


# ---------------------------------------------------------------- reading rendered frames


Rect = tuple[int, int, int, int]          # x, y, w, h
CANVAS: Rect = (0, 0, CANVAS_W, CANVAS_H)


@dataclass(frozen=True)
class Picture:
    """One decoded frame: its planes (Y full size, Cb and Cr half size)."""

    y: np.ndarray
    cb: np.ndarray
    cr: np.ndarray

    def blocks(self, rect: Rect = CANVAS, inset: int = 0) -> np.ndarray:
        """The luma of each code block of the band at the top of ``rect``, in bit order: one row of
        pixels per block (less ``inset`` pixels at each edge)."""
        x, y, w, _h = rect
        per_row, rows = w // BLOCK, band_rows(w) // BLOCK
        luma = self.y[y:y + rows * BLOCK, x:x + w].astype(np.int64).reshape(rows, BLOCK, per_row, BLOCK)
        inner = luma[:, inset:BLOCK - inset, :, inset:BLOCK - inset].transpose(0, 2, 1, 3)
        return inner.reshape(rows * per_row, -1)[:BITS]

    def band(self, rect: Rect = CANVAS) -> tuple[np.ndarray, np.ndarray]:
        """(min, max) luma of each code block of the band at the top of ``rect``."""
        blocks = self.blocks(rect)
        return blocks.min(axis=1), blocks.max(axis=1)

    def colour(self, rect: Rect) -> float:
        """How far from the base's grey a region is: the mean of |Cb - Cb0| + |Cr - Cr0| over it, where
        Cb0, Cr0 are the chroma of the base's band (128, but 127 in xfade's fades through black and
        white)."""
        x, y, w, h = (v // 2 for v in rect)
        rows = band_rows(CANVAS_W) // 2
        cb0, cr0 = float(np.median(self.cb[:rows])), float(np.median(self.cr[:rows]))
        cb = self.cb[y:y + h, x:x + w].astype(np.float64) - cb0
        cr = self.cr[y:y + h, x:x + w].astype(np.float64) - cr0
        return float(np.mean(np.abs(cb) + np.abs(cr)))


def read_pictures(path: Path) -> list[Picture]:
    """Every frame of a rendered file, in order, as its yuv420p planes."""
    out = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if frame.format.name != "yuv420p":
                frame = frame.reformat(format="yuv420p")
            planes = frame.to_ndarray()
            h, w = frame.height, frame.width
            cb = planes[h:h + h // 4].reshape(h // 2, w // 2)
            cr = planes[h + h // 4:].reshape(h // 2, w // 2)
            out.append(Picture(planes[:h], cb, cr))
    return out


@dataclass(frozen=True)
class Shown:
    """One picture that can be on the base track: a clip's frame, a still, or the background."""

    kind: Literal["clip", "still", "background"]
    ident: int = 0
    frame: int = 0
    grey: int = 0           # the background's luma

    def levels(self) -> np.ndarray:
        if self.kind == "background":
            return np.full(BITS, self.grey, dtype=np.int64)
        return np.where(code_bits(self.ident, self.frame) == 1, HIGH, LOW)

    def __str__(self) -> str:
        if self.kind == "background":
            return "background"
        if self.kind == "still":
            return NAMES.get(self.ident, f"still {self.ident}")
        return f"clip {self.ident} frame {self.frame}"


def _name(bits: np.ndarray) -> str:
    """The picture a band's bits name, in words, or "unreadable"."""
    if bits[0] != 1 or bits[1] != 0:
        return "unreadable"
    value = int(sum(int(b) << i for i, b in enumerate(bits)))
    ident, frame = (value >> 2) & (2 ** ID_BITS - 1), value >> (2 + ID_BITS)
    if NAMES.get(ident, "").startswith("still"):
        return NAMES[ident] if frame == 0 else "unreadable"
    return f"clip {ident} frame {frame}"


def read_band(pic: Picture, rect: Rect = CANVAS, grey: int | None = None) -> str:
    """What a band shows, in words: ``clip 2 frame 31``, ``still 10``, ``background``, or ``mixed (10~0...)``
    (each block: 1 or 0 where it reads exactly white or black, ~ where it does not)."""
    lo, hi = pic.band(rect)
    exact = hi - lo <= TOL
    mid = (lo + hi) // 2
    if exact.all() and grey is not None and (np.abs(mid - grey) <= TOL).all():
        return "background"
    bits = np.where(exact & (np.abs(mid - HIGH) <= TOL), 1, np.where(exact & (np.abs(mid - LOW) <= TOL), 0, -1))
    if (bits >= 0).all():
        return _name(bits)
    return "mixed ({})".format("".join("~" if b < 0 else str(b) for b in bits))


def read_code_lossy(pic: Picture, rect: Rect = CANVAS) -> str:
    """What a band shows after a lossy encoder: each bit from the mean of its block's middle, which
    encoding noise does not move across the midpoint between black and white."""
    return _name((pic.blocks(rect, inset=2).mean(axis=1) > (LOW + HIGH) / 2).astype(int))


def check_plain(pic: Picture, want: Shown, rect: Rect = CANVAS) -> bool:
    """Whether the band reads exactly ``want``."""
    lo, hi = pic.band(rect)
    levels = want.levels()
    return bool((np.abs(lo - levels) <= TOL).all() and (np.abs(hi - levels) <= TOL).all())


def check_blend(pic: Picture, a: Shown, b: Shown, through: int | None = None) -> bool:
    """A frame of a blend of ``a`` into ``b``, where every pixel is a mix of the two (and of the
    colour ``through``, for a transition through black or white): where the two agree the band
    must read exactly their level; where they differ, between them."""
    lo, hi = pic.band()
    la, lb = a.levels(), b.levels()
    bottom, top = np.minimum(la, lb), np.maximum(la, lb)
    if through is not None:
        bottom, top = np.minimum(bottom, through), np.maximum(top, through)
    return bool((lo >= bottom - TOL).all() and (hi <= top + TOL).all())


def fade_weights(pic: Picture, a: Shown, b: Shown) -> np.ndarray:
    """For a crossfade: how much of ``a`` each block where ``a`` and ``b`` differ holds (0..1)."""
    means = pic.blocks().mean(axis=1)
    la, lb = a.levels(), b.levels()
    differ = la != lb
    return (means[differ] - lb[differ]) / (la[differ] - lb[differ])


def bg_luma(rgb: Sequence[int]) -> int:
    """The luma a grey background colour becomes in limited-range yuv420p."""
    r, g, b = rgb
    return round(16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255)
