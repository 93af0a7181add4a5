"""Builders, which make a video rather than edit one: promo, slideshow (a time per picture, or the whole show's
length) and still clip, and the transition between pictures."""

from __future__ import annotations

import re
from typing import Any, Final

from api.agent.ops import Op, make_op
from api.agent.understand.clauses import _blank, _clause
from api.agent.understand.model import Span, _Context, _Declined, _Found, _Result
from api.agent.understand.sentence import _PLACEHOLDER, _quote
from api.agent.understand.times import _lone_time, _ms, _time
from api.agent.understand.titles import _CLOSING

_PROMO: Final = re.compile(
    r"\b(?:promos?|promotional|promotion|adverts?|advertisements?|commercials?|marketing)\b"
    r"|\bads?\b(?!\s+(?:some|a|an|the|music|bgm|text|titles?|captions?|subtitles?|transitions?|songs?)\b)"
    r"|宣传|广告|推广")


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
    found: list[_Found | _Declined] = []
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
        elif length := _lone_time(_blank(s, spans)):          # "a 20 second slideshow": the whole show's length
            args["total_s"] = min(3600.0, _ms(length["t"]) / 1000) or None
            spans.append(length.span())
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
