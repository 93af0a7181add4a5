"""The ``reelforge`` command line.

    reelforge render DRAFT.json -o OUT.mp4       render a draft (format from the extension or --format)
    reelforge gif INPUT -o OUT.gif               a looping GIF from one clip (--fps --width --max-size)
    reelforge probe FILE                         what a media file is, as JSON
    reelforge summary DRAFT.json                 the one-line timeline summary
    reelforge schema                             the draft's JSON Schema
    reelforge encoders [--json]                  the driver, each FFmpeg, the one chosen, the encoder and decoder
    reelforge serve                              the API server (added by the api package)

Exit codes: 0 done, 2 bad input (draft, media, arguments, a REELFORGE_* setting that does not
exist), 3 the render failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TextIO

from engine import logs
from engine.errors import DraftError, EngineError, MediaError
from engine.model.draft import dump_draft, json_schema, parse_draft
from engine.model.summary import summarize
from engine.settings import get_settings, unknown_settings_here

FORMATS = ("mp4", "gif", "webm", "webp")


class ProgressBar:
    """A one-line bar on a terminal; quiet when stderr is not one (logs stay readable)."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream, self.label, self.started = stream, label, time.monotonic()
        self.live = stream.isatty()
        self.last = -1

    def __call__(self, fraction: float) -> None:
        percent = int(fraction * 100)
        if not self.live or percent == self.last:
            return
        self.last = percent
        filled = percent * 30 // 100
        elapsed = time.monotonic() - self.started
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] {percent:3d}%  {elapsed:5.1f}s")
        self.stream.flush()

    def done(self) -> None:
        if self.live:
            self.stream.write("\n")


def _load_json(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SystemExit(f"reelforge: {path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise SystemExit(f"reelforge: {path}: not valid JSON ({exc})") from None


def _format_for(output: str, explicit: str | None) -> str:
    if explicit:
        return explicit
    suffix = Path(output).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise SystemExit(f"reelforge: cannot tell the format from {output!r}; use --format ({', '.join(FORMATS)})")
    return suffix


def _render(draft: dict[str, Any], output: str, base: Path, args: argparse.Namespace) -> int:
    from engine.media.resolve import LocalResolver
    from engine.pipeline.render import render

    config = get_settings().engine_config()
    forced = {k: v for k, v in (("encoder", args.encoder), ("decoder", args.decoder)) if v}
    config = replace(config, **forced) if forced else config
    quiet, as_json = args.quiet, args.json
    bar = ProgressBar(sys.stderr, Path(output).name) if not quiet else None
    result = render(draft, output, config=config, resolve=LocalResolver(base), on_progress=bar)
    if bar:
        bar.done()
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(f"{result.path}: {result.format}, {result.width}x{result.height}, {result.duration_s:.2f} s, "
              f"{result.size_bytes / 1e6:.2f} MB, {'with' if result.has_audio else 'no'} audio, "
              f"encoder {result.encoder} ({result.encoder_reason}), {result.elapsed_s:.1f} s")
        if result.gif and result.gif.get("scenes"):
            found = sum(s["from"] == "pictures" for s in result.gif["scenes"])
            seam = result.gif.get("loop_seam")
            print(f"{result.gif['palettes']} palette(s) for {len(result.gif['scenes'])} scene(s), "
                  f"{found} found in the pictures"
                  + (f"; loop seam {seam['mode']}: {seam['seam_before']:g} -> {seam['seam_after']:g} "
                     f"(a usual step is {seam['typical_step']:g})" if seam else ""))
        if result.gif and result.gif.get("target_bytes"):
            print(f"size target {result.gif['target_bytes'] / 1e6:g} MB: chose {result.gif['chosen']} "
                  f"after {len(result.gif['attempts'])} tries")
        for warning in result.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    data = _load_json(args.draft)
    draft = dump_draft(parse_draft(data))
    out = draft.setdefault("m", {}).setdefault("out", {})
    out["format"] = _format_for(args.output, args.format)
    if args.quality:
        out["quality"] = args.quality
    return _render(draft, args.output, Path(args.draft).resolve().parent, args)


def cmd_gif(args: argparse.Namespace) -> int:
    source = Path(args.input).resolve()
    segment: dict[str, Any] = {"src": str(source), "ss": int(args.start * 1000), "fit": "contain"}
    if args.duration:
        segment["d"] = int(args.duration * 1000)
    out: dict[str, Any] = {"format": _format_for(args.output, args.format or "gif"), "loop": args.loop}
    for key, value in (("fps", args.fps), ("width", args.width), ("max_mb", args.max_size), ("colors", args.colors),
                       ("dither", args.dither), ("stats", args.stats), ("palette", args.palette),
                       ("loop_seam", args.loop_seam), ("loop_seam_ms", args.loop_seam_ms),
                       ("stabilize", args.stabilize)):
        if value is not None:
            out[key] = value
    draft = {"t": [{"tt": 0, "sg": [segment]}], "m": {"out": out, "fps": 60}}
    return _render(draft, args.output, source.parent, args)


def cmd_probe(args: argparse.Namespace) -> int:
    from engine.media.probe import probe

    print(json.dumps(probe(args.file).to_dict(), indent=2))
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from engine.media.probe import probe
    from engine.media.resolve import LocalResolver

    draft = parse_draft(_load_json(args.draft))
    resolve = LocalResolver(Path(args.draft).resolve().parent)
    lengths: dict[str, int | None] = {}
    for src in {seg.src for track in draft.t for seg in track.sg if hasattr(seg, "src")}:
        try:   # segments without d last as long as their source: read it where the file is here
            lengths[src] = probe(resolve(src)).duration_ms
        except MediaError:
            continue
    print(summarize(draft, lengths))
    return 0


def cmd_schema(_args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2))
    return 0


def cmd_encoders(args: argparse.Namespace) -> int:
    """The driver, every FFmpeg candidate and what it can do, the FFmpeg chosen, then the codecs it proves."""
    from engine.encode.encoders import detect_capabilities
    from engine.encode.ffmpeg_select import nvenc_verdict, with_chosen_ffmpeg
    from engine.errors import EncoderUnavailable

    settings = get_settings()
    try:
        config, ffmpeg = with_chosen_ffmpeg(settings.engine_config(), settings.ffmpeg_path)
    except EncoderUnavailable as exc:
        print(f"reelforge: {exc}", file=sys.stderr)
        return 2
    capabilities = detect_capabilities(config)
    if args.json:   # "discovery" and "choice" stay where they were, for whatever reads them
        print(json.dumps({"host": ffmpeg.host.to_dict(), "ffmpeg": ffmpeg.to_dict(), **capabilities.to_dict()},
                         indent=2))
        return 0
    host, discovery, choice = ffmpeg.host, capabilities.discovery, capabilities.choice
    print(f"NVIDIA driver: {host.driver}, CUDA {host.cuda or 'unknown'}" if host.driver
          else f"NVIDIA driver: none ({host.note})")
    print(f"GPUs: {discovery.note}" if discovery.gpus else f"GPUs: none ({discovery.note})")
    for gpu in discovery.gpus:
        print(f"  GPU {gpu.index}: {gpu.name}, {gpu.memory_total_mb} MiB, NVENC {'yes' if gpu.nvenc else 'no'} "
              f"({gpu.nvenc_note}), {gpu.nvenc_sessions} encode sessions, {gpu.uuid}")
    print("FFmpeg candidates:")
    for info in ffmpeg.candidates:
        print(f"  {info.path}  [{', '.join(info.sources)}]")
        if not info.runs:
            print(f"    does not run: {info.version}")
            continue
        minimum = (f"needs driver {info.min_driver} (NVENC API {info.nvenc_api})" if info.min_driver
                   else info.scan_note if info.nvenc else "")
        print(f"    {info.version}")
        print(f"    h264_nvenc {'yes' if info.nvenc else 'no'}{', ' + minimum if minimum else ''}; "
              f"cuda hwaccel {'yes' if info.cuda_hwaccel else 'no'}; scale_cuda {'yes' if info.scale_cuda else 'no'}")
        print(f"    NVENC on this driver: {nvenc_verdict(info, host.driver)}")
    print(f"FFmpeg chosen: {ffmpeg.path}")
    print(f"  why: {ffmpeg.choice.reason}")
    print(f"Encoder: {choice.encoder} ({choice.encoder_reason})")
    print(f"Decoder: {choice.decoder} ({choice.decoder_reason})")
    if choice.gpu_index is not None:
        print(f"GPU used: {choice.gpu_index}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reelforge", description="Self-hosted render engine for short-form video.")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, handler: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    def codecs(p: argparse.ArgumentParser) -> None:
        p.add_argument("--encoder", choices=("auto", "libx264", "h264_nvenc"),
                       help="H.264 encoder (default REELFORGE_ENCODER or auto); forcing one that cannot run fails")
        p.add_argument("--decoder", choices=("auto", "cpu", "cuda"), help="video decoder (default REELFORGE_DECODER)")

    p = add("render", cmd_render, "render a draft JSON file")
    p.add_argument("draft")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--format", choices=FORMATS)
    p.add_argument("--quality", choices=("high", "medium", "low"))
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the render result as JSON")
    codecs(p)

    p = add("gif", cmd_gif, "make a looping GIF (or WebP/WebM/MP4) from one video")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--fps", type=float, help="frames per second (default 15)")
    p.add_argument("--width", type=int, help="width in pixels (default 480)")
    p.add_argument("--max-size", type=float, metavar="MB", help="stay under this size; fps, width and colours adapt")
    p.add_argument("--colors", type=int)
    p.add_argument("--dither", choices=("bayer", "sierra2_4a", "sierra2", "floyd_steinberg", "heckbert", "none"))
    p.add_argument("--stats", choices=("full", "diff", "scene"),
                   help="palette statistics: every pixel, or what moves (default); scene: older --palette frame")
    p.add_argument("--palette", choices=("scenes", "clip", "frame"),
                   help="a palette for each scene (default), one for the whole clip, or one for every frame")
    p.add_argument("--loop-seam", choices=("none", "auto", "crossfade"),
                   help="auto: end where the clip best matches its start; crossfade: blend the end into the start")
    p.add_argument("--loop-seam-ms", type=int, metavar="MS", help="crossfade length (default 400)")
    p.add_argument("--stabilize", type=int, metavar="LEVELS",
                   help="hold pixels that changed at most this much (of 255) since the last frame (default 2; 0 off)")
    p.add_argument("--loop", type=int, default=0, help="0 forever (default), -1 once, N repeats")
    p.add_argument("--start", type=float, default=0.0, help="seconds into the input")
    p.add_argument("--duration", type=float, help="seconds to take (default: to the end)")
    p.add_argument("--format", choices=FORMATS)
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--json", action="store_true")
    codecs(p)

    p = add("probe", cmd_probe, "describe a media file")
    p.add_argument("file")
    p = add("summary", cmd_summary, "print a draft's timeline summary")
    p.add_argument("draft")
    add("schema", cmd_schema, "print the draft JSON Schema")
    p = add("encoders", cmd_encoders, "show the driver, the GPUs, each FFmpeg found and what it can do, the FFmpeg "
            "chosen, and the encoder/decoder a render would use")
    p.add_argument("--json", action="store_true", help="print it all as one JSON object")
    for plugin in _plugins():   # serve (api), worker (workers), ...
        plugin.load()(sub)
    return parser


def _plugins() -> list[Any]:
    return list(entry_points(group="reelforge.commands"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    # Every command, the server and the worker included, starts here: a REELFORGE_* variable that
    # no settings class (the engine's, or a command package's) knows stops it before anything runs.
    unknown = unknown_settings_here({plugin.module.split(".")[0] for plugin in _plugins()})
    if unknown:
        for line in unknown:
            print(f"reelforge: {line}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    logs.configure()       # readable lines for every command; serve and worker set their own up from settings
    try:
        return int(args.handler(args))
    except DraftError as exc:
        print(f"reelforge: {exc}", file=sys.stderr)
        for issue in exc.issues[1:]:
            print(f"  {issue}", file=sys.stderr)
        return 2
    except MediaError as exc:
        print(f"reelforge: {exc}", file=sys.stderr)
        return 2
    except EngineError as exc:
        print(f"reelforge: render failed: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("reelforge: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
