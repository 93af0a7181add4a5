"""Timeline benchmark: a 30 s 1080p30 draft rendered by reelforge, against the encode floor and MoviePy.

    python -m benchmarks.timeline_bench [--quick] [--repeats N] [--no-moviepy] [--no-breakdown] [--jsonl]

The composition (the same plan feeds reelforge's draft and the MoviePy script): clip A, a
still with a slow zoom-in entering with a 1 s crossfade, clip B, a still panning right; a
title that fades in and out; music at 35 % under the clips' own sound. MP4, libx264 veryfast,
CRF 20 (reelforge's "high"), AAC. The two clips are 10 s 1080p30 H.264 files with sound that
reelforge renders first from landscapes (pan/zoom) with a music bed or an ambience bed; all
media are made here and cached in benchmarks/.work/media.

Runs, all subprocesses timed by wall clock, round-robin, median of ``--repeats`` (3; 1 with
--quick; MoviePy runs once unless ``--moviepy-repeats``):
- reelforge: ``reelforge render draft.json -o out.mp4``.
- encode floor: reelforge's output decoded once to raw yuv420p (cached), then
  ``ffmpeg -f rawvideo ... -c:v libx264 -preset veryfast -crf 20`` (video only; a second row
  adds the AAC encode of the same mixed sound).
- MoviePy 2.x: the same composition with VideoFileClip, ImageClip ``resized(lambda t: ...)``,
  CrossFadeIn, TextClip with CrossFadeIn/Out, MultiplyVolume, CompositeAudioClip and
  ``write_videofile(codec="libx264", preset="veryfast", ffmpeg_params=["-crf", "20"])``.
Then a breakdown of reelforge's time: its FFmpeg command replayed alone, the same graph with
a null output (decode and compose, no encode), and the draft without the stills' motion.
--quick renders 10 s at 1280x720 for every run. Nothing is asserted; results go to
benchmarks/.work/timeline_bench.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import common
from benchmarks.timeline_moviepy import moviepy_render
from benchmarks.timeline_plan import FPS, Plan, make_plan

NAME = "timeline_bench"
OUT = common.WORK / "timeline"
TARGETS = {"floor": 1.3, "moviepy": 6.0}
CRF = "20"
PRESET = "veryfast"




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


def raw_frames(rendered: Path, plan: Plan) -> tuple[Path, Path]:
    """reelforge's output as raw yuv420p frames and its sound as WAV, decoded once and cached."""
    tag = f"{plan.width}x{plan.height}-{plan.seconds:g}s"
    raw, wav, key = (OUT.parent / f"floor-{tag}.{ext}" for ext in ("yuv", "wav", "key"))
    stamp = json.dumps({"draft": plan.draft(), "size": rendered.stat().st_size})
    if not (raw.exists() and wav.exists() and key.exists() and key.read_text() == stamp):
        ff = common.ffmpeg_exe()
        common.run(
            [
                ff,
                "-nostdin",
                "-v",
                "error",
                "-y",
                "-i",
                str(rendered),
                "-map",
                "0:v:0",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "yuv420p",
                str(raw),
            ]
        )
        common.run([ff, "-nostdin", "-v", "error", "-y", "-i", str(rendered), "-map", "0:a:0", str(wav)])
        key.write_text(stamp)
    return raw, wav


def floor_commands(plan: Plan, raw: Path, wav: Path | None, out: Path) -> list[str]:
    ff = common.ffmpeg_exe()
    audio_in = ["-i", str(wav)] if wav else []
    audio_out = ["-c:a", "aac", "-b:a", "192k"] if wav else []
    return [
        ff,
        "-nostdin",
        "-v",
        "error",
        "-y",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "yuv420p",
        "-s",
        f"{plan.width}x{plan.height}",
        "-r",
        str(FPS),
        "-i",
        str(raw),
        *audio_in,
        "-c:v",
        "libx264",
        "-preset",
        PRESET,
        "-crf",
        CRF,
        "-pix_fmt",
        "yuv420p",
        *audio_out,
        str(out),
    ]


def reelforge_command(draft: dict[str, Any], name: str) -> tuple[list[str], Path]:
    path, out = OUT / f"{name}.json", OUT / f"{name}.mp4"
    path.write_text(json.dumps(draft, indent=1))
    return [common.reelforge_exe(), "render", str(path), "-o", str(out), "-q"], out


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
            common.say(f"  {r.label}: " + (f"{r.runs[-1].wall_s:.1f} s" if not r.error else "failed"))


def paired_ratio(a: Run, b: Run) -> float | None:
    """Median over rounds of a's time / b's time in the same round."""
    pairs = [x.wall_s / y.wall_s for x, y in zip(a.runs, b.runs, strict=False) if y.wall_s]
    return round(statistics.median(pairs), 3) if pairs else None


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


# ---------------------------------------------------------------- breakdown


def replay_commands(call: dict[str, Any], graph: str | None = None) -> dict[str, list[str]]:
    """The render's own command, and the same inputs and graph with a null output (no encode).

    ``graph`` replaces the captured graph (to measure a change to the compiler before making it).
    """
    argv = common.inline_graph(call["replay"], graph if graph is not None else call["graph"])
    exact = [common.ffmpeg_exe(), "-y", *argv[:-1], str(OUT / "replay.mp4")]
    graph_at = argv.index("-filter_complex")
    rest = argv[graph_at + 2 :]
    maps = [x for flag, value in itertools.pairwise(rest) if flag == "-map" for x in (flag, value)]
    null = [common.ffmpeg_exe(), *argv[: graph_at + 2], *maps, "-f", "null", "-"]
    return {"exact": exact, "null": null}


def breakdown(plan: Plan, rf: Run, rounds: int) -> dict[str, Any]:
    """Where reelforge's time goes, each part timed ``rounds`` times, round-robin.

    - one logged run: time before FFmpeg starts (Python), in FFmpeg, after it (verification);
    - reelforge's FFmpeg command replayed alone, and with a null output (decode and compose,
      no encode, no mux);
    - the draft without the stills' motion.
    """
    captured = common.capture_ffmpeg(rf.commands[0], OUT / "capture")
    calls = [c for c in captured.calls if c["graph"]]
    if not calls:
        return {"error": "no FFmpeg render command was captured"}
    render_call = calls[-1]
    commands = replay_commands(render_call)
    no_motion_cmd, _ = reelforge_command(plan.without_motion(), "reelforge-no-motion")
    parts = [
        Run(
            "ffmpeg-exact",
            "its FFmpeg command alone",
            [commands["exact"]],
            None,
            repeats=rounds,
            warm=rf.warm,
        ),
        Run(
            "ffmpeg-null",
            "same inputs and graph, -f null (no encode)",
            [commands["null"]],
            None,
            repeats=rounds,
            warm=rf.warm,
        ),
        Run(
            "no-motion",
            "reelforge, the stills without motion",
            [no_motion_cmd],
            None,
            repeats=rounds,
            warm=rf.warm,
        ),
        Run(
            "import",
            "python -c 'import engine.cli'",
            [[sys.executable, "-c", "import engine.cli, engine"]],
            None,
            repeats=rounds,
        ),
    ]
    common.say("breakdown:")
    measure(parts, rounds)
    out: dict[str, Any] = {
        "ffmpeg_argv": [common.ffmpeg_exe(), *render_call["argv"]],
        "graph": render_call["graph"],
        "ffmpeg_calls": len(captured.calls),
        "captured_run": {
            "wall_s": round(captured.wall_s, 3),
            "before_ffmpeg_s": round(captured.before_s, 3),
            "ffmpeg_s": round(captured.ffmpeg_s, 3),
            "after_ffmpeg_s": round(captured.after_s, 3),
        },
        "parts": {},
    }
    for p in parts:
        if p.error:
            out["parts"][p.key] = {"label": p.label, "error": p.error}
        else:
            out["parts"][p.key] = {
                "label": p.label,
                **common.timing_summary(p.runs),
                "core_s": round(common.median(p.runs).cpu_s, 2),
            }
    return out


# ---------------------------------------------------------------- report


def report_rows(runs: dict[str, Run], plan: Plan, outputs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rf = common.median(runs["reelforge"].runs).wall_s if runs["reelforge"].runs else float("nan")
    rows: list[dict[str, Any]] = []
    for key, r in runs.items():
        if r.error or not r.runs:
            rows.append({"key": key, "label": r.label, "error": r.error})
            continue
        t = common.median(r.runs)
        rows.append(
            {
                "key": key,
                "label": r.label,
                **common.timing_summary(r.runs),
                "realtime_factor": round(plan.seconds / t.wall_s, 3),
                "vs_reelforge": round(t.wall_s / rf, 3) if rf == rf else None,  # nan when reelforge failed
                "output": outputs.get(key),
                "encoder": "libx264",
                "preset": PRESET,
                "crf": int(CRF),
                "device": "cpu",
            }
        )
    return rows


def print_report(
    rows: list[dict[str, Any]],
    runs: dict[str, Run],
    ratios: dict[str, float | None],
    similarity: dict[str, Any] | None,
    parts: dict[str, Any] | None,
) -> None:
    t = common.Table(
        [
            "run",
            "time s (median)",
            "runs",
            "cores",
            "core-s",
            "realtime x",
            "vs reelforge",
            "frames",
            "size MB",
        ]
    )
    for row in rows:
        if row.get("error"):
            t.add(row["label"], "failed", "", "", "", "", "", "", (row["error"] or "")[:60])
            continue
        o = row.get("output") or {}
        t.add(
            row["label"],
            f"{row['wall_s']:.2f}",
            common.spread_note(runs[row["key"]].runs),
            f"{row['cores']:.2f}",
            f"{row['cpu_s']:.1f}",
            f"{row['realtime_factor']:.2f}",
            common.fmt_ratio(row["vs_reelforge"]) if row["vs_reelforge"] is not None else "n/a",
            o.get("frames", ""),
            f"{o['size_bytes'] / 1e6:.2f}" if o else "",
        )
    common.say()
    common.say(t.render())
    if ratios["reelforge_over_floor"] is None:
        common.say("\nreelforge did not finish: no ratios")
    else:
        common.say(
            f"\nreelforge / encode floor: {ratios['reelforge_over_floor']}x (target <= {TARGETS['floor']}x); "
            f"with AAC in the floor: {ratios['reelforge_over_floor_aac']}x\n"
            f"median of the per-round ratios: {ratios['reelforge_over_floor_paired']}x; "
            f"with AAC in the floor: {ratios['reelforge_over_floor_aac_paired']}x"
        )
    if ratios["moviepy_over_reelforge"]:
        common.say(f"MoviePy / reelforge: {ratios['moviepy_over_reelforge']}x (target >= {TARGETS['moviepy']}x)")
    if similarity:
        common.say(
            f"MoviePy's output against reelforge's, by frame index: SSIM {similarity['ssim_yuv']:.3f} "
            f"(yuv), frames {similarity['frames_moviepy']} / {similarity['frames_reelforge']}"
        )
    if parts and "parts" in parts:
        cap = parts["captured_run"]
        common.say(
            f"\nwhere reelforge's time goes (one logged run: {cap['before_ffmpeg_s']:.2f} s before FFmpeg "
            f"starts, {cap['ffmpeg_s']:.2f} s in FFmpeg, {cap['after_ffmpeg_s']:.2f} s after it):"
        )
        for p in parts["parts"].values():
            common.say(
                f"  {p['label']}: "
                + (
                    f"{p['wall_s']:.2f} s, {p['cores']:.2f} cores, {p['core_s']:.1f} core-s"
                    if "wall_s" in p
                    else f"failed: {p['error']}"
                )
            )
        common.say("  ffmpeg " + " ".join(parts["ffmpeg_argv"][1:]))
        common.say("  graph: " + (parts["graph"] or ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.timeline_bench", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="10 s at 1280x720 for every run, 1 repeat")
    parser.add_argument("--repeats", type=int, help="timed runs of reelforge and the floor (default 3; 1 with --quick)")
    parser.add_argument("--moviepy-repeats", type=int, default=1)
    parser.add_argument("--no-moviepy", action="store_true")
    parser.add_argument("--no-breakdown", action="store_true")
    parser.add_argument("--jsonl", action="store_true", help="also print one JSON line per run")
    parser.add_argument("--moviepy-render", nargs=2, metavar=("PLAN", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.moviepy_render:
        moviepy_render(Plan(**json.loads(Path(args.moviepy_render[0]).read_text())), Path(args.moviepy_render[1]))
        return 0

    started = time.perf_counter()
    repeats = args.repeats or (1 if args.quick else common.REPEATS)
    machine = common.machine()
    OUT.mkdir(parents=True, exist_ok=True)
    common.say("making media (cached after the first run) ...")
    plan = make_plan(args.quick)
    common.say(
        f"{plan.seconds:g} s at {plan.width}x{plan.height}, {FPS} fps; {machine['nproc']} cores, "
        f"{machine['cpu']}, ffmpeg {machine['ffmpeg']}"
    )

    rf_cmd, rf_out = reelforge_command(plan.draft(), "reelforge")
    common.run(rf_cmd)  # once untimed: the floor's frames come from this output
    raw, wav = raw_frames(rf_out, plan)
    plan_path = OUT / "plan.json"
    plan_path.write_text(json.dumps({k: getattr(plan, k) for k in Plan.__dataclass_fields__}))
    mp_out = OUT / "moviepy.mp4"
    runs = {
        "reelforge": Run("reelforge", "reelforge render", [rf_cmd], rf_out, repeats=repeats, warm=plan.inputs()),
        "floor": Run(
            "floor",
            "encode floor: libx264 from raw yuv420p (video only)",
            [floor_commands(plan, raw, None, OUT / "floor.mp4")],
            OUT / "floor.mp4",
            repeats=repeats,
            warm=[raw],
        ),
        "floor_aac": Run(
            "floor_aac",
            "encode floor + AAC of the same sound",
            [floor_commands(plan, raw, wav, OUT / "floor-aac.mp4")],
            OUT / "floor-aac.mp4",
            repeats=repeats,
            warm=[raw, wav],
        ),
    }
    if not args.no_moviepy:
        mp_cmd = [
            sys.executable,
            "-m",
            "benchmarks.timeline_bench",
            "--moviepy-render",
            str(plan_path),
            str(mp_out),
        ]
        runs["moviepy"] = Run(
            "moviepy",
            "MoviePy 2.x write_videofile",
            [mp_cmd],
            mp_out,
            repeats=args.moviepy_repeats,
            warm=plan.inputs(),
        )
    common.say("timed runs:")
    measure(list(runs.values()), max(r.repeats for r in runs.values()))

    outputs = {k: facts(r.output) for k, r in runs.items() if r.output and r.output.exists() and not r.error}
    similarity = None
    if "moviepy" in outputs:
        s = common.ssim_video(mp_out, rf_out)
        similarity = {
            "ssim_yuv": s.yuv,
            "ssim_y": s.y,
            "frames_moviepy": s.frames_test,
            "frames_reelforge": s.frames_ref,
        }
    rows = report_rows(runs, plan, outputs)
    by_key = {r["key"]: r for r in rows}
    rf_s = by_key["reelforge"].get("wall_s")
    floor_s = by_key["floor"].get("wall_s")
    mp_s = by_key.get("moviepy", {}).get("wall_s")
    ratios: dict[str, float | None] = {
        "reelforge_over_floor": round(rf_s / floor_s, 3) if rf_s and floor_s else None,
        "reelforge_over_floor_aac": round(rf_s / by_key["floor_aac"]["wall_s"], 3)
        if rf_s and by_key["floor_aac"].get("wall_s")
        else None,
        "moviepy_over_reelforge": round(mp_s / rf_s, 3) if rf_s and mp_s else None,
        # each round runs reelforge and the floor back to back: the median of those per-round ratios
        # is far steadier on a shared machine than the ratio of the two medians
        "reelforge_over_floor_paired": paired_ratio(runs["reelforge"], runs["floor"]),
        "reelforge_over_floor_aac_paired": paired_ratio(runs["reelforge"], runs["floor_aac"]),
    }
    parts = None if args.no_breakdown or not rf_s else breakdown(plan, runs["reelforge"], repeats)

    print_report(rows, runs, ratios, similarity, parts)
    elapsed = time.perf_counter() - started
    payload = {
        "benchmark": NAME,
        "machine": machine,
        "quick": args.quick,
        "repeats": repeats,
        "plan": {k: getattr(plan, k) for k in Plan.__dataclass_fields__},
        "draft": plan.draft(),
        "targets": TARGETS,
        "results": rows,
        "ratios": ratios,
        "moviepy_vs_reelforge_ssim": similarity,
        "breakdown": parts,
        "elapsed_s": round(elapsed, 1),
    }
    return common.finish(NAME, payload, rows, args.jsonl, elapsed)


if __name__ == "__main__":
    os.chdir(common.REPO)
    sys.exit(main())
