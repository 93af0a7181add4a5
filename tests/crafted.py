"""Tiny hostile media for the probe caps (tests only): real files whose headers declare more than they hold."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from PIL import Image

from tests.conftest import ffmpeg

MKV_SIDE = 300       # 0x012C: two bytes in Matroska's PixelWidth/PixelHeight, like the 16000 patched in


def patch_png_size(data: bytes, width: int, height: int) -> bytes:
    """The first IHDR chunk in ``data`` (a PNG file, or a stream holding one) made to declare ``width`` x
    ``height``, with its CRC fixed: the pixel data stays as small as it was."""
    at = data.index(b"IHDR")
    body = struct.pack(">II", width, height) + data[at + 12:at + 17]
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + body) & 0xFFFFFFFF)
    return data[:at + 4] + body + crc + data[at + 21:]


def png_declaring(path: Path, width: int, height: int, mode: str = "RGBA") -> Path:
    """An 86-byte PNG whose header says ``width`` x ``height``."""
    small = path.with_name(path.stem + "-small.png")
    Image.new(mode, (16, 16), (255, 0, 0, 255) if mode == "RGBA" else 128).save(small)
    path.write_bytes(patch_png_size(small.read_bytes(), width, height))
    small.unlink()
    return path


def mkv_declaring(path: Path, side: int, pix_fmt: str = "rgba64be") -> Path:
    """A 2 KB Matroska file holding one PNG frame of 16-bit RGBA, whose track header and PNG header both
    say ``side`` x ``side`` (the issue's 16000x16000 upload, without its 2 MB of pixels)."""
    small = path.with_name(path.stem + "-small.mkv")
    ffmpeg("-f", "lavfi", "-i", f"color=red:s={MKV_SIDE}x{MKV_SIDE}:d=1", "-frames:v", "1", "-c:v", "png",
           "-pix_fmt", pix_fmt, str(small))
    data = small.read_bytes()
    small.unlink()
    if side == MKV_SIDE:
        path.write_bytes(data)
        return path
    was, now = MKV_SIDE.to_bytes(2, "big"), side.to_bytes(2, "big")
    for element in (b"\xb0\x82", b"\xba\x82"):               # PixelWidth, PixelHeight: 2-byte unsigned
        assert data.count(element + was) == 1
        data = data.replace(element + was, element + now)
    path.write_bytes(patch_png_size(data, side, side))
    return path
