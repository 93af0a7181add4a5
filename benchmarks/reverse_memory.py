"""Peak memory of reversed clips: N upper tracks, each one reversed clip as long as the timeline.

Each render runs in a fresh Python process, which then prints the peak resident set of the
largest FFmpeg child it started (``getrusage(RUSAGE_CHILDREN).ru_maxrss``), the wall time and
the bytes the render's scratch folder held at most. ``--in-graph-mb`` sets
``EngineConfig.reverse_in_graph_mb``: a large value keeps every reversed window in the filter
graph (FFmpeg's ``reverse``/``areverse`` hold the whole window), 0 sends every window through the
bounded pre-pass, whose blocks hold ``--block-mb`` (``reverse_block_mb``) of frames each.

    python -m benchmarks.reverse_memory --seconds 30 --layers 3 --in-graph-mb 100000 0
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.common import MEDIA, ffmpeg_exe

CHILD = r"""
import json, resource, sys, threading, time
from pathlib import Path
from engine.config import EngineConfig
from engine.encode.encoders import CodecChoice
from engine.media.resolve import LocalResolver
from engine.pipeline.render import render

args = json.loads(sys.argv[1])
work = Path(args["work"])
work.mkdir(parents=True, exist_ok=True)
peak = [0]
stop = threading.Event()

def watch():
    while not stop.wait(0.05):
        size = sum(p.stat().st_size for p in work.rglob("*") if p.is_file())
        peak[0] = max(peak[0], size)

threading.Thread(target=watch, daemon=True).start()
config = EngineConfig.default()
extra = {k: v for k, v in args["config"].items() if hasattr(config, k)}
from dataclasses import replace
config = replace(config, work_dir=work, **extra)
codecs = CodecChoice("libx264", "cpu", None, "bench", "bench")
started = time.monotonic()
result = render(args["draft"], args["out"], config=config, resolve=LocalResolver(args["media"]), codecs=codecs)
wall = time.monotonic() - started
stop.set()
print(json.dumps({"wall_s": round(wall, 2), "passes": result.passes, "frames": result.frames,
                  "ffmpeg_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
                  "scratch_peak_mb": round(peak[0] / 2**20, 1)}))
"""


def source(seconds: int, width: int, height: int) -> Path:
    """A test clip with sound, ``seconds`` + 1 s long, made once."""
    path = MEDIA / f"reverse-{width}x{height}-{seconds}s.mp4"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
                        "-f", "lavfi", "-i", f"testsrc2=s={width}x{height}:r=30:d={seconds + 1}",
                        "-f", "lavfi", "-i", f"sine=f=440:r=48000:d={seconds + 1}",
                        "-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-pix_fmt", "yuv420p",
                        "-c:a", "aac", "-shortest", str(path)], check=True)
    return path


def draft(name: str, seconds: int, layers: int, width: int, height: int) -> dict[str, Any]:
    clip = {"src": name, "d": seconds * 1000}
    tracks = [{"tt": 0, "sg": [clip]}] + [{"tt": 0, "sg": [{**clip, "rev": True}]} for _ in range(layers)]
    return {"m": {"width": width, "height": height, "fps": 30}, "t": tracks}


def measure(seconds: int, layers: int, width: int, height: int, in_graph_mb: float,
            block_mb: float) -> dict[str, Any]:
    clip = source(seconds, width, height)
    work = MEDIA.parent / "reverse-scratch"
    args = {"draft": draft(clip.name, seconds, layers, width, height), "media": str(clip.parent),
            "out": str(MEDIA.parent / "reverse-out.mp4"), "work": str(work),
            "config": {"reverse_in_graph_mb": in_graph_mb, "reverse_block_mb": block_mb}}
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(args)], capture_output=True, text=True, check=True)
    return {"seconds": seconds, "layers": layers, "size": f"{width}x{height}", "in_graph_mb": in_graph_mb,
            "block_mb": block_mb,
            **json.loads(done.stdout.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--width", type=int, default=360)
    parser.add_argument("--height", type=int, default=640)
    parser.add_argument("--in-graph-mb", type=float, nargs="+", default=[100_000.0, 0.0])
    parser.add_argument("--block-mb", type=float, default=256.0)
    opts = parser.parse_args()
    for mb in opts.in_graph_mb:
        print(json.dumps(measure(opts.seconds, opts.layers, opts.width, opts.height, mb, opts.block_mb)), flush=True)


if __name__ == "__main__":
    main()
