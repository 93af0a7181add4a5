"""Probing: media is known by its content, and anything else is a typed error."""

from __future__ import annotations

import pytest

from engine.errors import MediaNotFound, MediaUnsupported
from engine.media.probe import probe


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
