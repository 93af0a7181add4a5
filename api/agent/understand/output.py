"""The output file: format, loop, fps, width or resolution, size limit, quality and sound, as one
``set_output`` op. Exports go up to 1080p: "4K"/"8K" set 1080p and say so (a declined part of the request)."""

from __future__ import annotations

import re
from typing import Any, Final

from api.agent.ops import make_op
from api.agent.understand.clauses import _blank, _clause
from api.agent.understand.model import Span, Unmet, _Context, _Declined, _Found, _Result
from api.agent.understand.sentence import _as_said

_FORMAT: Final = re.compile(r"\b(?P<f>gif+s?|webm|webp|mp4|m4v)\b|(?P<zh>动图)")
_SOURCE_FORMAT: Final = re.compile(r"(?:\b(?:from|of)\s+(?:the\s+|this\s+|my\s+|an?\s+)?|\bthis\s+)$")
_OUTPUT: Final[tuple[tuple[str, re.Pattern[str]], ...]] = tuple((key, re.compile(p)) for key, p in (
    ("no_loop", r"\b(?:no|without|don't|do\s+not|not|never)\s+(?:loop|looping|repeat|repeating)\b"
                r"|\bplays?\s+(?:only\s+)?once\b|\bonce\s+only\b|\b1[\s-]time\b|\bsingle\s+play\b"
                r"|不循环|不要循环|只播放?\s*1\s*次|播放\s*1\s*次|播\s*1\s*次|只播\s*1\s*遍"),
    ("loop", r"\bloop(?:ing|s|ed)?\b|\brepeat(?:ing|s)?\b|\bendless(?:ly)?\b|循环"),
    ("fps", r"(?P<n>\d+(?:\.\d+)?)\s*(?:fps|frames?\s*(?:per|/|a)\s*(?:second|sec|s)\b|帧每秒|帧/秒|帧)"
            r"|\b(?:fps|frame\s*rate|framerate)\s*(?:of|to|at|=|:)?\s*(?P<m>\d+(?:\.\d+)?)"
            r"|帧率\s*(?:为|是|改成|设为|设置为|调到)?\s*(?P<z>\d+(?:\.\d+)?)"),
    ("size", r"(?P<w>\d{2,4})\s*[x×*]\s*(?P<h>\d{2,4})\b"),
    ("width", r"(?P<n>\d+)\s*(?:px|pixels?|像素)(?:\s*(?:wide|width|宽))?|(?P<m>\d+)\s*wide\b"
              r"|\bwidth\s*(?:of|to|=|:)?\s*(?P<z>\d+)|宽度?\s*(?:为|是|设为|:)?\s*(?P<y>\d+)"),
    ("resolution", r"(?<!\d)(?P<n>360|480|540|720|1080)\s*p\b"),
    ("beyond", r"(?:\bup[\s-]?scaled?\s+(?:it\s+|this\s+|the\s+\w+\s+)?(?:to|into|in)\s+)?(?<![a-z\d])"
               r"(?:[248]k|uhd|qhd|ultra\s*hd|(?:1440|2160|4320)\s*p)(?![a-z\d])|超高清"),
    ("full_hd", r"\b(?:full\s*hd|fhd|up[\s-]?scaled?|upres)\b|全高清|超清|蓝光|提高分辨率"),
    ("hd", r"\bhd\b|高清"),
    ("max_mb", r"(?:\b(?:under|less\s+than|below|smaller\s+than|at\s+most|max(?:imum)?"
               r"|no\s+(?:more|bigger|larger)\s+than|not\s+(?:over|more\s+than|exceed(?:ing)?)|within|up\s+to)|<=?|小于|(?:不要|别|不能|不可以?|不得|不)\s*(?:超过|超出|大于|多于)|低于|控制在|压缩到|压到|最多|最大)"
               r"\s*(?P<n>\d+(?:\.\d+)?)\s*(?P<u>mb|megabytes?|megs?|m|kb|kilobytes?|兆字节|兆b?|mib)(?![a-z])"
               r"|(?P<m>\d+(?:\.\d+)?)\s*(?P<v>mb|megabytes?|m|kb|兆字节|兆b?)\s*(?:以内|以下|之内|内|max\b|or\s+less\b|limit\b)"),
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


_BEYOND_1080P: Final = ("Exports go up to 1080p, so I set 1080p: there is no 4K output or upscaling past 1080p here.",
                        "导出最高为 1080p，已设为 1080p：这里不能导出 4K，也不能放大到 1080p 以上。")


def _find_output(s: str, ctx: _Context) -> _Result:
    args: dict[str, Any] = {}
    spans: list[Span] = []
    declined: list[_Declined] = []
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
        elif key == "beyond":
            args["resolution"] = "1080p"
            declined.append(_Declined(m.start(), Unmet(_as_said(m.group()), *_BEYOND_1080P)))
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
    return [_Found(min(a for a, _ in spans), make_op("set_output", **args)), *declined], spans
