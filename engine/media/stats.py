"""Measurements for ``m.enhance``: a picture's levels and colour, a mix's loudness, and the corrections
derived from them.

Pictures are measured where FFmpeg's ``eq`` filter works: 8-bit Y'CbCr, video range (Y' 16 to 235,
chroma around 128), so a grade derived here means the same numbers to ``eq``. A picture's statistics
are the low and high percentiles of its luma, its mean luma, and its mean chroma distance from grey.

The grade (:func:`grade_for`) only ever widens: levels are stretched towards the video range, midtones
lifted or lowered only when the mean is far from the middle, saturation raised only when it is low,
and each within a cap. A picture already spanning the range with healthy colour gets the identity,
which the graph leaves out entirely.

Loudness is measured by FFmpeg's ``ebur128`` (EBU R128) on the whole mix, read from the metadata file
that ``ametadata`` writes (:func:`read_r128`), and applied by ``loudnorm`` in its linear mode where the
true peak allows it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from PIL import Image

LOW_PERCENTILE: Final = 1.0
HIGH_PERCENTILE: Final = 99.0
BLACK: Final = 16.0                 # video-range luma
WHITE: Final = 235.0
MAX_CONTRAST: Final = 1.8
GOOD_STRETCH: Final = 1.25          # levels spanning 1/1.25 of the video range are left alone; narrower ones are
                                    # stretched by what they lack beyond that (continuous: no jump at the edge)
FLAT_SPAN: Final = 10.0             # a picture this flat (one colour, a black frame) is not stretched
MAX_BRIGHTNESS: Final = 0.12        # eq's brightness, in fractions of the full 8-bit range
DARK_MEAN: Final = 0.30             # midtones are lifted when the stretched mean is below this (of the range) ...
BRIGHT_MEAN: Final = 0.70           # ... or lowered when above this
GAMMA_LIMITS: Final = (0.8, 1.5)
GREY_CHROMA: Final = 3.0            # a picture this grey has no colour to raise
HEALTHY_CHROMA: Final = 20.0        # mean chroma distance from grey that saturation is raised towards
MIN_GAIN: Final = 1.04              # a smaller correction is not worth making
MAX_SATURATION: Final = 1.5
SILENCE_LUFS: Final = -69.0         # ebur128 reports -70 for silence
TARGET_TRUE_PEAK: Final = -1.0      # dBTP: the streaming services' ceiling
MIN_TARGET_LRA: Final = 11.0


@dataclass(frozen=True, slots=True)
class PictureStats:
    """A picture's levels (video-range luma) and colour (mean chroma distance from grey, 8-bit units)."""

    low: float
    high: float
    mean: float
    chroma: float


@dataclass(frozen=True, slots=True)
class Grade:
    """FFmpeg ``eq`` settings: ``v' = contrast * (v - 0.5) + 0.5 + brightness``, then ``v'^(1/gamma)``
    (v: luma over 255); chroma scaled by ``saturation`` around grey."""

    contrast: float = 1.0
    brightness: float = 0.0
    gamma: float = 1.0
    saturation: float = 1.0

    @property
    def is_identity(self) -> bool:
        return (self.contrast, self.brightness, self.gamma, self.saturation) == (1.0, 0.0, 1.0, 1.0)

    def to_dict(self) -> dict[str, float]:
        return {"contrast": self.contrast, "brightness": self.brightness, "gamma": self.gamma,
                "saturation": self.saturation}


def stats_of(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> PictureStats:
    """The statistics of a picture's planes (same shape, 8-bit video range)."""
    y, u, v = (np.asarray(p, dtype=np.float64).ravel() for p in (y, u, v))
    low, high = np.percentile(y, [LOW_PERCENTILE, HIGH_PERCENTILE])
    chroma = np.hypot(u - 128.0, v - 128.0)
    return PictureStats(float(low), float(high), float(y.mean()), float(chroma.mean()))


def yuv444_stats(data: bytes, width: int, height: int) -> PictureStats:
    """The statistics of raw ``yuv444p`` frames of ``width`` x ``height`` (FFmpeg's rawvideo)."""
    plane = width * height
    if not data or len(data) % (3 * plane):
        raise ValueError(f"{len(data)} bytes is not a whole number of {width}x{height} yuv444p frames")
    frames = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3, plane)
    return stats_of(frames[:, 0], frames[:, 1], frames[:, 2])


def image_stats(im: Image.Image) -> PictureStats:
    """The statistics of an RGB(A) picture as FFmpeg sees it in video-range Y'CbCr (BT.601, the matrix
    FFmpeg's scaler uses for RGB); fully transparent pixels are left out."""
    rgba = np.asarray(im.convert("RGBA"), dtype=np.float64).reshape(-1, 4)
    rgba = rgba[rgba[:, 3] > 0] if (rgba[:, 3] > 0).any() else rgba
    r, g, b = rgba[:, 0], rgba[:, 1], rgba[:, 2]
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    return stats_of(y, u, v)


def _clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


def grade_for(stats: PictureStats) -> Grade:
    """The correction for a picture with these statistics (see the module's docstring)."""
    span = stats.high - stats.low
    contrast, brightness = 1.0, 0.0
    if span >= FLAT_SPAN:
        contrast = _clamp((WHITE - BLACK) / span - (GOOD_STRETCH - 1), 1.0, MAX_CONTRAST)
        # eq pivots on 128: no more contrast than a brightness shift within its cap can keep in the range
        room = MAX_BRIGHTNESS * 255
        if stats.low < 128:
            contrast = max(1.0, min(contrast, (128 - BLACK + room) / (128 - stats.low)))
        if stats.high > 128:
            contrast = max(1.0, min(contrast, (WHITE - 128 + room) / (stats.high - 128)))
        # the least shift that keeps the stretched levels inside the video range (they fit: contrast x span
        # is less than the range); nothing stretched, nothing moved
        low, high = (contrast * (level - 128) + 128 for level in (stats.low, stats.high))
        shift = max(0.0, BLACK - low) + min(0.0, WHITE - high) if contrast > 1 else 0.0
        brightness = _clamp(shift / 255, -MAX_BRIGHTNESS, MAX_BRIGHTNESS)
    mean = _clamp(contrast * (stats.mean / 255 - 0.5) + 0.5 + brightness, 1 / 255, 254 / 255)
    placed = (mean * 255 - BLACK) / (WHITE - BLACK)
    gamma = 1.0
    if span >= FLAT_SPAN and not DARK_MEAN <= placed <= BRIGHT_MEAN:
        wanted = (BLACK + (WHITE - BLACK) * _clamp(placed, DARK_MEAN, BRIGHT_MEAN)) / 255
        gamma = _clamp(math.log(mean) / math.log(wanted), *GAMMA_LIMITS)
    saturation = 1.0
    if GREY_CHROMA <= stats.chroma < HEALTHY_CHROMA / MIN_GAIN:
        saturation = min(MAX_SATURATION, HEALTHY_CHROMA / stats.chroma)
    return Grade(round(contrast, 3), round(brightness, 3), round(gamma, 3), round(saturation, 3))


# ---------------------------------------------------------------- loudness


@dataclass(frozen=True, slots=True)
class Loudness:
    """An EBU R128 measurement of a mix (``integrated`` LUFS, ``lra`` LU, ``true_peak`` dBTP) and the
    target it is brought to: the values FFmpeg's ``loudnorm`` takes for its second pass."""

    integrated: float
    lra: float
    true_peak: float
    target: float

    @property
    def threshold(self) -> float:
        """The relative gate (integrated - 10 LU), as loudnorm's first pass reports it."""
        return self.integrated - 10.0

    @property
    def target_lra(self) -> float:
        """Wide enough that loudnorm keeps the mix's own dynamics (its linear mode needs target >= measured)."""
        return _clamp(max(MIN_TARGET_LRA, self.lra + 1.0), 1.0, 50.0)

    @property
    def linear(self) -> bool:
        """Whether one gain reaches the target within the true-peak ceiling (else loudnorm compresses)."""
        return self.true_peak + self.target - self.integrated <= TARGET_TRUE_PEAK

    @property
    def silent(self) -> bool:
        return self.integrated <= SILENCE_LUFS

    def loudnorm_options(self) -> dict[str, str]:
        return {"I": f"{self.target:g}", "LRA": f"{self.target_lra:g}", "TP": f"{TARGET_TRUE_PEAK:g}",
                "measured_I": f"{self.integrated:.2f}", "measured_LRA": f"{self.lra:.2f}",
                "measured_TP": f"{self.true_peak:.2f}", "measured_thresh": f"{self.threshold:.2f}",
                "linear": "true", "print_format": "none"}


_R128_LINE: Final = re.compile(r"^lavfi\.r128\.(I|LRA|true_peak)=(-?[0-9.]+|-?inf|nan)$")


def read_r128(path: Path, target: float) -> Loudness:
    """The last integrated loudness and range, and the highest true peak, in an ``ametadata`` file of
    ``ebur128`` (``metadata=1``, ``peak=true``) frames; ValueError when the file holds none."""
    last: dict[str, float] = {}
    peak = 0.0
    for line in path.read_text(encoding="ascii", errors="replace").splitlines():
        match = _R128_LINE.match(line.strip())
        if match is None:
            continue
        key, value = match.group(1), float(match.group(2))
        if key == "true_peak":
            peak = max(peak, value) if math.isfinite(value) else peak
        elif math.isfinite(value):
            last[key] = value
    if "I" not in last:
        raise ValueError(f"{path.name} holds no EBU R128 measurement")
    true_peak = 20 * math.log10(peak) if peak > 0 else -99.0
    return Loudness(last["I"], last.get("LRA", 0.0), round(true_peak, 2), target)
