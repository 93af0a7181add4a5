"""Edits of the whole clip: aspect (with a fill mode), mute / reverse / boomerang, and speed."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from api.agent.ops import make_op
from api.agent.understand.clauses import _blank, _clause, _requests
from api.agent.understand.defaults import FASTER, SLOW_MOTION, SLOWER
from api.agent.understand.model import Span, Unmet, _Context, _Declined, _Found, _Result
from api.agent.understand.sentence import _as_said

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


_MUTE: Final = re.compile(
    r"\bmute[ds]?\b|\bno\s+(?:sound|audio)\b|\bwithout\s+(?:the\s+|any\s+)?(?:sound|audio)\b|\bsilent(?:ly)?\b"
    r"|\bsilence\b|\b(?:remove|delete|drop|strip|kill|cut|turn\s+off|take\s+out|get\s+rid\s+of|lose)\s+(?:the\s+"
    r"|all\s+(?:the\s+)?|its\s+|any\s+)?(?:original\s+)?(?:sound|audio|voice|noise)\b|\b(?:sound|audio)\s+off\b"
    r"|静音|消音|无声|(?:去掉|去除|删除|删掉|不要|没有|关掉|关闭)\s*(?:视频|影片|片子|原视频)?\s*(?:的\s*)?(?:声音|音频|原声)"
    r"|(?<![乐歌])(?:声音|音频|原声)\s*(?:都|也|全部?)?\s*(?:去掉|去除|删除|删掉|不要了?|关掉|关闭|关了|拿掉|静音)")
_KEEP_MUSIC: Final = re.compile(r"\boriginal\s+(?:sound|audio)\b|\bvoice\b|\bkeep\s+the\s+music\b|原声")
_BOOMERANG: Final = re.compile(r"\bboomerang(?:\s+(?:loop|effect|style))?\b|\bping[\s-]?pong\b|\bback\s+and\s+forth\b"
                               r"|\bforwards?\s+(?:and|then)\s+(?:back|backwards?)\b|来回播放|来回|往返播放|回旋镖|乒乓")
_REVERSE: Final = re.compile(r"\breversed?\b|\breverses\b|\bbackwards?\b|\bin\s+reverse\b"
                             r"|倒放|倒着放|倒着播|倒序|反向播放|反着放|倒播")


def _find_effects(s: str, ctx: _Context) -> _Result:
    found: list[_Found | _Declined] = []
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


_SPEED_NUMBERS: Final[tuple[tuple[re.Pattern[str], Callable[[float], float]], ...]] = tuple(
    (re.compile(p), f) for p, f in (
        (r"\bspeed\s+(?:it\s+)?up\s+by\s+(\d+(?:\.\d+)?)\s*%", lambda n: 1 + n / 100),
        (r"(\d+(?:\.\d+)?)\s*%\s+(?:faster|quicker)\b", lambda n: 1 + n / 100),
        (r"(\d+(?:\.\d+)?)\s*%\s+slower\b", lambda n: 1 - n / 100),
        (r"\b(?:speed|playback\s+speed|playback\s+rate)\s*(?:to|of|at|=|:)?\s*(\d+(?:\.\d+)?)\s*%", lambda n: n / 100),
        (r"(\d+(?:\.\d+)?)\s*%\s*speed\b", lambda n: n / 100),
        (r"(\d+(?:\.\d+)?)\s*times\s+(?:as\s+|the\s+)?(?:faster|quicker|fast|speed)\b", lambda n: n),
        (r"(\d+(?:\.\d+)?)\s*times\s+slower\b", lambda n: 1 / n if n else 1),
        (r"(?<![\d.])(\d+(?:\.\d+)?)\s*x(?![a-z\d])|\bx\s*(\d+(?:\.\d+)?)\b(?!\s*\d)", lambda n: n),
        (r"(?:快|加快|提速|提高)\s*(?:了\s*)?1\s*倍(?!速)", lambda n: 2.0),      # 快一倍: twice as fast
        (r"(?:慢|放慢|降低|减慢)\s*(?:了\s*)?1\s*倍(?!速)", lambda n: 0.5),      # 慢一倍: half the speed
        (r"(\d+(?:\.\d+)?)\s*倍速?", lambda n: n),
        (r"\bspeed\s*(?:it\s+)?(?:up\s+)?(?:to|of|at)\s*(\d+(?:\.\d+)?)(?![\d.])(?:\s*(?:times|x)\b|(?!\s*[%a-z]))",
         lambda n: n),
    ))
_SPEED_WORDS: Final[tuple[tuple[re.Pattern[str], float], ...]] = tuple((re.compile(p), f) for p, f in (
    (r"\btwice\s+as\s+fast\b|\b(?:double|twice)\s+(?:the\s+)?speed\b|\bdouble[\s-]time\b", 2.0),
    (r"\bhalf\s+(?:the\s+)?speed\b|\bhalf[\s-]speed\b|\bhalf\s+as\s+fast\b|1?\s*半\s*速|1半的?速度", 0.5),
    (r"\bquarter\s+(?:the\s+)?speed\b|\bquarter[\s-]speed\b", 0.25),
    (r"\b(?:normal|original|regular|real[\s-]?time)\s+speed\b|正常速度|原速", 1.0),
    (r"\bslow[\s-]*mo(?:tion)?\b|\bslo[\s-]*mo\b|慢动作|慢镜头", SLOW_MOTION),
    (r"\bspeed\s+(?:it\s+|this\s+|that\s+|the\s+\w+\s+)?up\b|\bfaster\b|\bquicker\b|\bfast[\s-]*forward\b"
     r"|\b(?:make|play)\s+(?:it|this)\s+fast\b|\bspeedup\b|加速|加快|快进|快放|变快|调快|快1点|快1些", FASTER),
    (r"\bslow\s+(?:it\s+|this\s+|that\s+|the\s+\w+\s+)?down\b|\bslower\b|\b(?:make|play)\s+(?:it|this)\s+slow\b"
     r"|\bslowly\b|放慢|减速|慢放|慢速|变慢|调慢|慢1点|慢1些", SLOWER),
))


_COUNTED: Final = re.compile(r"\b(?:repeat|replay|loop)\b|重复|循环")     # "repeat it 3x": a count, not a speed


# A part of the timeline named in a speed request's own clause ("speed up the first 3 seconds", "slow motion from
# 0:02 to 0:04", "make the middle faster", 中间部分加速): speed applies to the whole timeline only, so such a request
# is said back rather than done to everything, or read as a trim.
_PART: Final = re.compile(
    r"\b(?:middle|part|section|portion|segment|stretch)s?\b"
    r"|\b(?:first|last|final|opening|closing)\s+(?:\d+(?:\.\d+)?\s*)?(?:s|secs?|seconds?|minutes?|mins?|half|third)\b"
    r"|\bfrom\s+(?:\d|the\s+\d)|\bbetween\s+\d|\d\s*(?:s|secs?|seconds?)?\s*(?:-|to|until|through)\s*\d"
    r"|中间|部分|一段|这段|那段|前\s*\d+(?:\.\d+)?\s*秒|后\s*\d+(?:\.\d+)?\s*秒|最后\s*\d|开头|结尾|第\s*\d+(?:\.\d+)?\s*秒")
_JOINED: Final = re.compile(r"\s(?:and|then|also|plus)\s|然后|并且|再")
_PART_SPEED: Final = (
    "I can only change the speed of the whole video, not of one part of it, so I left the speed as it was. Say "
    "\"speed it up\" for the whole video, or keep just that part first (\"keep 0:02 to 0:04\") and then change "
    "its speed.",
    "我只能调整整个视频的速度，不能只调其中一段，所以速度没有改。可以说“整体加速”，或者先只保留那一段（“保留第2秒到第4秒”）再调速度。")


def _find_speed(s: str, ctx: _Context) -> _Result:
    spans: list[Span] = []
    choice: tuple[int, float] | None = None
    for pattern, scale in _SPEED_NUMBERS:
        for m in pattern.finditer(s):
            if "x" in m.group() and _COUNTED.search(s, _clause(s, m.start())[0], m.start()):
                continue
            spans.append(m.span())
            number = next((g for g in m.groups() if g is not None), "1")
            choice = choice or (m.start(), scale(float(number)))
    for word_pattern, value in _SPEED_WORDS:
        for m in word_pattern.finditer(s):
            spans.append(m.span())
            choice = choice or (m.start(), value)
    if choice is None:
        return [], []
    # speed is for the whole timeline: a part named with it is said back (see _PART), never a trim nor everything
    start, end = next(((a, b) for a, b in _requests(s) if a <= choice[0] < b), _clause(s, choice[0]))
    joined = [m.end() for m in _JOINED.finditer(s, start, choice[0])]      # "keep 2 to 5 and 2x speed": two asks
    start = joined[-1] if joined else start
    if _PART.search(s, start, end):
        return [_Declined(choice[0], Unmet(_as_said(s[start:end]), *_PART_SPEED))], [(start, end)]
    factor = round(min(4.0, max(0.25, choice[1])), 3)
    return [_Found(choice[0], make_op("speed", factor=factor))], spans
