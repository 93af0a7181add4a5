"""Size targets (m.out.max_mb) hold whatever quality says, for MP4, WebM, GIF and WebP: real renders,
probed; an impossible target is refused before anything is written; the API reports the size reached."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.chunks import plan_parts
from engine.errors import DraftError, TargetSizeUnreachable
from engine.media.probe import inspect_output
from engine.media.resolve import LocalResolver
from engine.model.canvas import OutputSpec
from engine.model.draft import parse_draft
from engine.pipeline import size_target
from engine.pipeline.render import probe_sources
from tests.conftest import ffmpeg

SECONDS = 8


@pytest.fixture(scope="module")
def camera(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A noisy camera-like clip: 640x360, 30 fps, 8 s, with a tone; its quality-high MP4 is about 3.5 MB."""
    path = tmp_path_factory.mktemp("camera") / "camera.mp4"
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=s=640x360:r=30:d={SECONDS},noise=alls=6:allf=t",
           "-f", "lavfi", "-i", f"sine=f=440:d={SECONDS}", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "14",
           "-pix_fmt", "yuv420p", "-c:a", "aac", str(path))
    return path


def sized(src: Path, fmt: str, max_mb: float | None, **out: object) -> dict:
    return {"m": {"out": {"format": fmt, "quality": "high", "max_mb": max_mb, **out}},
            "t": [{"tt": 0, "sg": [{"src": str(src)}]}]}


# ---------------------------------------------------------------- the plan, without encoding


def test_max_mb_is_valid_for_every_format() -> None:
    for fmt in ("mp4", "webm", "gif", "webp"):
        assert parse_draft({"m": {"out": {"format": fmt, "quality": "high", "max_mb": 2}}}).m.out.max_mb == 2
    for bad in (0, -1, 1001):
        with pytest.raises(DraftError) as err:
            parse_draft({"m": {"out": {"max_mb": bad}}})
        assert err.value.issues[0].path == "m.out.max_mb"


def test_the_ladder_keeps_the_shape_and_goes_down() -> None:
    rungs = size_target.ladder(1080, 1920, Fraction(30))
    assert rungs[0] == size_target.Rung(1080, 1920, Fraction(30))
    assert all(abs(r.width / r.height - 1080 / 1920) < 0.01 for r in rungs)
    assert min(rungs, key=lambda r: r.pixel_rate) == size_target.Rung(240, 426, Fraction(15))
    assert {min(r.width, r.height) for r in rungs} == {1080, 720, 540, 480, 360, 240}


def spec_of(fmt: str, target_bytes: int, audio: bool) -> OutputSpec:
    return OutputSpec(fmt, "high", audio, 0, target_bytes, 256, "bayer", 5, "diff")  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(fmt=st.sampled_from(["mp4", "webm"]), target=st.integers(5_000, 200_000_000), audio=st.booleans(),
       seconds=st.floats(0.2, 900), shape=st.sampled_from([(1920, 1080), (1080, 1920), (1080, 1080), (640, 360),
                                                          (320, 180), (864, 1080)]),
       fps=st.sampled_from([Fraction(30), Fraction(30000, 1001), Fraction(24), Fraction(60), Fraction(15)]))
def test_a_plan_never_budgets_past_the_target(fmt, target, audio, seconds, shape, fps) -> None:
    """Either refused up front at m.out.max_mb, or its worst case (cap for the whole length plus the buffer's
    start fill, the sound, the container) fits; a larger target never picks a smaller picture."""
    try:
        plan = size_target.plan_video_for(spec_of(fmt, target, audio), seconds, *shape, fps)
    except DraftError as err:
        assert (err.issues[0].path, err.issues[0].rule) == ("m.out.max_mb", "size_reachable")
        return
    cap = plan.first.cap
    worst = ((cap.video_bps * plan.duration_s + size_target.INITIAL_FILL * cap.buffer_bits
              + (cap.audio_bps or 0) * plan.duration_s) / 8 + size_target.CONTAINER_BYTES + 0.025 * target)
    assert worst <= target * 1.0001 and (cap.audio_bps is not None) == audio
    assert plan.first.rung in plan.rungs and plan.first.rung.width <= shape[0]
    bigger = size_target.plan_video_for(spec_of(fmt, target * 2, audio), seconds, *shape, fps)
    assert bigger.first.rung.pixel_rate >= plan.first.rung.pixel_rate


def test_retries_go_lower_and_give_up_after_three() -> None:
    plan = size_target.plan_video_for(spec_of("mp4", 1_000_000, True), 8.0, 640, 360, Fraction(30))
    over = size_target.Attempt(plan.first.rung, plan.first.cap, size_bytes=1_300_000)
    second = size_target.retry(plan, [over])
    assert second is not None and second.rung == over.rung and second.cap.video_bps < over.cap.video_bps
    third = size_target.retry(plan, [over, dataclasses.replace(second, size_bytes=1_100_000)])
    assert third is not None and third.rung.pixel_rate <= 0.8 * over.rung.pixel_rate
    assert size_target.retry(plan, [over, dataclasses.replace(second, size_bytes=990_000)]) is None
    with pytest.raises(TargetSizeUnreachable):
        size_target.retry(plan, [over, over, dataclasses.replace(third, size_bytes=1_050_000)])


def test_size_targeted_renders_are_never_chunked(camera) -> None:
    """Parts could not share one budget exactly: a draft with max_mb is rendered whole."""
    for fmt in ("mp4", "gif"):
        plain, targeted = sized(camera, fmt, None), sized(camera, fmt, 1.0)
        media = probe_sources(parse_draft(plain), LocalResolver())
        assert len(plan_parts(plain, media, 2.0)) > 1
        assert len(plan_parts(targeted, media, 2.0)) == 1


# ---------------------------------------------------------------- real renders


def test_mp4_quality_high_holds_the_target(do_render, camera) -> None:
    result = do_render(sized(camera, "mp4", 1.0), "small.mp4")
    info = inspect_output(result.path)
    assert 600_000 <= result.size_bytes == result.path.stat().st_size <= 1_000_000
    assert info.video_codec == "h264" and info.has_audio and abs(info.duration_s - SECONDS) < 0.1
    assert result.target_bytes == 1_000_000 and result.encoding is not None
    assert result.encoding["size_bytes"] == result.size_bytes and result.encoding["video_kbps"] > 100


def test_webm_quality_high_holds_the_target(do_render, camera) -> None:
    draft = sized(camera, "webm", 0.4)
    draft["t"][0]["sg"][0]["d"] = 4000                      # VP9 is slow: half the clip, half the target
    result = do_render(draft, "small.webm")
    info = inspect_output(result.path)
    assert 240_000 <= result.size_bytes <= 400_000
    assert info.video_codec == "vp9" and info.audio_codec == "opus" and abs(info.duration_s - 4) < 0.1


def test_a_tight_target_steps_down_the_ladder(do_render, camera) -> None:
    """0.25 MB for 8 s leaves too few bits for 360p at 30 fps: a smaller picture, still under the target."""
    result = do_render(sized(camera, "mp4", 0.25), "tiny.mp4")
    assert result.size_bytes <= 250_000 and result.has_audio
    assert result.height < 360 and result.encoding is not None and result.encoding["height"] == result.height


def test_gif_and_webp_quality_high_hold_the_target(do_render, camera) -> None:
    """2 s at 480 px: quality high makes a ~0.2 MB WebP and a ~2.5 MB GIF, so both searches must go lower."""
    for fmt, target in (("gif", 0.3), ("webp", 0.12)):
        draft = {"m": {"out": {"format": fmt, "quality": "high", "max_mb": target}},
                 "t": [{"tt": 0, "sg": [{"src": str(camera), "d": 2000}]}]}
        result = do_render(draft, f"small.{fmt}")
        assert result.size_bytes <= target * 1e6 and result.target_bytes == target * 1e6
        assert result.encoding is not None and result.encoding["size_bytes"] == result.size_bytes
        tries = [a["size_bytes"] for a in result.encoding["attempts"]]
        assert len(tries) > 1 and tries[0] > target * 1e6 and result.size_bytes in tries
        info = inspect_output(result.path)
        assert info.frames > 0 and (info.width, info.height) == (result.width, result.height)


def test_an_encode_over_the_target_is_retried_lower_and_never_kept(do_render, camera, tmp_path,
                                                                    monkeypatch) -> None:
    """A budget 40 % too generous (as if the container cost nothing and more) makes the first MP4 too big:
    it is weighed, the cap scaled down and the same size tried again; with one try allowed, nothing is kept."""
    monkeypatch.setattr(size_target, "CONTAINER_SHARE", -0.4)
    draft = sized(camera, "mp4", 0.5)
    draft["t"][0]["sg"][0]["d"] = 4000
    result = do_render(draft, "retried.mp4")
    assert result.encoding is not None
    first, second = result.encoding["attempts"]
    assert first["size_bytes"] > 500_000 >= second["size_bytes"] == result.size_bytes
    assert (first["width"], first["fps"]) == (second["width"], second["fps"]) and result.has_audio
    monkeypatch.setattr(size_target, "MAX_TRIES", 1)
    with pytest.raises(TargetSizeUnreachable):
        do_render(draft, "over.mp4")
    assert not [p for p in tmp_path.iterdir() if "over" in p.name]


def test_an_enhanced_draft_under_a_target_is_measured_once_and_graded_in_every_try(do_render, camera,
                                                                                   monkeypatch) -> None:
    """m.enhance with a size target: its first pass runs once (one clip sampled, one loudness scan), whatever
    the tries, and the file that fits carries its corrections."""
    monkeypatch.setattr(size_target, "CONTAINER_SHARE", -0.4)
    draft = sized(camera, "mp4", 0.5)
    draft["t"][0]["sg"][0]["d"] = 4000
    draft["m"]["enhance"] = {"picture": True, "loudness": -14}
    result = do_render(draft, "enhanced.mp4")
    assert result.encoding is not None and len(result.encoding["attempts"]) == 2
    assert result.passes == 2 + 2 and result.size_bytes <= 500_000
    assert result.enhance is not None and result.enhance["loudness_out_target"] == -14
    assert len(result.enhance["segments"]) == 1 and "LUFS" in result.enhance["summary"]


def test_an_impossible_target_is_refused_before_anything_is_written(do_render, media, tmp_path) -> None:
    long = {"m": {"out": {"format": "mp4", "quality": "high", "max_mb": 0.01}},
            "t": [{"tt": 0, "sg": [{"src": str(media.green_png), "d": 300_000}]}]}
    for fmt in ("mp4", "webm", "gif", "webp"):
        long["m"]["out"]["format"] = fmt
        with pytest.raises(DraftError) as err:
            do_render(long, f"never.{fmt}")
        assert (err.value.issues[0].path, err.value.issues[0].rule) == ("m.out.max_mb", "size_reachable")
        assert "max_mb" in str(err.value)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(("never", ".never"))]


# ---------------------------------------------------------------- through the API


def test_an_export_with_quality_high_keeps_the_drafts_target(api_server, clients, camera, media) -> None:
    client = clients(api_server.base).connect()
    [clip, still] = client.upload(camera, media.green_png)["data"]["files"]
    draft = {"m": {"out": {"format": "mp4", "quality": "low", "max_mb": 0.5}},
             "t": [{"tt": 0, "sg": [{"src": clip["url"], "d": 4000}]}]}
    done = client.wait(client.export(draft)["id"])                      # the seeds' {"format":"mp4","quality":"high"}
    assert done["status"] == "completed", done
    out = done["output"]
    assert out["size"] <= 500_000 and out["target_mb"] == 0.5 and out["size_target_met"] is True
    assert out["encoding"]["height"] == out["height"] and out["encoding"]["video_kbps"] > 0
    assert len(httpx.get(out["url"]).content) == out["size"]

    draft["t"][0]["sg"][0]["d"] = 2000
    webm = client.wait(client.export(draft, {"format": "webm", "quality": "high", "max_mb": 0.2, "extra": 1})["id"])
    assert webm["status"] == "completed" and webm["output"]["target_mb"] == 0.2       # the tighter target
    assert webm["output"]["size"] <= 200_000 and webm["output"]["format"] == "webm"

    long = {"m": {"out": {"max_mb": 0.01}}, "t": [{"tt": 0, "sg": [{"src": still["url"], "d": 120_000}]}]}
    render_id = "render_impossible_target"
    reply = client.call("POST", "/api/render/proxy/lambda", json={
        "id": render_id, "sessionId": client.session_id, "draft": long, "output": {"format": "mp4", "quality": "high"}})
    body = reply.json()
    assert (reply.status_code, body["code"]) == (400, 400) and "max_mb" in body["message"]
    assert [i["path"] for i in body["data"]["issues"]] == ["m.out.max_mb"]
    assert client.call("GET", f"/api/render/proxy/lambda/{render_id}").json()["code"] == 404
