"""Preparing the sentence before any handler reads it: quoted text set aside behind placeholders, NFKC and
lower case, Chinese and English number words to digits, and typo correction to the nearest keyword."""

from __future__ import annotations

import difflib
import re
import unicodedata
from typing import Final

from api.agent.understand.defaults import MAX_CHARS
from api.agent.understand.model import _Context

_PH_BASE: Final = 0xE000
_MAX_QUOTES: Final = 256
_PLACEHOLDER: Final = re.compile("[\ue000-\ue0ff]")


def _quote(ctx: _Context, mark: str) -> str:
    return ctx.quotes[ord(mark) - _PH_BASE]


_QUOTED: Final = re.compile(
    r"“(?P<a>[^”]+)”|‘(?P<b>[^’]+)’|「(?P<c>[^」]+)」|『(?P<d>[^』]+)』|《(?P<e>[^》]+)》|«(?P<f>[^»]+)»"
    r"|„(?P<g>[^“”]+)[“”]|\"(?P<h>[^\"]+)\"|(?<!\w)'(?P<i>[^']+?)'(?!\w)")
_UNQUOTED_TEXT: Final = re.compile(
    r"(?i)(?:\b(?:titled|saying|that\s+says|which\s+says|that\s+reads)\s+"
    r"|\b(?:title|caption|text|subtitle|heading|headline|label)\s*[:：]\s*"
    r"|(?:标题|字幕|文字|文案|文本)\s*(?:是|为|写着|内容是|[:：])\s*)"
    r"(?P<t>[^\s,.;!?，。；！？\"“”「」『』《》\ue000-\ue0ff][^,.;!?，。；！？\"“”「」『』《》\ue000-\ue0ff\n]*?)"
    r"(?=\s*(?:$|[,.;!?，。；！？\n])|\s+(?:at|in|on|for|from|with|and)\s|放在|放到|位于|显示在)")
_PUNCT: Final = str.maketrans({"。": ",", "、": ",", "’": "'", "‘": "'", "–": "-", "—": "-", "−": "-",
                               "·": " ", "…": " ", "／": "/"})
_CJK_ASCII: Final = re.compile(r"(?<=[\u3400-\u9fff])(?=[a-z0-9#%\ue000-\ue0ff])"
                               r"|(?<=[a-z0-9%\ue000-\ue0ff])(?=[\u3400-\u9fff])")
_ZH_DIGITS: Final = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
                     "九": 9}
_ZH_NUMERAL: Final = re.compile(r"[零一二两三四五六七八九十百]+")
_ZH_PERCENT: Final = re.compile(r"百分之\s*([零一二两三四五六七八九十百]+|\d+(?:\.\d+)?)")
_NUMBER_WORDS: Final = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40,
    "fifty": 50, "sixty": 60, "ninety": 90, "hundred": 100,
}
_EN_NUMBER: Final = re.compile(r"\b(twenty|thirty|forty|fifty)[\s-](one|two|three|four|five|six|seven|eight|nine)\b"
                               r"|\b(" + "|".join(_NUMBER_WORDS) + r")\b")
_HALVES: Final = (
    (re.compile(r"(\d+)\s+and\s+a\s+half\b"), r"\1.5"),
    (re.compile(r"\bhalf\s+an?\s+(second|minute)\b|\ba\s+half\s+(second|minute)\b"), r"0.5 \1\2"),
    (re.compile(r"(\d+)\s*秒半"), r"\1.5秒"),
    (re.compile(r"(?<![\d.])半\s*秒"), "0.5秒"),
    (re.compile(r"(?<![\d.])半\s*分钟"), "30秒"),
)
_WORD: Final = re.compile(r"[a-z]+")


def _zh_value(numeral: str) -> int:
    """十五 → 15, 二十 → 20, 一百二十 → 120, 三 → 3."""
    total, current = 0, 0
    for ch in numeral:
        if ch == "百":
            total, current = total + (current or 1) * 100, 0
        elif ch == "十":
            total, current = total + (current or 1) * 10, 0
        else:
            current = current * 10 + _ZH_DIGITS[ch]
    return total + current


def _prepare(text: str) -> tuple[tuple[str, ...], str]:
    """Quoted texts, and the sentence normalised with each quote replaced by its placeholder."""
    quotes: list[str] = []

    def set_aside(m: re.Match[str]) -> str:
        content = (m.group(m.lastgroup or 0) or "").strip()
        if not content or len(quotes) >= _MAX_QUOTES:
            return m.group(0)
        quotes.append(content)
        return f" {chr(_PH_BASE + len(quotes) - 1)} "

    s = _QUOTED.sub(set_aside, text[:MAX_CHARS].replace("＂", '"').replace("＇", "'"))
    s = _UNQUOTED_TEXT.sub(lambda m: m.group(0)[: m.start("t") - m.start()] + set_aside(m), s)
    s = unicodedata.normalize("NFKC", s).lower().translate(_PUNCT)
    s = _ZH_PERCENT.sub(lambda m: f"{_zh_value(m[1]) if m[1][0] in _ZH_DIGITS or m[1][0] in '十百' else m[1]}%", s)
    s = _ZH_NUMERAL.sub(lambda m: str(_zh_value(m.group())), s)
    s = _CJK_ASCII.sub(" ", s)
    s = _WORD.sub(lambda m: _correct(m.group()), s)
    s = _EN_NUMBER.sub(_number_word, s)
    for pattern, replacement in _HALVES:
        s = pattern.sub(replacement, s)
    return tuple(quotes), " ".join(s.split())


def _number_word(m: re.Match[str]) -> str:
    if m[1]:
        return str(_NUMBER_WORDS[m[1]] + _NUMBER_WORDS[m[2]])
    return str(_NUMBER_WORDS[m[3]])


def _correct(word: str) -> str:
    """A keyword for a word of 5+ letters one typo away from it ("loopin" → "looping"), else the word.

    The first letter must agree, and a plural is never made from a singular ("short" is not "shorts").
    """
    if len(word) < 5 or word in _VOCAB:
        return word
    close = difflib.get_close_matches(word, _VOCAB_LIST, n=1, cutoff=0.85)
    if not close:
        return word
    keyword = close[0]
    if keyword[0] != word[0] or keyword.rstrip("s") == word.rstrip("s"):
        return word
    return keyword


# Keywords for typo correction: every 5+ letter word the handlers' patterns look for, and plain words near one.
_VOCAB: Final = frozenset("""
    above after album animated audio background backward backwards balance banner banners beginning between
    bigger black boomerang bottom brown caption captions center centered centre centred change circle clips
    clock close closing colour color commercial commercials compress compressed compression convert create
    credit credits crossfade crossfades cyan decrease delete dissolve dissolves display double download eight
    eighteen eleven endless endlessly ending export extract faster fifteen fifty final first flash footage
    forever forty forward forwards fourteen frame frames framerate golden grayscale greyscale green header
    heading headings headline headlines highlight highlights horizontal horizontally hundred image images
    include increase initial insert instagram intro isolate label labels landscape large larger later layout
    left letterbox letterboxed letters lightweight lower looping loops louder magenta marketing maximum medium
    middle milliseconds minute minutes montage motion movement movie movies music ninety nineteen normal
    opening orange orientation original outro overlay overlays photo photograph photographs photos picture
    pictures pixel pixelate pixelated pixelize pixels playback portrait preserve promo promos promotion
    promotional purple quality quarter quicker quiet quieter radial raise record recording recordings reduce
    reels regular remove repeat repeating repeats resolution revert reverse reversed reverses right screen
    screenshot screenshots second seconds seven seventeen short shorten shorter shorts shrink silence silent
    silently silver sixteen sixty slide slides slideshow slideshows slower slowly small smaller smallest
    smooth snapchat softer song songs sound soundtrack speed speedup square start starting static status still
    stills stories story stretch stretched subtitle subtitles thirteen thirty three through tiktok title
    titled titles track tracks transition transitions twelve twenty twice upload uploading upper vertical
    vertically video videos voice volume webm white wider widescreen width window without words yellow
    youtube zoom zooming
    across advertisements adverts below boost build burns cancel canvas clear collage cropping cross displayed
    ditch douyin downward downwards effect erase every exceed fadegrays fades files films footer format forth
    front generate hblur inside kilobytes lasting lasts limit logos lowest megabytes millisecs msecs never
    noise output paintings placed plays positioned possible ratio reads result saying scenes shave shots shown
    shows single strip style texts third timeline times tunes under until upward upwards using version views
    which whole wipes within write
""".split())
_VOCAB_LIST: Final = sorted(_VOCAB)
