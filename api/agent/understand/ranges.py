"""Keeping, removing or repeating part of the timeline: "the first 3 seconds", "0:02 to 0:05", "00:00:02 to
00:00:07", "everything after 10s", "trim it to 10 seconds", "cut the end", "repeat the first 2 seconds three times"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from api.agent.ops import Op, make_op
from api.agent.understand.clauses import _blank, _clause, _next_clause
from api.agent.understand.defaults import DEFAULT_TRIM_MS, REPEAT_TIMES
from api.agent.understand.model import MediaFacts, Span, _Context, _Declined, _Found, _Result
from api.agent.understand.times import _has_unit, _ms, _time, _unit_ms_of

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
    rf"(?:just\s+|only\s+)?{_time('t')}|\b(?:make|keep)\s+it\s+(?:only\s+|just\s+)?{_time('u')}"
    rf"(?:\s+long\b|(?=\s*(?:$|[,;!?]|\.(?!\d)|\s(?:and|then|please|max|tops)\b)))"
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
    r"|clip|gif|down)\s+){0,3}to\b|保留|只要|只留|留下|截取|截出|截成|剪出|提取|只保存"
    r"|\b(?:cut|trim|pare|whittle|chop|slim)\s+(?:it|this|that|the\s+\w+)\s+down\b"
    r"|\b(?:so\s+(?:that\s+)?)?(?:it's|it\s+is|it\s+becomes|it\s+ends\s+up|all\s+that's\s+left\s+is)\s+(?:just|only)\b")
# "but keep everything else", "其余保留": what is said is cut and the rest stays (a remove, whatever "keep" says).
_KEEP_REST: Final = re.compile(
    r"\b(?:keep|leave|preserve)\s+(?:everything|all|anything)\s+else\b(?:\s+(?:as\s+is|intact|alone))?"
    r"|\b(?:keep|leave|preserve)\s+(?:the\s+)?rest(?:\s+of\s+(?:it|the\s+(?:video|clip|footage|recording)))?\b(?!\s+of\b)(?:\s+(?:as\s+is|intact|alone))?"
    r"|\bleave\s+(?:everything|all)\s+(?:else\s+)?(?:as\s+is|alone|intact)\b"
    r"|(?:其[余他]|别的|剩下的?)(?:的|部分)?\s*(?:都|全部)?\s*(?:保留|留着|不变|不动)|保留其[余他](?:部分)?")
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


def _keep_rest(s: str, clause: Span, hits: list[_Range]) -> Span | None:
    """Where "keep the rest" / "其余保留" is said about a range: in its clause, or in the next clause when that one
    names no range of its own ("cut 0:02 to 0:04, keep the rest")."""
    if m := _KEEP_REST.search(s, *clause):
        return m.span()
    following = _next_clause(s, clause[1])
    while following and not s[slice(*following)].strip():
        following = _next_clause(s, following[1])
    if following and not any(following[0] <= h.span[0] < following[1] for h in hits):
        if m := _KEEP_REST.search(s, *following):
            return m.span()
    return None


def _find_ranges(s: str, ctx: _Context) -> _Result:
    found: list[_Found | _Declined] = []
    spans: list[Span] = []
    verb: str | None = None
    hits = _range_hits(s)
    for hit in hits:
        start, end = _clause(s, hit.span[0])
        clause = _blank(s, [hit.span])[start:end]
        if rest := _keep_rest(s, (start, end), hits):
            spans.append(rest)
            verb = "remove"
        elif _KEEP_VERB.search(clause) or (hit.kind == "span" and _TRIM_WORD.search(clause)):
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


_REPEAT_VERB: Final = re.compile(r"\b(?P<strong>repeat|replay)\b|\b(?:loop|play)\b|(?P<zstrong>重复|重播)|循环|播放")
_TIMES: Final = re.compile(r"(?<![\d.])(?P<n>\d+)\s*(?:times|x)\b(?!\s*(?:faster|slower|quicker|speed|as\s+(?:fast"
                           r"|quick|slow)))|\b(?P<w>twice|thrice)\b(?!\s+as\s+(?:fast|quick|slow))"
                           r"|(?P<z>\d+)\s*(?:次|遍)")
_REST_PLAYS: Final = re.compile(r"\s*(?:,\s*)?(?:and\s+|then\s+)*(?:let|have)\s+the\s+rest\s+(?:play|continue|run)"
                                r"(?:\s+(?:normally|as\s+(?:is|usual)))?\b|\s*(?:,\s*)?(?:然后|后面|剩下的?)\s*(?:正常|照常)播放")
_ANIMATED: Final = re.compile(r"\b(?:gif+s?|webp)\b|动图")


def _find_repeat(s: str, ctx: _Context) -> _Result:
    """"repeat the first 2 seconds three times", "play it twice", "前2秒重复3次": a part played several times in a row.

    "repeat"/"replay"/"重复" with a range or a count; "loop"/"play"/"循环"/"播放" only with a count (a bare "loop" is
    the GIF's loop flag). A range of the last seconds needs the timeline's length."""
    found: list[_Found | _Declined] = []
    spans: list[Span] = []
    for verb in _REPEAT_VERB.finditer(s):
        start, end = _clause(s, verb.start())
        count = _TIMES.search(s, start, end)
        hit = next((h for h in _range_hits(s[:end]) if h.span[0] >= start and h.kind in ("span", "first", "tail",
                                                                                          "last", "trim_to")), None)
        strong = bool(verb["strong"] or verb["zstrong"])
        if not count and not (strong and hit):
            continue
        times = REPEAT_TIMES
        if count:
            times = 2 if count["w"] == "twice" else 3 if count["w"] == "thrice" else int(count["n"] or count["z"])
        if times < 2:
            continue
        range_ms: tuple[int, int | None] = (0, None)
        if hit is not None:
            if hit.kind == "last":
                if ctx.facts.timeline_ms is None or ctx.facts.timeline_ms <= hit.end_ms:
                    continue
                range_ms = (ctx.facts.timeline_ms - hit.end_ms, None)
            elif hit.kind == "tail":
                range_ms = (hit.start_ms, None)
            else:
                range_ms = (hit.start_ms, hit.end_ms)
        args = {"start_ms": range_ms[0], "times": min(20, times)}
        if range_ms[1] is not None:
            args["end_ms"] = range_ms[1]
        found.append(_Found(verb.start(), make_op("repeat", **args)))
        if not strong and verb.group() in ("loop", "循环") and (animated := _ANIMATED.search(s)):
            # "loop it 3 times as a gif": three plays in the file, then it stops
            fmt = "webp" if animated.group() == "webp" else "gif"
            found.append(_Found(verb.start(), make_op("set_output", format=fmt, loop=False)))
        spans += [verb.span(), *([count.span()] if count else []), *([hit.span] if hit else [])]
        following = _clause(s, end + 1)[1] if end < len(s) else end      # this clause and the next
        if rest := _REST_PLAYS.search(s, verb.end(), following):  # "then let the rest play": what a repeat does
            spans.append(rest.span())
        s = _blank(s, spans)
    return found, spans
