"""Times said in a sentence: the patterns that find them ("0:05", "00:01:30", "2.5s", "1500ms", "3 秒") and their
value in milliseconds. Words are turned into these forms before ("a minute and a half" → "1.5 minutes",
"一分半" → "90秒"; :mod:`sentence`)."""

from __future__ import annotations

import re
from typing import Final

_NUM: Final = r"\d+(?:\.\d+)?"
_UNIT: Final = r"(?:milliseconds?|millisecs?|msecs?|ms|毫秒|minutes?|mins?|分钟|seconds?|secs?|s|秒)"
_CLOCK: Final = r"(?:\d{1,2}:)?\d{1,2}:\d{2}(?:\.\d+)?"        # m:ss or h:mm:ss


def _time(name: str, unit: bool = True) -> str:
    """A time in group ``name``: a clock (0:05) or a number with its unit; unit=False allows a bare number."""
    optional = "" if unit else "?"
    return (rf"(?P<{name}>(?<![\d.:]){_CLOCK}(?![\d:])"
            rf"|(?<![\d.:]){_NUM}(?!\d)(?:\s*-?\s*{_UNIT}(?![a-z])){optional})")


_CLOCK_FULL: Final = re.compile(r"(?:(\d{1,2}):)?(\d{1,2}):(\d{2}(?:\.\d+)?)")
_TIME_FULL: Final = re.compile(rf"({_NUM})\s*-?\s*({_UNIT})?")
_ENDS_IN_UNIT: Final = re.compile(r"[a-z秒钟]\s*$")


def _ms(text: str, default_unit_ms: int = 1000) -> int:
    """Milliseconds from a time a pattern matched ("0:05", "00:00:02", "2.5s", "1500ms", "3 秒", "3")."""
    text = text.strip()
    if clock := _CLOCK_FULL.fullmatch(text):
        return round(((int(clock[1] or 0) * 60 + int(clock[2])) * 60 + float(clock[3])) * 1000)
    number = _TIME_FULL.fullmatch(text)
    if number is None:
        return 0
    return round(float(number[1]) * (_unit_ms(number[2]) if number[2] else default_unit_ms))


def _unit_ms(unit: str) -> int:
    if unit == "毫秒" or unit.startswith(("ms", "milli", "msec")):
        return 1
    if unit == "分钟" or unit.startswith("min"):
        return 60_000
    return 1000


def _has_unit(text: str) -> bool:
    return ":" in text or bool(_ENDS_IN_UNIT.search(text))


def _unit_ms_of(text: str) -> int:
    """The unit of a matched time, to lend to a bare number beside it ("2-5s")."""
    if ":" in text:
        return 1000
    unit = _TIME_FULL.fullmatch(text.strip())
    return _unit_ms(unit[2]) if unit and unit[2] else 1000


_LONE_TIME: Final = re.compile(_time("t"))
_NOT_LONE_BEFORE: Final = re.compile(r"(?:first|last|final|per|each|every|from|to|between|at|by"
                                     r"|前|后|最后|每张?|从|第)\s*$")
_NOT_LONE_AFTER: Final = re.compile(r"\s*(?:(?:to|and|per|each|off|from|a|of)\b|-|到|至|前|后|每)")


def _lone_time(s: str, start: int = 0, end: int | None = None) -> re.Match[str] | None:
    """A length said on its own ("a 30-second video", "10秒的视频"), not part of a range."""
    for m in _LONE_TIME.finditer(s, start, len(s) if end is None else end):
        if _has_unit(m["t"]) and ":" not in m["t"] and not _NOT_LONE_BEFORE.search(s, max(0, m.start() - 12),
                                                                                    m.start()):
            if not _NOT_LONE_AFTER.match(s, m.end()):
                return m
    return None
