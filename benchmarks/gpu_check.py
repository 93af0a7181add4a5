"""The GPU check: one run on a GPU host that says what the GPU render paths do there, as one JSON file.

    scripts/gpu-check.sh [--tiny] [--budget-s S] [--draft-seconds S] [--draft-size WxH] [--clip-seconds S]
    python -m benchmarks.gpu_check --out DIR ...        (what the shell script runs)

In order, each step printed and kept in the JSON:

1. ``nvidia-smi`` (or why there is none) and ``reelforge encoders --json`` (the GPUs, the FFmpeg
   binaries and the encoder/decoder the engine would choose, and why);
2. the media, made here (nothing is downloaded): the timeline benchmark's real-footage draft
   (benchmarks/timeline_footage.py: a camera-like 1080p H.264 clip, photos, a title, music; 30 s
   at 1920x1080 by default) and a 10 s 1080p30 clip (``testsrc2`` with moving grain, H.264 High
   at about 10 Mbps, GOP 250, B-frames: camera-like bitrate);
3. renders, each a ``python -m engine.cli`` subprocess with the encoder and decoder forced
   (``--encoder/--decoder`` and ``REELFORGE_ENCODER/REELFORGE_DECODER``), so a path that cannot run
   fails loudly instead of falling back:

   - the draft to MP4: ``cpu`` (libx264, CPU decode), ``cuda-libx264`` (NVDEC/CUDA decode, CUDA
     scaling where the engine does it, libx264), ``cuda-nvenc`` (NVDEC/CUDA, NVENC);
   - the clip to a 480 px GIF: ``cpu`` and ``cuda`` decode (GIFs use no H.264 encoder);

   each with wall time, core-seconds (user + system CPU time of the render and its FFmpeg
   children, ``getrusage(RUSAGE_CHILDREN)``), the output's size, frames and duration, and the
   render result's provenance (``encoder``, ``encoder_reason``, ``decoder``, ``decoder_reason``,
   and ``gpu_path`` where the engine reports one);
4. SSIM of each GPU path's output against the CPU path's, frames paired by index (mean and worst
   frame), against the issue's bar of 0.98.

A GPU path is first asked of the engine itself (``reelforge encoders`` with that path forced):
where it cannot run, the path is ``"not available: <the engine's reason>"`` and costs no render.
A render that fails keeps FFmpeg's message in the JSON. The process exits 0 with the JSON in
every such case; non-zero only when this script itself breaks.

``--budget-s`` (default 420) bounds the whole run: once spent, the remaining renders and
comparisons are recorded as skipped, so one call on a 16-core host ends inside 8 minutes.
``--tiny`` makes everything tiny (320x180, about 2 s) for the test that runs the CPU half.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULT_FILE = "gpu-check.json"
SSIM_BAR = 0.98
DEFAULT_BUDGET_S = 360.0
GRACE_S = 45.0  # a render started inside the budget may run this much past it
STDERR_TAIL = 30  # lines of a failed command's stderr kept in the JSON

# (name, encoder, decoder): the draft to MP4 on each path, the CPU path first (the reference)
MP4_PATHS: tuple[tuple[str, str, str], ...] = (
    ("cpu", "libx264", "cpu"),
    ("cuda-libx264", "libx264", "cuda"),
    ("cuda-nvenc", "h264_nvenc", "cuda"),
)
# a GIF has no H.264 encoder: only the decoder (and the scaling after it) differs
GIF_PATHS: tuple[tuple[str, str, str], ...] = (
    ("cpu", "libx264", "cpu"),
    ("cuda", "libx264", "cuda"),
)


# ---------------------------------------------------------------- running things


@dataclass(frozen=True, slots=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str
    wall_s: float
    cpu_s: float  # user + system time of the process and its children


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(argv: Sequence[str], *, env: Mapping[str, str] | None = None, timeout_s: float | None = None,
        cwd: Path | None = None) -> Ran:
    """Run to the end; past ``timeout_s`` the whole process group (the render and its FFmpeg) is killed."""
    cpu0, t0 = _children_cpu(), time.perf_counter()
    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            text=True, env=None if env is None else {**os.environ, **env}, start_new_session=True,
                            cwd=cwd)
    try:
        out, err = proc.communicate(timeout=timeout_s)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        code, err = -signal.SIGKILL, err + f"\n(killed after {timeout_s:g} s)"
    return Ran(code, out, err, time.perf_counter() - t0, _children_cpu() - cpu0)


def tail(text: str, lines: int = STDERR_TAIL) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def reelforge(*args: str) -> list[str]:
    """The reelforge CLI of this checkout (not whatever console script is on the PATH)."""
    return [sys.executable, "-m", "engine.cli", *args]


def codec_env(encoder: str, decoder: str) -> dict[str, str]:
    return {"REELFORGE_ENCODER": encoder, "REELFORGE_DECODER": decoder}


def ffmpeg_exe() -> str:
    """The FFmpeg the engine is told to use (REELFORGE_FFMPEG_PATH), else the wheel's."""
    from engine.config import bundled_ffmpeg

    return os.environ.get("REELFORGE_FFMPEG_PATH") or bundled_ffmpeg()


def ffmpeg(*args: str) -> None:
    ran = run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", *args])
    if ran.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({ran.returncode}): {tail(ran.stderr, 5)}")


class Budget:
    def __init__(self, seconds: float) -> None:
        self.seconds, self.started = seconds, time.monotonic()

    @property
    def spent_s(self) -> float:
        return time.monotonic() - self.started

    def left(self) -> bool:
        return self.spent_s < self.seconds

    def timeout_s(self, most: float) -> float:
        """A render's limit: at most ``most``, and ending GRACE_S after the budget."""
        return max(10.0, min(most, self.seconds - self.spent_s + GRACE_S))

    def skipped(self) -> str:
        return f"skipped: the time budget ({self.seconds:g} s) was spent"


def say(text: str = "") -> None:
    print(text, flush=True)


# ---------------------------------------------------------------- the host


def nvidia_smi() -> dict[str, Any]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return {"available": False, "reason": "nvidia-smi is not on the PATH (no NVIDIA driver here)"}
    full = run([exe], timeout_s=30)
    query = run([exe, "--query-gpu=index,name,driver_version,memory.total,pci.bus_id,uuid",
                 "--format=csv,noheader"], timeout_s=30)
    gpus = []
    for line in query.stdout.strip().splitlines() if query.returncode == 0 else []:
        cells = [c.strip() for c in line.split(",")]
        if len(cells) == 6:
            gpus.append(dict(zip(("index", "name", "driver", "memory", "pci_bus_id", "uuid"), cells, strict=True)))
    return {"available": full.returncode == 0, "returncode": full.returncode, "gpus": gpus,
            "text": full.stdout if full.returncode == 0 else tail(full.stdout + full.stderr)}


def encoders_report() -> dict[str, Any]:
    """``reelforge encoders --json`` (plain ``encoders`` where the CLI has no --json), parsed."""
    ran = run(reelforge("encoders", "--json"), timeout_s=120)
    if ran.returncode == 2 and "--json" in ran.stderr:
        ran = run(reelforge("encoders"), timeout_s=120)
    if ran.returncode != 0:
        return {"ok": False, "returncode": ran.returncode, "stderr": tail(ran.stderr)}
    try:
        return {"ok": True, "report": json.loads(ran.stdout)}
    except json.JSONDecodeError:
        return {"ok": True, "text": ran.stdout}


def path_available(encoder: str, decoder: str) -> tuple[bool, str]:
    """Ask the engine whether this encoder/decoder pair can run here: its choice with both forced."""
    ran = run(reelforge("encoders"), env=codec_env(encoder, decoder), timeout_s=120)
    if ran.returncode == 0:
        return True, "the engine's trials passed with both forced"
    lines = [line.removeprefix("reelforge: ").removeprefix("render failed: ")
             for line in ran.stderr.strip().splitlines() if line.strip()]
    return False, (lines[-1] if lines else f"reelforge encoders exited with {ran.returncode}")


def ffmpeg_version(exe: str) -> str:
    ran = run([exe, "-hide_banner", "-version"], timeout_s=30)
    first = ran.stdout.splitlines()[0] if ran.stdout else ran.stderr.strip()
    return first.removeprefix("ffmpeg version ").split(" Copyright")[0]


def host() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        model = platform.processor()
    exe = ffmpeg_exe()
    git = run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    return {"nproc": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "ffmpeg_path": exe, "ffmpeg": ffmpeg_version(exe),
            "commit": git.stdout.strip() if git.returncode == 0 else None,
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


# ---------------------------------------------------------------- media and drafts


@dataclass(frozen=True, slots=True)
class Sizes:
    draft_seconds: float
    draft_size: tuple[int, int]
    clip_seconds: float
    clip_size: tuple[int, int]
    gif_width: int


def sizes(args: argparse.Namespace) -> Sizes:
    if args.tiny:
        return Sizes(2.0, (320, 180), 1.0, (320, 180), 160)
    w, h = (int(v) for v in args.draft_size.lower().split("x"))
    return Sizes(args.draft_seconds, (w, h), args.clip_seconds, (1920, 1080), 480)


def tiny_footage(folder: Path) -> tuple[str, str, str, str]:
    """Camera clip, photo, still and music for the footage plan, at 320x180 and a few seconds (fast)."""
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    camera, music = folder / "camera.mp4", folder / "music.wav"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x180:r=30:d=3,noise=alls=10:allf=t+u,format=yuv420p",
           "-f", "lavfi", "-i", "sine=frequency=220:sample_rate=48000:duration=3",
           "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-bf", "2", "-c:a", "aac", "-shortest", str(camera))
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=330:sample_rate=48000:duration=3", str(music))
    stills = []
    for name, size, colour in (("photo.jpg", (300, 200), (200, 120, 60)), ("still.jpg", (450, 300), (60, 120, 200))):
        im = Image.new("RGB", size, colour)
        draw = ImageDraw.Draw(im)
        for i in range(0, size[0], 20):
            draw.rectangle((i, 0, i + 9, size[1]), fill=(255 - colour[0], 200, colour[2]))
        im.save(folder / name, quality=92)
        stills.append(str(folder / name))
    return str(camera), stills[0], stills[1], str(music)


def footage_draft(s: Sizes, tiny: bool, work: Path) -> dict[str, Any]:
    """The timeline benchmark's real-footage draft (benchmarks/timeline_footage.py) at the sizes asked."""
    from benchmarks import common
    from benchmarks.timeline_footage import FootagePlan, camera_clip, photos

    if tiny:
        camera, photo, still, music = tiny_footage(work / "media")
    else:
        p, st = photos()
        camera, photo, still, music = str(camera_clip()), str(p), str(st), str(common.music(s.draft_seconds))
    plan = FootagePlan(s.draft_size[0], s.draft_size[1], s.draft_seconds, camera, photo, still, music)
    return plan.draft()


def camera_like_clip(s: Sizes, tiny: bool, work: Path) -> Path:
    """``testsrc2`` with grain that changes every frame, H.264 High at a camera's bitrate (cached)."""
    w, h = s.clip_size
    path = work / "media" / f"clip-{w}x{h}-{s.clip_seconds:g}s.mp4"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = ["-b:v", "10M", "-maxrate", "15M", "-bufsize", "20M"] if not tiny else ["-crf", "23"]
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=s={w}x{h}:r=30:d={s.clip_seconds:g},noise=alls=12:allf=t+u,format=yuv420p",
           "-c:v", "libx264", "-preset", "ultrafast" if tiny else "faster", "-profile:v", "high", *rate,
           "-g", "250", "-bf", "3", "-movflags", "+faststart", str(path.with_suffix(".partial.mp4")))
    path.with_suffix(".partial.mp4").rename(path)
    return path


# ---------------------------------------------------------------- renders and SSIM


PROVENANCE = ("encoder", "encoder_reason", "decoder", "decoder_reason")


def render(cli_args: Sequence[str], output: Path, encoder: str, decoder: str, timeout_s: float) -> dict[str, Any]:
    """One render as a subprocess, forced to one encoder and decoder; its timing, output and provenance."""
    output.unlink(missing_ok=True)
    argv = reelforge(*cli_args, "-o", str(output), "--json", "-q", "--encoder", encoder, "--decoder", decoder)
    ran = run(argv, env=codec_env(encoder, decoder), timeout_s=timeout_s)
    entry: dict[str, Any] = {"wall_s": round(ran.wall_s, 3), "core_s": round(ran.cpu_s, 3),
                             "cores": round(ran.cpu_s / ran.wall_s, 2) if ran.wall_s else 0.0,
                             "forced": {"encoder": encoder, "decoder": decoder}}
    if ran.returncode != 0:
        return {"status": "failed", "returncode": ran.returncode, "error": tail(ran.stderr), **entry}
    try:
        result = json.loads(ran.stdout)
    except json.JSONDecodeError:
        return {"status": "failed", "returncode": 0, "error": f"no JSON result: {tail(ran.stdout, 5)}", **entry}
    entry |= {"output": str(output), "size_bytes": result.get("size_bytes"), "frames": result.get("frames"),
              "duration_s": result.get("duration_s"), "width": result.get("width"), "height": result.get("height"),
              "passes": result.get("passes"), "render_elapsed_s": result.get("elapsed_s"),
              "warnings": result.get("warnings") or []}
    entry |= {key: result.get(key) for key in PROVENANCE}
    entry["gpu_path"] = result.get("gpu_path")       # the engine's report of its CUDA graph, where it gives one
    return {"status": "ok", **entry}


_ALL = re.compile(r"All:([0-9.]+|inf)")


def ssim(test: Path, ref: Path, work: Path, timeout_s: float = 300.0) -> dict[str, Any]:
    """SSIM of ``test`` against ``ref``, frames paired by index, both through bgra then yuv420p (mean, worst)."""
    stats = work / f"ssim-{test.stem}.log"
    convert = "settb=1/1000,setpts=N,format=bgra,format=yuv420p"
    graph = f"[0:v]{convert}[t];[1:v]{convert}[r];[t][r]ssim=stats_file={stats.name}:shortest=1"
    ran = run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", str(test), "-i", str(ref), "-lavfi", graph,
               "-f", "null", "-"], cwd=work, timeout_s=timeout_s)
    if ran.returncode != 0:
        raise RuntimeError(f"ssim: ffmpeg exited with {ran.returncode}: {tail(ran.stderr, 5)}")
    values = [float(v) if v != "inf" else 1.0 for v in _ALL.findall(stats.read_text())]
    if not values:
        raise RuntimeError("ssim: no per-frame values")
    mean, worst = sum(values) / len(values), min(values)
    return {"mean": round(mean, 5), "min": round(worst, 5), "frames_compared": len(values),
            "min_frame": values.index(worst),
            "mean_meets_bar": mean >= SSIM_BAR, "every_frame_meets_bar": worst >= SSIM_BAR}


def run_job(name: str, cli_args: Sequence[str], ext: str, paths: Sequence[tuple[str, str, str]],
            available: Mapping[tuple[str, str], tuple[bool, str]], budget: Budget, work: Path,
            timeout_s: float) -> dict[str, Any]:
    results: dict[str, Any] = {}
    reference: Path | None = None
    for path, encoder, decoder in paths:
        ok, why = available[(encoder, decoder)]
        if not ok:
            results[path] = {"status": f"not available: {why}", "forced": {"encoder": encoder, "decoder": decoder}}
        elif not budget.left():
            results[path] = {"status": budget.skipped()}
        else:
            say(f"  {name} / {path}: encoder {encoder}, decoder {decoder} ...")
            results[path] = render(cli_args, work / f"{name}-{path}.{ext}", encoder, decoder,
                                   budget.timeout_s(timeout_s))
            if path == "cpu" and results[path]["status"] == "ok":
                reference = work / f"{name}-{path}.{ext}"
        entry = results[path]
        if path != "cpu" and entry["status"] == "ok":
            if reference is None:
                entry["ssim_vs_cpu"] = {"error": "no CPU output to compare with"}
            elif not budget.left():
                entry["ssim_vs_cpu"] = {"error": budget.skipped()}
            else:
                try:
                    entry["ssim_vs_cpu"] = ssim(Path(entry["output"]), reference, work, budget.timeout_s(timeout_s))
                except (RuntimeError, OSError) as exc:
                    entry["ssim_vs_cpu"] = {"error": str(exc)}
    return results


# ---------------------------------------------------------------- the report


def table(jobs: Mapping[str, Mapping[str, Any]]) -> str:
    head = ("render", "path", "status", "wall s", "core-s", "size MB", "encoder", "decoder", "SSIM vs cpu (min)")
    rows = [head]
    for job, paths in jobs.items():
        for path, e in paths.items():
            status = e["status"] if len(e["status"]) <= 40 else e["status"][:37] + "..."
            sim = e.get("ssim_vs_cpu") or {}
            rows.append((job, path, status,
                         f"{e['wall_s']:.1f}" if "wall_s" in e else "", f"{e['core_s']:.1f}" if "core_s" in e else "",
                         f"{e['size_bytes'] / 1e6:.2f}" if e.get("size_bytes") else "",
                         str(e.get("encoder") or ""), str(e.get("decoder") or ""),
                         f"{sim['mean']:.4f} ({sim['min']:.4f})" if "mean" in sim else sim.get("error", "")[:30]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="gpu-check", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=os.environ.get("OUT") or "gpu-check-out", help="folder for the JSON "
                   "(default $OUT, else ./gpu-check-out)")
    p.add_argument("--work", help="folder for media and renders (default: benchmarks/.work/gpu-check)")
    p.add_argument("--tiny", action="store_true", help="tiny sizes and durations (for the test)")
    p.add_argument("--budget-s", type=float, default=DEFAULT_BUDGET_S,
                   help=f"stop starting renders after this many seconds (default {DEFAULT_BUDGET_S:g})")
    p.add_argument("--draft-seconds", type=float, default=30.0, help="the footage draft's length (default 30)")
    p.add_argument("--draft-size", default="1920x1080", help="the footage draft's output size (default 1920x1080)")
    p.add_argument("--clip-seconds", type=float, default=10.0, help="the 1080p GIF source's length (default 10)")
    p.add_argument("--render-timeout-s", type=float, default=240.0, help="one render's wall-clock limit")
    p.add_argument("--skip", action="append", default=[], choices=("draft", "gif"), help="leave out a render job")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    budget = Budget(args.budget_s)
    out = Path(args.out).resolve()
    work = Path(args.work).resolve() if args.work else REPO / "benchmarks" / ".work" / "gpu-check"
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    s = sizes(args)
    report: dict[str, Any] = {"check": "gpu-check", "tiny": args.tiny, "budget_s": args.budget_s,
                              "sizes": {"draft_seconds": s.draft_seconds, "draft_size": list(s.draft_size),
                                        "clip_seconds": s.clip_seconds, "clip_size": list(s.clip_size),
                                        "gif_width": s.gif_width},
                              "ssim_bar": SSIM_BAR}

    try:
        jobs = check(args, s, work, budget, report)
    except Exception:          # the check itself broke: say where, in the JSON too, and exit non-zero
        report["error"] = traceback.format_exc()
        report["total_s"] = round(budget.spent_s, 2)
        (out / RESULT_FILE).write_text(json.dumps(report, indent=2))
        raise
    report["total_s"] = round(budget.spent_s, 2)
    result = out / RESULT_FILE
    result.write_text(json.dumps(report, indent=2))
    say("== results")
    say(table(jobs))
    say(f"\n{result} ({report['total_s']:.0f} s)")
    return 0


def check(args: argparse.Namespace, s: Sizes, work: Path, budget: Budget, report: dict[str, Any]) -> dict[str, Any]:
    say("== nvidia-smi")
    report["nvidia_smi"] = smi = nvidia_smi()
    say(smi.get("text") or smi.get("reason", ""))
    say("== reelforge encoders --json")
    report["encoders"] = enc = encoders_report()
    say(json.dumps(enc.get("report", enc), indent=2))
    report["host"] = host()

    say("== can each path run here? (reelforge encoders with the path forced)")
    pairs = {(e, d) for _, e, d in (*MP4_PATHS, *GIF_PATHS)}
    available = {pair: path_available(*pair) for pair in sorted(pairs)}
    report["paths"] = {f"{e}+{d}": {"available": ok, "reason": why} for (e, d), (ok, why) in available.items()}
    for (e, d), (ok, why) in sorted(available.items()):
        say(f"  encoder {e}, decoder {d}: {'yes' if ok else 'no'} ({why})")

    say("== media")
    t0 = time.perf_counter()
    jobs: dict[str, Any] = {}
    if "draft" not in args.skip:
        draft = footage_draft(s, args.tiny, work)
        draft_file = work / "footage.json"
        draft_file.write_text(json.dumps(draft, indent=1))
    if "gif" not in args.skip:
        clip = camera_like_clip(s, args.tiny, work)
    report["media_s"] = round(time.perf_counter() - t0, 2)
    say(f"  made in {report['media_s']:.1f} s")

    say("== renders")
    if "draft" not in args.skip:
        jobs["draft_mp4"] = run_job("draft", ["render", str(draft_file)], "mp4", MP4_PATHS, available, budget, work,
                                    args.render_timeout_s)
    if "gif" not in args.skip:
        gif_args = ["gif", str(clip), "--width", str(s.gif_width)]
        jobs["clip_gif"] = run_job("clip", gif_args, "gif", GIF_PATHS, available, budget, work, args.render_timeout_s)
    report["jobs"] = jobs
    return jobs


if __name__ == "__main__":
    sys.exit(main())
