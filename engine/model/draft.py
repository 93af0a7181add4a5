"""The draft: the timeline JSON that clients read from ``state`` and send back to ``export``.

The hosted API fixes only the short keys ``t`` (tracks), ``tt`` (track type: 0 video, 1 audio,
7 text), ``sg`` (segments), ``d`` (duration, ms) and ``m`` (metadata). Everything else is ours
and is documented in docs/draft-format.md; ``reelforge schema`` prints the JSON Schema.

Rules kept here:
- All times are integer milliseconds.
- Unknown keys are kept (``extra="allow"``) and come back unchanged from :func:`dump_draft`.
- Parsing never renders anything; :func:`parse_draft` raises one :class:`DraftError` listing
  every problem with its JSON path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal

from PIL import ImageColor
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from engine.errors import DraftError, Issue, SchemaVersionError

CURRENT_VERSION: Final = 1
MAX_DURATION_MS: Final = 3_600_000
MAX_TEXT_CHARS: Final = 1000
MAX_TRACKS: Final = 32
MAX_SEGMENTS_PER_TRACK: Final = 300
MAX_BLUR_REGIONS: Final = 8

TRACK_VIDEO: Final = 0
TRACK_AUDIO: Final = 1
TRACK_TEXT: Final = 7

Ms = Annotated[int, Field(ge=0, le=MAX_DURATION_MS, description="time in integer milliseconds")]
PositiveMs = Annotated[int, Field(gt=0, le=MAX_DURATION_MS, description="length in integer milliseconds")]
Fraction01 = Annotated[float, Field(ge=0.0, le=1.0)]

# xfade transitions we allow by name (no custom expressions: they would be code from the client).
TRANSITIONS: Final = (
    "fade", "fadeblack", "fadewhite", "dissolve", "fadegrays",
    "slideleft", "slideright", "slideup", "slidedown",
    "wipeleft", "wiperight", "wipeup", "wipedown",
    "smoothleft", "smoothright", "smoothup", "smoothdown",
    "circleopen", "circleclose", "circlecrop", "rectcrop", "radial", "zoomin", "pixelize", "hblur",
)
TRANSITION_ALIASES: Final = {"crossfade": "fade", "cross-fade": "fade", "fade-black": "fadeblack",
                             "fade-through-black": "fadeblack", "fade-white": "fadewhite"}
MOTIONS: Final = ("none", "zoom-in", "zoom-out", "pan-left", "pan-right", "pan-up", "pan-down")
POSITIONS: Final = ("top-left", "top", "top-right", "left", "center", "right", "bottom-left", "bottom", "bottom-right")
POSITION_ALIASES: Final = {"top-center": "top", "bottom-center": "bottom", "middle": "center", "centre": "center",
                           "center-left": "left", "center-right": "right", "middle-left": "left",
                           "middle-right": "right"}
ASPECTS: Final = {"16:9": (1920, 1080), "9:16": (1080, 1920), "1:1": (1080, 1080), "4:5": (1080, 1350)}
DEFAULT_TRANSITION_MS: Final = 500


class Model(BaseModel):
    """Base of every draft object: unknown keys are kept, values are checked on assignment too."""

    model_config = ConfigDict(extra="allow", validate_assignment=True, populate_by_name=True)


def _check_color(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        ImageColor.getrgb(value)
    except ValueError:
        raise PydanticCustomError("color", "{value!r} is not a colour (use #RRGGBB, #RRGGBBAA or a CSS name)",
                                  {"value": value}) from None
    return value


def _canonical(aliases: Mapping[str, str]) -> Any:
    """Lower-case a name and map its aliases, before the name is checked against its list."""
    return BeforeValidator(lambda v: aliases.get(v.lower(), v.lower()) if isinstance(v, str) else v)


COLOR_PATTERN: Final = r"^(#[0-9A-Fa-f]{3,8}|[A-Za-z]{3,30})$"
Color = Annotated[str, Field(max_length=32, pattern=COLOR_PATTERN,
                             description="#RGB, #RRGGBB, #RRGGBBAA or a CSS colour name")]
TransitionName = Annotated[Literal[TRANSITIONS + tuple(TRANSITION_ALIASES)], _canonical(TRANSITION_ALIASES)]  # type: ignore[valid-type]
Position = Annotated[Literal[POSITIONS + tuple(POSITION_ALIASES)], _canonical(POSITION_ALIASES)]  # type: ignore[valid-type]


# ---------------------------------------------------------------- metadata and output


STREAMING_LOUDNESS_LUFS: Final = -14.0   # the integrated loudness streaming services play at


class Enhance(Model):
    """``m.enhance``: corrections measured from the media themselves before the render."""

    picture: bool = Field(True, description="each clip and still: levels, contrast and saturation stretched from "
                                            "its own statistics, within limits; good footage is left as it is")
    loudness: float | None = Field(STREAMING_LOUDNESS_LUFS, ge=-40, le=-5,
                                   description="the whole mix normalised to this integrated loudness (LUFS, EBU "
                                               "R128, measured in a first pass); null: the sound is left as mixed")


class Output(Model):
    """What file to make. Lives in ``m.out`` so that chat edits can change it."""

    format: Literal["mp4", "gif", "webm", "webp"] = "mp4"
    quality: Literal["high", "medium", "low"] = "high"
    audio: bool | None = Field(
        None, description="true: always an audio track; false: none; null: when any source has sound")
    resolution: Literal["360p", "480p", "540p", "720p", "1080p"] | None = Field(
        None, description="scale the canvas so that its short side is this many pixels")
    width: int | None = Field(None, ge=16, le=1920,
                              description="output width in px; the height follows the canvas aspect")
    fps: float | None = Field(None, gt=0, le=60)
    loop: int = Field(0, ge=-1, le=65535, description="GIF/WebP: 0 loops forever, -1 plays once, N repeats N times")
    max_mb: float | None = Field(
        None, gt=0, le=1000,
        description="size target in MB (10^6 bytes), any format: resolution, fps and bitrate (GIF: width, fps and "
                    "colours) are chosen to stay under it, whatever quality says; quality only chooses among "
                    "settings that fit")
    colors: int = Field(256, ge=2, le=256, description="GIF palette size")
    dither: Literal["bayer", "sierra2_4a", "sierra2", "floyd_steinberg", "heckbert", "none"] = "bayer"
    bayer_scale: int = Field(5, ge=0, le=5)
    stats: Literal["full", "diff", "scene"] = Field(
        "diff", description="GIF palette statistics: every pixel, or only what moves; \"scene\" (older name) "
                            "means palette \"frame\"")
    palette: Literal["scenes", "clip", "frame"] = Field(
        "scenes", description="GIF palettes: one for each scene (the draft's cuts and transitions, and the cuts "
                              "seen in the pictures of a long clip), one for the whole clip, or one for every frame")
    loop_seam: Literal["none", "auto", "crossfade"] = Field(
        "none", description="GIF only: where the loop joins its end to its start. auto: end at the frame, in the "
                            "last 15 %, that best matches the first; crossfade: blend the last loop_seam_ms into "
                            "the start; none: the timeline as it is")
    loop_seam_ms: int = Field(400, ge=40, le=3000, description="loop_seam crossfade: how long the blend lasts")
    stabilize: int = Field(2, ge=0, le=16, description="GIF with palettes per scene: a pixel that changed by at most "
                                                        "this many levels (of 255; blue one more) since the last "
                                                        "frame keeps its last value, so the file stores it as "
                                                        "unchanged; 0: off")

    @field_validator("loop_seam")
    @classmethod
    def _seam_needs_gif(cls, seam: str, info: ValidationInfo) -> str:
        """A field validator, so that the issue's path is m.out.loop_seam (format is checked before it)."""
        fmt = info.data.get("format")
        if seam != "none" and fmt is not None and fmt != "gif":
            raise PydanticCustomError("loop_seam_format", "loop_seam {seam} is for GIF output, not {fmt}",
                                      {"seam": seam, "fmt": fmt})
        return seam


class Meta(Model):
    """``m``: the canvas and the output."""

    title: str | None = Field(None, max_length=200)
    width: int | None = Field(None, ge=16, le=1920, description="canvas width; the short side is at most 1080")
    height: int | None = Field(None, ge=16, le=1920, description="canvas height; the short side is at most 1080")
    aspect: Literal["16:9", "9:16", "1:1", "4:5"] | None = None
    fps: float = Field(30.0, ge=1, le=60)
    bg: Color = "#000000"
    safe: float = Field(0.05, ge=0, le=0.3, description="safe margin for text, a fraction of the canvas")
    out: Output = Field(default_factory=Output)
    enhance: Enhance | None = Field(None, description="picture and loudness corrections; null: none")

    _bg = field_validator("bg")(_check_color)

    @model_validator(mode="after")
    def _canvas_within_limits(self) -> Meta:
        if self.width and self.height and min(self.width, self.height) > 1080:
            raise PydanticCustomError("canvas_size", "canvas {w}x{h} is larger than 1080x1920 in either orientation",
                                      {"w": self.width, "h": self.height})
        return self


# ---------------------------------------------------------------- pieces of segments


class Transition(Model):
    type: TransitionName = "fade"
    d: PositiveMs = DEFAULT_TRANSITION_MS


def _shorthand(key: str) -> Any:
    """Accept a bare name where an object is expected: "fade" means {"type": "fade"}."""
    return BeforeValidator(lambda v: {key: v} if isinstance(v, str) else v)


TransitionField = Annotated[Transition, _shorthand("type"),
                            Field(description="a transition object, or just its type name")]


class Transitions(Model):
    """``tr``: how a segment enters and leaves. Between two adjacent segments the later one's ``in`` wins."""

    in_: TransitionField | None = Field(None, alias="in")
    out: TransitionField | None = None


class Motion(Model):
    """``mo``: slow movement over a still image (Ken Burns)."""

    type: Literal["none", "zoom-in", "zoom-out", "pan-left", "pan-right", "pan-up", "pan-down"] = "zoom-in"
    amt: float = Field(0.12, ge=0.0, le=0.5,
                       description="how far it moves: zoom factor - 1, or pan distance as a fraction")


class Box(Model):
    """A rectangle as fractions: of the canvas where a layer sits (``box``, the source fitted inside), of the
    source picture for ``crop`` and ``blur``."""

    x: Fraction01 = 0.0
    y: Fraction01 = 0.0
    w: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    h: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0


def _inside(region: Box) -> Box:
    """A region of a picture must lie within it (a thousandth over is forgiven: rounding in the client)."""
    if region.x + region.w > 1.001 or region.y + region.h > 1.001:
        raise PydanticCustomError("region_inside", "the region runs past the picture's edge: x + w and y + h "
                                                   "may be at most 1")
    return region


Region = Annotated[Box, AfterValidator(_inside)]   # a Box over a source picture instead of the canvas


class Stroke(Model):
    color: Color = "#000000"
    w: float = Field(2.0, ge=0, le=40)

    _c = field_validator("color")(_check_color)


class Shadow(Model):
    color: Color = "#000000AA"
    x: float = Field(3.0, ge=-100, le=100)
    y: float = Field(3.0, ge=-100, le=100)
    blur: float = Field(4.0, ge=0, le=50)

    _c = field_validator("color")(_check_color)


class TextBox(Model):
    """A filled box behind the text."""

    color: Color = "#00000099"
    pad: float = Field(16.0, ge=0, le=200)
    r: float = Field(12.0, ge=0, le=200, description="corner radius in px")

    _c = field_validator("color")(_check_color)


class TextStyle(Model):
    """Sizes are pixels on the draft's canvas; they scale with the output size."""

    font: str = Field("sans", max_length=64, description="sans, serif, mono or an installed family name")
    size: float | None = Field(None, ge=6, le=400, description="font size in px; default 7% of the canvas short side")
    bold: bool = False
    color: Color = "#FFFFFF"
    stroke: Stroke | None = None
    shadow: Shadow | None = None
    bg: TextBox | None = None
    align: Literal["left", "center", "right"] = "center"
    pos: Position = Field("center", description="named anchor")
    x: Fraction01 | None = Field(None, description="anchor point x as a fraction of the canvas (overrides pos)")
    y: Fraction01 | None = Field(None, description="anchor point y as a fraction of the canvas (overrides pos)")
    maxw: Annotated[float, Field(gt=0.05, le=1.0)] | None = Field(
        None, description="wrap width, fraction of the canvas")
    lh: float = Field(1.2, ge=0.8, le=3.0, description="line height as a multiple of the font size")
    anim: Literal["none", "fade", "fade-in", "fade-out"] | None = None

    _c = field_validator("color")(_check_color)


# ---------------------------------------------------------------- segments and tracks


class Segment(Model):
    id: str | None = Field(None, max_length=64)
    n: str | None = Field(None, max_length=200, description="label shown in the timeline summary")
    st: Ms | None = Field(None, description="start on the timeline; default: where the previous segment ends")
    d: PositiveMs | None = Field(None, description="length on the timeline")


class VideoSegment(Segment):
    """A clip or a still image on a video track."""

    src: str = Field(min_length=1, max_length=2048, description="media reference: an uploaded file's URL or a path")
    ss: Ms = Field(0, description="source in-point")
    spd: float = Field(1.0, ge=0.25, le=4.0, description="playback speed; audio follows")
    rev: bool = Field(False, description="clips: play the same source range backwards, sound included")
    vol: float = Field(1.0, ge=0.0, le=2.0)
    mute: bool = False
    fit: Literal["contain", "cover", "stretch"] = "contain"
    fill: str = Field("blur", max_length=32, pattern=COLOR_PATTERN,
                      description="contain only: 'blur' or a colour for the bars")
    box: Box | None = None
    op: Fraction01 = 1.0
    mo: Annotated[Motion, _shorthand("type")] | None = Field(
        None, description="stills only: movement over the image (an object, or just its type)")
    tr: Transitions | None = None
    crop: Region | None = Field(
        None, description="the part of the source picture kept, as fractions of the source's width and height "
                          "(before fit, box and motion); null: the whole picture")
    blur: list[Region] = Field(
        default_factory=list, max_length=MAX_BLUR_REGIONS,
        description="regions blurred beyond recognition on every frame, as fractions of the picture after crop "
                    "(of the whole source without crop)")

    @field_validator("fill")
    @classmethod
    def _fill(cls, value: str) -> str:
        return value if value == "blur" else _check_color(value) or value


class AudioSegment(Segment):
    src: str = Field(min_length=1, max_length=2048)
    ss: Ms = 0
    vol: float = Field(1.0, ge=0.0, le=2.0)
    fi: Ms = Field(0, description="fade-in length")
    fo: Ms = Field(0, description="fade-out length")
    loop: bool = Field(False, description="repeat the source to fill d")


class TextSegment(Segment):
    txt: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    style: TextStyle = Field(default_factory=TextStyle)
    fi: Ms | None = Field(None, description="fade-in length; default from style.anim")
    fo: Ms | None = Field(None, description="fade-out length; default from style.anim")

    @field_validator("txt")
    @classmethod
    def _visible(cls, value: str) -> str:
        if not value.strip():
            raise PydanticCustomError("not_blank", "text is empty")
        return value


class TrackBase(Model):
    id: str | None = Field(None, max_length=64)
    n: str | None = Field(None, max_length=200)
    mute: bool = False

    @field_validator("tt", mode="before", check_fields=False)
    @classmethod
    def _numeric_type(cls, value: Any) -> Any:
        return int(value) if isinstance(value, str) and value.strip().isdigit() else value


class VideoTrack(TrackBase):
    tt: Literal[0]
    sg: list[VideoSegment] = Field(default_factory=list, max_length=MAX_SEGMENTS_PER_TRACK)


class AudioTrack(TrackBase):
    tt: Literal[1]
    sg: list[AudioSegment] = Field(default_factory=list, max_length=MAX_SEGMENTS_PER_TRACK)


class TextTrack(TrackBase):
    tt: Literal[7]
    sg: list[TextSegment] = Field(default_factory=list, max_length=MAX_SEGMENTS_PER_TRACK)


_TAGS: Final = {TRACK_VIDEO: "video", TRACK_AUDIO: "audio", TRACK_TEXT: "text"}


def _track_tag(value: Any) -> str | None:
    raw = value.get("tt") if isinstance(value, Mapping) else getattr(value, "tt", None)
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw)
    return _TAGS.get(raw) if isinstance(raw, int) and not isinstance(raw, bool) else None


Track = Annotated[
    Annotated[VideoTrack, Tag("video")] | Annotated[AudioTrack, Tag("audio")] | Annotated[TextTrack, Tag("text")],
    Discriminator(_track_tag, custom_error_type="track_type",
                  custom_error_message="tt must be 0 (video), 1 (audio) or 7 (text)"),
]


class Draft(Model):
    v: int = Field(CURRENT_VERSION, ge=1, description="schema version")
    d: PositiveMs | None = Field(None, description="timeline length; default: the end of the last segment")
    m: Meta = Field(default_factory=Meta)
    t: list[Track] = Field(default_factory=list, max_length=MAX_TRACKS)


# ---------------------------------------------------------------- parse / dump


def _json_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if part in ("video", "audio", "text") or part in ("function-after[_canvas_within_limits(), Meta]",):
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part.startswith("function-"):
            continue
        else:
            out += ("." if out else "") + ("in" if part == "in_" else str(part))
    return out


def _rule(error_type: str) -> str:
    return {"missing": "required", "extra_forbidden": "unknown", "literal_error": "one_of",
            "union_tag_invalid": "track_type", "union_tag_not_found": "track_type",
            "string_pattern_mismatch": "color"}.get(error_type, error_type)


def parse_draft(data: Any) -> Draft:
    """Check the wire JSON (already decoded) and return the model, or raise DraftError naming every problem."""
    if not isinstance(data, Mapping):
        raise DraftError([Issue("", "object", "the draft must be a JSON object")])
    version = data.get("v", CURRENT_VERSION)
    if isinstance(version, int) and not isinstance(version, bool) and version > CURRENT_VERSION:
        raise SchemaVersionError(version, CURRENT_VERSION)
    try:
        return Draft.model_validate(data)
    except ValidationError as exc:
        issues = [
            Issue(_json_path(err["loc"]), _rule(err["type"]), err["msg"].removeprefix("Value error, "))
            for err in exc.errors(include_url=False)
        ]
        raise DraftError(issues) from None


def dump_draft(draft: Draft) -> dict[str, Any]:
    """The wire JSON again: exactly the keys that were set, unknown ones included."""
    return draft.model_dump(mode="json", by_alias=True, exclude_unset=True)


def _allow_names(node: Any, ref: str, names: tuple[str, ...]) -> None:
    """Where the schema says "a <ref> object", add "or just its name" (the shorthands the parser accepts)."""
    if isinstance(node, dict):
        if node.get("$ref") == ref:
            node.pop("$ref")
            node["anyOf"] = [{"$ref": ref}, {"type": "string", "enum": list(names)}]
            return
        for value in node.values():
            _allow_names(value, ref, names)
    elif isinstance(node, list):
        for value in node:
            _allow_names(value, ref, names)


def json_schema() -> dict[str, Any]:
    schema = Draft.model_json_schema(by_alias=True)
    for name, names in (("Transition", TRANSITIONS + tuple(TRANSITION_ALIASES)), ("Motion", MOTIONS)):
        for key, definition in schema["$defs"].items():
            if key != name:
                _allow_names(definition, f"#/$defs/{name}", names)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "reelforge draft"
    schema["description"] = ("A reelforge/NemoVideo draft timeline. Times are integer milliseconds. "
                             "See docs/draft-format.md.")
    return schema
