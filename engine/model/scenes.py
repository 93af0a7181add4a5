"""A GIF's scenes: the runs of frames that share one palette.

Where the draft knows its cuts, they come from it exactly (:func:`draft_scenes`): each clip or
still on the base track is a shot, each transition between two of them a blend with a palette of
its own (its frames mix two pictures, whose colours neither palette holds alone). Inside a long
video clip the pictures may cut too; :mod:`engine.media.scene_cuts` finds those while the frames
pass, and the GIF's scene router (engine/pipeline/gif_scenes.py) cuts there. Scenes too short to
pay for a palette (each new palette costs a whole frame and a colour table per frame) are folded
into a neighbour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

from engine.model.pieces import Gap, base_pieces
from engine.model.timeline import Timeline

MIN_SCENE_S: Final = 0.25       # a shot shorter than this joins its neighbour
MIN_BLEND_FRAMES: Final = 3     # a transition shorter than this joins the shot it leads into
MAX_SCENES: Final = 48          # each scene is an FFmpeg run: a draft's shortest are folded together past this,
                                # and the pictures start no more

Kind = Literal["shot", "blend"]
Origin = Literal["draft", "pictures"]


@dataclass(frozen=True, slots=True)
class Scene:
    """Output frames ``[start, end)``; ``watch``: whether the pictures inside may cut (a video clip)."""

    start: int
    end: int
    kind: Kind = "shot"
    origin: Origin = "draft"
    watch: bool = False

    @property
    def frames(self) -> int:
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "kind": self.kind, "from": self.origin}

    def to_record(self) -> list[Any]:
        """Compact, for a chunked render's parts to carry to the join."""
        return [self.start, self.end, self.kind, self.origin, self.watch]

    @classmethod
    def from_record(cls, record: Sequence[Any]) -> Scene:
        start, end, kind, origin, watch = record
        return cls(int(start), int(end), kind, origin, bool(watch))


def min_scene_frames(fps: float) -> int:
    return max(2, round(MIN_SCENE_S * fps))


def draft_scenes(tl: Timeline) -> list[Scene]:
    """The base track's shots and transitions as scenes, in timeline frames, short ones folded in."""
    track = base_pieces(tl)
    scenes: list[Scene] = []
    items: list[int | None] = []          # the item each scene shows (None: a blend)
    for piece in track.pieces:
        item = track.items[piece.run.item]
        if piece.is_blend:
            scenes.append(Scene(piece.start, piece.end, "blend"))
            items.append(None)
        elif items and items[-1] == piece.run.item:
            scenes[-1] = replace(scenes[-1], end=piece.end)
        else:
            watch = not isinstance(item, Gap) and not item.is_still
            scenes.append(Scene(piece.start, piece.end, "shot", watch=watch))
            items.append(piece.run.item)
    return fold(scenes, min_scene_frames(float(tl.canvas.fps)))


def rescaled(scenes: Sequence[Scene], ratio: float, length: int) -> list[Scene]:
    """The same scenes at another frame rate (``ratio``: new fps / old), tiling ``[0, length)``."""
    bounds = sorted({min(length, round(s.start * ratio)) for s in scenes[1:]} - {0, length})
    starts = [0, *bounds]
    ends = [*bounds, length]
    kinds = {round(s.start * ratio): s for s in scenes}
    return [replace(kinds.get(a, scenes[0]), start=a, end=b) for a, b in zip(starts, ends, strict=True)]


def fold(scenes: Sequence[Scene], min_frames: int, max_scenes: int = MAX_SCENES) -> list[Scene]:
    """Fold scenes too short for a palette of their own into a neighbour, then the shortest pairs
    together until at most ``max_scenes`` remain. The scenes still tile the same frames."""
    out = [s for s in scenes if s.frames > 0]
    changed = True
    while changed and len(out) > 1:
        changed = False
        for i, s in enumerate(out):
            short = s.frames < (MIN_BLEND_FRAMES if s.kind == "blend" else min_frames)
            if short:
                j = i + 1 if (s.kind == "blend" and i + 1 < len(out)) or i == 0 else i - 1
                out[min(i, j):max(i, j) + 1] = [_merge(out[min(i, j)], out[max(i, j)])]
                changed = True
                break
    while len(out) > max_scenes:
        i = min(range(len(out) - 1), key=lambda k: out[k].frames + out[k + 1].frames)
        out[i:i + 2] = [_merge(out[i], out[i + 1])]
    return out


def _merge(a: Scene, b: Scene) -> Scene:
    """Two neighbours as one; a shot absorbs a blend."""
    kind: Kind = "shot" if "shot" in (a.kind, b.kind) else "blend"
    origin = a.origin if a.kind == "shot" or b.kind == "blend" else b.origin
    return Scene(a.start, b.end, kind, origin, a.watch or b.watch)


def planned_scenes(tl: Timeline) -> list[Scene]:
    """The scenes the draft knows, for palettes per scene; one scene for the other palette modes."""
    return draft_scenes(tl) if tl.output.palette == "scenes" else [Scene(0, tl.length)]
