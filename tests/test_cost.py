"""The cost model (engine/model/cost.py): each cap takes a draft at the cap and refuses one unit over,
naming itself; the largest draft of each shape the default caps allow renders every frame, within
the address space a render process gets by default; the counts only grow as a draft grows; the
graph never holds more filters than counted; and the API's check (api/drafts.py) says what the
model says."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from api.drafts import check_draft
from api.store import MediaRow, Store
from engine.config import EngineConfig
from engine.encode.profiles import output_args
from engine.errors import DraftError, LimitExceeded
from engine.graph.build import rate
from engine.graph.compile import compile_render
from engine.job import RenderJob
from engine.media.probe import inspect_output
from engine.media.resolve import LocalResolver
from engine.model.cost import CHECKS, TEXT_FILTERS, Caps, Cost, check_cost, measure
from engine.model.draft import TRANSITIONS, parse_draft
from engine.model.mediainfo import AudioStream, MediaInfo, VideoStream
from engine.model.timeline import Timeline, build_timeline
from engine.pipeline.render import probe_sources, render
from engine.run import limited_child
from engine.settings import EngineSettings
from tests.conftest import ffmpeg
from tests.draft_strategies import drafts, property_settings
from tests.numbered import CLIPS, STILLS
from tests.placeholders import placeholder_sources
from tests.test_golden import CASES, CODECS
from tests.test_golden import MEDIA as GOLDEN_MEDIA

DEFAULTS = Caps.of(EngineConfig("ffmpeg"))
HOUR_MS = 3_600_000


def _video(name: str, ms: int, w: int, h: int, fps: float = 30.0, audio: bool = True) -> MediaInfo:
    return MediaInfo(f"/media/{name}", "video", "mp4", "mov", 1_000_000, ms,
                     VideoStream("h264", w, h, fps, None, "yuv420p", 0, "1/15360"),
                     AudioStream("aac", 48000, 2) if audio else None)


def _still(name: str, w: int, h: int) -> MediaInfo:
    return MediaInfo(f"/media/{name}", "image", "png", None, 1000, None, VideoStream("png", w, h, None, 1, None, 0),
                     None)


MEDIA = {**GOLDEN_MEDIA, "long.mp4": _video("long.mp4", HOUR_MS, 1920, 1080),
         "wide.png": _still("wide.png", 1920, 1080)}
NUMBERED = {**{src: _video(src, spec.duration_ms, *spec.size, fps=float(spec.fps)) for src, spec in CLIPS.items()},
            **{s.src: _still(s.src, *s.size) for s in STILLS}}


def resolve(draft: dict[str, Any], media: dict[str, MediaInfo] = MEDIA) -> tuple[Any, Timeline]:
    model = parse_draft(draft)
    return model, build_timeline(model, media)


def cost_of(draft: dict[str, Any], media: dict[str, MediaInfo] = MEDIA) -> Cost:
    return measure(*resolve(draft, media), media)


def check(draft: dict[str, Any], caps: Caps = DEFAULTS) -> Cost:
    return check_cost(*resolve(draft), MEDIA, caps)


def refused(draft: dict[str, Any], caps: Caps = DEFAULTS) -> LimitExceeded:
    with pytest.raises(LimitExceeded) as caught:
        check(draft, caps)
    return caught.value


def stills(count: int, d: int = 1000, **seg: Any) -> list[dict[str, Any]]:
    return [{"src": "photo.jpg", "d": d, **seg} for _ in range(count)]


def texts(count: int, d: int = 1000) -> list[dict[str, Any]]:
    return [{"txt": f"line {i}", "d": d} for i in range(count)]


TINY = {"width": 64, "height": 36, "fps": 1}


# ---------------------------------------------------------------- each cap, at it and one unit over


def test_issue_10_a_24_hour_draft_and_a_10_hour_audio_draft_are_refused() -> None:
    day = {"m": TINY, "t": [{"tt": 0, "sg": stills(24, HOUR_MS)}]}
    error = refused(day)
    assert (error.limit, error.value, error.maximum) == ("max_timeline_s", 86_400, 3600)
    assert error.details() == {"limit": "max_timeline_s", "value": 86_400, "max": 3600}
    music = {"t": [{"tt": 1, "sg": [{"src": "music.mp3", "d": HOUR_MS, "loop": True} for _ in range(10)]}]}
    assert (refused(music).limit, refused(music).value) == ("max_timeline_s", 36_000)
    assert check({"m": TINY, "t": [{"tt": 0, "sg": stills(1, HOUR_MS)}]}).timeline_s == 3600


def test_the_timeline_may_last_an_hour_and_not_a_frame_more() -> None:
    hour = {"m": {**TINY, "fps": 30}, "t": [{"tt": 0, "sg": [*stills(1, HOUR_MS - 1000), *stills(1, 1000)]}]}
    assert check(hour).timeline_s == 3600
    hour["t"][0]["sg"].append({"src": "photo.jpg", "d": 34})                     # one frame at 30 fps
    error = refused(hour)
    assert error.limit == "max_timeline_s" and error.value == pytest.approx(3600 + 1 / 30)


def test_the_output_may_be_an_hour_of_1080x1920_at_30_fps_or_half_of_it_at_60() -> None:
    portrait = {"width": 1080, "height": 1920}
    assert check({"m": {**portrait, "fps": 30}, "t": [{"tt": 0, "sg": stills(1, HOUR_MS)}]}).output_pixels == (
        DEFAULTS.max_output_pixels)
    half_hour = {"m": {**portrait, "fps": 60}, "t": [{"tt": 0, "sg": stills(1, HOUR_MS // 2)}]}
    assert check(half_hour).output_pixels == DEFAULTS.max_output_pixels
    half_hour["t"][0]["sg"].append({"src": "photo.jpg", "d": 17})                # one frame at 60 fps
    error = refused(half_hour)
    assert (error.limit, error.value, error.maximum) == (
        "max_output_pixels", DEFAULTS.max_output_pixels + 1080 * 1920, DEFAULTS.max_output_pixels)
    hour_at_60 = {"m": {**portrait, "fps": 60}, "t": [{"tt": 0, "sg": stills(1, HOUR_MS)}]}
    assert refused(hour_at_60).limit == "max_output_pixels"


def test_a_minute_of_full_frame_1080x1920_may_be_reversed() -> None:
    def reversed_clips(*lengths: int) -> dict[str, Any]:
        return {"m": {"width": 1080, "height": 1920, "fps": 30},
                "t": [{"tt": 0, "sg": [{"src": "long.mp4", "d": d, "rev": True} for d in lengths]}]}

    assert check(reversed_clips(30_000, 30_000)).reverse_pixels == DEFAULTS.max_reverse_pixels
    error = refused(reversed_clips(30_000, 30_000, 33))                  # one frame more
    assert (error.limit, error.value) == ("max_reverse_pixels", DEFAULTS.max_reverse_pixels + 1080 * 1920)
    boxed = reversed_clips(30_000, 30_000, 30_000)        # a third one fits if the boxes are a quarter of the canvas
    for seg in boxed["t"][0]["sg"]:
        seg["box"] = {"w": 0.5, "h": 0.5}
    assert check(boxed).reverse_pixels == 3 * 900 * 540 * 960


def test_transitions_count_towards_the_frames_a_reversed_clip_turns_round() -> None:
    plain = {"m": {**TINY, "fps": 10}, "t": [{"tt": 0, "sg": [{"src": "a.mp4", "d": 2000, "rev": True},
                                                             {"src": "b.mp4", "d": 2000}]}]}
    faded = {**plain, "t": [{"tt": 0, "sg": [plain["t"][0]["sg"][0],
                                             {"src": "b.mp4", "d": 2000, "tr": {"in": {"d": 1000}}}]}]}
    assert cost_of(plain).reverse_pixels == 20 * 64 * 36
    assert cost_of(faded).reverse_pixels == (20 + 10) * 64 * 36


def at_and_over(cap: str) -> tuple[dict[str, Any], dict[str, Any], Caps]:
    """A draft at ``cap`` set low, the same draft one unit over it, and the caps."""
    small = dataclasses.replace(DEFAULTS, **{cap: 3})
    if cap == "max_segments":
        at = {"m": TINY, "t": [{"tt": 0, "sg": stills(2)}, {"tt": 1, "sg": [{"src": "music.mp3", "d": 1000}]}]}
        over = {"m": TINY, "t": [{"tt": 0, "sg": stills(2)}, {"tt": 1, "sg": [{"src": "music.mp3", "d": 1000}] * 2}]}
    elif cap == "max_tracks":
        at = {"m": TINY, "t": [{"tt": 0, "sg": stills(1)}, {"tt": 7, "sg": texts(1)}, {"tt": 1, "sg": []}]}
        over = {**at, "t": [*at["t"], {"tt": 7, "sg": []}]}
    elif cap == "max_layers":
        at = {"m": TINY, "t": [{"tt": 0, "sg": stills(4)}, {"tt": 0, "sg": stills(3)}]}
        over = {"m": TINY, "t": [{"tt": 0, "sg": stills(1)}, {"tt": 0, "sg": stills(2)}, {"tt": 0, "sg": stills(2)}]}
    else:
        assert cap == "max_texts"
        at = {"m": TINY, "t": [{"tt": 7, "sg": texts(2)}, {"tt": 7, "sg": texts(1)}]}
        over = {"m": TINY, "t": [{"tt": 7, "sg": texts(2)}, {"tt": 7, "sg": texts(2)}]}
    return at, over, small


@pytest.mark.parametrize("cap", ["max_segments", "max_tracks", "max_layers", "max_texts"])
def test_each_count_takes_its_cap_and_refuses_one_more(cap: str) -> None:
    at, over, caps = at_and_over(cap)
    counted = next(name for name, limit, _ in CHECKS if limit == cap)
    assert getattr(check(at, caps), counted) == 3
    error = refused(over, caps)
    assert (error.limit, error.value, error.maximum) == (cap, 4, 3)
    assert f"is 4, over the limit of 3 ({cap})" in str(error)


def test_the_graph_cap_takes_the_count_and_refuses_one_filter_more() -> None:
    draft = {"m": TINY, "t": [{"tt": 0, "sg": stills(3, tr={"in": "fade"})}, {"tt": 7, "sg": texts(2)}]}
    counted = cost_of(draft).graph_filters
    assert check(draft, dataclasses.replace(DEFAULTS, max_graph_filters=counted)).graph_filters == counted
    error = refused(draft, dataclasses.replace(DEFAULTS, max_graph_filters=counted - 1))
    assert (error.limit, error.value, error.maximum) == ("max_graph_filters", counted, counted - 1)


def test_the_first_cap_over_is_the_one_named() -> None:
    draft = {"m": TINY, "t": [{"tt": 7, "sg": texts(11, HOUR_MS)}]}
    caps = dataclasses.replace(DEFAULTS, max_texts=10)
    assert refused(draft, caps).limit == "max_timeline_s"            # over the texts too, but this comes first
    assert refused({"m": TINY, "t": [{"tt": 7, "sg": texts(11)}]}, caps).limit == "max_texts"


def test_the_caps_are_settings_and_travel_with_a_job(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REELFORGE_MAX_TEXTS", "7")
    monkeypatch.setenv("REELFORGE_MAX_TIMELINE_S", "90.5")
    config = EngineSettings().engine_config()
    assert (Caps.of(config).max_texts, Caps.of(config).max_timeline_s) == (7, 90.5)
    job = RenderJob("j", {}, {}, "/out.mp4", config=RenderJob.config_of(config))
    assert Caps.of(RenderJob.from_json(job.to_json()).engine_config()) == Caps.of(config)
    for name in (f.name for f in dataclasses.fields(Caps)):
        assert EngineSettings.model_fields[name].description, name


def test_a_render_over_a_cap_is_refused_before_anything_is_made(tmp_path: Path, media: Any, config: EngineConfig,
                                                                 cpu_only: Any) -> None:
    strict = dataclasses.replace(config, work_dir=tmp_path / "work", max_texts=2)
    (tmp_path / "work").mkdir()
    draft = {"m": TINY, "t": [{"tt": 0, "sg": [{"src": "green.png", "d": 3000}]}, {"tt": 7, "sg": texts(3)}]}
    with pytest.raises(LimitExceeded) as caught:
        render(draft, tmp_path / "out.mp4", config=strict, resolve=LocalResolver(media.dir), codecs=cpu_only)
    assert caught.value.limit == "max_texts"
    assert list(tmp_path.rglob("*")) == [tmp_path / "work"]


# ---------------------------------------------------------------- the graph never holds more than counted


def compiled_filters(draft: dict[str, Any], media: dict[str, MediaInfo]) -> int:
    _, tl = resolve(draft, media)
    args = output_args(tl.output, rate(tl.canvas), CODECS, "veryfast")
    command = compile_render(tl, placeholder_sources(tl), args, Path("/out/x.mp4"))
    return len((command.filter_graph or "").split(";"))


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_golden_graphs_hold_no_more_filters_than_counted(name: str) -> None:
    assert compiled_filters(CASES[name], MEDIA) <= cost_of(CASES[name]).graph_filters


@property_settings(150)
@given(draft=drafts(max_segments=6))
def test_no_graph_holds_more_filters_than_counted(draft: dict[str, Any]) -> None:
    try:
        counted = cost_of(draft, NUMBERED).graph_filters
    except DraftError:
        assume(False)
    assert compiled_filters(draft, NUMBERED) <= counted


def test_the_count_is_close_to_the_graph_for_the_largest_shapes() -> None:
    shapes = {
        "texts": {"m": TINY, "t": [{"tt": 7, "sg": texts(300)}, {"tt": 7, "sg": texts(300)}]},
        "clips": {"m": TINY, "t": [{"tt": 0, "sg": [{"src": "a.mp4", "d": 1000, "tr": {"in": "fade"}}] * 200}]},
        "layers": {"m": TINY, "t": [{"tt": 0, "sg": stills(1, 400_000)},
                                    {"tt": 0, "sg": stills(199, 2000, box={"w": 0.5, "h": 0.5}, tr={"in": "fade"})}]},
    }
    for name, draft in shapes.items():
        actual, counted = compiled_filters(draft, MEDIA), cost_of(draft).graph_filters
        assert actual <= counted <= 1.5 * actual, (name, actual, counted)


# ---------------------------------------------------------------- the counts only grow


VIDEO_SOURCES = ("a.mp4", "silent.mp4", "photo.jpg", "portrait.jpg")


@st.composite
def video_segment(draw: st.DrawFn) -> dict[str, Any]:
    seg: dict[str, Any] = {"src": draw(st.sampled_from(VIDEO_SOURCES)), "d": draw(st.integers(1000, 4000))}
    extras = {"rev": st.just(True), "fit": st.sampled_from(("contain", "cover", "stretch")), "mute": st.booleans(),
              "spd": st.sampled_from((0.25, 0.5, 2)), "mo": st.just("zoom-in"), "op": st.just(0.5),
              "vol": st.sampled_from((0, 0.5)), "box": st.just({"x": 0.5, "y": 0.5, "w": 0.5, "h": 0.5}),
              "tr": st.dictionaries(st.sampled_from(("in", "out")),
                                    st.builds(lambda kind, d: {"type": kind, "d": d}, st.sampled_from(TRANSITIONS),
                                              st.integers(100, 400)), min_size=1)}
    for key, strategy in extras.items():
        if draw(st.integers(0, 4)) == 0:
            seg[key] = draw(strategy)
    return seg


def audio_segment() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"src": st.sampled_from(("music.mp3", "a.mp4")), "d": st.integers(500, 4000)},
                                 optional={"loop": st.booleans(), "vol": st.sampled_from((0, 0.35)),
                                           "fi": st.integers(0, 200), "fo": st.integers(0, 200)})


def text_segment() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"txt": st.just("Hi"), "d": st.integers(500, 4000)},
                                 optional={"style": st.just({"anim": "fade"})})


SEGMENTS = {0: video_segment(), 1: audio_segment(), 7: text_segment()}


@st.composite
def growing(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """A draft (fixed canvas, no top-level d), and the same draft with one segment added or made longer."""
    kinds = [0, *draw(st.lists(st.sampled_from((0, 1, 7)), max_size=3))]
    tracks = [{"tt": tt, "sg": draw(st.lists(SEGMENTS[tt], min_size=1 if i == 0 else 0, max_size=4))}
              for i, tt in enumerate(kinds)]
    meta = {"width": 64, "height": 36, "fps": draw(st.sampled_from((1, 10, 25, 30))),
            "out": {"format": draw(st.sampled_from(("mp4", "mp4", "gif")))}}
    before = {"m": meta, "t": tracks}
    after = {"m": meta, "t": [{**track, "sg": list(track["sg"])} for track in tracks]}
    track = draw(st.integers(0, len(tracks) - 1))
    segments = after["t"][track]["sg"]
    if segments and draw(st.booleans()):
        index = draw(st.integers(0, len(segments) - 1))
        segments[index] = {**segments[index], "d": segments[index]["d"] + draw(st.integers(1, 3000))}
    else:
        segments.insert(draw(st.integers(0, len(segments))), draw(SEGMENTS[tracks[track]["tt"]]))
    return before, after


SILENT_MUSIC = {"src": "music.mp3", "d": 500, "vol": 0}
PUSHED_OUT = (   # the silent music pushes the audible one past the video's end: the render has no sound left
    {"m": TINY, "t": [{"tt": 0, "sg": stills(1)}, {"tt": 1, "sg": [{"src": "music.mp3", "d": 1000}]}]},
    {"m": TINY, "t": [{"tt": 0, "sg": stills(1)}, {"tt": 1, "sg": [SILENT_MUSIC, {"src": "music.mp3", "d": 1000}]}]},
)


@property_settings(300)
@given(pair=growing())
@example(pair=PUSHED_OUT)
def test_adding_or_lengthening_a_segment_never_lowers_a_count(pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
    before, after = pair
    try:
        small, large = cost_of(before), cost_of(after)
    except DraftError:
        assume(False)
    lower = [f.name for f in dataclasses.fields(Cost) if getattr(large, f.name) < getattr(small, f.name)]
    assert not lower, (lower, small, large)


# ---------------------------------------------------------------- the API's check says what the model says


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, str, str]:
    """A store with a user, a session, and every synthetic source as one of its uploads (by file name)."""
    folder = tmp_path_factory.mktemp("store")
    store = Store(folder / "state.db")
    token, _ = store.issue_token("cost-client", 100, 3600)
    session = store.create_session(token.user_id, "project", "en")
    rows = []
    for i, (src, info) in enumerate(MEDIA.items()):
        path = folder / src
        path.write_bytes(b"stand-in")
        rows.append(MediaRow(f"m_{i}", token.user_id, session.id, src, str(path), info.kind, info.to_dict(), 8, "0",
                             "upload", 0.0))
    store.add_media(rows)
    return store, token.user_id, session.id


def _around(value: float, draw: st.DrawFn) -> float:
    """A cap just under, at, or over a counted value (or far over it)."""
    unit = 0.001 if isinstance(value, float) else 1
    return max(unit, value + draw(st.sampled_from((-unit, 0, unit, 10 ** 12))))


@property_settings(100)
@given(pair=growing(), data=st.data())
def test_the_api_check_refuses_exactly_the_first_cap_the_model_counts_over(
        pair: tuple[dict[str, Any], dict[str, Any]], data: st.DataObject, store: tuple[Store, str, str]) -> None:
    draft = pair[1]
    try:
        cost = cost_of(draft)
    except DraftError:
        assume(False)
    caps = Caps(**{cap: type(getattr(DEFAULTS, cap))(_around(getattr(cost, counted), data.draw))
                   for counted, cap, _ in CHECKS})
    over = [(cap, getattr(cost, counted)) for counted, cap, _ in CHECKS if getattr(cost, counted) > getattr(caps, cap)]
    try:
        check_draft(store[0], draft, store[1], store[2], caps)
    except LimitExceeded as error:
        assert over and (error.limit, error.value, error.maximum) == (*over[0], getattr(caps, over[0][0]))
    else:
        assert not over


# ---------------------------------------------------------------- the largest drafts the default caps allow render


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory, media: Any) -> Path:
    """The sources: a green still, and a 2 s clip at 5 fps with a tone (few frames to decode per clip)."""
    folder = tmp_path_factory.mktemp("big")
    (folder / "green.png").write_bytes(media.green_png.read_bytes())
    ffmpeg("-f", "lavfi", "-i", "color=c=red:s=64x36:r=5:d=2", "-f", "lavfi", "-i", "sine=f=440:d=2",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(folder / "tone.mp4"))
    return folder


RENDER_MEMORY = 6144 * 1024 * 1024     # the address space a render process gets by default (render_memory_mb)


def render_big(draft: dict[str, Any], big: Path, tmp_path: Path) -> tuple[dict[str, Any], Any]:
    """``reelforge render`` of a draft within the default caps, in a child under the render memory cap."""
    check_big(draft, big)
    path, out = big / f"{tmp_path.name}.json", tmp_path / "out.mp4"
    path.write_text(json.dumps(draft))
    env = {**os.environ, "REELFORGE_WORK_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "engine.cli", "render", str(path), "-o", str(out), "-q", "--json",
                           "--encoder", "libx264", "--decoder", "cpu"], capture_output=True, text=True, env=env,
                          preexec_fn=limited_child(RENDER_MEMORY), timeout=280)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout), inspect_output(out)


def check_big(draft: dict[str, Any], folder: Path) -> Cost:
    model = parse_draft(draft)
    media = probe_sources(model, LocalResolver(folder))
    return check_cost(model, build_timeline(model, media), media, DEFAULTS)


def over_by_one(draft: dict[str, Any], big: Path, cap: str) -> None:
    with pytest.raises(LimitExceeded) as caught:
        check_big(draft, big)
    assert caught.value.limit == cap


def test_issue_10_two_text_tracks_of_300_captions_render(big: Path, tmp_path: Path) -> None:
    captions = [{"txt": f"caption {i}", "d": 1000, "style": {"anim": "fade"}} for i in range(300)]
    draft = {"m": TINY, "t": [{"tt": 7, "sg": captions}, {"tt": 7, "sg": captions}]}
    result, info = render_big(draft, big, tmp_path)
    assert result["frames"] == info.frames == 300
    over_by_one({**draft, "t": [*draft["t"], {"tt": 7, "sg": captions[:1]}]}, big, "max_texts")


def test_issue_10_200_stills_with_fades_render(big: Path, tmp_path: Path) -> None:
    draft = {"m": {**TINY, "fps": 2}, "t": [{"tt": 0, "sg": [
        {"src": "green.png", "d": 1000, "tr": {"in": "fade", "out": "fade"}} for _ in range(200)]}]}
    result, info = render_big(draft, big, tmp_path)
    assert result["frames"] == info.frames == 400
    over_by_one({**draft, "t": [*draft["t"], {"tt": 1, "sg": [{"src": "tone.mp4", "d": 500}]}]}, big, "max_segments")


def test_199_faded_layers_over_a_still_render(big: Path, tmp_path: Path) -> None:
    layers = [{"src": "green.png", "d": 1000, "box": {"w": 0.5, "h": 0.5}, "tr": {"in": "fade", "out": "fade"}}
              for _ in range(199)]
    draft = {"m": {**TINY, "fps": 2}, "t": [{"tt": 0, "sg": [{"src": "green.png", "d": 199_000}]},
                                            {"tt": 0, "sg": layers}]}
    result, info = render_big(draft, big, tmp_path)
    assert result["frames"] == info.frames == 398


def test_200_crossfaded_clips_with_sound_and_captions_up_to_the_graph_cap_render(big: Path, tmp_path: Path) -> None:
    clips = [{"src": "tone.mp4", "d": 250, "tr": {"in": {"d": 250}}} for _ in range(200)]
    draft = {"m": {"width": 36, "height": 64, "fps": 4}, "t": [{"tt": 0, "sg": clips}]}   # contain over a blur
    room = (DEFAULTS.max_graph_filters - check_big(draft, big).graph_filters) // TEXT_FILTERS
    captions = {"tt": 7, "sg": texts(room + 1, 250)}
    over_by_one({**draft, "t": [*draft["t"], captions]}, big, "max_graph_filters")
    captions["sg"].pop()
    draft["t"].append(captions)
    result, info = render_big(draft, big, tmp_path)
    assert result["frames"] == info.frames == 200
    assert info.has_audio and abs(info.audio_duration_s - 50) <= 0.5


def test_sounds_joined_in_one_lane_keep_their_samples_whatever_their_timestamps(do_render) -> None:
    """Two reversed slow clips side by side share a lane; the first reads the last millisecond of its source,
    so its sound is mostly padding, and its timestamps do not run from 0 (concat once refused it)."""
    box = {"x": 0, "y": 0.5, "w": 0.5, "h": 0.5}
    draft = {"m": {"width": 64, "height": 36, "fps": 30}, "t": [
        {"tt": 0, "sg": [{"src": "blue.mp4", "d": 100}]},
        {"tt": 0, "sg": [{"src": "red.mp4", "st": 0, "d": 17, "ss": 1999, "spd": 0.25, "rev": True, "box": box},
                         {"src": "red.mp4", "st": 17, "d": 83, "spd": 0.25, "rev": True, "box": box}]}]}
    result = do_render(draft)
    info = inspect_output(result.path)
    assert result.frames == info.frames == 3 and info.has_audio
    assert abs(info.audio_duration_s - 0.1) <= 1 / 30
