"""The pictures a render would prepare for a timeline, at fixed fake paths (sizes as
engine/pipeline/assets.py makes them), so that a filter graph can be compiled without preparing
anything (tests only)."""

from __future__ import annotations

from pathlib import Path

from engine.graph.build import PreparedCaption, Sources
from engine.media.motion import plan_motion
from engine.media.stills import PreparedStill
from engine.model.timeline import Timeline


def placeholder_sources(tl: Timeline) -> Sources:
    stills = {}
    for i, v in enumerate(tl.visuals()):
        if not v.is_still:
            continue
        if v.motion is None:
            stills[v.where] = PreparedStill(Path(f"/work/still-{i}.png"), v.box.w, v.box.h, False)
            continue
        plan = plan_motion(v.motion, v.extent, v.box.w, v.box.h)
        stills[v.where] = PreparedStill(Path(f"/work/still-{i}.png"), plan.width, plan.height, False, motion=plan,
                                        motion_script=Path(f"/work/motion-{i}.cmd"), motion_target=f"crop@motion{i}")
    captions = {c.where: PreparedCaption(PreparedStill(Path(f"/work/text-{i}.png"), 240, 64, True), 520, 40 + 300 * i)
                for i, c in enumerate(tl.captions())}
    return Sources(stills, captions, {})
