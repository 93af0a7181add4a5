"""End-to-end renders: real FFmpeg, real files, read back and checked the way a viewer would."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from engine.errors import DraftError, MediaNotFound, MediaUnsupported
from engine.media.probe import inspect_output, probe
from tests.conftest import audio_samples, frame, mean_color, rms, video_frames

RED, BLUE, GREEN, BLACK = (255, 0, 0), (0, 0, 255), (0, 255, 0), (0, 0, 0)


def near(actual: tuple[float, ...], expected: tuple[int, ...], tol: float = 14) -> bool:
    return all(abs(a - e) <= tol for a, e in zip(actual, expected, strict=False))


def one_clip(src: str, **seg: object) -> dict:
    return {"t": [{"tt": 0, "sg": [{"src": src, **seg}]}]}


# ---------------------------------------------------------------- clips, durations, audio


def test_trimmed_clip_has_its_length_codecs_and_sound(do_render) -> None:
    result = do_render(one_clip("red.mp4", ss=500, d=1000))
    info = inspect_output(result.path)
    assert (info.video_codec, info.width, info.height) == ("h264", 160, 90)
    assert info.frames == 30 and abs(info.duration_s - 1.0) <= 1 / 30
    assert info.audio_codec == "aac" and abs(info.audio_duration_s - 1.0) <= 0.05
    assert probe(result.path).video.pix_fmt == "yuv420p"
    assert result.encoder == "libx264" and result.decoder == "cpu"
    with open(result.path, "rb") as fh:            # +faststart: the index comes before the media
        head = fh.read(64 * 1024)
    assert head.find(b"moov") != -1 and (head.find(b"mdat") == -1 or head.find(b"moov") < head.find(b"mdat"))


def test_solid_colour_segment_has_that_colour(do_render) -> None:
    result = do_render(one_clip("blue.mp4"))
    assert near(mean_color(frame(result.path, 20)), BLUE)


def test_gaps_show_the_background_colour(do_render) -> None:
    draft = one_clip("red.mp4", st=1000, d=1000)
    draft["m"] = {"bg": "#00FF00"}
    result = do_render(draft)
    assert result.duration_s == pytest.approx(2.0, abs=1 / 30)
    assert near(mean_color(frame(result.path, 10)), GREEN)
    assert near(mean_color(frame(result.path, 45)), RED)


def test_audio_is_present_or_absent_as_asked(do_render) -> None:
    silent_source = do_render(one_clip("blue.mp4"), "a.mp4")
    assert not inspect_output(silent_source.path).has_audio            # nothing audible: no track
    muted = do_render(one_clip("red.mp4", mute=True), "b.mp4")
    assert not inspect_output(muted.path).has_audio
    forced = dict(one_clip("blue.mp4"), m={"out": {"audio": True}})
    forced_result = do_render(forced, "c.mp4")
    assert forced_result.has_audio and rms(audio_samples(forced_result.path)) < 1e-4
    refused = dict(one_clip("red.mp4"), m={"out": {"audio": False}})
    assert not do_render(refused, "d.mp4").has_audio


@pytest.mark.parametrize(("speed", "seconds"), [(2.0, 1.0), (0.5, 4.0), (0.25, 8.0)])
def test_speed_changes_length_and_sound_follows(do_render, speed: float, seconds: float) -> None:
    result = do_render(one_clip("red.mp4", spd=speed))
    info = inspect_output(result.path)
    assert abs(info.duration_s - seconds) <= 1 / 30
    assert info.has_audio and abs(info.audio_duration_s - seconds) <= 0.05
    assert rms(audio_samples(result.path)) > 0.05                     # the tone is still there


def test_source_shorter_than_the_segment_holds_its_last_frame(do_render) -> None:
    result = do_render(one_clip("red.mp4", d=3000))
    assert result.duration_s == pytest.approx(3.0, abs=1 / 30)
    assert near(mean_color(frame(result.path, 80)), RED)
    assert any("last frame holds" in w for w in result.warnings)


# ---------------------------------------------------------------- canvas, fit, rotation, layers


def test_fit_modes_keep_the_aspect(do_render) -> None:
    base = {"m": {"width": 160, "height": 90, "bg": "#000000"}}
    bars = {"src": "tall.mp4", "fit": "contain", "fill": "#000000"}
    contain = do_render({**base, "t": [{"tt": 0, "sg": [bars]}]}, "c.mp4")
    img = frame(contain.path, 10)
    green_cols = [x for x in range(160) if img[45, x, 1] > 128]
    assert 48 <= len(green_cols) <= 54                                  # 90x160 scaled into 90 high: ~51 wide
    assert abs((green_cols[0] + green_cols[-1]) / 2 - 80) <= 2           # centred
    assert near(mean_color(img, (0, 0, 20, 90)), BLACK)
    cover = do_render({**base, "t": [{"tt": 0, "sg": [{"src": "tall.mp4", "fit": "cover"}]}]}, "v.mp4")
    assert near(mean_color(frame(cover.path, 10)), GREEN)
    blur = do_render({**base, "t": [{"tt": 0, "sg": [{"src": "tall.mp4"}]}]}, "b.mp4")
    assert mean_color(frame(blur.path, 10), (0, 0, 20, 90))[1] > 100    # the bars are a blurred copy, not black


def test_rotation_metadata_is_honoured(do_render) -> None:
    result = do_render(one_clip("halves.mp4", fit="stretch"))
    assert (result.width, result.height) == (90, 160)                   # the canvas follows the upright picture
    img = frame(result.path, 10)
    top, bottom = mean_color(img, (0, 0, 90, 60)), mean_color(img, (0, 100, 90, 160))
    assert {near(top, RED), near(bottom, RED)} == {True, False}
    assert {near(top, BLUE), near(bottom, BLUE)} == {True, False}


def test_canvas_presets_and_output_resolution(do_render) -> None:
    draft = dict(one_clip("red.mp4", d=500), m={"aspect": "9:16", "out": {"resolution": "360p"}})
    result = do_render(draft)
    assert (result.width, result.height) == (360, 640)
    square = do_render(dict(one_clip("red.mp4", d=500), m={"aspect": "1:1", "fps": 24}), "s.mp4")
    assert (square.width, square.height) == (1080, 1080) and square.frames == 12


def test_upper_tracks_draw_on_top_with_position_and_opacity(do_render) -> None:
    draft = {"m": {"width": 160, "height": 90}, "t": [
        {"tt": 0, "sg": [{"src": "red.mp4"}]},
        {"tt": 0, "sg": [{"src": "blue.mp4", "box": {"x": 0.5, "y": 0, "w": 0.5, "h": 0.5}, "fit": "stretch"}]},
        {"tt": 0, "sg": [{"src": "blue.mp4", "box": {"x": 0, "y": 0.5, "w": 0.5, "h": 0.5}, "fit": "stretch",
                          "op": 0.5, "st": 500, "d": 1000}]},
    ]}
    result = do_render(draft)
    img = frame(result.path, 30)
    assert near(mean_color(img, (90, 5, 150, 40)), BLUE)                # top right: the layer
    assert near(mean_color(img, (5, 5, 70, 40)), RED)                   # top left: the base
    half = mean_color(img, (5, 50, 70, 85))                             # bottom left: 50% blue over red
    assert 90 < half[0] < 170 and 90 < half[2] < 170
    before = frame(result.path, 5)
    assert near(mean_color(before, (5, 50, 70, 85)), RED)               # not before its start


# ---------------------------------------------------------------- stills and motion


@pytest.mark.parametrize("name,colour", [("green.png", GREEN), ("still.webp", (255, 128, 0)),
                                         ("anim.gif", (255, 0, 255))])
def test_image_segments_show_the_picture(do_render, name: str, colour: tuple[int, int, int]) -> None:
    result = do_render({"m": {"width": 64, "height": 36}, "t": [{"tt": 0, "sg": [{"src": name, "d": 1000}]}]})
    assert result.frames == 30 and result.decoder == "none"
    assert near(mean_color(frame(result.path, 29)), colour)


def test_heic_stills_are_read(do_render, media) -> None:
    if media.heic is None:
        pytest.skip("this libheif build cannot write HEIC test files")
    result = do_render({"m": {"width": 64, "height": 36}, "t": [{"tt": 0, "sg": [{"src": media.heic.name, "d": 500}]}]})
    assert near(mean_color(frame(result.path, 5)), (0, 128, 255), tol=20)


def test_exif_orientation_is_honoured(do_render) -> None:
    result = do_render({"t": [{"tt": 0, "sg": [{"src": "rotated.jpg", "d": 500, "fit": "stretch"}]}]})
    assert (result.width, result.height) == (40, 80)
    img = frame(result.path, 5)
    assert near(mean_color(img, (5, 5, 35, 35)), (255, 255, 0), tol=25)
    assert near(mean_color(img, (5, 45, 35, 75)), BLUE, tol=25)


def _shift(a: np.ndarray, b: np.ndarray) -> float:
    """How far the picture moved left from a to b, in pixels, by phase correlation (sub-pixel)."""
    window = np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1]))
    cross = np.fft.fft2(a * window) * np.conj(np.fft.fft2(b * window))
    corr = np.fft.ifft2(cross / (np.abs(cross) + 1e-9)).real
    py, px = np.unravel_index(int(np.argmax(corr)), corr.shape)
    row = corr[py]
    left, mid, right = row[(px - 1) % row.size], row[px], row[(px + 1) % row.size]
    offset = px + 0.5 * (left - right) / (left - 2 * mid + right)
    return float(offset if offset < row.size / 2 else offset - row.size)


def _scene(path: Path, size: tuple[int, int]) -> None:
    """A picture with edges at every scale, like a photo: random overlapping shapes."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(3)
    img = Image.new("RGB", size, (90, 120, 160))
    draw = ImageDraw.Draw(img)
    for _ in range(160):
        x, y = rng.integers(0, size[0]), rng.integers(0, size[1])
        r = int(rng.integers(3, 30))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x - r, y - r, x + r, y + r), fill=colour)
    img.save(path)


@pytest.mark.parametrize("kind", ["pan-right", "pan-left", "zoom-in"])
def test_motion_moves_at_an_even_pace_without_jitter(do_render, media, config, kind: str) -> None:
    # x264's veryfast preset smears sub-pixel motion by itself (it skips blocks that barely move);
    # the medium preset shows what the filter graph made, which is what this test is about
    careful = dataclasses.replace(config, x264_preset="medium")
    _scene(media.dir / "scene.png", (320, 180))
    draft = {"m": {"width": 320, "height": 180, "fps": 30},
             "t": [{"tt": 0, "sg": [{"src": "scene.png", "d": 2000, "fit": "cover",
                                     "mo": {"type": kind, "amt": 0.2}}]}]}
    frames = [f.mean(axis=2) for f in video_frames(do_render(draft, config=careful).path)]

    def step(i: int) -> float:
        a, b = frames[i], frames[i + 1]
        if kind == "zoom-in":   # the left edge moves left and the right edge right: the picture grows
            return _shift(a[20:160, 0:96], b[20:160, 0:96]) - _shift(a[20:160, 224:320], b[20:160, 224:320])
        moved = _shift(a[20:160, 60:260], b[20:160, 60:260])
        return moved if kind == "pan-right" else -moved

    steps = np.array([step(i) for i in range(5, len(frames) - 5)])
    trend = np.polyval(np.polyfit(np.arange(steps.size), steps, 2), np.arange(steps.size))
    wobble = np.abs(steps - trend) / steps.mean()
    assert np.all(steps > 0.25 * steps.mean())                          # it keeps moving, every frame
    assert wobble.mean() < 0.12 and wobble.max() < 0.5                  # smoothly: no frame lags or jumps
    # (naive zoompan at this speed steps by whole pixels: mean 0.2, max 1.0-1.9 on the same measure)


# ---------------------------------------------------------------- transitions


def _two(kind: str, ms: int = 1000) -> dict:
    return {"m": {"width": 160, "height": 90}, "t": [{"tt": 0, "sg": [
        {"src": "red.mp4", "d": 2000}, {"src": "blue.mp4", "d": 2000, "tr": {"in": {"type": kind, "d": ms}}}]}]}


def test_crossfade_is_centred_on_the_cut_and_keeps_the_length(do_render) -> None:
    result = do_render(_two("fade"))
    assert result.frames == 120                                          # transitions never shorten the timeline
    assert near(mean_color(frame(result.path, 40)), RED)
    mid = mean_color(frame(result.path, 60))
    assert 90 < mid[0] < 170 and 90 < mid[2] < 170                       # half red, half blue at the cut
    assert near(mean_color(frame(result.path, 80)), BLUE)


def test_fade_through_black_and_slide(do_render) -> None:
    black = video_frames(do_render(_two("fadeblack"), "black.mp4").path)
    assert min(max(mean_color(f)) for f in black[50:71]) < 20              # through black, around the cut
    slide = do_render(_two("slideleft"), "slide.mp4")
    img = frame(slide.path, 60)
    left, right = mean_color(img, (0, 20, 50, 70)), mean_color(img, (110, 20, 160, 70))
    assert near(left, RED, 30) and near(right, BLUE, 30)


def test_transition_pairs_an_audio_crossfade(do_render) -> None:
    draft = {"m": {"width": 160, "height": 90}, "t": [{"tt": 0, "sg": [
        {"src": "red.mp4", "d": 2000}, {"src": "pattern.mp4", "d": 2000, "tr": {"in": {"type": "fade", "d": 1000}}}]}]}
    result = do_render(draft)
    mono = audio_samples(result.path).mean(axis=0)

    def tone(at: float, freq: float) -> float:
        window = mono[int(at * 48000): int(at * 48000) + 4800]
        spectrum = np.abs(np.fft.rfft(window * np.hanning(window.size)))
        return float(spectrum[int(freq * window.size / 48000)])

    assert tone(1.0, 440) > 10 * tone(1.0, 660)                        # before the transition: the first clip
    assert tone(2.9, 660) > 10 * tone(2.9, 440)                        # after it: the second
    both = tone(1.95, 440), tone(1.95, 660)
    assert min(both) > 0.2 * max(both)                                  # during it: both


def test_transition_that_does_not_fit_is_refused(do_render) -> None:
    with pytest.raises(DraftError) as err:
        do_render(_two("fade", ms=5000))                                  # 2.5 s each side of 2 s clips
    assert any(issue.path.startswith("t[0].sg[") and issue.rule == "transition_fits" for issue in err.value.issues)


# ---------------------------------------------------------------- music and mixing


def test_music_loops_fades_and_keeps_its_volume(do_render) -> None:
    def music_at(volume: float, name: str) -> np.ndarray:
        draft = {"d": 8000, "t": [{"tt": 0, "sg": [{"src": "blue.mp4"}]},
                                  {"tt": 1, "sg": [{"src": "music.mp3", "vol": volume, "loop": True, "fo": 1000}]}]}
        return audio_samples(do_render(draft, name).path).mean(axis=0)

    quiet, full = music_at(0.35, "quiet.mp4"), music_at(1.0, "full.mp4")
    level = lambda audio, a, b: rms(audio[int(a * 48000): int(b * 48000)])  # noqa: E731
    assert level(quiet, 6.0, 6.5) > 0.01                                 # past the 5 s source: looped
    assert level(quiet, 7.8, 8.0) < 0.5 * level(quiet, 6.0, 6.5)         # fading out at the end
    assert level(quiet, 1.0, 2.0) / level(full, 1.0, 2.0) == pytest.approx(0.35, rel=0.05)


def test_mix_does_not_clip(do_render) -> None:
    draft = {"t": [{"tt": 0, "sg": [{"src": "loud.mp4", "vol": 2.0}]},
                   {"tt": 1, "sg": [{"src": "music.mp3", "vol": 2.0, "d": 2000}]}]}
    result = do_render(draft)
    assert np.abs(audio_samples(result.path)).max() <= 1.0


# ---------------------------------------------------------------- text


def _text_draft(text: str | None) -> dict:
    draft: dict = {"d": 1000, "m": {"width": 320, "height": 180, "bg": "#000000"}, "t": []}
    if text:
        draft["t"].append({"tt": 7, "sg": [{"txt": text, "style": {"pos": "top-left", "size": 24}}]})
    return draft


def test_text_overlay_changes_its_region_and_nothing_else(do_render, fonts) -> None:
    from engine.media.text import render_text
    from engine.model.draft import TextStyle

    plain = frame(do_render(_text_draft(None), "plain.mp4").path, 15).astype(int)
    titled = frame(do_render(_text_draft("Hello, world"), "text.mp4").path, 15).astype(int)
    layout = render_text("Hello, world", TextStyle(pos="top-left", size=24), canvas_w=320, canvas_h=180, scale=1.0,
                         safe=0.05, fonts=fonts)
    x0, y0 = layout.x, layout.y
    x1, y1 = x0 + layout.image.width, y0 + layout.image.height
    diff = np.abs(titled - plain).max(axis=2)
    inside = diff[y0:y1, x0:x1]
    assert (inside > 60).sum() > 50                                      # the text is there
    outside = diff.copy()
    outside[max(0, y0 - 4): y1 + 4, max(0, x0 - 4): x1 + 4] = 0         # codec bleed of a few pixels allowed
    assert outside.max() < 24


def test_hostile_text_is_drawn_and_never_reaches_ffmpeg(do_render, tmp_path, monkeypatch) -> None:
    import engine.pipeline.render as render_module

    hostile = "it's 50% off: {now} [a] ; \\ textfile=/etc/passwd:reload=1"
    seen: list[str] = []
    real_run = render_module.run_ffmpeg

    def spy(command, **kwargs):
        seen.append(" ".join(command.argv("ffmpeg")) + "\n" + (command.filter_graph or ""))
        return real_run(command, **kwargs)

    monkeypatch.setattr(render_module, "run_ffmpeg", spy)
    result = do_render(_text_draft(hostile))
    assert seen and all("passwd" not in text and "50% off" not in text for text in seen)
    assert frame(result.path, 10).max() > 200                             # the words are drawn (white on black)


def test_caption_fades_in(do_render) -> None:
    draft = _text_draft(None)
    draft["t"].append({"tt": 7, "sg": [{"txt": "FADE", "style": {"size": 60, "anim": "fade-in"}}]})
    result = do_render(draft)
    assert frame(result.path, 1).max() < frame(result.path, 20).max() - 60


# ---------------------------------------------------------------- bad input changes nothing


@pytest.mark.parametrize("name", ["notes.mp4", "truncated.mp4", "run.mov", "noise.png"])
def test_corrupt_or_non_media_input_is_a_typed_error(do_render, tmp_path: Path, name: str) -> None:
    with pytest.raises(MediaUnsupported) as err:
        do_render(one_clip(name))
    assert err.value.source == name
    assert not list(tmp_path.iterdir())                                  # nothing written


def test_missing_input_and_invalid_draft_write_nothing(do_render, tmp_path: Path) -> None:
    with pytest.raises(MediaNotFound):
        do_render(one_clip("nope.mp4"))
    with pytest.raises(DraftError) as err:
        do_render({"t": [{"tt": 0, "sg": [{"src": "red.mp4", "d": -1, "spd": 9}]}]})
    assert {i.path for i in err.value.issues} == {"t[0].sg[0].d", "t[0].sg[0].spd"}
    assert not list(tmp_path.iterdir())


def test_progress_rises_to_one(do_render) -> None:
    seen: list[float] = []
    do_render(one_clip("pattern.mp4"), on_progress=seen.append)
    assert seen[-1] == 1.0 and seen == sorted(seen) and len(seen) >= 2


@pytest.mark.parametrize("fps", [30, 29.97])
def test_transition_after_plain_cuts(do_render, fps: float) -> None:
    draft = {"m": {"width": 160, "height": 90, "fps": fps}, "t": [{"tt": 0, "sg": [
        {"src": "red.mp4", "d": 1000}, {"src": "green.png", "d": 1000}, {"src": "blue.mp4", "d": 1000},
        {"src": "red.mp4", "d": 1000, "tr": {"in": "wipeleft"}}, {"src": "green.png", "d": 1000}]}]}
    result = do_render(draft)
    assert result.frames == round(5 * fps)
    assert near(mean_color(frame(result.path, round(2.5 * fps))), BLUE)
    assert near(mean_color(frame(result.path, round(4.5 * fps))), GREEN)


def test_an_output_that_does_not_match_the_timeline_is_refused() -> None:
    from engine.errors import OutputMismatch
    from engine.media.probe import OutputInfo
    from engine.pipeline.render import Expected, verify

    want = Expected(width=320, height=180, frames=60, fps=30.0, audio=True, timed=True)
    good = OutputInfo("mp4", "h264", 320, 180, 60, 2.0, "aac", 2.0)
    verify(good, want)
    for bad in (dataclasses.replace(good, frames=50), dataclasses.replace(good, width=318),
                dataclasses.replace(good, audio_codec=None), dataclasses.replace(good, duration_s=2.5),
                dataclasses.replace(good, frames=0)):
        with pytest.raises(OutputMismatch):
            verify(bad, want)
