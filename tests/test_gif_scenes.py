"""GIF palettes per scene, the splice that joins the scene GIFs, and loop seams, on real renders."""

from __future__ import annotations

import io
import os
import subprocess
import uuid
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

import engine.run
from engine.config import bundled_ffmpeg
from engine.media.gif_splice import delays_cs, read_gif, splice_files
from engine.media.scene_cuts import SceneWatch
from engine.model.canvas import OutputSpec
from engine.model.scenes import Scene, fold, rescaled
from engine.pipeline.gif_scenes import FrameSource, encode_by_scene
from engine.run import FFmpegCommand
from tests.test_run import NEEDS_PROC, feed_the_second_try


def gif_rgb_frames(path: Path) -> list[np.ndarray]:
    out = []
    with Image.open(path) as im:
        for index in range(im.n_frames):
            im.seek(index)
            out.append(np.asarray(im.convert("RGB")).copy())
    return out


def gif_delays(path: Path) -> list[int]:
    delays = []
    with Image.open(path) as im:
        for index in range(im.n_frames):
            im.seek(index)
            delays.append(im.info["duration"])
    return delays


# ---------------------------------------------------------------- the splice, as a property


def _part(frames: list[np.ndarray], palette_seed: int) -> bytes:
    """A GIF of ``frames`` (index arrays) with a palette of its own, written whole frame by frame."""
    rng = np.random.default_rng(palette_seed)
    palette = rng.integers(0, 256, 3 * 16, dtype=np.uint8).tolist()
    images = []
    for indices in frames:
        img = Image.fromarray(indices.astype(np.uint8), "P")
        img.putpalette(palette)
        images.append(img)
    buf = io.BytesIO()
    images[0].save(buf, "GIF", save_all=True, append_images=images[1:], optimize=False, disposal=1, duration=100)
    return buf.getvalue()


@settings(max_examples=40, deadline=None)
@given(parts=st.lists(st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=4), min_size=1, max_size=4),
       fps=st.sampled_from([Fraction(15), Fraction(10), Fraction(30000, 1001), Fraction(12)]),
       loop=st.sampled_from([-1, 0, 3]))
def test_splicing_keeps_every_frame_its_colours_and_the_exact_length(tmp_path_factory, parts, fps, loop) -> None:
    work = tmp_path_factory.mktemp("splice")
    paths, expected = [], []
    for k, seeds in enumerate(parts):
        frames = [np.random.default_rng(seed).integers(0, 16, (6, 8)) for seed in seeds]
        path = work / f"part-{k}.gif"
        path.write_bytes(_part(frames, k))
        paths.append(path)
        expected += gif_rgb_frames(path)                     # each part alone, through its own palette
    total = len(expected)
    delays = delays_cs(total, fps)
    out = work / "joined.gif"
    assert splice_files(paths, out, fps, loop) == total
    joined = gif_rgb_frames(out)
    assert len(joined) == total
    for a, b in zip(joined, expected, strict=True):
        assert np.array_equal(a, b)                          # every frame keeps its own scene's colours
    assert gif_delays(out) == [d * 10 for d in delays]
    assert sum(delays) == round(100 * total / fps)           # no drift, however long
    with Image.open(out) as im:
        assert im.info.get("loop") == (None if loop < 0 else loop)


def test_a_truncated_part_is_refused(tmp_path) -> None:
    from engine.errors import OutputMismatch

    good = tmp_path / "a.gif"
    good.write_bytes(_part([np.zeros((6, 8))], 1))
    cut = tmp_path / "b.gif"
    cut.write_bytes(good.read_bytes()[:-5])
    with pytest.raises(OutputMismatch):
        splice_files([good, cut], tmp_path / "out.gif", Fraction(10), 0)
    with pytest.raises(OutputMismatch):
        read_gif(b"PNG not a gif")


# ---------------------------------------------------------------- scenes as numbers


def test_short_scenes_fold_into_neighbours_and_still_tile_the_frames() -> None:
    scenes = [Scene(0, 40), Scene(40, 42, "blend"), Scene(42, 43), Scene(43, 90), Scene(90, 100, "blend"),
              Scene(100, 150)]
    folded = fold(scenes, min_frames=4)
    # the short blend joins the shot it leads into, and that one-frame shot the shot before it
    assert [(s.start, s.end, s.kind) for s in folded] == [(0, 43, "shot"), (43, 90, "shot"),
                                                           (90, 100, "blend"), (100, 150, "shot")]
    assert len(fold([Scene(k, k + 5) for k in range(0, 500, 5)], 2, max_scenes=7)) == 7
    again = rescaled(folded, 0.5, 75)
    assert [(s.start, s.end, s.kind) for s in again] == [(0, 22, "shot"), (22, 45, "shot"), (45, 50, "blend"),
                                                          (50, 75, "shot")]


def _still(colour: tuple[int, int, int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.array(colour, float) + rng.normal(0, 6, (90, 160, 3))
    return np.clip(base, 0, 255).astype(np.uint8)


def test_the_watch_finds_cuts_and_crossfades_and_not_motion() -> None:
    a, b = _still((200, 120, 40), 1), _still((40, 90, 200), 2)
    frames = [np.roll(a, k, axis=1) for k in range(12)]                          # a pan: motion, not a cut
    frames += [np.roll(b, k, axis=1) for k in range(12)]                          # a cut at 12
    frames += [((1 - w) * b + w * a).astype(np.uint8) for w in np.linspace(0.1, 0.9, 6)]   # a crossfade, 24-29
    frames += [a] * 10
    watch = SceneWatch(160, 90, 15.0)
    marks = []
    for f in frames:
        marks += [kind for _frame, kind in watch.push(f)]
    marks += [kind for _frame, kind in watch.flush()]
    assert len(marks) == len(frames)
    starts = {i: kind for i, kind in enumerate(marks) if kind}
    assert starts == {12: "shot", 24: "blend", 31: "shot"}       # 30, the last step of the fade, closes the blend


# ---------------------------------------------------------------- real renders


@pytest.fixture(scope="module")
def stills(tmp_path_factory) -> Path:
    """An orange-and-blue textured still that fills most of the clip, and a grey one with two small green eyes."""
    d = tmp_path_factory.mktemp("scene-stills")
    rng = np.random.default_rng(7)
    y = np.linspace(0, 1, 180)[:, None, None]
    x = np.linspace(0, 1, 320)[None, :, None]
    big = np.array([250, 140, 30]) * (1 - y) + np.array([30, 60, 200]) * y + 40 * np.sin(9 * x) * (1 - x)
    Image.fromarray(np.clip(big + rng.normal(0, 8, (180, 320, 3)), 0, 255).astype(np.uint8)).save(d / "big.png")
    grey = Image.fromarray(np.clip(np.full((180, 320, 3), 115.0) + rng.normal(0, 5, (180, 320, 3)), 0, 255)
                           .astype(np.uint8))
    draw = ImageDraw.Draw(grey)
    for cx in (130, 190):
        draw.ellipse([cx - 12, 80, cx + 12, 100], fill=(40, 220, 60))
    grey.save(d / "eyes.png")
    return d


def _eyes_draft(stills: Path, palette: str) -> dict:
    return {"m": {"width": 320, "height": 180, "out": {"format": "gif", "fps": 10, "colors": 16, "palette": palette}},
            "t": [{"tt": 0, "sg": [{"src": str(stills / "big.png"), "d": 3000, "mo": {"type": "zoom-in"}},
                                   {"src": str(stills / "eyes.png"), "d": 600},
                                   {"src": str(stills / "big.png"), "d": 1400, "tr": {"in": "fade"}}]}]}


def test_a_short_scenes_small_saturated_detail_keeps_its_hue(do_render, stills) -> None:
    scenes = do_render(_eyes_draft(stills, "scenes"), "scenes.gif")
    clip = do_render(_eyes_draft(stills, "clip"), "clip.gif")
    report = scenes.gif
    assert report is not None
    assert [(s["kind"], s["from"]) for s in report["scenes"]] == [("shot", "draft"), ("shot", "draft"),
                                                                  ("blend", "draft"), ("shot", "draft")]
    assert report["palettes"] == 4 and scenes.frames == clip.frames == 50
    eye = (slice(86, 95), slice(184, 197))                              # inside the right eye, frame 32 (3.2 s)

    def eye_colour(path: Path) -> np.ndarray:
        return gif_rgb_frames(path)[32][eye].reshape(-1, 3).mean(axis=0)

    r, g, b = eye_colour(scenes.path)
    assert g > r + 100 and g > b + 100                                   # still green
    error = np.abs(eye_colour(clip.path) - (40, 220, 60)).sum()
    assert error > np.abs(np.array([r, g, b]) - (40, 220, 60)).sum() + 40   # one palette for all loses it
    assert scenes.size_bytes < 1.6 * clip.size_bytes
    assert sum(gif_delays(scenes.path)) == 5000                          # exactly the timeline's 5 s


def _clip_with_a_cut(path: Path, ffmpeg: str) -> Path:
    """2 s at 15 fps: 1 s of an orange test card, then 1 s of a blue one (a cut the draft cannot know)."""
    graph = ("color=c=0xE07020:s=160x90:r=15:d=1,noise=alls=20:allf=t[a];"
             "color=c=0x2050D0:s=160x90:r=15:d=1,noise=alls=20:allf=t[b];[a][b]concat=n=2:v=1:a=0")
    subprocess.run([ffmpeg, "-v", "error", "-y", "-filter_complex", graph, "-c:v", "libx264", "-qp", "0",
                    "-pix_fmt", "yuv444p", str(path)], check=True)
    return path


def test_a_cut_inside_one_clip_is_found_in_the_pictures(do_render, tmp_path) -> None:
    src = _clip_with_a_cut(tmp_path / "cut.mp4", bundled_ffmpeg())
    result = do_render({"m": {"out": {"format": "gif", "fps": 15}}, "t": [{"tt": 0, "sg": [{"src": str(src)}]}]},
                       "cut.gif")
    assert result.gif is not None
    assert [(s["start"], s["from"]) for s in result.gif["scenes"]] == [(0, "draft"), (15, "pictures")]
    frames = gif_rgb_frames(result.path)
    assert frames[14].reshape(-1, 3).mean(axis=0)[0] > 150 and frames[15].reshape(-1, 3).mean(axis=0)[2] > 150


def _periodic_clip(path: Path, ffmpeg: str, period: int, frames: int) -> Path:
    """A dot going round a circle once every ``period`` frames, 15 fps, ``frames`` long: its best loop point
    is known (frame ``period`` is frame 0 again)."""
    folder = path.parent / "periodic"
    folder.mkdir()
    for k in range(frames):
        img = Image.new("RGB", (160, 90), (20, 30, 40))
        angle = 2 * np.pi * k / period
        cx, cy = 80 + 30 * np.cos(angle), 45 + 30 * np.sin(angle)
        ImageDraw.Draw(img).ellipse([cx - 8, cy - 8, cx + 8, cy + 8], fill=(250, 200, 40))
        img.save(folder / f"{k:03d}.png")
    subprocess.run([ffmpeg, "-v", "error", "-y", "-framerate", "15", "-i", str(folder / "%03d.png"),
                    "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p", str(path)], check=True)
    return path


def test_an_auto_loop_seam_ends_where_the_clip_comes_round(do_render, tmp_path) -> None:
    src = _periodic_clip(tmp_path / "round.mp4", bundled_ffmpeg(), period=40, frames=45)
    out = {"format": "gif", "fps": 15, "loop_seam": "auto"}
    result = do_render({"m": {"out": out}, "t": [{"tt": 0, "sg": [{"src": str(src)}]}]}, "loop.gif")
    seam = result.gif["loop_seam"]
    assert result.frames == seam["frames_out"] == 40 and seam["end"] == 40
    assert seam["seam_after"] < seam["seam_before"] / 2
    frames = gif_rgb_frames(result.path)
    assert np.abs(frames[-1].astype(int) - frames[0]).mean() < 3 * np.abs(frames[1].astype(int) - frames[0]).mean()

    fade = do_render({"m": {"out": dict(out, loop_seam="crossfade", loop_seam_ms=400)},
                      "t": [{"tt": 0, "sg": [{"src": str(src)}]}]}, "fade.gif")
    assert fade.frames == 45 - 6 and fade.gif["loop_seam"]["crossfade_frames"] == 6


def test_a_strobe_does_not_make_a_scene_of_every_frame(do_render, tmp_path) -> None:
    """Orange and blue swapping every other frame: every swap looks like a cut, but a scene from the pictures
    lasts at least 250 ms, so the GIF gets a few palettes, not one per frame."""
    graph = ("color=c=0xE07020:s=160x90:r=15:d=4[a];color=c=0x2050D0:s=160x90:r=15:d=4[b];"
             "[a][b]blend=all_expr='if(eq(mod(floor(N/2),2),0),A,B)'")
    src = tmp_path / "strobe.mp4"
    subprocess.run([bundled_ffmpeg(), "-v", "error", "-y", "-filter_complex", graph, "-c:v", "libx264", "-qp", "0",
                    "-pix_fmt", "yuv444p", str(src)], check=True)
    result = do_render({"m": {"out": {"format": "gif", "fps": 15}}, "t": [{"tt": 0, "sg": [{"src": str(src)}]}]},
                       "strobe.gif")
    assert result.frames == 60 and result.gif is not None
    scenes = result.gif["scenes"]
    assert 1 <= len(scenes) <= 60 // 4 and all(s["end"] - s["start"] >= 4 for s in scenes[:-1])
    frames = gif_rgb_frames(result.path)
    assert frames[0].reshape(-1, 3).mean(axis=0)[0] > 150 and frames[2].reshape(-1, 3).mean(axis=0)[2] > 150


@pytest.mark.parametrize("palette", ["scenes", "clip"])
def test_a_still_after_a_black_frame_keeps_its_colours(do_render, stills, palette) -> None:
    """palettegen's diff statistics count the colour a pixel changes from, so a still that follows a black
    frame and never changes was never counted: the GIF stayed black. The sentinel frame counts it."""
    draft = {"m": {"width": 320, "height": 180, "out": {"format": "gif", "fps": 10, "palette": palette}},
             "t": [{"tt": 0, "sg": [{"src": str(stills / "big.png"), "st": 100, "d": 900, "fit": "cover"}]}]}
    result = do_render(draft, f"after-black-{palette}.gif")
    frames = gif_rgb_frames(result.path)
    assert frames[0].mean() < 5                                           # the gap: background black
    source = np.asarray(Image.open(stills / "big.png").convert("RGB"), float)
    for frame in frames[1:]:
        assert abs(frame.mean() - source.mean()) < 6                      # the still, not black


# ---------------------------------------------------------------- a composer that deadlocks


@NEEDS_PROC
def test_a_gif_whose_composer_stalls_is_made_again(tmp_path, config, monkeypatch, caplog) -> None:
    """The composer waits, using no CPU, on a named pipe nobody writes (what FFmpeg's deadlock looks like); the
    GIF is made again from the start, and the second composer is given its frames."""
    monkeypatch.setattr(engine.run, "STALL_S", 1.0)
    marker = f"gif-stall-{uuid.uuid4().hex[:8]}"
    fifo, work = tmp_path / f"{marker}.raw", tmp_path / "work"
    os.mkfifo(fifo)
    work.mkdir()
    width, height, length = 32, 18, 12
    frames = [np.full((height, width, 4), (40 * (i // 6), 200, 20 * i, 255), np.uint8) for i in range(length)]
    command = FFmpegCommand(("-f", "rawvideo", "-pix_fmt", "bgra", "-s", f"{width}x{height}", "-r", "10",
                             "-i", str(fifo)), ("-f", "rawvideo", "-pix_fmt", "bgra", "pipe:1"))
    source = FrameSource(command, width, height, Fraction(10), length)

    feeder = feed_the_second_try(fifo, marker, b"".join(f.tobytes() for f in frames))
    spec = OutputSpec("gif", "high", False, 0, None, 256, "bayer", 5, "diff", palette="scenes")
    made = encode_by_scene(source, [Scene(0, 6), Scene(6, length)], spec, config, work, tmp_path / "out.gif",
                           lambda _f: None, None)
    feeder.join(5)
    assert made.frames == length and len(gif_rgb_frames(tmp_path / "out.gif")) == length
    assert any("making the GIF again (try 2 of 3)" in r.message for r in caplog.records)
    assert list(work.iterdir()) == []                              # the stalled try's files are gone

