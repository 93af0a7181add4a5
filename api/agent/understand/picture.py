"""The picture itself: crop to or out a part of the frame, blur a fixed part of it, enhance picture and sound, and
the requests that need object detection (blur the faces, remove the person), declined with what can be done.

A part of the frame is a box of fractions (x, y from the top left; w, h): "the top left corner", "the bottom
third", "the left half", "the top 10%", "the center", "右下角", "上面", "左半边", "下方三分之一". What a bare
edge or corner amounts to depends on the verb (:data:`defaults.BLUR_EDGE`, :data:`defaults.CROP_EDGE`,
:data:`defaults.BLUR_CORNER`): cropping *to* a part keeps it, cropping *out* or *off* a part keeps the rest.
"""

from __future__ import annotations

import re
from typing import Final

from api.agent.ops import make_op
from api.agent.understand.clauses import _blank, _clause
from api.agent.understand.defaults import BLUR_CORNER, BLUR_EDGE, CROP_EDGE
from api.agent.understand.model import Span, Unmet, _Context, _Declined, _Found, _Result
from api.agent.understand.sentence import _as_said

Box = tuple[float, float, float, float]

_NO_DETECTION: Final = Unmet(
    "", "I can't find or follow faces, plates or people in the picture: nothing here detects objects. I can blur a "
        "fixed part of the frame instead, e.g. \"blur the bottom-right corner\" or \"blur the top third\".",
    "我无法识别或跟踪人脸、车牌或人物（这里没有目标检测）。可以改为模糊画面的固定区域，例如「模糊右下角」或「模糊上方三分之一」。")
_NO_REMOVAL: Final = Unmet(
    "", "I can't remove people or objects from the picture (nothing here paints them out). I can crop them out "
        "(\"crop to the left half\") or blur a fixed part of the frame (\"blur the bottom-right corner\").",
    "我无法从画面中抹去人物或物体。可以裁掉一部分画面（例如「裁剪到左半边」），或模糊固定区域（例如「模糊右下角」）。")
_NO_DENOISE: Final = Unmet(
    "", "I can't take noise out of the sound here. I can even out its loudness (\"normalize the audio\") or remove "
        "the clips' sound (\"mute it\").",
    "这里不能给声音降噪。可以统一响度（「音量标准化」），或去掉视频原声（「静音」）。")
_NO_ROTATION: Final = Unmet(
    "", "I can't rotate or flip the picture here. I can change the frame's shape (\"make it 9:16\", \"square\") "
        "or crop it (\"crop to the left half\").",
    "这里不能旋转或翻转画面。可以改变画面比例（「改成竖屏9:16」「方形」），或裁剪画面（「裁剪到左半边」）。")
_NO_FILTER: Final = Unmet(
    "", "I can't apply colour filters such as black and white or sepia here. I can make the picture look better "
        "(\"enhance\": levels, contrast and colour from the picture itself).",
    "这里不能加黑白、复古等滤镜。可以自动优化画面（「画质优化」：根据画面调整亮度、对比度和色彩）。")
_THINGS: Final = (r"(?:faces?|heads?|(?:license|licence|number|car)\s+plates?|plates?|people|persons?|man|woman|men"
                  r"|women|kids?|child(?:ren)?|logos?|brand(?:ing|s)?|eyes?|tattoos?|background|bystanders?"
                  r"|passers?[\s-]?by|pedestrians?|crowd|cars?|objects?|watermarks?|guy|girl|boy|tourists?"
                  r"|photobomber|shadow|reflection)")
_ZH_THINGS: Final = r"(?:人脸|脸部?|车牌号?|路人|行人|人物|人(?!声)|背景(?!\s*(?:音|乐|声|噪))|水印|logo|商标|车辆?)"
_CANNOT: Final[tuple[tuple[re.Pattern[str], Unmet], ...]] = (
    (re.compile(r"\b(?:blur|pixelate|pixeli[sz]e|censor|mosaic|hide|mask|obscure|cover|anonymi[sz]e|detect)\s+"
                r"(?:out\s+|up\s+)?(?:the\s+|all\s+(?:the\s+)?|any\s+|his\s+|her\s+|their\s+|my\s+"
                r"|every\s+|people'?s\s+|everyone'?s\s+)?(?:[a-z']+\s+){0,2}?" + _THINGS + r"\b"
                r"|(?<!背景)" + _ZH_THINGS + r"\s*(?:打上?码|打马赛克|模糊|遮挡|遮住)"
                r"|(?:模糊|打码|打上码|打马赛克|遮挡|遮住|识别|跟踪)\s*(?:掉\s*)?(?:画面中?的?\s*)?" + _ZH_THINGS),
     _NO_DETECTION),
    (re.compile(r"\b(?:remove|erase|delete|get\s+rid\s+of|take\s+out|cut\s+out|edit\s+out|paint\s+out)\s+(?:the\s+"
                r"|that\s+|this\s+|a\s+|those\s+|these\s+|all\s+(?:the\s+)?)?(?:[a-z]+\s+){0,2}?" + _THINGS
                + r"\b(?!\s+(?:music|sound|noise|audio|track|song|voice))"
                r"|(?:抠掉|抠除|去掉|删掉|移除|去除|擦掉|抹掉)\s*(?:画面中?的?\s*)?(?:[上下左右][边面侧方]?的?\s*)?"
                + _ZH_THINGS),
     _NO_REMOVAL),
    (re.compile(r"\b(?:remove|reduce|cut|clean\s+up|get\s+rid\s+of|filter\s+out|take\s+out|lose)\s+"
                r"(?:the\s+|all\s+(?:the\s+)?"
                r"|any\s+|that\s+)?(?:background\s+|wind\s+|street\s+|crowd\s+)?(?:noise|hiss|hum|echo)\b|\bde-?noise\b"
                r"|\bnoise\s+(?:reduction|removal|cancell?ing)\b|降噪|去噪|(?:去掉|去除|消除|减少|降低)\s*(?:背景)?\s*(?:噪音|杂音|噪声)"),
     _NO_DENOISE),
    (re.compile(r"\b(?:rotate|rotated|turn|tilt)\s+(?:it\s+|this\s+|the\s+(?:video|clip|picture|image)\s+)?(?:by\s+)?"
                r"(?:90|180|270|-90)\s*(?:degrees?|°)?|\brotate(?:d)?\b(?:\s+(?:it|this|the\s+(?:video|clip)))?"
                r"(?:\s+(?:clockwise|counter-?clockwise|anti-?clockwise|left|right))?|\b(?:flip|mirror)(?:ped)?\b"
                r"(?:\s+(?:it|this|the\s+(?:video|clip|picture|image)))?"
                r"(?:\s+(?:horizontally|vertically|upside\s+down))?"
                r"|\bupside\s+down\b|旋转(?:\s*\d+\s*度)?|翻转|镜像|倒过来"), _NO_ROTATION),
    (re.compile(r"\b(?:black\s+and\s+white|black\s*&\s*white|b\s*&\s*w|grayscale|greyscale|monochrome|sepia"
                r"|vintage\s+(?:look|filter|effect)|(?:instagram\s+|colou?r\s+|retro\s+)?filters?)\b|黑白|滤镜|复古"),
     _NO_FILTER),
)

_REGION: Final = re.compile(
    r"\b(?:the\s+)?(?P<cv>top|upper|bottom|lower)[\s-]*(?P<ch>left|right)(?:[\s-]*(?:hand\s+)?corner)?\b"
    r"|\b(?:the\s+)?(?P<ch2>left|right)[\s-]*(?:hand\s+)?(?P<cv2>top|bottom)(?:\s+corner)?\b"
    r"|\b(?:the\s+)?(?P<mid>center|centre|middle)\b(?:\s+(?:part|area|of\s+the\s+(?:frame|screen|picture|video"
    r"|image)))?"
    r"|\b(?:the\s+|both\s+)?(?P<sides>sides|edges)\b"
    r"|(?P<pct2>\d+(?:\.\d+)?)\s*%\s+(?:from|off|of)\s+(?:the\s+)?(?P<side2>top|bottom|left|right)\b"
    r"|\b(?:the\s+)?(?P<side>top|upper|bottom|lower|left|right)(?:[\s-]*hand)?(?:\s+(?:(?P<part>half|third|quarter)"
    r"|(?P<pct>\d+(?:\.\d+)?)\s*%))?(?:\s+(?:part|side|edge|portion|strip|area|bit|of\s+the\s+(?:frame|screen"
    r"|picture|video|image)))?(?![a-z])"
    r"|(?P<zc>[左右][上下]|[上下][左右])角?"
    r"|(?P<zmid>正?中间|中心|中央|正中)"
    r"|(?P<zsides>两边|两侧)"
    r"|(?:画面)?(?P<zside>[上下左右顶底])(?:(?P<zhalf>半)(?:部分|部|边|截)?|(?:面|方|边|侧|部|端)(?:的(?=\s*\d))?\s*"
    r"(?:(?P<zpct>\d+(?:\.\d+)?)\s*%|(?P<zden>\d+)\s*分之\s*(?P<znum>\d+))?)")
_SIDE_NAMES: Final = {"top": "top", "upper": "top", "bottom": "bottom", "lower": "bottom", "left": "left",
                      "right": "right", "上": "top", "顶": "top", "下": "bottom", "底": "bottom", "左": "left",
                      "右": "right"}
_PARTS: Final = {"half": 1 / 2, "third": 1 / 3, "quarter": 1 / 4}

_OF_REGION: Final = re.compile(r"\s*的\s*(?!(?:1\s*)?部分|画面|区域)[^\s,;!?，；！？]")
_BLUR_VERB: Final = re.compile(r"\b(?:blur(?:red)?|pixelate|pixeli[sz]e|censor|obscure|mask)(?:\s+out)?\b"
                               r"|模糊(?:掉)?|打\s*(?:上|个|1\s*个|1\s*下)?\s*码|打马赛克|马赛克")
# A blur whose object points back to a part of the frame named before ("there's a watermark in the bottom right
# corner, can you blur that area", "右上角有个二维码，帮我打个码").
_BACK_REFERENCE: Final = re.compile(
    r"\s+(?:(?:that|this|the)\s+(?:(?:whole|entire)\s+)?(?:area|spot|part|region|bit|section|corner|patch|zone)"
    r"|(?:that|this|the|it)\s+(?:[a-z]+\s+)?" + _THINGS + r"|it|that|there|them|this|those)\b"
    r"(?:\s+(?:out|up|over|for\s+me|please))*\s*$"
    r"|\s*(?:掉|一下|1下|它|这个|那个|那里|那块|这块|那儿|这里|吧|了|一下吧)*\s*$")
_KEEP_VERB: Final = re.compile(
    r"\bcrop\s+(?:it\s+|this\s+|the\s+(?:video|frame|picture|image|clip|shot)\s+)?(?:in\s+|down\s+)?(?:to|into)\b"
    r"|\bzoom(?:ed)?\s+(?:in\s+)?(?:into|in\s+on|on|to)\b|\bfocus\s+on\b"
    r"|裁剪(?:成|到|出)?|裁成|裁出|只保留画面|放大(?=\s*(?:画面)?(?:正?中间|中心|中央|[左右][上下]|[上下][左右]))"
    r"|\b(?:only\s+)?(?:keep|show|leave)\s+(?:only\s+|just\s+)?(?=(?:the\s+)?(?:top|upper|bottom|lower|left|right)"
    r"(?:[\s-]*hand)?\s+(?:half|third|quarter)\b)"
    r"|(?:只|仅)?\s*(?:保留|留下?|要|显示)(?=\s*(?:画面)?\s*的?\s*[上下左右]\s*半)")
_REMOVE_VERB: Final = re.compile(
    r"\bcrop\s+(?:out|off|away)\b|\bcrop\b|\b(?:cut|trim|chop|shave|remove|take)\s+(?:off|out|away)\b"
    r"|(?:裁掉|裁去|切掉|剪掉|去掉|裁剪掉|剪裁掉|切去)(?!\s*的?\s*(?:文字|标题|字幕|字|水印|logo|音乐|声音))")


def _side_box(side: str, f: float) -> Box:
    return {"top": (0.0, 0.0, 1.0, f), "bottom": (0.0, 1 - f, 1.0, f), "left": (0.0, 0.0, f, 1.0),
            "right": (1 - f, 0.0, f, 1.0)}[side]


def _rest_box(side: str, f: float) -> Box:
    return {"top": (0.0, f, 1.0, 1 - f), "bottom": (0.0, 0.0, 1.0, 1 - f), "left": (f, 0.0, 1 - f, 1.0),
            "right": (0.0, 0.0, 1 - f, 1.0)}[side]


def _boxes(m: re.Match[str], mode: str) -> list[Box]:
    """The boxes a region names, for mode "blur" (the part blurred), "keep" (crop to it) or "remove" (crop it off).
    Empty when the region makes no sense for the mode (crop off a corner, crop to both sides)."""
    vertical = m["cv"] or m["cv2"]
    horizontal = m["ch"] or m["ch2"]
    if m["zc"]:
        vertical, horizontal = next(c for c in m["zc"] if c in "上下"), next(c for c in m["zc"] if c in "左右")
    if vertical and horizontal:
        if mode == "remove":
            return []
        c = BLUR_CORNER if mode == "blur" else 0.5
        x = 0.0 if _SIDE_NAMES[horizontal] == "left" else 1 - c
        y = 0.0 if _SIDE_NAMES[vertical] == "top" else 1 - c
        return [(x, y, c, c)]
    if m["mid"] or m["zmid"]:
        return [] if mode == "remove" else [(0.25, 0.25, 0.5, 0.5)]
    if m["sides"] or m["zsides"]:
        f = BLUR_EDGE if mode == "blur" else CROP_EDGE
        return {"blur": [_side_box("left", f), _side_box("right", f)], "keep": [],
                "remove": [(f, 0.0, 1 - 2 * f, 1.0)]}[mode]
    side = _SIDE_NAMES[m["side"] or m["side2"] or m["zside"]]
    pct = m["pct"] or m["pct2"] or m["zpct"]
    if pct:
        f = float(pct) / 100
    elif m["part"]:
        f = _PARTS[m["part"]]
    elif m["zhalf"]:
        f = 0.5
    elif m["zden"]:
        f = int(m["znum"]) / int(m["zden"]) if int(m["zden"]) else 0.0
    else:
        f = {"blur": BLUR_EDGE, "keep": 0.5, "remove": CROP_EDGE}[mode]
    if not 0 < f < 1:
        return []
    return [_rest_box(side, f) if mode == "remove" else _side_box(side, f)]


def _rounded(box: Box) -> dict[str, float]:
    return dict(zip(("x", "y", "w", "h"), (round(v, 4) for v in box), strict=True))


def _region_before(s: str, pos: int) -> re.Match[str] | None:
    """The last part of the frame named before ``pos``, in the clauses before it."""
    return next(reversed(list(_REGION.finditer(s, 0, pos))), None)


def _points_back(s: str, pos: int) -> bool:
    """Whether the blur at ``pos`` is of a part of the frame named in an earlier clause ("there's a logo in the top
    left, blur the logo")."""
    start, end = _clause(s, pos)
    verb = _BLUR_VERB.match(s, pos)
    return bool(verb and _BACK_REFERENCE.match(s, verb.end(), end) and _REGION.search(s, 0, start))


def _find_regions(s: str) -> tuple[list[_Found], list[Span]]:
    found: list[_Found] = []
    spans: list[Span] = []
    for verb_pattern, mode, name in ((_BLUR_VERB, "blur", "blur"), (_KEEP_VERB, "keep", "crop"),
                                     (_REMOVE_VERB, "remove", "crop")):
        for verb in verb_pattern.finditer(_blank(s, spans)):
            start, end = _clause(s, verb.start())
            after = _REGION.search(_blank(s, spans), verb.end(), end)
            before = None if after else _REGION.search(_blank(s, spans), start, verb.start())
            region = after or before
            if region is None and mode == "blur" and _BACK_REFERENCE.match(s, verb.end(), end):
                region = _region_before(_blank(s, spans), start)
            elif region is None or (before and not re.search(r"[\u4e00-\u9fff]", verb.group())):
                continue
            if region is None:
                continue
            if mode == "remove" and _OF_REGION.match(s, region.end()):
                continue                   # "去掉上面的文字": the text up there, not the top of the frame
            boxes = _boxes(region, mode)
            if boxes:
                found += [_Found(verb.start(), make_op(name, **_rounded(box))) for box in boxes]
                spans += [verb.span(), region.span()]
    return found, spans


_ENHANCE_PICTURE: Final = re.compile(
    r"\b(?:make|get)\s+(?:it|this|the\s+(?:video|clip|picture|image|footage))\s+look\s+(?:a\s+lot\s+|much\s+|way\s+)?"
    r"(?:sharper|brighter|more\s+vivid|more\s+colou?rful)\b|\b(?:make|get)\s+the\s+(?:picture|image)\s+look\s+"
    r"(?:\w+\s+)?better\b"
    r"|\bimprove\s+(?:the\s+)?(?:quality|picture|image|look|colou?rs?|lighting|video\s+quality)\b"
    r"|\b(?:fix|correct|enhance|boost)\s+(?:the\s+)?(?:colou?rs?|lighting|exposure|brightness|contrast|white\s+balance"
    r"|saturation)\b|\bcolou?r[\s-]*(?:correct(?:ion|ed)?|grade|grading)\b"
    r"|\b(?:brighter|brighten(?:\s+(?:it|this|the\s+\w+))?(?:\s+up)?|more\s+vivid|vivid|more\s+colou?rful"
    r"|more\s+contrast|punchier|more\s+saturat(?:ed|ion))\b|\bauto[\s-]?(?:enhance|correct|levels?|colou?r)\b"
    r"|\btoo\s+dark\b|\bwashed[\s-]+out\b"
    r"|\blooks?\s+(?:a\s+bit\s+|kind\s+of\s+|kinda\s+|really\s+)?(?:dark|dull|muddy|flat)\b"
    r"|\b(?:footage|picture|image|video|clip|colou?rs?|lighting|shot|it)\s+(?:is|are|was|looks?|seems?|feels?|'s)\s+"
    r"(?:a\s+(?:bit|little)\s+|kind\s+of\s+|kinda\s+|sort\s+of\s+|really\s+|very\s+|so\s+|too\s+|pretty\s+"
    r"|quite\s+|rather\s+)?(?:dark|dull|muddy|flat|dim|drab|lifeless|bland|washed[\s-]+out|gr[ae]y|murky|faded)\b"
    r"|(?:画面|颜色|色彩|视频)\s*(?:有点|太|很|比较)?\s*(?:暗|灰|发灰|暗淡|平淡|没有?层次)"
    r"|\blighten\s+(?:it|this|the\s+\w+)(?:\s+up)?\b|\bcolou?rs?\s+(?:pop|brighter|richer|stronger|more\s+vivid)\b"
    r"|调亮|提亮|变亮|亮1点|亮1些|画质优化|优化画质|画质增强|增强画质|调色|更鲜艳|鲜艳1点|色彩更|颜色更|对比度|饱和度"
    r"|好看1点|更好看|画面优化|优化画面|太暗")
_ENHANCE_SOUND: Final = re.compile(
    r"\bnormali[sz]e\s+(?:the\s+)?(?:audio|sound|loudness|volume|levels?)\b|\bnormali[sz]e\s+it\b"
    r"|\b(?:loudness|audio|sound|volume)\s+normali[sz]ation\b"
    r"|\b(?:fix|enhance|clean\s+up)\s+(?:the\s+)?(?:audio|sound)\b"
    r"|\b(?:make|get)\s+(?:it|the\s+(?:audio|sound))\s+sound\s+(?:\w+\s+)?better\b|\bsounds?\s+better\b"
    r"|\bimprove\s+(?:the\s+)?(?:audio|sound)(?:\s+quality)?\b|\bbalance\s+the\s+(?:audio|sound|levels)\b"
    r"|\b(?:even\s+out|level\s+out|level)\s+the\s+(?:audio|sound|volume)\b|\bconsistent\s+(?:volume|loudness)\b"
    r"|\bloudness\b|(?:\b(?:it's|its|it\s+is|(?:the\s+)?(?:audio|sound|voice)\s+is)\s+)?(?:way\s+|far\s+|much\s+"
    r"|a\s+bit\s+|really\s+)?too\s+quiet\b|\b(?:can't|cannot|hard\s+to)\s+hear\b"
    r"|\b(?:the\s+)?(?:volume|audio|sound|voice|speech|dialogue)\s+(?:is|was|seems|sounds|'s)\s+(?:a\s+(?:bit|little)\s+"
    r"|kind\s+of\s+|kinda\s+|really\s+|very\s+|so\s+|too\s+|pretty\s+|quite\s+|rather\s+)?(?:low|quiet|soft|weak"
    r"|faint|uneven|all\s+over\s+the\s+place)\b"
    r"|声音\s*(?:也|有点|太|很)*\s*(?:太小|太轻|小|听不清)|音量\s*(?:也|有点|太|很|比较)*\s*(?:小|低)|听不清|\b(?:audio|sound|voice|speech)\s+louder\b|\b(?:boost|raise)\s+the\s+(?:audio|sound|voice)\b"
    r"|音量标准化|响度|声音优化|优化声音|音频优化|优化音频|统一音量|音量均衡|音量统一|声音更好听")
_ENHANCE_BOTH: Final = re.compile(
    r"\benhance(?:d|ment)?\b|\bimprove\s+(?:it|this|the\s+video|the\s+clip|everything)\b"
    r"|\b(?:make|get)\s+(?:it|this|the\s+(?:video|clip|footage))\s+look\s+(?:a\s+lot\s+|much\s+|way\s+)?"
    r"(?:better|nicer|good|great|professional|pro|cleaner|prettier)\b|\blooks?\s+better\b"
    r"|\bmake\s+(?:it|this)\s+(?:a\s+lot\s+|much\s+)?better\b|\bpolish(?:\s+(?:it|this))?(?:\s+up)?\b"
    r"|\btouch\s+(?:it\s+)?up\b|\b(?:fix|clean|tidy|spruce|punch)\s+(?:it|this|that|them|everything)\s+up\b"
    r"|弄好看"
    r"|优化1下|美化|增强效果|1键优化|(?<![画音声])优化(?![画音声])")


_ENHANCE_PAIR: Final = re.compile(
    r"\b(?:fix|enhance|improve|boost|correct|clean\s+up)\s+(?:the\s+)?(?:colou?rs?|picture|image|video|lighting|look)"
    r"\s+(?:and|&|plus)\s+(?:the\s+)?(?:sound|audio|volume)\b"
    r"|\b(?:fix|enhance|improve|boost|clean\s+up)\s+(?:the\s+)?(?:sound|audio)\s+(?:and|&|plus)\s+(?:the\s+)?"
    r"(?:colou?rs?|picture|image|video|lighting)\b")
_MUSIC_WORDS: Final = re.compile(r"\b(?:music|songs?|bgm|soundtrack)\b|音乐|配乐|歌")


def _find_enhance(s: str) -> tuple[list[_Found], list[Span]]:
    spans: list[Span] = []
    picture = sound = False
    first: int | None = None
    for pattern, part in ((_ENHANCE_PAIR, "both"), (_ENHANCE_PICTURE, "picture"), (_ENHANCE_SOUND, "sound"),
                          (_ENHANCE_BOTH, "both")):
        for m in pattern.finditer(_blank(s, spans)):
            if part == "sound" and _MUSIC_WORDS.search(s, *_clause(s, m.start())):
                continue                   # "the music is too quiet" is the music's volume
            picture = picture or part in ("picture", "both")
            sound = sound or part in ("sound", "both")
            first = m.start() if first is None else min(first, m.start())
            spans.append(m.span())
    if first is None:
        return [], []
    return [_Found(first, make_op("enhance", picture=picture, sound=sound))], spans


def _find_picture(s: str, ctx: _Context) -> _Result:
    hits: list[_Found | _Declined] = []
    spans: list[Span] = []
    for pattern, unmet in _CANNOT:
        for m in pattern.finditer(_blank(s, spans)):
            if unmet is _NO_DETECTION and (_REGION.search(s, m.end(), _clause(s, m.start())[1])
                                           or _points_back(s, m.start())):
                continue                   # "blur the logo in the top right corner": a fixed region, said
            hits.append(_Declined(m.start(), Unmet(_as_said(m.group()), unmet.en, unmet.zh)))
            spans.append(m.span())
    s = _blank(s, spans)
    for finder in (_find_regions, _find_enhance):
        found, used = finder(s)
        hits += found
        spans += used
        s = _blank(s, used)
    return hits, spans
