"""The rules planner: one chat sentence (English or Chinese) to the edit ops it asks for, with no model.

:func:`understand` reads a sentence in three steps:

1. **Prepare.** Quoted text (``'…'``, ``"…"``, ``“…”``, ``「…」``, ``『…』``, ``《…》``, and the unquoted
   forms ``title: Hi`` / ``saying Hi`` / ``标题是Hi``) is set aside and replaced by a placeholder, so that
   words inside a title never count as commands. The rest is NFKC-folded and lower-cased; Chinese and
   English number words become digits (``三`` → 3, ``十五`` → 15, ``three`` → 3, ``两秒半`` → 2.5秒);
   a word of 5+ letters that is one typo away from a keyword becomes that keyword (``loopin``, ``vertica``).
2. **Find.** Handlers run in a fixed order (:data:`_HANDLERS`). Each looks for its own phrases, returns
   the ops it found with their positions, and blanks the words it used, so later handlers do not read
   them again (a title's "for the first 3 seconds" is not also a trim).
3. **Arrange.** Builders (``promo``, ``slideshow``, ``still_clip``) run first, then the edits in the order
   the sentence says them, then the read-only ops (``show_tracks``, ``pointer``).

Choices where the sentence says less than an op needs (the tools apply their own defaults to ``None``):

- "cut the start" / "trim the end" with no number: :data:`DEFAULT_TRIM_MS` (1 s).
- "speed up" / "faster": x :data:`FASTER` (1.5); "slow down" / "slower": x :data:`SLOWER` (0.75);
  "slow motion" / "慢动作": x :data:`SLOW_MOTION` (0.5). Factors outside 0.25 … 4 are clamped.
- Music fades: none unless asked; "fade in" / "fade out" with no length: :data:`FADE_IN_MS` (1 s) and
  :data:`FADE_OUT_MS` (2 s). Volume only when asked: "30%" → 0.3; "quieter" → :data:`QUIETER` (0.2),
  "louder" → :data:`LOUDER` (0.6). A fade or volume with "add"/"use"/"with music" is ``add_music``, without
  it ``set_music`` (the facts do not say whether music is there already).
- ``add_music`` takes the uploaded audio named in the sentence, else the last one uploaded, else
  ``media_id=None`` (the built-in bed). With a promo, which brings its own music, no ``add_music``.
- ``mute`` drops the music too, unless the sentence also adds music or says "original sound"/"原声".
- "keep the last 3 seconds" is ``keep_end(3000)``; "the first second" / "the last second" is 1 s.
- "a 10-second clip" describes the input, not a cut: it becomes ``keep_range(0, 10000)`` only when the
  timeline is known to be longer; "trim/cut/shorten it to 10 seconds" always does.
- "trim" with a range ("trim from 2s to 5s") keeps it; "trim the first 2 seconds" removes it.
- Images to video: ``slideshow`` when there are (or the sentence names) several pictures, else
  ``still_clip``; ``promo`` when the sentence says promo/promotional/ad/commercial/marketing/宣传/广告.
- Text size: "big"/"large"/"大字" → :data:`BIG_TEXT` (120), "small"/"小字" → :data:`SMALL_TEXT` (48), or the
  number said. "change the title to 'X'" is ``remove_text`` then ``add_text``.
- "fade in"/"fade out" always mean the music (there is no op that fades the picture).
- ``slideshow`` has no motion or transition length: a motion word is dropped there, and a length said
  with the transition adds a ``set_transition`` after it.
- A fill mode ("crop to fill") is only used together with an aspect (``set_aspect`` needs one).
- Only the first :data:`MAX_CHARS` characters are read.

Anything else yields no ops; the caller then replies with :func:`examples_text`.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from api.agent.ops import Op, make_op

DEFAULT_TRIM_MS: Final = 1000
FASTER: Final = 1.5
SLOWER: Final = 0.75
SLOW_MOTION: Final = 0.5
FADE_IN_MS: Final = 1000
FADE_OUT_MS: Final = 2000
QUIETER: Final = 0.2
LOUDER: Final = 0.6
BIG_TEXT: Final = 120.0
SMALL_TEXT: Final = 48.0
MAX_CHARS: Final = 2000          # longer messages are read up to here


@dataclass(frozen=True, slots=True)
class MediaFacts:
    """What the session has; the planner needs it to resolve "this clip", "the song"."""

    videos: int = 0
    images: int = 0
    audios: tuple[tuple[str, str], ...] = ()   # (media_id, filename) of uploaded audio files, upload order
    timeline_ms: int | None = None             # current timeline length, when a draft exists


@dataclass(frozen=True, slots=True)
class Understanding:
    ops: list[Op]                  # empty when nothing was understood
    language: str                  # "en" or "zh" (zh when the text has CJK characters)
    not_understood: bool           # True: ops is empty; the caller replies with examples_text(language)


Span = tuple[int, int]


@dataclass(frozen=True, slots=True)
class _Found:
    pos: int                       # where the sentence asks for it (orders the edits)
    op: Op


@dataclass(frozen=True, slots=True)
class _Context:
    facts: MediaFacts
    quotes: tuple[str, ...]        # quoted texts; placeholder i stands for quotes[i]
    raw: str                       # the original sentence, lower-cased (file names)
    promo: bool                    # the sentence asks for a promo


_Result = tuple[list[_Found], list[Span]]

# ---------------------------------------------------------------- shared patterns

_CJK: Final = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_PH_BASE: Final = 0xE000
_MAX_QUOTES: Final = 256
_PLACEHOLDER: Final = re.compile("[\ue000-\ue0ff]")

_NUM: Final = r"\d+(?:\.\d+)?"
_UNIT: Final = r"(?:milliseconds?|millisecs?|msecs?|ms|毫秒|minutes?|mins?|分钟|seconds?|secs?|s|秒)"
_CLOCK: Final = r"\d{1,2}:\d{2}(?:\.\d+)?"


def _time(name: str, unit: bool = True) -> str:
    """A time in group ``name``: a clock (0:05) or a number with its unit; unit=False allows a bare number."""
    optional = "" if unit else "?"
    return (rf"(?P<{name}>(?<![\d.:]){_CLOCK}(?![\d:])"
            rf"|(?<![\d.:]){_NUM}(?!\d)(?:\s*-?\s*{_UNIT}(?![a-z])){optional})")


_CLOCK_FULL: Final = re.compile(r"(\d{1,2}):(\d{2}(?:\.\d+)?)")
_TIME_FULL: Final = re.compile(rf"({_NUM})\s*-?\s*({_UNIT})?")
_ENDS_IN_UNIT: Final = re.compile(r"[a-z秒钟]\s*$")

# Clause ends: a comma, "and"/"then" (not "between 2 and 5"), 然后 ...
_BOUNDARY: Final = re.compile(r"[,;!?]|(?<!\d)\.|\.(?!\d)|\s(?:and\s+then|then|and|also|plus)\s(?!\s*\d)"
                              r"|然后|并且|接着|同时|再|还要|另外")
# A clause that goes on describing a title: ", at the top", "and in red", "，放在顶部".
_CONTINUES: Final = re.compile(
    r"\s*(?:(?:and\s+)?(?:in|at|on|for|from|with|using|size|font|(?:color|colour)|big|bigger|large|small|tiny|bold|"
    r"placed|positioned|shown|displayed|starting|lasting)\b|放在|放到|位于|在|用|颜色|字号|字体|显示|持续|从|大小|"
    r"[红白黑黄绿蓝橙紫粉灰金]色|居中|加粗)")


def _ms(text: str, default_unit_ms: int = 1000) -> int:
    """Milliseconds from a time a pattern matched ("0:05", "2.5s", "1500ms", "3 秒", "3")."""
    text = text.strip()
    if clock := _CLOCK_FULL.fullmatch(text):
        return round((int(clock[1]) * 60 + float(clock[2])) * 1000)
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


def _quote(ctx: _Context, mark: str) -> str:
    return ctx.quotes[ord(mark) - _PH_BASE]


# ---------------------------------------------------------------- prepare

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


# ---------------------------------------------------------------- session: status, undo, pointers

_SESSION: Final[tuple[tuple[re.Pattern[str], str, dict[str, str]], ...]] = (
    (re.compile(r"\bundo\b|\brevert\b|\bgo\s+back\b|\btake\s+(?:that|it)\s+back\b|\bcancel\s+(?:that|the\s+last)"
                r"|撤销|撤回|回退|返回上一步|上一步"), "undo", {}),
    (re.compile(r"\b(?:show|list|see|view)\s+(?:me\s+)?(?:the\s+|my\s+)?(?:tracks?|timeline)\b|\bstatus\b"
                r"|\bwhat(?:'s|\s+is)\s+(?:on|in)\s+(?:the\s+|my\s+)?timeline\b|\bwhat\s+tracks\b"
                r"|状态|(?<![频乐])轨道|(?<![在])时间线"), "show_tracks", {}),
    (re.compile(r"\bexport\b|\bdownload\b|\bsend\s+(?:me\s+)?(?:the\s+|my\s+)?(?:video|file|gif|result|it)\b"
                r"|\bgive\s+me\s+the\s+(?:file|video|gif)\b|导出|(?<!可)下载|发给我"), "pointer", {"topic": "export"}),
    (re.compile(r"\bcredits?\b|\bbalance\b|积分|余额|点数"), "pointer", {"topic": "credits"}),
    (re.compile(r"\bupload(?:ing)?\b|上传"), "pointer", {"topic": "upload"}),
)


def _find_session(s: str, ctx: _Context) -> _Result:
    found: list[_Found] = []
    spans: list[Span] = []
    for pattern, name, args in _SESSION:
        matches = list(pattern.finditer(s))
        if matches:
            found.append(_Found(matches[0].start(), make_op(name, **args)))
            spans += [m.span() for m in matches]
    return found, spans


# ---------------------------------------------------------------- aspect

_NOT_A_SHAPE: Final = r"(?!\s+(?:images?|photos?|pictures?|pics?|shots?|paintings?|photographs?|of|scenes?|views?)\b)"
_SHAPE_NOUN: Final = r"(?=\s+(?:video|mode|format|orientation|version|clip|gif|ratio|size|frame|layout))"
_ASPECTS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (re.compile(r"(?<![\d:.])16\s*(?::|x|by|比)\s*9(?![\d:])"), "16:9"),
    (re.compile(r"(?<![\d:.])9\s*(?::|x|by|比)\s*16(?![\d:])"), "9:16"),
    (re.compile(r"(?<![\d:.])1\s*(?::|x|by|比)\s*1(?![\d:])"), "1:1"),
    (re.compile(r"(?<![\d:.])4\s*(?::|x|by|比)\s*5(?![\d:])"), "4:5"),
    (re.compile(r"\b(?:tik\s?tok|reels|shorts|stories|douyin|snapchat)\b|\binstagram\s+(?:reels?|stor(?:y|ies))\b"
                r"|\bvertical(?:ly)?\b|抖音|快手|竖屏|竖版|竖向|竖着|竖的|改成竖"), "9:16"),
    (re.compile(rf"\bportrait{_SHAPE_NOUN}|(?<!this )(?<!that )(?<!my )(?<!the )(?<!a )\bportrait\b{_NOT_A_SHAPE}"),
     "9:16"),
    (re.compile(r"\binstagram\s+(?:portrait|feed)\b"), "4:5"),
    (re.compile(r"\bsquare\b|\binstagram(?:\s+post)?\b|正方形|方形|方屏"), "1:1"),
    (re.compile(r"\b(?:youtube|wide\s*screen|horizontal(?:ly)?)\b|横屏|横版|横向|宽屏"), "16:9"),
    (re.compile(rf"\blandscape{_SHAPE_NOUN}|(?<!this )(?<!that )(?<!my )(?<!the )(?<!a )\blandscape\b{_NOT_A_SHAPE}"),
     "16:9"),
)
_FITS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (re.compile(r"\b(?:fill\s+(?:the\s+)?(?:whole\s+)?(?:frame|screen|canvas)|crop\s+(?:it\s+)?to\s+(?:fill|fit)"
                r"|zoom\s+to\s+fill|no\s+black\s+bars|without\s+black\s+bars)\b"
                r"|填满|铺满|裁剪填充|不要黑边|去掉黑边"), "cover"),
    (re.compile(r"\b(?:letterbox(?:ed)?|black\s+bars|fit\s+(?:inside|within|in\s+the\s+frame)|don't\s+crop|no\s+crop"
                r"(?:ping)?|without\s+cropping)\b|加黑边|不裁剪|完整显示"), "contain"),
    (re.compile(r"\bstretch(?:ed)?\b|拉伸"), "stretch"),
)


def _find_aspect(s: str, ctx: _Context) -> _Result:
    spans: list[Span] = []
    aspect: tuple[int, str] | None = None
    for pattern, name in _ASPECTS:
        for m in pattern.finditer(s):
            spans.append(m.span())
            aspect = aspect or (m.start(), name)
    if aspect is None:
        return [], []
    args = {"aspect": aspect[1]}
    for pattern, fit in _FITS:
        if said := pattern.search(s):
            args["fit"] = fit
            spans.append(said.span())
            break
    return [_Found(aspect[0], make_op("set_aspect", **args))], spans


# ---------------------------------------------------------------- promo

_PROMO: Final = re.compile(
    r"\b(?:promos?|promotional|promotion|adverts?|advertisements?|commercials?|marketing)\b"
    r"|\bads?\b(?!\s+(?:some|a|an|the|music|bgm|text|titles?|captions?|subtitles?|transitions?|songs?)\b)"
    r"|宣传|广告|推广")
_CLOSING: Final = re.compile(r"\b(?:closing|ending|outro|end\s+(?:card|screen|title|text)|at\s+the\s+(?:very\s+)?end)\b"
                             r"|结尾|片尾|最后")
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


def _find_promo(s: str, ctx: _Context) -> _Result:
    if not ctx.promo or not (m := _PROMO.search(s)):
        return [], []
    spans: list[Span] = [m.span()]
    args: dict[str, Any] = {}
    start, end = _clause(s, m.start())
    if length := _lone_time(s, start, end):
        args["seconds"] = min(600.0, max(1.0, _ms(length["t"]) / 1000))
        spans.append(length.span())
    previous = 0
    for mark in _PLACEHOLDER.finditer(s):
        key = "closing" if _CLOSING.search(s, max(previous, _clause(s, mark.start())[0]), mark.start()) else "title"
        previous = mark.end()
        if key not in args:
            args[key] = _quote(ctx, mark.group())[:200]
            spans.append(mark.span())
    return [_Found(m.start(), make_op("promo", **args))], spans


# ---------------------------------------------------------------- text

_TEXT_NOUN: Final = re.compile(r"\b(?:titles?|captions?|subtitles?|texts?|headings?|headlines?|labels?|words|overlays?"
                               r"|banners?|lower\s+third)\b|标题|字幕|文字|文本|文案|标语|大字")
_TEXT_VERB: Final = re.compile(r"\b(?:write|type|put|display|show|overlay|saying|says|reads|titled)\b"
                               r"|写上|写|打上|显示")
_ROLE_CAPTION: Final = re.compile(r"\b(?:captions?|subtitles?|lower\s+third)\b|字幕")
_POSITIONS: Final[tuple[tuple[re.Pattern[str], str], ...]] = tuple((re.compile(p), name) for p, name in (
    (r"\b(?:top|upper)[\s-]*left\b|\bleft[\s-]*top\b|左上", "top-left"),
    (r"\b(?:top|upper)[\s-]*right\b|\bright[\s-]*top\b|右上", "top-right"),
    (r"\b(?:bottom|lower)[\s-]*left\b|\bleft[\s-]*bottom\b|左下", "bottom-left"),
    (r"\b(?:bottom|lower)[\s-]*right\b|\bright[\s-]*bottom\b|右下", "bottom-right"),
    (r"\b(?:on\s+|at\s+(?:the\s+)?)?(?:top|above|header)\b|顶部|顶端|上方|上面|上边|顶上|最上", "top"),
    (r"\b(?:on\s+|at\s+(?:the\s+)?)?(?:bottom|lower\s+third|below|footer)\b"
     r"|底部|底端|下方|下面|下边|底下|最下", "bottom"),
    (r"\b(?:in\s+(?:the\s+)?)?(?:center|centre|centered|centred|middle)\b|中间|中央|居中|正中|中心|中部", "center"),
    (r"\b(?:on\s+the\s+|to\s+the\s+)?left\b|左边|左侧|左面", "left"),
    (r"\b(?:on\s+the\s+|to\s+the\s+)?right\b|右边|右侧|右面", "right"),
))
_COLOURS: Final = {"white": "white", "black": "black", "red": "red", "green": "green", "blue": "blue",
                   "yellow": "yellow", "orange": "orange", "purple": "purple", "pink": "pink", "gray": "gray",
                   "grey": "gray", "gold": "gold", "golden": "gold", "silver": "silver", "cyan": "cyan",
                   "magenta": "magenta", "brown": "brown", "navy": "navy",
                   "红": "red", "白": "white", "黑": "black", "黄": "yellow", "绿": "green", "蓝": "blue",
                   "橙": "orange", "紫": "purple", "粉": "pink", "粉红": "pink", "灰": "gray", "金": "gold",
                   "银": "silver"}
_COLOUR: Final = re.compile(r"(?P<hex>#[0-9a-f]{6}\b|#[0-9a-f]{3}\b)"
                            r"|\b(?P<en>white|black|red|green|blue|yellow|orange|purple|pink|gr[ae]y|gold(?:en)?"
                            r"|silver|cyan|magenta|brown|navy)\b|(?P<zh>粉红|[红白黑黄绿蓝橙紫粉灰金银])色")
_SIZE: Final = re.compile(r"\b(?:font\s+)?size\s*(?:of|to|=|:)?\s*(?P<n>\d+(?:\.\d+)?)"
                          r"|(?P<m>\d+(?:\.\d+)?)\s*(?:px|pt)\b"
                          r"|字号\s*(?P<z>\d+)|(?P<big>\b(?:big|bigger|large|larger|huge)\b|大号|大字|大标题|超大|大1点)"
                          r"|(?P<small>\b(?:small|smaller|tiny)\b|小号|小字|小标题|小1点)")
_BOLD: Final = re.compile(r"\bbold\b|粗体|加粗")
_TEXT_SPAN: Final = re.compile(
    rf"(?:\b(?:from|between)\s+)?{_time('a', unit=False)}\s*(?:\s(?:to|until|till|and)\s|-|~|到|至)\s*第?\s*"
    rf"{_time('b')}"
    rf"|(?:\b(?:from|between)\s+){_time('c')}\s*(?:\s(?:to|until|till|and)\s|-|~)\s*{_time('d', unit=False)}")
_TEXT_FIRST: Final = re.compile(rf"\b(?:the\s+)?(?:first|opening)\s+{_time('t')}|前\s*{_time('z')}")
_TEXT_LAST: Final = re.compile(rf"\b(?:the\s+)?(?:last|final)\s+{_time('t')}|最后\s*{_time('z')}")
_TEXT_FOR: Final = re.compile(rf"\bfor\s+(?:the\s+)?{_time('t')}|(?:持续|显示)\s*{_time('z')}")
_TEXT_AT: Final = re.compile(rf"\b(?:at|from|starting\s+(?:at|from)|after|beginning\s+at)\s+{_time('t')}"
                             rf"|从\s*第?\s*{_time('z')}\s*开始|第\s*{_time('y')}\s*开始")
_TEXT_REMOVE: Final = re.compile(
    r"\b(?:remove|delete|erase|clear|drop|hide|get\s+rid\s+of|take\s+(?:out|off|away))\s+(?:the\s+|all\s+(?:the\s+)?"
    r"|that\s+|this\s+|my\s+|any\s+)?(?:[\ue000-\ue0ff]\s+)?(?:titles?|texts?|captions?|subtitles?|words|labels?"
    r"|overlays?|headings?)\b|\bno\s+(?:titles?|text|captions?|subtitles?)\b"
    r"|(?:删除|删掉|去掉|去除|移除|清除|不要|取消)\s*(?:所有的?|全部的?)?\s*(?:[\ue000-\ue0ff]\s*)?(?:的\s*)?(?:标题|文字|字幕|文本|文案)")


_TEXT_REPLACE: Final = re.compile(
    r"\b(?:replace|change|swap|switch)\s+(?:the\s+(?:text|title|caption|words?)\s+)?(?P<old>[\ue000-\ue0ff])\s+"
    r"(?:with|to|for|into|by)\s+(?:the\s+(?:text|title|caption)\s+)?(?P<new>[\ue000-\ue0ff])"
    r"|把\s*(?P<zold>[\ue000-\ue0ff])\s*(?:改成|换成|替换成|改为|替换为)\s*(?P<znew>[\ue000-\ue0ff])")
_CHANGE: Final = re.compile(r"\b(?:change|replace|update|edit|rename|swap|switch)\b|改成|换成|改为|修改|替换|更改")


def _find_text_removal(s: str, ctx: _Context) -> _Result:
    """"remove the title", "删除文字", and the first half of "replace 'Old' with 'New'"."""
    found: list[_Found] = []
    spans: list[Span] = []
    for m in _TEXT_REPLACE.finditer(s):
        old, new = _quote(ctx, m["old"] or m["zold"]), _quote(ctx, m["new"] or m["znew"])
        found += [_Found(m.start(), make_op("remove_text", match=old)),
                  _Found(m.start(), make_op("add_text", text=new[:1000]))]
        spans.append(m.span())
    s = _blank(s, spans)
    for m in _TEXT_REMOVE.finditer(s):
        spans.append(m.span())
        args = {}
        start, end = _clause(s, m.start())
        if mark := _PLACEHOLDER.search(s, start, end):
            args["match"] = _quote(ctx, mark.group())
            spans.append(mark.span())
        found.append(_Found(m.start(), make_op("remove_text", **args)))
    return found, spans


def _region_end(s: str, pos: int) -> int:
    """Where the description of a title that ends at ``pos`` stops: the first boundary not followed by more of it."""
    for b in _BOUNDARY.finditer(s, pos):
        if not _CONTINUES.match(s, b.end()):
            return b.start()
    return len(s)


def _is_audio_name(text: str, facts: MediaFacts) -> bool:
    lowered = text.lower()
    return any(lowered in (name.lower(), name.rsplit(".", 1)[0].lower()) for _, name in facts.audios)


def _find_text(s: str, ctx: _Context) -> _Result:
    found: list[_Found] = []
    spans: list[Span] = []
    marks = list(_PLACEHOLDER.finditer(s))
    for k, mark in enumerate(marks):
        text = _quote(ctx, mark.group())
        start = max(marks[k - 1].end() if k else 0, _clause(s, mark.start())[0])
        end = min(marks[k + 1].start() if k + 1 < len(marks) else len(s), _region_end(s, mark.end()))
        before, after = (start, mark.start()), (mark.end(), end)
        if _is_audio_name(text, ctx.facts) or not (
                _search(_TEXT_NOUN, s, (before, after)) or _search(_TEXT_VERB, s, (before,))
                or any(_search(p, s, (after,)) for p, _ in _POSITIONS)):
            continue
        args, used = _text_details(s, (after, before), ctx.facts)
        where = min([mark.start(), *(a for a, _ in used)])
        if (change := _search(_CHANGE, s, (before,))) and _search(_TEXT_NOUN, s, (before,)):
            found.append(_Found(where, make_op("remove_text")))     # "change the title to 'New'": old text out first
            used.append(change.span())
        found.append(_Found(where, make_op("add_text", text=text[:1000], **args)))
        spans += [mark.span(), *used]
    return found, spans


def _text_details(s: str, regions: tuple[Span, Span], facts: MediaFacts) -> tuple[dict[str, Any], list[Span]]:
    """Role, position, timing, colour, size and weight said around one quoted text."""
    args: dict[str, Any] = {"role": "title"}
    used: list[Span] = []

    def take(pattern: re.Pattern[str]) -> re.Match[str] | None:
        m = _search(pattern, s, regions)
        if m:
            used.append(m.span())
        return m

    if take(_CLOSING):
        args["role"] = "closing"
    elif take(_ROLE_CAPTION):
        args["role"] = "caption"
    take(_TEXT_NOUN)
    for pattern, name in _POSITIONS:
        if take(pattern):
            args["position"] = name
            break
    args.update(_text_timing(take, facts))
    if colour := take(_COLOUR):
        args["color"] = colour["hex"] or _COLOURS[colour["en"] or colour["zh"]]
    if size := take(_SIZE):
        number = size["n"] or size["m"] or size["z"]
        args["size"] = min(400.0, max(6.0, float(number))) if number else BIG_TEXT if size["big"] else SMALL_TEXT
    if take(_BOLD):
        args["bold"] = True
    return args, used


def _text_timing(take: Callable[[re.Pattern[str]], re.Match[str] | None], facts: MediaFacts) -> dict[str, Any]:
    if span := take(_TEXT_SPAN):
        if span["a"]:
            b = span["b"]
            a_ms, b_ms = _ms(span["a"], _unit_ms_of(b)), _ms(b)
        else:
            a_ms, b_ms = _ms(span["c"]), _ms(span["d"], _unit_ms_of(span["c"]))
        return {"start_ms": a_ms, "end_ms": b_ms} if b_ms > a_ms else {}
    if first := take(_TEXT_FIRST):
        length = _ms(first["t"] or first["z"])
        return {"start_ms": 0, "end_ms": length} if length > 0 else {}
    if last := take(_TEXT_LAST):
        length = _ms(last["t"] or last["z"])
        if facts.timeline_ms is not None and facts.timeline_ms > length:
            return {"role": "closing", "start_ms": facts.timeline_ms - length}
        return {"role": "closing"}
    timing: dict[str, Any] = {}
    if at := take(_TEXT_AT):
        timing["start_ms"] = _ms(at["t"] or at["z"] or at["y"])
    if lasting := take(_TEXT_FOR):
        length = _ms(lasting["t"] or lasting["z"])
        if length > 0:
            timing["end_ms"] = timing.setdefault("start_ms", 0) + length
    return timing


def _unit_ms_of(text: str) -> int:
    """The unit of a matched time, to lend to a bare number beside it ("2-5s")."""
    if ":" in text:
        return 1000
    unit = _TIME_FULL.fullmatch(text.strip())
    return _unit_ms(unit[2]) if unit and unit[2] else 1000


# ---------------------------------------------------------------- music

_REMOVE_MUSIC: Final = re.compile(
    r"\b(?:remove|delete|drop|take\s+out|get\s+rid\s+of|kill|lose|mute|turn\s+off|no|without|stop)\s+(?:the\s+|any\s+"
    r"|all\s+(?:the\s+)?)?(?:background\s+)?(?:music|bgm|songs?|soundtrack)\b"
    r"|(?:去掉|删除|删掉|去除|移除|不要|关掉|关闭|取消)\s*(?:背景)?\s*(?:音乐|bgm|配乐|歌曲?)")
_ADD_MUSIC: Final = re.compile(
    r"\b(?:add|put|use|with|include|insert|play|want|need|set|give\s+it)\b(?:\s+[^\s,;.!?]+){0,4}?\s+"
    r"(?:music|bgm|songs?|soundtrack|tunes?)\b"
    r"|(?:加|添加|加上|加个|配上|放|用|使用|插入|配)\s*(?:1\s*首|1\s*段|点|个|些|上)?\s*(?:背景)?\s*(?:音乐|bgm|歌曲?|配乐)")
_MUSIC_BARE: Final = re.compile(r"\bbackground\s+music\b|\bbgm\b|\bsoundtrack\b|背景音乐|配乐|背景乐")
_USE_VERB: Final = re.compile(r"\b(?:add|use|put|play|with|include|set)\b|加|用|放|配")
_MUSIC_CLAUSE: Final = re.compile(r"\b(?:music|bgm|songs?|soundtrack|tunes?|volume)\b|音乐|配乐|歌|背景乐|音量")
_VOLUME_PERCENT: Final = re.compile(
    r"(?:music|bgm|songs?|soundtrack|volume|音量|音乐|配乐)[^,;.%\ue000-\ue0ff]{0,25}?(?P<p>\d+(?:\.\d+)?)\s*%"
    r"|(?P<q>\d+(?:\.\d+)?)\s*%\s*(?:的\s*)?(?:volume|音量)")
_VOLUME_NUMBER: Final = re.compile(r"\bvolume\s*(?:to|at|of|=|:)?\s*(?P<v>\d+(?:\.\d+)?)\b(?!\s*%)"
                                   r"|音量\s*(?:调到|调成|设为|设置为|改成|为|是|到)?\s*(?P<w>\d+(?:\.\d+)?)(?!\s*%)")
_QUIETER_WORDS: Final = re.compile(r"\b(?:quieter|softer|lower|turn\s+(?:it\s+|the\s+\w+\s+)?down|reduce|decrease"
                                   r"|less\s+loud|quiet)\b|小声|调低|降低|调小|小1点|轻1点|轻1些|小1些")
_LOUDER_WORDS: Final = re.compile(r"\b(?:louder|raise|increase|turn\s+(?:it\s+|the\s+\w+\s+)?up|boost)\b"
                                  r"|大声|调高|提高|调大|大1点|响1点")
_FADED: Final = r"(?:(?:it|them|the\s+(?:music|song|bgm|audio))\s+)?"
_FADE_BOTH: Final = re.compile(
    rf"\bfade\s+(?:it\s+|the\s+(?:music|song|bgm)\s+)?in\s+and\s+(?:fade\s+)?out\b(?:\s+(?:over|for|of)?\s*{_time('t')})?"
    rf"|淡入淡出(?!\s*转场)(?:\s*{_time('z')})?")
_FADE_IN: Final = re.compile(
    rf"(?:{_time('t1')}\s*(?:long\s+)?)?\bfade[\s-]*{_FADED}ins?\b(?:\s+(?:the\s+|of\s+the\s+)?(?:music|bgm|songs?|audio))?"
    rf"(?:\s+(?:over|for|of|in|across|lasting)?\s*{_time('t2')})?"
    rf"|(?:{_time('z1')}\s*(?:的\s*)?)?淡入(?!淡出)(?:\s*{_time('z2')})?")
_FADE_OUT: Final = re.compile(
    rf"(?:{_time('t1')}\s*(?:long\s+)?)?\bfade[\s-]*{_FADED}outs?\b(?:\s+(?:the\s+|of\s+the\s+)?(?:music|bgm|songs?|audio))?"
    rf"(?:\s+(?:over|for|of|in|across|lasting)?\s*{_time('t2')})?"
    rf"|(?:{_time('z1')}\s*(?:的\s*)?)?淡出(?!\s*转场)(?:\s*{_time('z2')})?")


def _named_audio(ctx: _Context) -> str | None:
    """The uploaded audio whose file name (or name without extension) the sentence mentions."""
    for media_id, name in reversed(ctx.facts.audios):
        stem = name.rsplit(".", 1)[0].lower()
        if name.lower() in ctx.raw or (len(stem) >= 3 and stem in ctx.raw):
            return media_id
    return None


def _fade_ms(m: re.Match[str], default: int, *groups: str) -> int:
    said = next((m[g] for g in groups if m[g]), None)
    return _ms(said) if said else default


def _music_settings(s: str) -> tuple[dict[str, Any], list[Span]]:
    """Volume and fades said about the music, with the spans they used."""
    args: dict[str, Any] = {}
    used: list[Span] = []
    if m := _VOLUME_PERCENT.search(s):
        args["volume"] = float(m["p"] or m["q"]) / 100
        used.append(m.span())
    elif m := _VOLUME_NUMBER.search(s):
        value = float(m["v"] or m["w"])
        args["volume"] = value if value <= 2 else value / 100
        used.append(m.span())
    else:
        for pattern, level in ((_QUIETER_WORDS, QUIETER), (_LOUDER_WORDS, LOUDER)):
            m = pattern.search(s)
            if m and _MUSIC_CLAUSE.search(s, *_clause(s, m.start())):
                args["volume"] = level
                used.append(m.span())
                break
    if "volume" in args:
        args["volume"] = round(min(2.0, args["volume"]), 3)
    if m := _FADE_BOTH.search(s):
        args["fade_in_ms"] = args["fade_out_ms"] = _fade_ms(m, FADE_IN_MS, "t", "z")
        if not (m["t"] or m["z"]):
            args["fade_out_ms"] = FADE_OUT_MS
        used.append(m.span())
    else:
        for pattern, key, default in ((_FADE_IN, "fade_in_ms", FADE_IN_MS), (_FADE_OUT, "fade_out_ms", FADE_OUT_MS)):
            if m := pattern.search(s):
                args[key] = _fade_ms(m, default, "t1", "t2", "z1", "z2")
                used.append(m.span())
    return args, used


def _find_music(s: str, ctx: _Context) -> _Result:
    found: list[_Found] = []
    spans: list[Span] = []
    if m := _REMOVE_MUSIC.search(s):
        found.append(_Found(m.start(), make_op("remove_music")))
        spans.append(m.span())
        s = _blank(s, [m.span()])
    named = _named_audio(ctx)
    add = _ADD_MUSIC.search(s) or (_USE_VERB.search(s) if named else None)
    bare = _MUSIC_BARE.search(s)
    settings, used = _music_settings(s)
    spans += used + [m.span() for m in (add, bare) if m]
    first = min([m.start() for m in (add, bare) if m] + [a for a, _ in used], default=0)
    if (add or (bare and not settings)) and not ctx.promo:
        media_id = named or (ctx.facts.audios[-1][0] if ctx.facts.audios else None)
        found.append(_Found(first, make_op("add_music", media_id=media_id, **settings)))
    elif settings:
        found.append(_Found(first, make_op("set_music", **settings)))
    return found, spans


# ---------------------------------------------------------------- images: still clip, slideshow, transitions

_IMAGE_NOUN: Final = re.compile(r"\b(?:images?|photos?|pictures?|pics?|photographs?|stills|logos?|screenshots?|jpe?gs?"
                                r"|pngs?)\b|(?<!动)图片?|照片|相片|截图")
_MANY_IMAGES: Final = re.compile(r"\b(?:images|photos|pictures|pics|photographs|stills|logos|screenshots|jpe?gs|pngs)\b"
                                 r"|(?:几|多|[2-9]|\d{2,})\s*张|这些|所有|全部|每张|组图")
_MAKES_VIDEO: Final = re.compile(r"\b(?:videos?|clips?|mp4|movies?|films?|reels?|footage|webm|gifs?|webp)\b"
                                 r"|视频|影片|短片|动态|动起来|动图")
_ONE_IMAGE: Final = re.compile(r"\b(?:this|that|the|my|a|an|1)\s+(?:[a-z]+\s+)?(?:image|photo|picture|pic|photograph"
                                r"|screenshot|still)\b(?!s)|这张|这幅|1\s*张|单张")
_MAKE_VERB: Final = re.compile(r"\b(?:turn|make|create|convert|generate|build|put)\b|做成|转成|变成|生成|制作|合成")
_SLIDESHOW: Final = re.compile(r"\bslide\s*shows?\b|\bmontage\b|\bphoto\s+(?:album|collage)\b|幻灯片|相册|轮播|图集")
_PER_IMAGE: Final = re.compile(
    rf"{_time('t')}\s*(?:per|for\s+each|each|a|every)\s*(?:images?|photos?|pictures?|pics?|slides?|stills?|one)?\b"
    rf"|\b(?:each|every)\s+(?:image|photo|picture|pic|slide)\s+(?:for\s+|lasts?\s+|shows?\s+for\s+|gets\s+)?"
    rf"{_time('u')}|每\s*张\s*(?:图片?|照片|相片)?\s*(?:显示|停留|展示|持续)?\s*{_time('z')}")
_MOTIONS: Final[tuple[tuple[re.Pattern[str], str], ...]] = tuple((re.compile(p), name) for p, name in (
    (r"\bzoom(?:ing)?[\s-]*out\b|\bpull[\s-]*(?:back|out)\b|拉远|(?<!压)缩小(?!\s*(?:体积|文件|大小|尺寸))",
     "zoom-out"),
    (r"\bken\s+burns\b|\bzoom(?:ing)?[\s-]*in\b|\bslow\s+zoom\b|\bpush[\s-]*in\b|\bzoom\b"
     r"|放大|推近|拉近|推镜头", "zoom-in"),
    (r"\bpan(?:ning)?[\s-]*(?:to\s+the\s+)?left\b|向左平移|向左移动|左移|向左摇", "pan-left"),
    (r"\bpan(?:ning)?[\s-]*(?:to\s+the\s+)?right\b|向右平移|向右移动|右移|向右摇", "pan-right"),
    (r"\bpan(?:ning)?[\s-]*(?:upwards|upward|up)\b|\btilt\s+up\b|向上平移|向上移动|上移", "pan-up"),
    (r"\bpan(?:ning)?[\s-]*(?:downwards|downward|down)\b|\btilt\s+down\b|向下平移|向下移动|下移", "pan-down"),
    (r"\b(?:no|without)\s+(?:motion|movement|zoom|zooming)\b|不要动效|静止", "none"),
))
_TRANSITION_NAMES: Final[tuple[tuple[re.Pattern[str], str], ...]] = tuple((re.compile(p), name) for p, name in (
    (r"\bfade\s+(?:to|through|thru|via)\s+black\b|\bfade[\s-]?black\b|\bdip\s+to\s+black\b|黑场", "fadeblack"),
    (r"\bfade\s+(?:to|through|thru|via)\s+white\b|\bfade[\s-]?white\b|\bflash\b|白场|闪白", "fadewhite"),
    (r"\b(?:grayscale|greyscale|gray|grey)\s+fades?\b|\bfadegrays\b", "fadegrays"),
    (r"\bradial\b|\bclock\s+wipe\b", "radial"),
    (r"\bcircle\s*close\b|\bclosing\s+circle\b", "circleclose"),
    (r"\bcircle\s*crop\b", "circlecrop"),
    (r"\brect\s*crop\b", "rectcrop"),
    (r"\bcircle(?:\s*open)?\b|圆形", "circleopen"),
    (r"\bsmooth\s*(left|right|up|down)\b", "smooth"),
    (r"\bwipe[sd]?\s*(?:to\s+the\s+|from\s+the\s+)?(left|right|up|down)?\b|擦除", "wipe"),
    (r"\bslid(?:e|es|ing)\s*(?:in\s+)?(?:from\s+the\s+|to\s+the\s+)?(left|right|up|down)\b"
     r"|\bslid(?:e|ing)\s+transitions?\b|\bslide[\s-]in\b|\bwith\s+(?:a\s+)?slides?\b|滑动|推移", "slide"),
    (r"\bzoom(?:in)?\s+transitions?\b", "zoomin"),
    (r"\bpixel(?:ate|ated|ize|ized|s)?\b|像素化|马赛克", "pixelize"),
    (r"\bblur(?:red)?\s+transitions?\b|\bhblur\b|模糊转场", "hblur"),
    (r"\bcross[\s-]?(?:fades?|dissolves?)\b|\bfades?\s+(?:between|from\s+1)\b|\bfade\s+transitions?\b|叠化|交叉淡化"
     r"|淡入淡出转场", "fade"),
    (r"\bdissolves?\b|溶解", "dissolve"),
))
_TRANSITION_WORD: Final = re.compile(r"\btransitions?\b|转场|过渡")
_TRANSITION_MS: Final = re.compile(
    rf"{_time('t')}\s*(?:long\s+)?(?:cross[\s-]?fades?|transitions?|fades?|wipes?|dissolves?|slides?)\b"
    rf"|\b(?:transitions?|cross[\s-]?fades?)\s+(?:of|lasting|for)\s+{_time('u')}"
    rf"|(?:转场|过渡)\s*{_time('z')}|{_time('y')}\s*的?\s*(?:转场|过渡)")


def _transition(s: str) -> tuple[str | None, int | None, list[Span]]:
    """The transition named in the sentence (a generic "transitions" is a fade), its length, and the spans used."""
    name: str | None = None
    spans: list[Span] = []
    for pattern, kind in _TRANSITION_NAMES:
        for m in pattern.finditer(s):
            spans.append(m.span())
            if name is None:
                direction = m.group(1) if pattern.groups else None
                name = kind + (direction or "left") if kind in ("wipe", "slide", "smooth") else kind
    for m in _TRANSITION_WORD.finditer(s):
        spans.append(m.span())
        name = name or "fade"
    ms = None
    if name and (length := _TRANSITION_MS.search(s)):
        ms = min(5000, max(1, _ms(length["t"] or length["u"] or length["z"] or length["y"])))
        spans.append(length.span())
    return name, ms, spans


def _find_images(s: str, ctx: _Context) -> _Result:
    transition, transition_ms, spans = _transition(s)
    motion: tuple[int, str] | None = None
    for pattern, name in _MOTIONS:
        if m := pattern.search(_blank(s, spans)):
            motion = motion or (m.start(), name)
            spans.append(m.span())
    per_image = _PER_IMAGE.search(s)
    slideshow = _SLIDESHOW.search(s)
    noun = _IMAGE_NOUN.search(s)
    facts = ctx.facts
    # "these into a video" with only pictures uploaded and no draft yet also asks for a builder.
    only_images = facts.images > 0 and facts.videos == 0 and facts.timeline_ms is None and _MAKE_VERB.search(s)
    wants_video = bool((noun or only_images) and _MAKES_VIDEO.search(s))
    many = bool(_MANY_IMAGES.search(s)) or (not _ONE_IMAGE.search(s) and (
        facts.images >= 2 or (facts.images >= 1 and facts.videos >= 1)))
    found: list[_Found] = []
    cut: Op | None = None
    if transition:
        cut = make_op("set_transition", transition=transition, **({"ms": transition_ms} if transition_ms else {}))
    if ctx.promo:
        return ([_Found(0, cut)] if cut else []), spans
    if per_image or slideshow or (wants_video and many):
        where = min([m.start() for m in (per_image, slideshow, noun) if m], default=0)
        args: dict[str, Any] = {"transition": transition} if transition else {}
        if per_image:
            args["seconds"] = min(600.0, _ms(per_image["t"] or per_image["u"] or per_image["z"]) / 1000) or None
            spans.append(per_image.span())
        spans += [m.span() for m in (slideshow, noun) if m]
        found.append(_Found(where, make_op("slideshow", **{k: v for k, v in args.items() if v is not None})))
        if cut and transition_ms:
            found.append(_Found(where, cut))
        return found, spans
    if wants_video or motion:
        args = {"motion": motion[1]} if motion else {}
        if length := _lone_time(s):
            seconds = min(600.0, _ms(length["t"]) / 1000)
            if seconds > 0:
                args["seconds"] = seconds
            spans.append(length.span())
        where = min([m.start() for m in (noun,) if m] + ([motion[0]] if motion else []), default=0)
        found.append(_Found(where, make_op("still_clip", **args)))
    if cut:
        found.append(_Found(spans[0][0] if spans else 0, cut))
    return found, spans


# ---------------------------------------------------------------- mute, reverse, boomerang

_MUTE: Final = re.compile(
    r"\bmute[ds]?\b|\bno\s+(?:sound|audio)\b|\bwithout\s+(?:the\s+|any\s+)?(?:sound|audio)\b|\bsilent(?:ly)?\b"
    r"|\bsilence\b|\b(?:remove|delete|drop|strip|kill|cut|turn\s+off|take\s+out|get\s+rid\s+of|lose)\s+(?:the\s+"
    r"|all\s+(?:the\s+)?|its\s+|any\s+)?(?:original\s+)?(?:sound|audio|voice|noise)\b|\b(?:sound|audio)\s+off\b"
    r"|静音|消音|无声|(?:去掉|去除|删除|删掉|不要|没有|关掉|关闭)\s*(?:的\s*)?(?:声音|音频|原声)")
_KEEP_MUSIC: Final = re.compile(r"\boriginal\s+(?:sound|audio)\b|\bvoice\b|\bkeep\s+the\s+music\b|原声")
_BOOMERANG: Final = re.compile(r"\bboomerang(?:\s+(?:loop|effect|style))?\b|\bping[\s-]?pong\b|\bback\s+and\s+forth\b"
                               r"|\bforwards?\s+(?:and|then)\s+(?:back|backwards?)\b|来回播放|来回|往返播放|回旋镖|乒乓")
_REVERSE: Final = re.compile(r"\breversed?\b|\breverses\b|\bbackwards?\b|\bin\s+reverse\b"
                             r"|倒放|倒着放|倒着播|倒序|反向播放|反着放|倒播")


def _find_effects(s: str, ctx: _Context) -> _Result:
    found: list[_Found] = []
    spans: list[Span] = []
    if m := _MUTE.search(s):
        keep = _KEEP_MUSIC.search(s, *_clause(s, m.start()))
        found.append(_Found(m.start(), make_op("mute", **({"music": False} if keep else {}))))
        spans += [m.span(), *(([keep.span()]) if keep else [])]
    for pattern, name in ((_BOOMERANG, "boomerang"), (_REVERSE, "reverse")):
        if matches := list(pattern.finditer(_blank(s, spans))):
            found.append(_Found(matches[0].start(), make_op(name)))
            spans += [m.span() for m in matches]
            if name == "boomerang":
                spans += [m.span() for m in _REVERSE.finditer(s)]
    return found, spans


# ---------------------------------------------------------------- speed

_SPEED_NUMBERS: Final[tuple[tuple[re.Pattern[str], Callable[[float], float]], ...]] = tuple(
    (re.compile(p), f) for p, f in (
        (r"\bspeed\s+(?:it\s+)?up\s+by\s+(\d+(?:\.\d+)?)\s*%", lambda n: 1 + n / 100),
        (r"(\d+(?:\.\d+)?)\s*%\s+(?:faster|quicker)\b", lambda n: 1 + n / 100),
        (r"(\d+(?:\.\d+)?)\s*%\s+slower\b", lambda n: 1 - n / 100),
        (r"\b(?:speed|playback\s+speed|playback\s+rate)\s*(?:to|of|at|=|:)?\s*(\d+(?:\.\d+)?)\s*%", lambda n: n / 100),
        (r"(\d+(?:\.\d+)?)\s*%\s*speed\b", lambda n: n / 100),
        (r"(\d+(?:\.\d+)?)\s*times\s+(?:as\s+)?(?:faster|quicker|fast|speed)\b", lambda n: n),
        (r"(\d+(?:\.\d+)?)\s*times\s+slower\b", lambda n: 1 / n if n else 1),
        (r"(?<![\d.])(\d+(?:\.\d+)?)\s*x(?![a-z\d])|\bx\s*(\d+(?:\.\d+)?)\b(?!\s*\d)", lambda n: n),
        (r"(\d+(?:\.\d+)?)\s*倍速?", lambda n: n),
        (r"\bspeed\s*(?:it\s+)?(?:up\s+)?(?:to|of|at)\s*(\d+(?:\.\d+)?)\b(?!\s*[%a-z])", lambda n: n),
    ))
_SPEED_WORDS: Final[tuple[tuple[re.Pattern[str], float], ...]] = tuple((re.compile(p), f) for p, f in (
    (r"\btwice\s+as\s+fast\b|\bdouble\s+(?:the\s+)?speed\b|\bdouble[\s-]time\b", 2.0),
    (r"\bhalf\s+(?:the\s+)?speed\b|\bhalf[\s-]speed\b|\bhalf\s+as\s+fast\b|1?\s*半\s*速|1半的?速度", 0.5),
    (r"\bquarter\s+(?:the\s+)?speed\b|\bquarter[\s-]speed\b", 0.25),
    (r"\b(?:normal|original|regular|real[\s-]?time)\s+speed\b|正常速度|原速", 1.0),
    (r"\bslow[\s-]*mo(?:tion)?\b|\bslo[\s-]*mo\b|慢动作|慢镜头", SLOW_MOTION),
    (r"\bspeed\s+(?:it\s+|this\s+|that\s+|the\s+\w+\s+)?up\b|\bfaster\b|\bquicker\b|\bfast[\s-]*forward\b"
     r"|\b(?:make|play)\s+(?:it|this)\s+fast\b|\bspeedup\b|加速|加快|快进|快放|变快|快1点|快1些", FASTER),
    (r"\bslow\s+(?:it\s+|this\s+|that\s+|the\s+\w+\s+)?down\b|\bslower\b|\b(?:make|play)\s+(?:it|this)\s+slow\b"
     r"|\bslowly\b|放慢|减速|慢放|慢速|变慢|慢1点|慢1些", SLOWER),
))


def _find_speed(s: str, ctx: _Context) -> _Result:
    spans: list[Span] = []
    choice: tuple[int, float] | None = None
    for pattern, scale in _SPEED_NUMBERS:
        for m in pattern.finditer(s):
            spans.append(m.span())
            number = next(g for g in m.groups() if g is not None)
            choice = choice or (m.start(), scale(float(number)))
    for word_pattern, value in _SPEED_WORDS:
        for m in word_pattern.finditer(s):
            spans.append(m.span())
            choice = choice or (m.start(), value)
    if choice is None:
        return [], []
    factor = round(min(4.0, max(0.25, choice[1])), 3)
    return [_Found(choice[0], make_op("speed", factor=factor))], spans


# ---------------------------------------------------------------- ranges: keep or remove part of the timeline

_SPAN: Final = re.compile(
    rf"(?P<lead>\b(?:from|between)\s+|\b(?:the\s+)?(?:seconds?|secs?)\s+|从\s*)?(?:第\s*)?{_time('a', unit=False)}"
    rf"(?P<conn>\s+(?:to|until|till|through|thru|and)\s+|\s*(?:-|~|到|至)\s*)(?:第\s*)?{_time('b', unit=False)}")
_FIRST: Final = re.compile(rf"(?:\b(?:the\s+)?(?:first|opening|initial|beginning)\s+|前\s*|开头\s*(?:的\s*)?|头\s*"
                           rf"|开始\s*的?\s*){_time('t')}")
_LAST: Final = re.compile(rf"(?:\b(?:the\s+)?(?:last|final|ending|closing)\s+|最后\s*(?:的\s*)?|末尾\s*(?:的\s*)?"
                          rf"|结尾\s*(?:的\s*)?|(?<![然之以])后\s*){_time('t')}")
_FROM_END: Final = re.compile(rf"{_time('t')}\s+(?:off|from)\s+(?:of\s+)?(?:the\s+)?(?:end|ending|back|tail)\b"
                              rf"|\b(?:end|ending)\s+by\s+{_time('u')}|\bshorten\s+(?:it\s+)?by\s+{_time('v')}")
_FROM_START: Final = re.compile(
    rf"{_time('t')}\s+(?:off|from)\s+(?:of\s+)?(?:the\s+)?(?:start|beginning|front|head|intro)\b"
    rf"|\b(?:start|beginning|front)\s+by\s+{_time('u')}")
_TRIM_TO: Final = re.compile(
    rf"\b(?:trim|cut|shorten|clip|crop|reduce)\s+(?:(?:it|this|that|the|video|clip|gif|down)\s+){{0,3}}to\s+"
    rf"(?:just\s+|only\s+)?{_time('t')}|\b(?:make|keep)\s+it\s+(?:only\s+|just\s+)?{_time('u')}\s+long\b"
    rf"|(?:剪成|截成|剪到|截到|缩短到|缩短为|缩短成|剪短到|裁剪到|裁成)\s*{_time('z')}")
_ONE_SECOND: Final = re.compile(r"\b(?:the\s+)?(?P<side>first|opening|last|final)\s+second\b(?!s)")
_BARE_START: Final = re.compile(r"\b(?:the\s+)?(?:start|beginning|intro|opening)\b|开头|片头")
_BARE_END: Final = re.compile(r"\b(?:the\s+)?(?:end|ending|outro)\b|结尾|片尾|末尾")
_TAIL: Final = re.compile(
    rf"\bfrom\s+{_time('t')}\s+(?:to|until|till)\s+the\s+(?:very\s+)?end\b|(?<![\d.:]){_time('u')}\s+onwards?\b"
    rf"|\b(?:everything|all|anything|the\s+rest|the\s+part|whatever\s+comes)\s+(?:after|past|beyond|from)\s+{_time('v')}"
    rf"|从\s*第?\s*{_time('z')}\s*(?:到|至)\s*(?:结尾|最后|结束)|{_time('y')}\s*(?:之后|以后)")
_HEAD: Final = re.compile(
    rf"\b(?:everything|all|anything|the\s+part)\s+(?:before|up\s+to|until|till)\s+{_time('t')}"
    rf"|{_time('z')}\s*(?:之前|以前)")
_DESCRIBED: Final = re.compile(
    r"\b(?:a|an|the|this|my)\s+(?P<len>(?P<n>\d+(?:\.\d+)?)\s*-?\s*(?:seconds?|secs?|s)(?![a-z]))(?:\s+long)?\s+"
    r"(?:[a-z]+\s+){0,2}?(?:clips?|videos?|recordings?|footage|highlights?|gifs?|mp4|webm|movie|reels?)\b")
_KEEP_VERB: Final = re.compile(
    r"\b(?:keep|only|preserve|extract|use|isolate)\b|\b(?:trim|cut|shorten|crop|clip)\s+(?:(?:it|this|that|the|video"
    r"|clip|gif|down)\s+){0,3}to\b|保留|只要|只留|留下|截取|截出|截成|剪出|提取|只保存")
_REMOVE_VERB: Final = re.compile(
    r"\b(?:cut|remove|delete|drop|trim|chop|skip|erase|strip|snip|shave|lose|ditch)\b|\btake\s+(?:out|off)\b"
    r"|\bget\s+rid\s+of\b|去掉|去除|剪掉|删除|删掉|砍掉|裁掉|切掉|不要|跳过|减掉|剪去|删去")
_TRIM_WORD: Final = re.compile(r"\btrim\b|裁剪")


@dataclass(frozen=True, slots=True)
class _Range:
    span: Span
    kind: str                      # span | first | last | tail | from_start | from_end | trim_to | start | end
    start_ms: int = 0
    end_ms: int = 0


def _range_hits(s: str) -> list[_Range]:
    hits: list[_Range] = []

    def free(m: re.Match[str]) -> bool:
        return all(m.end() <= h.span[0] or m.start() >= h.span[1] for h in hits)

    for m in _SPAN.finditer(s):
        a, b = m["a"], m["b"]
        lead = (m["lead"] or "").strip()
        clause = s[slice(*_clause(s, m.start()))]
        unit_said = _has_unit(a) or _has_unit(b) or lead.startswith("sec") or (
            lead in ("from", "between", "从") and bool(_KEEP_VERB.search(clause) or _REMOVE_VERB.search(clause)))
        if not unit_said or ("and" in m["conn"] and "between" not in (m["lead"] or "")):
            continue
        a_ms, b_ms = _ms(a, _unit_ms_of(b)), _ms(b, _unit_ms_of(a))
        if b_ms > a_ms and free(m):
            hits.append(_Range(m.span(), "span", a_ms, b_ms))
    for m in _TAIL.finditer(s):
        said = next(v for v in m.groupdict().values() if v is not None)
        if free(m):
            hits.append(_Range(m.span(), "tail", _ms(said)))
    for pattern, kind in ((_FROM_END, "from_end"), (_FROM_START, "from_start"), (_TRIM_TO, "trim_to"),
                          (_HEAD, "first"), (_FIRST, "first"), (_LAST, "last")):
        for m in pattern.finditer(s):
            said = next(v for v in m.groupdict().values() if v is not None)
            if (length := _ms(said)) > 0 and free(m):
                hits.append(_Range(m.span(), kind, 0, length))
    for m in _ONE_SECOND.finditer(s):            # "the first second", "the last second": no number said
        if free(m):
            hits.append(_Range(m.span(), "first" if m["side"] in ("first", "opening") else "last", 0, 1000))
    for pattern, kind in ((_BARE_START, "start"), (_BARE_END, "end")):
        for m in pattern.finditer(s):
            if free(m) and _REMOVE_VERB.search(s, *_clause(s, m.start())):
                hits.append(_Range(m.span(), kind, 0, DEFAULT_TRIM_MS))
    return sorted(hits, key=lambda h: h.span[0])


def _range_op(hit: _Range, verb: str, facts: MediaFacts) -> Op | None:
    if hit.kind in ("from_end", "end") or (hit.kind == "last" and verb == "remove"):
        return make_op("remove_end", ms=hit.end_ms)
    if hit.kind in ("from_start", "start") or (hit.kind == "first" and verb == "remove"):
        return make_op("remove_range", start_ms=0, end_ms=hit.end_ms)
    if hit.kind in ("trim_to", "first"):
        return make_op("keep_range", start_ms=0, end_ms=hit.end_ms)
    if hit.kind == "tail":
        return make_op("keep_range" if verb == "keep" else "remove_range", start_ms=hit.start_ms)
    if hit.kind == "last":
        return make_op("keep_end", ms=hit.end_ms)
    name = "keep_range" if verb == "keep" else "remove_range"
    return make_op(name, start_ms=hit.start_ms, end_ms=hit.end_ms)


def _find_ranges(s: str, ctx: _Context) -> _Result:
    found: list[_Found] = []
    spans: list[Span] = []
    verb: str | None = None
    hits = _range_hits(s)
    for hit in hits:
        start, end = _clause(s, hit.span[0])
        clause = _blank(s, [hit.span])[start:end]
        if _KEEP_VERB.search(clause) or (hit.kind == "span" and _TRIM_WORD.search(clause)):
            verb = "keep"
        elif _REMOVE_VERB.search(clause):
            verb = "remove"
        verb = verb or "keep"
        spans.append(hit.span)
        if op := _range_op(hit, verb, ctx.facts):
            found.append(_Found(hit.span[0], op))
    if not hits and (m := _DESCRIBED.search(s)):
        spans.append(m.span("len"))
        length = round(float(m["n"]) * 1000)
        if ctx.facts.timeline_ms is not None and ctx.facts.timeline_ms > length > 0:
            found.append(_Found(m.start(), make_op("keep_range", start_ms=0, end_ms=length)))
    return found, spans


# ---------------------------------------------------------------- output file

_FORMAT: Final = re.compile(r"\b(?P<f>gif+s?|webm|webp|mp4|m4v)\b|(?P<zh>动图)")
_SOURCE_FORMAT: Final = re.compile(r"(?:\b(?:from|of)\s+(?:the\s+|this\s+|my\s+|an?\s+)?|\bthis\s+)$")
_OUTPUT: Final[tuple[tuple[str, re.Pattern[str]], ...]] = tuple((key, re.compile(p)) for key, p in (
    ("no_loop", r"\b(?:no|without|don't|do\s+not|not|never)\s+(?:loop|looping|repeat|repeating)\b"
                r"|\bplays?\s+(?:only\s+)?once\b|\bonce\s+only\b|\b1[\s-]time\b|\bsingle\s+play\b"
                r"|不循环|不要循环|只播放?1次|播放1次|播1次"),
    ("loop", r"\bloop(?:ing|s|ed)?\b|\brepeat(?:ing|s)?\b|\bendless(?:ly)?\b|循环"),
    ("fps", r"(?P<n>\d+(?:\.\d+)?)\s*(?:fps|frames?\s*(?:per|/|a)\s*(?:second|sec|s)\b|帧每秒|帧/秒|帧)"
            r"|\b(?:fps|frame\s*rate|framerate)\s*(?:of|to|at|=|:)?\s*(?P<m>\d+(?:\.\d+)?)"
            r"|帧率\s*(?:为|是|改成|设为|设置为|调到)?\s*(?P<z>\d+(?:\.\d+)?)"),
    ("size", r"(?P<w>\d{2,4})\s*[x×*]\s*(?P<h>\d{2,4})\b"),
    ("width", r"(?P<n>\d+)\s*(?:px|pixels?|像素)(?:\s*(?:wide|width|宽))?|(?P<m>\d+)\s*wide\b"
              r"|\bwidth\s*(?:of|to|=|:)?\s*(?P<z>\d+)|宽度?\s*(?:为|是|设为|:)?\s*(?P<y>\d+)"),
    ("resolution", r"(?<!\d)(?P<n>360|480|540|720|1080|1440|2160)\s*p\b"),
    ("full_hd", r"\b(?:full\s*hd|fhd|4k|uhd|2k)\b|全高清|超清|蓝光|4k"),
    ("hd", r"\bhd\b|高清"),
    ("max_mb", r"(?:\b(?:under|less\s+than|below|smaller\s+than|at\s+most|max(?:imum)?"
               r"|no\s+(?:more|bigger|larger)\s+than|not\s+(?:over|more\s+than|exceed(?:ing)?)|within|up\s+to)|<=?|小于|不超过|不大于|低于|控制在|压缩到|最多)"
               r"\s*(?P<n>\d+(?:\.\d+)?)\s*(?P<u>mb|megabytes?|megs?|m|kb|kilobytes?|兆|mib)(?![a-z])"
               r"|(?P<m>\d+(?:\.\d+)?)\s*(?P<v>mb|megabytes?|m|kb|兆)\s*(?:以内|以下|之内|内|max\b|or\s+less\b|limit\b)"),
    ("small", r"\bsmall(?:er|est)?\b(?=(?:\s+[a-z]+){0,2}?\s+(?:gifs?|files?|size|videos?|clips?|mp4|webm|webp"
              r"|version|output|one)\b)|\bsmaller\b|\bcompress(?:ed|ion)?\b|\bas\s+small\s+as\s+possible\b"
              r"|\b(?:make|keep|get)\s+(?:it|this|the\s+\w+)\s+(?:small|tiny)\b|\blightweight\b|\bshrink\b"
              r"|\breduce\s+(?:the\s+)?(?:file\s+)?size\b|\btiny\s+(?:gif|file)\b"
              r"|压缩|更小|体积小|缩小体积|减小体积|小文件|文件小|小体积|减小文件|小1点的\s*(?:文件|gif|动图)"),
    ("quality_high", r"\b(?:high|best|top|max(?:imum)?)\s+quality\b|高质量|高画质|最高画质|无损"),
    ("quality_low", r"\b(?:low|lower|lowest)\s+quality\b|低质量|低画质"),
    ("quality_medium", r"\b(?:medium|normal)\s+quality\b|中等(?:质量|画质)"),
    ("audio", r"\b(?:with|keep)\s+(?:the\s+)?(?:sound|audio)\b|保留声音|带声音|有声音"),
))
_TEXTY: Final = re.compile(r"\b(?:text|title|caption|font|letters|subtitles?)\b|文字|标题|字幕|字体")


def _output_format(s: str) -> tuple[str, Span] | None:
    """The format asked for: the last one named that is not the source ("convert this gif to mp4")."""
    choice: tuple[str, Span] | None = None
    for m in _FORMAT.finditer(s):
        if _SOURCE_FORMAT.search(s, max(0, m.start() - 20), m.start()):
            continue
        name = "gif" if m["zh"] or m["f"].startswith("gif") else "mp4" if m["f"] == "m4v" else m["f"]
        choice = (name, m.span())
    return choice


def _find_output(s: str, ctx: _Context) -> _Result:
    args: dict[str, Any] = {}
    spans: list[Span] = []
    if fmt := _output_format(s):
        args["format"] = fmt[0]
        spans.append(fmt[1])
    for key, pattern in _OUTPUT:
        m = pattern.search(_blank(s, spans))
        if m is None or (key == "small" and _TEXTY.search(s, *_clause(s, m.start()))):
            continue
        groups = {k: v for k, v in m.groupdict().items() if v is not None}
        number = float(next(iter(groups.values()))) if groups else 0.0
        if key == "no_loop":
            args["loop"] = False
        elif key == "loop":
            args.setdefault("loop", True)
        elif key == "fps" and number > 0:
            args["fps"] = min(60.0, number)
        elif key in ("size", "width") and "width" not in args and number > 0:
            args["width"] = int(min(1920, max(16, number)))
        elif key == "resolution" and "resolution" not in args:
            args["resolution"] = f"{min(1080, int(number))}p" if number < 1440 else "1080p"
        elif key in ("full_hd", "hd"):
            args.setdefault("resolution", "1080p" if key == "full_hd" else "720p")
        elif key == "max_mb" and number > 0:
            unit = groups.get("u") or groups.get("v") or "mb"
            args["max_mb"] = round(min(1000.0, number / 1000 if unit.startswith("k") else number), 3)
        elif key == "small":
            args["small"] = True
        elif key.startswith("quality_"):
            args.setdefault("quality", key.removeprefix("quality_"))
        elif key == "audio":
            args["audio"] = True
        else:
            continue
        spans.append(m.span())
    if not args:
        return [], []
    return [_Found(min(a for a, _ in spans), make_op("set_output", **args))], spans


# ---------------------------------------------------------------- the planner

_HANDLERS: Final[tuple[Callable[[str, _Context], _Result], ...]] = (
    _find_session, _find_aspect, _find_promo, _find_text_removal, _find_text, _find_music, _find_images,
    _find_effects, _find_speed, _find_ranges, _find_output,
)
_BUILDERS: Final = frozenset({"promo", "slideshow", "still_clip"})
_READ_ONLY: Final = frozenset({"show_tracks", "pointer"})


def understand(text: str, facts: MediaFacts) -> Understanding:
    """The ops one chat sentence asks for, in the order they should run."""
    language = "zh" if _CJK.search(text) else "en"
    quotes, s = _prepare(text)
    ctx = _Context(facts=facts, quotes=quotes, raw=text.lower(), promo=bool(_PROMO.search(s)))
    found: list[_Found] = []
    for handler in _HANDLERS:
        hits, spans = handler(s, ctx)
        found += hits
        s = _blank(s, spans)
    ops = _arrange(found)
    return Understanding(ops=ops, language=language, not_understood=not ops)


def _arrange(found: list[_Found]) -> list[Op]:
    """Builders first, then edits in the order said, then read-only ops; mute keeps music that is added."""
    def phase(f: _Found) -> int:
        return 0 if f.op.name in _BUILDERS else 2 if f.op.name in _READ_ONLY else 1

    ops = [f.op for f in sorted(found, key=lambda f: (phase(f), f.pos))]
    if any(op.name == "add_music" for op in ops):
        ops = [make_op("mute", music=False) if op.name == "mute" else op for op in ops]
    return ops


_EXAMPLES: Final = {
    "en": ("I didn't catch an edit in that. Things I can do (several in one message is fine):",
           ("convert this clip into a looping GIF with no sound",
            "make a small GIF of seconds 2 to 5 at 15 fps, 480px wide, under 5 MB",
            "keep only the first 3 seconds / cut the last 2 seconds / remove 0:02 to 0:05",
            "speed it up 2x / slow motion / reverse it / boomerang loop",
            "make it 9:16 for TikTok / square / 16:9",
            "add the title 'Summer Sale' at the top in yellow for the first 3 seconds",
            "add background music at 30% and fade it out",
            "turn this image into a 5-second clip with a slow zoom in",
            "make a slideshow, 3 seconds per photo, with crossfades",
            "create a 30-second promotional video with music and text overlays",
            "convert it into a 720p MP4",
            "undo / show tracks / export / credits")),
    "zh": ("这句话里我没找到可以执行的编辑。可以这样说（一句话里可以包含多项）：",
           ("把这个视频转成循环GIF，去掉声音",
            "截取第2秒到第5秒做成GIF，15帧，480像素宽，小于5MB",
            "只保留前5秒 / 去掉最后2秒 / 剪掉前2秒",
            "2倍速 / 慢动作 / 倒放 / 来回播放",
            "改成竖屏9:16 / 方形 / 横屏16:9",
            "加标题「夏日特卖」放在顶部，黄色，前3秒显示",
            "加背景音乐，音量30%，淡出",
            "把这张图片做成5秒的视频，慢慢放大",
            "做成幻灯片，每张图片3秒，加转场",
            "做一个30秒的宣传视频",
            "导出成1080P的MP4",
            "撤销 / 状态 / 导出 / 积分")),
}


def examples_text(language: str) -> str:
    """A reply listing examples of what the planner understands, in ``language`` ("en" or "zh")."""
    intro, examples = _EXAMPLES.get(language, _EXAMPLES["en"])
    quote = "「{}」" if language == "zh" else '"{}"'
    return "\n".join([intro, *(f"- {quote.format(example)}" for example in examples)])


# Keywords for typo correction: every 5+ letter word the patterns above look for, and plain words near one.
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
