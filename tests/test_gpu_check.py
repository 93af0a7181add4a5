"""scripts/gpu-check.sh, the check run once on a GPU host: its CPU half, here, at tiny sizes.

There is no GPU here, so the GPU paths must come back as "not available: <the engine's reason>",
and the CPU renders with their times, sizes and provenance; the SSIM comparison is run on two CPU
renders of the same draft (which must agree exactly) so that its wiring is tested too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import gpu_check

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu-check.sh"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("gpu-check")
    out = tmp / "out"
    env = {**os.environ, "OUT": str(out), "PYTHON": sys.executable}
    env.pop("REELFORGE_FFMPEG_PATH", None)
    proc = subprocess.run([str(SCRIPT), "--tiny", "--work", str(tmp / "work")], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    files = list(out.iterdir())
    assert [f.name for f in files] == ["gpu-check.json"], "one JSON file under $OUT"
    data = json.loads(files[0].read_text())
    data["_stdout"] = proc.stdout
    return data


def test_the_host_half_says_there_is_no_gpu_here(report: dict) -> None:
    assert report["tiny"] is True
    assert report["nvidia_smi"]["available"] is False and "nvidia-smi" in report["nvidia_smi"]["reason"]
    assert report["encoders"]["ok"] is True
    assert report["encoders"]["report"]["choice"]["encoder"] == "libx264"    # what `reelforge encoders` printed
    assert report["host"]["ffmpeg"] and report["host"]["nproc"] >= 1
    assert report["paths"]["libx264+cpu"]["available"] is True


def test_the_cpu_renders_have_times_sizes_and_provenance(report: dict) -> None:
    for job, ext, encoder in (("draft_mp4", "mp4", "libx264"), ("clip_gif", "gif", "gif")):
        cpu = report["jobs"][job]["cpu"]
        assert cpu["status"] == "ok", cpu
        assert cpu["wall_s"] > 0 and cpu["core_s"] > 0 and cpu["cores"] > 0
        assert cpu["size_bytes"] > 0 and cpu["frames"] > 0 and cpu["duration_s"] > 0
        assert Path(cpu["output"]).suffix == f".{ext}" and Path(cpu["output"]).stat().st_size == cpu["size_bytes"]
        assert cpu["encoder"].startswith(encoder) and cpu["encoder_reason"]
        assert cpu["decoder"] == "cpu" and cpu["decoder_reason"] == "forced by setting (decoder=cpu)"
        assert "gpu_path" in cpu                              # None until the engine reports one
    draft = report["jobs"]["draft_mp4"]["cpu"]
    assert (draft["width"], draft["height"], draft["duration_s"]) == (320, 180, 2.0)


def test_every_gpu_path_says_why_it_did_not_run(report: dict) -> None:
    gpu_paths = {"draft_mp4": {"cuda-libx264", "cuda-nvenc"}, "clip_gif": {"cuda"}}
    for job, names in gpu_paths.items():
        assert set(report["jobs"][job]) == {"cpu"} | names
        for name in names:
            entry = report["jobs"][job][name]
            assert entry["status"].startswith("not available: "), entry
            assert "no NVIDIA GPU" in entry["status"]          # the engine's own reason
            assert "wall_s" not in entry and "ssim_vs_cpu" not in entry
    assert "not available" in report["_stdout"] and "draft_mp4" in report["_stdout"]   # the printed table


def test_a_second_path_is_compared_with_the_cpu_path_by_ssim(report: dict, tmp_path: Path) -> None:
    """The comparison the GPU paths get, run on a second CPU render: the same frames score 1.0."""
    draft = Path(report["jobs"]["draft_mp4"]["cpu"]["output"]).parent / "footage.json"
    paths = (("cpu", "libx264", "cpu"), ("again", "libx264", "cpu"))
    available = {("libx264", "cpu"): (True, "here")}
    results = gpu_check.run_job("draft", ["render", str(draft)], "mp4", paths, available,
                                gpu_check.Budget(60), tmp_path, 60)
    sim = results["again"]["ssim_vs_cpu"]
    assert sim["mean"] == pytest.approx(1.0) and sim["min"] == pytest.approx(1.0)
    assert sim["frames_compared"] == results["cpu"]["frames"] and sim["every_frame_meets_bar"] is True
    # a spent budget skips what is left, and says so
    spent = gpu_check.run_job("draft", ["render", str(draft)], "mp4", paths, available,
                              gpu_check.Budget(0), tmp_path, 60)
    assert all(e["status"].startswith("skipped: the time budget") for e in spent.values())


def test_a_failed_render_keeps_ffmpegs_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"t": [{"tt": 0, "sg": [{"src": str(tmp_path / "missing.mp4"), "d": 1000}]}]}))
    entry = gpu_check.render(["render", str(bad)], tmp_path / "x.mp4", "libx264", "cpu", 60)
    assert entry["status"] == "failed" and entry["returncode"] == 2 and "missing.mp4" in entry["error"]


def test_a_command_past_its_limit_is_killed_with_its_children() -> None:
    ran = gpu_check.run(["sh", "-c", "sleep 30 & sleep 30; wait"], timeout_s=1)
    assert ran.returncode < 0 and "killed after 1 s" in ran.stderr and ran.wall_s < 10
    budget = gpu_check.Budget(100)
    assert budget.timeout_s(240) <= 100 + gpu_check.GRACE_S and budget.timeout_s(30) == 30
