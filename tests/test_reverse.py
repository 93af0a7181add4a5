"""Reverse playback (``rev``): the same source frames and sound, last first; boomerangs; the length rule.

The test clip encodes time in its content: its grey level rises by 70 per second and its tone
grows louder, so a reversed render must get darker and quieter as it plays.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.config import EngineConfig
from engine.encode.encoders import CodecChoice
from engine.errors import DraftError
from engine.media.fonts import FontCatalog
from engine.media.probe import inspect_output
from engine.media.resolve import LocalResolver
from engine.model.draft import parse_draft
from engine.model.mediainfo import AudioStream, MediaInfo, VideoStream
from engine.model.timeline import MAX_REVERSE_MS, build_timeline
from engine.pipeline.render import RenderResult, render
from tests.conftest import audio_samples, ffmpeg, rms, video_frames

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


@pytest.fixture()
def render_ramp(ramp_dir: Path, config: EngineConfig, cpu_only: CodecChoice, fonts: FontCatalog,
                tmp_path: Path) -> Callable[..., RenderResult]:
    def run(draft: dict[str, Any], name: str = "out.mp4") -> RenderResult:
        return render(draft, tmp_path / name, config=config, resolve=LocalResolver(ramp_dir), codecs=cpu_only,
                      fonts=fonts)

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
