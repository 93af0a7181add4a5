"""Reading the prepared sentence by position: the clause around a word, spans blanked once a handler has
used them, and searches limited to regions; and, for clause accounting, the requests a message is made of and
the user's own words for each."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from difflib import SequenceMatcher
from typing import Final

from api.agent.understand.model import Span

# Clause ends: a comma, "and"/"then" (not "between 2 and 5"), 然后 ...
_BOUNDARY: Final = re.compile(r"[,;!?]|(?<!\d)\.|\.(?!\d)|\s(?:and\s+then|then|and|also|plus)\s(?!\s*\d)"
                              r"|然后|并且|接着|同时|再|还要|另外")
# Where one request ends and the next begins (clause accounting): _BOUNDARY, and also "then 2x", "dragon and 2x"
# (only a number on both sides of "and" is one range: "between 1 and 4"; not "5 and 2x", a factor is no range end).
_REQUEST_END: Final = re.compile(
    r"[,;!?\n]|(?<!\d)\.|\.(?!\d)|\s(?:and\s+then|then|also|plus|as\s+well\s+as)\s"
    r"|(?<![\d%])\sand\s(?!a\s+half\b)|\sand\s(?!\s*\d|a\s+half\b)|\sand\s(?=\d+(?:\.\d+)?\s*(?:x|×|倍|%)(?!\w))|然后|并且|接着|同时|(?<![一两\d])再|还要|另外|以及|还有|之后再")


def _blank(s: str, spans: Iterable[Span]) -> str:
    """The string with these spans turned into spaces (positions stay where they were)."""
    chars = list(s)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def _clause(s: str, pos: int) -> Span:
    """The clause around ``pos``: between the boundaries before and after it."""
    start, end = 0, len(s)
    for b in _BOUNDARY.finditer(s):
        if b.end() <= pos:
            start = b.end()
        elif b.start() >= pos:
            end = b.start()
            break
    return start, end


def _next_clause(s: str, end: int) -> Span | None:
    """The clause after the one that ends at ``end`` (None when it is the last)."""
    b = _BOUNDARY.search(s, end)
    return _clause(s, b.end()) if b else None


def _search(pattern: re.Pattern[str], s: str, regions: Iterable[Span]) -> re.Match[str] | None:
    """The first match in the first region that has one."""
    for start, end in regions:
        if start < end and (m := pattern.search(s, start, end)):
            return m
    return None


def _requests(s: str) -> list[Span]:
    """The requests of a prepared sentence, in order: the non-blank stretches between request ends."""
    spans: list[Span] = []
    start = 0
    for b in [*_REQUEST_END.finditer(s), None]:
        end = b.start() if b else len(s)
        while start < end and s[start].isspace():
            start += 1
        stop = end
        while stop > start and s[stop - 1].isspace():
            stop -= 1
        if start < stop:
            spans.append((start, stop))
        if b:
            start = b.end()
    return spans


_FOLD: Final = str.maketrans({"。": ",", "、": ",", "’": "'", "‘": "'", "–": "-", "—": "-", "−": "-"})
_EDGE: Final = re.compile(r"^(?:[\s,.;:!?，。、；：！？…\-]|and\b|then\b|also\b|plus\b|然后|并且|再)+"
                          r"|(?:[\s,.;:!?，。、；：！？…\-]|\band|\bthen)+$", re.IGNORECASE)


_ALIGN_MAX: Final = 800


class _Words:
    """The user's own words for a stretch of the prepared sentence.

    The prepared sentence differs from the message (case, NFKC, number words as digits, typos corrected), so
    the two are aligned character by character (``difflib``), with each quote placeholder read as its text: a
    stretch maps to the message from its first to its last character that both share, widened over the unshared
    text around it.
    """

    def __init__(self, text: str, s: str, quotes: tuple[str, ...], base: int) -> None:
        self.text, self.s = text, ""
        self._at: list[int] = []                          # position in self.s of each character of s
        for ch in s:
            self._at.append(len(self.s))
            k = ord(ch) - base
            self.s += _fold(quotes[k]) if 0 <= k < len(quotes) and ch >= chr(base) else ch
        self._at.append(len(self.s))
        self._blocks: list[tuple[int, int, int]] | None = None
        self._index: list[int] = []

    def _align(self) -> list[tuple[int, int, int]]:
        if self._blocks is None:
            folded: list[str] = []
            for i, ch in enumerate(self.text):
                for c in _fold(ch):
                    folded.append(c)
                    self._index.append(i)
            matcher = SequenceMatcher(None, self.s, "".join(folded), autojunk=False)
            self._blocks = [(i, j, n) for i, j, n in matcher.get_matching_blocks() if n]
        return self._blocks

    def of(self, span: Span) -> str:
        """The message's words for ``span`` of the prepared sentence ("" when nothing lines up, or when the message
        is longer than :data:`_ALIGN_MAX`: aligning costs the product of the two lengths)."""
        if len(self.s) > _ALIGN_MAX or len(self.text) > 2 * _ALIGN_MAX:
            return ""
        a, b = self._at[span[0]], self._at[span[1]]
        blocks = self._align()
        first = next((k for k, (i, _, n) in enumerate(blocks) if i + n > a), None)
        last = next((k for k in range(len(blocks) - 1, -1, -1) if blocks[k][0] < b), None)
        if first is None or last is None:
            return ""
        i, j, _ = blocks[first]
        start = j + (a - i)
        if i > a or (i == a and (first == 0 or not self.s[sum(blocks[first - 1][::2]):i].strip())):
            start = sum(blocks[first - 1][1:]) if first else 0         # and the unshared text before it
        i, j, n = blocks[last]
        stop = j + (b - i)
        if b > i + n or (b == i + n and (last + 1 == len(blocks) or not self.s[b:blocks[last + 1][0]].strip())):
            stop = blocks[last + 1][1] if last + 1 < len(blocks) else len(self._index)
        if stop <= start:
            return ""
        words = self.text[self._index[start]:self._index[stop - 1] + 1]
        return _EDGE.sub("", words).strip()


def _fold(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", ch).lower().translate(_FOLD) for ch in text)
