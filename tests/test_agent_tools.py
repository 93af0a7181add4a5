"""The chat's edit tools on the draft JSON (api/agent/tools.py): the exact arithmetic of each edit, the
engine's own rules passing on what they make, bad arguments refused with nothing changed, and replies
that name what changed. No rendering: the tools write settings that the render carries out."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from api.agent import ops as o
from api.agent.tools import (
    TOOLS,
    Draft,
    MediaRef,
    ToolError,
    ToolResult,
    Workspace,
    apply,
    normalised,
    starting_draft,
    subject,
    timeline_ms,
)
from api.exports import with_output
from engine.errors import DraftError
from engine.model.draft import parse_draft
from engine.model.mediainfo import AudioStream, MediaInfo, VideoStream
from engine.model.timeline import Timeline, build_timeline

PROPERTY = settings(max_examples=150, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])


def _ref(media_id: str, filename: str, kind: str, duration_ms: int | None, *, sound: bool | None = None,
         width: int = 640, height: int = 360, created: float = 0.0) -> MediaRef:
    return MediaRef(media_id, filename, kind, duration_ms, kind != "image" if sound is None else sound,
                    None if kind == "audio" else width, None if kind == "audio" else height, created)


CLIP = _ref("m_clip", "clip.mp4", "video", 10_000)
SHORT = _ref("m_short", "short.mp4", "video", 2_500)
SILENT = _ref("m_silent", "silent.mp4", "video", 4_000, sound=False)
PHOTO = _ref("m_photo", "photo.jpg", "image", None)
TALL = _ref("m_tall", "tall.png", "image", None, width=1080, height=1920)
UHD = _ref("m_uhd", "uhd.mp4", "video", 6_000, width=3840, height=2160)
SONG = _ref("m_song", "song.mp3", "audio", 4_000)
LONG_SONG = _ref("m_long", "long-song.mp3", "audio", 60_000)
REFS = (CLIP, SHORT, SILENT, PHOTO, TALL, UHD, SONG, LONG_SONG)


def _info(ref: MediaRef) -> MediaInfo:
    picture = None
    if ref.kind == "video":
        picture = VideoStream("h264", ref.width, ref.height, 30.0, None, "yuv420p", 0)
    elif ref.kind == "image":
        picture = VideoStream("png", ref.width, ref.height, None, 1, None, 0)
    sound = AudioStream("aac", 48000, 2) if ref.has_audio else None
    return MediaInfo(ref.src, ref.kind, "mp4", None, 1, ref.duration_ms, picture, sound)  # type: ignore[arg-type]


def ws(*refs: MediaRef, saved_at: float = 0.0) -> Workspace:
    return Workspace(list(refs or REFS), saved_at)


def engine_timeline(draft: Draft, refs: tuple[MediaRef, ...] = REFS) -> Timeline:
    """The draft as the engine resolves it for an export (every rule checked: overlaps, transitions that fit)."""
    return build_timeline(parse_draft(draft), {r.src: _info(r) for r in refs})


def track(*segments: dict[str, Any], tt: int = 0) -> dict[str, Any]:
    return {"tt": tt, "sg": list(segments)}


def seg(ref: MediaRef, st: int, d: int, **more: Any) -> dict[str, Any]:
    return {"src": ref.src, "st": st, "d": d, **more}


def run(name: str, draft: Draft, workspace: Workspace, **args: Any) -> ToolResult:
    """Apply one op as the turn does, and check that the draft it was given is left as it was."""
    before = copy.deepcopy(draft)
    result = apply(o.make_op(name, **args), draft, workspace)
    assert draft == before
    return result


def refused(name: str, draft: Draft, workspace: Workspace, **args: Any) -> ToolError:
    before = copy.deepcopy(draft)
    with pytest.raises(ToolError) as caught:
        apply(o.make_op(name, **args), draft, workspace)
    assert draft == before
    assert caught.value.en and caught.value.zh
    return caught.value


def spans(draft: Draft, index: int = 0) -> list[tuple[int, int, int]]:
    """(start, length, source in-point) of each segment of one track."""
    return [(s["st"], s["d"], s.get("ss", 0)) for s in draft["t"][index]["sg"]]


def test_every_edit_op_has_a_tool() -> None:
    assert {name for name, spec in o.OPS.items() if spec.edits} == set(TOOLS)
    assert "start_over" not in TOOLS


# ---------------------------------------------------------------- repeat


def test_repeat_plays_the_range_in_place_times_in_all_and_moves_what_follows() -> None:
    draft = {"v": 1, "m": {}, "t": [track(seg(CLIP, 0, 10_000))]}
    result = run("repeat", draft, ws(), start_ms=2000, end_ms=4000, times=3)
    assert spans(result.draft) == [(0, 2000, 0), (2000, 2000, 2000), (4000, 2000, 2000), (6000, 2000, 2000),
                                   (8000, 6000, 4000)]
    assert timeline_ms(result.draft) == 14_000
    assert engine_timeline(result.draft).duration_s == 14.0
    assert result.response["duration_ms"] == 14_000
    assert "plays 3 times in a row" in result.said.en and "14 s long (was 10 s)" in result.said.en
    assert "starts at 8 s" in result.said.en
    assert "3 次" in result.said.zh and "14 秒" in result.said.zh


def test_repeat_to_the_end_and_of_a_speeded_clip_reads_the_right_source() -> None:
    draft = {"v": 1, "m": {}, "t": [track(seg(CLIP, 0, 5000, spd=2))]}
    result = run("repeat", draft, ws(), start_ms=3000, times=2)
    assert spans(result.draft) == [(0, 3000, 0), (3000, 2000, 6000), (5000, 2000, 6000)]
    assert "what followed" not in result.said.en and "7 s long (was 5 s)" in result.said.en


def test_repeat_carries_texts_and_music_sensibly() -> None:
    draft = {"v": 1, "m": {}, "t": [
        track(seg(CLIP, 0, 6000)),
        {"tt": 7, "n": "Caption", "sg": [{"txt": "inside", "st": 1200, "d": 600},
                                         {"txt": "after", "st": 4000, "d": 1000}]},
        {"tt": 7, "n": "Title", "sg": [{"txt": "whole", "st": 0, "d": 6000}]},
        {"tt": 1, "n": "BGM", "sg": [seg(SONG, 0, 4000, vol=0.5, fo=1000)]},
    ]}
    result = run("repeat", draft, ws(), start_ms=1000, end_ms=2000, times=4)
    texts: dict[str, list[tuple[int, int]]] = {}
    for s in result.draft["t"][1]["sg"] + result.draft["t"][2]["sg"]:
        texts.setdefault(s["txt"], []).append((s["st"], s["d"]))
    assert texts == {"whole": [(0, 9000)], "inside": [(1200, 600), (2200, 600), (3200, 600), (4200, 600)],
                     "after": [(7000, 1000)]}
    music = result.draft["t"][3]["sg"]
    assert [(m["st"], m["d"], m["fo"], m.get("loop")) for m in music] == [(0, 7000, 1000, True)]
    assert '"inside" repeats with it' in result.said.en and "music plays on" in result.said.en
    assert timeline_ms(result.draft) == 9000
    engine_timeline(result.draft)


def test_repeat_shortens_a_transition_that_a_short_range_leaves_no_room_for() -> None:
    draft = {"v": 1, "m": {}, "t": [track(seg(CLIP, 0, 3000),
                                          seg(SHORT, 3000, 2500, tr={"in": {"type": "fade", "d": 500}}))]}
    result = run("repeat", draft, ws(), start_ms=3000, end_ms=3200, times=3)
    engine_timeline(result.draft)
    assert timeline_ms(result.draft) == 5900


@pytest.mark.parametrize(("start", "end"), [(10_000, None), (9950, None), (2000, 2050), (12_000, 14_000)])
def test_repeat_outside_the_video_changes_nothing(start: int, end: int | None) -> None:
    draft = {"v": 1, "m": {}, "t": [track(seg(CLIP, 0, 10_000))]}
    error = refused("repeat", draft, ws(), start_ms=start, end_ms=end, times=2)
    assert "10 s long" in error.en


pieces = st.lists(st.tuples(st.sampled_from([CLIP, SHORT, SILENT, PHOTO, UHD]), st.integers(0, 3),
                            st.sampled_from([0.5, 1.0, 2.0])), min_size=1, max_size=5)


def _main_track(chosen: list[tuple[MediaRef, int, float]]) -> Draft:
    segments, cursor = [], 0
    for i, (ref, share, speed) in enumerate(chosen):
        if ref.kind == "image":
            segment = seg(ref, cursor, 1000 + 700 * share)
        else:
            ss = (ref.duration_ms or 0) * share // 8
            segment = seg(ref, cursor, int(((ref.duration_ms or 0) - ss) / speed), ss=ss, spd=speed)
        if i and share % 2:
            segment["tr"] = {"in": {"type": "fade", "d": 300 * share}}
        segments.append(segment)
        cursor += segment["d"]
    layer = [seg(PHOTO, 500, 2000, box={"x": 0.6, "y": 0.6, "w": 0.3, "h": 0.3}, tr={"in": "fade", "out": "fade"})]
    return {"v": 1, "m": {}, "t": [track(*segments), track(*layer if cursor >= 2500 else []),
                                   {"tt": 7, "sg": [{"txt": "title", "st": 0, "d": min(cursor, 2500)}]},
                                   {"tt": 1, "sg": [seg(SONG, 0, cursor, loop=True, fo=500)]}]}


@PROPERTY
@given(pieces, st.floats(0, 1), st.floats(0, 1), st.integers(2, 20))
def test_repeat_lengthens_the_timeline_by_exactly_the_repeats(chosen: list[tuple[MediaRef, int, float]], a: float,
                                                              b: float, times: int) -> None:
    draft = _main_track(chosen)
    try:
        engine_timeline(draft)
    except DraftError:
        assume(False)                                  # valid drafts in, valid drafts out
    total = timeline_ms(draft)
    start, end = sorted((int(a * total), int(b * total)))
    assume(end - start >= 100)
    result = run("repeat", draft, ws(), start_ms=start, end_ms=end, times=times)
    done = result.response["range_ms"]                 # the edges, moved onto a cut less than a frame away
    assert abs(done[0] - start) <= 34 and abs(done[1] - end) <= 34
    assert timeline_ms(result.draft) == total + (times - 1) * (done[1] - done[0]) == result.response["duration_ms"]
    main = result.draft["t"][0]["sg"]
    assert all(x["st"] + x["d"] == y["st"] for x, y in zip(main, main[1:], strict=False))   # still end to end
    engine_timeline(result.draft)
    assert f"{times} times" in result.said.en


# ---------------------------------------------------------------- slideshow


def test_a_slideshow_of_a_total_length_gives_images_what_the_clips_leave() -> None:
    result = run("slideshow", {}, ws(PHOTO, SHORT, TALL, PHOTO), total_s=20)
    lengths = [s["d"] for s in result.draft["t"][0]["sg"]]
    assert lengths == [5834, 2500, 5833, 5833]
    assert timeline_ms(result.draft) == 20_000
    assert engine_timeline(result.draft).duration_s == 20.0       # transitions are centred on cuts: nothing shortens
    assert "5.83 s per image" in result.said.en and "20 s in all" in result.said.en
    assert "(1 clip at its own length)" in result.said.en
    assert "20 秒" in result.said.zh


def test_a_slideshow_whose_clips_exceed_the_total_shares_it_and_says_so() -> None:
    result = run("slideshow", {}, ws(CLIP, PHOTO, SHORT), total_s=6)
    assert [s["d"] for s in result.draft["t"][0]["sg"]] == [2000, 2000, 2000]
    assert timeline_ms(result.draft) == 6000
    assert "too long for 6 s" in result.said.en and "cut to 2 s" in result.said.en


def test_a_slideshow_of_clips_only_is_never_longer_than_they_are_and_says_so() -> None:
    result = run("slideshow", {}, ws(SHORT, SILENT), total_s=20)
    assert timeline_ms(result.draft) == 6500
    assert "only 6.5 s together" in result.said.en and "not 20 s" in result.said.en


def test_a_slideshow_too_short_for_its_pictures_is_refused() -> None:
    error = refused("slideshow", {}, ws(PHOTO, TALL, PHOTO), total_s=1)
    assert "at least 1.5 s" in error.en


def test_a_slideshow_by_seconds_per_image_still_works_and_carries_music_to_its_end() -> None:
    old = {"v": 1, "m": {}, "t": [track(seg(CLIP, 0, 10_000)), {"tt": 1, "sg": [seg(LONG_SONG, 0, 10_000)]}]}
    result = run("slideshow", old, ws(PHOTO, TALL), seconds=4)
    assert [s["d"] for s in result.draft["t"][0]["sg"]] == [4000, 4000]
    assert [(s["st"], s["d"]) for s in result.draft["t"][1]["sg"]] == [(0, 8000)]
    assert "4 s per image" in result.said.en and "8 s in all" in result.said.en


def test_a_slideshow_carries_the_texts_onto_its_own_length() -> None:
    old = {"v": 1, "m": {}, "t": [track(seg(CLIP, 0, 10_000)),
                                  {"tt": 7, "sg": [{"txt": "over all", "st": 0, "d": 10_000}]},
                                  {"tt": 7, "sg": [{"txt": "title", "st": 0, "d": 2000},
                                                   {"txt": "middle", "st": 7000, "d": 1000},
                                                   {"txt": "bye", "st": 8000, "d": 2000}]}]}
    result = run("slideshow", old, ws(PHOTO, TALL), total_s=6)
    texts = [(s["txt"], s["st"], s["d"]) for t in result.draft["t"][1:] for s in t["sg"]]
    assert texts == [("over all", 0, 6000), ("title", 0, 2000), ("bye", 4000, 2000)]
    assert '"middle" came after the show\'s end and was removed' in result.said.en
    engine_timeline(result.draft)


@PROPERTY
@given(st.lists(st.sampled_from([PHOTO, TALL, SHORT, SILENT, CLIP]), min_size=1, max_size=10),
       st.integers(1, 120_000))
def test_a_slideshow_lasts_exactly_the_total_asked(refs: list[MediaRef], total_ms: int) -> None:
    workspace = ws(*refs)
    try:
        result = run("slideshow", {}, workspace, total_s=total_ms / 1000)
    except ToolError:
        assert total_ms < 500 * len(refs)
        return
    clips = sum(r.duration_ms or 0 for r in refs if r.kind == "video")
    images = sum(1 for r in refs if r.kind == "image")
    expected = min(total_ms, clips) if not images else total_ms
    assert timeline_ms(result.draft) == expected == result.response["duration_ms"]
    timeline = engine_timeline(result.draft)
    assert timeline.length == timeline.canvas.frame(expected)
    for piece, ref in zip(result.draft["t"][0]["sg"], refs, strict=True):
        assert piece["d"] >= 500 or ref.kind == "video"
        if ref.kind == "video":
            assert piece["d"] <= (ref.duration_ms or 0)
    if expected < total_ms:
        assert "not" in result.said.en


# ---------------------------------------------------------------- music


def test_music_that_replaces_the_sound_mutes_the_clips_and_plays_alone() -> None:
    draft = {"v": 1, "m": {}, "t": [track(seg(CLIP, 0, 10_000))]}
    mixed = run("add_music", draft, ws(), media_id=LONG_SONG.id)
    assert not mixed.draft["t"][0].get("mute") and mixed.draft["t"][1]["sg"][0]["vol"] == 0.35
    replaced = run("add_music", draft, ws(), media_id=LONG_SONG.id, replace=True)
    assert replaced.draft["t"][0]["mute"] is True
    assert replaced.draft["t"][1]["sg"][0]["vol"] == 0.8
    assert replaced.response["replaced"] is True
    assert "replaces the clips' own sound" in replaced.said.en and "原声已去掉" in replaced.said.zh


def test_replacing_the_sound_of_silent_clips_says_there_was_none() -> None:
    draft = {"v": 1, "m": {}, "t": [track(seg(SILENT, 0, 4000))]}
    result = run("add_music", draft, ws(), media_id=SONG.id, replace=True)
    assert "no sound of their own" in result.said.en


# ---------------------------------------------------------------- crop and blur


def test_crop_sets_the_box_on_every_piece_and_the_canvas_follows_its_shape() -> None:
    draft = {"v": 1, "m": {}, "t": [track(seg(PHOTO, 0, 3000), seg(CLIP, 3000, 10_000))]}
    result = run("crop", draft, ws(), x=0.25, y=0, w=0.5, h=1)
    assert [s["crop"] for s in result.draft["t"][0]["sg"]] == [{"x": 0.25, "y": 0, "w": 0.5, "h": 1}] * 2
    assert (result.draft["m"]["width"], result.draft["m"]["height"]) == (320, 360)
    assert "all 2 pieces" in result.said.en and "25%-75% across and the full height" in result.said.en
    assert "the frame is now 320x360" in result.said.en
    engine_timeline(result.draft)

    again = run("crop", result.draft, ws(), x=0, y=0.5, w=1, h=0.5)        # within the first crop
    assert again.draft["t"][0]["sg"][0]["crop"] == {"x": 0.25, "y": 0.5, "w": 0.5, "h": 0.5}
    assert (again.draft["m"]["width"], again.draft["m"]["height"]) == (320, 180)
    assert "within the earlier crop" in again.said.en


def test_crop_keeps_a_canvas_the_draft_sets() -> None:
    draft = {"v": 1, "m": {"aspect": "9:16"}, "t": [track(seg(CLIP, 0, 10_000))]}
    result = run("crop", draft, ws(), x=0.1, y=0.1, w=0.5, h=0.5)
    assert "width" not in result.draft["m"] and result.draft["m"]["aspect"] == "9:16"
    assert "stays 9:16" in result.said.en


def test_crop_of_a_large_source_gives_a_canvas_within_limits() -> None:
    draft = {"v": 1, "m": {}, "t": [track(seg(UHD, 0, 6000))]}
    result = run("crop", draft, ws(), x=0, y=0, w=0.5, h=1)
    assert (result.draft["m"]["width"], result.draft["m"]["height"]) == (1080, 1214)


@PROPERTY
@given(st.integers(16, 8000), st.integers(16, 8000), st.floats(0, 0.9), st.floats(0, 0.9), st.floats(0.05, 1),
       st.floats(0.05, 1))
def test_a_cropped_canvas_is_even_and_within_limits(width: int, height: int, x: float, y: float, w: float,
                                                    h: float) -> None:
    ref = _ref("m_any", "any.png", "image", None, width=width, height=height)
    assume(x + w <= 1 and y + h <= 1 and min(w * width, h * height) >= 16)
    result = run("crop", {"v": 1, "m": {}, "t": [track(seg(ref, 0, 3000))]}, ws(ref), x=x, y=y, w=w, h=h)
    cw, ch = result.draft["m"]["width"], result.draft["m"]["height"]
    assert cw % 2 == ch % 2 == 0 and max(cw, ch) <= 1920 and min(cw, ch) <= 1080 and min(cw, ch) >= 16
    box = result.draft["t"][0]["sg"][0]["crop"]
    assert box["x"] + box["w"] <= 1 and box["y"] + box["h"] <= 1
    parse_draft(result.draft)


@pytest.mark.parametrize("name", ["crop", "blur"])
@pytest.mark.parametrize("box", [{"x": 0.6, "w": 0.5, "h": 0.5}, {"y": 0.9, "w": 0.1, "h": 0.2}])
def test_a_region_past_the_edge_changes_nothing(name: str, box: dict[str, float]) -> None:
    draft = {"v": 1, "m": {}, "t": [track(seg(CLIP, 0, 10_000))]}
    assert "edge" in refused(name, draft, ws(), **box).en


def test_a_crop_that_leaves_almost_nothing_is_refused() -> None:
    draft = {"v": 1, "m": {}, "t": [track(seg(CLIP, 0, 10_000))]}
    assert "16 pixels" in refused("crop", draft, ws(), w=0.02, h=0.5).en


def test_blur_adds_a_region_of_the_source_frame_on_every_piece_up_to_eight() -> None:
    draft = {"v": 1, "m": {}, "t": [track(seg(PHOTO, 0, 3000, crop={"x": 0.5, "y": 0, "w": 0.5, "h": 1}),
                                          seg(CLIP, 3000, 10_000))]}
    result = run("blur", draft, ws(), x=0.5, y=0.25, w=0.5, h=0.5)
    first, second = result.draft["t"][0]["sg"]
    assert first["blur"] == [{"x": 0.75, "y": 0.25, "w": 0.25, "h": 0.5}]     # within the crop, in source terms
    assert second["blur"] == [{"x": 0.5, "y": 0.25, "w": 0.5, "h": 0.5}]
    assert "on all 2 pieces" in result.said.en and "nothing follows" in result.said.en
    for _ in range(7):
        result = run("blur", result.draft, ws(), x=0, y=0, w=0.1, h=0.1)
    assert len(result.draft["t"][0]["sg"][1]["blur"]) == 8
    assert "at most 8" in refused("blur", result.draft, ws(), x=0, y=0, w=0.1, h=0.1).en


# ---------------------------------------------------------------- enhance


def test_enhance_asks_for_balanced_picture_and_measured_loudness() -> None:
    draft = {"v": 1, "m": {}, "t": [track(seg(CLIP, 0, 10_000))]}
    result = run("enhance", draft, ws())
    assert result.draft["m"]["enhance"] == {"picture": True, "loudness": -14.0}
    assert "levels, contrast and saturation balanced from each clip's own statistics" in result.said.en
    assert "loudness normalised to -14 LUFS, measured first (EBU R128)" in result.said.en
    parse_draft(result.draft)


def test_enhance_without_sound_says_the_loudness_part_does_not_apply() -> None:
    draft = {"v": 1, "m": {}, "t": [track(seg(PHOTO, 0, 3000))]}
    result = run("enhance", draft, ws())
    assert result.draft["m"]["enhance"] == {"picture": True, "loudness": None}
    assert "does not apply" in result.said.en and "LUFS" not in result.said.en
    assert "no loudness" in refused("enhance", draft, ws(), picture=False).en
    assert "picture" in refused("enhance", draft, ws(), picture=False, sound=False).en


def test_enhance_keeps_what_was_asked_before() -> None:
    draft = {"v": 1, "m": {}, "t": [track(seg(CLIP, 0, 10_000))]}
    picture = run("enhance", draft, ws(), sound=False)
    assert picture.draft["m"]["enhance"] == {"picture": True, "loudness": None}
    both = run("enhance", picture.draft, ws(), picture=False)
    assert both.draft["m"]["enhance"] == {"picture": True, "loudness": -14.0}


def test_muted_output_has_no_loudness_to_normalise() -> None:
    draft = {"v": 1, "m": {"out": {"audio": False}}, "t": [track(seg(CLIP, 0, 10_000))]}
    assert "does not apply" in run("enhance", draft, ws()).said.en


# ---------------------------------------------------------------- output


@pytest.mark.parametrize("fmt", ["mp4", "webm", "gif", "webp"])
def test_a_size_target_is_kept_as_it_is_for_every_format(fmt: str) -> None:
    draft = {"v": 1, "m": {"out": {"format": fmt}}, "t": [track(seg(CLIP, 0, 10_000))]}
    result = run("set_output", draft, ws(), max_mb=2)
    assert result.draft["m"]["out"] == {"format": fmt, "max_mb": 2, **({"loop": 0} if fmt == "gif" else {})}
    assert "the file will be under 2 MB" in result.said.en and "2 MB" in result.said.zh


def test_small_without_a_number_still_lowers_the_quality() -> None:
    draft = {"v": 1, "m": {}, "t": [track(seg(CLIP, 0, 10_000))]}
    out = run("set_output", draft, ws(), small=True).draft["m"]["out"]
    assert out == {"quality": "medium", "resolution": "720p"}


def test_a_gif_asked_to_loop_gets_a_seamless_loop() -> None:
    draft = {"v": 1, "m": {}, "t": [track(seg(CLIP, 0, 10_000))]}
    result = run("set_output", draft, ws(), format="gif", loop=True)
    assert result.draft["m"]["out"] == {"format": "gif", "loop": 0, "loop_seam": "auto"}
    assert "looping without a jump" in result.said.en and "无缝循环" in result.said.zh
    engine_timeline(result.draft)                             # the engine takes it as it is
    zh = run("set_output", draft, ws(), format="gif", loop=True).said.zh
    assert "无缝循环播放" in zh and zh.count("循环") == 1


def test_a_plain_gif_keeps_every_frame() -> None:
    """A GIF loops forever anyway (loop 0); the seam only when a loop is asked for."""
    draft = {"v": 1, "m": {}, "t": [track(seg(CLIP, 0, 10_000))]}
    out = run("set_output", draft, ws(), format="gif").draft["m"]["out"]
    assert out == {"format": "gif", "loop": 0}


@pytest.mark.parametrize(("args", "left"), [
    ({"format": "mp4"}, {"format": "mp4", "loop": 0}),                  # the seam is a GIF's
    ({"loop": False}, {"format": "gif", "loop": -1}),                   # playing once: no loop to join
    ({"loop_seam": "none"}, {"format": "gif", "loop": 0}),
    ({"format": "webp", "loop": True}, {"format": "webp", "loop": 0}),  # WebP loops, without a seam
    ({"fps": 12}, {"format": "gif", "loop": 0, "loop_seam": "auto", "fps": 12}),
])
def test_the_seam_goes_with_the_gif_and_its_loop(args: dict[str, Any], left: dict[str, Any]) -> None:
    draft = {"v": 1, "m": {"out": {"format": "gif", "loop": 0, "loop_seam": "auto"}},
             "t": [track(seg(CLIP, 0, 10_000))]}
    result = run("set_output", draft, ws(), **args)
    assert result.draft["m"]["out"] == left
    engine_timeline(result.draft)


def test_a_crossfade_seam_can_be_asked_for_by_name() -> None:
    draft = {"v": 1, "m": {"out": {"format": "gif"}}, "t": [track(seg(CLIP, 0, 10_000))]}
    result = run("set_output", draft, ws(), loop_seam="crossfade")
    assert result.draft["m"]["out"]["loop_seam"] == "crossfade"
    assert "the last 400 ms fade into the start" in result.said.en


def test_a_looping_gif_the_chat_made_exports_in_another_format() -> None:
    """The export's format lies over the draft's: a seam (GIF only) would have the draft refused, so it goes."""
    draft = run("set_output", {"v": 1, "m": {}, "t": [track(seg(CLIP, 0, 10_000))]}, ws(), format="gif",
                loop=True).draft
    as_mp4 = with_output(draft, {"format": "mp4"}, None, {})
    assert "loop_seam" not in as_mp4["m"]["out"] and draft["m"]["out"]["loop_seam"] == "auto"
    engine_timeline(as_mp4)
    assert with_output(draft, {"format": "gif"}, None, {})["m"]["out"]["loop_seam"] == "auto"
    with pytest.raises(DraftError, match="loop_seam"):        # a draft that says both is still refused
        parse_draft({**draft, "m": {"out": {"format": "webm", "loop_seam": "auto"}}})


def test_a_promo_after_a_looping_gif_is_an_mp4_without_the_seam() -> None:
    draft = {"v": 1, "m": {"out": {"format": "gif", "loop": 0, "loop_seam": "auto"}},
             "t": [track(seg(CLIP, 0, 10_000))]}
    out = run("promo", draft, ws(CLIP, PHOTO, SONG), seconds=10).draft["m"]["out"]
    assert out["format"] == "mp4" and "loop_seam" not in out


# ---------------------------------------------------------------- the subject and the starting draft


def test_the_starting_draft_is_what_edits_work_on() -> None:
    first, second = (_ref("m_a", "a.mp4", "video", 3000, created=1.0), _ref("m_b", "b.jpg", "image", None,
                                                                            created=2.0))
    start = starting_draft([first, second, SONG])
    assert [s["src"] for s in start["t"][0]["sg"]] == [first.src, second.src]
    assert starting_draft([SONG]) == {}
    workspace = ws(first, second, saved_at=3.0)             # saved by the upload
    assert subject(start, workspace) == normalised(start, workspace)
    result = run("repeat", start, workspace, start_ms=0, end_ms=1000, times=2)
    assert timeline_ms(result.draft) == 7000


def test_uploads_join_an_unedited_starting_draft_and_start_afresh_after_edits() -> None:
    first = _ref("m_a", "a.mp4", "video", 3000, created=1.0)
    later = _ref("m_c", "c.jpg", "image", None, created=5.0)
    start = starting_draft([first])
    joined = subject(start, ws(first, later, saved_at=2.0))
    assert joined == normalised(starting_draft([first, later]), ws(first, later))

    edited = run("keep_range", start, ws(first, saved_at=2.0), start_ms=0, end_ms=1000).draft
    fresh = subject(edited, ws(first, later, saved_at=3.0))
    assert [s["src"] for s in fresh["t"][0]["sg"]] == [later.src]
    kept = subject(edited, ws(first, later, saved_at=6.0))    # uploaded before that edit was saved
    assert kept == normalised(edited, ws(first, later))


def test_nothing_to_edit_without_visual_uploads() -> None:
    assert "upload" in refused("crop", {}, ws(SONG), w=0.5, h=0.5).en


def test_titles_at_different_times_both_stay_and_an_overlapping_one_replaces() -> None:
    draft = {"v": 1, "m": {}, "t": [track(seg(CLIP, 0, 6000))]}
    first = run("add_text", draft, ws(), text="Intro", start_ms=0, end_ms=2000).draft
    second = run("add_text", first, ws(), text="Main", start_ms=2000).draft
    titles = [(s["txt"], s["st"], s["d"]) for t in second["t"] if t.get("tt") == 7 for s in t["sg"]]
    assert titles == [("Intro", 0, 2000), ("Main", 2000, 4000)]
    third = run("add_text", second, ws(), text="New", start_ms=1000, end_ms=3000).draft
    assert [s["txt"] for t in third["t"] if t.get("tt") == 7 for s in t["sg"]] == ["New"]


def test_a_1x_speed_claims_neither_faster_nor_slower() -> None:
    draft = {"v": 1, "m": {}, "t": [track(seg(CLIP, 0, 6000))]}
    result = run("speed", draft, ws(), factor=1.0)
    assert "slower" not in result.said.en and "faster" not in result.said.en
    assert "放慢" not in result.said.zh and "加快" not in result.said.zh
    assert "slower" in run("speed", draft, ws(), factor=0.5).said.en
