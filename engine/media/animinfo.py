"""Frames, timing and looping of animated GIF and WebP files, read from their blocks.

Checking a rendered GIF with Pillow means decoding every frame (twice, to count them and then
to add up their delays); these readers walk the file's blocks instead and decode nothing, so
checking an output costs milliseconds whatever its length.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass


class NotAnimation(ValueError):
    """The bytes are not a well-formed GIF or WebP."""


@dataclass(frozen=True, slots=True)
class AnimationInfo:
    format: str           # "gif" or "webp"
    width: int
    height: int
    frames: int
    duration_ms: int
    loop: int | None      # 0 forever, N more times (GIF) / N plays (WebP); None: no loop block


def gif_sub_blocks(data: bytes, pos: int) -> int:
    """Skip a chain of data sub-blocks; return the position after the terminator."""
    while True:
        if pos >= len(data):
            raise NotAnimation("GIF ends inside a block")
        size = data[pos]
        pos += 1
        if size == 0:
            return pos
        pos += size


def gif_info(data: bytes) -> AnimationInfo:
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 13:
        raise NotAnimation("not a GIF")
    width, height, flags = struct.unpack_from("<HHB", data, 6)
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    frames = duration = 0
    loop: int | None = None
    delay = 0
    while pos < len(data):
        kind = data[pos]
        if kind == 0x3B:                                        # trailer
            break
        if kind == 0x21:                                        # extension
            label = data[pos + 1]
            if label == 0xF9 and data[pos + 2] >= 4:            # graphic control: the next frame's delay
                delay = struct.unpack_from("<H", data, pos + 4)[0]
            elif label == 0xFF and data[pos + 3: pos + 14] == b"NETSCAPE2.0" and data[pos + 15] == 1:
                loop = struct.unpack_from("<H", data, pos + 16)[0]
            pos = gif_sub_blocks(data, pos + 2)
        elif kind == 0x2C:                                      # image
            packed = data[pos + 9]
            pos += 10 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0)
            pos = gif_sub_blocks(data, pos + 1)                # LZW minimum code size, then the data
            frames += 1
            duration += delay * 10
            delay = 0
        else:
            raise NotAnimation(f"unexpected GIF block 0x{kind:02x}")
    return AnimationInfo("gif", width, height, frames, duration, loop)


def webp_info(data: bytes) -> AnimationInfo:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise NotAnimation("not a WebP")
    pos, end = 12, min(len(data), 8 + struct.unpack_from("<I", data, 4)[0])
    width = height = frames = duration = 0
    loop: int | None = None
    while pos + 8 <= end:
        tag, size = data[pos: pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if tag == b"VP8X":
            width = 1 + int.from_bytes(data[body + 4: body + 7], "little")
            height = 1 + int.from_bytes(data[body + 7: body + 10], "little")
        elif tag == b"ANIM":
            loop = struct.unpack_from("<H", data, body + 4)[0]
        elif tag == b"ANMF":
            frames += 1
            duration += int.from_bytes(data[body + 12: body + 15], "little")
        elif tag in (b"VP8 ", b"VP8L") and frames == 0:
            frames = 1                                          # a still WebP
        pos = body + size + (size & 1)
    if frames == 0:
        raise NotAnimation("WebP without frames")
    return AnimationInfo("webp", width, height, frames, duration, loop)
