"""Chunked rendering (engine.chunks): plans that cut only where a part can start exactly, parts that
compose exactly the frames of the whole timeline, joins without re-encoding that match a single render.

The planner alone is checked on random timelines (Hypothesis, no rendering): every frame it allows a
cut at gives parts whose drafts resolve to exactly their slice of the whole timeline, frame by frame,
as an oracle written here from the pieces model says."""

from __future__ import annotations

import copy
import json
import math
import shutil
import struct
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from engine.chunks import Part, join_parts, plan_parts, render_chunked, render_part, render_sound
from engine.chunks.plan import CLIP, FREE, NEVER, STATIC, choose_cuts, cut_costs, split_at
from engine.errors import DraftError, OutputMismatch
from engine.media.probe import inspect_output
from engine.media.resolve import LocalResolver
from engine.model.draft import parse_draft
from engine.model.mediainfo import AudioStream, MediaInfo, VideoStream
from engine.model.pieces import BaseTrack, Gap, Run, base_pieces, source_seconds
from engine.model.timeline import Caption, Timeline, Visual, build_timeline
from engine.pipeline.render import probe_sources, render
from tests.conftest import ffmpeg

W, H = 320, 180


@pytest.fixture(scope="module")
def clips(media, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Moving pictures (so that a frozen or doubled frame shows), beside copies of the shared media."""
    d = tmp_path_factory.mktemp("chunks-media")
    for name in ("pattern.mp4", "red.mp4", "music.mp3"):
        shutil.copy(media.dir / name, d / name)
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=s={W}x{H}:r=30:d=10", "-f", "lavfi", "-i", "sine=f=330:d=10",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(d / "moving.mp4"))
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=s={W}x{H}:r=25:d=6", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           str(d / "moving25.mp4"))
    photo = Image.linear_gradient("L").resize((640, 360)).convert("RGB")
    draw = ImageDraw.Draw(photo)
    for i in range(8):
        x, y = 40 + 70 * i, 60 + 20 * (i % 3)
        draw.ellipse((x, y, x + 60, y + 60), fill=(40 * i, 120, 255 - 30 * i))
    photo.save(d / "photo.png")
    return d


@pytest.fixture()
def run_kw(clips: Path, config, cpu_only, fonts) -> dict[str, Any]:
    return {"config": config, "resolve": LocalResolver(clips), "codecs": cpu_only, "fonts": fonts}


def mixed() -> dict[str, Any]:
    """17 s: clips with sound, one at 2x with a crossfade into it, a still with motion, captions (one across
    the crossfade), and music under all of it."""
    return {"m": {"width": W, "height": H, "fps": 30}, "t": [
        {"tt": 0, "sg": [
            {"src": "pattern.mp4", "d": 3000},
            {"src": "moving.mp4", "ss": 1000, "d": 4000, "spd": 2, "tr": {"in": {"type": "fade", "d": 500}}},
            {"src": "photo.png", "d": 3000, "mo": "zoom-in"},
            {"src": "red.mp4", "d": 2000},
            {"src": "moving.mp4", "d": 5000, "keep": "unknown keys survive"},
        ]},
        {"tt": 7, "sg": [{"txt": "Hello", "st": 2000, "d": 3000}, {"txt": "World", "st": 12000, "d": 2000}]},
        {"tt": 1, "sg": [{"src": "music.mp3", "vol": 0.3, "loop": True}]},
    ]}


def lossless(draft: dict[str, Any]) -> dict[str, Any]:
    """The same timeline as a GIF at the same size and rate: its parts are lossless (FFV1), so they can be
    compared with the whole timeline's picture bit for bit."""
    out = copy.deepcopy(draft)
    meta = out.setdefault("m", {})
    meta["out"] = {"format": "gif", "fps": meta.get("fps", 30), "width": W}
    return out


def plan(draft: dict[str, Any], chunk_s: float, run_kw: dict[str, Any]) -> list[Part]:
    return plan_parts(draft, probe_sources(parse_draft(draft), run_kw["resolve"]), chunk_s)


def parts_at(draft: dict[str, Any], cuts: list[int], run_kw: dict[str, Any]) -> list[Part]:
    parts = split_at(draft, probe_sources(parse_draft(draft), run_kw["resolve"]), cuts)
    assert parts is not None
    return parts


def costs(draft: dict[str, Any], run_kw: dict[str, Any]) -> np.ndarray:
    return cut_costs(build_timeline(parse_draft(draft), probe_sources(parse_draft(draft), run_kw["resolve"])))


def decoded(path: Path, keep: set[int] | None = None) -> dict[int, np.ndarray]:
    with av.open(str(path)) as container:
        return {i: f.to_ndarray(format="rgb24").astype(np.int16)
                for i, f in enumerate(container.decode(video=0)) if keep is None or i in keep}


def mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def assert_parts_are_the_whole(draft: dict[str, Any], parts: list[Part], tmp_path: Path, run_kw) -> None:
    """Every frame of the parts, one after another, equals the whole timeline's, exactly."""
    whole = render_part(Part(0, 0, parts[-1].end_frame, draft), tmp_path / "whole.mkv", **run_kw)
    expected = decoded(whole)
    got: list[np.ndarray] = []
    for part in parts:
        got += decoded(render_part(part, tmp_path / f"part{part.index}.mkv", **run_kw)).values()
    assert len(got) == len(expected) == parts[-1].end_frame
    differing = [i for i, frame in enumerate(got) if not np.array_equal(frame, expected[i])]
    assert differing == []


# ---------------------------------------------------------------- the plan


def test_part_round_trips_through_json(run_kw) -> None:
    parts = plan(mixed(), 5.0, run_kw)
    assert len(parts) > 1
    for part in parts:
        back = Part.from_dict(json.loads(json.dumps(part.to_dict())))
        assert back == part and back.frames == part.end_frame - part.start_frame


def test_plan_cuts_only_where_a_part_can_start_exactly(run_kw) -> None:
    draft = mixed()
    parts = plan(draft, 5.0, run_kw)
    assert [(p.start_frame, p.end_frame) for p in parts] == [(0, 129), (129, 210), (210, 360), (360, 510)]
    assert [p.index for p in parts] == [0, 1, 2, 3]
    # 129 is inside the 2x clip (after its crossfade) and the first caption; 210 and 360 are between clips.
    # Nowhere inside the crossfade (frames 83-97), the still with motion (210-300) or a fading caption.
    first, second = (p.draft["t"] for p in parts[:2])
    assert first[0]["sg"][-1]["tr"] == {"in": {"type": "fade", "d": 500}} and second[0]["sg"][0]["tr"] == {}
    # the 2x clip starts at frame 90 from 1 s of its source; 39 frames on it shows 1 + 39 x 2 / 30 = 3.6 s,
    # a whole ms, so the second piece starts there (at 30 fps and 2x, every third frame is a whole ms)
    assert first[0]["sg"][-1].get("ss") == 1000 and second[0]["sg"][0]["ss"] == 3600
    assert first[1]["sg"] == [{"txt": "Hello", "st": 1984, "d": 2300, "fo": 0}]
    assert second[1]["sg"] == [{"txt": "Hello", "st": 0, "d": 684, "fi": 0}]
    assert parts[3].draft["t"][0]["sg"][0]["keep"] == "unknown keys survive"
    for part in parts:
        meta = part.draft["m"]
        assert meta["out"]["audio"] is False and (meta["width"], meta["height"]) == (W, H)
        assert all(track["tt"] != 1 for track in part.draft["t"])           # no sound in a part
    assert mixed() == draft                                                # the draft given is left alone


def test_parts_compose_exactly_the_frames_of_the_whole_timeline(run_kw, tmp_path: Path) -> None:
    draft = lossless(mixed())
    parts = plan(draft, 5.0, run_kw)
    assert len(parts) == 4
    assert_parts_are_the_whole(draft, parts, tmp_path, run_kw)


def test_gaps_and_a_music_only_tail_are_cut_in_the_background(run_kw, tmp_path: Path) -> None:
    draft = lossless({"d": 9000, "m": {"width": W, "height": H, "bg": "#204060"}, "t": [
        {"tt": 0, "sg": [{"src": "pattern.mp4", "st": 500, "d": 2500, "tr": {"out": "fadeblack"}},
                         {"src": "photo.png", "st": 4000, "d": 2000, "tr": {"in": "fade"}}]},
        {"tt": 1, "sg": [{"src": "music.mp3", "loop": True}]}]})
    parts = plan(draft, 2.5, run_kw)
    assert len(parts) == 4
    assert_parts_are_the_whole(draft, parts, tmp_path, run_kw)


def test_overlays_across_the_cuts_are_split_into_identical_pieces(run_kw, tmp_path: Path) -> None:
    # a logo and a caption over the whole clip: each is cut into pieces that draw the same picture
    draft = lossless({"m": {"width": W, "height": H}, "t": [
        {"tt": 0, "sg": [{"src": "moving.mp4", "d": 6000}]},
        {"tt": 0, "sg": [{"src": "photo.png", "d": 6000, "op": 0.7, "tr": {"in": "fade"},
                          "box": {"x": 0.6, "y": 0.05, "w": 0.35, "h": 0.3}}]},
        {"tt": 7, "sg": [{"txt": "Live", "d": 6000, "style": {"anim": "fade-in", "pos": "bottom"}}]}]})
    parts = plan(draft, 2.0, run_kw)
    assert len(parts) == 3
    assert [len(p.draft["t"][1]["sg"]) for p in parts] == [1, 1, 1]
    assert parts[1].draft["t"][1]["sg"][0]["tr"] == {} and parts[2].draft["t"][2]["sg"][0]["fi"] == 0
    assert_parts_are_the_whole(draft, parts, tmp_path, run_kw)


def test_one_long_clip_is_split_inside_at_whole_ms_source_times(run_kw, tmp_path: Path) -> None:
    draft = lossless({"m": {"width": W, "height": H}, "t": [{"tt": 0, "sg": [{"src": "moving.mp4", "ss": 500}]}]})
    parts = plan(draft, 3.0, run_kw)
    # at 30 fps every third frame is a whole ms of source: the cuts go to the nearest such frame
    assert [(p.start_frame, p.end_frame) for p in parts] == [(0, 72), (72, 141), (141, 213), (213, 285)]
    assert [p.draft["t"][0]["sg"][0]["ss"] for p in parts] == [500, 2900, 5200, 7600]
    assert_parts_are_the_whole(draft, parts, tmp_path, run_kw)


def test_a_source_at_another_rate_is_split_wherever_the_time_is_a_whole_ms(run_kw, tmp_path: Path) -> None:
    # 25 fps on a 30 fps canvas: the frames picked follow from the source times, not from where the
    # source's frames line up with the canvas's, so a cut needs only a whole ms
    draft = lossless({"m": {"width": W, "height": H}, "t": [{"tt": 0, "sg": [{"src": "moving25.mp4", "ss": 130}]}]})
    cost = costs(draft, run_kw)
    assert [f for f in range(1, 40) if cost[f] < NEVER] == [3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 33, 36, 39]
    parts = parts_at(draft, [3, 57, 99], run_kw)          # none of them where a source frame lands on one
    assert [p.draft["t"][0]["sg"][0]["ss"] for p in parts] == [130, 230, 2030, 3430]
    assert_parts_are_the_whole(draft, parts, tmp_path, run_kw)
    assert split_at(draft, probe_sources(parse_draft(draft), run_kw["resolve"]), [58]) is None   # 1963.33 ms


def test_a_clip_fading_in_at_frame_0_is_split_inside(run_kw, tmp_path: Path) -> None:
    draft = lossless({"m": {"width": W, "height": H}, "t": [{"tt": 0, "sg": [
        {"src": "moving25.mp4", "ss": 40, "spd": 4, "tr": {"in": "fade", "out": "fade"}},
        {"src": "moving.mp4", "ss": 3000}]}]})
    parts = plan(draft, 1.0, run_kw)
    assert len(parts) > 3 and parts[1].start_frame < 45          # the first clip is frames 0-44
    assert_parts_are_the_whole(draft, parts, tmp_path, run_kw)


def beside() -> dict[str, Any]:
    """8 s at 25 fps (a frame is 40 ms, so every frame of a clip at speed 1 is a whole ms) of things that
    are one frame long, or sit right next to a cut or a transition, with a caption over most of it."""
    return {"m": {"width": W, "height": H, "fps": 25}, "t": [
        {"tt": 0, "sg": [
            {"src": "moving.mp4", "ss": 2000, "d": 40},                                     # 0: one frame
            {"src": "pattern.mp4", "d": 1000},                                              # 1-25, a gap at 26
            {"src": "moving.mp4", "st": 1080, "ss": 4000, "d": 1000,                       # 27-51
             "tr": {"out": {"type": "wipeleft", "d": 40}}},                                 # one frame: 52
            {"src": "red.mp4", "d": 1000, "tr": {"out": {"type": "fade", "d": 400}}},       # 52-76; 72-81
            {"src": "pattern.mp4", "d": 3600, "tr": {"out": {"type": "dissolve", "d": 40}}},  # 77-166, held
            {"src": "photo.png", "d": 400},                                                 # 167-176
            {"src": "moving.mp4", "ss": 500, "d": 40},                                      # 177: one frame
            {"src": "moving.mp4", "ss": 300, "d": 1000}]},                                  # 178-202
        {"tt": 7, "sg": [{"txt": "Hi", "st": 400, "d": 7000, "fi": 200, "fo": 200}]},       # 10-184, in by 15, out 180-
        {"tt": 1, "sg": [{"src": "music.mp3", "vol": 0.5, "loop": True}]}]}


BESIDE_CUTS = [1, 10, 26, 27, 53, 72, 82, 168, 177, 178, 180]


def test_cuts_right_beside_one_frame_items_gaps_and_transitions(run_kw, tmp_path: Path) -> None:
    draft = lossless(beside())
    cost = costs(draft, run_kw)
    allowed = {f for f in range(len(cost)) if cost[f] < NEVER}
    # after the one-frame clips, either side of the one-frame gap, after the one-frame transitions,
    # on either edge of the crossfade (inside the clips it joins), where the caption starts, and where it
    # starts to fade out
    assert set(BESIDE_CUTS) <= allowed
    assert cost[1] == FREE and cost[26] == cost[27] == cost[168] == cost[177] == cost[178] == STATIC   # the caption
    assert cost[10] == cost[53] == cost[72] == cost[82] == cost[180] == CLIP
    # never where a transition is centred (52, 167) or inside one, while the caption fades in or out, or
    # where the clip held past the end of its 3 s source (frames 152-166) would need an ss beyond it
    assert not allowed & {52, 167, *range(73, 82), *range(11, 15), *range(152, 167), *range(181, 185)}
    parts = parts_at(draft, BESIDE_CUTS, run_kw)
    assert [p.frames for p in parts] == [1, 9, 16, 1, 26, 19, 10, 86, 9, 1, 2, 23]
    assert_parts_are_the_whole(draft, parts, tmp_path, run_kw)


def test_mp4_parts_beside_one_frame_items_join_to_the_timelines_frames_and_sound(run_kw, tmp_path: Path) -> None:
    draft = beside()
    parts = parts_at(draft, [27, 53, 82, 168], run_kw)     # none shorter than the encoder's delay (MIN_PART_FRAMES)
    files = [render_part(p, tmp_path / f"part{p.index}.mp4", **run_kw) for p in parts]
    sound = render_sound(draft, tmp_path / "sound.m4a", config=run_kw["config"], resolve=run_kw["resolve"])
    joined = join_parts(draft, files, sound, tmp_path / "joined.mp4", config=run_kw["config"], frames=203)
    info = inspect_output(joined.path)
    assert (info.video_codec, info.frames, info.audio_codec) == ("h264", 203, "aac")
    assert abs(info.duration_s - 203 / 25) < 1e-3 and abs((info.audio_duration_s or 0) - 203 / 25) <= 1 / 25
    single = decoded(render(draft, tmp_path / "single.mp4", **run_kw).path)
    for i, frame in decoded(joined.path).items():
        assert mad(frame, single[i]) < 3.0, i


def speeds() -> dict[str, Any]:
    """10 s at 30 fps: clips at 0.5x, 1x, 1.5x and 2x, then reversed at 1.5x (entered by a crossfade)
    and at 1x (its last three frames cut off by the timeline's end)."""
    return {"d": 9900, "m": {"width": W, "height": H, "fps": 30}, "t": [{"tt": 0, "sg": [
        {"src": "moving.mp4", "ss": 500, "spd": 0.5, "d": 2000},                     # 0-59
        {"src": "moving.mp4", "ss": 1000, "d": 2000},                                # 60-119
        {"src": "moving.mp4", "ss": 2000, "spd": 1.5, "d": 2000},                    # 120-179
        {"src": "moving.mp4", "ss": 3000, "spd": 2, "d": 2000},                      # 180-239
        {"src": "moving.mp4", "ss": 1000, "spd": 1.5, "rev": True, "d": 1000,        # 240-269
         "tr": {"in": {"type": "fade", "d": 200}}},                                  # 237-242
        {"src": "moving.mp4", "ss": 2000, "rev": True, "d": 1000}]}]}               # 270-296 (+3 cut)


def test_clips_are_split_inside_where_the_source_time_is_a_whole_ms(run_kw, tmp_path: Path) -> None:
    draft = lossless(speeds())
    cost = costs(draft, run_kw)

    def inside(start: int, end: int) -> list[int]:          # the clip's own frames a cut may go at
        return [f - start for f in range(start + 1, end) if cost[f] == CLIP]

    # 1000/30 ms a frame times 0.5, 1 or 2: a whole ms every third frame; times 1.5: every frame (50 ms)
    assert inside(0, 60) == inside(60, 120) == list(range(3, 60, 3))
    assert inside(120, 180) == list(range(1, 60))
    assert inside(180, 240) == list(range(3, 58, 3))          # up to the crossfade (237-242), which starts at 57
    assert inside(240, 270) == list(range(3, 30))             # from the end of the crossfade
    # reversed: the piece before the cut is the one that moves its ss (to the time of its last frame, the
    # first it plays forwards), so the rule counts frames from the clip's end, its 3 cut-off frames included
    assert inside(270, 297) == list(range(3, 27, 3))
    assert [f for f in range(236, 245) if cost[f] < NEVER] == [237, 243, 244]
    parts = parts_at(draft, [30, 90, 121, 155, 210, 250, 255, 285], run_kw)
    sg = [p.draft["t"][0]["sg"] for p in parts]
    assert [s["ss"] for s in sg[1]] == [1000, 1000]                      # 0.5x: 0.5 + 30 x 0.5 / 30 s; 1x
    assert [s["ss"] for s in sg[5]] == [3000 + 30 * 2000 // 30, 1000 + 20 * 50]   # 2x; 1.5x reversed to 250
    assert sg[5][1]["tr"] == {"in": {"type": "fade", "d": 200}}
    assert sg[6][0]["ss"] == 1000 + 15 * 50                                        # 250-254
    assert [s["ss"] for s in sg[7]] == [1000, 2000 + 15 * 1000 // 30]              # to its end; to 285
    assert sg[8][0]["ss"] == 2000                                         # a reversed clip's last piece: as whole
    assert_parts_are_the_whole(draft, parts, tmp_path, run_kw)
    media = probe_sources(parse_draft(draft), run_kw["resolve"])
    assert split_at(draft, media, [61]) is None and split_at(draft, media, [271]) is None   # 1033.3 ms


@pytest.mark.parametrize("draft", [
    {"m": {"width": W, "height": H}, "t": [{"tt": 0, "sg": [{"src": "photo.png", "d": 20000, "mo": "pan-left"}]}]},
    {"m": {"width": W, "height": H, "out": {"format": "webm"}}, "t": [{"tt": 0, "sg": [{"src": "moving.mp4"}]}]},
    {"m": {"width": W, "height": H, "out": {"format": "gif", "max_mb": 1}},
     "t": [{"tt": 0, "sg": [{"src": "moving.mp4"}]}]},
    {"m": {"width": W, "height": H}, "t": [{"tt": 0, "sg": [{"src": "moving.mp4", "d": 4000}]}]},
    {"m": {"width": W, "height": H}, "t": [
        {"tt": 0, "sg": [{"src": "moving.mp4", "d": 8000}]},
        {"tt": 0, "sg": [{"src": "moving25.mp4", "d": 8000, "box": {"x": 0.5, "y": 0.5, "w": 0.4, "h": 0.4}}]}]},
], ids=["still-with-motion", "webm", "gif-size-target", "short", "clip-on-a-layer"])
def test_what_cannot_be_cut_exactly_is_one_part(run_kw, draft: dict[str, Any]) -> None:
    parts = plan(draft, 5.0, run_kw)
    assert len(parts) == 1
    assert (parts[0].index, parts[0].start_frame, parts[0].draft) == (0, 0, draft)


# ---------------------------------------------------------------- the planner alone, on random timelines


def _video(name: str, ms: int) -> MediaInfo:
    return MediaInfo(name, "video", "mp4", "mov", 1, ms, VideoStream("h264", 64, 36, 30.0, None, "yuv420p", 0),
                     AudioStream("aac", 48000, 2))


MEDIA = {m.path: m for m in (
    _video("long.mp4", 4000), _video("short.mp4", 600),
    MediaInfo("photo.jpg", "image", "jpg", None, 1, None, VideoStream("jpg", 120, 80, None, 1, None, 0), None),
    MediaInfo("music.mp3", "audio", "mp3", "mp3", 1, 60_000, None, AudioStream("mp3", 44100, 2)))}


@st.composite
def timelines(draw: st.DrawFn) -> dict[str, Any]:
    """Small drafts of every kind of base item (one frame long too), gaps, speeds, reverse, transitions
    down to one frame, a draft length that cuts the last segment, captions and an upper track."""
    fps = draw(st.sampled_from([24, 25, 30, 29.97]))
    rate = Fraction(30000, 1001) if fps == 29.97 else Fraction(fps)

    def ms(frame: int) -> int:                 # the first ms of a frame
        return max(0, math.ceil((frame - Fraction(1, 2)) * 1000 / rate))

    def fade(most: int) -> dict[str, Any]:       # mostly short enough to fit (or the draft is drawn again)
        return {"type": draw(st.sampled_from(["fade", "wipeleft", "dissolve"])),
                "d": ms(draw(st.sampled_from([n for n in (1, 2, 3, 6, 9) if n <= max(1, most)])))}

    base: list[dict[str, Any]] = []
    at = 0
    for _ in range(draw(st.integers(1, 5))):
        at += draw(st.sampled_from([0, 0, 0, 1, 4]))
        frames = draw(st.sampled_from([1, 2, 3, 5, 12, 30]))
        seg: dict[str, Any] = {"st": ms(at), "d": ms(at + frames) - ms(at)}
        kind = draw(st.sampled_from(["clip", "clip", "clip", "still", "motion"]))
        if kind == "clip":
            seg.update(src=draw(st.sampled_from(["long.mp4", "short.mp4"])), ss=draw(st.integers(0, 590)),
                       spd=draw(st.sampled_from([0.25, 0.5, 1, 1.5, 2, 3])), rev=draw(st.booleans()))
        else:
            seg.update(src="photo.jpg", **({"mo": "zoom-in"} if kind == "motion" else {}))
        tr = {side: fade(frames) for side in ("in", "out") if draw(st.integers(0, 2)) == 0}
        if tr:
            seg["tr"] = tr
        base.append(seg)
        at += frames
    draft: dict[str, Any] = {"m": {"width": 64, "height": 36, "fps": fps}, "t": [{"tt": 0, "sg": base}]}
    if draw(st.booleans()):
        draft["d"] = ms(max(1, at - draw(st.integers(0, 4))))
    captions = []
    for start in sorted(draw(st.sets(st.integers(0, at - 1), max_size=2))):
        frames = draw(st.integers(1, 30))
        captions.append({"txt": "Hi", "st": ms(start), "d": ms(start + frames) - ms(start),
                         "fi": ms(draw(st.sampled_from([0, 0, 1, 3]))), "fo": ms(draw(st.sampled_from([0, 0, 1, 3])))})
    if captions and captions[-1:] != captions[:1]:      # one at a time on a track
        first, second = captions
        second["st"] = max(second["st"], first["st"] + first["d"])
    draft["t"].append({"tt": 7, "sg": captions})
    if draw(st.booleans()):
        start, frames = draw(st.integers(0, at)), draw(st.integers(1, 40))
        upper: dict[str, Any] = {"src": draw(st.sampled_from(["photo.jpg", "long.mp4"])), "st": ms(start),
                                 "d": ms(start + frames) - ms(start), "op": 0.5,
                                 "box": {"x": 0.5, "y": 0.5, "w": 0.5, "h": 0.5}}
        if draw(st.booleans()):
            upper["tr"] = {"in": fade(frames)}
        draft["t"].append({"tt": 0, "sg": [upper]})
    draft["t"].append({"tt": 1, "sg": [{"src": "music.mp3", "loop": True}]})
    return draft


def resolved(draft: dict[str, Any]) -> Timeline:
    try:
        return build_timeline(parse_draft(draft), MEDIA)
    except DraftError:
        assume(False)
        raise


def _bare(v: Visual) -> Visual:
    return replace(v, where="", label="", start=0, length=0, source_in_ms=0, enter=None, exit=None, cut=0)


def _item_frame(track: BaseTrack, run: Run, k: int, tl: Timeline) -> tuple[Any, ...]:
    item = track.items[run.item]
    if isinstance(item, Gap):
        return ("gap",)
    if not item.is_still:
        return ("clip", _bare(item), source_seconds(item, k, tl.canvas))
    if item.motion is not None:
        extent = track.extent(run.item)
        return ("motion", _bare(item), k - extent.first, extent.frames)
    return ("still", _bare(item))


def _layer_frame(item: Visual | Caption, f: int, tl: Timeline) -> tuple[Any, ...]:
    j = f - item.start
    if isinstance(item, Caption):
        picture: tuple[Any, ...] = ("caption", replace(item, where="", start=0, length=0, fade_in=0, fade_out=0))
        fade_in, fade_out = item.fade_in, item.fade_out
    else:
        extent = Run(0, 0, item.length)
        picture = _item_frame(BaseTrack(tl.length, (item,), ()), extent, j, tl) if not item.motion else (
            "motion", _bare(item), j, item.length)
        fade_in, fade_out = (item.enter.frames if item.enter else 0), (item.exit.frames if item.exit else 0)
    if j < fade_in:
        return ("in", j, fade_in, picture)
    if j >= item.length - fade_out:         # the graph counts a fade-out's frames from its own start
        return ("out", j - (item.length - fade_out), fade_out, picture)
    return ("full", picture)


def frames_shown(tl: Timeline) -> list[tuple[Any, ...]]:
    """The oracle: what every frame shows, frame by frame, straight from the pieces model."""
    track = base_pieces(tl)
    out = []
    for f in range(tl.length):
        piece = track.piece_at(f)
        i = f - piece.start
        base = _item_frame(track, piece.run, piece.run.first + i, tl)
        if piece.into is not None:
            base = (piece.kind, i, piece.frames, base, _item_frame(track, piece.into, piece.into.first + i, tl))
        layers = tuple(next((_layer_frame(item, f, tl) for item in layer.clips
                             if item.start <= f < item.start + item.length), None) for layer in tl.layers)
        out.append((base, layers))
    return out


def assert_slices(draft: dict[str, Any], parts: list[Part]) -> None:
    tl = resolved(draft)
    whole = frames_shown(tl)
    assert [p.start_frame for p in parts] == sorted(p.start_frame for p in parts)
    assert parts[0].start_frame == 0 and parts[-1].end_frame == tl.length
    for before, after in zip(parts, parts[1:], strict=False):
        assert before.end_frame == after.start_frame
    for part in parts:
        piece = build_timeline(parse_draft(part.draft), MEDIA)
        assert piece.canvas == tl.canvas
        assert len(parts) == 1 or not (piece.output.audio or piece.sounds)      # a part is a picture only
        assert frames_shown(piece) == whole[part.start_frame:part.end_frame]


RANDOM = settings(max_examples=120, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])


@RANDOM
@given(timelines(), st.data())
def test_every_cut_the_planner_allows_gives_parts_that_are_their_slice(draft: dict[str, Any],
                                                                        data: st.DataObject) -> None:
    tl = resolved(draft)
    allowed = [f for f, c in enumerate(cut_costs(tl)) if c < NEVER]
    assume(allowed)
    cuts = sorted(data.draw(st.sets(st.sampled_from(allowed), min_size=1, max_size=3)))
    parts = split_at(draft, MEDIA, cuts)
    assert parts is not None, cuts
    assert_slices(draft, parts)


@RANDOM
@given(timelines(), st.data())
def test_a_cut_inside_a_transition_or_a_clip_off_the_ms_is_refused(draft: dict[str, Any], data: st.DataObject) -> None:
    tl = resolved(draft)
    track = base_pieces(tl)
    refused = [f for p in track.pieces if p.into is not None for f in range(p.start + 1, p.end)]
    refused += [f for v in tl.base if not v.is_still and not v.reverse for f in range(v.start + 1, v.end)
                if (source_seconds(v, f - v.start, tl.canvas) * 1000).denominator != 1]
    assume(refused)
    cut = data.draw(st.sampled_from(refused))
    assert cut_costs(tl)[cut] == NEVER
    assert split_at(draft, MEDIA, [cut]) is None                     # the safety net catches it too


@RANDOM
@given(timelines(), st.sampled_from([0.1, 0.25, 0.6]))
def test_plans_are_their_slices_and_never_fall_back(draft: dict[str, Any], chunk_s: float) -> None:
    tl = resolved(draft)
    parts = plan_parts(draft, MEDIA, chunk_s)
    assert_slices(draft, parts)
    if tl.length > round(chunk_s * tl.canvas.fps):
        assert [p.start_frame for p in parts[1:]] == choose_cuts(cut_costs(tl), math.ceil(
            tl.length / max(1, round(chunk_s * tl.canvas.fps))))


def test_render_chunked_of_one_part_is_a_plain_render(run_kw, tmp_path: Path) -> None:
    draft = {"m": {"width": W, "height": H}, "t": [{"tt": 0, "sg": [{"src": "photo.png", "d": 3000, "mo": "zoom-in"}]}]}
    result = render_chunked(draft, tmp_path / "out.mp4", chunk_s=1.0, **run_kw)
    assert result.passes == 1 and result.frames == 90 and "joined" not in result.encoder_reason


# ---------------------------------------------------------------- MP4: parts joined, sound muxed


@pytest.fixture(scope="module")
def renders(clips: Path, config, cpu_only, fonts, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The mixed timeline rendered once whole and once in parts of about 5 s (with their files kept)."""
    out = tmp_path_factory.mktemp("chunked-mp4")
    kw = {"config": config, "resolve": LocalResolver(clips), "codecs": cpu_only, "fonts": fonts}
    single = render(mixed(), out / "single.mp4", **kw)
    progress: list[float] = []
    chunked = render_chunked(mixed(), out / "chunked.mp4", chunk_s=5.0, on_progress=progress.append, **kw)
    parts = plan_parts(mixed(), probe_sources(parse_draft(mixed()), kw["resolve"]), 5.0)
    files = [render_part(p, out / f"part{p.index}.mp4", **kw) for p in parts]
    sound = render_sound(mixed(), out / "sound.m4a", config=config, resolve=kw["resolve"])
    return {"single": single, "chunked": chunked, "progress": progress, "parts": parts, "files": files,
            "sound": sound, "dir": out}


def test_chunked_mp4_has_the_frames_duration_and_sound_of_a_single_render(renders) -> None:
    single, chunked = renders["single"], renders["chunked"]
    a, b = inspect_output(single.path), inspect_output(chunked.path)
    assert (b.video_codec, b.width, b.height, b.frames) == ("h264", W, H, a.frames) == ("h264", W, H, 510)
    assert abs(b.duration_s - a.duration_s) <= 1 / 30 and abs(b.audio_duration_s - a.audio_duration_s) <= 1 / 30
    assert chunked.has_audio and chunked.encoder == "libx264" and chunked.encoder_reason.endswith(
        "4 parts joined without re-encoding")
    assert chunked.passes == 4 + 1 + 1                                     # parts, sound, join
    progress = renders["progress"]
    assert progress[-1] == 1.0 and all(0 <= p <= 1 for p in progress)
    with av.open(str(single.path)) as x, av.open(str(chunked.path)) as y:
        sound_a = np.concatenate([f.to_ndarray() for f in x.decode(audio=0)], axis=1)
        sound_b = np.concatenate([f.to_ndarray() for f in y.decode(audio=0)], axis=1)
    assert sound_a.shape == sound_b.shape and np.abs(sound_a - sound_b).max() < 1e-4   # one sound, no seams
    with open(chunked.path, "rb") as fh:                                   # +faststart
        head = fh.read(64 * 1024)
    assert head.find(b"moov") != -1 and (head.find(b"mdat") == -1 or head.find(b"moov") < head.find(b"mdat"))


def test_chunked_mp4_boundaries_show_the_single_renders_frames(renders) -> None:
    cuts = [p.start_frame for p in renders["parts"][1:]]
    near = {i for cut in cuts for i in range(cut - 2, cut + 2)}
    single, chunked = decoded(renders["single"].path, near), decoded(renders["chunked"].path, near)
    for cut in cuts:
        for i in (cut - 1, cut):               # the last frame of one part and the first of the next
            assert mad(chunked[i], single[i]) < 2.0, (cut, i)
        for i in (cut - 1, cut, cut + 1):      # nothing frozen or doubled: frames change as they do in the single
            assert abs(mad(chunked[i], chunked[i - 1]) - mad(single[i], single[i - 1])) < 1.5, (cut, i)
            if mad(single[i], single[i - 1]) > 1:
                assert mad(chunked[i], chunked[i - 1]) > 1, (cut, i)


def test_join_checks_its_parts(renders, config, tmp_path: Path) -> None:
    files, sound, draft = renders["files"], renders["sound"], mixed()
    for path in files:                             # each part opens on a keyframe, and has no sound
        with av.open(str(path)) as container:
            assert next(container.demux(video=0)).is_keyframe and not container.streams.audio
    joined = join_parts(draft, files, sound, tmp_path / "again.mp4", config=config, frames=510)
    assert (joined.frames, joined.has_audio) == (510, True)
    with pytest.raises(OutputMismatch, match="expected part 1"):
        join_parts(draft, [files[0], files[2], files[1], files[3]], sound, tmp_path / "x.mp4", config=config)
    with pytest.raises(OutputMismatch, match="the timeline has 510"):
        join_parts(draft, files[:3], None, tmp_path / "x.mp4", config=config, frames=510)
    silent = dict(draft, m={**draft["m"], "out": {"audio": False}})
    with pytest.raises(OutputMismatch, match="has no sound"):
        join_parts(silent, files, sound, tmp_path / "x.mp4", config=config)
    assert not list(tmp_path.glob("x.mp4*")) and not list(tmp_path.glob(".x.mp4*"))


def test_join_checks_its_parts_sound_length(renders, config, tmp_path: Path) -> None:
    files, sound = renders["files"], renders["sound"]
    with pytest.raises(OutputMismatch, match="sound lasts"):
        join_parts(mixed(), files[:3], sound, tmp_path / "x.mp4", config=config)


def test_join_refuses_parts_encoded_differently(renders, run_kw, tmp_path: Path) -> None:
    parts, files = renders["parts"], renders["files"]
    faster = dict(run_kw, config=replace(run_kw["config"], x264_preset="ultrafast"))   # no B-frames, CAVLC
    odd = render_part(parts[2], tmp_path / "odd.mp4", **faster)
    with pytest.raises(OutputMismatch, match="parameter sets"):
        join_parts(mixed(), [files[0], files[1], odd, files[3]], renders["sound"], tmp_path / "x.mp4",
                   config=run_kw["config"])


# ---------------------------------------------------------------- GIF: one palette over all the parts


def gif_color_tables(path: Path) -> tuple[bytes, int]:
    """The global colour table and how many frames bring a local one."""
    data = path.read_bytes()
    flags = data[10]
    size = 3 << ((flags & 7) + 1) if flags & 0x80 else 0
    table, pos, local = data[13:13 + size], 13 + size, 0
    while data[pos] != 0x3B:
        if data[pos] == 0x21:
            pos += 2
        else:
            packed = struct.unpack_from("<B", data, pos + 9)[0]
            local += bool(packed & 0x80)
            pos += 10 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0) + 1
        while data[pos]:
            pos += data[pos] + 1
        pos += 1
    return table, local


@pytest.mark.parametrize("palette", ["clip", "scenes"])
def test_chunked_gif_has_the_single_renders_palettes_and_frames(run_kw, tmp_path: Path, palette: str) -> None:
    draft = {"m": {"width": W, "height": H, "out": {"format": "gif", "fps": 10, "width": 160, "palette": palette}},
             "t": [{"tt": 0, "sg": [{"src": "pattern.mp4", "d": 3000}, {"src": "moving.mp4", "ss": 2000, "d": 4000},
                                    {"src": "photo.png", "d": 2000, "tr": {"in": "fade"}}]},
                   {"tt": 7, "sg": [{"txt": "GIF", "st": 1000, "d": 4000}]}]}
    single = render(draft, tmp_path / "single.gif", **run_kw)
    chunked = render_chunked(draft, tmp_path / "chunked.gif", chunk_s=3.0, **run_kw)
    assert "3 parts joined" in chunked.encoder_reason
    assert (chunked.frames, chunked.width, chunked.height) == (single.frames, 160, 90) == (90, 160, 90)
    assert chunked.gif is not None and chunked.gif["fps"] == 10 and chunked.gif["colors"] == 256
    palette_table, local = gif_color_tables(chunked.path)
    assert len(palette_table) == 3 * 256
    if palette == "clip":
        assert local == 0                                                  # one palette, the join's
    else:                                                                  # the draft's scenes, carried by the parts
        assert single.gif is not None and chunked.gif["scenes"] == single.gif["scenes"]
        assert [s["kind"] for s in chunked.gif["scenes"]][-2:] == ["blend", "shot"]   # the fade into the photo
        assert local > 0
    assert gif_color_tables(single.path) == (palette_table, local)        # the same as a single render makes
    small_buffer = dict(run_kw, config=replace(run_kw["config"], gif_buffer_mb=1))   # the palette in its own pass
    two_pass = render_chunked(draft, tmp_path / "two-pass.gif", chunk_s=3.0, **small_buffer)
    assert two_pass.passes > chunked.passes
    for other in (chunked, two_pass):
        with Image.open(single.path) as a, Image.open(other.path) as b:
            assert a.n_frames == b.n_frames == 90
            for i in range(a.n_frames):
                a.seek(i)
                b.seek(i)
                assert np.array_equal(np.asarray(a.convert("RGB")), np.asarray(b.convert("RGB"))), i
