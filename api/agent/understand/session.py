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
                r"|全部撤销|重置"), "start_over", {}),
    (re.compile(r"\bundo\b|\brevert\b|\bgo\s+back\b|\btake\s+(?:that|it)\s+back\b|\bcancel\s+(?:that|the\s+last)"
                r"|撤销|撤回|回退|返回上一步|上一步"), "undo", {}),
    (re.compile(r"\b(?:show|list|see|view)\s+(?:me\s+)?(?:the\s+|my\s+)?(?:tracks?|timeline)\b|\bstatus\b"
                r"|\bwhat(?:'s|\s+is)\s+(?:on|in)\s+(?:the\s+|my\s+)?timeline\b|\bwhat\s+tracks\b"
                r"|状态|(?<![频乐])轨道|(?<![在])时间线"), "show_tracks", {}),
    (re.compile(r"\bexport\b|\bdownload\b|\bsend\s+(?:me\s+)?(?:the\s+|my\s+)?(?:video|file|gif|result|it)\b"
                r"|\bgive\s+me\s+the\s+(?:file|video|gif)\b|导出|(?<!可)下载|发给我"), "pointer", {"topic": "export"}),
    (re.compile(r"\bcredits?\b|\bbalance\b|积分|余额|点数"), "pointer", {"topic": "credits"}),
    (re.compile(r"\bupload(?:ing)?\b|上传(?!\s*了?\s*的)"), "pointer", {"topic": "upload"}),
)


def _find_session(s: str, ctx: _Context) -> _Result:
    found: list[_Found | _Declined] = []
    spans: list[Span] = []
    for pattern, name, args in _SESSION:
        matches = list(pattern.finditer(_blank(s, spans)))
        if matches:
            found.append(_Found(matches[0].start(), make_op(name, **args)))
            spans += [m.span() for m in matches]
    return found, spans
