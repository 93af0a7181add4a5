"""Text overlays (engine.text) and font choice (engine.fonts): pure Pillow, no FFmpeg."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from engine.config import DEFAULT_FONT_DIRS
from engine.media.fonts import CJK_WARNING, FontCatalog, FontChoice, is_cjk_family
from engine.media.text import RenderedText, render_text, wrap
from engine.model.draft import POSITIONS, Shadow, Stroke, TextBox, TextStyle

W, H, SAFE = 1080, 1920, 0.05
LONG = ("The quick brown fox jumps over the lazy dog while the video keeps rolling, "
        "and every word of this sentence must survive the trip through the line breaker.")
CJK = "视频渲染引擎会把文字先画成透明图片再叠加到画面上所以用户输入的内容永远不会进入滤镜字符串里面"


@pytest.fixture(scope="module")
def fonts() -> FontCatalog:
    return FontCatalog.discover(DEFAULT_FONT_DIRS)


@pytest.fixture(scope="module")
def cjk_fonts(fonts: FontCatalog) -> FontCatalog:
    if not any(is_cjk_family(f.family) for f in fonts.faces):
        pytest.skip("no CJK font installed (apt-get install fonts-noto-cjk); CJK glyph checks need one")
    return fonts


def render(text: str, style: TextStyle, fonts: FontCatalog, w: int = W, h: int = H, scale: float = 1.0,
           safe: float = SAFE) -> RenderedText:
    return render_text(text, style, canvas_w=w, canvas_h=h, scale=scale, safe=safe, fonts=fonts)


def loaded_font(fonts: FontCatalog, style: TextStyle, text: str, px: int) -> ImageFont.FreeTypeFont:
    return fonts.load(fonts.resolve(style.font, bold=style.bold, text=text), px)


def is_tight(image: Image.Image) -> bool:
    return image.getchannel("A").getbbox() == (0, 0, image.width, image.height)


def rgba(image: Image.Image, xy: tuple[int, int]) -> tuple[int, int, int, int]:
    r, g, b, a = image.getpixel(xy)  # type: ignore[misc]
    return (r, g, b, a)


def squash(text: str) -> str:
    return "".join(text.split())


# ---------------------------------------------------------------- fonts


def test_discovery_is_fast_and_finds_faces(fonts: FontCatalog) -> None:
    start = time.perf_counter()
    again = FontCatalog.discover(DEFAULT_FONT_DIRS)
    assert time.perf_counter() - start < 2.0
    assert again == fonts
    if not fonts.faces:
        pytest.skip("no fonts installed on this machine")
    assert all(f.path.suffix.lower() in (".ttf", ".otf", ".ttc", ".otc") for f in fonts.faces)


def test_collections_list_every_face(cjk_fonts: FontCatalog) -> None:
    ttc = [f for f in cjk_fonts.faces if f.path.suffix == ".ttc"]
    assert len({f.index for f in ttc}) > 1
    assert "Noto Sans CJK SC" in cjk_fonts.families() or any("CJK" in f for f in cjk_fonts.families())


def test_style_choice_prefers_upright_regular_and_bold(fonts: FontCatalog) -> None:
    if "DejaVu Sans" not in fonts.families():
        pytest.skip("DejaVu Sans is not installed")
    regular = fonts.resolve("dejavu sans", bold=False, text="Hi").face
    bold = fonts.resolve("DejaVu Sans", bold=True, text="Hi").face
    assert regular is not None and regular.family == "DejaVu Sans" and regular.style == "Book"
    assert bold is not None and bold.style == "Bold"


def test_generic_families_resolve(fonts: FontCatalog) -> None:
    if not fonts.faces:
        pytest.skip("no fonts installed")
    for family in ("sans", "serif", "mono"):
        choice = fonts.resolve(family, bold=False, text="Hi")
        assert choice.face is not None
        assert not any("not installed" in w for w in choice.warnings)


def test_unknown_family_falls_back_with_warning(fonts: FontCatalog) -> None:
    choice = fonts.resolve("Comic Sans Nowhere", bold=False, text="Hi")
    assert choice.face == fonts.resolve("sans", bold=False, text="Hi").face
    assert any("Comic Sans Nowhere" in w for w in choice.warnings)


PATH_LIKE = ["/etc/passwd", "../../x.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"]


@pytest.mark.parametrize("family", PATH_LIKE)
def test_family_is_never_opened_as_a_path(fonts: FontCatalog, family: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    real_truetype = ImageFont.truetype

    def spy(font: object, *args: object, **kwargs: object) -> ImageFont.FreeTypeFont:
        opened.append(str(font))
        return real_truetype(font, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ImageFont, "truetype", spy)
    choice = fonts.resolve(family, bold=False, text="Hi")
    assert any(family in w for w in choice.warnings)
    result = render("Hi", TextStyle(font=family), fonts)
    assert family not in opened
    assert result.image.getchannel("A").getbbox() is not None


def test_empty_catalog_uses_builtin_font(tmp_path: Path) -> None:
    empty = FontCatalog.discover([tmp_path, tmp_path / "missing"])
    assert empty.faces == ()
    choice = empty.resolve("sans", bold=True, text="Hi")
    assert choice.face is None
    assert any("no fonts found" in w and "fonts-noto-cjk" in w for w in choice.warnings)
    result = render("Hello gjpqy", TextStyle(stroke=Stroke(w=2)), empty)
    assert result.image.getchannel("A").getbbox() is not None and is_tight(result.image)
    assert any("no fonts found" in w for w in result.warnings)


def test_unreadable_font_files_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "broken.ttf").write_bytes(b"not a font")
    (tmp_path / "broken.ttc").write_bytes(b"ttcf\x00\x01\x00\x00\x00\x00\x00\x05junk")
    assert FontCatalog.discover([tmp_path]).faces == ()


def test_cjk_text_picks_a_cjk_face(cjk_fonts: FontCatalog) -> None:
    for family in ("sans", "serif", "mono", "DejaVu Sans"):
        choice = cjk_fonts.resolve(family, bold=False, text="Hello 你好")
        assert choice.face is not None and is_cjk_family(choice.face.family), family
        assert CJK_WARNING not in choice.warnings
    japanese = cjk_fonts.resolve("sans", bold=False, text="こんにちは").face
    assert japanese is not None and "JP" in japanese.family


def test_missing_cjk_font_warns(fonts: FontCatalog) -> None:
    latin = tuple(f for f in fonts.faces if not is_cjk_family(f.family))
    latin_only = FontCatalog(faces=latin, dirs=fonts.dirs)
    if not latin_only.faces:
        pytest.skip("no non-CJK fonts installed")
    choice = latin_only.resolve("sans", bold=False, text="你好")
    assert choice.face is not None and CJK_WARNING in choice.warnings
    assert CJK_WARNING not in latin_only.resolve("sans", bold=False, text="Hello").warnings


def test_cjk_glyphs_are_real_glyphs(cjk_fonts: FontCatalog) -> None:
    style = TextStyle(size=80)
    bitmaps = [render(ch, style, cjk_fonts).image.tobytes() for ch in ("中", "文", "\ue000")]
    assert all(any(b) for b in bitmaps[:2])
    assert len(set(bitmaps)) == 3  # two different glyphs, neither of them the .notdef box


# ---------------------------------------------------------------- wrapping


def test_wrap_rules_with_a_character_count() -> None:
    def fits(s: str) -> bool:
        return len(s) <= 7

    assert wrap("aaa bbb ccc", fits) == ["aaa bbb", "ccc"]
    assert wrap("  aaa   \n\nbbb  ", fits) == ["aaa", "", "bbb"]
    assert wrap("abcdefghijkl", fits) == ["abcdefg", "hijkl"]
    assert wrap("10\u00a0km to go", fits) == ["10\u00a0km", "to go"]
    assert wrap("中文中文中文中文。", lambda s: len(s) <= 4) == ["中文中文", "中文中", "文。"]
    assert all(not line.startswith("。") for line in wrap("中文中文。中文", lambda s: len(s) <= 4))


def test_long_latin_sentence_wraps_within_max_width(fonts: FontCatalog) -> None:
    style = TextStyle(size=64, stroke=Stroke(w=3), bg=TextBox(pad=20))
    result = render(LONG, style, fonts)
    font = loaded_font(fonts, style, LONG, result.font_px)
    max_w = (1 - 2 * SAFE) * W - 2 * 20 - 2 * 3
    assert len(result.lines) > 2
    assert all(font.getlength(line) <= max_w for line in result.lines)
    assert squash("".join(result.lines)) == squash(LONG)
    assert result.image.width <= (1 - 2 * SAFE) * W + 1


def test_maxw_narrows_the_lines(fonts: FontCatalog) -> None:
    style = TextStyle(size=48, maxw=0.4)
    result = render(LONG, style, fonts)
    font = loaded_font(fonts, style, LONG, result.font_px)
    assert all(font.getlength(line) <= 0.4 * W for line in result.lines)
    assert len(result.lines) > len(render(LONG, TextStyle(size=48), fonts).lines)


def test_cjk_sentence_without_spaces_wraps(cjk_fonts: FontCatalog) -> None:
    style = TextStyle(size=72)
    result = render(CJK, style, cjk_fonts)
    font = loaded_font(cjk_fonts, style, CJK, result.font_px)
    assert len(result.lines) > 2
    assert "".join(result.lines) == CJK
    assert all(font.getlength(line) <= (1 - 2 * SAFE) * W for line in result.lines)


def test_very_long_word_is_broken(fonts: FontCatalog) -> None:
    word = "Pneumonoultramicroscopicsilicovolcanoconiosis" * 3
    style = TextStyle(size=60)
    result = render(word, style, fonts)
    font = loaded_font(fonts, style, word, result.font_px)
    assert len(result.lines) > 1
    assert "".join(result.lines) == word
    assert all(font.getlength(line) <= (1 - 2 * SAFE) * W for line in result.lines)


# ---------------------------------------------------------------- positions


@pytest.mark.parametrize("pos", POSITIONS)
def test_named_positions_sit_in_the_safe_area(fonts: FontCatalog, pos: str) -> None:
    result = render("Hello gjpqy", TextStyle(pos=pos, stroke=Stroke(w=2)), fonts)
    left, top = result.x, result.y
    right, bottom = left + result.image.width, top + result.image.height
    mx, my = round(SAFE * W), round(SAFE * H)
    assert left >= mx - 1 and top >= my - 1 and right <= W - mx + 1 and bottom <= H - my + 1
    if pos.endswith("left"):
        assert abs(left - mx) <= 1
    elif pos.endswith("right"):
        assert abs(right - (W - mx)) <= 1
    else:
        assert abs((left + right) / 2 - W / 2) <= 1
    if pos.startswith("top"):
        assert abs(top - my) <= 1
    elif pos.startswith("bottom"):
        assert abs(bottom - (H - my)) <= 1
    else:
        assert abs((top + bottom) / 2 - H / 2) <= 1


def test_xy_anchor_places_the_named_point(fonts: FontCatalog) -> None:
    centred = render("Anchor", TextStyle(pos="center", x=0.5, y=0.25), fonts)
    assert abs(centred.x + centred.image.width / 2 - 0.5 * W) <= 1
    assert abs(centred.y + centred.image.height / 2 - 0.25 * H) <= 1
    corner = render("Anchor", TextStyle(pos="top-left", x=0.2, y=0.3), fonts)
    assert (corner.x, corner.y) == (round(0.2 * W), round(0.3 * H))
    low_right = render("Anchor", TextStyle(pos="bottom-right", x=0.9, y=0.8), fonts)
    assert low_right.x + low_right.image.width == round(0.9 * W)
    assert low_right.y + low_right.image.height == round(0.8 * H)


def test_xy_may_set_one_axis_only(fonts: FontCatalog) -> None:
    result = render("One axis", TextStyle(pos="bottom-left", x=0.1), fonts)
    assert result.x == round(0.1 * W)
    assert abs(result.y + result.image.height - (H - round(SAFE * H))) <= 1


def test_anchors_are_clamped_inside_the_canvas(fonts: FontCatalog) -> None:
    shadow = Shadow(x=8, y=8, blur=3)
    far = render("Clamped", TextStyle(pos="top-left", x=1.0, y=1.0, shadow=shadow), fonts)
    assert far.x + far.image.width == W and far.y + far.image.height == H
    near = render("Clamped", TextStyle(pos="bottom-right", x=0.0, y=0.0, shadow=shadow), fonts)
    assert (near.x, near.y) == (0, 0)
    edge = render("Clamped", TextStyle(pos="top-left", shadow=shadow), fonts, safe=0.0)
    assert edge.x >= 0 and edge.y >= 0


# ---------------------------------------------------------------- drawing


def test_descenders_are_not_clipped(fonts: FontCatalog) -> None:
    style = TextStyle(size=100, pos="top")
    low = render("gjpqy", style, fonts)
    flat = render("aaaaa", style, fonts)
    assert is_tight(low.image) and is_tight(flat.image)
    assert low.y + low.image.height - (flat.y + flat.image.height) >= 0.15 * low.font_px
    # Same glyphs drawn by Pillow alone on a roomy canvas: our crop must hold all of their ink.
    font = loaded_font(fonts, style, "gjpqy", low.font_px)
    roomy = Image.new("L", (1000, 400))
    ImageDraw.Draw(roomy).text((100, 250), "gjpqy", font=font, fill=255, anchor="ls")
    ink = roomy.getbbox()
    assert ink is not None
    assert abs((ink[3] - ink[1]) - low.image.height) <= 1 and abs((ink[2] - ink[0]) - low.image.width) <= 1


def test_stroke_reaches_the_edge_and_is_not_clipped(fonts: FontCatalog) -> None:
    plain = render("Ögjy", TextStyle(size=90), fonts)
    stroked = render("Ögjy", TextStyle(size=90, color="#FFFFFF", stroke=Stroke(color="#FF0000", w=6)), fonts)
    assert is_tight(stroked.image)
    assert stroked.image.width - plain.image.width >= 10 and stroked.image.height - plain.image.height >= 10
    image = stroked.image
    w, h = image.size
    edges = {"top": [(x, 0) for x in range(w)], "bottom": [(x, h - 1) for x in range(w)],
             "left": [(0, y) for y in range(h)], "right": [(w - 1, y) for y in range(h)]}
    for name, points in edges.items():
        r, g, _b, a = max((rgba(image, p) for p in points), key=lambda px: px[3])
        assert a > 0 and r > 200 and g < 60, f"the {name} edge must hold stroke pixels"


def test_shadow_is_drawn_offset_and_not_clipped(fonts: FontCatalog) -> None:
    plain = render("Shadow", TextStyle(size=80, pos="top-left"), fonts)
    shadow = Shadow(color="#0000FF", x=12, y=12, blur=4)
    shaded = render("Shadow", TextStyle(size=80, pos="top-left", shadow=shadow), fonts)
    assert is_tight(shaded.image)
    assert shaded.image.width >= plain.image.width + 12 and shaded.image.height >= plain.image.height + 12
    assert (shaded.x, shaded.y) == (plain.x, plain.y)  # the shadow does not move the text
    bottom = [rgba(shaded.image, (x, shaded.image.height - 1)) for x in range(shaded.image.width)]
    assert any(p[3] > 0 and p[2] == 255 and p[0] == 0 for p in bottom)


def test_box_uses_its_alpha(fonts: FontCatalog) -> None:
    style = TextStyle(size=60, bg=TextBox(color="#FF000080", pad=24, r=10), stroke=Stroke(w=2))
    result = render("Boxed text", style, fonts)
    assert is_tight(result.image)
    inside_pad = rgba(result.image, (12, result.image.height // 2))
    assert inside_pad == (255, 0, 0, 128)
    assert rgba(result.image, (0, 0))[3] < 128  # rounded corner


def test_text_colour_alpha_is_kept(fonts: FontCatalog) -> None:
    result = render("Half", TextStyle(size=80, color="#00FF0080"), fonts)
    assert result.image.getchannel("A").getextrema() == (0, 128)
    # Straight alpha: anti-aliased edges keep the text colour instead of fading to black.
    raw = result.image.tobytes()  # not getdata(): deprecated in Pillow 12, and we support 10.1+
    visible = [raw[i:i + 4] for i in range(0, len(raw), 4) if raw[i + 3] > 0]
    assert visible and all(p[0] <= 2 and p[1] >= 253 and p[2] <= 2 for p in visible)


def test_scale_multiplies_every_pixel_size(fonts: FontCatalog) -> None:
    small = TextStyle(size=40, stroke=Stroke(w=2), shadow=Shadow(x=3, y=3, blur=2), bg=TextBox(pad=8, r=6))
    big = TextStyle(size=80, stroke=Stroke(w=4), shadow=Shadow(x=6, y=6, blur=4), bg=TextBox(pad=16, r=12))
    doubled = render("Scale me", small, fonts, scale=2.0)
    direct = render("Scale me", big, fonts)
    base = render("Scale me", small, fonts)
    assert doubled.font_px == direct.font_px == 80 and base.font_px == 40
    assert doubled.image.size == direct.image.size
    assert abs(doubled.image.width - 2 * base.image.width) <= 4


def test_default_size_is_seven_percent_of_the_short_side(fonts: FontCatalog) -> None:
    assert render("Default", TextStyle(), fonts).font_px == round(0.07 * W)
    assert render("Default", TextStyle(), fonts, scale=3.0).font_px == round(0.07 * W)


def test_auto_shrink_fits_the_safe_area(fonts: FontCatalog) -> None:
    w, h = 320, 180
    result = render(LONG * 2, TextStyle(size=40, bg=TextBox(pad=4)), fonts, w=w, h=h)
    assert result.font_px < 40
    assert any("shrunk from 40 px" in note for note in result.warnings)
    mx, my = SAFE * w, SAFE * h
    assert result.image.height <= h - 2 * my + 1
    assert result.x >= mx - 1 and result.y >= my - 1
    assert result.x + result.image.width <= w - mx + 1 and result.y + result.image.height <= h - my + 1
    assert squash("".join(result.lines)) == squash(LONG * 2)


SPECIAL = ["' : \\ % { } [ ] ;", "textfile=/etc/passwd", "a'b\\c%d{e}f[g]h;i:j", "50% off; [x]", "%{pts}"]


@pytest.mark.parametrize("text", SPECIAL)
def test_special_characters_are_plain_text(fonts: FontCatalog, text: str) -> None:
    result = render(text, TextStyle(), fonts)
    assert result.image.getchannel("A").getbbox() is not None
    assert squash("".join(result.lines)) == squash(text)


def test_whitespace_only_text_renders_nothing(fonts: FontCatalog) -> None:
    result = render(" \n ", TextStyle(), fonts)
    assert result.image.size == (1, 1) and result.lines == ()


def test_same_input_same_bytes(fonts: FontCatalog) -> None:
    style = TextStyle(size=50, bold=True, stroke=Stroke(w=3), shadow=Shadow(), bg=TextBox(),
                      pos="bottom", align="left")
    text = LONG + "\n" + CJK
    first = render(text, style, fonts)
    second = render(text, style, FontCatalog.discover(DEFAULT_FONT_DIRS))
    assert first.image.tobytes() == second.image.tobytes()
    assert (first.x, first.y, first.font_px, first.lines, first.warnings) == (
        second.x, second.y, second.font_px, second.lines, second.warnings)


def test_font_choice_is_a_value() -> None:
    assert FontChoice(None, ("w",)) == FontChoice(None, ("w",))
