"""Segment placement in milliseconds (engine/model/placement.py) and its three users: the resolved
timeline, the summary line and the chat's edit tools, which must place every segment alike."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from api.agent.tools import MediaRef, Workspace, normalised, timeline_ms
from engine.errors import DraftError
from engine.model.draft import parse_draft
from engine.model.mediainfo import AudioStream, MediaInfo, VideoStream
from engine.model.placement import STILL, Source, place, place_json
from engine.model.summary import summarize
from engine.model.timeline import Timeline, build_timeline


def _ref(media_id: str, filename: str, kind: str, duration_ms: int | None) -> MediaRef:
    return MediaRef(media_id, filename, kind, duration_ms, kind != "image", 640, 360, 0.0)


CLIP = _ref("m1", "clip.mp4", "video", 10_000)
SHORT = _ref("m2", "short.mp4", "video", 2_500)
PHOTO = _ref("m3", "photo.jpg", "image", None)
SONG = _ref("m4", "song.mp3", "audio", 4_000)
LONG_SONG = _ref("m5", "long-song.mp3", "audio", 30_000)
REFS = (CLIP, SHORT, PHOTO, SONG, LONG_SONG)


def _info(ref: MediaRef) -> MediaInfo:
    picture = VideoStream("h264", 640, 360, 30.0, None, "yuv420p", 0) if ref.kind != "audio" else None
    if ref.kind == "image":
        picture = VideoStream("png", 640, 360, None, 1, None, 0)
    sound = AudioStream("aac", 48000, 2) if ref.kind != "image" else None
    return MediaInfo(ref.src, ref.kind, "mp4", None, 1, ref.duration_ms, picture, sound)  # type: ignore[arg-type]


MEDIA = {ref.src: _info(ref) for ref in REFS}
DURATIONS = {ref.src: ref.duration_ms for ref in REFS}


def workspace() -> Workspace:
    return Workspace(list(REFS))


def engine_lookup(src: str) -> Source | None:
    return Source.of(MEDIA[src]) if src in MEDIA else None


def spans(draft: dict[str, Any]) -> list[list[tuple[int, int | None]]]:
    placement = place(parse_draft(draft), engine_lookup)
    return [[(s.start_ms, placement.end_ms(s)) for s in track] for track in placement.tracks]


# ---------------------------------------------------------------- the rules


def test_left_out_st_follows_the_previous_segment_and_d_defaults_to_the_source() -> None:
    draft = {"t": [{"tt": 0, "sg": [{"src": SHORT.src}, {"src": PHOTO.src}, {"src": CLIP.src, "ss": 1000, "spd": 2},
                                    {"src": CLIP.src, "st": 20_000, "d": 500}]},
                   {"tt": 1, "sg": [{"src": SONG.src, "ss": 1000}]},
                   {"tt": 7, "sg": [{"txt": "hi", "st": 1000}]}]}
    assert spans(draft) == [[(0, 2500), (2500, 5500), (5500, 10_000), (20_000, 20_500)], [(0, 3000)], [(1000, 4000)]]


def test_the_timeline_lasts_to_the_last_picture_or_text_else_the_last_sound() -> None:
    def length(draft: dict[str, Any]) -> int:
        return place(parse_draft(draft), engine_lookup).length_ms

    music = {"tt": 1, "sg": [{"src": LONG_SONG.src}]}
    assert length({"t": [{"tt": 0, "sg": [{"src": SHORT.src}]}, music]}) == 2500       # music never lengthens it
    assert length({"t": [{"tt": 7, "sg": [{"txt": "a", "st": 4000}]}, music]}) == 7000
    assert length({"t": [music, {"tt": 1, "sg": [{"src": SONG.src, "st": 31_000}]}]}) == 35_000
    assert length({"d": 1234, "t": [music]}) == 1234
    assert length({"t": [{"tt": 0, "sg": []}]}) == 0


def test_looped_audio_without_d_plays_to_the_end_and_counts_one_pass() -> None:
    looped = {"tt": 1, "sg": [{"src": SONG.src, "st": 1000, "loop": True}]}
    assert spans({"t": [{"tt": 0, "sg": [{"src": CLIP.src}]}, looped]})[1] == [(1000, 10_000)]
    assert spans({"t": [looped]}) == [[(1000, 5000)]]                                 # alone: one pass
    placement = place(parse_draft({"t": [{"tt": 1, "sg": [{"src": SONG.src, "loop": True},
                                                          {"src": SONG.src, "st": 50_000}]}]}), engine_lookup)
    assert [(i.path, i.rule) for i in placement.issues] == [("t[0].sg[1].st", "no_overlap")]
    assert "to the end, looping" in placement.issues[0].message


def test_problems_are_reported_with_the_segment_s_path() -> None:
    placement = place(parse_draft({"t": [{"tt": 0, "sg": [{"src": CLIP.src, "d": 5000},
                                                          {"src": SHORT.src, "st": 1000, "d": 500},
                                                          {"src": SHORT.src, "st": 3000, "d": 500},
                                                          {"src": SHORT.src, "st": 6000, "ss": 2500}]}]}),
                      engine_lookup)
    assert [(i.path, i.rule) for i in placement.issues] == [     # sg[2] is inside sg[0], not just after sg[1]
        ("t[0].sg[3].ss", "within_source"), ("t[0].sg[1].st", "no_overlap"), ("t[0].sg[2].st", "no_overlap")]


def test_a_segment_of_unknown_length_does_not_move_the_next_one() -> None:
    placement = place_json({"t": [{"tt": 0, "sg": [{"src": "elsewhere.mp4", "st": 500}, {"src": "p.png", "d": 100}]}]},
                           lambda src: STILL if src.endswith(".png") else None)
    first, second = placement.tracks[0]
    assert (first.start_ms, first.length_ms, second.start_ms) == (500, None, 500)
    assert placement.length_ms == 600


def test_the_json_reader_skips_what_it_cannot_read() -> None:
    placement = place_json({"t": [{"tt": "7", "sg": [{"txt": "a"}, "junk", {"txt": "b", "d": "250"}]},
                                  {"tt": 9, "sg": [{"src": CLIP.src}]}, "junk"], "d": None}, engine_lookup)
    assert [(s.where, s.start_ms, s.length_ms) for s in placement.tracks[0]] == [("t[0].sg[0]", 0, 3000),
                                                                                 ("t[0].sg[2]", 3000, 250)]
    assert placement.tracks[1:] == ((), ()) and placement.length_ms == 3250


# ---------------------------------------------------------------- the three users agree


def test_issue_9_an_audio_only_draft_lasts_as_long_as_its_sound_everywhere() -> None:
    """The chat tools said 0 ms for a draft with only music, where rendering gives the music's end."""
    draft = {"t": [{"tt": 1, "n": "BGM", "sg": [{"src": SONG.src, "st": 500}]}]}
    tl = build_timeline(parse_draft(draft), MEDIA)
    ws = workspace()
    assert tl.length == tl.canvas.frame(4500)
    assert timeline_ms(normalised(draft, ws)) == 4500
    assert summarize(parse_draft(draft), DURATIONS) == "Timeline (1 track): 1. BGM: song (0.5-4.5s, 100%)"


def test_looped_music_without_d_keeps_playing_to_the_end_after_a_chat_edit() -> None:
    draft = {"t": [{"tt": 0, "sg": [{"src": CLIP.src}]}, {"tt": 1, "sg": [{"src": SONG.src, "loop": True}]}]}
    edited = normalised(draft, workspace())
    assert edited["t"][1]["sg"][0] == {"src": SONG.src, "loop": True, "st": 0, "d": 10_000}
    assert build_timeline(parse_draft(edited), MEDIA) == build_timeline(parse_draft(draft), MEDIA)
    assert summarize(parse_draft(draft), DURATIONS).endswith("2. Audio: song (0-10s, 100%)")


def _segment(draw: st.DrawFn, kind: str, last: bool) -> dict[str, Any]:
    seg: dict[str, Any] = {}
    if kind == "text":
        seg["txt"] = "hello"
    else:
        ref = draw(st.sampled_from((CLIP, SHORT, PHOTO) if kind == "video" else (SONG, LONG_SONG)))
        seg["src"] = ref.src
        if ref.duration_ms and draw(st.booleans()):
            seg["ss"] = draw(st.integers(0, ref.duration_ms - 1000))
        if kind == "video" and ref.kind == "video":
            seg["spd"] = draw(st.sampled_from((0.5, 1, 1.5, 2)))
        if kind == "audio" and draw(st.booleans()):
            seg["loop"] = True
    if draw(st.booleans()):
        seg["d"] = draw(st.integers(100, 8000))
    if last and draw(st.integers(0, 4)) == 0:
        seg["st"] = draw(st.integers(100_000, 120_000))                 # far after the rest: maybe past the end
    return seg


@st.composite
def drafts(draw: st.DrawFn) -> dict[str, Any]:
    tracks = []
    for kind in draw(st.lists(st.sampled_from(("video", "audio", "text")), min_size=1, max_size=4)):
        count = draw(st.integers(0, 3))
        segments = [_segment(draw, kind, last=j == count - 1) for j in range(count)]
        if segments and draw(st.booleans()):
            segments[0]["st"] = draw(st.integers(0, 5000))
        tracks.append({"tt": {"video": 0, "audio": 1, "text": 7}[kind], "sg": segments})
    draft: dict[str, Any] = {"t": tracks}
    if draw(st.integers(0, 3)) == 0:
        draft["d"] = draw(st.integers(1000, 20_000))
    return draft


def _resolved(draft: dict[str, Any]) -> Timeline | None:
    try:
        return build_timeline(parse_draft(draft), MEDIA)
    except DraftError:
        return None


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(drafts())
def test_the_timeline_the_summary_and_the_chat_tools_place_every_segment_alike(draft: dict[str, Any]) -> None:
    timeline = _resolved(draft)
    assume(timeline is not None)
    assert timeline is not None
    explicit = normalised(draft, workspace())
    # The tools' explicit st and d are where rendering puts each segment, and the same length.
    assert _resolved(explicit) == timeline
    assert timeline.length == timeline.canvas.frame(timeline_ms(explicit))
    frame = timeline.canvas.frame
    shown = [*((v.where, v.start, v.length) for v in timeline.visuals()),
             *((s.where, s.start, s.length) for s in timeline.sounds),
             *((c.where, c.start, c.length) for c in timeline.captions())]
    for where, start, length in shown:
        i, j = (int(part.split("]")[0]) for part in where.split("[")[1:])
        seg = explicit["t"][i]["sg"][j]
        assert start == frame(seg["st"]), where
        assert start + length == min(timeline.length, frame(seg["st"] + seg["d"])), where
    # The summary line shows those same spans.
    assert summarize(parse_draft(draft), DURATIONS) == summarize(parse_draft(explicit), DURATIONS)


@pytest.mark.parametrize("src", [CLIP.src, "/api/media/m1/clip.mp4?x=1", "clip.mp4"])
def test_the_tools_know_an_upload_by_any_name_an_export_accepts(src: str) -> None:
    assert workspace().source(src) == Source(still=False, duration_ms=10_000)
