"""Natural-looking test pictures and sound, made here (nothing is downloaded).

Benchmarks on test patterns flatter GIF encoders and codecs: flat colour bars compress to
nothing. These are synthetic landscapes instead: fractal-noise skies and clouds, layered
ridges with haze, textured ground, soft light; smooth gradients and fine detail together, as
in photographs. Deterministic for a given seed.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter


def _noise(rng: np.random.Generator, height: int, width: int, octaves: int = 6,
           persistence: float = 0.55) -> np.ndarray:
    """Fractal value noise in [0, 1]: smooth low octaves for shape, fine ones for texture."""
    out = np.zeros((height, width), dtype=np.float32)
    amplitude, total = 1.0, 0.0
    for octave in range(octaves):
        cells = 2 ** (octave + 2)
        grid = rng.random((cells + 1, cells + 1)).astype(np.float32)
        small = Image.fromarray((grid * 255).astype(np.uint8))
        layer = np.asarray(small.resize((width, height), Image.Resampling.BICUBIC), dtype=np.float32) / 255
        out += amplitude * layer
        total += amplitude
        amplitude *= persistence
    return out / total


def _ridge(rng: np.random.Generator, width: int, base: float, rough: float) -> np.ndarray:
    xs = np.linspace(0, 1, width)
    line = np.full(width, base)
    for octave in range(7):
        freq = 2 ** octave * rng.uniform(1.5, 2.5)
        line += rough / (1.8 ** octave) * np.sin(2 * math.pi * freq * xs + rng.uniform(0, 6.3))
    return line


def landscape(seed: int, width: int = 1920, height: int = 1080) -> Image.Image:
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    hue = rng.uniform(0, 1)
    top = np.array([0.25 + 0.3 * hue, 0.45 + 0.2 * hue, 0.85], dtype=np.float32)
    horizon = np.array([0.95, 0.75 - 0.2 * hue, 0.55 + 0.2 * hue], dtype=np.float32)
    sky = top * (1 - y[..., None]) + horizon * y[..., None]
    clouds = _noise(rng, height, width, octaves=7)
    cloud_mask = np.clip((clouds - 0.5) * 3.5, 0, 1)[..., None] * (1 - y[..., None]) ** 0.5
    img = sky * (1 - 0.8 * cloud_mask) + 0.97 * cloud_mask * 0.8
    sun_x, sun_y = rng.uniform(0.2, 0.8), rng.uniform(0.15, 0.4)
    xx = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    glow = np.exp(-(((xx - sun_x) * width / height) ** 2 + (y - sun_y) ** 2) / 0.01)[..., None]
    img = img + glow * np.array([1.0, 0.9, 0.7], dtype=np.float32) * 0.6
    rows = np.arange(height)[:, None]
    for layer in range(4):
        depth = layer / 3
        line = _ridge(rng, width, 0.45 + 0.13 * layer, 0.08 * (1.2 - depth)) * height
        mask = (rows > line[None, :])[..., None]
        tex = _noise(rng, height, width, octaves=8, persistence=0.5 + 0.15 * depth)[..., None]
        grain = rng.normal(0, 0.04 + 0.08 * depth, (height, width)).astype(np.float32)[..., None]
        tex = np.clip(tex + grain * (0.4 + depth), 0, 1)
        base = np.array([0.15 + 0.2 * rng.random(), 0.25 + 0.25 * rng.random(), 0.2 + 0.15 * rng.random()])
        colour = base * (0.55 + 0.6 * tex) * (0.5 + 0.5 * depth)
        haze = (1 - depth) * 0.55
        colour = colour * (1 - haze) + horizon * haze
        img = np.where(mask, colour, img)
    img = np.clip(img, 0, 1)
    picture = Image.fromarray((img * 255).astype(np.uint8), "RGB")
    return picture.filter(ImageFilter.UnsharpMask(radius=1.2, percent=60, threshold=2))


def save_landscapes(directory: Path, count: int, width: int = 1920, height: int = 1080, seed: int = 7) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = directory / f"photo-{index}.jpg"
        if not path.exists():
            landscape(seed + index, width, height).save(path, quality=92)
        paths.append(path)
    return paths


def music(path: Path, seconds: float, rate: int = 48_000) -> Path:
    """A soft chord progression with a pulse: music-like, so AAC has something real to encode."""
    t = np.arange(int(seconds * rate)) / rate
    chords = [(220.0, 277.18, 329.63), (196.0, 246.94, 293.66), (174.61, 220.0, 261.63), (196.0, 246.94, 329.63)]
    out = np.zeros_like(t)
    for index, chord in enumerate(chords * int(seconds // 8 + 1)):
        start, end = index * 2.0, index * 2.0 + 2.0
        part = (t >= start) & (t < end)
        local = t[part] - start
        env = np.minimum(1, local * 8) * np.exp(-local * 0.6)
        for freq in chord:
            out[part] += 0.12 * env * np.sin(2 * np.pi * freq * t[part])
        out[part] += 0.05 * np.sin(2 * np.pi * 55 * t[part]) * (np.sin(2 * np.pi * 2 * local) > 0)
    stereo = np.stack([out, np.roll(out, 240)], axis=1)
    pcm = (np.clip(stereo, -1, 1) * 32767).astype("<i2")
    import wave

    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm.tobytes())
    return path
