"""Timeline benchmark: two 30 s 1080p30 drafts rendered by reelforge, against the encode floor.

    python -m benchmarks.timeline_bench [--quick] [--repeats N] [--draft studio|footage|all]
        [--no-moviepy] [--no-breakdown] [--breakdown-rounds N] [--engine-ref REF] [--jsonl]

Two drafts (all media made here and cached in benchmarks/.work/media; nothing is downloaded):

- **studio** (benchmarks/timeline_plan.py): clip A, a still with a slow zoom-in entering with a
  1 s crossfade, clip B, a still panning right; a title that fades in and out; music at 35 %
  under the clips' own sound. The clips are reelforge's own CRF-20 renders of landscapes.
- **footage** (benchmarks/timeline_footage.py): two cuts of a camera-like clip (H.264 High,
  about 10 Mbps, GOP 250, B-frames, grain and moving detail), a 1920x1280 photo with a zoom
  entering with a 3 s crossfade, the second cut entering with a 2 s crossfade, a 3000x2000
  still, a 120 px title with a 6 px stroke and fades, music at 35 %.

Runs, all subprocesses, round-robin (every run once per round, ``--repeats`` rounds, 5 by
default, 1 with --quick), each timed by wall clock and by CPU (core-seconds of the process and
its children, getrusage):
- reelforge: ``reelforge render draft.json -o out.mp4``;
- encode floor: reelforge's output decoded once to raw yuv420p (cached), then
  ``ffmpeg -f rawvideo ... -c:v libx264 -preset veryfast -crf 20`` (video only; a second row
  adds the AAC encode of the same mixed sound);
- footage only: the same composition as one hand-written FFmpeg command;
- studio only: MoviePy 2.x (once unless ``--moviepy-repeats``).
Ratios are medians of the per-round ratios (each round runs them back to back), of wall time
and of core-seconds; the machine is shared, and core-seconds move far less than wall time.

Then, per draft, a breakdown (``--breakdown-rounds`` rounds, round-robin): reelforge's FFmpeg
command replayed alone (with its encode, and with ``-f null``), its parts alone (decoding the
video inputs, the sound, the picture, each still's motion chain), the picture without its
blends or without its text, and prototypes of changes to the compiled command (see
benchmarks/graph_edit.py): the motion chains in 4:2:0, fades as a 4:2:0 ``blend`` (or as an
alpha fade and ``overlay``), ``-filter_complex_threads 1``, single-threaded decoders, and the
motion, blend and filter-thread changes together with the encode. reelforge and the floor run
in the same rounds, so "projected" (the prototype command plus what reelforge adds around its
FFmpeg, per round) gets a per-round ratio to the floor too.
A few frames of each output are saved as PNG under benchmarks/.work/timeline/frames/.
--quick renders 10 s at 1280x720. Nothing is asserted; results go to
benchmarks/.work/timeline_bench.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

from benchmarks import common
from benchmarks import graph_edit as ge
from benchmarks.timeline_footage import FootagePlan, make_footage_plan
from benchmarks.timeline_moviepy import moviepy_render
from benchmarks.timeline_plan import FPS, Plan, make_plan

NAME = "timeline_bench"
OUT = common.WORK / "timeline"
TARGETS = {"floor": 1.3, "moviepy": 6.0}
CRF = "20"
PRESET = "veryfast"
ROUNDS = 5
BREAKDOWN_ROUNDS = 3
# how reelforge is started: its console script, or an engine snapshot (--engine-ref) run as a module
REELFORGE: list[str] = []
# moments worth looking at, in seconds of a 30 s draft (scaled with the draft's length)
FRAMES_AT = {
    "studio": {"clip-a": 3.0, "crossfade": 9.5, "zoom": 12.5, "clip-b": 20.0, "pan": 27.5},
    "footage": {"title": 3.5, "crossfade-3s": 10.0, "zoom": 13.5, "crossfade-2s": 17.0, "clip-b": 21.0,
                "still": 27.5},
}


class AnyPlan(Protocol):
    width: int
    height: int
    seconds: float

    def draft(self) -> dict[str, Any]: ...
    def inputs(self) -> list[Path]: ...
    def without_motion(self) -> dict[str, Any]: ...


# ---------------------------------------------------------------- runs


@dataclass
class Run:
    key: str
    label: str
    commands: list[list[str]]
    output: Path | None
    runs: list[common.Timing] = field(default_factory=list)
    repeats: int = 1
    warm: list[Path] = field(default_factory=list)  # read into the page cache before each timed run
    error: str | None = None


@dataclass
class DraftBench:
    name: str
    label: str
    plan: AnyPlan
    runs: dict[str, Run] = field(default_factory=dict)

    @property
    def rf(self) -> Run:
        return self.runs["reelforge"]


def raw_frames(name: str, rendered: Path, plan: AnyPlan) -> tuple[Path, Path]:
    """reelforge's output as raw yuv420p frames and its sound as WAV, decoded once and cached."""
    tag = f"{name}-{plan.width}x{plan.height}-{plan.seconds:g}s"
    raw, wav, key = (OUT.parent / f"floor-{tag}.{ext}" for ext in ("yuv", "wav", "key"))
    stamp = json.dumps({"draft": plan.draft(), "size": rendered.stat().st_size})
    if not (raw.exists() and wav.exists() and key.exists() and key.read_text() == stamp):
        ff = common.ffmpeg_exe()
        common.run([ff, "-nostdin", "-v", "error", "-y", "-i", str(rendered), "-map", "0:v:0", "-f", "rawvideo",
                    "-pix_fmt", "yuv420p", str(raw)])
        common.run([ff, "-nostdin", "-v", "error", "-y", "-i", str(rendered), "-map", "0:a:0", str(wav)])
        key.write_text(stamp)
    return raw, wav


def floor_commands(plan: AnyPlan, raw: Path, wav: Path | None, out: Path) -> list[str]:
    ff = common.ffmpeg_exe()
    audio_in = ["-i", str(wav)] if wav else []
    audio_out = ["-c:a", "aac", "-b:a", "192k"] if wav else []
    return [
        ff, "-nostdin", "-v", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{plan.width}x{plan.height}", "-r", str(FPS), "-i", str(raw),
        *audio_in,
        "-c:v", "libx264", "-preset", PRESET, "-crf", CRF, "-pix_fmt", "yuv420p",
        *audio_out,
        str(out),
    ]  # fmt: skip


def reelforge_command(draft: dict[str, Any], name: str) -> tuple[list[str], Path]:
    path, out = OUT / f"{name}.json", OUT / f"{name}.mp4"
    path.write_text(json.dumps(draft, indent=1))
    return [*(REELFORGE or [common.reelforge_exe()]), "render", str(path), "-o", str(out), "-q"], out


def use_engine(ref: str) -> dict[str, str]:
    """Run reelforge from a snapshot of engine/ at ``ref`` (git archive), not from the working tree.

    Other people may be editing engine/ while a benchmark runs; a snapshot keeps every run of
    one benchmark on the same code. The snapshot goes first on this process's sys.path and on
    the children's PYTHONPATH, and reelforge runs as ``python -P -m engine.cli``.
    """
    sha = subprocess.run(["git", "rev-parse", ref], capture_output=True, text=True, cwd=common.REPO,
                         check=True).stdout.strip()
    dest = common.WORK / "engines" / sha[:12]
    if not (dest / "engine" / "__init__.py").exists():
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", sha, "engine"], capture_output=True, cwd=common.REPO, check=True)
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    sys.path.insert(0, str(dest))
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(dest), os.environ.get("PYTHONPATH")) if p)
    REELFORGE[:] = [sys.executable, "-P", "-m", "engine.cli"]
    return {"ref": ref, "commit": sha, "path": str(dest)}


def measure(todo: list[Run], rounds: int) -> None:
    for index in range(rounds):  # round-robin: drift on a shared machine hits every run alike
        for r in todo:
            if r.error or index >= r.repeats:
                continue
            try:
                common.warm(r.warm)
                r.runs.append(common.time_commands(r.commands))
            except common.CommandFailed as exc:
                r.error = str(exc)
            common.say(f"  {r.label}: " + (f"{r.runs[-1].wall_s:.1f} s, {r.runs[-1].cpu_s:.1f} core-s"
                                           if not r.error else f"failed: {r.error[:200]}"))


def per_round(a: Run, b: Run, what: str = "wall_s") -> list[float]:
    """a's time / b's time in each round (they ran back to back)."""
    return [round(getattr(x, what) / getattr(y, what), 3)
            for x, y in zip(a.runs, b.runs, strict=False) if getattr(y, what)]


def paired(a: Run, b: Run) -> dict[str, Any] | None:
    """Median of the per-round ratios, by wall time and by core-seconds, with the rounds themselves."""
    wall, cpu = per_round(a, b, "wall_s"), per_round(a, b, "cpu_s")
    if not wall:
        return None
    return {"wall": round(statistics.median(wall), 3), "wall_rounds": wall,
            "core_s": round(statistics.median(cpu), 3), "core_s_rounds": cpu}


def facts(path: Path) -> dict[str, Any]:
    """Frames, size and duration of an output (PyAV, no decode)."""
    from engine.media.probe import inspect_output

    info = inspect_output(path)
    return {
        "frames": info.frames,
        "width": info.width,
        "height": info.height,
        "duration_s": round(info.duration_s, 3),
        "audio": info.has_audio,
        "size_bytes": path.stat().st_size,
    }


def save_frames(name: str, video: Path, plan: AnyPlan, tag: str) -> list[str]:
    """PNGs of the moments in FRAMES_AT, to look at (benchmarks/.work/timeline/frames/<draft>/)."""
    folder = OUT / "frames" / name
    folder.mkdir(parents=True, exist_ok=True)
    saved = []
    for what, at in FRAMES_AT[name].items():
        png = folder / f"{tag}-{what}.png"
        seconds = at * plan.seconds / 30
        common.run([common.ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-ss", f"{seconds:g}", "-i", str(video),
                    "-frames:v", "1", str(png)])
        saved.append(str(png.relative_to(common.REPO)))
    return saved


# ---------------------------------------------------------------- breakdown


def _exact_and_null(call: dict[str, Any], graph: str, out: Path, threads: int | None = None,
                    global_opts: Sequence[str] = ()) -> dict[str, list[str]]:
    """The render's own command with ``graph`` (encode to ``out``), and the same with a null output.

    ``threads`` sets ``-threads`` on the decoded video inputs; ``global_opts`` go first.
    """
    argv = common.inline_graph(call["replay"], graph)
    if "-progress" in argv:
        at = argv.index("-progress")
        del argv[at : at + 2]
    if threads is not None:
        argv = ge.decoder_threads(argv, threads)
    at = argv.index("-filter_complex")
    rest = argv[at + 2 :]
    maps = [x for flag, value in itertools.pairwise(rest) if flag == "-map" for x in (flag, value)]
    ff = common.ffmpeg_exe()
    return {
        "exact": [ff, "-y", *global_opts, *argv[:-1], str(out)],
        "null": [ff, *global_opts, *argv[: at + 2], *maps, "-f", "null", "-"],
    }


def _alone(call: dict[str, Any], graph: list[ge.Node], label: str) -> list[str]:
    """Only the part of the graph that makes ``label``, to a null output."""
    argv = _exact_and_null(call, ge.text(ge.only(graph, label)), OUT / "unused.mp4")["null"]
    at = argv.index("-filter_complex")
    return [*argv[: at + 2], "-map", f"[{label}]", "-f", "null", "-"]


def _decode_only(call: dict[str, Any]) -> list[str] | None:
    argv = _exact_and_null(call, call["graph"], OUT / "unused.mp4")["null"]
    inputs = argv[: argv.index("-filter_complex")]
    numbers = ge.input_numbers(inputs)
    maps = [x for i in ge.video_inputs(inputs) for x in ("-map", f"{numbers[i]}:v:0")]
    return [*inputs, *maps, "-f", "null", "-"] if maps else None


def _motion_ends(graph: list[ge.Node]) -> list[str]:
    """The label where each still's motion chain ends (before it is split, trimmed or joined)."""
    consumers: dict[str, list[int]] = {}
    for i, n in enumerate(graph):
        for x in n.ins:
            consumers.setdefault(x, []).append(i)
    ends = []
    for n in graph:
        if not n.filter.startswith("crop@motion"):
            continue
        label = n.outs[0]
        while len(consumers.get(label, [])) == 1:
            nxt = graph[consumers[label][0]]
            if len(nxt.ins) != 1 or len(nxt.outs) != 1 or nxt.name in ("split", "trim", "concat", "fade"):
                break
            label = nxt.outs[0]
        ends.append(label)
    return ends


def breakdown(db: DraftBench, floor: Run, rounds: int) -> dict[str, Any]:
    """Where reelforge's core-seconds go on one draft, and what changes to its command would save.

    Every part runs ``rounds`` times, round-robin, together with the floor (so that the command
    with all prototyped changes gets a per-round ratio against it).
    """
    rf = db.rf
    folder = OUT / f"capture-{db.name}"
    captured = common.capture_ffmpeg(rf.commands[0], folder)
    calls = [c for c in captured.calls if c["graph"]]
    if not calls:
        return {"error": "no FFmpeg render command was captured"}
    call = calls[-1]
    graph = ge.parse(call["graph"])
    maps = [v for f, v in itertools.pairwise(call["replay"]) if f == "-map"]
    sound_labels = ge.audio_labels(graph)
    picture = next((m.strip("[]") for m in maps if m.strip("[]") not in sound_labels), None)
    sound = next((m.strip("[]") for m in maps if m.strip("[]") in sound_labels), None)
    fps = Fraction(FPS)
    motion420 = ge.motion_in_420(graph)
    blends = ge.fades_as_blend(graph, fps, folder / "prototype")
    every = ge.text(ge.fades_as_blend(motion420, fps, folder / "prototype"))
    one_thread = ("-filter_complex_threads", "1")
    as_is = _exact_and_null(call, call["graph"], OUT / f"replay-{db.name}.mp4")
    proto = _exact_and_null(call, every, OUT / f"prototype-{db.name}.mp4", global_opts=one_thread)
    unused = OUT / "unused.mp4"

    def part(key: str, label: str, argv: list[str] | None) -> Run | None:
        return Run(key, label, [argv], None, repeats=rounds, warm=rf.warm) if argv else None

    parts = [
        Run("reelforge", "reelforge render (again, in these rounds)", rf.commands, None, repeats=rounds, warm=rf.warm),
        part("ffmpeg-exact", "its FFmpeg command alone (with the encode)", as_is["exact"]),
        part("ffmpeg-null", "the same, -f null (decode and compose, no encode)", as_is["null"]),
        part("decode", "decoding the video inputs alone", _decode_only(call)),
        part("sound", "the sound alone (its part of the graph)", _alone(call, graph, sound) if sound else None),
        part("picture", "the picture alone (its part of the graph)", _alone(call, graph, picture) if picture else None),
        part("no-blends", "the picture, xfade passing its first input through",
             _alone(call, ge.bypass(graph, "xfade"), picture) if picture else None),
        part("no-text", "the picture, overlays passing the base through",
             _alone(call, ge.bypass(graph, "overlay"), picture) if picture else None),
        *(part(f"motion-{i}", f"still motion chain {i} alone (to [{end}])", _alone(call, graph, end))
          for i, end in enumerate(_motion_ends(graph), 1)),
        part("p-motion420", "prototype: motion chains in 4:2:0, -f null",
             _exact_and_null(call, ge.text(motion420), unused)["null"]),
        part("p-blend", "prototype: fades as 4:2:0 blend, -f null",
             _exact_and_null(call, ge.text(blends), unused)["null"]),
        part("p-overlay", "prototype: fades as alpha fade + overlay in 4:2:0, -f null",
             _exact_and_null(call, ge.text(ge.fades_as_overlay(graph, fps)), unused)["null"]),
        part("p-fct1", "prototype: -filter_complex_threads 1, -f null",
             _exact_and_null(call, call["graph"], unused, global_opts=one_thread)["null"]),
        part("p-threads1", "prototype: decoders -threads 1, -f null",
             _exact_and_null(call, call["graph"], unused, threads=1)["null"]),
        part("p-all-null", "prototype: motion 4:2:0 + blend + -filter_complex_threads 1, -f null", proto["null"]),
        part("p-all-exact", "prototype: motion 4:2:0 + blend + -filter_complex_threads 1, with the encode",
             proto["exact"]),
        Run("floor", floor.label, floor.commands, None, repeats=rounds, warm=floor.warm),
        part("import", "python -c 'import engine.cli, engine'",
             [sys.executable, *(["-P"] if REELFORGE else []), "-c", "import engine.cli, engine"]),
    ]
    todo = [p for p in parts if p is not None]
    common.say(f"breakdown, {db.label}:")
    measure(todo, rounds)
    by_key = {p.key: p for p in todo}
    out: dict[str, Any] = {
        "ffmpeg_argv": [common.ffmpeg_exe(), *call["argv"]],
        "graph": call["graph"],
        "prototype_graph": every,
        "prototype_argv": proto["exact"],
        "ffmpeg_calls": len(captured.calls),
        "captured_run": {
            "wall_s": round(captured.wall_s, 3),
            "before_ffmpeg_s": round(captured.before_s, 3),
            "ffmpeg_s": round(captured.ffmpeg_s, 3),
            "after_ffmpeg_s": round(captured.after_s, 3),
        },
        "parts": {},
        "ratios": {},
    }
    for p in todo:
        out["parts"][p.key] = (
            {"label": p.label, "error": p.error}
            if p.error or not p.runs
            else {
                "label": p.label,
                **common.timing_summary(p.runs),
                "core_s": round(statistics.median(r.cpu_s for r in p.runs), 2),
                "core_s_runs": [round(r.cpu_s, 2) for r in p.runs],
            }
        )
    for key in ("reelforge", "ffmpeg-exact", "p-all-exact"):
        if key in by_key and by_key[key].runs and by_key["floor"].runs:
            out["ratios"][f"{key}_over_floor"] = paired(by_key[key], by_key["floor"])
    if all(k in by_key and by_key[k].runs for k in ("reelforge", "ffmpeg-exact", "p-all-exact", "floor")):
        # reelforge as it would be with the prototype applied: the prototype command plus what reelforge
        # adds around its FFmpeg (Python, progress), both as measured in the same round
        projected = [
            common.Timing(p.wall_s + r.wall_s - e.wall_s, p.cpu_s + r.cpu_s - e.cpu_s)
            for r, e, p in zip(by_key["reelforge"].runs, by_key["ffmpeg-exact"].runs, by_key["p-all-exact"].runs,
                               strict=False)
        ]
        out["ratios"]["projected_over_floor"] = paired(Run("projected", "", [], None, runs=projected), by_key["floor"])
    exact = by_key.get("p-all-exact")
    if exact is not None and exact.runs and Path(proto["exact"][-1]).exists() and rf.output and rf.output.exists():
        s = common.ssim_video(Path(proto["exact"][-1]), rf.output)
        out["prototype_vs_reelforge_ssim"] = {"ssim_yuv": s.yuv, "ssim_y": s.y, "planes": s.planes,
                                              "frames": [s.frames_test, s.frames_ref]}
        out["prototype_frames"] = save_frames(db.name, Path(proto["exact"][-1]), db.plan, "prototype")
    return out


# ---------------------------------------------------------------- report


def report_rows(db: DraftBench, outputs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rf = common.median(db.rf.runs).wall_s if db.rf.runs else float("nan")
    rows: list[dict[str, Any]] = []
    for key, r in db.runs.items():
        if r.error or not r.runs:
            rows.append({"draft": db.name, "key": key, "label": r.label, "error": r.error})
            continue
        t = common.median(r.runs)
        rows.append(
            {
                "draft": db.name,
                "key": key,
                "label": r.label,
                **common.timing_summary(r.runs),
                "core_s_median": round(statistics.median(x.cpu_s for x in r.runs), 3),
                "core_s_runs": [round(x.cpu_s, 3) for x in r.runs],
                "realtime_factor": round(db.plan.seconds / t.wall_s, 3),
                "vs_reelforge": round(t.wall_s / rf, 3) if rf == rf else None,  # nan when reelforge failed
                "output": outputs.get(key),
                "encoder": "libx264",
                "preset": PRESET,
                "crf": int(CRF),
                "device": "cpu",
            }
        )
    return rows


def _fmt(p: dict[str, Any] | None) -> str:
    if not p:
        return "n/a"
    return (f"{p['core_s']:.2f}x by core-s (rounds {', '.join(f'{x:.2f}' for x in p['core_s_rounds'])}); "
            f"{p['wall']:.2f}x by wall (rounds {', '.join(f'{x:.2f}' for x in p['wall_rounds'])})")


def print_report(db: DraftBench, rows: list[dict[str, Any]], ratios: dict[str, Any],
                 similarity: dict[str, Any], parts: dict[str, Any] | None) -> None:
    t = common.Table(["run", "time s (median)", "runs", "cores", "core-s (median)", "realtime x", "vs reelforge",
                      "frames", "size MB"])
    for row in rows:
        if row.get("error"):
            t.add(row["label"], "failed", "", "", "", "", "", "", (row["error"] or "")[:60])
            continue
        o = row.get("output") or {}
        t.add(
            row["label"],
            f"{row['wall_s']:.2f}",
            common.spread_note(db.runs[row["key"]].runs),
            f"{row['cores']:.2f}",
            f"{row['core_s_median']:.1f}",
            f"{row['realtime_factor']:.2f}",
            common.fmt_ratio(row["vs_reelforge"]) if row["vs_reelforge"] is not None else "n/a",
            o.get("frames", ""),
            f"{o['size_bytes'] / 1e6:.2f}" if o else "",
        )
    common.say(f"\n{db.label}: {db.plan.seconds:g} s at {db.plan.width}x{db.plan.height}, {FPS} fps")
    common.say(t.render())
    common.say(f"reelforge / encode floor: {_fmt(ratios.get('reelforge_over_floor'))} (target <= {TARGETS['floor']}x)")
    common.say(f"reelforge / encode floor + AAC: {_fmt(ratios.get('reelforge_over_floor_aac'))}")
    if "reelforge_over_hand" in ratios:
        common.say(f"reelforge / hand-written FFmpeg command: {_fmt(ratios['reelforge_over_hand'])}")
    if ratios.get("moviepy_over_reelforge"):
        common.say(f"MoviePy / reelforge: {_fmt(ratios['moviepy_over_reelforge'])} (target >= {TARGETS['moviepy']}x)")
    for key, s in similarity.items():
        common.say(f"{key} output against reelforge's, by frame index: SSIM {s['ssim_yuv']:.4f} (yuv), "
                   f"frames {s['frames_test']} / {s['frames_ref']}")
    if parts and "parts" in parts:
        cap = parts["captured_run"]
        common.say(
            f"\nwhere reelforge's time goes, {db.name} (one logged run: {cap['before_ffmpeg_s']:.2f} s before FFmpeg "
            f"starts, {cap['ffmpeg_s']:.2f} s in FFmpeg, {cap['after_ffmpeg_s']:.2f} s after it):"
        )
        for p in parts["parts"].values():
            common.say(
                f"  {p['label']}: "
                + (f"{p['core_s']:.2f} core-s (runs {', '.join(f'{x:.1f}' for x in p['core_s_runs'])}), "
                   f"{p['wall_s']:.2f} s wall" if "wall_s" in p else f"failed: {p['error']}")
            )
        for key, value in parts["ratios"].items():
            common.say(f"  {key}: {_fmt(value)}")
        if "prototype_vs_reelforge_ssim" in parts:
            s = parts["prototype_vs_reelforge_ssim"]
            common.say(f"  prototype's output against reelforge's: SSIM {s['ssim_yuv']:.4f} (yuv), "
                       f"Y {s['ssim_y']:.4f}, frames {s['frames'][0]} / {s['frames'][1]}")
        common.say("  ffmpeg " + " ".join(parts["ffmpeg_argv"][1:]))
        common.say("  graph: " + (parts["graph"] or ""))


def make_drafts(which: str, quick: bool, repeats: int, moviepy: bool, moviepy_repeats: int) -> list[DraftBench]:
    drafts: list[DraftBench] = []
    if which in ("studio", "all"):
        drafts.append(DraftBench("studio", "studio draft (clips rendered by reelforge)", make_plan(quick)))
    if which in ("footage", "all"):
        drafts.append(DraftBench("footage", "real-footage draft (camera-like H.264)", make_footage_plan(quick)))
    for db in drafts:
        cmd, out = reelforge_command(db.plan.draft(), f"reelforge-{db.name}")
        common.run(cmd)  # once untimed: the floor's frames come from this output
        raw, wav = raw_frames(db.name, out, db.plan)
        db.runs["reelforge"] = Run("reelforge", "reelforge render", [cmd], out, repeats=repeats,
                                   warm=db.plan.inputs())
        db.runs["floor"] = Run("floor", "encode floor: libx264 from raw yuv420p (video only)",
                               [floor_commands(db.plan, raw, None, OUT / f"floor-{db.name}.mp4")],
                               OUT / f"floor-{db.name}.mp4", repeats=repeats, warm=[raw])
        db.runs["floor_aac"] = Run("floor_aac", "encode floor + AAC of the same sound",
                                   [floor_commands(db.plan, raw, wav, OUT / f"floor-aac-{db.name}.mp4")],
                                   OUT / f"floor-aac-{db.name}.mp4", repeats=repeats, warm=[raw, wav])
        if isinstance(db.plan, FootagePlan):
            hand = OUT / f"hand-{db.name}.mp4"
            db.runs["hand"] = Run("hand", "hand-written single FFmpeg command", [db.plan.hand_command(hand)], hand,
                                  repeats=repeats, warm=db.plan.inputs())
        if isinstance(db.plan, Plan) and moviepy:
            plan_path = OUT / "plan.json"
            plan_path.write_text(json.dumps({k: getattr(db.plan, k) for k in Plan.__dataclass_fields__}))
            mp_out = OUT / "moviepy.mp4"
            mp_cmd = [sys.executable, "-m", "benchmarks.timeline_bench", "--moviepy-render", str(plan_path),
                      str(mp_out)]
            db.runs["moviepy"] = Run("moviepy", "MoviePy 2.x write_videofile", [mp_cmd], mp_out,
                                     repeats=moviepy_repeats, warm=db.plan.inputs())
    return drafts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.timeline_bench", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="10 s at 1280x720, 1 round")
    parser.add_argument("--repeats", type=int, help=f"rounds of timed runs (default {ROUNDS}; 1 with --quick)")
    parser.add_argument("--draft", choices=("studio", "footage", "all"), default="all")
    parser.add_argument("--moviepy-repeats", type=int, default=1)
    parser.add_argument("--no-moviepy", action="store_true")
    parser.add_argument("--no-breakdown", action="store_true")
    parser.add_argument("--breakdown-rounds", type=int,
                        help=f"rounds of the breakdown's runs (default {BREAKDOWN_ROUNDS}; 1 with --quick)")
    parser.add_argument("--engine-ref", metavar="REF",
                        help="render with engine/ as committed at REF (a snapshot), not the working tree")
    parser.add_argument("--jsonl", action="store_true", help="also print one JSON line per run")
    parser.add_argument("--moviepy-render", nargs=2, metavar=("PLAN", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.moviepy_render:
        moviepy_render(Plan(**json.loads(Path(args.moviepy_render[0]).read_text())), Path(args.moviepy_render[1]))
        return 0

    started = time.perf_counter()
    engine = use_engine(args.engine_ref) if args.engine_ref else None
    repeats = args.repeats or (1 if args.quick else ROUNDS)
    b_rounds = args.breakdown_rounds or (1 if args.quick else BREAKDOWN_ROUNDS)
    machine = common.machine()
    OUT.mkdir(parents=True, exist_ok=True)
    common.say("making media (cached after the first run) ...")
    drafts = make_drafts(args.draft, args.quick, repeats, not args.no_moviepy, args.moviepy_repeats)
    common.say(f"{machine['nproc']} cores, {machine['cpu']}, ffmpeg {machine['ffmpeg']}"
               + (f"; engine from {engine['ref']} ({engine['commit'][:10]})" if engine else ""))
    common.say("timed runs:")
    all_runs = [r for db in drafts for r in db.runs.values()]
    measure(all_runs, max(r.repeats for r in all_runs))

    payload_drafts: dict[str, Any] = {}
    records: list[dict[str, Any]] = []
    reports = []
    for db in drafts:
        outputs = {k: facts(r.output) for k, r in db.runs.items() if r.output and r.output.exists() and not r.error}
        similarity = {}
        for key in ("hand", "moviepy"):
            if key in outputs and "reelforge" in outputs:
                s = common.ssim_video(db.runs[key].output, db.rf.output)  # type: ignore[arg-type]
                similarity[key] = {"ssim_yuv": s.yuv, "ssim_y": s.y, "frames_test": s.frames_test,
                                   "frames_ref": s.frames_ref}
        frames = {k: save_frames(db.name, db.runs[k].output, db.plan, k)  # type: ignore[arg-type]
                  for k in ("reelforge", "hand") if k in outputs}
        rows = report_rows(db, outputs)
        records += rows
        ok = {k: r for k, r in db.runs.items() if r.runs and not r.error}
        ratios: dict[str, Any] = {}
        if "reelforge" in ok:
            for key, other in (("reelforge_over_floor", "floor"), ("reelforge_over_floor_aac", "floor_aac"),
                               ("reelforge_over_hand", "hand")):
                if other in ok:
                    ratios[key] = paired(ok["reelforge"], ok[other])
            if "moviepy" in ok:
                ratios["moviepy_over_reelforge"] = paired(ok["moviepy"], ok["reelforge"])
        parts = None if args.no_breakdown or "reelforge" not in ok else breakdown(db, db.runs["floor"], b_rounds)
        reports.append((db, rows, ratios, similarity, parts))
        payload_drafts[db.name] = {
            "label": db.label,
            "plan": {k: getattr(db.plan, k) for k in type(db.plan).__dataclass_fields__},  # type: ignore[attr-defined]
            "draft": db.plan.draft(),
            "results": rows,
            "ratios": ratios,
            "similarity": similarity,
            "frames": frames,
            "breakdown": parts,
        }
        if isinstance(db.plan, FootagePlan):
            payload_drafts[db.name]["hand_command"] = db.plan.hand_command(OUT / f"hand-{db.name}.mp4")
    for report in reports:
        print_report(*report)
    elapsed = time.perf_counter() - started
    payload = {
        "benchmark": NAME,
        "machine": machine,
        "engine": engine,
        "quick": args.quick,
        "repeats": repeats,
        "breakdown_rounds": b_rounds,
        "targets": TARGETS,
        "drafts": payload_drafts,
        "elapsed_s": round(elapsed, 1),
    }
    return common.finish(NAME, payload, records, args.jsonl, elapsed)


if __name__ == "__main__":
    os.chdir(common.REPO)
    sys.exit(main())
