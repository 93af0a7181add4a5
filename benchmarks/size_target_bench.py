"""Size targets on camera-like footage: does ``m.out.max_mb`` hold under an export's ``quality: high``,
how close to the target does the file come, what picture does it keep, and what does it cost?

The source is the timeline benchmark's camera clip (1080p30 H.264 at about 10 Mbps, noise, a pan and a
hand-held shake: what makes footage expensive to compress). Each format is rendered first as a
client exports it with no target (``quality: high``), then under each target with the same quality, in
the same process. For every render it reports the size against the target, the time as a ratio of the
plain render's, and the size, rate and bitrates chosen; a middle frame of each is saved as PNG under
``benchmarks/.work/size_target/`` to look at. Nothing here asserts a timing.

    python -m benchmarks.size_target_bench [--seconds 12]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from benchmarks import common
from benchmarks.timeline_footage import camera_clip
from engine.config import EngineConfig
from engine.encode.encoders import CodecChoice
from engine.media.resolve import MappedResolver
from engine.pipeline.render import render

OUT = common.WORK / "size_target"
CPU = CodecChoice("libx264", "cpu", None, "benchmark: CPU", "benchmark: CPU")
CASES: tuple[tuple[str, dict[str, Any], tuple[float, ...]], ...] = (
    ("mp4", {}, (2.0, 4.0, 8.0)),                               # 1080p canvas, the camera's own
    ("webm", {"width": 854, "height": 480}, (0.75, 1.5)),      # VP9 is slow: a 480p canvas keeps it short
)


def draft(fmt: str, canvas: dict[str, Any], seconds: float, max_mb: float | None) -> dict[str, Any]:
    out: dict[str, Any] = {"format": fmt, "quality": "high"}
    if max_mb is not None:
        out["max_mb"] = max_mb
    return {"m": {**canvas, "out": out}, "t": [{"tt": 0, "sg": [{"src": "camera.mp4", "d": int(seconds * 1000)}]}]}


def frame_png(video: Path, at_s: float, png: Path) -> None:
    common.run([common.ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-ss", f"{at_s:g}", "-i", str(video),
                "-frames:v", "1", str(png)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=12.0)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    camera = camera_clip()
    config = EngineConfig(ffmpeg=common.ffmpeg_exe(), work_dir=OUT)
    resolve = MappedResolver({"camera.mp4": str(camera)})
    rows = []
    for fmt, canvas, targets in CASES:
        plain_s = None
        for target in (None, *targets):
            name = f"{fmt}-{'plain' if target is None else f'{target:g}MB'}"
            path = OUT / f"{name}.{fmt}"
            started = time.perf_counter()
            result = render(draft(fmt, canvas, args.seconds, target), path, config=config, codecs=CPU,
                            resolve=resolve)
            elapsed = time.perf_counter() - started
            plain_s = plain_s or elapsed
            frame_png(path, args.seconds / 2, OUT / f"{name}.png")
            encoding = result.encoding or {}
            row = {"render": name, "size_mb": round(result.size_bytes / 1e6, 3), "target_mb": target,
                   "of_target": None if target is None else round(result.size_bytes / (target * 1e6), 3),
                   "picture": f"{result.width}x{result.height}@{result.fps:g}", "seconds": round(elapsed, 2),
                   "time_vs_plain": round(elapsed / plain_s, 2), "tries": len(encoding.get("attempts") or [])
                   or None, "chosen": encoding.get("chosen")}
            rows.append(row)
            print(json.dumps(row))
    report = {"machine": common.machine(), "seconds": args.seconds, "source": str(camera), "rows": rows}
    (OUT / "results.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
