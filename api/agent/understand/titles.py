"""Text on the picture: add, remove or replace a title or caption, with the role, position, timing, colour,
size and weight said around it."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from api.agent.ops import make_op
from api.agent.understand.clauses import _BOUNDARY, _blank, _clause, _search
from api.agent.understand.defaults import BIG_TEXT, SMALL_TEXT
from api.agent.understand.model import MediaFacts, Span, Unmet, _Context, _Declined, _Found, _Result
from api.agent.understand.sentence import _PLACEHOLDER, _as_said, _quote
from api.agent.understand.times import _ms, _time, _unit_ms_of

# A closing text ("at the end", "片尾"); the promo builder reads it too, for its closing line.
_CLOSING: Final = re.compile(r"\b(?:closing|ending|outro|end\s+(?:card|screen|title|text)|at\s+the\s+(?:very\s+)?end)\b"
                             r"|结尾|片尾|最后")
_COLOUR_NAME: Final = (r"(?:white|black|red|green|blue|yellow|orange|purple|pink|gr[ae]y|gold(?:en)?|silver|cyan"
                       r"|magenta|brown|navy)")
# A clause that goes on describing a title: ", at the top", "and in red", "，放在顶部".
_CONTINUES: Final = re.compile(
    r"\s*(?:(?:and\s+)?(?:in|at|on|for|from|with|using|size|font|(?:color|colour)|big|bigger|large|small|tiny|bold|"
    r"placed|positioned|shown|displayed|starting|lasting)\b|放在|放到|位于|在|用|颜色|字号|字体|显示|持续|从|大小|"
    r"[红白黑黄绿蓝橙紫粉灰金]色|居中|加粗"
    r"|(?:and\s+)?make\s+it\s+(?:white|black|red|green|blue|yellow|orange|purple|pink|gr[ae]y|gold|silver|big|bigger"
    r"|bold|small|smaller|larger)\b"
    rf"|{_COLOUR_NAME}\s*(?:$|[,;.])|(?:top|bottom|centered|center|centre|middle)\s*(?:$|[,;.]))")

_TEXT_NOUN: Final = re.compile(r"\b(?:titles?|captions?|subtitles?|texts?|headings?|headlines?|labels?|words|overlays?"
                               r"|banners?|lower\s+third)\b|标题|字幕|文字|文本|文案|标语|大字|(?:1\s*)?行\s*字|(?:1\s*)?句话|内容"
                               r"|(?:1\s*行|行)[^,，;；\ue000-\ue0ff]{0,8}?的?\s*字(?=\s*(?:[:：]|[\ue000-\ue0ff]|$))")
# A text timed from where the one before it ends: "'Step 2' after that", "then 'Bye' for the rest", "之后显示「再见」".
_AFTER_PREVIOUS: Final = re.compile(r"\b(?:after\s+(?:that|it|this|the\s+first(?:\s+one)?)|afterwards?|from\s+then\s+on"
                                    r"|for\s+the\s+rest(?:\s+of\s+(?:it|the\s+(?:video|clip)))?|after\s+which)\b"
                                    r"|之后|随后|此后|后面(?:的时间)?|剩下的时间")
# Between two texts of one list ("overlay 'A' for 2 seconds and 'B' after that"): only a connective.
_LIST_JOIN: Final = re.compile(r"[\s,;，；、]*(?:(?:and|then|and\s+then|plus|followed\s+by)\b|然后|再|接着|和)?"
                               r"[\s,;，；、]*")
_TEXT_VERB: Final = re.compile(r"\b(?:write|type|put|display|show|overlay|saying|says|reads|titled)\b"
                               r"|\badd\s+(?:the\s+(?:words?|line)\s*)?(?=[\ue000-\ue0ff]|$)"
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
# A colour is the text's colour only when said as its style ("in red", "red text", "big yellow", "红色"); colour
# words of an unquoted text are inside its placeholder already ("Recorded live at Red Rocks").
_COLOUR: Final = re.compile(
    r"(?P<hex>#[0-9a-f]{6}\b|#[0-9a-f]{3}\b)"
    rf"|\b(?:in|colou?r(?:ed)?(?:\s+(?:to|of|=|:|it))?|make\s+it|turn\s+it)\s+(?:(?:bright|dark|light)\s+)?"
    rf"(?P<en>{_COLOUR_NAME})\b"
    rf"|\b(?P<en2>{_COLOUR_NAME})(?=\s+(?:(?:and\s+)?(?:big|bold|small|large|bigger)\s+)*(?:text|titles?|captions?|font"
    r"|letters|words|subtitles?|headings?|headlines?|labels?|banners?|lower\s+third|overlays?|colou?r)\b)"
    rf"|\b(?:big|bigger|bold|small|smaller|large|huge|tiny|bright|dark|light)\s+(?P<en3>{_COLOUR_NAME})\b"
    rf"|(?<=[,;])\s*(?P<en4>{_COLOUR_NAME})\s*(?=$|[,;.])"
    r"|(?P<zh>粉红|[红白黑黄绿蓝橙紫粉灰金银])色")
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
    r"|(?:删除|删掉|去掉|去除|移除|清除|不要|取消)\s*(?:所有的?|全部的?)?\s*(?:(?:[上下左右中][面边方间]|顶部|底部)的?\s*)?"
    r"(?:[\ue000-\ue0ff]\s*)?(?:的\s*)?(?:标题|文字|字幕|文本|文案)")

_TEXT_REPLACE: Final = re.compile(
    r"\b(?:replace|change|swap|switch)\s+(?:the\s+(?:text|title|caption|words?)\s+)?(?P<old>[\ue000-\ue0ff])\s+"
    r"(?:with|to|for|into|by)\s+(?:the\s+(?:text|title|caption)\s+)?(?P<new>[\ue000-\ue0ff])"
    r"|把\s*(?P<zold>[\ue000-\ue0ff])\s*(?:改成|换成|替换成|改为|替换为)\s*(?P<znew>[\ue000-\ue0ff])")
_CHANGE: Final = re.compile(r"\b(?:change|replace|update|edit|rename|swap|switch)\b|改成|换成|改为|修改|替换|更改")


def _find_text_removal(s: str, ctx: _Context) -> _Result:
    """"remove the title", "删除文字", and the first half of "replace 'Old' with 'New'"."""
    found: list[_Found | _Declined] = []
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
    found: list[_Found | _Declined] = []
    spans: list[Span] = []
    marks = list(_PLACEHOLDER.finditer(s))
    previous: tuple[int, dict[str, Any]] | None = None       # where the last text taken ends, and its args
    for k, mark in enumerate(marks):
        text = _quote(ctx, mark.group())
        start = _clause(s, mark.start())[0]
        if start > 0 and not s[start:mark.start()].strip(" :"):      # "add a title, 'Hi'": the clause before says it
            start = _clause(s, start - 1)[0]
        start = max(marks[k - 1].end() if k else 0, previous[0] if previous else 0, start)
        end = min(marks[k + 1].start() if k + 1 < len(marks) else len(s), _region_end(s, mark.end()))
        before, after = (start, mark.start()), (mark.end(), end)
        # "overlay 'A' for 2 seconds and 'B' after that": a text listed after another one takes its verb
        listed = previous is not None and bool(_LIST_JOIN.fullmatch(_blank(s, spans), previous[0], mark.start()))
        if _is_audio_name(text, ctx.facts) or not (
                listed or _search(_TEXT_NOUN, s, (before, after)) or _search(_TEXT_VERB, s, (before,))
                or any(_search(p, s, (after,)) for p, _ in _POSITIONS)):
            continue
        args, used = _text_details(s, (after, before), ctx.facts)
        if previous and previous[1].get("end_ms") and "start_ms" not in args and (
                then := _search(_AFTER_PREVIOUS, s, (after, before))):
            args["start_ms"] = previous[1]["end_ms"]
            used.append(then.span())
        where = min([mark.start(), *(a for a, _ in used)])
        if (change := _search(_CHANGE, s, (before,))) and _search(_TEXT_NOUN, s, (before,)):
            found.append(_Found(where, make_op("remove_text")))     # "change the title to 'New'": old text out first
            used.append(change.span())
        found.append(_Found(where, make_op("add_text", text=text[:1000], **args)))
        spans += [mark.span(), *used]
        previous = (max(b for _, b in [mark.span(), *used]), args)
    return [*found, *_texts_without_words(s, _blank(s, spans), ctx)], spans


_TEXT_WANTED: Final = re.compile(
    r"\b(?:add|put|give\s+it|throw|stick|slap|include|insert|place|want|need|write|overlay)\s+(?:on\s+)?"
    r"(?:an?\s+|the\s+|some\s+|my\s+)?(?:[a-z]+\s+){0,2}?(?:titles?|captions?|headings?|headlines?|texts?|subtitles?"
    r"|labels?|banners?|lower\s+thirds?)\b(?:\s+on(?:\s+(?:it|top))?\b)?"
    r"|(?:加|添加|加上|加个|放|打上|配上|写)\s*(?:个|1\s*个|1\s*行|行|段|1\s*段)?\s*(?:[红白黑黄绿蓝橙紫粉灰金银]色的?)?\s*"
    r"(?:大|小)?\s*(?:标题|字幕|文字|文案)")
_NEEDS_WORDS: Final = ("I need the words to write: say them in quotes, e.g. add the title 'Summer Sale' (I can't "
                       "write captions from the speech).",
                       "请告诉我要写的文字，例如：加标题「夏日特卖」（我不能根据语音自动生成字幕）。")


def _texts_without_words(s: str, unused: str, ctx: _Context) -> list[_Declined]:
    """"put a title on", "加个字幕": text asked for with no words for it, said back instead of guessed."""
    if ctx.promo:                          # a promo writes its own title and closing line
        return []
    wanted = list(_TEXT_WANTED.finditer(unused))
    declined = []
    for k, m in enumerate(wanted):
        until = wanted[k + 1].start() if k + 1 < len(wanted) else len(s)
        start = _clause(s, m.start())[0]
        words = [mark for mark in _PLACEHOLDER.finditer(s, start, until)
                 if not _is_audio_name(_quote(ctx, mark.group()), ctx.facts)]
        if not words:                      # no text in its clause, nor after it ("add a title, 'Hi'")
            declined.append(_Declined(m.start(), Unmet(_as_said(m.group()), *_NEEDS_WORDS)))
    return declined


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
        name = colour["en"] or colour["en2"] or colour["en3"] or colour["en4"] or colour["zh"]
        args["color"] = colour["hex"] or _COLOURS[name]
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
