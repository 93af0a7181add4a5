"""GIF benchmark: ``reelforge gif`` against FFmpeg's classic two-step palette recipe, on two clips.

    python -m benchmarks.gif_bench [--quick] [--repeats N] [--jsonl]

Sources, both 10 s 1280x720 30 fps, rendered by reelforge itself to high-quality H.264 and
cached in benchmarks/.work:
- landscapes: four photo-like landscapes, slow zoom and pan, 600 ms crossfades. Their hues are
  close, so one palette for the clip serves them all.
- scenes: four photo-like stills of different hues, each with a small saturated detail (an
  orange suit on a starfield, a tabby's green eyes, red and magenta flowers in a meadow, a cyan
  balloon in a sunset), joined by cuts and a crossfade, with slow motion. One palette for the
  whole clip is fitted mostly to the large areas and loses the small details' hues.
Target: 480 px wide, 15 fps, looping forever.

Every recipe runs as a subprocess and is timed by wall clock (both steps together for the
two-step reference; the whole ``reelforge`` process, Python start-up included, for reelforge;
frame extraction and encoding together for gifski). Recipes run round-robin, ``--repeats``
times each (3; 1 with --quick), and the median is kept. Quality, against the source put
through ``fps=15,scale=480:-1:flags=lanczos`` with frames paired by index:
- SSIM (benchmarks.common.ssim_by_index), on yuv420p and on planar RGB;
- colour error (benchmarks.colour_error): each frame's mean CIE76 and CIEDE2000 delta E in
  CIELAB (sRGB, D65), then the mean over frames and the worst frame's mean.
Ratios are against the reference run of the same clip in the same invocation. For the scenes
clip a crop of its hardest frame is written to benchmarks/gif-hardest-frame.png. Nothing is
asserted: this prints a table per clip and writes benchmarks/.work/gif_bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import colour_error as ce
from benchmarks import common

NAME = "gif_bench"
FPS, WIDTH = 15, 480
SCALE = f"fps={FPS},scale={WIDTH}:-1:flags=lanczos"
TARGETS = {"time": 0.6, "size": 0.8, "ssim": 0.98, "de_worst_over_frame": 0.5}
OUT = common.WORK / "gif"
HARDEST_PNG = common.REPO / "benchmarks" / "gif-hardest-frame.png"
NPM_PREFIX = common.WORK / "npm"


# ---------------------------------------------------------------- the source clips


@dataclass(frozen=True, slots=True)
class Clip:
    key: str
    label: str
    path: Path

    @property
    def out(self) -> Path:
        return OUT / self.key


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


# how each still of the scenes clip moves and enters: a cut, a crossfade, a cut
SCENE_SHOTS: list[tuple[dict[str, Any], dict[str, Any] | None]] = [
    ({"type": "zoom-in", "amt": 0.12}, None),
    ({"type": "pan-right", "amt": 0.1}, None),
    ({"type": "zoom-out", "amt": 0.12}, {"type": "fade", "d": 800}),
    ({"type": "pan-left", "amt": 0.1}, None),
]


def scenes_clip() -> Path:
    """10 s, 1280x720, 30 fps: four stills of different hues with small saturated details (2.5 s each)."""
    stills = common.photo_scenes("gif-scenes", 1600, 900, seed=12)
    segments: list[dict[str, Any]] = []
    for still, (motion, enter) in zip(stills, SCENE_SHOTS, strict=True):
        seg: dict[str, Any] = {"src": str(still), "d": 2500, "mo": motion, "fit": "cover"}
        if enter:
            seg["tr"] = {"in": enter}
        segments.append(seg)
    draft = {
        "m": {"width": 1280, "height": 720, "fps": 30, "out": {"format": "mp4", "quality": "high"}},
        "t": [{"tt": 0, "sg": segments}],
    }
    return common.render_cached(draft, common.MEDIA / "gif-scenes-source.mp4")


# ---------------------------------------------------------------- recipes


@dataclass
class Recipe:
    key: str
    label: str
    commands: list[list[str]]  # run one after another, timed together
    output: Path
    group: str  # "reference", "reelforge", "gifski" or "ffmpeg one-pass"
    settings: dict[str, Any] = field(default_factory=dict)
    runs: list[common.Timing] = field(default_factory=list)
    sizes: set[int] = field(default_factory=set)
    error: str | None = None


def reference(src: Path, out_dir: Path) -> Recipe:
    ff, pal, out = common.ffmpeg_exe(), out_dir / "palette.png", out_dir / "reference.gif"
    return Recipe(
        "reference",
        "ffmpeg two-step, defaults",
        [
            [ff, "-nostdin", "-v", "error", "-y", "-i", str(src), "-vf", f"{SCALE},palettegen", str(pal)],
            [ff, "-nostdin", "-v", "error", "-y", "-i", str(src), "-i", str(pal),
             "-lavfi", f"{SCALE}[x];[x][1:v]paletteuse", "-loop", "0", str(out)],
        ],
        out,
        "reference",
        {"stats_mode": "full", "dither": "sierra2_4a", "max_colors": 256, "passes": 2},
    )


def gif_argv(src: Path, out: Path, extra: tuple[str, ...] = ()) -> list[str]:
    return [common.reelforge_exe(), "gif", str(src), "-o", str(out), "--fps", str(FPS), "--width", str(WIDTH),
            "-q", *extra]


def reelforge_cli(src: Path, out_dir: Path, key: str = "reelforge", extra: tuple[str, ...] = ()) -> Recipe:
    out = out_dir / f"{key}.gif"
    argv = gif_argv(src, out, extra)
    label = "reelforge gif" + (" (defaults)" if not extra else " " + " ".join(extra))
    return Recipe(key, label, [argv], out, "reelforge", {"cli": argv[1:]})


def reelforge_draft(src: Path, out_dir: Path, key: str, out_opts: dict[str, Any]) -> Recipe:
    """``reelforge render`` of the draft ``reelforge gif`` builds, with other palette settings."""
    draft = {
        "t": [{"tt": 0, "sg": [{"src": str(src), "fit": "contain"}]}],
        "m": {"fps": 60, "out": {"format": "gif", "loop": 0, "fps": FPS, "width": WIDTH, **out_opts}},
    }
    path = out_dir / f"{key}.json"
    path.write_text(json.dumps(draft, indent=1))
    out = out_dir / f"{key}.gif"
    label = "reelforge render, " + ", ".join(f"{k} {v}" for k, v in out_opts.items())
    return Recipe(key, label, [[common.reelforge_exe(), "render", str(path), "-o", str(out), "-q"]], out,
                  "reelforge", {"draft_out": out_opts})


def one_pass(src: Path, out_dir: Path, key: str, gen: str, use: str, *, yuv: bool = False) -> Recipe:
    """``fps,scale,split → palettegen → paletteuse`` in one FFmpeg process (Bœsch's recipe)."""
    out = out_dir / f"{key}.gif"
    pre = f"{SCALE},format=yuv420p" if yuv else SCALE
    graph = f"{pre},split[a][b];[a]palettegen={gen}[p];[b][p]paletteuse={use}"
    argv = [common.ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", str(src), "-lavfi", graph, "-loop", "0",
            str(out)]
    label = f"{gen} | {use}" + (" | scale in yuv420p" if yuv else "")
    return Recipe(key, label, [argv], out, "ffmpeg one-pass", {"palettegen": gen, "paletteuse": use, "yuv": yuv})


def gifski_exe() -> tuple[str | None, str]:
    """npm's ``gifski`` package's Linux x64 binary, installed under .work on first use; or why not.

    gifski (AGPL-3.0, with libimagequant, GPL-3.0) is only a yardstick here; reelforge never runs it.
    """
    exe = NPM_PREFIX / "node_modules" / "gifski" / "bin" / "debian" / "gifski"
    if not exe.exists():
        npm = shutil.which("npm")
        if npm is None:
            return None, "npm is not installed"
        NPM_PREFIX.mkdir(parents=True, exist_ok=True)
        try:
            common.run([npm, "install", "--prefix", str(NPM_PREFIX), "--no-audit", "--no-fund", "gifski"])
        except common.CommandFailed as exc:
            return None, f"npm install gifski failed: {exc}"
        if not exe.exists():
            return None, f"npm's gifski package has no Linux x64 binary at {exe.relative_to(common.REPO)}"
    try:
        version = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"gifski does not run here: {exc}"
    return str(exe), version.stdout.strip()


def gifski(src: Path, out_dir: Path) -> Recipe:
    """PNG frames at 480 px and 15 fps extracted by FFmpeg, then gifski at its defaults (quality 90)."""
    out = out_dir / "gifski.gif"
    exe, note = gifski_exe()
    frames = out_dir / "gifski-frames"
    extract = [common.ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", str(src), "-vf", SCALE,
               str(frames / "%04d.png")]
    script = (
        f"rm -rf {shlex.quote(str(frames))} && mkdir -p {shlex.quote(str(frames))} && {shlex.join(extract)} && "
        f"{shlex.quote(exe or 'gifski')} --quiet --fps {FPS} --width {WIDTH} -o {shlex.quote(str(out))} "
        f"{shlex.quote(str(frames))}/*.png"
    )
    recipe = Recipe("gifski", "gifski (PNG frames from FFmpeg)", [["sh", "-c", script]], out, "gifski",
                    {"gifski": note, "quality": 90, "frames": "png, " + SCALE})
    if exe is None:
        recipe.error = f"not run: {note}"
    return recipe


RECT = "diff_mode=rectangle"

# (key, palettegen options, paletteuse options, scale-then-yuv420p); full runs on the landscapes only
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


def recipes(clip: Clip, quick: bool) -> list[Recipe]:
    """The reference first; then reelforge's three palette modes and gifski; the rest in full runs."""
    src, out = clip.path, clip.out
    out.mkdir(parents=True, exist_ok=True)
    todo = [
        reference(src, out),
        reelforge_cli(src, out),
        reelforge_cli(src, out, "reelforge-clip", ("--palette", "clip")),
        reelforge_cli(src, out, "reelforge-frame", ("--palette", "frame")),
        gifski(src, out),
    ]
    if not quick and clip.key == "landscapes":
        todo.append(reelforge_draft(src, out, "reelforge-bayer5", {"bayer_scale": 5}))
        todo += [one_pass(src, out, key, gen, use, yuv=yuv) for key, gen, use, yuv in ONE_PASS]
    return todo


# ---------------------------------------------------------------- what reelforge runs


def replay(call: dict[str, Any], index: int) -> list[str]:
    """A logged call for the real binary, its output (a ``.partial`` name) moved to .work."""
    argv = common.inline_graph(call["replay"], call["graph"])
    if argv and argv[-1] != "-":
        argv[-1] = str(OUT / f"replay-{index}.out")  # "-f gif" names the muxer
    return [common.ffmpeg_exe(), "-y", *argv]


def _reads_a_pipe(call: dict[str, Any]) -> bool:
    argv = call["argv"]
    return any(a == "-i" and (b in ("-", "pipe:", "pipe:0") or b.startswith("pipe:"))
               for a, b in zip(argv, argv[1:], strict=False))


def overhead(cli: Recipe, repeats: int) -> dict[str, Any]:
    """Where reelforge's wall time goes.

    One run with every FFmpeg call logged gives the phases (before the first FFmpeg: Python
    start-up, imports, probe, timeline; FFmpeg; after: reading the GIF back to verify it).
    Then the captured FFmpeg command(s) are replayed alone, and ``import engine.cli`` is timed
    alone, ``repeats`` times each, to set against the median of the timed reelforge runs. Calls
    fed frames through a pipe by Python cannot be replayed alone; then only the phases are given.
    """
    captured = common.capture_ffmpeg(cli.commands[0], OUT / "capture")
    import_cmd = [sys.executable, "-c", "import engine.cli, engine"]
    import_runs = common.repeat(repeats, lambda: common.time_commands([import_cmd]))
    total, imp = common.median(cli.runs).wall_s, common.median(import_runs).wall_s
    piped = any(_reads_a_pipe(c) for c in captured.calls)
    ff: float | None = None
    if not piped:
        replays = [replay(c, i) for i, c in enumerate(captured.calls)]
        ff = common.median(common.repeat(repeats, lambda: common.time_commands(replays))).wall_s
    return {
        "ffmpeg_calls": [{"argv": [common.ffmpeg_exe(), *c["argv"]], "graph": c["graph"]} for c in captured.calls],
        "frames_through_python": piped,
        "cli_wall_s": round(total, 3),
        "ffmpeg_alone_wall_s": None if ff is None else round(ff, 3),
        "python_import_wall_s": round(imp, 3),
        "not_ffmpeg_s": None if ff is None else round(total - ff, 3),
        "captured_run": {
            "wall_s": round(captured.wall_s, 3),
            "before_ffmpeg_s": round(captured.before_s, 3),
            "ffmpeg_s": round(captured.ffmpeg_s, 3),
            "ffmpeg_span_s": round(captured.ffmpeg_span_s, 3),
            "after_ffmpeg_s": round(captured.after_s, 3),
        },
    }


def gif_result(clip: Clip) -> dict[str, Any] | None:
    """The render result's ``gif`` dict of ``reelforge gif --json`` at its defaults (scenes, palettes)."""
    out = clip.out / "reelforge-json.gif"
    try:
        proc = subprocess.run([*gif_argv(clip.path, out), "--json"], capture_output=True, text=True, check=True,
                              stdin=subprocess.DEVNULL)
        return json.loads(proc.stdout).get("gif")
    except (subprocess.CalledProcessError, json.JSONDecodeError) as exc:
        return {"error": str(exc)[-300:]}


def reelforge_engine() -> dict[str, Any]:
    """Which engine/ the ``reelforge`` console script imports, and its commit.

    It need not be this tree's: an editable install elsewhere wins unless PYTHONPATH names this one.
    """
    proc = subprocess.run([sys.executable, "-c", "import engine; print(engine.__file__)"], capture_output=True,
                          text=True, cwd="/", check=False)
    path = Path(proc.stdout.strip()).parent.parent if proc.returncode == 0 else None
    if path is None:
        return {"tree": None, "commit": None}
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=path,
                         check=False)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "engine"], capture_output=True, text=True, cwd=path,
                           check=False)
    return {"tree": str(path), "commit": git.stdout.strip() or None, "engine_changed": bool(dirty.stdout.strip())}


# ---------------------------------------------------------------- run and measure


def measure(recipe_list: list[Recipe], repeats: int) -> None:
    for _ in range(repeats):  # round-robin, so drift on a shared machine hits every recipe alike
        for r in recipe_list:
            if r.error:
                continue
            try:
                r.runs.append(common.time_commands(r.commands))
                r.sizes.add(common.size_of(r.output))
            except (common.CommandFailed, FileNotFoundError) as exc:
                r.error = str(exc)


@dataclass
class Quality:
    ssim: common.Ssim
    colour: ce.ColourError


def quality(r: Recipe, src: Path) -> Quality | None:
    if r.error or not r.runs:
        return None
    return Quality(common.ssim_by_index(r.output, src, SCALE), ce.colour_error(common.ffmpeg_exe(), r.output, src,
                                                                              SCALE))


def row_record(clip: Clip, r: Recipe, ref: Recipe, q: Quality | None, frame_worst: float | None,
               machine: dict[str, Any]) -> dict[str, Any]:
    base = {"clip": clip.key, "key": r.key, "label": r.label, "group": r.group, "settings": r.settings}
    if r.error or not r.runs or q is None:
        return {**base, "error": r.error}
    t, t_ref = common.median(r.runs), common.median(ref.runs)
    size, size_ref = max(r.sizes), max(ref.sizes)
    return {
        **base,
        **common.timing_summary(r.runs),
        "realtime_factor": round(10.0 / t.wall_s, 2),
        "size_bytes": size,
        "deterministic_size": len(r.sizes) == 1,
        "time_ratio": round(common.ratio(t.wall_s, t_ref.wall_s), 3),
        "size_ratio": round(common.ratio(size, size_ref), 3),
        "ssim": q.ssim.to_dict(),
        "colour_error": q.colour.to_dict(),
        "meets": {
            "time": t.wall_s / t_ref.wall_s <= TARGETS["time"],
            "size": size / size_ref <= TARGETS["size"],
            "ssim_yuv": q.ssim.yuv >= TARGETS["ssim"],
            "de_worst": None if frame_worst is None
            else q.colour.de76_worst <= frame_worst + TARGETS["de_worst_over_frame"],
        },
        "ffmpeg": machine["ffmpeg"],
        "device": machine["device"],
        "encoder": "gif",
        "preset": None,
    }


def _mark(value: bool | None) -> str:
    return "?" if value is None else "y" if value else "-"


def table(records: list[dict[str, Any]]) -> str:
    t = common.Table(["recipe", "time s", "time", "size MB", "size", "SSIM yuv", "SSIM rgb", "dE76 mean",
                      "dE76 worst (frame)", "dE00 mean", "dE00 worst", "frames gif/ref", "targets t/s/ssim/dE"])
    for rec in records:
        if rec.get("error"):
            t.add(rec["label"], "failed" if not rec["error"].startswith("not run") else "-", "", "", "", "", "", "",
                  "", "", "", "", rec["error"][:70])
            continue
        s, c, m = rec["ssim"], rec["colour_error"], rec["meets"]
        t.add(
            rec["label"],
            f"{rec['wall_s']:.2f}",
            common.fmt_ratio(rec["time_ratio"]),
            f"{rec['size_bytes'] / 1e6:.2f}",
            common.fmt_ratio(rec["size_ratio"]),
            f"{s['yuv']:.4f}",
            f"{s['rgb']:.4f}",
            f"{c['de76_mean']:.2f}",
            f"{c['de76_worst']:.2f} ({c['de76_worst_frame']})",
            "" if c["de2000_mean"] is None else f"{c['de2000_mean']:.2f}",
            "" if c["de2000_worst"] is None else f"{c['de2000_worst']:.2f} ({c['de2000_worst_frame']})",
            f"{s['frames_test']}/{s['frames_ref']}",
            "".join(_mark(m[k]) for k in ("time", "size", "ssim_yuv", "de_worst")),
        )
    return t.render()


# ---------------------------------------------------------------- the hardest frame, side by side


def _window(score: np.ndarray, height: int, width: int) -> tuple[int, int]:
    """Top-left corner of the ``height`` x ``width`` window with the largest sum of ``score``."""
    integral = np.pad(score, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    sums = (integral[height:, width:] - integral[:-height, width:]
            - integral[height:, :-width] + integral[:-height, :-width])
    y, x = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(y), int(x)


def hardest_frame(clip: Clip, by_key: dict[str, Recipe], colour: dict[str, ce.ColourError]) -> dict[str, Any] | None:
    """A side-by-side crop of the frame where one palette for the clip loses most.

    The frame: the largest gap between ``--palette clip`` (one palette, the behaviour before
    issue 12) and ``--palette frame`` (a palette per frame, the best case for colour), in mean
    CIE76 delta E per frame. The region: the window where that gap, pixel by pixel, is largest,
    which lands on the small saturated detail a single palette has no colours for. Panels: the
    source scaled as the GIFs are, the two-step reference, ``--palette clip`` and reelforge's
    default, each enlarged 3x with nearest neighbour.
    """
    from PIL import Image, ImageDraw

    needed = ("reference", "reelforge", "reelforge-clip")
    if any(k not in colour for k in needed):
        return None
    ff = common.ffmpeg_exe()
    one = np.array(colour["reelforge-clip"].per_frame_de76)
    if "reelforge-frame" in colour:
        best = np.array(colour["reelforge-frame"].per_frame_de76)
        n = min(len(one), len(best))
        gap = one[:n] - best[:n]
        index, chosen_by = int(np.argmax(gap)), "largest gap in mean dE76: --palette clip minus --palette frame"
    else:
        index, chosen_by = int(np.argmax(one)), "worst mean dE76 of --palette clip (--palette frame failed)"
    size = ce.probe_size(ff, clip.path, SCALE)
    source = ce.frame_at(ff, clip.path, index, size, SCALE)
    lab_src = ce.srgb_to_lab(source)
    panels = {"source (scaled)": source}
    keys = [("two-step reference", "reference"), ("reelforge --palette clip", "reelforge-clip"),
            ("reelforge (default)", "reelforge")]
    for label, key in keys:
        panels[label] = ce.frame_at(ff, by_key[key].output, index, size)
    per_pixel = ce.delta_e76(ce.srgb_to_lab(panels["reelforge --palette clip"]), lab_src)
    if "reelforge-frame" in colour:
        per_pixel = per_pixel - ce.delta_e76(ce.srgb_to_lab(ce.frame_at(ff, by_key["reelforge-frame"].output, index,
                                                                         size)), lab_src)
    crop_h, crop_w, zoom, label_h, gap_px = 64, 104, 3, 16, 6
    y, x = _window(per_pixel, crop_h, crop_w)
    width = len(panels) * crop_w * zoom + (len(panels) - 1) * gap_px
    sheet = Image.new("RGB", (width, crop_h * zoom + label_h), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    region_de: dict[str, float] = {}
    for i, (label, frame) in enumerate(panels.items()):
        crop = frame[y : y + crop_h, x : x + crop_w]
        if label != "source (scaled)":
            region_de[label] = round(float(ce.delta_e76(ce.srgb_to_lab(crop), lab_src[y : y + crop_h, x : x + crop_w])
                                           .mean()), 2)
        left = i * (crop_w * zoom + gap_px)
        big = Image.fromarray(np.ascontiguousarray(crop)).resize((crop_w * zoom, crop_h * zoom),
                                                                 Image.Resampling.NEAREST)
        sheet.paste(big, (left, label_h))
        text = label if label not in region_de else f"{label}: dE76 {region_de[label]:.1f}"
        draw.text((left + 3, 2), text, fill=(0, 0, 0))
    HARDEST_PNG.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(HARDEST_PNG, optimize=True)
    return {
        "frame": index,
        "time_s": round(index / FPS, 3),
        "chosen_by": chosen_by,
        "region": {"x": x, "y": y, "width": crop_w, "height": crop_h, "frame_size": list(size), "zoom": zoom},
        "region_de76": region_de,
        "frame_de76": {k: colour[k].per_frame_de76[index] for k in colour if index < len(colour[k].per_frame_de76)},
        "default_worst_frame": colour["reelforge"].de76_worst_frame,
        "png": str(HARDEST_PNG.relative_to(common.REPO)),
        "png_bytes": HARDEST_PNG.stat().st_size,
    }


# ---------------------------------------------------------------- main


def run_clip(clip: Clip, quick: bool, repeats: int, machine: dict[str, Any]) -> dict[str, Any]:
    if clip.out.exists():
        shutil.rmtree(clip.out)
    todo = recipes(clip, quick)
    common.say(f"{clip.key}: {clip.path.relative_to(common.REPO)} ({clip.path.stat().st_size / 1e6:.2f} MB), "
               f"{len(todo)} recipes")
    measure(todo, repeats)
    ref = todo[0]
    if ref.error:
        raise SystemExit(f"gif_bench: the reference failed on {clip.key}: {ref.error}")
    by_key = {r.key: r for r in todo}
    qualities: dict[str, Quality] = {}
    for r in todo:
        try:
            q = quality(r, clip.path)
        except (common.CommandFailed, RuntimeError) as exc:
            r.error, q = f"quality not measured: {exc}", None
        if q is not None:
            qualities[r.key] = q
    frame_worst = qualities["reelforge-frame"].colour.de76_worst if "reelforge-frame" in qualities else None
    records = [row_record(clip, r, ref, qualities.get(r.key), frame_worst, machine) for r in todo]
    colour = {k: q.colour for k, q in qualities.items()}
    return {
        "clip": clip,
        "recipes": by_key,
        "records": records,
        "gif": gif_result(clip),
        "hardest": hardest_frame(clip, by_key, colour) if clip.key == "scenes" else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gif_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="1 repeat; the reference, reelforge's palette modes and gifski only")
    parser.add_argument("--repeats", type=int, help="timed runs per recipe (default 3; 1 with --quick)")
    parser.add_argument("--jsonl", action="store_true", help="also print one JSON line per recipe")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else common.REPEATS)
    started = time.perf_counter()

    machine = common.machine()
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    clips = [
        Clip("landscapes", "four landscapes, crossfades", source_clip()),
        Clip("scenes", "four scenes of different hues with small saturated details, cuts and a crossfade",
             scenes_clip()),
    ]
    engine = reelforge_engine()
    common.say(f"{machine['nproc']} cores, {machine['cpu']}, ffmpeg {machine['ffmpeg']}; {repeats} run(s) per recipe; "
               f"reelforge runs the engine in {engine['tree']} at {engine['commit']}"
               + (" (engine/ edited)" if engine.get("engine_changed") else ""))
    results = [run_clip(clip, args.quick, repeats, machine) for clip in clips]

    breakdown = None
    cli = results[0]["recipes"]["reelforge"]
    if not cli.error:
        try:
            breakdown = overhead(cli, repeats)
        except common.CommandFailed as exc:
            breakdown = {"error": str(exc)}

    for res in results:
        clip = res["clip"]
        common.say(f"\n{clip.key}: {clip.label}")
        common.say(table(res["records"]))
        gif = res["gif"] or {}
        if "scenes" in gif or "palettes" in gif:
            scenes = gif.get("scenes") or []
            common.say(f"reelforge gif (defaults) reports {len(scenes)} scene(s), {gif.get('palettes')} palette(s): "
                       + ", ".join(f"{s.get('start')}-{s.get('end')} {s.get('kind')}/{s.get('from')}" for s in scenes))
    common.say(
        f"\ntargets, against the two-step reference of the same clip: time <= {TARGETS['time']}x, size <= "
        f"{TARGETS['size']}x, SSIM yuv >= {TARGETS['ssim']}, worst-frame dE76 <= --palette frame's + "
        f"{TARGETS['de_worst_over_frame']}; marks: time, size, SSIM yuv, dE (y = met, ? = no --palette frame row)"
    )
    hardest = results[1]["hardest"]
    if hardest:
        common.say(
            f"hardest frame of the scenes clip: {hardest['frame']} ({hardest['time_s']:.2f} s; "
            f"{hardest['chosen_by']}); "
            f"crop at x={hardest['region']['x']} y={hardest['region']['y']}, region dE76 "
            + ", ".join(f"{k} {v:.1f}" for k, v in hardest["region_de76"].items())
            + f"; wrote {hardest['png']} ({hardest['png_bytes'] / 1e3:.0f} kB)"
        )
    if breakdown and "error" not in breakdown:
        b, cap = breakdown, breakdown["captured_run"]
        if b["ffmpeg_alone_wall_s"] is not None:
            common.say(
                f"\nreelforge gif (landscapes): {b['cli_wall_s']:.2f} s (median); its {len(b['ffmpeg_calls'])} FFmpeg "
                f"run(s) replayed alone {b['ffmpeg_alone_wall_s']:.2f} s, so {b['not_ffmpeg_s']:.2f} s is not FFmpeg "
                f"(Python start-up and imports alone: {b['python_import_wall_s']:.2f} s)."
            )
        else:
            common.say(
                f"\nreelforge gif (landscapes): {b['cli_wall_s']:.2f} s (median); frames pass through Python, so its "
                f"FFmpeg calls are not replayed alone (Python start-up and imports: {b['python_import_wall_s']:.2f} s)."
            )
        common.say(
            f"One logged run: {cap['before_ffmpeg_s']:.2f} s before FFmpeg starts (start-up, imports, probe, "
            f"timeline), {cap['ffmpeg_span_s']:.2f} s from the first FFmpeg's start to the last one's end "
            f"({cap['ffmpeg_s']:.2f} s summed over {len(b['ffmpeg_calls'])} calls, which may overlap), "
            f"{cap['after_ffmpeg_s']:.2f} s after it (reading the GIF back to verify it)."
        )
        for call in b["ffmpeg_calls"]:
            common.say("  ffmpeg " + " ".join(call["argv"][1:]))
            if call["graph"]:
                common.say("  graph: " + call["graph"])
    elapsed = time.perf_counter() - started
    records = [rec for res in results for rec in res["records"]]
    payload = {
        "benchmark": NAME,
        "machine": machine,
        "reelforge_engine": engine,
        "quick": args.quick,
        "repeats": repeats,
        "sources": {
            res["clip"].key: {
                "label": res["clip"].label,
                "path": str(res["clip"].path.relative_to(common.REPO)),
                "size_bytes": res["clip"].path.stat().st_size,
                "duration_s": 10.0,
                "size": "1280x720",
                "fps": 30,
                "reelforge_gif": res["gif"],
            }
            for res in results
        },
        "target": {"width": WIDTH, "fps": FPS, "loop": 0},
        "quality_reference_filters": SCALE,
        "colour_error": "sRGB to CIELAB (D65); per frame the mean CIE76 and CIEDE2000 delta E, frames by index",
        "targets": TARGETS,
        "results": records,
        "hardest_frame": hardest,
        "reelforge_overhead": breakdown,
        "elapsed_s": round(elapsed, 1),
    }
    return common.finish(NAME, payload, records, args.jsonl, elapsed)


if __name__ == "__main__":
    os.chdir(common.REPO)
    sys.exit(main())
