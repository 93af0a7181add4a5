"""The chat agent's vocabulary: one typed operation per edit tool.

Both planners produce these: the rules planner (``api.agent.understand``) from a sentence, the
optional LLM planner from function calls (each op's JSON Schema is its tool's ``parameters``).
The tools (``api.agent.tools``) apply them to a draft. An op is plain data: a name from
``OPS`` and arguments that :func:`make_op` has checked against that op's schema.

Times are integer milliseconds; ``None`` means "not said" (the tool picks the usual default).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.model.draft import MOTIONS, TRANSITIONS

Aspect = str          # "16:9" | "9:16" | "1:1" | "4:5"


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SetOutput(_Args):
    """Output file settings: format, frame rate, width, looping, sound, a size target, quality."""

    format: str | None = Field(None, pattern="^(mp4|gif|webm|webp)$")
    fps: float | None = Field(None, gt=0, le=60)
    width: int | None = Field(None, ge=16, le=1920)
    resolution: str | None = Field(None, pattern="^(360p|480p|540p|720p|1080p)$")
    loop: bool | None = None                   # GIF/WebP: loop forever (True) or play once (False)
    loop_seam: str | None = Field(None, pattern="^(none|auto|crossfade)$")  # GIF: how the end joins the start;
    #                                            None: "auto" when a loop is asked for (loop=True), else unchanged
    audio: bool | None = None                  # False: no sound track in the file
    max_mb: float | None = Field(None, gt=0, le=1000)  # the file stays under it, whatever the format and quality
    quality: str | None = Field(None, pattern="^(high|medium|low)$")
    small: bool = False                        # "small"/"compressed" with no number: a smaller file


class KeepRange(_Args):
    """Keep only this part of the timeline ("the first 3 seconds", "from 0:02 to 0:05")."""

    start_ms: int = Field(0, ge=0)
    end_ms: int | None = Field(None, gt=0)     # None: to the end


class RemoveRange(_Args):
    """Cut this part out of the timeline; what follows moves up."""

    start_ms: int = Field(ge=0)
    end_ms: int | None = Field(None, gt=0)     # None: to the end


class KeepEnd(_Args):
    """Keep only the last part of the timeline ("keep the last 3 seconds")."""

    ms: int = Field(gt=0)


class RemoveEnd(_Args):
    """Cut this much off the end ("cut the last 2 seconds")."""

    ms: int = Field(gt=0)


class Speed(_Args):
    """Play faster (factor > 1) or slower (< 1); 0.25x to 4x."""

    factor: float = Field(ge=0.25, le=4)


class Mute(_Args):
    """Remove the sound: clips' own sound, music too when ``music`` is True, and no sound track in the file."""

    music: bool = True


class Reverse(_Args):
    """Play the clips backwards."""


class Boomerang(_Args):
    """Play forwards then backwards, as a seamless loop."""


class SetAspect(_Args):
    """Canvas shape: 16:9, 9:16, 1:1 or 4:5; ``fit`` says how pictures fill it."""

    aspect: str = Field(pattern="^(16:9|9:16|1:1|4:5)$")
    fit: str | None = Field(None, pattern="^(contain|cover|stretch)$")


class AddText(_Args):
    """A title or caption: quoted text, where, when, colour, size."""

    text: str = Field(min_length=1, max_length=1000)
    role: str = Field("title", pattern="^(title|caption|closing)$")
    position: str | None = None                # a draft position name (top, bottom, center, top-left, ...)
    start_ms: int | None = Field(None, ge=0)
    end_ms: int | None = Field(None, gt=0)
    color: str | None = None                   # "#RRGGBB" or a colour name
    size: float | None = Field(None, ge=6, le=400)
    bold: bool | None = None


class RemoveText(_Args):
    """Remove text: all of it, or the segments whose text contains ``match``."""

    match: str | None = None


class AddMusic(_Args):
    """Background music: an uploaded audio file (its media id), else the built-in music bed."""

    media_id: str | None = None
    volume: float | None = Field(None, ge=0, le=2)      # 0.35 = 35 %
    fade_in_ms: int | None = Field(None, ge=0)
    fade_out_ms: int | None = Field(None, ge=0)
    replace: bool = False                               # True: the music replaces the clips' own sound


class SetMusic(_Args):
    """Change the music already there: volume, fades."""

    volume: float | None = Field(None, ge=0, le=2)
    fade_in_ms: int | None = Field(None, ge=0)
    fade_out_ms: int | None = Field(None, ge=0)


class RemoveMusic(_Args):
    """Take the background music out."""


class StillClip(_Args):
    """Turn the image(s) into a clip of ``seconds`` each, with gentle motion."""

    seconds: float | None = Field(None, gt=0, le=600)
    motion: str | None = Field(None, pattern="^(" + "|".join(MOTIONS) + ")$")


class Slideshow(_Args):
    """All uploaded images (and clips) in order, ``seconds`` per image or ``total_s`` for the whole show, with
    transitions."""

    seconds: float | None = Field(None, gt=0, le=600)
    total_s: float | None = Field(None, gt=0, le=3600)  # the whole show's length; the time per image follows
    transition: str | None = Field(None, pattern="^(" + "|".join(TRANSITIONS) + ")$")


class SetTransition(_Args):
    """Transitions between the pieces of the main track."""

    transition: str = Field("fade", pattern="^(" + "|".join(TRANSITIONS) + ")$")
    ms: int | None = Field(None, gt=0, le=5000)


class Promo(_Args):
    """A promotional video: every upload in a timeline of ``seconds``, motion, transitions, title, closing
    text, music, 1080p."""

    seconds: float = Field(30, gt=0, le=600)
    title: str | None = Field(None, max_length=200)
    closing: str | None = Field(None, max_length=200)


class Repeat(_Args):
    """Play part of the timeline several times in a row, in place; what follows moves later ("repeat the first
    2 seconds three times": that part plays three times in all)."""

    start_ms: int = Field(0, ge=0)
    end_ms: int | None = Field(None, gt=0)     # None: to the end
    times: int = Field(2, ge=2, le=20)         # how many times it plays in all


class Crop(_Args):
    """Keep only this part of the picture, as fractions of the frame as it is seen (x, y from the top left; w, h);
    the canvas takes the cropped shape unless an aspect was set."""

    x: float = Field(0.0, ge=0, lt=1)
    y: float = Field(0.0, ge=0, lt=1)
    w: float = Field(gt=0, le=1)
    h: float = Field(gt=0, le=1)


class Blur(_Args):
    """Blur a fixed part of the picture on every clip, as fractions of the frame (x, y from the top left; w, h).
    Nothing follows a moving face or plate: the region stays where it is."""

    x: float = Field(0.0, ge=0, lt=1)
    y: float = Field(0.0, ge=0, lt=1)
    w: float = Field(gt=0, le=1)
    h: float = Field(gt=0, le=1)


class Enhance(_Args):
    """Make it look and sound better: levels, contrast and saturation from each picture's own statistics, and the
    sound normalised to a streaming loudness (EBU R128, measured in a first pass)."""

    picture: bool = True
    sound: bool = True


class StartOver(_Args):
    """Go back to the starting draft: every upload on the timeline in upload order, no edits."""


class ShowTracks(_Args):
    """Describe the timeline."""


class Undo(_Args):
    """Go back to the draft before the last edit."""


class Pointer(_Args):
    """Messages about export or credits: point to those endpoints; nothing is rendered in the turn."""

    topic: str = Field(pattern="^(export|credits|upload)$")


@dataclass(frozen=True, slots=True)
class OpSpec:
    name: str
    args: type[_Args]
    credits: int              # what it costs (docs/api.md, "Chat")
    edits: bool = True        # False: reads only (status, undo's cost is its own, pointers)

    @property
    def description(self) -> str:
        return (self.args.__doc__ or self.name).strip()

    def parameters(self) -> dict[str, Any]:
        """The JSON Schema of its arguments (function calling)."""
        schema = self.args.model_json_schema()
        schema.pop("title", None)
        schema.pop("description", None)
        return schema


OPS: Final[dict[str, OpSpec]] = {spec.name: spec for spec in (
    OpSpec("set_output", SetOutput, 2),
    OpSpec("keep_range", KeepRange, 2),
    OpSpec("remove_range", RemoveRange, 2),
    OpSpec("keep_end", KeepEnd, 2),
    OpSpec("remove_end", RemoveEnd, 2),
    OpSpec("speed", Speed, 2),
    OpSpec("mute", Mute, 1),
    OpSpec("reverse", Reverse, 3),
    OpSpec("boomerang", Boomerang, 3),
    OpSpec("set_aspect", SetAspect, 2),
    OpSpec("add_text", AddText, 2),
    OpSpec("remove_text", RemoveText, 1),
    OpSpec("add_music", AddMusic, 5),
    OpSpec("set_music", SetMusic, 1),
    OpSpec("remove_music", RemoveMusic, 1),
    OpSpec("still_clip", StillClip, 3),
    OpSpec("slideshow", Slideshow, 5),
    OpSpec("set_transition", SetTransition, 2),
    OpSpec("promo", Promo, 10),
    OpSpec("repeat", Repeat, 2),
    OpSpec("crop", Crop, 2),
    OpSpec("blur", Blur, 3),
    OpSpec("enhance", Enhance, 3),
    OpSpec("start_over", StartOver, 0, edits=False),
    OpSpec("show_tracks", ShowTracks, 0, edits=False),
    OpSpec("undo", Undo, 0, edits=False),
    OpSpec("pointer", Pointer, 0, edits=False),
)}
MAX_TURN_CREDITS: Final = 50


class OpError(ValueError):
    """An op name or its arguments are not valid."""


@dataclass(frozen=True, slots=True)
class Op:
    name: str
    args: dict[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> OpSpec:
        return OPS[self.name]

    def parsed(self) -> Any:
        return self.spec.args.model_validate(self.args)


def make_op(name: str, **args: Any) -> Op:
    """An op with checked arguments (unset ones left out), or OpError."""
    spec = OPS.get(name)
    if spec is None:
        raise OpError(f"no tool {name!r}")
    try:
        model = spec.args.model_validate(args)
    except ValidationError as exc:
        raise OpError(f"{name}: {exc.errors()[0].get('msg', 'invalid arguments')}") from exc
    return Op(name, model.model_dump(exclude_unset=True))


def turn_price(ops: list[Op]) -> int:
    """Credits one turn costs: the sum of its edits, capped at MAX_TURN_CREDITS."""
    return min(MAX_TURN_CREDITS, sum(op.spec.credits for op in ops))
