"""Chunked rendering (engine.chunks): plans that cut only where a part can start exactly, parts that
compose exactly the frames of the whole timeline, joins without re-encoding that match a single render."""

from __future__ import annotations

import copy
import json
import shutil
import struct
from dataclasses import replace
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw

from engine.chunks import Part, join_parts, plan_parts, render_chunked, render_part, render_sound
from engine.errors import OutputMismatch
from engine.media.probe import inspect_output
from engine.media.resolve import LocalResolver
from engine.model.draft import parse_draft
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
    out.setdefault("m", {})["out"] = {"format": "gif", "fps": 30, "width": W}
    return out


def plan(draft: dict[str, Any], chunk_s: float, run_kw: dict[str, Any]) -> list[Part]:
    return plan_parts(draft, probe_sources(parse_draft(draft), run_kw["resolve"]), chunk_s)


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
    assert [(p.start_frame, p.end_frame) for p in parts] == [(0, 128), (128, 210), (210, 360), (360, 510)]
    assert [p.index for p in parts] == [0, 1, 2, 3]
    # 128 is inside the 2x clip (after its crossfade) and the first caption; 210 and 360 are between clips.
    # Nowhere inside the crossfade (frames 83-97), the still with motion (210-300) or a fading caption.
    first, second = (p.draft["t"] for p in parts[:2])
    assert first[0]["sg"][-1]["tr"] == {"in": {"type": "fade", "d": 500}} and second[0]["sg"][0]["tr"] == {}
    # the whole render reads the 2x clip from 0.5333 s (ss less half the crossfade at 2x); 45 output frames on,
    # 3 s of source later, the second piece starts from that same source frame: 3.5333 s, in whole ms 3533
    assert second[0]["sg"][0]["ss"] == 3533
    assert first[1]["sg"] == [{"txt": "Hello", "st": 1984, "d": 2266, "fo": 0}]
    assert second[1]["sg"] == [{"txt": "Hello", "st": 0, "d": 717, "fi": 0}]
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


def test_one_long_clip_is_split_inside_at_exact_source_frames(run_kw, tmp_path: Path) -> None:
    draft = lossless({"m": {"width": W, "height": H}, "t": [{"tt": 0, "sg": [{"src": "moving.mp4", "ss": 500}]}]})
    parts = plan(draft, 3.0, run_kw)
    assert [(p.start_frame, p.end_frame) for p in parts] == [(0, 71), (71, 142), (142, 214), (214, 285)]
    # each piece starts at its own ss: the source frame the whole clip shows there (in ms, rounded down)
    assert [p.draft["t"][0]["sg"][0]["ss"] for p in parts] == [500, 2866, 5233, 7633]
    assert_parts_are_the_whole(draft, parts, tmp_path, run_kw)


def test_a_source_at_another_rate_is_split_only_where_its_frames_line_up(run_kw, tmp_path: Path) -> None:
    # 25 fps on a 30 fps canvas: a source frame lands on an output frame every 6 output frames
    draft = lossless({"m": {"width": W, "height": H}, "t": [{"tt": 0, "sg": [{"src": "moving25.mp4", "ss": 130}]}]})
    parts = plan(draft, 2.0, run_kw)
    assert len(parts) == 3 and all(p.start_frame % 6 == 0 for p in parts)
    assert_parts_are_the_whole(draft, parts, tmp_path, run_kw)
    # the naive rule (ss moved on by the cut's time in whole ms) shows other frames after a cut elsewhere
    naive = {"m": parts[1].draft["m"], "d": 200,
             "t": [{"tt": 0, "sg": [{"src": "moving25.mp4", "ss": 130 + 57 * 1000 // 30, "st": 0, "d": 200}]}]}
    head = decoded(render_part(Part(1, 57, 63, naive), tmp_path / "naive.mkv", **run_kw))
    whole = decoded(tmp_path / "whole.mkv", set(range(57, 63)))
    assert any(not np.array_equal(head[i], whole[57 + i]) for i in range(6))


def test_a_clip_the_whole_render_runs_through_4_4_4_is_not_split(run_kw, tmp_path: Path) -> None:
    # the whole render joins a clip that fades in at frame 0 in 4:4:4 (so its every frame moves a little);
    # a piece of it in a part would not be, so the cuts go elsewhere
    draft = lossless({"m": {"width": W, "height": H}, "t": [{"tt": 0, "sg": [
        {"src": "moving25.mp4", "ss": 40, "spd": 4, "tr": {"in": "fade", "out": "fade"}},
        {"src": "moving.mp4", "ss": 3000}]}]})
    parts = plan(draft, 1.0, run_kw)
    assert len(parts) > 3 and parts[1].start_frame >= 45          # the first clip is frames 0-44
    assert_parts_are_the_whole(draft, parts, tmp_path, run_kw)


def test_parts_never_open_or_close_on_a_sliver_beside_a_transition(run_kw, tmp_path: Path) -> None:
    # one frame left before a transition makes video_graph repeat a timestamp, and the caption above
    # would then fade a frame early in that part only; such cuts are not taken
    draft = lossless({"d": 6500, "m": {"width": W, "height": H}, "t": [
        {"tt": 0, "sg": [{"src": "moving25.mp4", "d": 1000, "spd": 1.5, "st": 200},
                         {"src": "pattern.mp4", "d": 700, "ss": 1000, "tr": {"out": {"type": "dissolve", "d": 800}},
                          "st": 1200},
                         {"src": "moving.mp4", "d": 4100, "ss": 130, "spd": 1.5, "st": 1900}]},
        {"tt": 7, "sg": [{"txt": "Hi", "st": 1605, "d": 3000, "style": {"anim": "fade"}}]}]})
    parts = plan(draft, 1.0, run_kw)
    assert len(parts) > 2
    assert_parts_are_the_whole(draft, parts, tmp_path, run_kw)


@pytest.mark.parametrize("draft", [
    {"m": {"width": W, "height": H}, "t": [{"tt": 0, "sg": [{"src": "photo.png", "d": 20000, "mo": "pan-left"}]}]},
    {"m": {"width": W, "height": H, "out": {"format": "webm"}}, "t": [{"tt": 0, "sg": [{"src": "moving.mp4"}]}]},
    {"m": {"width": W, "height": H, "out": {"format": "gif", "max_mb": 1}},
     "t": [{"tt": 0, "sg": [{"src": "moving.mp4"}]}]},
    {"m": {"width": W, "height": H}, "t": [{"tt": 0, "sg": [{"src": "moving.mp4", "rev": True, "d": 9000}]}]},
    {"m": {"width": W, "height": H}, "t": [
        {"tt": 0, "sg": [{"src": "moving.mp4"}]},
        {"tt": 7, "sg": [{"txt": "on top", "d": 10000, "style": {"anim": "fade"}}]}]},
    {"m": {"width": W, "height": H}, "t": [{"tt": 0, "sg": [{"src": "moving.mp4", "d": 4000}]}]},
    {"m": {"width": W, "height": H}, "t": [{"tt": 0, "sg": [{"src": "moving.mp4", "tr": {"in": "fade"}}]}]},
    {"m": {"width": W, "height": H}, "t": [{"tt": 0, "sg": [
        {"src": "moving.mp4", "d": 5000}, {"src": "pattern.mp4", "tr": {"in": {"type": "wipeleft", "d": 30}}}]}]},
    {"m": {"width": W, "height": H}, "t": [{"tt": 0, "sg": [
        {"src": "moving.mp4", "d": 5000}, {"src": "red.mp4", "d": 5000, "tr": {"in": "fade"}}]}]},
], ids=["still-with-motion", "webm", "gif-size-target", "reversed", "caption-fading-out", "short", "fades-in-at-0",
        "one-frame-transition", "held-at-both-ends"])
def test_what_cannot_be_cut_exactly_is_one_part(run_kw, draft: dict[str, Any]) -> None:
    parts = plan(draft, 5.0, run_kw)
    assert len(parts) == 1
    assert (parts[0].index, parts[0].start_frame, parts[0].draft) == (0, 0, draft)


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


def test_chunked_gif_has_one_palette_and_the_single_renders_frames(run_kw, tmp_path: Path) -> None:
    draft = {"m": {"width": W, "height": H, "out": {"format": "gif", "fps": 10, "width": 160}}, "t": [
        {"tt": 0, "sg": [{"src": "pattern.mp4", "d": 3000}, {"src": "moving.mp4", "ss": 2000, "d": 4000},
                         {"src": "photo.png", "d": 2000, "tr": {"in": "fade"}}]},
        {"tt": 7, "sg": [{"txt": "GIF", "st": 1000, "d": 4000}]}]}
    single = render(draft, tmp_path / "single.gif", **run_kw)
    chunked = render_chunked(draft, tmp_path / "chunked.gif", chunk_s=3.0, **run_kw)
    assert "3 parts joined" in chunked.encoder_reason
    assert (chunked.frames, chunked.width, chunked.height) == (single.frames, 160, 90) == (90, 160, 90)
    assert chunked.gif is not None and chunked.gif["fps"] == 10 and chunked.gif["colors"] == 256
    palette, local = gif_color_tables(chunked.path)
    assert len(palette) == 3 * 256 and local == 0                        # one palette, the join's
    assert gif_color_tables(single.path) == (palette, 0)                  # the same as a single render makes
    small_buffer = dict(run_kw, config=replace(run_kw["config"], gif_buffer_mb=1))   # the palette in its own pass
    two_pass = render_chunked(draft, tmp_path / "two-pass.gif", chunk_s=3.0, **small_buffer)
    assert two_pass.passes == chunked.passes + 1
    for other in (chunked, two_pass):
        with Image.open(single.path) as a, Image.open(other.path) as b:
            assert a.n_frames == b.n_frames == 90
            for i in range(a.n_frames):
                a.seek(i)
                b.seek(i)
                assert np.array_equal(np.asarray(a.convert("RGB")), np.asarray(b.convert("RGB"))), i
