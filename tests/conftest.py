"""Shared fixtures: media made once per session with FFmpeg's lavfi sources and Pillow (no downloads),
and helpers that read rendered files back (frames as arrays, audio levels)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from engine.config import EngineConfig, bundled_ffmpeg
from engine.encode.encoders import CodecChoice
from engine.media.fonts import FontCatalog
from engine.media.resolve import LocalResolver
from engine.pipeline.render import RenderResult, render

FFMPEG = bundled_ffmpeg()


def ffmpeg(*args: str) -> None:
    """Run the bundled FFmpeg to make test media (tests only; the engine uses engine.run)."""
    subprocess.run([FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


@dataclass(frozen=True)
class Media:
    dir: Path
    red: Path          # 2 s, 160x90, 30 fps, solid red, 440 Hz tone
    blue: Path         # 2 s, 160x90, 30 fps, solid blue, no audio
    pattern: Path      # 3 s, 320x180, 30 fps, testsrc2, 660 Hz tone
    halves: Path       # 1 s, 160x90, red left half / blue right half, rotation metadata 90
    tall: Path         # 1 s, 90x160, solid green (portrait), no audio
    loud: Path         # 2 s, 160x90 black, full-scale 1 kHz tone
    music: Path        # 5 s mp3, 220 Hz
    green_png: Path    # 64x36 solid green
    yellow_jpg_rot: Path   # 80x40 stored, EXIF orientation 6 (shown 40x80): top half yellow as shown
    webp: Path
    gif: Path          # animated GIF, first frame magenta
    heic: Path | None
    junk_mp4: Path     # a text file named .mp4
    truncated_mp4: Path
    script_mov: Path
    noise_png: Path    # random bytes named .png


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    d = tmp_path_factory.mktemp("media")
    red, blue, pattern = d / "red.mp4", d / "blue.mp4", d / "pattern.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=red:s=160x90:r=30:d=2", "-f", "lavfi", "-i", "sine=f=440:d=2",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(red))
    ffmpeg("-f", "lavfi", "-i", "color=c=blue:s=160x90:r=30:d=2", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(blue))
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x180:r=30:d=3", "-f", "lavfi", "-i", "sine=f=660:d=3",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(pattern))
    plain = d / "halves-plain.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=red:s=80x90:r=30:d=1", "-f", "lavfi", "-i", "color=c=blue:s=80x90:r=30:d=1",
           "-filter_complex", "[0][1]hstack", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(plain))
    halves = d / "halves.mp4"
    ffmpeg("-display_rotation", "90", "-i", str(plain), "-c", "copy", str(halves))
    tall = d / "tall.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=0x00FF00:s=90x160:r=30:d=1", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           str(tall))
    loud = d / "loud.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=black:s=160x90:r=30:d=2", "-f", "lavfi", "-i",
           "aevalsrc=0.99*sin(2*PI*1000*t):s=48000:d=2", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
           "-b:a", "256k", "-shortest", str(loud))
    music = d / "music.mp3"
    ffmpeg("-f", "lavfi", "-i", "sine=f=220:d=5:sample_rate=44100", "-c:a", "libmp3lame", str(music))

    green_png = d / "green.png"
    Image.new("RGB", (64, 36), (0, 255, 0)).save(green_png)
    stored = Image.new("RGB", (80, 40), (0, 0, 255))
    stored.paste((255, 255, 0), (0, 0, 40, 40))   # left half yellow as stored → top half once turned upright
    exif = Image.Exif()
    exif[0x0112] = 6                                # rotate 90° clockwise to display
    yellow_jpg_rot = d / "rotated.jpg"
    stored.save(yellow_jpg_rot, exif=exif, quality=95)
    webp = d / "still.webp"
    Image.new("RGB", (64, 36), (255, 128, 0)).save(webp)
    gif = d / "anim.gif"
    frames = [Image.new("RGB", (64, 36), c) for c in ((255, 0, 255), (0, 255, 255), (255, 255, 255))]
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100, loop=0)
    heic: Path | None = d / "still.heic"
    try:
        from pillow_heif import register_heif_opener

        register_heif_opener()
        Image.new("RGB", (64, 36), (0, 128, 255)).save(heic, format="HEIF")
    except Exception:  # noqa: BLE001 - an encoder-less libheif build: skip the HEIC tests
        heic = None

    junk_mp4 = d / "notes.mp4"
    junk_mp4.write_text("this is not a video\n" * 50)
    truncated_mp4 = d / "truncated.mp4"
    truncated_mp4.write_bytes(pattern.read_bytes()[:2048])
    script_mov = d / "run.mov"
    script_mov.write_text("#!/bin/sh\nrm -rf /\n")
    noise_png = d / "noise.png"
    noise_png.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return Media(d, red, blue, pattern, halves, tall, loud, music, green_png, yellow_jpg_rot, webp, gif, heic,
                 junk_mp4, truncated_mp4, script_mov, noise_png)


@pytest.fixture(scope="session")
def config(tmp_path_factory: pytest.TempPathFactory) -> EngineConfig:
    return EngineConfig(ffmpeg=FFMPEG, work_dir=tmp_path_factory.mktemp("work"))


@pytest.fixture(scope="session")
def cpu_only() -> CodecChoice:
    """The codec choice of a machine without a GPU, without probing one for every render."""
    return CodecChoice("libx264", "cpu", None, "test", "test")


@pytest.fixture(scope="session")
def fonts(config: EngineConfig) -> FontCatalog:
    return FontCatalog.discover(config.font_dirs)


@pytest.fixture()
def do_render(media: Media, config: EngineConfig, cpu_only: CodecChoice, fonts: FontCatalog,
              tmp_path: Path) -> Callable[..., RenderResult]:
    """Render a draft dict whose ``src`` values are file names in the media directory."""

    def run(draft: dict[str, Any], name: str = "out.mp4", config: EngineConfig = config, **kwargs: Any) -> RenderResult:
        return render(draft, tmp_path / name, config=config, resolve=LocalResolver(media.dir), codecs=cpu_only,
                      fonts=fonts, **kwargs)

    return run


def video_frames(path: Path) -> list[np.ndarray]:
    """Every frame as an RGB array, in order."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def frame(path: Path, index: int) -> np.ndarray:
    return video_frames(path)[index]


def mean_color(img: np.ndarray, box: tuple[int, int, int, int] | None = None) -> tuple[float, float, float]:
    x0, y0, x1, y1 = box or (0, 0, img.shape[1], img.shape[0])
    region = img[y0:y1, x0:x1].reshape(-1, 3).astype(float)
    return tuple(region.mean(axis=0))  # type: ignore[return-value]


def audio_samples(path: Path) -> np.ndarray:
    """All audio as float samples (channels × n)."""
    with av.open(str(path)) as container:
        chunks = [f.to_ndarray() for f in container.decode(audio=0)]
    planar = [c if c.ndim == 2 and c.shape[0] <= 8 else c.reshape(1, -1) for c in chunks]
    return np.concatenate(planar, axis=1).astype(np.float32)


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples)))) if samples.size else 0.0


# ---------------------------------------------------------------- the API, as a real server process


@pytest.fixture(scope="session")
def api_server(tmp_path_factory: pytest.TempPathFactory):
    """``reelforge serve`` on its embedded default (two local render workers for speed)."""
    from tests.apiserver import Server

    server = Server(tmp_path_factory.mktemp("api") / "data", env={"REELFORGE_LOCAL_WORKERS": "2"}).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def strict_server(tmp_path_factory: pytest.TempPathFactory):
    """A server with small limits: 1 MB uploads, exports that cost 30 credits, private URLs allowed."""
    from tests.apiserver import Server

    env = {"REELFORGE_MAX_UPLOAD_MB": "1", "REELFORGE_EXPORT_CREDITS": "30", "REELFORGE_ALLOW_PRIVATE_URLS": "true",
           "REELFORGE_LOCAL_WORKERS": "1"}
    server = Server(tmp_path_factory.mktemp("api-strict") / "data", env=env).start()
    yield server
    server.stop()


@pytest.fixture()
def clients():
    """Makes API clients (``clients(server.base, headers=...)``) and closes them after the test."""
    from tests.apiserver import Client

    made: list[Client] = []

    def make(base: str, **kwargs: Any) -> Client:
        made.append(Client(base, **kwargs))
        return made[-1]

    yield make
    for client in made:
        client.close()
