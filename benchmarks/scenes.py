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


# ---------------------------------------------------------------- stills with small saturated details
#
# For the GIF benchmark's second clip: four scenes whose hues differ, each with a small, saturated
# detail (an orange suit, green eyes, red and magenta flowers, a cyan balloon). A single palette
# for the whole clip is fitted mostly to the large areas, so these details are what it loses.


def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates, both in units of the picture's height (so circles stay round)."""
    ys = (np.arange(height, dtype=np.float32)[:, None] + 0.5) / height
    xs = (np.arange(width, dtype=np.float32)[None, :] + 0.5) / height
    return np.broadcast_to(xs, (height, width)), np.broadcast_to(ys, (height, width))


def _ellipse(xs: np.ndarray, ys: np.ndarray, cx: float, cy: float, rx: float, ry: float, angle: float = 0.0,
             soft: float = 0.002) -> tuple[np.ndarray, np.ndarray]:
    """An anti-aliased ellipse's coverage, and a round-body shading for it (light from the upper left)."""
    c, s = math.cos(angle), math.sin(angle)
    dx, dy = xs - cx, ys - cy
    u = (dx * c + dy * s) / rx
    v = (-dx * s + dy * c) / ry
    r = np.sqrt(u * u + v * v)
    cover = np.clip((1 - r) * min(rx, ry) / soft + 0.5, 0, 1)
    nz = np.sqrt(np.clip(1 - r * r, 0, 1))
    light = np.clip(-0.45 * (dx / rx) - 0.55 * (dy / ry) + 0.7 * nz, 0, 1)
    return cover[..., None], (0.3 + 0.8 * light)[..., None]


def _over(img: np.ndarray, cover: np.ndarray, colour: np.ndarray) -> np.ndarray:
    return img * (1 - cover) + colour * cover


def _finish(img: np.ndarray, rng: np.random.Generator, grain: float = 0.012) -> Image.Image:
    """Sensor-like grain, then a light unsharp mask, as a camera would leave it."""
    img = img + rng.normal(0, grain, img.shape[:2]).astype(np.float32)[..., None]
    picture = Image.fromarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8), "RGB")
    return picture.filter(ImageFilter.UnsharpMask(radius=1.2, percent=50, threshold=2))


def _blur(layer: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of a float plane (Pillow's blur takes 8-bit planes only)."""
    half = max(1, int(3 * sigma + 0.5))
    taps = np.exp(-(np.arange(-half, half + 1, dtype=np.float32) ** 2) / (2 * sigma * sigma))
    taps /= taps.sum()
    rows = np.apply_along_axis(lambda r: np.convolve(r, taps, mode="same"), 1, layer)
    return np.apply_along_axis(lambda c: np.convolve(c, taps, mode="same"), 0, rows)


def _stretched(rng: np.random.Generator, height: int, width: int, cells_y: int, cells_x: int) -> np.ndarray:
    """Random values on a coarse grid, resized smoothly: streaks along the longer cell side."""
    grid = rng.random((cells_y, cells_x)).astype(np.float32)
    return np.asarray(Image.fromarray(grid).resize((width, height), Image.Resampling.BICUBIC))


def astronaut(seed: int, width: int = 1600, height: int = 900) -> Image.Image:
    """An astronaut in an orange suit floating over a dark blue starfield with a faint nebula."""
    rng = np.random.default_rng(seed)
    xs, ys = _grid(height, width)
    y = ys[..., None]
    img = np.array([0.01, 0.015, 0.05], np.float32) * (1 - y) + np.array([0.03, 0.05, 0.15], np.float32) * y
    nebula = _noise(rng, height, width, octaves=7)[..., None]
    img = img + np.clip(nebula - 0.45, 0, 1) * np.array([0.25, 0.12, 0.45], np.float32)
    stars = np.zeros((height, width), np.float32)
    count = 1800
    sy, sx = rng.integers(0, height, count), rng.integers(0, width, count)
    stars[sy, sx] = rng.uniform(0.3, 1.0, count) ** 3 * 6
    stars = np.clip(_blur(stars, 0.8), 0, 1)
    img = img + stars[..., None] * np.array([0.95, 0.95, 1.0], np.float32)
    # the figure, about a quarter of the height, right of centre
    cx, cy, k = 0.98, 0.47, 0.11  # centre in heights, body scale
    orange = np.array([1.0, 0.42, 0.04], np.float32)
    fabric = (0.92 + 0.16 * _noise(rng, height, width, octaves=8, persistence=0.7))[..., None]
    grey = np.array([0.55, 0.57, 0.6], np.float32)
    pack, pack_light = _ellipse(xs, ys, cx + 0.35 * k, cy - 0.15 * k, 0.55 * k, 0.8 * k, 0.3)
    img = _over(img, pack, grey * pack_light)
    parts = [
        (cx - 0.25 * k, cy + 1.05 * k, 0.22 * k, 0.7 * k, 0.35),  # legs
        (cx + 0.2 * k, cy + 1.1 * k, 0.22 * k, 0.7 * k, -0.2),
        (cx - 0.75 * k, cy - 0.1 * k, 0.2 * k, 0.6 * k, 1.1),  # arms
        (cx + 0.7 * k, cy + 0.15 * k, 0.2 * k, 0.6 * k, -0.8),
        (cx, cy + 0.2 * k, 0.6 * k, 0.75 * k, 0.1),  # torso
    ]
    for px, py, rx, ry, angle in parts:
        cover, light = _ellipse(xs, ys, px, py, rx, ry, angle)
        img = _over(img, cover, orange * light * fabric)
    for gx, gy in ((cx - 1.15 * k, cy - 0.45 * k), (cx + 1.05 * k, cy + 0.55 * k)):  # white gloves
        cover, light = _ellipse(xs, ys, gx, gy, 0.14 * k, 0.14 * k)
        img = _over(img, cover, np.array([0.92, 0.92, 0.9], np.float32) * light)
    helmet, helmet_light = _ellipse(xs, ys, cx, cy - 0.72 * k, 0.45 * k, 0.45 * k)
    img = _over(img, helmet, np.array([0.9, 0.9, 0.92], np.float32) * helmet_light)
    visor, visor_light = _ellipse(xs, ys, cx + 0.05 * k, cy - 0.7 * k, 0.32 * k, 0.26 * k)
    img = _over(img, visor, np.array([0.55, 0.38, 0.08], np.float32) * visor_light ** 2)
    shine, _ = _ellipse(xs, ys, cx - 0.08 * k, cy - 0.8 * k, 0.07 * k, 0.04 * k, -0.5)
    img = _over(img, shine * 0.8, np.array([1.0, 0.95, 0.85], np.float32))
    return _finish(img, rng)


def tabby_cat(seed: int, width: int = 1600, height: int = 900) -> Image.Image:
    """A grey-brown tabby's face filling the frame, with two small bright green eyes."""
    rng = np.random.default_rng(seed)
    xs, ys = _grid(height, width)
    aspect = width / height
    back = _noise(rng, height, width, octaves=4)[..., None]
    img = np.array([0.32, 0.24, 0.17], np.float32) * (0.6 + 0.6 * back)  # a warm, out-of-focus room
    cx, cy = aspect / 2, 0.58
    warp = _noise(rng, height, width, octaves=5)
    stripes = np.sin((xs - cx) * 4 + (ys * 26 + warp * 9)) * np.sin(ys * 7 + (xs - cx) * 3)
    tabby = np.clip(0.5 + 0.8 * stripes, 0, 1)[..., None]
    fine = _stretched(rng, height, width, height // 3, width) * 2 - 1  # fur: noise drawn out downwards
    fur_light = np.array([0.66, 0.6, 0.5], np.float32)
    fur_dark = np.array([0.22, 0.18, 0.14], np.float32)
    fur = fur_dark * tabby + fur_light * (1 - tabby)
    fur = fur * (0.9 + 0.1 * fine[..., None])
    ears = Image.new("L", (width, height), 0)
    from PIL import ImageDraw

    draw = ImageDraw.Draw(ears)
    for side in (-1, 1):
        base_x = (cx + side * 0.28) * height
        tip_x = (cx + side * 0.42) * height
        draw.polygon([(base_x - side * 0.16 * height, 0.3 * height), (tip_x, 0.03 * height),
                      (base_x + side * 0.12 * height, 0.42 * height)], fill=255)
    ear_cover = np.asarray(ears.filter(ImageFilter.GaussianBlur(2)), np.float32)[..., None] / 255
    head, head_light = _ellipse(xs, ys, cx, cy, 0.62, 0.5)
    cover = np.clip(head + ear_cover, 0, 1)
    img = _over(img, cover, fur * (0.55 + 0.5 * head_light))
    muzzle, muzzle_light = _ellipse(xs, ys, cx, cy + 0.2, 0.2, 0.13)
    pale = np.array([0.8, 0.76, 0.7], np.float32)
    img = _over(img, muzzle * 0.7, pale * muzzle_light * (0.9 + 0.1 * fine[..., None]))
    nose, nose_light = _ellipse(xs, ys, cx, cy + 0.13, 0.035, 0.022)
    img = _over(img, nose, np.array([0.85, 0.45, 0.5], np.float32) * nose_light)
    for side in (-1, 1):  # the eyes: small, bright green, with slit pupils and a catch light
        ex, ey = cx + side * 0.2, cy - 0.06
        rim, _ = _ellipse(xs, ys, ex, ey, 0.062, 0.044, side * 0.15)
        img = _over(img, rim, np.array([0.06, 0.05, 0.04], np.float32))
        iris, _ = _ellipse(xs, ys, ex, ey, 0.052, 0.036, side * 0.15)
        r = np.sqrt(((xs - ex) / 0.052) ** 2 + ((ys - ey) / 0.036) ** 2)[..., None]
        green = np.array([0.55, 0.98, 0.15], np.float32) * (1 - r) + np.array([0.08, 0.62, 0.12], np.float32) * r
        img = _over(img, iris, green)
        pupil, _ = _ellipse(xs, ys, ex, ey, 0.009, 0.032)
        img = _over(img, pupil, np.array([0.02, 0.02, 0.02], np.float32))
        glint, _ = _ellipse(xs, ys, ex - 0.018, ey - 0.014, 0.007, 0.006)
        img = _over(img, glint, np.array([1.0, 1.0, 1.0], np.float32))
    return _finish(img, rng, grain=0.015)


def meadow(seed: int, width: int = 1600, height: int = 900) -> Image.Image:
    """A green meadow under a pale sky, scattered with small red and magenta flowers."""
    rng = np.random.default_rng(seed)
    xs, ys = _grid(height, width)
    y = ys[..., None]
    sky = np.array([0.45, 0.65, 0.92], np.float32) * (1 - y) + np.array([0.85, 0.9, 0.95], np.float32) * y
    clouds = np.clip((_noise(rng, height, width, octaves=6) - 0.52) * 3, 0, 1)[..., None]
    img = sky * (1 - 0.7 * clouds) + 0.96 * 0.7 * clouds
    rows = np.arange(height)[:, None]
    trees_line = _ridge(rng, width, 0.3, 0.025) * height
    trees = (rows > trees_line[None, :])[..., None]
    tree_tex = _noise(rng, height, width, octaves=8)[..., None]
    img = np.where(trees, np.array([0.1, 0.22, 0.1], np.float32) * (0.6 + 0.8 * tree_tex), img)
    grass_top = (0.4 + 0.01 * np.sin(xs[0] * 5)) * height
    depth = np.clip((ys - 0.4) / 0.6, 0, 1)[..., None]  # 0 far, 1 near
    blades = _stretched(rng, height, width, height // 6, width)[..., None]
    patch = _noise(rng, height, width, octaves=5)[..., None]
    grass = np.array([0.22, 0.5, 0.1], np.float32) * (0.55 + 0.5 * patch) * (0.75 + 0.35 * blades * depth)
    grass = grass * (0.8 + 0.3 * depth) + np.array([0.6, 0.7, 0.8], np.float32) * 0.2 * (1 - depth)  # haze
    img = np.where((rows > grass_top[None, :])[..., None], grass, img)
    reds = [np.array([0.92, 0.06, 0.08], np.float32), np.array([0.88, 0.08, 0.68], np.float32)]
    for _ in range(260):  # near flowers are bigger; each a soft disc with a yellow centre
        fy = rng.uniform(0.45, 0.98)
        fx = rng.uniform(0.05, width / height - 0.05)
        radius = 0.004 + 0.012 * (fy - 0.45) / 0.55 * rng.uniform(0.7, 1.2)
        y0, y1 = max(0, int((fy - 2 * radius) * height)), min(height, int((fy + 2 * radius) * height) + 1)
        x0, x1 = max(0, int((fx - 2 * radius) * height)), min(width, int((fx + 2 * radius) * height) + 1)
        sub = (slice(y0, y1), slice(x0, x1))
        cover, light = _ellipse(xs[sub], ys[sub], fx, fy, radius, radius * 0.8, soft=0.0015)
        img[sub] = _over(img[sub], cover, reds[rng.integers(0, 2)] * light)
        centre, _ = _ellipse(xs[sub], ys[sub], fx, fy, radius * 0.3, radius * 0.25, soft=0.0015)
        img[sub] = _over(img[sub], centre, np.array([0.95, 0.8, 0.15], np.float32))
    return _finish(img, rng)


def sunset(seed: int, width: int = 1600, height: int = 900) -> Image.Image:
    """A sunset over the sea: purple to orange sky, a dark headland, and a small cyan balloon."""
    rng = np.random.default_rng(seed)
    xs, ys = _grid(height, width)
    aspect = width / height
    horizon = 0.66
    t = np.clip(ys / horizon, 0, 1)[..., None]
    stops = [(0.0, (0.22, 0.08, 0.32)), (0.45, (0.75, 0.25, 0.35)), (0.8, (1.0, 0.52, 0.16)), (1.0, (1.0, 0.8, 0.42))]
    sky = np.zeros((height, width, 3), np.float32)
    for (t0, c0), (t1, c1) in zip(stops, stops[1:], strict=False):
        w = np.clip((t - t0) / (t1 - t0), 0, 1)
        inside = (t >= t0) & (t <= t1)
        sky = np.where(inside, np.array(c0, np.float32) * (1 - w) + np.array(c1, np.float32) * w, sky)
    streak = _stretched(rng, height, width, height // 5, width // 90)[..., None]  # thin cloud bands
    sky = sky * (1 - 0.25 * np.clip(streak - 0.5, 0, 1)) + np.clip(streak - 0.6, 0, 1) * np.array([0.6, 0.25, 0.3])
    sun_x = aspect * 0.62
    glow = np.exp(-(((xs - sun_x) ** 2 + (ys - horizon + 0.02) ** 2) / 0.004))[..., None]
    sky = sky + glow * np.array([1.0, 0.8, 0.5], np.float32) * 0.8
    ripple = _stretched(rng, height, width, height // 3, width // 40)[..., None]
    mirror = sky[::-1]
    sea = (mirror * 0.55 + np.array([0.05, 0.04, 0.12], np.float32)) * (0.8 + 0.4 * ripple)
    sea = sea + np.exp(-((xs - sun_x) ** 2) / 0.002)[..., None] * (ys > horizon)[..., None] * ripple * 0.5
    img = np.where((ys > horizon)[..., None], sea, sky)
    rows = np.arange(height)[:, None]
    hill = (horizon - 0.2 * np.clip(1 - xs[0] / 0.7, 0, 1) ** 1.5 + 0.01 * _ridge(rng, width, 0.0, 1.0)) * height
    land = (rows > hill[None, :]) & (xs < 0.72 - 0.6 * (ys - horizon))  # the shore slopes into the sea
    img = np.where(land[..., None], np.array([0.06, 0.03, 0.07], np.float32), img)
    bx, by, r = aspect * 0.3, 0.28, 0.045  # the balloon: cyan with blue gores, a dark basket below
    cover, light = _ellipse(xs, ys, bx, by, r, r * 1.2)
    gores = (np.sin((xs - bx) / r * 7.5) > 0.2)[..., None]
    balloon = np.where(gores, np.array([0.0, 0.82, 0.95], np.float32), np.array([0.08, 0.28, 0.95], np.float32))
    img = _over(img, cover, balloon * (0.35 + 0.75 * light))
    basket, _ = _ellipse(xs, ys, bx, by + r * 1.65, r * 0.22, r * 0.16)
    img = _over(img, basket, np.array([0.15, 0.08, 0.05], np.float32))
    return _finish(img, rng)


PHOTO_SCENES = {"astronaut": astronaut, "cat": tabby_cat, "meadow": meadow, "sunset": sunset}


def save_photo_scenes(directory: Path, width: int = 1600, height: int = 900, seed: int = 12) -> list[Path]:
    """The four stills above as JPEGs, cached by name; deterministic for a given seed."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, (name, make) in enumerate(PHOTO_SCENES.items()):
        path = directory / f"{index}-{name}.jpg"
        if not path.exists():
            make(seed + index, width, height).save(path, quality=92)
        paths.append(path)
    return paths
