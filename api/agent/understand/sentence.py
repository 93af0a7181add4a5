"""Preparing the sentence before any handler reads it: quoted text set aside behind placeholders, NFKC and
lower case, Chinese and English number words to digits, and typo correction to the nearest keyword."""

from __future__ import annotations

import re
import unicodedata
from typing import Final

from api.agent.understand.defaults import MAX_CHARS
from api.agent.understand.model import _Context
from api.agent.understand.typos import _correct

_PH_BASE: Final = 0xE000
_MAX_QUOTES: Final = 256
_PLACEHOLDER: Final = re.compile("[\ue000-\ue0ff]")


def _quote(ctx: _Context, mark: str) -> str:
    return ctx.quotes[ord(mark) - _PH_BASE]


_QUOTED: Final = re.compile(
    r"“(?P<a>[^”]+)”|‘(?P<b>[^’]+)’|「(?P<c>[^」]+)」|『(?P<d>[^』]+)』|《(?P<e>[^》]+)》|«(?P<f>[^»]+)»"
    r"|„(?P<g>[^“”]+)[“”]|\"(?P<h>[^\"]+)\"|(?<!\w)'(?P<i>[^']+?)'(?!\w)")
_COLOUR_WORDS: Final = (r"(?:white|black|red|green|blue|yellow|orange|purple|pink|gr[ae]y|gold(?:en)?|silver|cyan"
                        r"|magenta|brown|navy)")
_TEXT_NOUNS: Final = r"(?:title|caption|text|subtitle|heading|headline|label|banner|words?|line)"
_UNQUOTED_TEXT: Final = re.compile(
    r"(?i)(?:\b(?:titled|saying|that\s+says|which\s+says|that\s+reads|reading|called|named)\s+"
    r"|\b(?:title|caption|text|subtitle|heading|headline|label|banner|words?)\b[^,.;!?:：\n\"“”「」『』《》]{0,40}?"
    r"(?<!\d)[:：]\s*"
    rf"|\b(?:add|put|write|place|overlay|insert|include|display|with)\s+(?:an?\s+|the\s+|some\s+|my\s+|this\s+)?"
    rf"(?:(?:big|bold|small|large|short|simple|nice|{_COLOUR_WORDS})\s+){{0,3}}{_TEXT_NOUNS}s?\s+(?:of\s+text\s+)?"
    r"(?=(?-i:[A-Z]))(?!(?:at|in|on|to|for|from|with|and|of|that|this|it)\b)"
    r"|(?:标题|字幕|文字|文案|文本)\s*(?:是|为|写着|写上|写|内容是|[:：])\s*"
    r"|(?:标题|字幕|文字|文案|文本|大字|小字|字|一句话|内容)[^,，。；;!?！？:：\n]{0,12}?(?<!\d)[:：]\s*)"
    r"(?P<t>[^\s,.;!?，。；！？\"“”「」『』《》\ue000-\ue0ff][^,.;!?，。；！？\"“”「」『』《》\ue000-\ue0ff\n]*?)"
    r"(?=\s*(?:$|[,.;!?，。；！？\n])"
    r"|\s+(?:at|on|to|in|near|along|across)\s+(?:the\s+)?(?:very\s+)?(?:top|bottom|center|centre|middle|left|right"
    r"|upper|lower|corner|end|ending|start|beginning|\d)"
    rf"|\s+in\s+(?:(?:big|bold|small|large|huge|tiny|bright|dark|light)\s+)*(?:{_COLOUR_WORDS}|bold|big|large|small|#)"
    r"|\s+for\s+(?:the\s+)?(?:first|last|final|opening|whole|entire|\d)"
    r"|\s+(?:from|between|starting|after|until|till)\s+(?:\d|the\s+(?:start|beginning|end))"
    r"|\s+(?:with|using)\s+(?:an?\s+|the\s+)?(?:colou?r|font|size|bold|big|small|shadow|outline)"
    r"|\s+(?:and\s+|then\s+)+(?:make|mute|add|put|cut|trim|speed|slow|turn|convert|export|remove|keep|set|use|throw"
    r"|reverse|crop|blur|zoom|change|loop|repeat|fade|play|give|delete|include|insert|also|then|make)\b"
    r"|\s+(?:and\s+)?(?:size|font)\s|放在|放到|位于|显示在)")
# "put Recorded live at Red Rocks as the caption": a capitalised text named before its noun.
_TEXT_BEFORE_NOUN: Final = re.compile(
    r"(?i)\b(?P<v>put|use|write|add|have|set)\s+(?P<t>(?-i:[A-Z])[^,.;!?\n\"“”「」『』《》\ue000-\ue0ff]*?)"
    rf"(?=\s+as\s+(?:the\s+|a\s+|an\s+|my\s+)?{_TEXT_NOUNS}s?\b)")
_PUNCT: Final = str.maketrans({"。": ",", "、": ",", "’": "'", "‘": "'", "–": "-", "—": "-", "−": "-",
                               "·": " ", "…": " ", "／": "/"})
_CJK_ASCII: Final = re.compile(r"(?<=[\u3400-\u9fff])(?=[a-z0-9#%\ue000-\ue0ff])"
                               r"|(?<=[a-z0-9%\ue000-\ue0ff])(?=[\u3400-\u9fff])")
_ZH_DIGITS: Final = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
                     "九": 9}
_ZH_NUMERAL: Final = re.compile(r"[零一二两三四五六七八九十百]+")
_ZH_PERCENT: Final = re.compile(r"百分之\s*([零一二两三四五六七八九十百]+|\d+(?:\.\d+)?)")
_ZH_TENTHS: Final = re.compile(r"(?<![零一二两三四五六七八九十百])([一二两三四五六七八九十])\s*成(?![功为品片绩员本])")
_ZH_MINUTES: Final = re.compile(r"(?<![\d.])(\d+)\s*分(?:钟)?\s*(?:(\d+(?:\.\d+)?)\s*秒|(半))")
# 把/将 word order: "把声音去掉" reads as "去掉声音", "将前2秒剪掉" as "剪掉前2秒".
_BA: Final = re.compile(r"(?:把|将)\s*(?P<obj>[^,;!?，；！？把将]{1,14}?)\s*"
                        r"(?P<verb>去掉|去除|删掉|删除|剪掉|裁掉|切掉|砍掉|减掉|剪去|删去|关掉|关闭|移除|拿掉|模糊掉?|打码|打上码|打马赛克)(?:了|吧)?")
_NUMBER_WORDS: Final = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40,
    "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100,
}
_EN_NUMBER: Final = re.compile(r"\b(twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)[\s-]"
                               r"(one|two|three|four|five|six|seven|eight|nine)\b"
                               r"|\b(" + "|".join(_NUMBER_WORDS) + r")\b")
# Compounds of digits said in words: "1 100 and 20" (one hundred and twenty) → 120, "1 point 5" → 1.5, 0点5倍 → 0.5倍.
_COMPOUNDS: Final = (
    (re.compile(r"\b(?:a|(\d))\s+100(?:\s+(?:and\s+)?(\d{1,2}))?\b"),
     lambda m: str(int(m[1] or 1) * 100 + int(m[2] or 0))),
    (re.compile(r"\b(\d+)\s+point\s+(\d+)\b"), lambda m: f"{m[1]}.{m[2]}"),
    (re.compile(r"(?<![\d.])(\d+)\s*点\s*(\d+)(?=\s*(?:倍|秒|分钟|%|x\b))"), lambda m: f"{m[1]}.{m[2]}"),
)
_HALVES: Final = (
    (re.compile(r"\ban?\s+(second|minute|hour)\s+and\s+a\s+half\b"), r"1.5 \1s"),
    (re.compile(r"(\d+)\s+(seconds?|secs?|minutes?|mins?)\s+and\s+a\s+half\b"), r"\1.5 \2"),
    (re.compile(r"(\d+)\s+and\s+a\s+half\b"), r"\1.5"),
    (re.compile(r"\b(second|minute|hour)\s+and\s+a\s+half\b"), r"1.5 \1s"),
    (re.compile(r"\b(first|last|opening|final)\s+(minute|hour)\b"), r"\1 1 \2"),
    (re.compile(r"\bhalf\s+an?\s+(second|minute)\b|\ba\s+half\s+(second|minute)\b"), r"0.5 \1\2"),
    (re.compile(r"\ban?\s+(minute|min)\b"), r"1 \1"),
    (re.compile(r"(\d+)\s*秒半"), r"\1.5秒"),
    (re.compile(r"(?<![\d.])半\s*秒"), "0.5秒"),
    (re.compile(r"(?<![\d.])半\s*分钟"), "30秒"),
)
# Percentages in words: "40 percent", "half volume", "at a quarter", "1半音量" (一半音量), "音量减半".
_PERCENTS: Final = (
    (re.compile(r"(\d+(?:\.\d+)?)\s*(?:per\s*cent|percent|pct)\b"), r"\1%"),
    (re.compile(r"\b(?:at\s+)?(?:a\s+)?half\s+(?:the\s+)?volume\b|\bhalf\s+as\s+loud\b"), "50% volume"),
    (re.compile(r"\b(?:at\s+)?(?:a\s+)?quarter\s+(?:of\s+the\s+)?volume\b"), "25% volume"),
    (re.compile(r"\b(at|to)\s+(?:a\s+)?quarter\b(?!\s+(?:speed|of|second|minute|past|to)\b)"), r"\1 25%"),
    (re.compile(r"\b(at|to)\s+half\b(?!\s+(?:speed|the|a|an|of|second|minute|as|way)\b)"), r"\1 50%"),
    (re.compile(r"1\s*半\s*的?\s*音量|音量\s*(?:减半|1\s*半)"), "音量50%"),
)
_CJK_SPACE: Final = re.compile(r"(?<=[\u3400-\u9fff]) (?=[a-z0-9%\ue000-\ue0ff])"
                               r"|(?<=[a-z0-9%\ue000-\ue0ff]) (?=[\u3400-\u9fff])")
_LITTLE: Final = re.compile(r"(?<=[\u3400-\u9fff]) 1 (?=[点些下])")     # 快一点 stays 快1点, read as one word
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
    s = _TEXT_BEFORE_NOUN.sub(lambda m: f"{m['v']} {set_aside(m)}", s)
    s = unicodedata.normalize("NFKC", s).lower().translate(_PUNCT)
    s = _ZH_PERCENT.sub(lambda m: f"{_zh_value(m[1]) if m[1][0] in _ZH_DIGITS or m[1][0] in '十百' else m[1]}%", s)
    s = _ZH_TENTHS.sub(lambda m: f"{_zh_value(m[1]) * 10}%", s)
    s = _ZH_NUMERAL.sub(lambda m: str(_zh_value(m.group())), s)
    s = _ZH_MINUTES.sub(_zh_minutes, s)
    s = _BA.sub(lambda m: f"{m['verb']}{m['obj']}", s)
    s = _LITTLE.sub("1", _CJK_ASCII.sub(" ", s))
    s = _WORD.sub(lambda m: _correct(m.group()), s)
    s = _EN_NUMBER.sub(_number_word, s)
    for compound, value in _COMPOUNDS:
        s = compound.sub(value, s)
    for pattern, replacement in (*_HALVES, *_PERCENTS):
        s = pattern.sub(replacement, s)
    return tuple(quotes), " ".join(s.split())


def _as_said(words: str) -> str:
    """Words of the prepared sentence as a reply quotes them: without the spaces put between Chinese and digits."""
    return _CJK_SPACE.sub("", words.strip())


def _zh_minutes(m: re.Match[str]) -> str:
    """1分30秒 → 90秒, 1分半 → 90秒."""
    seconds = int(m[1]) * 60 + (30 if m[3] else float(m[2]))
    return f"{seconds:g}秒"


def _number_word(m: re.Match[str]) -> str:
    if m[1]:
        return str(_NUMBER_WORDS[m[1]] + _NUMBER_WORDS[m[2]])
    return str(_NUMBER_WORDS[m[3]])
