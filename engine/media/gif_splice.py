"""GIF files joined frame by frame: one GIF out of scene GIFs that each have their own palette.

FFmpeg's GIF encoder writes only the changed rectangle of a frame, with unchanged pixels made
transparent, but only while the frame's palette is the file's first one: a new palette on every
frame (``paletteuse=new=1``) makes it write every frame whole. So each scene is encoded as a
GIF of its own, where the rectangle coding works, and this module joins them as they are made:
the header and the global colour table come from the first, and every frame of another scene
carries its scene's palette as a local colour table (768 bytes a frame, about 1 % of a GIF).
The image data (LZW) is copied as it is; the frame delays are set from the frame times, so the
joined file plays at exactly the timeline's rate.

The format: https://www.w3.org/Graphics/GIF/spec-gif89a.txt (a header, a logical screen
descriptor, an optional global colour table, then extensions and images, each made of sub-blocks,
then ``0x3B``).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Final

from engine.errors import OutputMismatch
from engine.media.animinfo import NotAnimation, gif_sub_blocks

EXTENSION: Final = 0x21
IMAGE: Final = 0x2C
TRAILER: Final = 0x3B
GRAPHIC_CONTROL: Final = 0xF9
APPLICATION: Final = 0xFF
TABLE_FLAG: Final = 0x80


@dataclass(frozen=True, slots=True)
class Frame:
    """One image of a GIF: its graphic control extension (or None), descriptor, local table, LZW data."""

    control: bytes | None    # 0x21 0xF9 0x04 packed delay(2) transparent 0x00
    descriptor: bytes        # 0x2C left top width height packed (10 bytes)
    local_table: bytes | None
    data: bytes              # LZW minimum code size, then the sub-blocks up to and with the 0 terminator


@dataclass(frozen=True, slots=True)
class GifFile:
    width: int
    height: int
    table_bits: int          # the low 3 bits of the global table's flags: 2 ** (bits + 1) entries
    global_table: bytes | None
    frames: tuple[Frame, ...]


def _sub_blocks(buf: bytes, at: int) -> int:
    """The offset just past a run of sub-blocks starting at ``at`` (past the 0 terminator)."""
    try:
        return gif_sub_blocks(buf, at)
    except NotAnimation as exc:
        raise OutputMismatch(f"the GIF part is cut short: {exc}") from exc


def read_gif(buf: bytes) -> GifFile:
    """Parse a GIF's structure (not its pixels). OutputMismatch when it is not a whole GIF."""
    if len(buf) < 13 or buf[:6] not in (b"GIF87a", b"GIF89a"):
        raise OutputMismatch("not a GIF file")
    width, height, flags = struct.unpack_from("<HHB", buf, 6)
    at = 13
    table = None
    if flags & TABLE_FLAG:
        size = 3 << ((flags & 7) + 1)
        table, at = buf[at:at + size], at + size
    frames: list[Frame] = []
    control: bytes | None = None
    while at < len(buf):
        kind = buf[at]
        if kind == TRAILER:
            return GifFile(width, height, flags & 7, table, tuple(frames))
        if kind == EXTENSION:
            end = _sub_blocks(buf, at + 2)
            if buf[at + 1] == GRAPHIC_CONTROL:
                control = buf[at:end]
            at = end                      # other extensions (loop, comments) are the joined file's business
        elif kind == IMAGE:
            descriptor = buf[at:at + 10]
            at += 10
            local = None
            if descriptor[9] & TABLE_FLAG:
                size = 3 << ((descriptor[9] & 7) + 1)
                local, at = buf[at:at + size], at + size
            end = _sub_blocks(buf, at + 1)
            frames.append(Frame(control, descriptor, local, buf[at:end]))
            control, at = None, end
        else:
            raise OutputMismatch(f"unexpected block 0x{kind:02x} in the GIF at byte {at}")
    raise OutputMismatch("the GIF has no trailer")


def delays_cs(frames: int, fps: Fraction, start: int = 0) -> list[int]:
    """Each frame's delay in hundredths of a second, rounded so that frame k starts at round(100 k / fps): the
    delays add up to the exact length, with no drift however long the GIF."""
    at = [round(Fraction(100 * (start + k)) / fps) for k in range(frames + 1)]
    return [max(1, b - a) for a, b in zip(at, at[1:], strict=False)]


def loop_extension(loop: int) -> bytes:
    """NETSCAPE2.0 with the repeat count (0: forever); none at all for -1 (play once), as FFmpeg does."""
    if loop < 0:
        return b""
    return b"\x21\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", loop) + b"\x00"


def _control(frame: Frame, delay: int) -> bytes:
    if frame.control is None:
        return b"\x21\xf9\x04\x00" + struct.pack("<H", delay) + b"\x00\x00"
    return frame.control[:4] + struct.pack("<H", delay) + frame.control[6:]


def _table_for(frame: Frame, scene: GifFile, shared: bytes | None) -> tuple[bytes | None, int]:
    """The local table ``frame`` needs in the joined file (None: the global one serves) and its size bits."""
    if frame.local_table is not None:
        return frame.local_table, frame.descriptor[9] & 7
    if scene.global_table is None or scene.global_table == shared:
        return None, 0
    return scene.global_table, scene.table_bits


class GifJoiner:
    """One GIF written part by part, as the parts are made: the first part's palette is the global colour
    table, and a frame of another part carries its part's palette as a local table. Only the part being
    added is in memory; each frame's delay comes from its index (:func:`delays_cs`)."""

    def __init__(self, out: BinaryIO, fps: Fraction, loop: int) -> None:
        self._out, self._fps, self._loop = out, fps, loop
        self._shared: bytes | None = None
        self._size: tuple[int, int] | None = None
        self.frames = 0

    def append(self, part: bytes) -> int:
        """Add every frame of the GIF ``part``; returns how many."""
        scene = read_gif(part)
        if self._size is None:
            self._start(scene)
        elif (scene.width, scene.height) != self._size:
            width, height = self._size
            raise OutputMismatch(f"a GIF part is {scene.width}x{scene.height}, expected {width}x{height}")
        delays = delays_cs(len(scene.frames), self._fps, self.frames)
        for frame, delay in zip(scene.frames, delays, strict=True):
            table, bits = _table_for(frame, scene, self._shared)
            self._out.write(_control(frame, delay))
            if table is None:
                self._out.write(frame.descriptor)
            else:
                self._out.write(frame.descriptor[:9] + bytes([(frame.descriptor[9] & 0x40) | TABLE_FLAG | bits]))
                self._out.write(table)
            self._out.write(frame.data)
        self.frames += len(scene.frames)
        return len(scene.frames)

    def _start(self, first: GifFile) -> None:
        self._size, self._shared = (first.width, first.height), first.global_table
        flags = (TABLE_FLAG | 0x70 | first.table_bits) if first.global_table is not None else 0x70
        self._out.write(b"GIF89a" + struct.pack("<HHBBB", first.width, first.height, flags, 0, 0))
        if first.global_table is not None:
            self._out.write(first.global_table)
        self._out.write(loop_extension(self._loop))

    def close(self) -> None:
        if self._size is None:
            raise OutputMismatch("no GIF parts to join")
        self._out.write(bytes([TRAILER]))


def splice_files(parts: Sequence[Path], output: Path, fps: Fraction, loop: int) -> int:
    """Write the GIFs ``parts`` (same size, in order) to ``output`` as one, at ``fps``; returns the frames."""
    with output.open("wb") as out:
        joiner = GifJoiner(out, fps, loop)
        for path in parts:
            joiner.append(path.read_bytes())
        joiner.close()
        return joiner.frames
