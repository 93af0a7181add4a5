"""Reading the prepared sentence by position: the clause around a word, spans blanked once a handler has
used them, and searches limited to regions."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from api.agent.understand.model import Span

# Clause ends: a comma, "and"/"then" (not "between 2 and 5"), 然后 ...
_BOUNDARY: Final = re.compile(r"[,;!?]|(?<!\d)\.|\.(?!\d)|\s(?:and\s+then|then|and|also|plus)\s(?!\s*\d)"
                              r"|然后|并且|接着|同时|再|还要|另外")


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


def _search(pattern: re.Pattern[str], s: str, regions: Iterable[Span]) -> re.Match[str] | None:
    """The first match in the first region that has one."""
    for start, end in regions:
        if start < end and (m := pattern.search(s, start, end)):
            return m
    return None
