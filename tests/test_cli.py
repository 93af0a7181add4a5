"""The reelforge command, run as a user would run it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from engine.media.probe import inspect_output


def reelforge(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def test_render_takes_its_format_from_the_extension(media, tmp_path: Path) -> None:
    draft = tmp_path / "draft.json"
    draft.write_text(json.dumps({"t": [{"tt": 0, "sg": [{"src": str(media.pattern), "d": 1000}]},
                                       {"tt": 7, "sg": [{"txt": "CLI", "d": 1000}]}]}))
    done = reelforge("render", str(draft), "-o", str(tmp_path / "out.webm"))
    assert done.returncode == 0, done.stderr
    assert "webm" in done.stdout and inspect_output(tmp_path / "out.webm").video_codec == "vp9"
    as_json = reelforge("render", str(draft), "-o", str(tmp_path / "out.gif"), "--json", "-q")
    result = json.loads(as_json.stdout)
    assert result["format"] == "gif" and result["encoder"].startswith("gif")


def test_gif_command_meets_a_size_limit(media, tmp_path: Path) -> None:
    out = tmp_path / "clip.gif"
    done = reelforge("gif", str(media.pattern), "-o", str(out), "--fps", "12", "--width", "240", "--max-size", "0.2")
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size <= 200_000 and "size target" in done.stdout


def test_probe_summary_schema_and_encoders(media, tmp_path: Path) -> None:
    info = json.loads(reelforge("probe", str(media.red)).stdout)
    assert (info["kind"], info["duration_ms"], info["has_audio"]) == ("video", 2000, True)
    draft = tmp_path / "d.json"
    draft.write_text(json.dumps({"t": [{"tt": 0, "n": "Video", "sg": [{"src": str(media.red), "n": "red"}]},
                                       {"tt": 7, "n": "Title", "sg": [{"txt": "Hi", "d": 1500}]}]}))
    assert reelforge("summary", str(draft)).stdout.strip() == \
        'Timeline (2 tracks): 1. Video: red (0-2s) 2. Title: "Hi" (0-1.5s)'
    schema = json.loads(reelforge("schema").stdout)
    assert schema["title"] == "reelforge draft"
    caps = json.loads(reelforge("encoders", "--json").stdout)
    assert caps["choice"]["encoder"] in ("libx264", "h264_nvenc") and caps["choice"]["encoder_reason"]


def test_bad_input_exits_2_with_the_reason(media, tmp_path: Path) -> None:
    draft = tmp_path / "bad.json"
    draft.write_text(json.dumps({"t": [{"tt": 0, "sg": [{"src": str(media.red), "d": -1}]}]}))
    done = reelforge("render", str(draft), "-o", str(tmp_path / "x.mp4"))
    assert done.returncode == 2 and "t[0].sg[0].d" in done.stderr
    junk = reelforge("probe", str(media.junk_mp4))
    assert junk.returncode == 2 and "not a media file" in junk.stderr
    assert not (tmp_path / "x.mp4").exists()


def test_forcing_an_encoder_this_machine_lacks_fails_clearly(tmp_path: Path) -> None:
    from engine.encode.gpu import discover_gpus

    if discover_gpus().gpus:
        import pytest

        pytest.skip("this machine has an NVIDIA GPU")
    draft = tmp_path / "t.json"
    draft.write_text(json.dumps({"t": [{"tt": 7, "sg": [{"txt": "x", "d": 500}]}]}))
    done = reelforge("render", str(draft), "-o", str(tmp_path / "x.mp4"), "--encoder", "h264_nvenc")
    assert done.returncode == 3 and "h264_nvenc is not usable here" in done.stderr
    assert not (tmp_path / "x.mp4").exists()
    forced = reelforge("render", str(draft), "-o", str(tmp_path / "y.mp4"), "--encoder", "libx264", "--json", "-q")
    result = json.loads(forced.stdout)
    assert result["encoder"] == "libx264" and "forced" in result["encoder_reason"]
