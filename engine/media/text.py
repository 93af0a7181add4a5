"""Text overlays: rasterise a text segment with Pillow into a tight RGBA image and its position.

User text never enters an FFmpeg filter string; the compiler overlays the image this module
returns at (x, y). All sizes in a :class:`~engine.draft.TextStyle` are draft pixels and are
multiplied by ``scale`` here; fractions (x, y, maxw, safe) are fractions of the output canvas.

Layers are drawn as 8-bit coverage masks and coloured afterwards, so anti-aliased edges keep
their colour with straight (non-premultiplied) alpha, which is what FFmpeg's overlay expects;
drawing translucent colours straight onto a transparent RGBA image would darken the edges.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from PIL import Image, ImageColor, ImageDraw, ImageFilter, ImageFont

from engine.errors import DraftError, Issue
from engine.media.fonts import FontCatalog, is_cjk
from engine.model.draft import TextStyle

DEFAULT_SIZE_FRACTION: Final = 0.07   # of the canvas short side
MIN_FONT_PX: Final = 6
SHRINK_FLOOR_PX: Final = 8
BOX_SUPERSAMPLE: Final = 4            # rounded_rectangle is not anti-aliased; draw big and reduce
# Kinsoku: characters that must not start a line, and ones that must not end it.
_NO_LINE_START: Final = frozenset("、。，．・：；？！ー々ゝゞヽヾ）］｝」』】〕〉》〙〗〟’”｠»"
                                  "ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ…‥,.!?;:)]}%")
_NO_LINE_END: Final = frozenset("（［｛「『【〔〈《〘〖〝‘“｟«([{")

RGBA = tuple[int, int, int, int]
Rect = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class RenderedText:
    """A text overlay: the image (cropped to what was drawn) and where its top-left goes."""

    image: Image.Image
    x: int
    y: int
    font_px: int
    lines: tuple[str, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Layout:
    lines: tuple[str, ...]
    origins: tuple[tuple[int, int], ...]  # left end of each baseline, block coordinates
    text_w: float                         # widest line advance
    ink: Rect                             # union of glyph boxes including stroke
    box: Rect | None                      # the background box, when style.bg is set

    @property
    def content(self) -> Rect:
        return self.box if self.box is not None else self.ink


def _rgba(value: str, field: str) -> RGBA:
    try:
        rgb = ImageColor.getrgb(value)
    except ValueError:
        raise DraftError([Issue(f"style.{field}", "color", f"{value!r} is not a colour")]) from None
    return (rgb[0], rgb[1], rgb[2], rgb[3] if len(rgb) == 4 else 255)


def _union(a: Rect, b: Rect) -> Rect:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _grow(r: Rect, by: int) -> Rect:
    return (r[0] - by, r[1] - by, r[2] + by, r[3] + by)


def _round(v: float) -> int:
    return math.floor(v + 0.5)  # half up: Python's round() goes to even, which would jitter centring


# ---------------------------------------------------------------- wrapping


def _is_gap(ch: str) -> bool:
    """A space where a line may break; no-break spaces (U+00A0, U+202F, U+2007) hold words together."""
    return ch.isspace() and ch not in "\u00a0\u202f\u2007"


def _tokens(paragraph: str) -> list[str]:
    """Split into break units: runs of spaces, Latin words, and single CJK characters.

    Kinsoku punctuation is glued to its neighbour so that no line starts with "。" or ends with "「".
    """
    raw: list[str] = []
    for ch in paragraph:
        prev = raw[-1] if raw else ""
        gap, prev_gap = _is_gap(ch), bool(prev) and _is_gap(prev[-1])
        glue = bool(prev) and bool(
            unicodedata.combining(ch) or ch in "\u200d\ufe0e\ufe0f"   # never split a character from its mark
            or (ch in _NO_LINE_START and not prev_gap)
            or (prev[-1] in _NO_LINE_END and not gap)
            or (not gap and not is_cjk(ch) and not prev_gap and not is_cjk(prev[-1]))
            or (gap and prev_gap)
        )
        if glue:
            raw[-1] = prev + ch
        else:
            raw.append(ch)
    return raw


def _break_word(word: str, fits: Callable[[str], bool]) -> list[str]:
    """Break a word wider than the line between characters (at least one per line)."""
    pieces: list[str] = []
    current = ""
    for ch in word:
        if current and not unicodedata.combining(ch) and not fits(current + ch):
            pieces.append(current)
            current = ch
        else:
            current += ch
    pieces.append(current)
    return pieces


def wrap(text: str, fits: Callable[[str], bool]) -> list[str]:
    """Greedy line breaking: hard breaks on newlines, soft breaks at spaces and between CJK characters.

    ``fits(line)`` says whether a line is narrow enough. Whitespace at a wrap point and at line
    ends is dropped; every other character is kept in order.
    """
    lines: list[str] = []
    for paragraph in text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ").split("\n"):
        current = ""
        start = len(lines)
        for token in _tokens(paragraph):
            if _is_gap(token[0]):
                current += token if current else ""
                continue
            if fits(current + token):
                current += token
                continue
            if current:
                lines.append(current.rstrip())
                current = ""
            pieces = [token] if fits(token) else _break_word(token, fits)
            lines.extend(pieces[:-1])
            current = pieces[-1]
        if current.strip() or len(lines) == start:
            lines.append(current.strip())
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return lines


# ---------------------------------------------------------------- layout


def _layout(lines: list[str], font: ImageFont.FreeTypeFont, px: int, style: TextStyle,
            stroke_w: int, pad: int | None) -> _Layout:
    """Place the baselines. Each line box is ``lh * px`` tall with the font's ascent+descent centred in
    it (CSS half-leading), so the box size does not depend on which letters a line happens to hold."""
    ascent, descent = font.getmetrics()
    line_h = style.lh * px
    half_leading = (line_h - (ascent + descent)) / 2
    widths = [font.getlength(line) for line in lines]
    text_w = max(widths, default=0.0)
    origins: list[tuple[int, int]] = []
    ink: Rect | None = None
    for i, (line, width) in enumerate(zip(lines, widths, strict=True)):
        shift = {"left": 0.0, "center": (text_w - width) / 2, "right": text_w - width}[style.align]
        origin = (_round(shift), _round(i * line_h + half_leading + ascent))
        origins.append(origin)
        if line.strip():
            x0, y0, x1, y1 = font.getbbox(line, stroke_width=stroke_w, anchor="ls")
            glyphs = (math.floor(x0) + origin[0], math.floor(y0) + origin[1],
                      math.ceil(x1) + origin[0], math.ceil(y1) + origin[1])
            ink = glyphs if ink is None else _union(ink, glyphs)
    block: Rect = (-stroke_w, -stroke_w, math.ceil(text_w) + stroke_w, _round(len(lines) * line_h) + stroke_w)
    ink = ink or (0, 0, 0, 0)
    box = _grow(_union(block, ink), pad) if pad is not None else None
    return _Layout(tuple(lines), tuple(origins), text_w, ink, box)


_Attempt = tuple[_Layout, ImageFont.FreeTypeFont, bool]


def _fit(text: str, style: TextStyle, load: Callable[[int], ImageFont.FreeTypeFont], start_px: int,
         max_w: float, max_h: float, stroke_w: int, pad: int | None
         ) -> tuple[_Layout, int, ImageFont.FreeTypeFont, list[str]]:
    """Wrap at ``start_px``; if the block is too tall (or one character too wide), find the largest
    size that fits by bisection, rewrapping at each size.

    Bisection rather than 10% steps: it needs about log2(size) layouts instead of ~25 for a 400 px
    start, and it lands on the largest size that fits rather than up to 10% below it. The floor is
    8 px: smaller text is unreadable in a video, so below it we warn instead."""

    def attempt(px: int) -> _Attempt:
        font = load(px)
        lines = wrap(text, lambda line: font.getlength(line) <= max_w)
        layout = _layout(lines, font, px, style, stroke_w, pad)
        content = layout.content
        return layout, font, content[3] - content[1] <= max_h and layout.text_w <= max_w

    best = attempt(start_px)
    if best[2] or start_px <= SHRINK_FLOOR_PX:
        px = start_px
    else:
        low, high = SHRINK_FLOOR_PX, start_px - 1   # invariant: start_px does not fit
        px, best = low, attempt(low)
        if best[2]:
            while low < high:
                mid = (low + high + 1) // 2
                trial = attempt(mid)
                if trial[2]:
                    low, px, best = mid, mid, trial
                else:
                    high = mid - 1
    layout, font, fits = best
    notes: list[str] = []
    if px != start_px:
        notes.append(f"text shrunk from {start_px} px to {px} px to fit the safe area")
    if not fits:
        notes.append(f"text does not fit in the safe area even at {px} px")
    return layout, px, font, notes


# ---------------------------------------------------------------- drawing


def _coloured(mask: Image.Image, colour: RGBA) -> Image.Image:
    """A solid colour whose alpha is the mask scaled by the colour's own alpha."""
    layer = Image.new("RGBA", mask.size, colour[:3] + (0,))
    alpha = colour[3]
    layer.putalpha(mask.point([(v * alpha + 127) // 255 for v in range(256)]))
    return layer


def _text_mask(size: tuple[int, int], layout: _Layout, font: ImageFont.FreeTypeFont,
               offset: tuple[int, int], stroke_w: int) -> Image.Image:
    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    for line, (ox, oy) in zip(layout.lines, layout.origins, strict=True):
        if line.strip():
            draw.text((ox + offset[0], oy + offset[1]), line, font=font, fill=255, anchor="ls",
                      stroke_width=stroke_w, stroke_fill=255)
    return mask


def _box_mask(size: tuple[int, int], box: Rect, radius: int) -> Image.Image:
    mask = Image.new("L", size, 0)
    w, h = box[2] - box[0], box[3] - box[1]
    if w <= 0 or h <= 0:
        return mask
    k = BOX_SUPERSAMPLE
    big = Image.new("L", (w * k, h * k), 0)
    corner = min(radius, w // 2, h // 2) * k
    ImageDraw.Draw(big).rounded_rectangle((0, 0, w * k - 1, h * k - 1), radius=corner, fill=255)
    mask.paste(big.resize((w, h), Image.Resampling.BOX), box[:2])
    return mask


def _shift(r: Rect, dx: int, dy: int) -> Rect:
    return (r[0] + dx, r[1] + dy, r[2] + dx, r[3] + dy)


def _draw(layout: _Layout, font: ImageFont.FreeTypeFont, style: TextStyle, scale: float,
          stroke_w: int) -> tuple[Image.Image, Rect]:
    """Paint shadow, box, stroke and fill; return the image cropped to its ink and the visible
    (non-shadow) extent in the cropped image's coordinates."""
    shadow = style.shadow
    dx, dy = (_round(shadow.x * scale), _round(shadow.y * scale)) if shadow else (0, 0)
    blur = shadow.blur * scale if shadow else 0.0
    frame = layout.content
    if shadow:  # a Gaussian's tail is negligible past three radii
        frame = _union(frame, _grow(_shift(layout.ink, dx, dy), math.ceil(3 * blur) + 2))
    frame = _grow(frame, 2)
    size = (frame[2] - frame[0], frame[3] - frame[1])
    ox, oy = -frame[0], -frame[1]

    body = Image.new("RGBA", size, (0, 0, 0, 0))
    if style.bg and layout.box:
        box_mask = _box_mask(size, _shift(layout.box, ox, oy), _round(style.bg.r * scale))
        body = Image.alpha_composite(body, _coloured(box_mask, _rgba(style.bg.color, "bg.color")))
    if style.stroke and stroke_w:
        stroke_mask = _text_mask(size, layout, font, (ox, oy), stroke_w)
        body = Image.alpha_composite(body, _coloured(stroke_mask, _rgba(style.stroke.color, "stroke.color")))
    fill_mask = _text_mask(size, layout, font, (ox, oy), 0)
    body = Image.alpha_composite(body, _coloured(fill_mask, _rgba(style.color, "color")))
    # Fully transparent colours draw nothing; then the layout box stands in for the visible extent.
    visible = body.getchannel("A").getbbox() or _shift(layout.content, ox, oy)

    image = Image.new("RGBA", size, (0, 0, 0, 0))
    if shadow:
        mask = _text_mask(size, layout, font, (ox + dx, oy + dy), stroke_w)
        if blur > 0:
            mask = mask.filter(ImageFilter.GaussianBlur(blur))
        image = _coloured(mask, _rgba(shadow.color, "shadow.color"))
    image = Image.alpha_composite(image, body)
    crop = image.getchannel("A").getbbox() or (visible[0], visible[1], visible[0] + 1, visible[1] + 1)
    return image.crop(crop), _shift(visible, -crop[0], -crop[1])


def _place(size: int, side: str, anchor: float | None, canvas: int, margin: float) -> float:
    """Top-left coordinate on one axis. ``side`` is "min", "mid" or "max" of the block."""
    if anchor is None:
        return {"min": margin, "mid": (canvas - size) / 2, "max": canvas - margin - size}[side]
    point = anchor * canvas
    return {"min": point, "mid": point - size / 2, "max": point - size}[side]


def _sides(pos: str) -> tuple[str, str]:
    horizontal = "min" if pos.endswith("left") else "max" if pos.endswith("right") else "mid"
    vertical = "min" if pos.startswith("top") else "max" if pos.startswith("bottom") else "mid"
    return horizontal, vertical


def render_text(text: str, style: TextStyle, *, canvas_w: int, canvas_h: int, scale: float, safe: float,
                fonts: FontCatalog) -> RenderedText:
    """Rasterise ``text`` in ``style`` for a ``canvas_w`` x ``canvas_h`` output and say where it goes.

    The block is wrapped to the safe width (or ``style.maxw``), shrunk until it fits the safe
    height, drawn as shadow, box, stroke and fill, positioned by its visible extent (the box, or
    the glyphs when there is no box; the shadow is decoration and does not move the text), clamped
    into the canvas, and cropped to the pixels actually drawn. Same input, same bytes.
    """
    choice = fonts.resolve(style.font, bold=style.bold, text=text)
    warnings = list(choice.warnings)
    stroke_w = max(1, _round(style.stroke.w * scale)) if style.stroke and style.stroke.w > 0 else 0
    pad = _round(style.bg.pad * scale) if style.bg else None
    # The default is already in output pixels (a fraction of the output canvas), so it is not scaled.
    if style.size is not None:
        base_px = style.size * scale
    else:
        base_px = DEFAULT_SIZE_FRACTION * min(canvas_w, canvas_h)
    start_px = max(MIN_FONT_PX, _round(base_px))
    max_w = max(1.0, (style.maxw or (1 - 2 * safe)) * canvas_w - 2 * (pad or 0) - 2 * stroke_w)
    max_h = (1 - 2 * safe) * canvas_h
    if not text.strip():
        return RenderedText(Image.new("RGBA", (1, 1), (0, 0, 0, 0)), 0, 0, start_px, (), tuple(warnings))
    layout, px, font, notes = _fit(text, style, lambda n: fonts.load(choice, n), start_px, max_w, max_h,
                                   stroke_w, pad)
    warnings += notes

    image, visible = _draw(layout, font, style, scale, stroke_w)

    # Clamping last keeps the whole image (shadow included) on the canvas; if it is bigger, pin it at 0.
    horizontal, vertical = _sides(style.pos)
    vis_w, vis_h = visible[2] - visible[0], visible[3] - visible[1]
    left = _place(vis_w, horizontal, style.x, canvas_w, safe * canvas_w)
    top = _place(vis_h, vertical, style.y, canvas_h, safe * canvas_h)
    x = _round(left) - visible[0]
    y = _round(top) - visible[1]
    x = min(max(x, 0), canvas_w - image.width) if image.width <= canvas_w else 0
    y = min(max(y, 0), canvas_h - image.height) if image.height <= canvas_h else 0
    return RenderedText(image=image, x=x, y=y, font_px=px, lines=layout.lines, warnings=tuple(warnings))
