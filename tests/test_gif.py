"""GIF, WebP and WebM outputs: palettes, loops, size targets, memory-bounded passes."""

from __future__ import annotations

import dataclasses

import pytest
from PIL import Image

from engine.errors import TargetSizeUnreachable
from engine.media.probe import inspect_output
from engine.pipeline.gif_ladder import GifPoint, ladder, next_point, quality
from tests.conftest import video_frames


def clip(fmt: str, **out: object) -> dict:
    return {"m": {"out": {"format": fmt, **out}}, "t": [{"tt": 0, "sg": [{"src": "pattern.mp4", "d": 2000}]}]}


def gif_frames(path) -> list[Image.Image]:
    frames = []
    with Image.open(path) as im:
        for index in range(im.n_frames):
            im.seek(index)
            frames.append(im.copy())
    return frames


def test_gif_loops_forever_with_at_most_256_colours_per_frame(do_render) -> None:
    result = do_render(clip("gif"), "out.gif")
    assert (result.format, result.width, result.height) == ("gif", 320, 180)    # under the 480 px default: kept
    assert not result.has_audio
    with Image.open(result.path) as im:
        assert im.format == "GIF" and im.info.get("loop") == 0                  # NETSCAPE2.0, loop forever
    frames = gif_frames(result.path)
    assert len(frames) == 30                                                     # 2 s at the 15 fps default
    for frame in frames:                                                         # one palette: even composed frames fit
        assert frame.convert("RGB").getcolors(256) is not None
    assert result.gif and result.gif["fps"] == 15 and result.gif["colors"] == 256


def test_gif_options_fps_width_colours_loop(do_render) -> None:
    result = do_render(clip("gif", fps=10, width=160, colors=32, loop=-1, dither="sierra2_4a", stats="full"),
                       "small.gif")
    info = inspect_output(result.path)
    assert (info.width, info.height, info.frames) == (160, 90, 20)
    assert info.loop is None                                                     # -1: plays once, no loop block
    assert all(f.convert("RGB").getcolors(32) is not None for f in gif_frames(result.path))


def test_per_scene_palettes(do_render) -> None:
    result = do_render(clip("gif", stats="scene", width=160), "scene.gif")
    assert inspect_output(result.path).frames == 30


def test_long_gif_uses_two_passes_with_flat_memory(do_render, config) -> None:
    one = do_render(clip("gif", palette="clip"), "one.gif")
    small_budget = dataclasses.replace(config, gif_buffer_mb=1)                 # 30 frames of 320x180 need ~7 MB
    two = do_render(clip("gif", palette="clip"), "two.gif", config=small_budget)
    assert (one.passes, two.passes) == (1, 2)
    assert inspect_output(two.path).frames == inspect_output(one.path).frames == 30
    assert abs(two.size_bytes - one.size_bytes) < 0.1 * one.size_bytes          # the same palette, near enough


def test_a_scene_longer_than_the_buffer_is_spooled_and_mapped_in_a_second_run(do_render, config) -> None:
    one = do_render(clip("gif"), "one.gif")
    small_budget = dataclasses.replace(config, gif_buffer_mb=1)
    two = do_render(clip("gif"), "two.gif", config=small_budget)
    # compose + one encoder, then compose + palette-and-spool + the mapping run
    assert (one.passes, two.passes) == (2, 3)
    assert one.gif["palettes"] == two.gif["palettes"] == 1
    assert inspect_output(two.path).frames == inspect_output(one.path).frames == 30
    assert abs(two.size_bytes - one.size_bytes) < 0.1 * one.size_bytes


def test_size_target_is_met_and_reported(do_render) -> None:
    target_mb = 0.15
    result = do_render(clip("gif", max_mb=target_mb), "target.gif")
    assert result.size_bytes <= target_mb * 1_000_000
    report = result.gif
    assert report is not None and report["target_bytes"] == 150_000
    assert report["attempts"] and report["attempts"][0]["size_bytes"] > 150_000     # the first try was too big
    chosen = report["attempts"][-1] if report["attempts"][-1]["size_bytes"] <= 150_000 else None
    assert report["size_bytes"] == result.size_bytes and (chosen or report["chosen"])
    info = inspect_output(result.path)
    assert (info.width, round(1 / (info.duration_s / info.frames))) == (report["width"], round(report["fps"]))


def test_unreachable_size_target_is_a_typed_error(do_render, tmp_path) -> None:
    with pytest.raises(TargetSizeUnreachable) as err:
        do_render(clip("gif", max_mb=0.001), "tiny.gif")
    assert err.value.smallest_bytes > 1000
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".gif"]


def test_webm_and_animated_webp(do_render) -> None:
    webm = do_render(clip("webm"), "out.webm")
    info = inspect_output(webm.path)
    assert (info.container, info.video_codec, info.audio_codec) == ("matroska", "vp9", "opus")
    assert info.frames == 60
    webp = do_render(clip("webp"), "out.webp")
    with Image.open(webp.path) as im:
        assert im.format == "WEBP" and im.n_frames == 30 and im.info.get("loop") == 0
    assert len(video_frames(webm.path)) == 60


# ---------------------------------------------------------------- the size search, without rendering


def test_ladder_only_goes_down_from_the_start() -> None:
    start = GifPoint(15.0, 480, 256)
    points = ladder(start)
    assert start in points
    assert all(p.width <= 480 and p.fps <= 15 and p.colors <= 256 for p in points)


def test_next_point_jumps_to_a_setting_predicted_to_fit_and_stops_when_done() -> None:
    start = GifPoint(15.0, 480, 256)
    assert next_point(1_000_000, start, []) == start
    first = GifPoint(15.0, 480, 256, 4_000_000)
    guess = next_point(1_000_000, start, [first])
    assert guess is not None and quality(guess, start) < 1
    fits = dataclasses.replace(guess, size_bytes=900_000)
    follow = next_point(1_000_000, start, [first, fits])
    assert follow is None or quality(follow, start) > quality(fits, start)      # only ever tries something better


def test_low_frame_rates_cost_more_than_width() -> None:
    start = GifPoint(15.0, 480, 256)
    assert quality(GifPoint(12.5, 400, 256), start) > quality(GifPoint(6.0, 480, 256), start)


PEAK_MEMORY = """
import json, resource, sys
from engine.config import EngineConfig, bundled_ffmpeg
from engine.encode.encoders import CodecChoice
from engine.pipeline.render import render
config = EngineConfig(ffmpeg=bundled_ffmpeg(), gif_buffer_mb=int(sys.argv[1]))
caps = CodecChoice("libx264", "cpu", None, "", "")
if sys.argv[4] == "clip":
    segments = [{"src": sys.argv[2], "d": 3000, "spd": 0.25}, {"src": sys.argv[2], "d": 3000}] * 4
else:                            # one 24 s scene: the pattern looped
    segments = [{"src": sys.argv[2], "d": 24000, "loop": True}]
draft = {"m": {"out": {"format": "gif", "width": 320, "palette": sys.argv[4]}}, "t": [{"tt": 0, "sg": segments}]}
result = render(draft, sys.argv[3], config=config, codecs=caps)
print(json.dumps({"passes": result.passes, "peak_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


@pytest.mark.parametrize("palette, passes", [("clip", (1, 2)), ("scenes", (2, 3))])
def test_gif_memory_stays_flat_when_the_buffer_would_not_fit(media, tmp_path, palette, passes) -> None:
    import json
    import subprocess
    import sys

    def peak(budget_mb: int, name: str) -> dict:
        done = subprocess.run([sys.executable, "-c", PEAK_MEMORY, str(budget_mb), str(media.pattern),
                               str(tmp_path / name), palette], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    one_pass = peak(4096, "one.gif")           # 24 s at 15 fps, 320x180: ~360 frames held, ~80 MB
    two_pass = peak(16, "two.gif")             # scenes: the long scene spooled to disk, mapped in a second run
    assert (one_pass["passes"], two_pass["passes"]) == passes
    assert two_pass["peak_kb"] < one_pass["peak_kb"] - 40_000


def test_animation_blocks_agree_with_pillow(do_render) -> None:
    from engine.media.animinfo import gif_info, webp_info

    for fmt, reader in (("gif", gif_info), ("webp", webp_info)):
        result = do_render(clip(fmt, loop=3), f"blocks.{fmt}")
        info = reader(result.path.read_bytes())
        with Image.open(result.path) as im:
            delays = []
            for index in range(im.n_frames):
                im.seek(index)
                delays.append(im.info.get("duration", 0))
            assert (info.width, info.height, info.frames) == (im.width, im.height, im.n_frames)
            assert info.loop == im.info.get("loop") == (3 if fmt == "gif" else 4)   # WebP counts plays
        assert abs(info.duration_ms - 2000) <= 20
        if fmt == "gif":                          # Pillow reports per-frame delays for GIF only
            assert info.duration_ms == sum(delays)
