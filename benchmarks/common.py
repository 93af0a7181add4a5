"""Shared benchmark helpers: timing, SSIM, media generation, machine facts and the result files.

Everything a benchmark makes lives under ``benchmarks/.work/`` (git-ignored) and is cached
there: landscapes, source clips, music, raw frames. Delete the folder to start afresh.

Timings are wall clock around a whole process (``subprocess.run``), with the CPU time of that
process and its children from ``getrusage(RUSAGE_CHILDREN)``, so ``cpu_s / wall_s`` says how
many of the machine's cores a run kept busy. Benchmarks compare runs made in the same script
run on the same machine; they never assert a timing.
"""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "benchmarks" / ".work"
MEDIA = WORK / "media"
VENV_BIN = Path(sys.executable).parent
REPEATS = 3


# ---------------------------------------------------------------- FFmpeg and the machine


def ffmpeg_exe() -> str:
    from engine.config import bundled_ffmpeg

    return bundled_ffmpeg()


def reelforge_exe() -> str:
    """The console script installed beside this interpreter (``.venv/bin/reelforge``)."""
    exe = VENV_BIN / "reelforge"
    if not exe.exists():
        raise SystemExit(f"benchmarks: {exe} is missing; run `pip install -e .` in the virtualenv first")
    return str(exe)


def ffmpeg_version() -> str:
    out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-version"], capture_output=True, text=True, check=True)
    first = out.stdout.splitlines()[0]
    return first.removeprefix("ffmpeg version ").split(" Copyright")[0]


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = ""
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
                break
    except (OSError, subprocess.CalledProcessError):
        model = platform.processor()
    ram_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "date": date.today().isoformat(),
        "nproc": os.cpu_count(),
        "cpu": model,
        "ram_gib": round(ram_gib, 1),
        "ffmpeg": ffmpeg_version(),
        "ffmpeg_path": ffmpeg_exe(),
        "python": platform.python_version(),
        "device": "cpu",
        "code": code_version(),
    }


def code_version() -> dict[str, Any]:
    """The commit measured, and whether engine/ differed from it (read-only git)."""

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], capture_output=True, text=True, cwd=REPO, check=False)
        return out.stdout.strip() if out.returncode == 0 else ""

    return {
        "commit": git("rev-parse", "--short", "HEAD") or None,
        "engine_changed": bool(git("status", "--porcelain", "--", "engine")),
    }


# ---------------------------------------------------------------- timing


@dataclass(frozen=True, slots=True)
class Timing:
    wall_s: float
    cpu_s: float  # user + system time of the process and its children

    @property
    def cores(self) -> float:
        return self.cpu_s / self.wall_s if self.wall_s else 0.0


class CommandFailed(RuntimeError):
    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        super().__init__(list(argv), returncode, stderr)
        self.argv, self.returncode, self.stderr = list(argv), returncode, stderr

    def __str__(self) -> str:
        tail = self.stderr.strip().splitlines()[-3:] or ["(no stderr)"]
        return f"{self.argv[0]} exited with {self.returncode}: " + " | ".join(tail)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> str:
    """Run a command to the end; its stderr, or CommandFailed with the tail of it."""
    proc = subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        env=None if env is None else {**os.environ, **env},
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, proc.stderr)
    return proc.stderr


def time_commands(commands: Sequence[Sequence[str]], *, env: Mapping[str, str] | None = None) -> Timing:
    """Wall clock and CPU time of running ``commands`` one after another (e.g. the two GIF steps)."""
    cpu0, t0 = _children_cpu(), time.perf_counter()
    for argv in commands:
        run(argv, env=env)
    return Timing(time.perf_counter() - t0, _children_cpu() - cpu0)


def repeat(times: int, once: Callable[[], Timing], *, before: Callable[[], None] | None = None) -> list[Timing]:
    runs = []
    for _ in range(times):
        if before is not None:
            before()
        runs.append(once())
    return runs


def median(runs: Sequence[Timing]) -> Timing:
    """The run with the median wall time (its own CPU time with it)."""
    ordered = sorted(runs, key=lambda r: r.wall_s)
    return ordered[len(ordered) // 2]


def timing_summary(runs: Sequence[Timing]) -> dict[str, Any]:
    mid = median(runs)
    return {
        "wall_s": round(mid.wall_s, 3),
        "cpu_s": round(mid.cpu_s, 3),
        "cores": round(mid.cores, 2),
        "runs_wall_s": [round(r.wall_s, 3) for r in runs],
        "spread": round((max(r.wall_s for r in runs) - min(r.wall_s for r in runs)) / mid.wall_s, 3)
        if len(runs) > 1
        else 0.0,
    }


# ---------------------------------------------------------------- frames and SSIM

_SSIM_ALL = re.compile(r"SSIM (?P<planes>.*?) All:(?P<all>[0-9.]+)")
_PLANE = re.compile(r"(\w):([0-9.]+)")
_FRAME = re.compile(r"^frame=(\d+)$", re.MULTILINE)


def count_frames(path: Path, filters: str | None = None) -> int:
    """Frames FFmpeg decodes from ``path`` (after ``filters``, if any); decodes everything."""
    vf = ["-vf", filters] if filters else []
    out = subprocess.run(
        [
            ffmpeg_exe(),
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-i",
            str(path),
            *vf,
            "-map",
            "0:v:0",
            "-f",
            "null",
            "-",
            "-progress",
            "pipe:1",
            "-nostats",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    counts = _FRAME.findall(out.stdout)
    return int(counts[-1]) if counts else 0


@dataclass(frozen=True, slots=True)
class Ssim:
    """Mean SSIM over frames paired by index, measured twice (see :func:`ssim_by_index`)."""

    rgb: float  # mean of the R, G and B planes (gbrp)
    yuv: float  # FFmpeg's usual "All" on yuv420p: (4 Y + U + V) / 6
    y: float  # luma plane only (BT.601, from RGB on both sides)
    planes: dict[str, float]  # R, G, B, Y, U, V
    frames_test: int
    frames_ref: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ssim_by_index(test: Path, ref: Path, ref_filters: str) -> Ssim:
    """SSIM of every frame of ``test`` (a GIF, say) against ``ref`` after ``ref_filters``.

    Frames are paired by index, not by time: both streams get ``settb=1/1000,setpts=N``. (A
    bare ``setpts=N`` is not enough: the ssim filter syncs on timestamps in each input's own
    time base, 1/100 for GIF and 1/15 after ``fps=15``, so frame 40 of the GIF would meet
    frame 6 of the reference.) Both sides then go through ``bgra``, the format palettegen and
    paletteuse work in, so converting the reference costs it nothing (the reference compared
    with itself through this path scores exactly 1.0). Two comparisons follow: planar RGB
    (``gbrp``, no chroma subsampled away; ``rgb`` is the plain mean of R, G and B) and yuv420p
    (FFmpeg's usual "All", and the luma plane alone as ``y``). Frame counts are counted
    separately, because the ssim filter would repeat the last frame of a shorter input.
    """
    frames_test = count_frames(test)
    frames_ref = count_frames(ref, ref_filters)
    rgb, rgb_planes = _ssim(test, ref, ref_filters, "format=bgra,format=gbrp")
    yuv, yuv_planes = _ssim(test, ref, ref_filters, "format=bgra,format=yuv420p")
    return Ssim(rgb, yuv, yuv_planes["Y"], rgb_planes | yuv_planes, frames_test, frames_ref)


def ssim_video(test: Path, ref: Path) -> Ssim:
    """SSIM of two yuv420p videos of the same size, frames paired by index, no colour conversion."""
    yuv, planes = _ssim(test, ref, "null", "format=yuv420p")
    return Ssim(float("nan"), yuv, planes["Y"], planes, count_frames(test), count_frames(ref))


def _ssim(test: Path, ref: Path, ref_filters: str, convert: str) -> tuple[float, dict[str, float]]:
    graph = (
        f"[0:v]settb=1/1000,setpts=N,{convert}[t];"
        f"[1:v]{ref_filters},settb=1/1000,setpts=N,{convert}[r];"
        f"[t][r]ssim=shortest=1"
    )
    err = run(
        [
            ffmpeg_exe(),
            "-nostdin",
            "-hide_banner",
            "-i",
            str(test),
            "-i",
            str(ref),
            "-lavfi",
            graph,
            "-f",
            "null",
            "-",
        ]
    )
    match = _SSIM_ALL.search(err)
    if match is None:
        raise RuntimeError(f"no SSIM line in ffmpeg's output: {err[-500:]}")
    return float(match["all"]), {k: float(v) for k, v in _PLANE.findall(match["planes"])}


# ---------------------------------------------------------------- media


def landscapes(name: str, count: int, width: int, height: int, seed: int) -> list[Path]:
    """Photo-like stills (benchmarks.scenes), cached under .work/media/<name>/."""
    from benchmarks.scenes import save_landscapes

    return save_landscapes(MEDIA / name, count, width, height, seed)


def photo_scenes(name: str, width: int, height: int, seed: int) -> list[Path]:
    """Four photo-like stills of different hues with small saturated details (benchmarks.scenes)."""
    from benchmarks.scenes import save_photo_scenes

    return save_photo_scenes(MEDIA / name, width, height, seed)


def music(seconds: float) -> Path:
    from benchmarks.scenes import music as make_music

    path = MEDIA / f"music-{seconds:g}s.wav"
    if not path.exists():
        MEDIA.mkdir(parents=True, exist_ok=True)
        make_music(path, seconds)
    return path


def render_cached(draft: dict[str, Any], output: Path) -> Path:
    """Render ``draft`` with reelforge once; later calls reuse the file (keyed by the draft's JSON)."""
    from engine.config import EngineConfig
    from engine.pipeline.render import render

    key = output.with_suffix(output.suffix + ".draft.json")
    text = json.dumps(draft, sort_keys=True)
    if output.exists() and key.exists() and key.read_text() == text:
        return output
    output.parent.mkdir(parents=True, exist_ok=True)
    render(draft, output, config=EngineConfig.default())
    key.write_text(text)
    return output


def size_of(path: Path) -> int:
    return path.stat().st_size


# ---------------------------------------------------------------- what reelforge runs

_WRAPPER = """#!{python}
# A stand-in for FFmpeg (REELFORGE_FFMPEG_PATH) that logs each call, keeps what a replay needs
# and runs the real binary. reelforge deletes its scratch folder (graph file, prepared stills,
# captions) when the render ends, so the graph is read and those inputs are copied first.
import json, os, re, shutil, subprocess, sys, tempfile, time
argv = sys.argv[1:]
graph = None
for flag in ("-/filter_complex", "-filter_complex_script"):
    if flag in argv:
        with open(argv[argv.index(flag) + 1], encoding="utf-8") as fh:
            graph = fh.read()
keep, scratch = {keep!r}, tempfile.gettempdir()
if graph:  # files the graph itself reads (the stills' motion scripts) are kept too
    for path in set(re.findall(re.escape(scratch) + r"/reelforge-[^:;\\[\\],'\\s]+", graph)):
        if os.path.isfile(path):
            os.makedirs(keep, exist_ok=True)
            copy = os.path.join(keep, os.path.basename(path))
            shutil.copyfile(path, copy)
            graph = graph.replace(path, copy)
replay = list(argv)
for i, arg in enumerate(argv[:-1]):
    path = argv[i + 1]
    if arg == "-i" and path.startswith(scratch) and os.path.isfile(path):
        os.makedirs(keep, exist_ok=True)
        copy = os.path.join(keep, os.path.basename(path))
        shutil.copyfile(path, copy)
        replay[i + 1] = copy
started = time.time()
code = subprocess.call([{real!r}, *argv])
ended = time.time()
with open({log!r}, "a", encoding="utf-8") as fh:
    fh.write(json.dumps({{"argv": argv, "replay": replay, "graph": graph, "start": started, "end": ended,
                         "returncode": code}}) + "\\n")
sys.exit(code)
"""


@dataclass(frozen=True, slots=True)
class Captured:
    """One reelforge command run with every FFmpeg call logged, and when each ran."""

    calls: list[dict[str, Any]]  # argv (no binary), replay (argv with kept inputs), graph, start, end
    started: float  # time.time() when the reelforge process was started
    ended: float

    @property
    def wall_s(self) -> float:
        return self.ended - self.started

    @property
    def ffmpeg_s(self) -> float:
        return float(sum(c["end"] - c["start"] for c in self.calls))

    @property
    def before_s(self) -> float:
        """From starting reelforge to starting its first FFmpeg: Python start-up, imports, probe, stills.
        (The log is in the order calls end, so the first to start is looked for.)"""
        return float(min(c["start"] for c in self.calls) - self.started) if self.calls else self.wall_s

    @property
    def after_s(self) -> float:
        """From the last FFmpeg's end to reelforge's exit: reading the output back, moving it into place."""
        return float(self.ended - max(c["end"] for c in self.calls)) if self.calls else 0.0

    @property
    def ffmpeg_span_s(self) -> float:
        """From the first FFmpeg's start to the last one's end. Calls logged in the order they end, and
        calls that run at once (a decoder feeding encoders through Python) are counted once here."""
        return float(max(c["end"] for c in self.calls) - min(c["start"] for c in self.calls)) if self.calls else 0.0


def capture_ffmpeg(argv: Sequence[str], folder: Path) -> Captured:
    """Run a reelforge command with REELFORGE_FFMPEG_PATH pointing at a logging stand-in.

    The stand-in adds a Python start-up (some 30 ms) before each FFmpeg call, counted in
    ``before_s``; use this run to see the phases and the commands, not as a timing sample.
    """
    folder.mkdir(parents=True, exist_ok=True)
    log, wrapper = folder / "ffmpeg-calls.jsonl", folder / "ffmpeg-wrapper"
    log.unlink(missing_ok=True)
    wrapper.write_text(
        _WRAPPER.format(python=sys.executable, log=str(log), real=ffmpeg_exe(), keep=str(folder / "replay-inputs"))
    )
    wrapper.chmod(0o755)
    started = time.time()
    run(argv, env={"REELFORGE_FFMPEG_PATH": str(wrapper)})
    ended = time.time()
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return Captured(calls, started, ended)


def inline_graph(argv: Sequence[str], graph: str | None) -> list[str]:
    """``argv`` with the graph file option replaced by ``-filter_complex TEXT`` (the file is gone)."""
    out = list(argv)
    for flag in ("-/filter_complex", "-filter_complex_script"):
        if flag in out:
            at = out.index(flag)
            out[at : at + 2] = ["-filter_complex", graph or ""]
    return out


def warm(paths: Sequence[Path]) -> None:
    """Read files through the page cache before a timed run. This VM reclaims cold page cache
    (DAMON), and a 2.8 GB raw file read from disk costs some 6 s of system time."""
    for path in paths:
        with open(path, "rb") as fh:
            while fh.read(16 << 20):
                pass


# ---------------------------------------------------------------- output


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([str(c) for c in cells])

    def render(self) -> str:
        widths = [
            max(len(c), *(len(r[i]) for r in self.rows)) if self.rows else len(c) for i, c in enumerate(self.columns)
        ]

        def line(cells: Sequence[str]) -> str:
            return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

        sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
        return "\n".join([line(self.columns), sep, *(line(r) for r in self.rows)])


def write_results(name: str, payload: dict[str, Any]) -> Path:
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return path


def finish(name: str, payload: dict[str, Any], records: Sequence[Mapping[str, Any]], jsonl: bool,
           elapsed: float) -> int:
    """The end of every benchmark: results to JSON, optionally one line per run, and where they went."""
    path = write_results(name, payload)
    if jsonl:
        print_json_lines(records)
    say(f"\nwrote {path.relative_to(REPO)} in {elapsed:.0f} s")
    return 0


def say(text: str = "") -> None:
    """A line on stdout (the report is the point of a benchmark; no logging set-up needed)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def print_json_lines(records: Sequence[Mapping[str, Any]]) -> None:
    """One JSON object per line (style §7 rule 29), for tools that collect benchmark output."""
    for record in records:
        say(json.dumps(record, sort_keys=True))


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def fmt_ratio(value: float) -> str:
    return f"{value:.2f}x"


def spread_note(runs: Sequence[Timing]) -> str:
    walls = [r.wall_s for r in runs]
    return f"{min(walls):.2f}-{max(walls):.2f}" if len(walls) > 1 else f"{walls[0]:.2f}"


def pstdev(values: Sequence[float]) -> float:
    return statistics.pstdev(values) if len(values) > 1 else 0.0
