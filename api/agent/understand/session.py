"""Session commands: start over, undo, show the tracks, and pointers to export, credits and upload."""

from __future__ import annotations

import re
from typing import Final

from api.agent.ops import make_op
from api.agent.understand.clauses import _blank
from api.agent.understand.model import Span, _Context, _Declined, _Found, _Result

_SESSION: Final[tuple[tuple[re.Pattern[str], str, dict[str, str]], ...]] = (
    (re.compile(r"\bstart\s+(?:over|again|afresh|from\s+scratch)\b|\bfrom\s+scratch\b"
                r"|\breset\b(?!\s+(?:the\s+)?(?:music|volume|speed|title|text|fps|size|width|loop))"
                r"|\b(?:go|get|take\s+it|bring\s+it)\s+back\s+to\s+(?:the\s+|my\s+)?(?:original|start|beginning|upload"
                r"|raw)\b|\brevert\s+(?:it\s+|everything\s+|all\s+)?(?:back\s+)?to\s+(?:the\s+)?"
                r"(?:original|start|beginning)\b|\bback\s+to\s+(?:the\s+)?original\b"
                r"|\bundo\s+(?:everything|all(?:\s+(?:the|my))?(?:\s+(?:edits|changes))?)\b"
                r"|\b(?:clear|discard|drop|throw\s+away)\s+(?:all\s+)?(?:the\s+|my\s+)?(?:edits|changes)\b"
                r"|重新开始|重新来|从头开始|从头再来|恢复原样|恢复原始|回到原始|回到最初|还原(?!.*?(?:音量|速度))|撤销(?:所有|全部)"
                r"|全部撤销|重置|(?:全部|都|一切|推倒)\s*重来|重来1遍|重头来过"), "start_over", {}),
    (re.compile(r"\bundo\b|\brevert\b|\bgo\s+back\b|\btake\s+(?:that|it|this)\s+back\b|\bcancel\s+(?:that|the\s+last)"
                r"|\bscratch\s+(?:that|this)\b(?:\s+(?:last\s+)?(?:change|edit|step|one))?"
                r"|\b(?:reverse|discard|drop|cancel|throw\s+away|get\s+rid\s+of)\s+(?:the\s+|that\s+|my\s+)?"
                r"(?:last|latest|previous)\s+(?:change|edit|step)\b|\bnever\s*mind\s+(?:that|the\s+last\s+(?:change|edit))\b"
                r"|撤销|撤回|回退|返回上一步|上一步"), "undo", {}),
    (re.compile(r"\b(?:show|list|see|view)\s+(?:me\s+)?(?:the\s+|my\s+)?(?:tracks?|timeline)\b|\bstatus\b"
                r"|\bwhat(?:'s|\s+is)\s+(?:on|in)\s+(?:the\s+|my\s+)?timeline\b|\bwhat\s+tracks\b"
                r"|\bwhat\s+(?:do\s+i|have\s+i|did\s+i)\s+(?:have|got|put)\s+(?:on|in)\s+(?:the\s+|my\s+)?timeline\b"
                r"|状态|(?<![频乐])轨道|(?<![在])时间线|时间线上?\s*(?:现在|目前)?\s*都?\s*(?:有什么|有哪些|有啥|是什么)"),
     "show_tracks", {}),
    (re.compile(r"\bexport\b|\bdownload\b|\bsend\s+(?:me\s+)?(?:the\s+|my\s+)?(?:video|file|gif|result|it)\b"
                r"|\bgive\s+me\s+the\s+(?:file|video|gif)\b|导出|(?<!可)下载|发给我"), "pointer", {"topic": "export"}),
    (re.compile(r"\bcredits?\b|\bbalance\b|积分|余额|点数"), "pointer", {"topic": "credits"}),
    (re.compile(r"\bupload(?:ing)?\b|上传(?!\s*了?\s*的)"), "pointer", {"topic": "upload"}),
)


# How many edits an undo takes back: "undo both", "undo the last 3 changes", "undo twice", "撤销2步".
_UNDO_COUNT: Final = re.compile(
    r"\s*(?:(?:both|all\s+2)(?:\s+of\s+(?:those|them|these|my\s+(?:changes|edits)))?(?:\s+(?:changes|edits|steps))?"
    r"|(?:the\s+)?(?:last|previous|past)\s+(?P<n>\d+)(?:\s+(?:changes|edits|steps|ones))?"
    r"|(?:it\s+|that\s+)?(?P<m>\d+)\s+(?:times|steps|changes|edits)|(?:it\s+|that\s+)?(?P<w>twice|thrice))\b"
    r"|\s*(?:最后|前面的?|刚才的?)?\s*(?P<z>\d+)\s*(?:步|次|个(?:修改|操作|步骤)?|下)")
_MAX_UNDOS: Final = 10


def _undos(s: str, m: re.Match[str]) -> tuple[int, Span]:
    """How many undos the words after an undo ask for, and the span they take (1 and the undo's own span)."""
    count = _UNDO_COUNT.match(s, m.end())
    if count is None:
        return 1, m.span()
    said = count["n"] or count["m"] or count["z"]
    n = int(said) if said else 3 if count["w"] == "thrice" else 2
    return max(1, min(_MAX_UNDOS, n)), (m.start(), count.end())


def _find_session(s: str, ctx: _Context) -> _Result:
    found: list[_Found | _Declined] = []
    spans: list[Span] = []
    for pattern, name, args in _SESSION:
        matches = list(pattern.finditer(_blank(s, spans)))
        if not matches:
            continue
        times, first = _undos(s, matches[0]) if name == "undo" else (1, matches[0].span())
        found += [_Found(matches[0].start(), make_op(name, **args)) for _ in range(times)]
        spans += [first, *(m.span() for m in matches[1:])]
    return found, spans
