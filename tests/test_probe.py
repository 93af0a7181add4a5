"""Probing: media is known by its content, anything else is a typed error, and what the headers declare is held
to the caps before anything is decoded (in process, and in the limited child the API uses)."""

from __future__ import annotations

import resource
import time
from pathlib import Path

import pytest

from engine.config import ProbeLimits
from engine.errors import MediaNotFound, MediaOverLimit, MediaUnsupported
from engine.media.isolated import probe_isolated
from engine.media.probe import probe
from tests.conftest import ffmpeg
from tests.crafted import MKV_SIDE, mkv_declaring, png_declaring


def test_video_audio_and_stills(media) -> None:
    clip = probe(media.pattern)
    assert (clip.kind, clip.format, clip.duration_ms, clip.width, clip.height) == ("video", "mp4", 3000, 320, 180)
    assert clip.video.fps == 30 and clip.has_audio and clip.audio.codec == "aac"
    song = probe(media.music)
    assert (song.kind, song.format, song.video, song.duration_ms) == ("audio", "mp3", None, 5000)
    png = probe(media.green_png)
    assert (png.kind, png.format, png.width, png.height, png.duration_ms) == ("image", "png", 64, 36, None)
    gif = probe(media.gif)                                       # a draft uses its first frame, but its
    assert (gif.kind, gif.video.frames, gif.duration_ms, gif.video.fps) == ("image", 3, 300, 10.0)   # timing shows
    assert probe(media.webp).video.frames == 1 and probe(media.webp).duration_ms is None


def test_orientation_is_applied_to_the_size(media) -> None:
    assert (probe(media.halves).width, probe(media.halves).height, probe(media.halves).video.rotation) == (90, 160, 90)
    assert (probe(media.yellow_jpg_rot).width, probe(media.yellow_jpg_rot).height) == (40, 80)


def test_a_renamed_file_is_known_by_its_content(media, tmp_path) -> None:
    disguised = tmp_path / "song.png"
    disguised.write_bytes(media.music.read_bytes())
    assert probe(disguised).kind == "audio"


@pytest.mark.parametrize("name", ["notes.mp4", "truncated.mp4", "run.mov", "noise.png"])
def test_junk_is_unsupported(media, name: str) -> None:
    with pytest.raises(MediaUnsupported):
        probe(media.dir / name)


def test_playlists_and_empty_files_are_refused(tmp_path) -> None:
    playlist = tmp_path / "list.m3u8"
    playlist.write_text("#EXTM3U\n#EXTINF:10,\nhttp://127.0.0.1/secret.ts\n")
    concat = tmp_path / "list.txt"
    concat.write_text("ffconcat version 1.0\nfile '/etc/passwd'\n")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    for path in (playlist, concat, empty):
        with pytest.raises(MediaUnsupported):
            probe(path)
    with pytest.raises(MediaNotFound):
        probe(tmp_path / "missing.mp4")


# ---------------------------------------------------------------- caps from the headers, before any decode


@pytest.mark.parametrize(("name", "cap", "at"), [
    ("green_png", "max_width", 64), ("green_png", "max_height", 36), ("green_png", "max_pixels", 64 * 36),
    ("green_png", "max_frame_bytes", 64 * 36 * 4),            # Pillow keeps RGB in 4 bytes a pixel
    ("red", "max_width", 160), ("red", "max_height", 90), ("red", "max_pixels", 160 * 90),
    ("red", "max_frame_bytes", 160 * 90 * 3 // 2),             # yuv420p: 1.5 bytes a pixel
    ("pattern", "max_streams", 2), ("pattern", "max_duration_s", 3.0),
])
def test_each_cap_takes_a_file_at_it_and_refuses_one_unit_over(media, name: str, cap: str, at: float) -> None:
    path = getattr(media, name)
    assert probe(path, ProbeLimits(**{cap: at})).kind in ("image", "video")
    below = at - 0.001 if isinstance(at, float) else at - 1
    with pytest.raises(MediaOverLimit) as err:
        probe(path, ProbeLimits(**{cap: below}))
    assert (err.value.limit, err.value.value, err.value.maximum) == (f"probe_{cap}", at, below)
    assert f"probe_{cap}" in err.value.reason


def test_the_frame_cost_follows_the_pixel_format(tmp_path: Path) -> None:
    deep = mkv_declaring(tmp_path / "deep.mkv", MKV_SIDE)                    # PNG frames, 16-bit RGBA
    flat = tmp_path / "flat.mkv"
    ffmpeg("-f", "lavfi", "-i", f"color=red:s={MKV_SIDE}x{MKV_SIDE}:d=0.1", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           str(flat))
    pixels = MKV_SIDE * MKV_SIDE
    assert probe(flat, ProbeLimits(max_frame_bytes=pixels * 3 // 2)).video.pix_fmt == "yuv420p"   # 1.5 bytes
    assert probe(deep, ProbeLimits(max_frame_bytes=pixels * 8)).video.pix_fmt == "rgba64be"         # 8 bytes
    with pytest.raises(MediaOverLimit) as err:
        probe(deep, ProbeLimits(max_frame_bytes=pixels * 8 - 1))
    assert err.value.value == pixels * 8 and "rgba64be" in err.value.reason


def test_a_png_header_declaring_a_huge_picture_is_refused_without_decoding(tmp_path: Path) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    wide = png_declaring(tmp_path / "wide.png", 9000, 4000)
    with pytest.raises(MediaOverLimit) as err:
        probe(wide)
    assert (err.value.limit, err.value.value, err.value.maximum) == ("probe_max_width", 9000, 8192)
    with pytest.raises(MediaOverLimit) as err:
        probe(png_declaring(tmp_path / "huge.png", 16000, 16000))       # past Pillow's own guard as well
    assert err.value.limit == "probe_max_pixels"
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000     # kB: nothing was decoded


# ---------------------------------------------------------------- in a limited child


def test_a_child_probe_gives_the_same_answers(media) -> None:
    for path in (media.pattern, media.music, media.green_png, media.gif, media.halves):
        assert probe_isolated(path, ProbeLimits()) == probe(path)
    for name in ("notes.mp4", "truncated.mp4"):
        with pytest.raises(MediaUnsupported):
            probe_isolated(media.dir / name, ProbeLimits())
    with pytest.raises(MediaNotFound):
        probe_isolated(media.dir / "missing.mp4", ProbeLimits())


def test_a_2_kb_mkv_declaring_a_16000_pixel_16_bit_frame_is_refused_fast(tmp_path: Path) -> None:
    huge = mkv_declaring(tmp_path / "huge.mkv", 16000)
    assert huge.stat().st_size < 4096
    started = time.monotonic()
    with pytest.raises(MediaOverLimit) as err:
        probe_isolated(huge, ProbeLimits())
    assert (err.value.limit, err.value.value, err.value.maximum) == ("probe_max_width", 16000, 8192)
    assert time.monotonic() - started < 15


def test_a_child_out_of_memory_or_time_is_unsupported_and_says_which(tmp_path: Path) -> None:
    big = png_declaring(tmp_path / "big.png", 5700, 5700)              # within every cap: 130 MB decoded
    with pytest.raises(MediaUnsupported) as err:
        probe_isolated(big, ProbeLimits(memory_mb=256))
    assert not isinstance(err.value, MediaOverLimit)
    assert "256 MB" in err.value.reason and "probe_memory_mb" in err.value.reason
    with pytest.raises(MediaOverLimit) as err:
        probe_isolated(big, ProbeLimits(timeout_s=0.05))
    assert err.value.limit == "probe_timeout_s" and "0.05 s" in err.value.reason
