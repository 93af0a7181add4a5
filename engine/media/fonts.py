"""Font discovery and choice: which installed face draws a text overlay.

The family name in a draft comes from untrusted JSON, so it is only ever compared with the
names of faces found by scanning the configured font directories; it never becomes a path.
A :class:`FontCatalog` is an immutable value built once (per worker, per test module) and
passed down; there is no module-level cache.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from PIL import ImageFont

from engine.errors import RenderError

FONT_SUFFIXES: Final = (".ttf", ".otf", ".ttc", ".otc")
MAX_FACES_PER_FILE: Final = 16
CJK_WARNING: Final = (
    "no CJK font installed (on Debian: apt-get install fonts-noto-cjk); CJK characters may show as boxes"
)

# Linux's usual faces first, then macOS's (/System/Library/Fonts and its Supplemental folder).
GENERIC_FAMILIES: Final[dict[str, tuple[str, ...]]] = {
    "sans": ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans", "DejaVu Sans", "Liberation Sans",
             "FreeSans", "Helvetica Neue", "Helvetica", "Arial"),
    "serif": ("Noto Serif CJK SC", "Noto Serif", "DejaVu Serif", "Liberation Serif", "Times New Roman", "Times"),
    "mono": ("Noto Sans Mono CJK SC", "DejaVu Sans Mono", "Liberation Mono", "Menlo", "Courier New"),
}
_GENERIC_ALIASES: Final = {"sans": "sans", "sans-serif": "sans", "serif": "serif", "mono": "mono",
                           "monospace": "mono"}
# Used when the requested family cannot draw CJK and the text needs it.
_CJK_FALLBACKS: Final[dict[str, tuple[str, ...]]] = {
    "sans": ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei",
             "Droid Sans Fallback", "PingFang SC", "Hiragino Sans GB", "Heiti SC", "STHeiti"),
    "serif": ("Noto Serif CJK SC", "Noto Serif SC", "Source Han Serif SC", "Noto Sans CJK SC", "Songti SC",
              "STSong", "PingFang SC"),
    "mono": ("Noto Sans Mono CJK SC", "WenQuanYi Zen Hei Mono", "Noto Sans CJK SC", "PingFang SC"),
}
# Substrings of family names known to cover CJK; "cjk" catches the Noto/Source Han collections.
_CJK_FAMILY_MARKS: Final = ("cjk", "wenquanyi", "wqy", "droid sans fallback", "source han", "ar pl ",
                            "ipagothic", "ipamincho", "ipaexgothic", "ipaexmincho", "takao", "vl gothic",
                            "nanum", "baekmuk", "sarasa", "unifont",
                            # macOS's: PingFang, Hiragino, Heiti/Songti (and their ST names), Apple SD Gothic Neo
                            "pingfang", "hiragino", "heiti", "songti", "stsong", "stkaiti", "apple sd gothic",
                            "apple ligothic", "arial unicode")
_NOTO_REGIONAL: Final = re.compile(r"^noto (sans|serif)( mono)? (sc|tc|jp|kr|hk)$")

# Code point ranges treated as CJK: Han, kana, Hangul, Bopomofo, CJK punctuation, fullwidth forms.
_CJK_RANGES: Final = (
    (0x1100, 0x11FF), (0x2E80, 0x2FFF), (0x3000, 0x33FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF),
    (0xA960, 0xA97F), (0xAC00, 0xD7FF), (0xF900, 0xFAFF), (0xFE30, 0xFE4F), (0xFF00, 0xFFEF),
    (0x20000, 0x3FFFF),
)


def is_cjk(char: str) -> bool:
    """True for one character from a CJK script, CJK punctuation or the fullwidth forms."""
    code = ord(char)
    return any(lo <= code <= hi for lo, hi in _CJK_RANGES)


def has_cjk(text: str) -> bool:
    """True when any character of ``text`` needs a CJK-capable font."""
    return any(is_cjk(ch) for ch in text)


def is_cjk_family(family: str) -> bool:
    """True when the family is known to carry CJK glyphs (judged by name; fonts are not probed)."""
    name = family.casefold()
    return any(mark in name for mark in _CJK_FAMILY_MARKS) or bool(_NOTO_REGIONAL.match(name))


@dataclass(frozen=True, slots=True)
class FontFace:
    """One face: a file and, for .ttc/.otc collections, the face index inside it."""

    path: Path
    index: int
    family: str
    style: str


@dataclass(frozen=True, slots=True)
class FontChoice:
    """The face to draw with (None: Pillow's built-in font) and what the user should be told."""

    face: FontFace | None
    warnings: tuple[str, ...] = ()


def _norm(name: str) -> str:
    return " ".join(name.casefold().split())


def _style_penalty(style: str, bold: bool) -> int:
    """Lower is better. Slanted faces are worst, then the wrong weight, then light/condensed widths."""
    words = style.casefold()
    penalty = 0
    if "italic" in words or "oblique" in words:
        penalty += 1000
    is_bold = "bold" in words or "black" in words or "heavy" in words
    if bold != is_bold:
        penalty += 100
    if any(w in words for w in ("light", "thin", "hairline")):
        penalty += 50
    if any(w in words for w in ("condensed", "narrow", "compressed", "expanded")):
        penalty += 20
    if any(w in words for w in ("semi", "demi", "extra", "ultra", "black", "heavy")):
        penalty += 5  # "Bold" beats "ExtraBold"; "Regular" beats "SemiBold" when not bold
    if not bold and "medium" in words:
        penalty += 2
    return penalty


def _best_face(faces: Iterable[FontFace], bold: bool) -> FontFace:
    # Path and index break ties so that the choice never depends on directory listing order.
    return min(faces, key=lambda f: (_style_penalty(f.style, bold), str(f.path), f.index))


def _face_count(path: Path) -> int:
    """How many faces a file holds: a collection's header says so; other files hold one."""
    if path.suffix.lower() not in (".ttc", ".otc"):
        return 1
    with path.open("rb") as fh:
        head = fh.read(12)
    if len(head) < 12 or head[:4] != b"ttcf":
        return 1
    return max(1, min(int.from_bytes(head[8:12], "big"), MAX_FACES_PER_FILE))


def _font_files(dirs: Sequence[Path]) -> Iterator[Path]:
    """Every font file under ``dirs``, each once, following symlinked folders without looping."""
    seen_dirs: set[str] = set()
    seen_files: set[str] = set()
    for top in dirs:
        if not top.is_dir():
            continue
        for root, subdirs, files in os.walk(top, followlinks=True, onerror=lambda _exc: None):
            real = os.path.realpath(root)
            if real in seen_dirs:
                subdirs[:] = []
                continue
            seen_dirs.add(real)
            subdirs.sort()
            for name in sorted(files):
                if not name.lower().endswith(FONT_SUFFIXES):
                    continue
                path = Path(root, name)
                real_file = os.path.realpath(path)
                if real_file not in seen_files:
                    seen_files.add(real_file)
                    yield path


def _read_faces(path: Path) -> list[FontFace]:
    try:
        count = _face_count(path)
    except OSError:
        return []
    faces: list[FontFace] = []
    for index in range(count):
        try:
            family, style = ImageFont.truetype(str(path), size=12, index=index).getname()
        except (OSError, ValueError):
            break  # unreadable file or past the last face: keep what was read
        if family:
            faces.append(FontFace(path=path, index=index, family=family, style=style or "Regular"))
    return faces


@dataclass(frozen=True, slots=True)
class FontCatalog:
    """The faces installed under some directories; build it with :meth:`discover`."""

    faces: tuple[FontFace, ...]
    dirs: tuple[Path, ...] = ()

    @classmethod
    def discover(cls, dirs: Sequence[Path]) -> FontCatalog:
        """Scan ``dirs`` recursively for .ttf/.otf/.ttc/.otc files and read each face's name.

        Unreadable files are skipped silently: a broken font must not stop a render. Collections
        are counted from their header rather than probed until failure, so no file is opened
        more often than it has faces.
        """
        faces = [face for path in _font_files(dirs) for face in _read_faces(path)]
        return cls(faces=tuple(faces), dirs=tuple(dirs))

    def families(self) -> tuple[str, ...]:
        """The distinct family names, sorted."""
        return tuple(sorted({f.family for f in self.faces}))

    def _faces_of(self, family: str) -> list[FontFace]:
        key = _norm(family)
        return [f for f in self.faces if _norm(f.family) == key]

    def _first_present(self, families: Iterable[str]) -> list[FontFace]:
        for family in families:
            faces = self._faces_of(family)
            if faces:
                return faces
        return []

    def resolve(self, family: str, *, bold: bool, text: str) -> FontChoice:
        """Pick the face for ``text`` in ``family`` ("sans", "serif", "mono" or an installed name).

        Unknown names fall back to "sans" with a warning. When the text contains CJK characters
        and the chosen family cannot draw them, a CJK-capable face replaces it if one is installed;
        the CJK variant follows the script (kana: JP, Hangul: KR) since Han glyphs differ by region.
        """
        warnings: list[str] = []
        needs_cjk = has_cjk(text)
        if not self.faces:
            dirs = ", ".join(str(d) for d in self.dirs) or "(no directories)"
            warnings.append(f"no fonts found in {dirs}; using Pillow's built-in font "
                            "(install fonts-noto-cjk or fonts-dejavu)")
            if needs_cjk:
                warnings.append(CJK_WARNING)
            return FontChoice(None, tuple(warnings))

        generic = _GENERIC_ALIASES.get(_norm(family))
        faces = [] if generic else self._faces_of(family)
        if not generic and not faces:
            warnings.append(f"font family {family!r} is not installed; using sans")
            generic = "sans"
        if generic:
            faces = self._first_present(_localise(GENERIC_FAMILIES[generic], text))
            if not faces:
                faces = list(self.faces)
                found = _best_face(faces, bold).family
                warnings.append(f"none of the usual {generic} fonts is installed; using {found!r}")
        face = _best_face(faces, bold)

        if needs_cjk and not is_cjk_family(face.family):
            cjk = self._first_present(_localise(_CJK_FALLBACKS[generic or "sans"], text))
            cjk = cjk or [f for f in self.faces if is_cjk_family(f.family)]
            if not cjk:
                warnings.append(CJK_WARNING)
            else:
                replacement = _best_face(cjk, bold)
                if not generic:
                    warnings.append(f"{face.family!r} has no CJK glyphs; "
                                    f"using {replacement.family!r} for this text")
                face = replacement
        if bold and "bold" not in face.style.casefold():
            warnings.append(f"no bold face installed for {face.family!r}; using {face.style!r}")
        return FontChoice(face, tuple(warnings))

    def load(self, choice: FontChoice, size: int) -> ImageFont.FreeTypeFont:
        """Open the chosen face at ``size`` px; None means Pillow's built-in scalable font."""
        if choice.face is None:
            font = ImageFont.load_default(size=size)
            if not isinstance(font, ImageFont.FreeTypeFont):
                raise RenderError("Pillow was built without FreeType; text overlays need it")
            return font
        try:
            return ImageFont.truetype(str(choice.face.path), size=size, index=choice.face.index)
        except OSError as exc:
            face = choice.face
            raise RenderError(f"cannot load font {face.path} (face {face.index}): {exc}") from exc


def _localise(families: Sequence[str], text: str) -> tuple[str, ...]:
    """Put the regional CJK variant that suits the script first: kana -> JP, Hangul -> KR."""
    region = None
    if any(0x3040 <= ord(ch) <= 0x30FF for ch in text):
        region = "JP"
    elif any(0xAC00 <= ord(ch) <= 0xD7AF or 0x1100 <= ord(ch) <= 0x11FF for ch in text):
        region = "KR"
    if region is None:
        return tuple(families)
    out: list[str] = []
    for family in families:
        if family.endswith(" SC"):
            out.append(family[:-2] + region)
        out.append(family)
    return tuple(dict.fromkeys(out))
