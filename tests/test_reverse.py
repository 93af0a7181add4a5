"""Reverse playback (``rev``): the same source frames and sound, last first; boomerangs; the length rule;
the pre-pass that turns long windows round beforehand in blocks (engine/pipeline/reverse.py): frame-exact,
the very same file as in the graph, and memory that does not grow with the window.

The test clip encodes time in its content: its grey level rises by 70 per second and its tone
grows louder, so a reversed render must get darker and quieter as it plays. Every render test runs
both ways: reversed in FFmpeg's graph, and turned round beforehand.
"""


from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, example, given

from engine.chunks.plan import plan_parts
from engine.chunks.runner import render_chunked
from engine.config import EngineConfig
from engine.encode.encoders import CodecChoice
from engine.errors import DraftError
from engine.graph.compile import compile_intermediate
from engine.media.fonts import FontCatalog
from engine.media.probe import inspect_output
from engine.media.resolve import LocalResolver
from engine.model.draft import parse_draft
from engine.model.mediainfo import AudioStream, MediaInfo, VideoStream
from engine.model.timeline import MAX_REVERSE_MS, Timeline, build_timeline
from engine.pipeline.assets import prepare_sources
from engine.pipeline.render import RenderResult, probe_sources, render
from engine.pipeline.reverse import block_frames, prepare_reversed, windows_to_prepare
from engine.run import FFmpegCommand, run_ffmpeg
from tests.conftest import FFMPEG, audio_samples, ffmpeg, rms, video_frames
from tests.draft_strategies import drafts, property_settings
from tests.frame_oracle import expected_pictures, model_reading
from tests.numbered import Picture, bg_luma, make_numbered, read_pictures
from tests.test_frame_exact import ON_THE_GRACE, Lab, problems_in
from tests.test_frame_exact import base as frame_exact_base
from tests.test_frame_exact import resolve as resolve_numbered

FPS = 30
RAMP_S = 3
GREY_PER_S = 70           # luma 20 at 0 s, 230 at 3 s


@pytest.fixture(scope="module")
def ramp_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("reverse")
    ffmpeg("-f", "lavfi", "-i", f"color=c=black:s=160x90:r={FPS}:d={RAMP_S},format=yuv420p,"
                                f"geq=lum='20+{GREY_PER_S}*T':cb=128:cr=128",
           "-f", "lavfi", "-i", f"aevalsrc=0.8*(t/{RAMP_S})*sin(2*PI*440*t):s=48000:d={RAMP_S}",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(d / "ramp.mp4"))
    return d


PREPASS = {"reverse_in_graph_mb": 0, "reverse_block_mb": 0.2}   # every window beforehand, in blocks of 9 frames


@pytest.fixture(params=["in-graph", "pre-pass"])
def render_ramp(request: pytest.FixtureRequest, ramp_dir: Path, config: EngineConfig, cpu_only: CodecChoice,
                fonts: FontCatalog, tmp_path: Path) -> Callable[..., RenderResult]:
    """Every render test runs twice: reversed in FFmpeg's graph, and turned round beforehand in blocks."""
    chosen = replace(config, **PREPASS) if request.param == "pre-pass" else config

    def run(draft: dict[str, Any], name: str = "out.mp4") -> RenderResult:
        result = render(draft, tmp_path / name, config=chosen, resolve=LocalResolver(ramp_dir), codecs=cpu_only,
                        fonts=fonts)
        windows = sum(s.get("rev", False) for t in draft["t"] for s in t["sg"])
        assert result.passes > 1 + windows if request.param == "pre-pass" and windows else result.passes == 1
        return result

    return run


def ramp(**seg: Any) -> dict[str, Any]:
    return {"src": "ramp.mp4", **seg}


def greys(path: Path, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """The mean grey of every frame (or of one region of it)."""
    x0, y0, x1, y1 = box or (0, 0, 10**6, 10**6)
    return np.array([float(f[y0:y1, x0:x1].mean()) for f in video_frames(path)])


def loudness(path: Path, parts: int) -> list[float]:
    samples = audio_samples(path)
    return [rms(chunk) for chunk in np.array_split(samples, parts, axis=1)]


# ---------------------------------------------------------------- rendering


def test_reversed_clip_shows_the_same_frames_last_first_and_its_sound_backwards(render_ramp) -> None:
    forward = render_ramp({"t": [{"tt": 0, "sg": [ramp(ss=500, d=2000)]}]}, "forward.mp4")
    backward = render_ramp({"t": [{"tt": 0, "sg": [ramp(ss=500, d=2000, rev=True)]}]}, "backward.mp4")
    info = inspect_output(backward.path)
    assert info.frames == 60 and abs(info.duration_s - 2.0) <= 1 / FPS
    assert info.has_audio and abs(info.audio_duration_s - 2.0) <= 0.05

    ahead, behind = greys(forward.path), greys(backward.path)
    assert np.all(np.diff(ahead) > 0) and np.all(np.diff(behind) < 0)          # brighter, then darker
    assert np.abs(behind - ahead[::-1]).max() <= 1.5                           # frame for frame, turned round
    # the first frame is the source's frame at 2.5 s - 1 frame, the last the one at 0.5 s (luma → RGB grey)
    first_luma = 20 + GREY_PER_S * (2.5 - 1 / FPS)
    assert behind[0] == pytest.approx((first_luma - 16) * 255 / 219, abs=3)
    assert behind[-1] == pytest.approx((20 + GREY_PER_S * 0.5 - 16) * 255 / 219, abs=3)

    louder, quieter = loudness(forward.path, 8), loudness(backward.path, 8)
    assert all(b > a for a, b in zip(louder, louder[1:], strict=False))
    assert all(b < a for a, b in zip(quieter, quieter[1:], strict=False))
    assert quieter == pytest.approx(louder[::-1], rel=0.1)


def test_boomerang_is_the_clip_then_the_same_clip_reversed(render_ramp) -> None:
    result = render_ramp({"t": [{"tt": 0, "sg": [ramp(ss=500, d=1000), ramp(ss=500, d=1000, rev=True)]}]})
    info = inspect_output(result.path)
    assert info.frames == 60 and abs(info.duration_s - 2.0) <= 1 / FPS
    assert info.has_audio and abs(info.audio_duration_s - 2.0) <= 0.05
    g = greys(result.path)
    assert abs(g[0] - g[-1]) <= 1.5                         # ends where it began
    assert abs(g[29] - g[30]) <= 1.5 and g[29] == g.max()   # turns round on the same frame
    assert np.all(np.diff(g[:30]) > 0) and np.all(np.diff(g[30:]) < 0)
    assert np.abs(g[30:] - g[:30][::-1]).max() <= 1.5
    levels = loudness(result.path, 4)
    assert levels[1] > levels[0] and levels[2] > levels[3]   # louder to the turn, then quieter


def test_reversed_clip_cut_by_the_timeline_keeps_its_first_frames(render_ramp) -> None:
    whole = render_ramp({"t": [{"tt": 0, "sg": [ramp(ss=500, d=2000, rev=True)]}]}, "whole.mp4")
    cut = render_ramp({"d": 1000, "t": [{"tt": 0, "sg": [ramp(ss=500, d=2000, rev=True)]}]}, "cut.mp4")
    first_half = greys(whole.path)[:30]
    assert np.abs(greys(cut.path) - first_half).max() <= 1.5


def test_reversed_layer_in_a_box_plays_backwards(render_ramp) -> None:
    draft = {"m": {"bg": "#000000"}, "t": [
        {"tt": 0, "sg": [ramp(d=2000)]},
        {"tt": 0, "sg": [ramp(ss=500, d=2000, rev=True, fit="stretch", box={"x": 0.5, "y": 0, "w": 0.5, "h": 1})]},
    ]}
    result = render_ramp(draft)
    left, right = greys(result.path, (8, 8, 72, 82)), greys(result.path, (88, 8, 152, 82))
    assert np.all(np.diff(left) > 0) and np.all(np.diff(right) < 0)


def test_reversed_clip_through_a_transition_continues_backwards(render_ramp) -> None:
    """The half of the fade before the reversed clip reads source frames past its out-point."""
    fade = {"in": {"type": "fade", "d": 400}}
    result = render_ramp({"t": [{"tt": 0, "sg": [ramp(ss=0, d=1000), ramp(ss=500, d=1000, rev=True, tr=fade)]}]})
    g = greys(result.path)
    assert len(g) == 60
    assert np.all(np.diff(g[36:]) < 0)          # after the fade: steadily darker
    # at the cut the mix is half the first clip (at 1 s) and half the reversed one (at 1.5 s)
    grey = [(20 + GREY_PER_S * t - 16) * 255 / 219 for t in (1.0, 1.5)]
    assert min(grey) - 3 <= g[30] <= max(grey) + 3


# ---------------------------------------------------------------- the timeline rule (no FFmpeg)


def clip(ms: int) -> MediaInfo:
    return MediaInfo("c.mp4", "video", "mp4", "mov", 1, ms, VideoStream("h264", 1920, 1080, 30.0, None, "yuv420p", 0),
                     AudioStream("aac", 48000, 2))


def timeline(segments: list[dict[str, Any]], media_ms: int = 120_000):
    photo = MediaInfo("p.jpg", "image", "jpg", None, 1, None, VideoStream("jpg", 800, 600, None, 1, None, 0), None)
    return build_timeline(parse_draft({"t": [{"tt": 0, "sg": segments}]}), {"c.mp4": clip(media_ms), "p.jpg": photo})


@pytest.mark.parametrize("segment", [
    {"src": "c.mp4", "rev": True},                              # the whole 2 min source
    {"src": "c.mp4", "ss": 1000, "d": MAX_REVERSE_MS + 1, "rev": True},
    {"src": "c.mp4", "d": 20_000, "spd": 2, "rev": True},       # 40 s of source in 20 s
    {"src": "c.mp4", "d": 40_000, "spd": 0.5, "rev": True},     # 20 s of source over 40 s
])
def test_a_long_reversed_clip_is_refused_at_its_rev(segment: dict[str, Any]) -> None:
    with pytest.raises(DraftError) as err:
        timeline([{"src": "c.mp4", "d": 1000}, segment])
    [issue] = err.value.issues
    assert (issue.path, issue.rule) == ("t[0].sg[1].rev", "reverse_length")
    assert "trim it first" in issue.message and "30 s" in issue.message


def test_reversed_clips_within_the_limit_and_reversed_stills_are_accepted() -> None:
    tl = timeline([{"src": "c.mp4", "d": MAX_REVERSE_MS, "rev": True},
                   {"src": "c.mp4", "d": 15_000, "spd": 2, "rev": True},
                   {"src": "p.jpg", "rev": True},
                   {"src": "c.mp4", "d": 40_000}])
    assert [v.reverse for v in tl.base] == [True, True, False, False]
    assert any("t[0].sg[2].rev" in w for w in tl.warnings)


def test_rev_round_trips_and_is_in_the_schema() -> None:
    from engine.model.draft import dump_draft, json_schema

    draft = parse_draft({"t": [{"tt": 0, "sg": [{"src": "c.mp4", "rev": True}, {"src": "c.mp4"}]}]})
    assert dump_draft(draft)["t"][0]["sg"] == [{"src": "c.mp4", "rev": True}, {"src": "c.mp4"}]
    prop = json_schema()["$defs"]["VideoSegment"]["properties"]["rev"]
    assert prop["type"] == "boolean" and prop["default"] is False
    with pytest.raises(DraftError) as err:
        parse_draft({"t": [{"tt": 0, "sg": [{"src": "c.mp4", "rev": "backwards"}]}]})
    assert err.value.issues[0].path == "t[0].sg[0].rev"


# ---------------------------------------------------------------- the pre-pass: frame-exact, the same file, bounded


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, config: EngineConfig, fonts: FontCatalog,
        cpu_only: CodecChoice) -> Lab:
    """The frame-exact tests' numbered media (tests/numbered.py)."""
    numbered = make_numbered(FFMPEG, tmp_path_factory.mktemp("numbered"))
    return Lab(numbered, config, fonts, cpu_only, tmp_path_factory.mktemp("pre-pass"))


def render_prepassed(tl: Timeline, lab: Lab) -> list[Picture]:
    """The composed picture of ``tl``, every reversed window turned round beforehand, in blocks of 5 frames
    on the base track (128x96), of 12 on a layer (64x48, with alpha)."""
    config = replace(lab.config, reverse_in_graph_mb=0, reverse_block_mb=0.09)
    work = Path(tempfile.mkdtemp(dir=lab.scratch))
    try:
        def run(command: FFmpegCommand, _low: float, _high: float) -> None:
            run_ffmpeg(command, ffmpeg=config.ffmpeg, work_dir=work)

        windows = windows_to_prepare(tl, config.reverse_in_graph_mb)
        assert windows and all(block_frames(w, config.reverse_block_mb) == (12 if w.layer else 5) for w in windows)
        sources, _warnings = prepare_sources(tl, work, lab.fonts, None)
        sources = prepare_reversed(tl, sources, windows, work, config, run, None)
        out = work / "picture.mkv"
        run_ffmpeg(compile_intermediate(tl, sources, out), ffmpeg=config.ffmpeg, work_dir=work)
        return read_pictures(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def has_reversed_clip(draft: dict[str, Any]) -> bool:
    return any(seg.get("rev") for track in draft["t"] for seg in track["sg"])


@example(draft=ON_THE_GRACE["reversed, then a one-frame fade"])
@example(draft=frame_exact_base({"src": "c1.mp4", "d": 2000, "spd": 1.5, "rev": True, "tr": {"out": "wipeleft"}},
                                {"src": "c2.mkv", "d": 1000}))
@example(draft=frame_exact_base({"src": "c1.mp4", "ss": 2500, "d": 1500, "rev": True},     # held past the end
                                {"src": "c2.mkv", "d": 500, "tr": {"in": "fade"}}))
@property_settings(10)
@given(draft=drafts().filter(has_reversed_clip))
def test_the_pre_pass_shows_every_frame_the_model_says(draft: dict[str, Any], lab: Lab) -> None:
    """The frame oracle of tests/test_frame_exact.py, with every reversed clip read from its blocks."""
    try:
        tl = resolve_numbered(draft, lab.numbered)
    except DraftError:
        assume(False)
    assume(any(v.reverse for v in tl.visuals()))
    want = expected_pictures(draft, model_reading(tl), lab.numbered)
    problems = list(problems_in(render_prepassed(tl, lab), want, bg_luma(tl.canvas.bg)))
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:25])


def test_the_pre_pass_renders_the_very_same_pictures_and_sound(ramp_dir: Path, config: EngineConfig,
                                                               cpu_only: CodecChoice, fonts: FontCatalog,
                                                               tmp_path: Path) -> None:
    fade = {"in": {"type": "fade", "d": 400}, "out": {"type": "wipeup", "d": 300}}
    draft = {"t": [
        {"tt": 0, "sg": [ramp(d=1000), ramp(ss=300, d=1500, spd=1.5, rev=True, tr=fade), ramp(ss=1000, d=700)]},
        {"tt": 0, "sg": [ramp(st=200, d=1800, rev=True, vol=0.5, fit="contain",
                              box={"x": 0.1, "y": 0.1, "w": 0.4, "h": 0.6})]},
    ]}
    outputs = []
    for name, chosen in (("graph", config), ("blocks", replace(config, **PREPASS))):
        outputs.append(render(draft, tmp_path / f"{name}.mp4", config=chosen, resolve=LocalResolver(ramp_dir),
                              codecs=cpu_only, fonts=fonts))
    graph, blocks = outputs
    assert graph.passes == 1 and blocks.passes == 1 + 7 + 3 + 2      # 9-frame blocks of 57 frames, 24-frame blocks
    #                                                                  of 54 on the layer, and the two sounds
    assert all(np.array_equal(a, b) for a, b in zip(video_frames(graph.path), video_frames(blocks.path), strict=True))
    assert np.array_equal(audio_samples(graph.path), audio_samples(blocks.path))


PEAK_MEMORY = """
import json, resource, sys
from engine.config import EngineConfig, bundled_ffmpeg
from engine.encode.encoders import CodecChoice
from engine.media.resolve import LocalResolver
from engine.pipeline.render import render
in_graph_mb, seconds, media, out = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
config = EngineConfig(ffmpeg=bundled_ffmpeg(), reverse_in_graph_mb=in_graph_mb, reverse_block_mb=8)
draft = {"m": {"width": 640, "height": 360}, "t": [{"tt": 0, "sg": [{"src": "wide.mp4", "d": seconds * 1000,
                                                                     "rev": True}]}]}
result = render(draft, out, config=config, resolve=LocalResolver(media),
                codecs=CodecChoice("libx264", "cpu", None, "", ""))
print(json.dumps({"passes": result.passes, "peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def test_a_reversed_clip_s_memory_does_not_grow_with_its_length(tmp_path: Path) -> None:
    """In the graph, 6 s more of a reversed 640x360 clip hold 180 frames more (60 MB); turned round
    beforehand, in blocks of 8 MB, nothing more."""
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=640x360:r=30:d=9", "-f", "lavfi", "-i", "sine=f=440:d=9",
           "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-c:a", "aac", "-shortest",
           str(tmp_path / "wide.mp4"))

    def peak(in_graph_mb: float, seconds: int) -> dict[str, Any]:
        done = subprocess.run([sys.executable, "-c", PEAK_MEMORY, str(in_graph_mb), str(seconds), str(tmp_path),
                               str(tmp_path / f"out-{in_graph_mb:g}-{seconds}.mp4")],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    short, long = peak(0, 2), peak(0, 8)
    assert (short["passes"], long["passes"]) == (1 + 3 + 1, 1 + 10 + 1)   # 24-frame blocks, the sound, the render
    assert long["peak_mb"] < short["peak_mb"] + 12
    in_graph_short, in_graph_long = peak(1000, 2), peak(1000, 8)
    assert in_graph_long["peak_mb"] > in_graph_short["peak_mb"] + 45


def test_a_chunked_render_turns_its_parts_and_its_sound_round_beforehand_alike(
        ramp_dir: Path, config: EngineConfig, cpu_only: CodecChoice, fonts: FontCatalog, tmp_path: Path) -> None:
    """Parts cut inside a reversed clip, and the whole timeline's sound pass, read their pre-pass files;
    the joined file is the one the graph's own reverse gives."""
    draft = {"t": [{"tt": 0, "sg": [ramp(d=700), ramp(ss=200, d=2500, rev=True, tr={"in": "fade"}), ramp(d=800)]}]}
    media = probe_sources(parse_draft(draft), LocalResolver(ramp_dir))
    parts = plan_parts(draft, media, 1.0)
    reversed_clip = build_timeline(parse_draft(draft), media).base[1]
    assert sum(reversed_clip.start < p.start_frame < reversed_clip.end for p in parts) >= 2
    outputs, seen = [], set()
    for name, chosen in (("graph", config), ("blocks", replace(config, work_dir=tmp_path / "work", **PREPASS))):
        done = threading.Event()

        def watch(done: threading.Event = done, folder: Path = tmp_path / "work") -> None:
            while not done.wait(0.01):
                seen.update(p.suffix for p in folder.rglob("reversed-*"))

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            outputs.append(render_chunked(draft, tmp_path / f"{name}.mp4", chunk_s=1.0, config=chosen,
                                          resolve=LocalResolver(ramp_dir), codecs=cpu_only, fonts=fonts))
        finally:
            done.set()
            watcher.join()
    graph, blocks = outputs
    assert graph.frames == blocks.frames == 120
    assert {".concat", ".f32"} <= seen and not any((tmp_path / "work").rglob("*"))   # blocks and sound, then gone
    assert all(np.array_equal(a, b) for a, b in zip(video_frames(graph.path), video_frames(blocks.path), strict=True))
    assert np.array_equal(audio_samples(graph.path), audio_samples(blocks.path))
