"""The planner itself: the handlers in their fixed order, :func:`understand`, the order the ops run in, and
the reply listing examples when nothing was understood."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from api.agent.ops import Op, make_op
from api.agent.understand.builders import _PROMO, _find_images, _find_promo
from api.agent.understand.clauses import _blank
from api.agent.understand.edits import _find_aspect, _find_effects, _find_speed
from api.agent.understand.model import MediaFacts, Understanding, _Context, _Declined, _Found, _Result
from api.agent.understand.music import _find_music
from api.agent.understand.output import _find_output
from api.agent.understand.picture import _find_picture
from api.agent.understand.ranges import _find_ranges, _find_repeat
from api.agent.understand.sentence import _prepare
from api.agent.understand.session import _find_session
from api.agent.understand.titles import _find_text, _find_text_removal

_CJK: Final = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")

_HANDLERS: Final[tuple[Callable[[str, _Context], _Result], ...]] = (
    _find_session, _find_picture, _find_aspect, _find_promo, _find_text_removal, _find_text, _find_music,
    _find_images, _find_effects, _find_speed, _find_repeat, _find_ranges, _find_output,
)
_BUILDERS: Final = frozenset({"promo", "slideshow", "still_clip"})
_READ_ONLY: Final = frozenset({"show_tracks", "pointer"})


def understand(text: str, facts: MediaFacts) -> Understanding:
    """The ops one chat sentence asks for, in the order they should run."""
    language = "zh" if _CJK.search(text) else "en"
    quotes, s = _prepare(text)
    ctx = _Context(facts=facts, quotes=quotes, raw=text.lower(), promo=bool(_PROMO.search(s)))
    found: list[_Found | _Declined] = []
    for handler in _HANDLERS:
        hits, spans = handler(s, ctx)
        found += hits
        s = _blank(s, spans)
    ops = _arrange([f for f in found if isinstance(f, _Found)])
    unmet = tuple(d.unmet for d in sorted((f for f in found if isinstance(f, _Declined)), key=lambda d: d.pos))
    return Understanding(ops=ops, language=language, not_understood=not ops and not unmet, unmet=unmet)


def _arrange(found: list[_Found]) -> list[Op]:
    """Builders first, then edits in the order said, then read-only ops; mute keeps music that is added."""
    def phase(f: _Found) -> int:
        return 0 if f.op.name in _BUILDERS else 2 if f.op.name in _READ_ONLY else 1

    ops = [f.op for f in sorted(found, key=lambda f: (phase(f), f.pos))]
    if any(op.name == "add_music" for op in ops):
        ops = [make_op("mute", music=False) if op.name == "mute" else op for op in ops]
    return ops


_EXAMPLES: Final = {
    "en": ("I didn't catch an edit in that. Things I can do (several in one message is fine):",
           ("convert this clip into a looping GIF with no sound",
            "make a small GIF of seconds 2 to 5 at 15 fps, 480px wide, under 5 MB",
            "keep only the first 3 seconds / cut the last 2 seconds / remove 0:02 to 0:05",
            "speed it up 2x / slow motion / reverse it / boomerang loop",
            "make it 9:16 for TikTok / square / 16:9",
            "add the title 'Summer Sale' at the top in yellow for the first 3 seconds",
            "add background music at 30% and fade it out",
            "turn this image into a 5-second clip with a slow zoom in",
            "make a slideshow, 3 seconds per photo, with crossfades",
            "create a 30-second promotional video with music and text overlays",
            "convert it into a 720p MP4",
            "undo / show tracks / export / credits")),
    "zh": ("这句话里我没找到可以执行的编辑。可以这样说（一句话里可以包含多项）：",
           ("把这个视频转成循环GIF，去掉声音",
            "截取第2秒到第5秒做成GIF，15帧，480像素宽，小于5MB",
            "只保留前5秒 / 去掉最后2秒 / 剪掉前2秒",
            "2倍速 / 慢动作 / 倒放 / 来回播放",
            "改成竖屏9:16 / 方形 / 横屏16:9",
            "加标题「夏日特卖」放在顶部，黄色，前3秒显示",
            "加背景音乐，音量30%，淡出",
            "把这张图片做成5秒的视频，慢慢放大",
            "做成幻灯片，每张图片3秒，加转场",
            "做一个30秒的宣传视频",
            "导出成1080P的MP4",
            "撤销 / 状态 / 导出 / 积分")),
}


def examples_text(language: str) -> str:
    """A reply listing examples of what the planner understands, in ``language`` ("en" or "zh")."""
    intro, examples = _EXAMPLES.get(language, _EXAMPLES["en"])
    quote = "「{}」" if language == "zh" else '"{}"'
    return "\n".join([intro, *(f"- {quote.format(example)}" for example in examples)])
