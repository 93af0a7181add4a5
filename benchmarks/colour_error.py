"""Colour error of an animation against its source: CIE76 and CIEDE2000 delta E per frame.

SSIM looks at structure and barely notices a hue shift (green eyes turned amber keep their
edges). Delta E in CIELAB measures the colour itself. Both sides are decoded by FFmpeg to
rgb24 and streamed frame by frame (a pipe per side, never the whole clip in memory), frames
paired by index like the SSIM in benchmarks.common. sRGB is taken as the frames' colour space
and converted to CIELAB with the D65 white point.

    python -m benchmarks.colour_error      # checks the CIEDE2000 code against Sharma's test pairs
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

# sRGB (D65) to XYZ, and the D65 reference white (IEC 61966-2-1, CIE 15)
_RGB_TO_XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]],
    dtype=np.float32,
)
_WHITE = np.array([0.95047, 1.0, 1.08883], dtype=np.float32)
_RGB_TO_XYZN = (_RGB_TO_XYZ / _WHITE[:, None]).T  # linear RGB rows to XYZ over the white
_EPS = (6 / 29) ** 3


def _linear_lut() -> np.ndarray:
    c = np.arange(256, dtype=np.float64) / 255
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)


_LINEAR = _linear_lut()


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 sRGB (..., 3) to float32 CIELAB (..., 3): L in 0..100."""
    xyz = _LINEAR[rgb] @ _RGB_TO_XYZN
    f = np.where(xyz > _EPS, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    lab = np.empty_like(f)
    lab[..., 0] = 116 * f[..., 1] - 16
    lab[..., 1] = 500 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200 * (f[..., 1] - f[..., 2])
    return lab


def delta_e76(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """Euclidean distance in CIELAB, per pixel."""
    return np.sqrt(np.sum((lab1 - lab2) ** 2, axis=-1))


def delta_e2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 per pixel (Sharma, Wu and Dalal 2005), vectorised; kL = kC = kH = 1."""
    l1, a1, b1 = (lab1[..., i].astype(np.float64) for i in range(3))
    l2, a2, b2 = (lab2[..., i].astype(np.float64) for i in range(3))
    c_bar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    c7 = c_bar**7
    g = 0.5 * (1 - np.sqrt(c7 / (c7 + 25.0**7)))
    a1p, a2p = a1 * (1 + g), a2 * (1 + g)
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    dl = l2 - l1
    dc = c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(c1p * c2p == 0, 0.0, dh)
    dH = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    l_bar = (l1 + l2) / 2
    c_bar_p = (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_bar = np.where(
        c1p * c2p == 0,
        h_sum,
        np.where(np.abs(h1p - h2p) <= 180, h_sum / 2, np.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2)),
    )
    t = (
        1
        - 0.17 * np.cos(np.radians(h_bar - 30))
        + 0.24 * np.cos(np.radians(2 * h_bar))
        + 0.32 * np.cos(np.radians(3 * h_bar + 6))
        - 0.20 * np.cos(np.radians(4 * h_bar - 63))
    )
    d_theta = 30 * np.exp(-(((h_bar - 275) / 25) ** 2))
    c7p = c_bar_p**7
    r_c = 2 * np.sqrt(c7p / (c7p + 25.0**7))
    l50 = (l_bar - 50) ** 2
    s_l = 1 + 0.015 * l50 / np.sqrt(20 + l50)
    s_c = 1 + 0.045 * c_bar_p
    s_h = 1 + 0.015 * c_bar_p * t
    r_t = -np.sin(np.radians(2 * d_theta)) * r_c
    return np.sqrt((dl / s_l) ** 2 + (dc / s_c) ** 2 + (dH / s_h) ** 2 + r_t * (dc / s_c) * (dH / s_h))


# ---------------------------------------------------------------- frames from FFmpeg


def probe_size(ffmpeg: str, path: Path, filters: str | None = None) -> tuple[int, int]:
    """Width and height of the first frame FFmpeg gives for ``path`` after ``filters``."""
    vf = f"{filters}," if filters else ""
    proc = subprocess.run(
        [ffmpeg, "-nostdin", "-hide_banner", "-v", "info", "-i", str(path), "-frames:v", "1",
         "-vf", f"{vf}showinfo", "-f", "null", "-"],
        capture_output=True, text=True, check=False,
    )
    for line in proc.stderr.splitlines():
        if " s:" in line:
            w, h = line.split(" s:", 1)[1].split()[0].split("x")
            return int(w), int(h)
    raise RuntimeError(f"could not read the frame size of {path}: {proc.stderr[-300:]}")


def frames(ffmpeg: str, path: Path, size: tuple[int, int], filters: str | None = None) -> Iterator[np.ndarray]:
    """``path``'s frames as uint8 (h, w, 3) sRGB arrays, one at a time, every decoded frame kept."""
    width, height = size
    vf = f"{filters},format=rgb24" if filters else "format=rgb24"
    proc = subprocess.Popen(
        [ffmpeg, "-nostdin", "-v", "error", "-i", str(path), "-map", "0:v:0", "-vf", vf,
         "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    frame_bytes = width * height * 3
    try:
        while True:
            data = proc.stdout.read(frame_bytes)
            if len(data) < frame_bytes:
                break
            yield np.frombuffer(data, np.uint8).reshape(height, width, 3)
    finally:
        proc.stdout.close()
        proc.kill()
        proc.wait()


def frame_at(ffmpeg: str, path: Path, index: int, size: tuple[int, int], filters: str | None = None) -> np.ndarray:
    """One frame by its decode index (the same counting as :func:`frames`)."""
    pick = f"select=eq(n\\,{index})"
    chain = f"{filters},{pick}" if filters else pick
    for frame in frames(ffmpeg, path, size, chain):
        return frame.copy()
    raise RuntimeError(f"{path} has no frame {index}")


@dataclass(frozen=True, slots=True)
class ColourError:
    """Mean delta E per frame, over frames paired by index; the worst frame and where it is."""

    de76_mean: float  # mean over frames of each frame's mean CIE76 delta E
    de76_worst: float  # the highest frame mean
    de76_worst_frame: int
    de2000_mean: float | None
    de2000_worst: float | None
    de2000_worst_frame: int | None
    frames_compared: int
    per_frame_de76: list[float]
    per_frame_de2000: list[float] | None

    def to_dict(self, per_frame: bool = True) -> dict[str, Any]:
        out = asdict(self)
        if not per_frame:
            out.pop("per_frame_de76")
            out.pop("per_frame_de2000")
        return out


def colour_error(ffmpeg: str, test: Path, ref: Path, ref_filters: str, *, ciede2000: bool = True) -> ColourError:
    """Delta E of every frame of ``test`` (a GIF) against ``ref`` after ``ref_filters``, by index.

    The shorter stream sets the count (a GIF that merged identical frames has fewer).
    """
    size = probe_size(ffmpeg, ref, ref_filters)
    test_size = probe_size(ffmpeg, test)
    scale = None if test_size == size else f"scale={size[0]}:{size[1]}:flags=lanczos"
    per76: list[float] = []
    per00: list[float] = []
    for test_frame, ref_frame in zip(frames(ffmpeg, test, size, scale), frames(ffmpeg, ref, size, ref_filters),
                                     strict=False):
        lab_t, lab_r = srgb_to_lab(test_frame), srgb_to_lab(ref_frame)
        per76.append(float(delta_e76(lab_t, lab_r).mean()))
        if ciede2000:
            per00.append(float(delta_e2000(lab_t, lab_r).mean()))
    if not per76:
        raise RuntimeError(f"no frames to compare in {test} and {ref}")
    worst76 = int(np.argmax(per76))
    worst00 = int(np.argmax(per00)) if per00 else None
    return ColourError(
        de76_mean=round(float(np.mean(per76)), 3),
        de76_worst=round(per76[worst76], 3),
        de76_worst_frame=worst76,
        de2000_mean=round(float(np.mean(per00)), 3) if per00 else None,
        de2000_worst=round(per00[worst00], 3) if worst00 is not None else None,
        de2000_worst_frame=worst00,
        frames_compared=len(per76),
        per_frame_de76=[round(v, 3) for v in per76],
        per_frame_de2000=[round(v, 3) for v in per00] if per00 else None,
    )


# ---------------------------------------------------------------- self-check

# Sharma, Wu and Dalal (2005), table 1: (L1, a1, b1, L2, a2, b2, delta E 2000), a few of the 34 pairs
_SHARMA = [
    (50.0, 2.6772, -79.7751, 50.0, 0.0, -82.7485, 2.0425),
    (50.0, 3.1571, -77.2803, 50.0, 0.0, -82.7485, 2.8615),
    (50.0, -1.3802, -84.2814, 50.0, 0.0, -82.7485, 1.0000),
    (50.0, 0.0, 0.0, 50.0, -1.0, 2.0, 2.3669),
    (50.0, 2.49, -0.001, 50.0, -2.49, 0.0011, 7.2195),
    (50.0, 2.5, 0.0, 73.0, 25.0, -18.0, 27.1492),
    (60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644),
    (22.7233, 20.0904, -46.694, 23.0331, 14.973, -42.5619, 2.0373),
    (90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381),
    (2.0776, 0.0795, -1.135, 0.9033, -0.0636, -0.5514, 0.9082),
]


def self_check() -> None:
    pairs = np.array(_SHARMA)
    got = delta_e2000(pairs[:, 0:3], pairs[:, 3:6])
    assert np.allclose(got, pairs[:, 6], atol=1e-4), (got, pairs[:, 6])
    white = srgb_to_lab(np.array([[255, 255, 255]], np.uint8))[0]
    assert np.allclose(white, [100, 0, 0], atol=0.05), white
    red = srgb_to_lab(np.array([[255, 0, 0]], np.uint8))[0]
    assert np.allclose(red, [53.24, 80.09, 67.20], atol=0.05), red


if __name__ == "__main__":
    self_check()
    sys.stdout.write("colour_error: CIEDE2000 matches Sharma's pairs; sRGB white and red land where they should\n")
