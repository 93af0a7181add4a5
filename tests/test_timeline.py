"""Resolving a draft against its media: frames, placement, transitions, canvas and output size."""

from __future__ import annotations

from fractions import Fraction

import pytest

from engine.errors import DraftError
from engine.model.draft import parse_draft
from engine.model.mediainfo import AudioStream, MediaInfo, VideoStream
from engine.model.timeline import Blend, build_timeline


def video(name: str, ms: int = 10_000, w: int = 1920, h: int = 1080, audio: bool = True) -> MediaInfo:
    return MediaInfo(name, "video", "mp4", "mov", 1, ms, VideoStream("h264", w, h, 30.0, None, "yuv420p", 0),
                     AudioStream("aac", 48000, 2) if audio else None)


def still(name: str, w: int = 1200, h: int = 800) -> MediaInfo:
    return MediaInfo(name, "image", "jpg", None, 1, None, VideoStream("jpg", w, h, None, 1, None, 0), None)


def song(name: str, ms: int = 60_000) -> MediaInfo:
    return MediaInfo(name, "audio", "mp3", "mp3", 1, ms, None, AudioStream("mp3", 44100, 2))


MEDIA = {m.path: m for m in (video("a.mp4"), video("b.mp4", 4000), still("p.jpg"), song("m.mp3"),
                             video("portrait.mp4", w=1080, h=1920))}


def timeline(data: dict):
    return build_timeline(parse_draft(data), MEDIA)


def test_times_become_frames_by_rounding_half_up() -> None:
    tl = timeline({"m": {"fps": 30}, "t": [{"tt": 0, "sg": [{"src": "a.mp4", "st": 17, "d": 1000}]}]})
    assert tl.canvas.frame(16) == 0 and tl.canvas.frame(17) == 1   # 0.51 frames rounds up
    assert (tl.base[0].start, tl.base[0].length, tl.length) == (1, 30, 31)
    ntsc = timeline({"m": {"fps": 29.97}, "t": [{"tt": 0, "sg": [{"src": "a.mp4", "d": 10_000}]}]})
    assert ntsc.canvas.fps == Fraction(30000, 1001) and ntsc.length == 300


def test_segments_follow_each_other_and_default_to_their_source() -> None:
    segments = [{"src": "b.mp4"}, {"src": "p.jpg"}, {"src": "b.mp4", "ss": 1000, "spd": 2}]
    tl = timeline({"t": [{"tt": 0, "sg": segments}]})
    assert [(c.start, c.length) for c in tl.base] == [(0, 120), (120, 90), (210, 45)]
    assert tl.length == 255


def test_length_comes_from_pictures_and_text_not_music() -> None:
    tl = timeline({"t": [{"tt": 0, "sg": [{"src": "b.mp4"}]}, {"tt": 1, "sg": [{"src": "m.mp3"}]}]})
    assert tl.length == 120 and tl.sounds[0].length == 120                   # the song is cut at the end
    only_music = timeline({"t": [{"tt": 1, "sg": [{"src": "m.mp3", "d": 5000}]}]})
    assert only_music.length == 150


def test_looped_music_fills_the_timeline() -> None:
    tl = timeline({"d": 90_000, "t": [{"tt": 1, "sg": [{"src": "m.mp3", "loop": True}]}]})
    assert tl.sounds[0].length == tl.length == 2700


def test_segments_shorter_than_a_frame_are_refused() -> None:
    with pytest.raises(DraftError) as err:
        timeline({"t": [{"tt": 0, "sg": [{"src": "p.jpg", "d": 10}, {"src": "p.jpg", "d": 1000}]}]})
    assert [(i.path, i.rule) for i in err.value.issues] == [("t[0].sg[0].d", "min_length")]


def test_overlaps_and_bad_sources_are_all_reported() -> None:
    with pytest.raises(DraftError) as err:
        timeline({"t": [{"tt": 0, "sg": [{"src": "a.mp4", "d": 3000}, {"src": "b.mp4", "st": 2000},
                                         {"src": "m.mp3"}, {"src": "missing.mp4"}, {"src": "b.mp4", "ss": 9000}]},
                        {"tt": 1, "sg": [{"src": "p.jpg"}]}]})
    found = {(i.path, i.rule) for i in err.value.issues}
    assert {("t[0].sg[1].st", "no_overlap"), ("t[0].sg[2].src", "has_picture"), ("t[0].sg[3].src", "media_known"),
            ("t[0].sg[4].ss", "within_source"), ("t[1].sg[0].src", "has_audio")} <= found


def test_transitions_are_centred_on_the_cut() -> None:
    tl = timeline({"t": [{"tt": 0, "sg": [{"src": "a.mp4", "d": 2000, "tr": {"in": "fade", "out": "fadeblack"}},
                                          {"src": "p.jpg", "d": 2000,
                                           "tr": {"in": {"type": "wipeleft", "d": 1000}}}]}]})
    first, second = tl.base
    assert first.enter == Blend("fade", 0, 15)             # at the very start: inside the clip
    assert first.exit == second.enter == Blend("wipeleft", 15, 15)
    assert (first.extent, second.extent) == (75, 75)       # each renders half the transition beyond its cut
    assert tl.length == 120                                # and the timeline keeps its length


def test_transition_into_a_gap_and_at_the_end() -> None:
    tl = timeline({"d": 4000, "t": [{"tt": 0, "sg": [{"src": "a.mp4", "d": 2000, "tr": {"out": "fade"}},
                                                     {"src": "b.mp4", "st": 3000, "tr": {"out": "fade"}}]}]})
    assert tl.base[0].exit == Blend("fade", 7, 8)           # to the background gap, centred
    assert tl.base[1].exit == Blend("fade", 15, 0)          # at the end of the timeline: inside the clip


def test_transitions_that_do_not_fit_are_refused() -> None:
    with pytest.raises(DraftError) as err:
        timeline({"t": [{"tt": 0, "sg": [{"src": "a.mp4", "d": 1000, "tr": {"in": {"type": "fade", "d": 1500}}},
                                         {"src": "p.jpg", "d": 1000, "tr": {"in": {"type": "fade", "d": 1500}}}]}]})
    assert {i.rule for i in err.value.issues} == {"transition_fits"}


def test_canvas_from_settings_presets_or_the_first_picture() -> None:
    assert (timeline({"m": {"aspect": "4:5"}, "t": [{"tt": 0, "sg": [{"src": "a.mp4"}]}]}).canvas.width,) == (1080,)
    tl = timeline({"m": {"aspect": "4:5"}, "t": [{"tt": 0, "sg": [{"src": "a.mp4"}]}]})
    assert (tl.canvas.width, tl.canvas.height) == (1080, 1350)
    tl = timeline({"t": [{"tt": 0, "sg": [{"src": "portrait.mp4"}]}]})
    assert (tl.canvas.width, tl.canvas.height) == (1080, 1920)
    tl = timeline({"m": {"width": 721, "height": 405}, "t": [{"tt": 0, "sg": [{"src": "a.mp4"}]}]})
    assert (tl.canvas.width, tl.canvas.height) == (720, 404)                 # always even
    tl = timeline({"t": [{"tt": 7, "sg": [{"txt": "hello"}]}]})
    assert (tl.canvas.width, tl.canvas.height) == (1080, 1920)


def test_output_size_and_rate_overrides() -> None:
    base = {"t": [{"tt": 0, "sg": [{"src": "a.mp4"}]}]}
    tl = timeline({**base, "m": {"out": {"resolution": "720p"}}})
    assert (tl.canvas.width, tl.canvas.height, tl.canvas.scale) == (1280, 720, 1280 / 1920)
    tl = timeline({**base, "m": {"out": {"format": "gif"}}})
    assert (tl.canvas.width, tl.canvas.height, tl.canvas.fps) == (480, 270, 15)
    tl = timeline({**base, "m": {"out": {"format": "gif", "width": 320, "fps": 10}}})
    assert (tl.canvas.width, tl.canvas.height, tl.canvas.fps) == (320, 180, 10)
    assert not tl.output.audio


def test_audio_is_on_when_anything_is_audible() -> None:
    assert timeline({"t": [{"tt": 0, "sg": [{"src": "a.mp4"}]}]}).output.audio
    assert not timeline({"t": [{"tt": 0, "sg": [{"src": "a.mp4", "mute": True}]}]}).output.audio
    assert not timeline({"t": [{"tt": 0, "mute": True, "sg": [{"src": "a.mp4"}]}]}).output.audio
    assert timeline({"t": [{"tt": 0, "sg": [{"src": "p.jpg"}]}, {"tt": 1, "sg": [{"src": "m.mp3"}]}]}).output.audio
