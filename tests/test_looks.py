"""Crop, blur and ``m.enhance``: the draft fields, the graph, and real renders probed.

Media are tiny (320x180, a second or two) and made once for the module with lavfi and Pillow.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from engine.chunks.plan import plan_parts
from engine.chunks.runner import render_chunked
from engine.config import EngineConfig
from engine.encode.encoders import CodecChoice
from engine.encode.profiles import output_args
from engine.errors import DraftError
from engine.graph.build import rate
from engine.graph.compile import compile_render
from engine.media.fonts import FontCatalog
from engine.media.resolve import LocalResolver
from engine.media.stats import (
    BLACK,
    GAMMA_LIMITS,
    MAX_BRIGHTNESS,
    MAX_CONTRAST,
    MAX_SATURATION,
    WHITE,
    Grade,
    Loudness,
    PictureStats,
    grade_for,
)
from engine.model.cost import measure
from engine.model.draft import Box, json_schema, parse_draft
from engine.model.looks import MIN_BLUR_PX, MIN_CROP_PX, blur_rect, crop_rect
from engine.model.mediainfo import AudioStream, MediaInfo, VideoStream
from engine.model.timeline import build_timeline
from engine.pipeline.render import RenderResult, render
from tests.conftest import FFMPEG, ffmpeg
from tests.placeholders import placeholder_sources

W, H = 320, 180
RED, BLUE = (255, 0, 0), (0, 0, 255)


@pytest.fixture(scope="module")
def looks_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("looks")
    halves = Image.new("RGB", (W, H), BLUE)
    halves.paste(RED, (0, 0, W // 2, H))
    halves.save(d / "halves.png")
    ffmpeg("-loop", "1", "-i", str(d / "halves.png"), "-t", "1", "-r", "30", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           str(d / "halves.mp4"))
    squares = (np.indices((H, W)) // 8).sum(axis=0) % 2 * 255
    Image.fromarray(np.repeat(squares[:, :, None], 3, axis=2).astype(np.uint8)).save(d / "checker.png")
    ffmpeg("-loop", "1", "-i", str(d / "checker.png"), "-t", "1", "-r", "30", "-c:v", "libx264", "-crf", "8",
           "-pix_fmt", "yuv420p", str(d / "checker.mp4"))
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=s={W}x{H}:r=30:d=1",
           "-vf", "eq=contrast=0.4:brightness=-0.1:saturation=0.12", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           str(d / "dim.mp4"))
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=s={W}x{H}:r=30:d=1", "-vf", "eq=contrast=1.3", "-c:v", "libx264",
           "-pix_fmt", "yuv420p", str(d / "vivid.mp4"))
    for level in (-36, -30, -22):
        # a 1 kHz stereo tone is about 0.7 LU louder than its amplitude in dBFS
        amplitude = 10 ** ((level + 0.7) / 20)
        ffmpeg("-f", "lavfi", "-i", f"aevalsrc={amplitude:.6f}*sin(2*PI*1000*t):s=48000:d=2:c=stereo",
               str(d / f"tone{level}.wav"))
    Image.new("RGB", (W, H), (40, 120, 60)).save(d / "still.png")
    ramp = np.linspace(90, 150, W)[None, :, None] * np.ones((H, 1, 1))
    tint = np.array([1.0, 0.92, 0.85])             # a flat, greyish ramp: narrow levels, little colour
    Image.fromarray((ramp * tint).astype(np.uint8)).save(d / "flat.png")
    return d


@pytest.fixture()
def make(looks_media: Path, config: EngineConfig, cpu_only: CodecChoice, fonts: FontCatalog,
         tmp_path: Path) -> Callable[..., RenderResult]:
    def run(draft: dict[str, Any], name: str = "out.mp4", **settings: Any) -> RenderResult:
        return render(draft, tmp_path / name, config=replace(config, **settings), resolve=LocalResolver(looks_media),
                      codecs=cpu_only, fonts=fonts)

    return run


def frames(path: Path, fmt: str = "rgb24") -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format=fmt) for f in container.decode(video=0)]


def one(src: str, **seg: Any) -> dict[str, Any]:
    return {"t": [{"tt": 0, "sg": [{"src": src, **seg}]}]}


def integrated_lufs(path: Path) -> float:
    """The file's integrated loudness, by FFmpeg's ebur128 filter (its summary on stderr)."""
    done = subprocess.run([FFMPEG, "-nostdin", "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128",
                           "-f", "null", "-"], capture_output=True, text=True, check=True)
    return float(re.findall(r"I:\s+(-?[0-9.]+) LUFS", done.stderr)[-1])


# ---------------------------------------------------------------- the draft


def test_regions_outside_the_picture_and_bad_targets_are_refused_with_their_paths() -> None:
    draft = {"m": {"enhance": {"loudness": -50, "picture": "maybe"}}, "t": [{"tt": 0, "sg": [
        {"src": "a.mp4", "crop": {"x": 0.6, "w": 0.5}},
        {"src": "a.mp4", "blur": [{"w": 0.2}, {"y": 0.9, "h": 0.2}]},
        {"src": "a.mp4", "blur": [{"w": 0.1}] * 9}]}]}
    with pytest.raises(DraftError) as caught:
        parse_draft(draft)
    found = {(issue.path, issue.rule) for issue in caught.value.issues}
    assert found == {("m.enhance.loudness", "greater_than_equal"), ("m.enhance.picture", "bool_parsing"),
                     ("t[0].sg[0].crop", "region_inside"), ("t[0].sg[1].blur[1]", "region_inside"),
                     ("t[0].sg[2].blur", "too_long")}


def test_the_fields_round_trip_and_take_their_defaults() -> None:
    model = parse_draft({"m": {"enhance": {}}, "t": [{"tt": 0, "sg": [{"src": "a.mp4", "crop": {"w": 0.5}}]}]})
    assert (model.m.enhance.picture, model.m.enhance.loudness) == (True, -14.0)
    segment = model.t[0].sg[0]
    assert (segment.crop.x, segment.crop.w, segment.crop.h, segment.blur) == (0, 0.5, 1, [])
    assert parse_draft({"t": []}).m.enhance is None


def test_the_schema_describes_the_new_fields() -> None:
    schema = json_schema()
    segment = schema["$defs"]["VideoSegment"]["properties"]
    assert "SOURCE" in segment["crop"]["description"].upper() and segment["blur"]["maxItems"] == 8
    assert "after crop" in segment["blur"]["description"]
    enhance = schema["$defs"]["Enhance"]["properties"]
    assert enhance["loudness"]["default"] == -14.0 and "LUFS" in enhance["loudness"]["description"]
    assert "enhance" in schema["$defs"]["Meta"]["properties"]


# ---------------------------------------------------------------- the graph

def _clip(name: str, ms: int = 3000) -> MediaInfo:
    return MediaInfo(f"/media/{name}", "video", "mp4", "mov", 1_000_000, ms,
                     VideoStream("h264", 1280, 720, 30.0, None, "yuv420p", 0), AudioStream("aac", 48000, 2))


FAKE = {"a.mp4": _clip("a.mp4"), "long.mp4": _clip("long.mp4", 60_000)}


def test_crop_and_blur_are_in_the_graph_and_within_the_counted_filters() -> None:
    draft = {"m": {"width": 640, "height": 360, "enhance": {}}, "t": [{"tt": 0, "sg": [
        {"src": "a.mp4", "d": 2000, "crop": {"x": 0.25, "y": 0.1, "w": 0.5, "h": 0.5},
         "blur": [{"x": 0.1, "y": 0.1, "w": 0.2, "h": 0.2}, {"x": 0.6, "y": 0.6, "w": 0.3, "h": 0.3}]}]}]}
    model = parse_draft(draft)
    tl = build_timeline(model, FAKE)
    v = tl.base[0]
    assert (v.crop.x, v.crop.y, v.crop.w, v.crop.h) == (320, 72, 640, 360)
    assert [(r.x, r.y, r.w, r.h) for r in v.blur] == [(64, 36, 128, 72), (384, 216, 192, 108)]
    grade, tone = Grade(1.5, 0.05, 1.1, 1.3), Loudness(-30.0, 3.0, -27.0, -14.0)
    sources = placeholder_sources(tl)
    sources = type(sources)(sources.stills, sources.captions, {}, grades={v.where: grade}, loudness=tone)
    graph = compile_render(tl, sources, output_args(tl.output, rate(tl.canvas), CodecChoice(
        "libx264", "cpu", None, "t", "t"), "veryfast"), Path("/out/x.mp4")).filter_graph or ""
    assert "crop=h=ih*360/720:w=iw*640/1280:x=iw*320/1280:y=ih*72/720" in graph
    assert graph.count("boxblur=") == 2 and "eq=brightness=0.05:contrast=1.5:gamma=1.1:saturation=1.3" in graph
    assert "loudnorm=I=-14:LRA=11:TP=-1:linear=true:measured_I=-30.00" in graph
    assert len(graph.split(";")) <= measure(model, tl, FAKE).graph_filters


def test_an_enhanced_timeline_is_rendered_in_one_piece() -> None:
    draft = {"t": [{"tt": 0, "sg": [{"src": "long.mp4", "d": 20_000}]}]}
    assert len(plan_parts(draft, FAKE, 5.0)) > 1
    assert len(plan_parts({**draft, "m": {"enhance": {"picture": True, "loudness": None}}}, FAKE, 5.0)) == 1


fractions = st.floats(0, 1)


@given(x=fractions, y=fractions, w=st.floats(0.001, 1), h=st.floats(0.001, 1), width=st.integers(16, 4000),
       height=st.integers(16, 4000))
def test_regions_are_even_pixels_inside_the_picture(x: float, y: float, w: float, h: float, width: int,
                                                    height: int) -> None:
    box = Box(x=x, y=y, w=min(w, 1 - x) or 0.001, h=min(h, 1 - y) or 0.001)
    crop = crop_rect(box, width, height)
    assert all(n % 2 == 0 for n in (crop.x, crop.y, crop.w, crop.h))
    assert crop.x + crop.w <= width and crop.y + crop.h <= height
    assert crop.w >= min(MIN_CROP_PX, width - width % 2) and crop.h >= min(MIN_CROP_PX, height - height % 2)
    blur = blur_rect(box, width, height)
    assert all(n % 2 == 0 for n in (blur.x, blur.y, blur.w, blur.h)) and blur.x >= 0 and blur.y >= 0
    assert blur.x + blur.w <= width and blur.y + blur.h <= height
    assert blur.w >= MIN_BLUR_PX and blur.h >= MIN_BLUR_PX
    # a blurred region never hides less than asked
    assert blur.x <= box.x * width + 1e-6 and blur.x + blur.w >= min(width - width % 2, (box.x + box.w) * width) - 1e-6


# ---------------------------------------------------------------- the grade


@given(low=st.floats(0, 250), span=st.floats(0, 255), mean=st.floats(0, 1), chroma=st.floats(0, 120))
def test_a_grade_only_widens_within_its_caps_and_clips_nothing_new(low: float, span: float, mean: float,
                                                                    chroma: float) -> None:
    high = min(255.0, low + span)
    grade = grade_for(PictureStats(low, high, low + (high - low) * mean, chroma))
    assert 1 <= grade.contrast <= MAX_CONTRAST and 1 <= grade.saturation <= MAX_SATURATION
    assert abs(grade.brightness) <= MAX_BRIGHTNESS and GAMMA_LIMITS[0] <= grade.gamma <= GAMMA_LIMITS[1]
    if BLACK <= low and high <= WHITE:   # levels inside the video range stay inside it
        for level in (low, high):
            moved = grade.contrast * (level - 128) + 128 + grade.brightness * 255
            assert BLACK - 1 <= moved <= WHITE + 1


def test_good_footage_gets_the_identity() -> None:
    assert grade_for(PictureStats(30, 220, 120, 40)).is_identity
    assert grade_for(PictureStats(20, 230, 110, 25)).is_identity
    assert not grade_for(PictureStats(60, 140, 100, 40)).is_identity


# ---------------------------------------------------------------- renders


@pytest.mark.parametrize("src", ["halves.mp4", "halves.png"])
def test_a_crop_to_the_left_half_shows_only_red_on_the_canvas(make: Callable[..., RenderResult], src: str) -> None:
    result = make(one(src, d=500, crop={"x": 0, "y": 0, "w": 0.5, "h": 1}))
    assert (result.width, result.height) == (W, H)          # the canvas keeps the source's shape
    picture = frames(result.path)[5].reshape(-1, 3).astype(float)
    assert picture[:, 0].min() > 150 and picture[:, 2].max() < 90   # bars are the blurred crop: red too
    assert np.allclose(picture.mean(axis=0), RED, atol=12)


@pytest.mark.parametrize("src", ["checker.mp4", "checker.png"])
def test_a_blurred_box_loses_its_detail_and_nothing_else_changes(make: Callable[..., RenderResult],
                                                                 src: str) -> None:
    sharp = frames(make(one(src, d=500), "sharp.mp4").path)[5].astype(float)
    result = make(one(src, d=500, blur=[{"x": 0.25, "y": 0.25, "w": 0.5, "h": 0.5}]), "blurred.mp4")
    blurred = frames(result.path)[5].astype(float)
    inside = (slice(52, 128), slice(88, 232))        # the box is 80..240 x 45..135; its blur fades at the edges
    assert blurred[inside].var() < 0.02 * sharp[inside].var()
    outside = np.ones((H, W), bool)
    outside[40:140, 76:244] = False
    assert np.abs(blurred[outside] - sharp[outside]).mean() < 2


def _luma_range_and_chroma(path: Path) -> tuple[float, float]:
    y, u, v = (plane.astype(float) for plane in frames(path, "yuv444p")[10])
    low, high = np.percentile(y, [1, 99])
    return high - low, float(np.hypot(u - 128, v - 128).mean())


def test_enhance_widens_a_dim_flat_clip_and_leaves_a_vivid_one_alone(make: Callable[..., RenderResult]) -> None:
    enhance = {"enhance": {"picture": True, "loudness": None}}
    dim_before = _luma_range_and_chroma(make(one("dim.mp4"), "dim.mp4").path)
    dim = make({**one("dim.mp4"), "m": enhance}, "dim-enhanced.mp4")
    dim_after = _luma_range_and_chroma(dim.path)
    assert dim_after[0] > 1.5 * dim_before[0] and dim_after[1] > 1.3 * dim_before[1]
    graded = dim.enhance["segments"][0]
    assert graded["contrast"] > 1.3 and graded["saturation"] > 1.3 and graded["where"] == "t[0].sg[0]"

    plain = frames(make(one("vivid.mp4"), "vivid.mp4").path)[10].astype(float)
    vivid = make({**one("vivid.mp4"), "m": enhance}, "vivid-enhanced.mp4")
    assert Grade(*(vivid.enhance["segments"][0][k] for k in ("contrast", "brightness", "gamma",
                                                              "saturation"))).is_identity
    assert np.abs(frames(vivid.path)[10].astype(float) - plain).mean() < 1
    assert vivid.to_dict()["enhance"]["summary"].startswith("picture: 0 of 1")


@pytest.mark.parametrize("motion", [None, "zoom-in"])
def test_enhance_grades_a_flat_still_with_or_without_motion(make: Callable[..., RenderResult],
                                                            motion: str | None) -> None:
    draft = one("flat.png", d=600, mo=motion)
    before = _luma_range_and_chroma(make(draft, "flat.mp4").path)
    result = make({**draft, "m": {"enhance": {"loudness": None}}}, "flat-enhanced.mp4")
    after = _luma_range_and_chroma(result.path)
    assert after[0] > 1.4 * before[0] and after[1] > 1.2 * before[1]
    assert result.enhance["segments"][0]["contrast"] > 1.3 and result.passes == 1   # a still is measured in Python


def test_a_reversed_cropped_blurred_clip_is_the_same_turned_round_before_the_graph(
        make: Callable[..., RenderResult]) -> None:
    draft = {**one("dim.mp4", d=800, rev=True, crop={"x": 0.1, "y": 0.1, "w": 0.6, "h": 0.8},
                   blur=[{"x": 0.5, "y": 0.5, "w": 0.3, "h": 0.3}]), "m": {"enhance": {"loudness": None}}}
    in_graph = frames(make(draft, "in-graph.mp4").path)
    prepass = frames(make(draft, "prepass.mp4", reverse_in_graph_mb=0, reverse_block_mb=0.2).path)
    assert len(in_graph) == len(prepass) == 24
    assert max(np.abs(a.astype(int) - b).max() for a, b in zip(in_graph, prepass, strict=True)) <= 2


def test_a_chunked_render_crops_and_blurs_like_a_whole_one(looks_media: Path, config: EngineConfig,
                                                          cpu_only: CodecChoice, fonts: FontCatalog,
                                                          tmp_path: Path) -> None:
    looks = {"crop": {"x": 0.2, "y": 0, "w": 0.6, "h": 0.9}, "blur": [{"x": 0.4, "y": 0.4, "w": 0.4, "h": 0.4}]}
    draft = {"t": [{"tt": 0, "sg": [{"src": "dim.mp4", **looks}, {"src": "checker.mp4", **looks}]}]}
    kw: dict[str, Any] = {"config": config, "resolve": LocalResolver(looks_media), "codecs": cpu_only,
                          "fonts": fonts}
    whole = frames(render(draft, tmp_path / "whole.mp4", **kw).path)
    chunked = render_chunked(draft, tmp_path / "chunked.mp4", chunk_s=0.7, **kw)
    assert chunked.passes > 2                    # parts, the sound and the join
    parts = frames(chunked.path)
    assert len(parts) == len(whole) == 60
    assert max(float(np.abs(a.astype(float) - b).mean()) for a, b in zip(whole, parts, strict=True)) < 2


@pytest.mark.parametrize(("level", "target"), [(-36, -14), (-30, -14), (-22, -14), (-30, -23)])
def test_loudness_reaches_its_target_measured_on_the_output(make: Callable[..., RenderResult], level: int,
                                                            target: float) -> None:
    draft = {"m": {"enhance": {"picture": False, "loudness": target}},
             "t": [{"tt": 0, "sg": [{"src": "still.png", "d": 2000}]}, {"tt": 1, "sg": [{"src": f"tone{level}.wav"}]}]}
    result = make(draft)
    assert integrated_lufs(result.path) == pytest.approx(target, abs=1.0)
    report = result.to_dict()["enhance"]
    assert report["loudness_in"] == pytest.approx(level, abs=1.5)
    assert (report["loudness_out_target"], report["loudness_mode"], report["segments"]) == (target, "linear", [])
    assert result.passes == 2     # the measurement, then the render


def test_silence_is_left_silent_and_a_gif_has_no_sound_to_normalise(make: Callable[..., RenderResult]) -> None:
    silent = make({"m": {"out": {"audio": True}, "enhance": {"picture": False}}, **one("still.png", d=500)})
    assert silent.has_audio and silent.enhance["loudness_mode"] == "silent"
    assert silent.enhance["summary"] == "sound: silent, left as it is"
    gif = make({"m": {"out": {"format": "gif"}, "enhance": {}}, "t": [{"tt": 0, "sg": [{"src": "still.png", "d": 500}]},
                {"tt": 1, "sg": [{"src": "tone-30.wav"}]}]}, "out.gif")
    assert "loudness_in" not in gif.enhance and gif.enhance["loudness_out_target"] == -14
    assert gif.enhance["summary"].endswith("sound: none in this output")


def test_without_enhance_the_result_says_nothing_and_the_sound_is_as_mixed(
        make: Callable[..., RenderResult]) -> None:
    result = make({"t": [{"tt": 0, "sg": [{"src": "still.png", "d": 2000}]},
                         {"tt": 1, "sg": [{"src": "tone-30.wav"}]}]})
    assert result.enhance is None and result.passes == 1
    assert integrated_lufs(result.path) == pytest.approx(-30, abs=1.5)
