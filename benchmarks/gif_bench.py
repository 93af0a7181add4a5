"""GIF benchmark: ``reelforge gif`` against FFmpeg's classic two-step palette recipe.

    python -m benchmarks.gif_bench [--quick] [--repeats N] [--jsonl]

Source: a 10 s 1280x720 30 fps clip rendered by reelforge itself from four photo-like
landscapes (slow zoom and pan, crossfades), high-quality H.264, cached in benchmarks/.work.
Target: 480 px wide, 15 fps, looping forever.

Every recipe runs as a subprocess and is timed by wall clock (both steps together for the
two-step reference; the whole ``reelforge`` process, Python start-up included, for reelforge).
Recipes run round-robin, ``--repeats`` times each (3; 1 with --quick), and the median is kept.
Quality is SSIM against the source put through ``fps=15,scale=480:-1:flags=lanczos``, frames
paired by index (benchmarks.common.ssim_by_index). Ratios are against the reference run of
the same invocation. Nothing is asserted: this prints a table and writes
benchmarks/.work/gif_bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import common

NAME = "gif_bench"
FPS, WIDTH = 15, 480
SCALE = f"fps={FPS},scale={WIDTH}:-1:flags=lanczos"
TARGETS = {"time": 0.7, "size": 0.8, "ssim": 0.975}
OUT = common.WORK / "gif"


# ---------------------------------------------------------------- the source clip


def source_clip() -> Path:
    """10 s, 1280x720, 30 fps: Ken Burns over four landscapes with 600 ms crossfades, CRF 20."""
    photos = common.landscapes("gif", 4, 1600, 900, seed=7)
    motions = [
        {"type": "zoom-in", "amt": 0.1},
        {"type": "pan-right", "amt": 0.1},
        {"type": "zoom-out", "amt": 0.1},
        {"type": "pan-left", "amt": 0.1},
    ]
    segments: list[dict[str, Any]] = []
    for index, (photo, motion) in enumerate(zip(photos, motions, strict=True)):
        seg: dict[str, Any] = {"src": str(photo), "d": 2500, "mo": motion, "fit": "cover"}
        if index:
            seg["tr"] = {"in": {"type": "fade", "d": 600}}
        segments.append(seg)
    draft = {
        "m": {"width": 1280, "height": 720, "fps": 30, "out": {"format": "mp4", "quality": "high"}},
        "t": [{"tt": 0, "sg": segments}],
    }
    return common.render_cached(draft, common.MEDIA / "gif-source.mp4")


# ---------------------------------------------------------------- recipes


@dataclass
class Recipe:
    key: str
    label: str
    commands: list[list[str]]  # run one after another, timed together
    output: Path
    group: str  # "reference", "reelforge" or "ffmpeg one-pass"
    settings: dict[str, Any] = field(default_factory=dict)
    runs: list[common.Timing] = field(default_factory=list)
    sizes: set[int] = field(default_factory=set)
    error: str | None = None


def reference(src: Path) -> Recipe:
    ff, pal, out = common.ffmpeg_exe(), OUT / "palette.png", OUT / "reference.gif"
    return Recipe(
        "reference",
        "ffmpeg two-step, defaults",
        [
            [ff, "-nostdin", "-v", "error", "-y", "-i", str(src), "-vf", f"{SCALE},palettegen", str(pal)],
            [
                ff,
                "-nostdin",
                "-v",
                "error",
                "-y",
                "-i",
                str(src),
                "-i",
                str(pal),
                "-lavfi",
                f"{SCALE}[x];[x][1:v]paletteuse",
                "-loop",
                "0",
                str(out),
            ],
        ],
        out,
        "reference",
        {"stats_mode": "full", "dither": "sierra2_4a", "max_colors": 256, "passes": 2},
    )


def reelforge_cli(src: Path, key: str = "reelforge", extra: tuple[str, ...] = ()) -> Recipe:
    out = OUT / f"{key}.gif"
    argv = [
        common.reelforge_exe(),
        "gif",
        str(src),
        "-o",
        str(out),
        "--fps",
        str(FPS),
        "--width",
        str(WIDTH),
        "-q",
        *extra,
    ]
    label = "reelforge gif" + ("" if not extra else " " + " ".join(extra))
    return Recipe(key, label, [argv], out, "reelforge", {"cli": argv[1:]})


def reelforge_draft(src: Path, key: str, out_opts: dict[str, Any]) -> Recipe:
    """``reelforge render`` of the draft ``reelforge gif`` builds, with other palette settings."""
    draft = {
        "t": [{"tt": 0, "sg": [{"src": str(src), "fit": "contain"}]}],
        "m": {"fps": 60, "out": {"format": "gif", "loop": 0, "fps": FPS, "width": WIDTH, **out_opts}},
    }
    path = OUT / f"{key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(draft, indent=1))
    out = OUT / f"{key}.gif"
    label = "reelforge render, " + ", ".join(f"{k} {v}" for k, v in out_opts.items())
    return Recipe(
        key,
        label,
        [[common.reelforge_exe(), "render", str(path), "-o", str(out), "-q"]],
        out,
        "reelforge",
        {"draft_out": out_opts},
    )


def one_pass(src: Path, key: str, gen: str, use: str, *, yuv: bool = False) -> Recipe:
    """``fps,scale,split → palettegen → paletteuse`` in one FFmpeg process (Bœsch's recipe)."""
    out = OUT / f"{key}.gif"
    pre = f"{SCALE},format=yuv420p" if yuv else SCALE
    graph = f"{pre},split[a][b];[a]palettegen={gen}[p];[b][p]paletteuse={use}"
    argv = [
        common.ffmpeg_exe(),
        "-nostdin",
        "-v",
        "error",
        "-y",
        "-i",
        str(src),
        "-lavfi",
        graph,
        "-loop",
        "0",
        str(out),
    ]
    label = f"{gen} | {use}" + (" | scale in yuv420p" if yuv else "")
    return Recipe(key, label, [argv], out, "ffmpeg one-pass", {"palettegen": gen, "paletteuse": use, "yuv": yuv})


RECT = "diff_mode=rectangle"

# (key, palettegen options, paletteuse options, scale-then-yuv420p); quick runs take the first four
ONE_PASS: list[tuple[str, str, str, bool]] = [
    ("diff-bayer5", "stats_mode=diff", f"dither=bayer:bayer_scale=5:{RECT}", False),
    ("diff-bayer5-yuv", "stats_mode=diff", f"dither=bayer:bayer_scale=5:{RECT}", True),
    ("diff-atkinson-yuv", "stats_mode=diff", f"dither=atkinson:{RECT}", True),
    ("diff-bayer4", "stats_mode=diff", f"dither=bayer:bayer_scale=4:{RECT}", False),
    ("diff-bayer3", "stats_mode=diff", f"dither=bayer:bayer_scale=3:{RECT}", False),
    ("diff-sierra2_4a", "stats_mode=diff", f"dither=sierra2_4a:{RECT}", False),
    ("diff-floyd", "stats_mode=diff", f"dither=floyd_steinberg:{RECT}", False),
    ("diff-atkinson", "stats_mode=diff", f"dither=atkinson:{RECT}", False),
    ("diff-none", "stats_mode=diff", f"dither=none:{RECT}", False),
    ("full-bayer5", "stats_mode=full", f"dither=bayer:bayer_scale=5:{RECT}", False),
    ("full-bayer4", "stats_mode=full", f"dither=bayer:bayer_scale=4:{RECT}", False),
    ("full-sierra2_4a", "stats_mode=full", "dither=sierra2_4a", False),
    ("full-floyd", "stats_mode=full", f"dither=floyd_steinberg:{RECT}", False),
    ("diff-bayer5-c192", "stats_mode=diff:max_colors=192", f"dither=bayer:bayer_scale=5:{RECT}", False),
    ("diff-bayer5-c128", "stats_mode=diff:max_colors=128", f"dither=bayer:bayer_scale=5:{RECT}", False),
    ("single-bayer5-new", "stats_mode=single", f"dither=bayer:bayer_scale=5:new=1:{RECT}", False),
]


def recipes(src: Path, quick: bool) -> list[Recipe]:
    out = [reference(src), reelforge_cli(src)]
    if not quick:
        out.append(reelforge_draft(src, "reelforge-bayer5", {"bayer_scale": 5}))
    chosen = ONE_PASS[:4] if quick else ONE_PASS
    out += [one_pass(src, key, gen, use, yuv=yuv) for key, gen, use, yuv in chosen]
    return out


# ---------------------------------------------------------------- what reelforge runs


def replay(call: dict[str, Any], index: int) -> list[str]:
    """A logged call for the real binary, its output (a ``.partial`` name) moved to .work."""
    argv = common.inline_graph(call["replay"], call["graph"])
    if argv and argv[-1] != "-":
        argv[-1] = str(OUT / f"replay-{index}.out")  # "-f gif" names the muxer
    return [common.ffmpeg_exe(), "-y", *argv]


def overhead(cli: Recipe, repeats: int) -> dict[str, Any]:
    """Where reelforge's wall time goes.

    One run with every FFmpeg call logged gives the phases (before the first FFmpeg: Python
    start-up, imports, probe, timeline; FFmpeg; after: reading the GIF back to verify it).
    Then the captured FFmpeg command(s) are replayed alone, and ``import engine.cli`` is timed
    alone, ``repeats`` times each, to set against the median of the timed reelforge runs.
    """
    captured = common.capture_ffmpeg(cli.commands[0], OUT / "capture")
    replays = [replay(c, i) for i, c in enumerate(captured.calls)]
    import_cmd = [sys.executable, "-c", "import engine.cli, engine"]
    ffmpeg_runs = common.repeat(repeats, lambda: common.time_commands(replays))
    import_runs = common.repeat(repeats, lambda: common.time_commands([import_cmd]))
    total, ff, imp = (common.median(r).wall_s for r in (cli.runs, ffmpeg_runs, import_runs))
    return {
        "ffmpeg_calls": [{"argv": [common.ffmpeg_exe(), *c["argv"]], "graph": c["graph"]} for c in captured.calls],
        "cli_wall_s": round(total, 3),
        "ffmpeg_alone_wall_s": round(ff, 3),
        "python_import_wall_s": round(imp, 3),
        "not_ffmpeg_s": round(total - ff, 3),
        "captured_run": {
            "wall_s": round(captured.wall_s, 3),
            "before_ffmpeg_s": round(captured.before_s, 3),
            "ffmpeg_s": round(captured.ffmpeg_s, 3),
            "after_ffmpeg_s": round(captured.after_s, 3),
        },
    }


# ---------------------------------------------------------------- run and report


def measure(recipe_list: list[Recipe], repeats: int) -> None:
    for _ in range(repeats):  # round-robin, so drift on a shared machine hits every recipe alike
        for r in recipe_list:
            if r.error:
                continue
            try:
                r.runs.append(common.time_commands(r.commands))
                r.sizes.add(common.size_of(r.output))
            except common.CommandFailed as exc:
                r.error = str(exc)


def row_record(r: Recipe, ref: Recipe, ssim: common.Ssim | None, machine: dict[str, Any]) -> dict[str, Any]:
    if r.error or not r.runs:
        return {"key": r.key, "label": r.label, "group": r.group, "error": r.error}
    t, t_ref = common.median(r.runs), common.median(ref.runs)
    size, size_ref = max(r.sizes), max(ref.sizes)
    return {
        "key": r.key,
        "label": r.label,
        "group": r.group,
        "settings": r.settings,
        **common.timing_summary(r.runs),
        "realtime_factor": round(10.0 / t.wall_s, 2),
        "size_bytes": size,
        "deterministic_size": len(r.sizes) == 1,
        "time_ratio": round(common.ratio(t.wall_s, t_ref.wall_s), 3),
        "size_ratio": round(common.ratio(size, size_ref), 3),
        "ssim": ssim.to_dict() if ssim else None,
        "meets": None
        if ssim is None
        else {
            "time": t.wall_s / t_ref.wall_s <= TARGETS["time"],
            "size": size / size_ref <= TARGETS["size"],
            "ssim_yuv": ssim.yuv >= TARGETS["ssim"],
            "ssim_rgb": ssim.rgb >= TARGETS["ssim"],
        },
        "ffmpeg": machine["ffmpeg"],
        "device": machine["device"],
        "encoder": "gif",
        "preset": None,
    }


def table(records: list[dict[str, Any]]) -> str:
    t = common.Table(
        [
            "recipe",
            "time s (median)",
            "time ratio",
            "size MB",
            "size ratio",
            "SSIM yuv",
            "SSIM rgb",
            "SSIM Y",
            "frames gif/ref",
            "targets t/s/ssim",
        ]
    )
    for rec in records:
        if rec.get("error"):
            t.add(rec["label"], "failed", "", "", "", "", "", "", "", rec["error"][:60])
            continue
        s, m = rec["ssim"], rec["meets"]
        marks = "".join("y" if m[k] else "-" for k in ("time", "size", "ssim_yuv")) + ("y" if m["ssim_rgb"] else "-")
        t.add(
            rec["label"],
            f"{rec['wall_s']:.2f}",
            common.fmt_ratio(rec["time_ratio"]),
            f"{rec['size_bytes'] / 1e6:.2f}",
            common.fmt_ratio(rec["size_ratio"]),
            f"{s['yuv']:.4f}",
            f"{s['rgb']:.4f}",
            f"{s['y']:.4f}",
            f"{s['frames_test']}/{s['frames_ref']}",
            marks,
        )
    return t.render()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gif_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 repeat and 4 one-pass variants instead of 16")
    parser.add_argument("--repeats", type=int, help="timed runs per recipe (default 3; 1 with --quick)")
    parser.add_argument("--jsonl", action="store_true", help="also print one JSON line per recipe")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else common.REPEATS)
    started = time.perf_counter()

    machine = common.machine()
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    src = source_clip()
    common.say(
        f"source {src} ({src.stat().st_size / 1e6:.2f} MB); {machine['nproc']} cores, {machine['cpu']}, "
        f"ffmpeg {machine['ffmpeg']}; {repeats} run(s) per recipe"
    )

    todo = recipes(src, args.quick)
    measure(todo, repeats)
    ref = todo[0]
    if ref.error:
        raise SystemExit(f"gif_bench: the reference failed: {ref.error}")
    records = []
    for r in todo:
        ssim = None if r.error else common.ssim_by_index(r.output, src, SCALE)
        records.append(row_record(r, ref, ssim, machine))

    cli = next(r for r in todo if r.key == "reelforge")
    breakdown = overhead(cli, repeats) if not cli.error else None

    common.say()
    common.say(table(records))
    common.say(
        f"\ntargets: time <= {TARGETS['time']}x and size <= {TARGETS['size']}x the reference, "
        f"SSIM >= {TARGETS['ssim']}; marks: time, size, SSIM yuv, SSIM rgb (y = met)"
    )
    if breakdown:
        b, cap = breakdown, breakdown["captured_run"]
        common.say(
            f"\nreelforge gif: {b['cli_wall_s']:.2f} s (median); its {len(b['ffmpeg_calls'])} FFmpeg run(s) "
            f"replayed alone {b['ffmpeg_alone_wall_s']:.2f} s, so {b['not_ffmpeg_s']:.2f} s is not FFmpeg "
            f"(Python start-up and imports alone: {b['python_import_wall_s']:.2f} s).\n"
            f"One logged run: {cap['before_ffmpeg_s']:.2f} s before FFmpeg starts (start-up, imports, probe, "
            f"timeline), {cap['ffmpeg_s']:.2f} s in FFmpeg, {cap['after_ffmpeg_s']:.2f} s after it "
            f"(reading the GIF back to verify it)."
        )
        for call in b["ffmpeg_calls"]:
            common.say("  ffmpeg " + " ".join(call["argv"][1:]))
            if call["graph"]:
                common.say("  graph: " + call["graph"])
    elapsed = time.perf_counter() - started
    payload = {
        "benchmark": NAME,
        "machine": machine,
        "quick": args.quick,
        "repeats": repeats,
        "source": {
            "path": str(src.relative_to(common.REPO)),
            "size_bytes": src.stat().st_size,
            "duration_s": 10.0,
            "size": "1280x720",
            "fps": 30,
        },
        "target": {"width": WIDTH, "fps": FPS, "loop": 0},
        "ssim_reference_filters": SCALE,
        "targets": TARGETS,
        "results": records,
        "reelforge_overhead": breakdown,
        "elapsed_s": round(elapsed, 1),
    }
    return common.finish(NAME, payload, records, args.jsonl, elapsed)


if __name__ == "__main__":
    os.chdir(common.REPO)
    sys.exit(main())
