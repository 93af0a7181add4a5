"""Loop seams (engine/pipeline/loop_seam.py) on tiny synthetic frames: where auto ends a clip, what a
crossfade blends, and that memory stays within the window."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import DraftError
from engine.model.draft import parse_draft
from engine.pipeline.loop_seam import (
    SEARCH_SHARE,
    LoopSeam,
    output_length,
    seam_frames,
    search_window,
    thumbnail,
)

HEIGHT, WIDTH = 12, 16


def smooth_loop(length: int, period: int) -> list[np.ndarray]:
    """A wave that drifts across the frame and comes back to the start every `period` frames."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    phase = 2 * np.pi * (x / WIDTH + y / (2 * HEIGHT))
    frames = []
    for t in range(length):
        angle = 2 * np.pi * t / period
        rgb = [128 + 100 * np.sin(phase + angle + shift) for shift in (0.0, 2.0, 4.0)]
        frames.append(np.rint(np.stack(rgb, axis=-1)).astype(np.uint8))
    return frames


def noise_loop(length: int, period: int, seed: int) -> list[np.ndarray]:
    """Unrelated random pictures that repeat every `period` frames."""
    base = np.random.default_rng(seed).integers(0, 256, (period, HEIGHT, WIDTH, 3), dtype=np.uint8)
    return [base[t % period] for t in range(length)]


def run(seam: LoopSeam, frames: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """Streams the frames through; returns the output and the most frames held at any time."""
    out: list[np.ndarray] = []
    most_held = 0
    for frame in frames:
        out += seam.push(frame)
        most_held = max(most_held, seam.held_frames)
    out += seam.finish()
    return out, most_held


def test_auto_ends_a_periodic_clip_one_period_in() -> None:
    length, period = 40, 36                     # window: the last 6 frames, 34..39
    frames = smooth_loop(length, period)
    seam = LoopSeam("auto", length, 10, 400)
    out, _ = run(seam, frames)
    report = seam.report()
    assert report["end"] == period and len(out) == period and report["frames_out"] == period
    assert all(a is b for a, b in zip(out, frames, strict=False))
    # The loop jump is now one ordinary step, where it was several.
    assert report["seam_after"] == pytest.approx(report["typical_step"], abs=1.0)
    assert report["seam_before"] > 2.5 * report["typical_step"]
    assert [seam.output_index(i) for i in (0, period - 1, period, length - 1)] == [0, period - 1, None, None]


def test_auto_does_not_show_the_first_frame_twice() -> None:
    """The clip's last frame is the first again: the loop must end before it (e = P, not P + 1)."""
    seam = LoopSeam("auto", 37, 10, 400)
    out, _ = run(seam, smooth_loop(37, 36))
    assert seam.report()["end"] == 36 and len(out) == 36


def test_auto_keeps_a_clip_that_already_loops() -> None:
    frames = smooth_loop(36, 36)
    seam = LoopSeam("auto", 36, 10, 400)
    out, _ = run(seam, frames)
    report = seam.report()
    assert report["end"] == 36 and len(out) == 36
    assert report["seam_before"] == report["seam_after"] == pytest.approx(report["typical_step"], abs=1.0)


def test_auto_does_not_cut_a_still_shot_short_for_its_grain() -> None:
    """A still picture with grain: every end matches about as well, so every frame is kept."""
    rng = np.random.default_rng(5)
    picture = rng.integers(40, 200, (HEIGHT, WIDTH, 3)).astype(np.int16)
    frames = [np.clip(picture + rng.integers(-6, 7, picture.shape), 0, 255).astype(np.uint8) for _ in range(60)]
    seam = LoopSeam("auto", 60, 10, 400)
    out, _ = run(seam, frames)
    assert seam.report()["end"] == 60 and len(out) == 60


def test_auto_ties_go_to_the_later_end() -> None:
    """Frames 34, 36 and 38 all equal frame 0 (a flicker of period 2): the longest loop wins."""
    frames = [np.full((HEIGHT, WIDTH, 3), 10 * (t % 2), np.uint8) for t in range(40)]
    seam = LoopSeam("auto", 40, 10, 400)
    out, _ = run(seam, frames)
    assert seam.report()["end"] == 38 and len(out) == 38


def test_none_passes_every_frame_through() -> None:
    frames = smooth_loop(20, 9)
    seam = LoopSeam("none", 20, 10, 400)
    assert [seam.push(frame) for frame in frames] == [[frame] for frame in frames]
    assert seam.finish() == []
    report = seam.report()
    assert report["mode"] == "none" and report["frames_in"] == report["frames_out"] == 20
    assert report["seam_before"] == report["seam_after"]
    assert [seam.output_index(i) for i in range(20)] == list(range(20))


def test_crossfade_blends_the_start_into_the_end() -> None:
    length, fps, ms = 30, 10, 400
    frames = noise_loop(length, length, seed=3)
    n = seam_frames("crossfade", length, fps, ms)
    assert n == 4
    seam = LoopSeam("crossfade", length, fps, ms)
    out, most_held = run(seam, frames)
    assert len(out) == length - n == output_length("crossfade", length, fps, ms) == seam.report()["frames_out"]
    assert out[0] is frames[n]
    for j in range(length - 2 * n):
        assert out[j] is frames[n + j]
    for i in range(n):
        w = (i + 1) / (n + 1)
        want = np.rint((1 - w) * frames[length - n + i].astype(np.float64) + w * frames[i]).astype(np.uint8)
        assert np.abs(out[length - 2 * n + i].astype(int) - want).max() <= 1
    # The last frame is mostly frame n - 1, which flows into out[0] = frame n.
    last = out[-1].astype(int)
    assert np.abs(last - frames[n - 1]).mean() < np.abs(last - frames[length - 1]).mean() / 3
    assert most_held <= n
    report = seam.report()
    assert report["crossfade_frames"] == n and "end" not in report
    assert seam.output_index(n) == 0 and seam.output_index(length - 1) == length - n - 1
    assert seam.output_index(n - 1) is None


def test_crossfade_smooths_the_jump_of_a_clip_that_does_not_loop() -> None:
    frames = smooth_loop(40, 200)               # a fifth of a cycle: the end is far from the start
    seam = LoopSeam("crossfade", 40, 10, 400)
    run(seam, frames)
    report = seam.report()
    assert report["seam_after"] < report["seam_before"] / 2


@pytest.mark.parametrize(("fps", "ms", "length", "want"), [
    (10, 400, 30, 4), (10, 450, 30, 5), (10, 40, 30, 1), (25, 3000, 30, 10), (10, 400, 2, 0), (30, 1000, 9, 3)])
def test_seam_frames_rounds_and_stays_within_a_third(fps: float, ms: int, length: int, want: int) -> None:
    assert seam_frames("crossfade", length, fps, ms) == want
    assert seam_frames("auto", length, fps, ms) == seam_frames("none", length, fps, ms) == 0


def test_output_length_is_known_up_front_except_for_auto() -> None:
    assert output_length("none", 50, 12, 400) == 50
    assert output_length("crossfade", 50, 12, 400) == 45
    assert output_length("auto", 50, 12, 400) is None


def test_misuse_is_refused() -> None:
    with pytest.raises(ValueError, match="mode"):
        LoopSeam("bounce", 10, 10, 400)
    seam = LoopSeam("crossfade", 3, 10, 400)
    frame = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    for _ in range(3):
        seam.push(frame)
    with pytest.raises(ValueError, match="more frames"):
        seam.push(frame)
    short = LoopSeam("crossfade", 9, 10, 400)
    short.push(frame)
    with pytest.raises(ValueError, match="declared"):
        short.finish()
    with pytest.raises(ValueError, match="before finish"):
        LoopSeam("none", 3, 10, 400).report()


def test_thumbnails_are_small_and_keep_the_mean() -> None:
    frame = np.random.default_rng(1).integers(0, 256, (180, 320, 3), dtype=np.uint8)
    thumb = thumbnail(frame)
    assert thumb.shape == (36, 64, 3) and thumb.dtype == np.float32
    assert float(thumb.mean()) == pytest.approx(float(frame.mean()), abs=0.01)


@settings(max_examples=60, deadline=None)
@given(mode=st.sampled_from(["none", "auto", "crossfade"]), length=st.integers(1, 60),
       fps=st.sampled_from([8.0, 10.0, 12.5, 15.0, 24.0, 30.0]), ms=st.integers(40, 3000),
       seed=st.integers(0, 2**16), period=st.integers(1, 60))
def test_the_output_is_what_the_seam_says(mode: str, length: int, fps: float, ms: int, seed: int,
                                          period: int) -> None:
    frames = noise_loop(length, min(period, length), seed)
    seam = LoopSeam(mode, length, fps, ms)
    out, most_held = run(seam, frames)
    report = seam.report()
    assert report["frames_in"] == length and report["frames_out"] == len(out)
    assert len(out) >= min(2, length)
    known = output_length(mode, length, fps, ms)
    assert known is None or known == len(out)
    n = seam_frames(mode, length, fps, ms)
    # output_index agrees with where each kept frame came out; blended frames keep their place.
    for i, frame in enumerate(frames):
        j = seam.output_index(i)
        if j is not None and j < len(out) - n:
            assert out[j] is frame
    landed = [j for j in (seam.output_index(i) for i in range(length)) if j is not None]
    assert landed == list(range(len(out)))
    if mode == "auto":
        assert most_held <= math.ceil(SEARCH_SHARE * length) and most_held <= search_window(length)
        end = report["end"]
        assert len(out) == end
        assert end == length or max(2, length - search_window(length)) <= end < length
    elif mode == "crossfade":
        assert most_held <= n
    else:
        assert most_held == 0 and out == frames


@settings(max_examples=40, deadline=None)
@given(length=st.integers(14, 80), data=st.data())
def test_auto_finds_any_period_in_the_window(length: int, data: st.DataObject) -> None:
    """Random pictures repeating with period P, the repeat inside the window: the loop ends at P exactly."""
    start = max(2, length - search_window(length), length // 2 + 1)
    period = data.draw(st.integers(start, length - 1), label="period")
    seam = LoopSeam("auto", length, 10, 400)
    out, _ = run(seam, noise_loop(length, period, seed=length * 7 + period))
    report = seam.report()
    assert report["end"] == period and len(out) == period


@pytest.mark.parametrize("fmt", ["mp4", "webm", "webp"])
def test_a_seam_on_another_format_is_refused_at_its_field(fmt: str) -> None:
    draft = {"v": 1, "m": {"out": {"format": fmt, "loop_seam": "auto"}},
             "t": [{"tt": 0, "sg": [{"src": "a.mp4", "st": 0, "d": 1000}]}]}
    with pytest.raises(DraftError) as caught:
        parse_draft(draft)
    [issue] = caught.value.issues
    assert (issue.path, issue.rule) == ("m.out.loop_seam", "loop_seam_format") and fmt in issue.message
    gif = {**draft, "m": {"out": {"format": "gif", "loop_seam": "crossfade", "loop_seam_ms": 600}}}
    assert parse_draft(gif).m.out.loop_seam == "crossfade"
