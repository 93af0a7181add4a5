"""A render's scratch files, worked out from the timeline before anything is written.

Every file a render writes into its scratch folder is counted at its largest (duration x pixels, at
the most a lossless or GIF coder may take per pixel of noise):

- prepared stills (raw RGB or RGBA, at the box size or the larger size their motion needs), their
  motion scripts, and captions (at most the canvas, RGBA);
- reversed windows turned round beforehand (engine/pipeline/reverse.py): their frames, losslessly,
  and their sound twice (forwards, then turned round);
- a GIF size search: its lossless intermediate and the two tries it keeps at a time;
- a chunked GIF: its lossless parts, kept until the join (:func:`plan_chunked`);
- a GIF made scene by scene (engine/pipeline/gif_scenes.py): two scenes' GIFs at a time (one being
  joined, one being made) and, for a scene too long to hold in memory, its frames losslessly.

:func:`plan_scratch` keeps the total under ``EngineConfig.scratch_budget_mb``: a GIF size search
starts at the best-looking setting whose intermediate fits (it never needs more than that setting
anyway), and anything else over the budget is refused with LimitExceeded naming it, before anything
is queued or written. :func:`check_free_space` then refuses a render whose scratch would not fit in
the folder's free space (InsufficientDisk).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from engine.config import EngineConfig
from engine.errors import InsufficientDisk, LimitExceeded
from engine.graph.gif import buffered_bytes
from engine.media.motion import plan_motion
from engine.model.canvas import even
from engine.model.scenes import planned_scenes
from engine.model.timeline import Timeline
from engine.pipeline.gif_ladder import GifPoint, ladder, quality
from engine.pipeline.gif_scenes import by_scene
from engine.pipeline.reverse import SAMPLE_BYTES, Window, has_sound, windows_to_prepare

LOSSLESS_BYTES_PER_PIXEL: Final = 2.0     # H.264 at qp 0 writes 1.85 per pixel of 4:2:0 noise; FFV1 1.4
LAYER_BYTES_PER_PIXEL: Final = 3.0        # FFV1 with alpha (4:2:0 and a full-size alpha plane)
GIF_BYTES_PER_PIXEL: Final = 1.5          # LZW at its worst: a 12-bit code for every 8-bit pixel
GIF_TRIES_KEPT: Final = 2                 # the best fitting try so far and the one being made
SPOOL_BYTES_PER_PIXEL: Final = 3.2        # FFV1 of packed RGB noise: a long GIF scene kept on disk
GIF_SCENES_AT_ONCE: Final = 2             # the scene being fed and the one finishing
STILL_BYTES_PER_PIXEL: Final = 4          # RGBA (PNG at its worst; opaque stills are 3-byte PPM)
MOTION_SCRIPT_BYTES_PER_FRAME: Final = 96
MARGIN_BYTES: Final = 64 * 2**20          # graph files, palettes, what FFmpeg writes beside its outputs
MB: Final = 2**20
LIMIT: Final = "scratch_budget_mb"


@dataclass(frozen=True, slots=True)
class ScratchPlan:
    """What a render will write into its scratch folder, at most, and the choices made to keep that in budget."""

    items: tuple[tuple[str, int], ...]      # (what, bytes at most)
    reversed: tuple[Window, ...]            # windows turned round beforehand
    gif_start: GifPoint | None = None       # a GIF size search's first setting (its intermediate's)

    @property
    def total_bytes(self) -> int:
        """The free space it needs: every item, and a margin for the small files besides."""
        return MARGIN_BYTES + sum(size for _what, size in self.items)


def _stills(tl: Timeline) -> list[tuple[str, int]]:
    out = []
    for v in tl.visuals():
        if not v.is_still:
            continue
        w, h = v.box.w, v.box.h
        script = 0
        if v.motion is not None:
            plan = plan_motion(v.motion, v.extent, v.box.w, v.box.h)
            w, h, script = plan.width, plan.height, v.extent * MOTION_SCRIPT_BYTES_PER_FRAME
        out.append((f"{v.where} (still)", w * h * STILL_BYTES_PER_PIXEL + script))
    pixels = tl.canvas.width * tl.canvas.height
    out += [(f"{c.where} (text)", pixels * STILL_BYTES_PER_PIXEL) for c in tl.captions()]
    return out


def _reversed(tl: Timeline, windows: list[Window], picture: bool) -> list[tuple[str, int]]:
    out = []
    for w in windows:
        size = 0
        if picture:
            per_pixel = LAYER_BYTES_PER_PIXEL if w.transparent else LOSSLESS_BYTES_PER_PIXEL
            size += int(w.extent.frames * w.v.box.w * w.v.box.h * per_pixel)
        if has_sound(tl, w):
            size += 2 * w.sound_samples(tl.canvas) * SAMPLE_BYTES
        out.append((f"{w.v.where} (reversed)", size))
    return out


def gif_frames(tl: Timeline, fps: float) -> int:
    return int(tl.duration_s * fps) + 1


def gif_search_bytes(tl: Timeline, p: GifPoint, config: EngineConfig) -> int:
    """A GIF size search started at ``p``: its intermediate and the tries it keeps (and, made scene by
    scene, what a try's scenes write)."""
    height = even(p.width * tl.canvas.height / tl.canvas.width)
    pixels = gif_frames(tl, p.fps) * p.width * height
    scenes = gif_scene_bytes(tl, p.width, height, config) * p.fps / float(tl.canvas.fps) if by_scene(tl.output) else 0
    return int(pixels * (LOSSLESS_BYTES_PER_PIXEL + GIF_TRIES_KEPT * GIF_BYTES_PER_PIXEL) + scenes)


def gif_scene_bytes(tl: Timeline, width: int, height: int, config: EngineConfig) -> int:
    """A GIF made scene by scene at ``width`` x ``height``: the GIFs of two scenes at a time, and their
    frames where a scene may outgrow half the memory buffer and be kept on disk (engine/pipeline/gif_scenes.py)."""
    longest = max(s.frames for s in planned_scenes(tl))
    pixels = longest * width * height
    spooled = buffered_bytes(width, height, longest) > config.gif_buffer_mb * MB // 2
    per_pixel = GIF_BYTES_PER_PIXEL + (SPOOL_BYTES_PER_PIXEL if spooled else 0.0)
    return int(GIF_SCENES_AT_ONCE * pixels * per_pixel)


def _over(need: int, budget: int, items: list[tuple[str, int]]) -> LimitExceeded:
    what, _size = max(items, key=lambda item: item[1]) if items else ("", 0)
    most = f"; most of it for {what}" if what else ""
    return LimitExceeded(LIMIT, round(need / MB, 1), round(budget / MB, 1),
                         f"the scratch space this render needs (MB{most})")


def plan_scratch(tl: Timeline, config: EngineConfig, *, picture: bool = True) -> ScratchPlan:
    """The scratch ``tl``'s render will write, at most; LimitExceeded when it cannot stay under the budget.

    ``picture`` False: a render of the sound alone (no stills, no reversed frames)."""
    budget = int(config.scratch_budget_mb * MB)
    windows = windows_to_prepare(tl, config.reverse_in_graph_mb)
    items = (_stills(tl) if picture else []) + _reversed(tl, windows, picture)
    fixed = sum(size for _what, size in items)
    if fixed > budget:
        raise _over(fixed, budget, items)
    spec = tl.output
    if picture and spec.format == "gif" and by_scene(spec) and spec.max_bytes is None:
        items.append(("m.out (the GIF's scenes)", gif_scene_bytes(tl, tl.canvas.width, tl.canvas.height, config)))
        fixed = sum(size for _what, size in items)
        if fixed > budget:
            raise _over(fixed, budget, items)
    if not picture or spec.format != "gif" or spec.max_bytes is None:
        return ScratchPlan(tuple(items), tuple(windows))
    start = GifPoint(float(tl.canvas.fps), tl.canvas.width, spec.colors)
    points = [p for p in ladder(start) if p.colors == start.colors]
    fitting = [p for p in points if fixed + gif_search_bytes(tl, p, config) <= budget]
    if not fitting:
        smallest = min(points, key=lambda p: gif_search_bytes(tl, p, config))
        need = fixed + gif_search_bytes(tl, smallest, config)
        raise _over(need, budget, [*items, ("m.out (the GIF size search)", gif_search_bytes(tl, smallest, config))])
    best = max(fitting, key=lambda p: quality(p, start))
    search = ("m.out (the GIF size search)", gif_search_bytes(tl, best, config))
    return ScratchPlan((*items, search), tuple(windows), best)


def plan_chunked(tl: Timeline, config: EngineConfig) -> ScratchPlan:
    """What a chunked render keeps in its own folder until the join: a GIF's lossless parts (MP4 parts
    are encoded as the output is, and weigh what it will); each part's own scratch is planned as it starts."""
    items = []
    if tl.output.format == "gif":
        pixels = tl.length * tl.canvas.width * tl.canvas.height
        items.append(("m.out (the GIF's lossless parts)", int(pixels * LOSSLESS_BYTES_PER_PIXEL)))
    need, budget = sum(size for _what, size in items), int(config.scratch_budget_mb * MB)
    if need > budget:
        raise _over(need, budget, items)
    return ScratchPlan(tuple(items), ())


def scratch_folder(config: EngineConfig) -> Path:
    return config.work_dir or Path(tempfile.gettempdir())


def check_free_space(plan: ScratchPlan, folder: Path) -> None:
    """InsufficientDisk when ``folder`` has less free space than ``plan`` may write."""
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if plan.total_bytes > free:
        raise InsufficientDisk(str(folder), plan.total_bytes, free)
