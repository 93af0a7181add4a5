"""``m.enhance``'s first pass: measure every picture and the whole mix before the render proper.

- **Picture**: each clip and still is measured over the source range it shows, after its crop: a clip
  by a few frames spread over that range (one small FFmpeg run that seeks to each and lays them side
  by side, :func:`engine.graph.compile.compile_picture_samples`), a still by its decoded picture. Each
  gets the grade its own statistics call for (:func:`engine.media.stats.grade_for`), applied by the
  graph to that segment alone.
- **Loudness**: the whole mix, exactly as the render will make it, is measured by ebur128 (one FFmpeg
  run that writes no file but the measurement); the render's graph then applies loudnorm's second
  pass with those values (:mod:`engine.graph.audio`).

The results go into the graph through :class:`~engine.graph.build.Sources` and into the render's
result (:attr:`Enhanced.report`), so that whoever asked can be told what was done. A chunked render
(engine/chunks) renders an enhanced timeline whole (see engine/chunks/plan.py), so it is measured once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from engine.config import EngineConfig
from engine.errors import FFmpegFailed
from engine.graph import compile as compiler
from engine.graph.build import Sources
from engine.media.stats import Grade, Loudness, PictureStats, grade_for, image_stats, read_r128, yuv444_stats
from engine.media.stills import crop_and_blur, load_upright, stop_if_cancelled
from engine.model.canvas import even
from engine.model.timeline import Timeline, Visual
from engine.run import run_ffmpeg

SAMPLES: Final = 5             # frames measured per clip (fewer for very short ones)
SAMPLE_WIDTH: Final = 160      # the width they are measured at
STILL_SIDE: Final = 320        # the longest side a still is measured at
END_MARGIN_S: Final = 0.1      # samples stay this far before the end of the source


@dataclass(frozen=True, slots=True)
class Enhanced:
    """What the first pass found: ``sources`` with the grades and the loudness for the graph, the report
    for the render's result, the FFmpeg runs it took, and what could not be measured."""

    sources: Sources
    report: dict[str, Any] | None
    passes: int
    warnings: tuple[str, ...]


def measure_enhance(tl: Timeline, sources: Sources, work: Path, config: EngineConfig,
                    cancel: threading.Event | None = None) -> Enhanced:
    """Measure what ``tl.enhance`` asks for (nothing without it); see the module's docstring."""
    if tl.enhance is None:
        return Enhanced(sources, None, 0, ())
    runs = 0
    warnings: list[str] = []

    def run(command: Any) -> None:
        nonlocal runs
        runs += 1
        run_ffmpeg(command, ffmpeg=config.ffmpeg, work_dir=work, timeout_s=config.timeout_s, cancel=cancel)

    grades: dict[str, Grade] = {}
    segments: list[dict[str, Any]] = []
    if tl.enhance.picture:
        for n, v in enumerate(tl.visuals()):
            stop_if_cancelled(cancel)
            try:
                stats = _still_stats(v) if v.is_still else _clip_stats(tl, v, work / f"samples-{n}.yuv", run)
            except (ValueError, OSError, FFmpegFailed) as exc:
                warnings.append(f"{v.where}: m.enhance could not measure its picture ({exc}); left as it is")
                continue
            grades[v.where] = grade = grade_for(stats)
            segments.append({"where": v.where, "label": v.label, **grade.to_dict(),
                             "luma": [round(stats.low, 1), round(stats.high, 1)], "chroma": round(stats.chroma, 1)})
    loudness = None
    if tl.enhance.loudness is not None and tl.output.audio:
        metadata = work / "loudness.txt"
        run(compiler.compile_loudness_scan(tl, sources, metadata))
        loudness = read_r128(metadata, tl.enhance.loudness)
        metadata.unlink(missing_ok=True)
    report = _report(tl, segments, loudness)
    return Enhanced(replace(sources, grades=grades, loudness=loudness), report, runs, tuple(warnings))


def sample_times(tl: Timeline, v: Visual) -> list[float]:
    """Source times spread evenly over the range a clip shows (its middle frames, not its edges)."""
    start = v.source_in_ms / 1000
    span = tl.canvas.seconds(v.length) * v.speed
    end = start + span
    if v.media.duration_ms is not None:
        end = min(end, v.media.duration_ms / 1000 - END_MARGIN_S)
        start = min(start, end)
    count = max(1, min(SAMPLES, v.length // 5))
    return [round(max(0.0, start + (end - start) * (k + 0.5) / count), 6) for k in range(count)]


def _clip_stats(tl: Timeline, v: Visual, raw: Path, run: Any) -> PictureStats:
    width, height = v.picture_size
    sw = even(min(SAMPLE_WIDTH, width))
    sh = even(max(2.0, sw * height / width))
    times = sample_times(tl, v)
    try:
        run(compiler.compile_picture_samples(v, times, sw, sh, raw))
        data = raw.read_bytes()
    finally:
        raw.unlink(missing_ok=True)
    return yuv444_stats(data, sw * len(times), sh)


def _still_stats(v: Visual) -> PictureStats:
    upright = load_upright(v.media)
    size = (v.media.width or upright.width, v.media.height or upright.height)
    picture = crop_and_blur(upright, v.crop, v.blur, size)
    picture.thumbnail((STILL_SIDE, STILL_SIDE))
    return image_stats(picture)


def _report(tl: Timeline, segments: list[dict[str, Any]], loudness: Loudness | None) -> dict[str, Any]:
    """What was measured and done, in numbers and in one sentence."""
    assert tl.enhance is not None
    keys = ("contrast", "brightness", "gamma", "saturation")
    changed = [s for s in segments if not Grade(*(s[k] for k in keys)).is_identity]
    out: dict[str, Any] = {"picture": tl.enhance.picture, "segments": segments,
                           "loudness_out_target": tl.enhance.loudness}
    words = []
    if tl.enhance.picture:
        most = (f" (contrast up to x{max(s['contrast'] for s in changed):g}, saturation up to "
                f"x{max(s['saturation'] for s in changed):g})") if changed else ""
        words.append(f"picture: {len(changed)} of {len(segments)} segment(s) corrected{most}")
    if loudness is not None:
        mode = "silent" if loudness.silent else "linear" if loudness.linear else "dynamic"
        out |= {"loudness_in": round(loudness.integrated, 1), "loudness_range_in": round(loudness.lra, 1),
                "true_peak_in": loudness.true_peak, "loudness_mode": mode}
        words.append("sound: silent, left as it is" if loudness.silent else
                     f"sound: {loudness.integrated:.1f} LUFS brought to {loudness.target:g} LUFS")
    elif tl.enhance.loudness is not None:
        words.append("sound: none in this output")
    out["summary"] = "; ".join(words)
    return out
