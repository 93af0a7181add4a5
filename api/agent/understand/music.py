"""Background music: remove it, add it (an uploaded song or the built-in bed) beside the clips' own sound or in
place of it, and set its volume and fades."""

from __future__ import annotations

import re
from typing import Any, Final

from api.agent.ops import make_op
from api.agent.understand.clauses import _blank, _clause, _next_clause
from api.agent.understand.defaults import FADE_IN_MS, FADE_OUT_MS, LOUDER, QUIETER
from api.agent.understand.model import Span, _Context, _Declined, _Found, _Result
from api.agent.understand.times import _ms, _time

_REMOVE_MUSIC: Final = re.compile(
    r"\b(?:remove|delete|drop|take\s+out|get\s+rid\s+of|kill|lose|mute|turn\s+off|no|without|stop)\s+(?:the\s+|any\s+"
    r"|all\s+(?:the\s+)?)?(?:background\s+)?(?:music|bgm|songs?|soundtrack)\b"
    r"|(?:去掉|删除|删掉|去除|移除|不要|关掉|关闭|取消)\s*(?:背景)?\s*(?:音乐|bgm|配乐|歌曲?)")
_ADD_MUSIC: Final = re.compile(
    r"\b(?:add|put|use|with|include|insert|play|want|need|set|give\s+it|throw|stick|slap|pop|lay|toss|bring)\b"
    r"(?:\s+(?!(?:and|then|also|plus)\b|然后|并且|接着|同时|还要|另外|以及)[^\s,;.!?]+){0,6}?\s+"
    r"(?:music|bgm|songs?|soundtrack|tunes?"
    r"|(?:my|our|the\s+uploaded|uploaded)\s+(?:own\s+)?(?:tracks?|mp3s?|wavs?|audio\s+files?|recordings?))\b"
    r"|(?:加|添加|加上|加个|配上|放|用|使用|插入|配|换成|替换成)\s*(?:我的|自己的|这首|那首|(?:我|刚才?)?\s*上传\s*的(?:那首|这首)?)?"
    r"\s*(?:1\s*首|1\s*段|点|个|些|上)?"
    r"\s*(?:背景)?\s*(?:音乐|bgm|歌曲?|配乐)")
# The music replaces the clips' own sound: "replace the original sound with my music", "用我的音乐替换原声".
_REPLACE_SOUND: Final = re.compile(
    r"\b(?:replace|swap|substitute|switch)\s+(?:out\s+)?(?:the\s+|its\s+|their\s+|my\s+)?(?:(?:original|clip'?s?"
    r"|video'?s?|own|existing|current|camera|recorded)\s+)*(?:sound|audio|voice|noise)\b"
    r"|\binstead\s+of\s+(?:the\s+|its\s+|their\s+)?(?:(?:original|own|clip'?s?|video'?s?|camera|recorded)\s+)*"
    r"(?:sound|audio|voice)\b|\b(?:music|song)\s+only\b|\bonly\s+(?:the\s+|my\s+)?(?:music|song)\b(?!\s+volume)"
    r"|(?:替换|替代|代替|换掉|盖掉|覆盖)\s*(?:掉\s*)?(?:视频的?|视频里的?)?\s*(?:原声|原音|原来的声音|原始声音|原音频|声音)"
    r"|(?:原声|原来的声音)\s*(?:换成|替换成|改成|替换为)|只要音乐|只保留音乐|只留音乐")
_MUSIC_BARE: Final = re.compile(r"\bbackground\s+music\b|\bbgm\b|\bsoundtrack\b|背景音乐|配乐|背景乐")
_USE_VERB: Final = re.compile(r"\b(?:add|use|put|play|with|include|set)\b|加|用|放|配")
_MUSIC_CLAUSE: Final = re.compile(r"\b(?:music|bgm|songs?|soundtrack|tunes?|volume)\b|音乐|配乐|歌|背景乐|音量")
_NOT_ABOUT_MUSIC: Final = r"(?!speed|faster|slower|fps|quality|size|zoom|crop|blur|速|倍)"    # "music, speed 50%"
_VOLUME_PERCENT: Final = re.compile(
    rf"(?:music|bgm|songs?|soundtrack|volume|音量|音乐|配乐)(?:{_NOT_ABOUT_MUSIC}[^,;.%\ue000-\ue0ff]){{0,25}}?"
    r"(?P<p>\d+(?:\.\d+)?)\s*%"
    r"|(?P<q>\d+(?:\.\d+)?)\s*%\s*(?:的\s*)?(?:volume|音量)"
    rf"|(?:music|bgm|songs?|soundtrack|volume|音量|音乐|配乐)(?:{_NOT_ABOUT_MUSIC}[^;.%\ue000-\ue0ff]){{0,40}}?"
    r"(?:around|about|roughly|approximately|~|at|to|大概|大约|差不多|约|调到|到)\s*(?P<r>\d+(?:\.\d+)?)\s*%")
_VOLUME_NUMBER: Final = re.compile(r"\bvolume\s*(?:to|at|of|=|:)?\s*(?P<v>\d+(?:\.\d+)?)\b(?!\s*%)"
                                   r"|音量\s*(?:调到|调成|设为|设置为|改成|为|是|到)?\s*(?P<w>\d+(?:\.\d+)?)(?!\s*%)")
_QUIETER_WORDS: Final = re.compile(r"\b(?:quieter|softer|lower|turn\s+(?:it\s+|the\s+\w+\s+)?down|reduce|decrease"
                                   r"|less\s+loud|quiet|soft|low|subtle|faint|low[\s-]key)\b"
                                   r"|小声|调低|降低|调小|小1点|轻1点|轻1些|小1些|轻轻|轻柔|小小声")
_LOUDER_WORDS: Final = re.compile(r"\b(?:louder|raise|increase|turn\s+(?:it\s+|the\s+\w+\s+)?up|boost)\b"
                                  r"|大声|调高|提高|调大|大1点|响1点")
_TOO_QUIET: Final = re.compile(r"\btoo\s+(?:quiet|soft|low)\b|\b(?:can't|cannot|hard\s+to)\s+hear\b"
                               r"|太小声?|太轻|听不清")
_TOO_LOUD: Final = re.compile(r"\btoo\s+loud\b|太大声?|太吵|太响")
_FADED: Final = r"(?:(?:it|them|the\s+(?:music|song|bgm|audio))\s+)?"
# A fade's length may be said as the part of the timeline it covers: "fade in over the first 2 seconds",
# "开头两秒渐入", "最后三秒渐出" (the music's fade, not a range to keep).
_OVER: Final = r"(?:over|for|of|in|across|lasting|during)?\s*(?:the\s+)?(?:first|opening|last|final|closing)?\s*"
_ZH_WHERE: Final = r"(?:(?:开头|开始|片头|前|最后|结尾|末尾|片尾|后)\s*(?:的\s*)?)?"
_FADE_BOTH: Final = re.compile(
    rf"\bfade\s+(?:it\s+|the\s+(?:music|song|bgm)\s+)?in\s+and\s+(?:fade\s+)?out\b(?:\s+{_OVER}{_time('t')})?"
    rf"|[淡渐]入[淡渐]出(?!\s*转场)(?:\s*{_time('z')})?")
_FADE_IN: Final = re.compile(
    rf"(?:{_time('t1')}\s*(?:long\s+)?)?\bfade[\s-]*{_FADED}ins?\b(?:\s+(?:the\s+|of\s+the\s+)?(?:music|bgm|songs?|audio))?"
    rf"(?:\s+{_OVER}{_time('t2')})?"
    rf"|(?:{_ZH_WHERE}{_time('z1')}\s*(?:的\s*)?)?(?:淡入|渐入|渐强|渐起)(?![淡渐]出)(?:\s*{_time('z2')})?")
_FADE_OUT: Final = re.compile(
    rf"(?:{_time('t1')}\s*(?:long\s+)?)?\bfade[\s-]*{_FADED}outs?\b(?:\s+(?:the\s+|of\s+the\s+)?(?:music|bgm|songs?|audio))?"
    rf"(?:\s+{_OVER}{_time('t2')})?"
    rf"|(?:{_ZH_WHERE}{_time('z1')}\s*(?:的\s*)?)?(?:淡出|渐出|渐弱|渐隐)(?!\s*转场)(?:\s*{_time('z2')})?")


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


# A percentage on its own ("like 10%"), read as the music's volume only in a clause that goes on about the music.
_BARE_PERCENT: Final = re.compile(r"(?<![\d.])(?P<p>\d+(?:\.\d+)?)\s*%(?!\s*(?:speed|faster|slower|quicker|速|倍))")
_OTHER_PERCENT: Final = re.compile(r"\b(?:speed|faster|slower|quicker|fps|quality|size|zoom|crop|blur|opacity|width"
                                   r"|height|wide|tall)\b|速|倍|宽|高|裁|模糊")
_ABOUT_MUSIC: Final = re.compile(_MUSIC_CLAUSE.pattern + "|" + _QUIETER_WORDS.pattern + "|" + _LOUDER_WORDS.pattern
                                 + r"|\bfade|淡入|淡出|渐入|渐出|%")


def _music_clauses(s: str, anchor: Span | None) -> list[Span]:
    """The clause that adds the music and the clauses right after it that go on about it ("add my track, keep it
    quiet, like 10%, and fade it in"): later clauses about volume or fades belong to the same music."""
    if anchor is None:
        return []
    clauses = [_clause(s, anchor[0])]
    while following := _next_clause(s, clauses[-1][1]):
        if s[slice(*following)].strip() and not _ABOUT_MUSIC.search(s, *following):
            break
        clauses.append(following)
    return clauses


def _music_settings(s: str, anchor: Span | None = None) -> tuple[dict[str, Any], list[Span]]:
    """Volume and fades said about the music, with the spans they used; ``anchor``: where music is added, whose
    following clauses may say its volume without naming it."""
    args: dict[str, Any] = {}
    used: list[Span] = []
    about = _music_clauses(s, anchor)
    if m := _VOLUME_PERCENT.search(s):
        args["volume"] = float(m["p"] or m["q"] or m["r"]) / 100
        used.append(m.span())
    elif m := _VOLUME_NUMBER.search(s):
        value = float(m["v"] or m["w"])
        args["volume"] = value if value <= 2 else value / 100
        used.append(m.span())
    elif m := next((m for a, b in about if (m := _BARE_PERCENT.search(s, a, b)) and not _OTHER_PERCENT.search(s, a, b)),
                   None):
        args["volume"] = float(m["p"]) / 100
        used.append(m.span())
    for pattern, level in ((_TOO_QUIET, LOUDER), (_TOO_LOUD, QUIETER), (_QUIETER_WORDS, QUIETER),
                           (_LOUDER_WORDS, LOUDER)):
        m = pattern.search(s)
        if m and (_MUSIC_CLAUSE.search(s, *_clause(s, m.start())) or any(a <= m.start() < b for a, b in about)):
            args.setdefault("volume", level)       # "keep it quiet, like 10%": the number said wins
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
    found: list[_Found | _Declined] = []
    spans: list[Span] = []
    if m := _REMOVE_MUSIC.search(s):
        found.append(_Found(m.start(), make_op("remove_music")))
        spans.append(m.span())
        s = _blank(s, [m.span()])
    replace = _REPLACE_SOUND.search(s)
    if replace:
        spans.append(replace.span())
        s = _blank(s, [replace.span()])
    named = _named_audio(ctx)
    add = _ADD_MUSIC.search(s) or (_USE_VERB.search(s) if named else None) or replace
    bare = _MUSIC_BARE.search(s)
    settings, used = _music_settings(s, (add or bare).span() if add or bare else None)
    spans += used + [m.span() for m in (add, bare) if m]
    first = min([m.start() for m in (add, bare) if m] + [a for a, _ in used], default=0)
    if (add or (bare and not settings)) and not ctx.promo:
        media_id = named or (ctx.facts.audios[-1][0] if ctx.facts.audios else None)
        found.append(_Found(first, make_op("add_music", media_id=media_id, **settings,
                                           **({"replace": True} if replace else {}))))
    elif settings:
        found.append(_Found(first, make_op("set_music", **settings)))
    return found, spans
