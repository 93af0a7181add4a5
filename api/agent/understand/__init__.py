"""The rules planner: one chat sentence (English or Chinese) to the edit ops it asks for, with no model.

:func:`understand` reads a sentence in four steps:

1. **Prepare** (``sentence``, ``typos``). Quoted text (``'…'``, ``"…"``, ``“…”``, ``「…」``, ``『…』``,
   ``《…》``) and unquoted text (``title: Hi``, ``saying Hi``, ``标题是Hi``, ``标题写上Hi``,
   ``加一行红色大字：限时优惠``, and a capitalised text right after the noun: "add a caption Recorded live at Red
   Rocks") is set aside behind a placeholder, so that words inside a text never count as commands: an unquoted
   text runs to the end of its clause or to a style said after it ("at the top", "in red", "for the first 3
   seconds"). The rest is NFKC-folded and lower-cased, and then:

   - Chinese 把/将 word order is turned round: "把声音去掉" reads as "去掉声音", "将前两秒剪掉" as "剪掉前两秒".
   - Numbers in words become digits (``三`` → 3, ``十五`` → 15, ``forty-five`` → 45, "one hundred and twenty" →
     120, "one point five" → 1.5, ``零点五倍`` → 0.5倍), percentages too
     ("forty percent", "forty-five per cent", "百分之四十", "四成" → 40%; "half volume" → 50% volume; "at a quarter"
     → 25%), and times ("a minute and a half", "one and a half minutes" → 1.5 minutes; "a minute" → 1 minute;
     "两秒半" → 2.5秒; "一分半", "1分30秒" → 90秒). Clock times are m:ss or h:mm:ss ("00:00:02" is 2 s).
   - A misspelt keyword becomes the keyword (``typos``): one edit away (a letter added, dropped, changed, or
     two neighbours swapped) for words of 4-6 letters, two for longer ones, and only a swap for 3 letters
     ("frist", "muet", "gfi", "slidshow", "veritcal"). Never a keyword, a word some pattern looks for, or a
     common English word ("look" stays "look", not "loop"); never when two different keywords are equally near.
2. **Find.** Handlers run in a fixed order (:data:`plan._HANDLERS`). Each looks for its own phrases, returns
   the ops it found with their positions, and blanks the words it used, so later handlers do not read
   them again (a title's "for the first 3 seconds" is not also a trim). A handler may also return a request
   it recognised and will not do, with why and what it can do instead (an :class:`Unmet` in
   :attr:`Understanding.unmet`): "upscale to 4K" (1080p is set and the reply says so), "blur the faces",
   "remove the person", "remove the background noise", "rotate it 90 degrees", "make it black and white",
   "put a title on" with no words for it.
3. **Arrange.** The ops run by phase, whatever order they are said in (within a phase, the order said):
   ``undo``; ``start_over``; the builders (``promo``, ``slideshow``, ``still_clip``); transitions; the range
   (``keep_range``, ``remove_range``, ``keep_end``, ``remove_end``); its timing (``repeat``, ``speed``,
   ``reverse``, ``boomerang``); the picture (``set_aspect``, ``crop``, ``blur``, ``enhance``); text; sound;
   ``set_output``; then the read-only ops (``show_tracks``, ``pointer``). So "a boomerang GIF of the first 2
   seconds" cuts, then plays back and forth, then makes the GIF.
4. **Account.** The message is split into its requests (commas, "and", "then", "also", ";", ，、；, 然后, 再,
   sentences). Each one either gave an op (a handler found or used words in it), was declined by a handler
   (``_Declined``: blur the faces, 4K), is filler (greetings, "please", "can you", "The user would like you
   to", "用户希望", emoji), is covered by a planned op (a promo's "music and text overlays"), or becomes an
   :class:`~api.agent.understand.model.Unmet`: the user's own words for it, that it was not understood, and
   examples on its topic of what can be said instead. ``Understanding.unmet`` lists them in sentence order.

Choices where the sentence says less than an op needs (the tools apply their own defaults to ``None``):

- "cut the start" / "trim the end" with no number: :data:`DEFAULT_TRIM_MS` (1 s).
- "speed up" / "faster": x :data:`FASTER` (1.5); "slow down" / "slower": x :data:`SLOWER` (0.75);
  "slow motion" / "慢动作": x :data:`SLOW_MOTION` (0.5). Factors outside 0.25 … 4 are clamped. Speed is for the
  whole timeline: a speed whose own clause names a part of it ("speed up the first 3 seconds", 中间部分加速) is
  declined and said back, never read as a trim nor applied to everything.
- Music fades: none unless asked; "fade in" / "fade out" with no length: :data:`FADE_IN_MS` (1 s) and
  :data:`FADE_OUT_MS` (2 s). Volume only when asked: "30%" → 0.3; "quieter" → :data:`QUIETER` (0.2),
  "louder" → :data:`LOUDER` (0.6). A fade or volume with "add"/"use"/"with music" is ``add_music``, without
  it ``set_music`` (the facts do not say whether music is there already).
- ``add_music`` takes the uploaded audio named in the sentence, else the last one uploaded, else
  ``media_id=None`` (the built-in bed). With a promo, which brings its own music, no ``add_music``.
  "replace the original sound with my music", "use my song instead of the audio", "用我的音乐替换原声" add it with
  ``replace=True`` (the clips' own sound goes).
- ``mute`` drops the music too, unless the sentence also adds music or says "original sound"/"原声".
- "keep the last 3 seconds" is ``keep_end(3000)``; "the first second" / "the last second" is 1 s.
- "a 10-second clip" describes the input, not a cut: it becomes ``keep_range(0, 10000)`` only when the
  timeline is known to be longer; "trim/cut/shorten it to 10 seconds" always does.
- "trim" with a range ("trim from 2s to 5s") keeps it; "trim the first 2 seconds" removes it.
- "repeat the first 2 seconds three times" is ``repeat(0, 2000, times=3)`` (three plays in all), never the GIF
  loop flag; "repeat"/"重复" with a range and no count plays it :data:`REPEAT_TIMES` (2) times; "play it
  twice"/"loop it 3 times" repeats the whole timeline; a bare "loop"/"repeat" is the GIF loop flag.
- Images to video: ``slideshow`` when there are (or the sentence names) several pictures, else
  ``still_clip``; ``promo`` when the sentence says promo/promotional/ad/commercial/marketing/宣传/广告. A
  length said for a slideshow ("a 20 second slideshow") is the whole show (``total_s``), unless it is said
  per picture ("3 seconds per photo").
- Text size: "big"/"large"/"大字" → :data:`BIG_TEXT` (120), "small"/"小字" → :data:`SMALL_TEXT` (48), or the
  number said. "change the title to 'X'" is ``remove_text`` then ``add_text``. A colour is the text's colour
  only when said as its style ("in red", "red text", "big yellow", "红色的字"); text asked for with no words
  is declined, not guessed (no title from a file name, no captions from the speech).
- "fade in"/"fade out" always mean the music (there is no op that fades the picture).
- ``slideshow`` has no motion or transition length: a motion word is dropped there, and a length said
  with the transition adds a ``set_transition`` after it.
- A fill mode ("crop to fill") is only used together with an aspect (``set_aspect`` needs one).
- Parts of the frame (``crop``, ``blur``): "crop to"/"zoom into" a part keeps it, "crop out/off" a part keeps
  the rest. A bare corner is :data:`BLUR_CORNER` (a third) when blurred and a quarter of the frame (half
  each way) when cropped to; a bare edge is :data:`BLUR_EDGE` (a quarter) when blurred, half when cropped to,
  :data:`CROP_EDGE` (a tenth) when cropped off; "the center" is the middle half each way.
- ``enhance``: picture words ("fix the colours", "brighter", "look sharper", "调亮") set ``picture``, sound
  words ("normalize the audio", "it's too quiet", "音量标准化", "声音太小") set ``sound``; vague requests
  ("make it look better", "enhance", "优化") and "fix the colours and the sound" both. "The music is too
  quiet" is the music's volume (:data:`LOUDER`), not ``enhance``.
- "start over", "reset", "go back to the original", "重新开始", "全部重来" are ``start_over``; "go back" alone,
  "scratch that", "revert the last change", "take that back" are ``undo``; "undo both", "undo the last 3 changes",
  "undo twice", "撤销两步" are that many ``undo`` ops (at most 10).
- "drop 0:05 to 0:12 but keep everything else" / "其余保留" removes the range; "cut it down so it's just 0:03
  through 0:09" keeps it.
- "快一倍" is 2x, "慢一倍" 0.5x; "声音关掉" (the sound named first) is ``mute``.
- Volume and fades said in the clauses right after the music ("add my track underneath, keep it quiet, like
  10%, and fade it in") are the music's; "my track"/"my mp3" is the uploaded audio; "开头两秒渐入", "fade out over
  the last 3 seconds" are fades with their length, not ranges.
- A text listed after another ("overlay 'Step 1' for the first two seconds and 'Step 2' after that") is text too,
  and "after that" / "for the rest" starts it where the one before ends.
- A blur with no part of the frame in its own clause ("blur that area", "blur the logo", "打个码") blurs the last
  part named before it ("there's a watermark in the bottom right corner, …"); a face or person still is declined.
- Exports go up to 1080p: "4K", "8K", "2160p" set 1080p and are said back as not done.
- Only the first :data:`MAX_CHARS` characters are read.

A message with no ops and no unmet requests (only filler) is ``not_understood``: the caller replies with
:func:`examples_text`, which also follows the unmet lines of a message that is all unmet.

Modules, in the order they depend on each other:

- ``defaults``: the numbers chosen when the sentence says less (above); ``model``: :class:`MediaFacts`,
  :class:`Understanding`, :class:`Unmet` and the values handlers pass around.
- ``typos`` and ``sentence``: step 1, preparing the sentence; ``clauses`` and ``times``: reading it (clauses,
  blanked spans, times in milliseconds; the requests of step 4 and the user's own words for each).
- The handlers of step 2, one concern each: ``session`` (start over, undo, tracks, pointers), ``edits``
  (aspect, mute, reverse, boomerang, speed), ``picture`` (crop, blur, enhance; object detection declined),
  ``titles`` (text on the picture), ``music``, ``builders`` (promo, slideshow, still clip, transitions),
  ``ranges`` (keep, remove or repeat part of the timeline), ``output`` (the output file).
- ``plan``: the handler order, :func:`understand`, steps 3 and 4, and :func:`examples_text`.
"""

from __future__ import annotations

import re
from typing import Final

from api.agent.understand import (
    builders,
    clauses,
    edits,
    music,
    output,
    picture,
    plan,
    ranges,
    sentence,
    session,
    times,
    titles,
    typos,
)
from api.agent.understand.defaults import (
    BIG_TEXT,
    BLUR_CORNER,
    BLUR_EDGE,
    CROP_EDGE,
    DEFAULT_TRIM_MS,
    FADE_IN_MS,
    FADE_OUT_MS,
    FASTER,
    LOUDER,
    MAX_CHARS,
    QUIETER,
    REPEAT_TIMES,
    SLOW_MOTION,
    SLOWER,
    SMALL_TEXT,
)
from api.agent.understand.model import MediaFacts, Understanding, Unmet
from api.agent.understand.plan import examples_text, understand
from api.agent.understand.typos import _correct as _correct

__all__ = [
    "BIG_TEXT",
    "BLUR_CORNER",
    "BLUR_EDGE",
    "CROP_EDGE",
    "DEFAULT_TRIM_MS",
    "FADE_IN_MS",
    "FADE_OUT_MS",
    "FASTER",
    "LOUDER",
    "MAX_CHARS",
    "QUIETER",
    "REPEAT_TIMES",
    "SLOWER",
    "SLOW_MOTION",
    "SMALL_TEXT",
    "MediaFacts",
    "Understanding",
    "Unmet",
    "examples_text",
    "understand",
]

# Every pattern the planner reads with, gathered from its modules: typo correction (_correct) never changes a
# word that one of them looks for (tests/test_agent_understand.py checks it).
_PATTERNS: Final = tuple(
    value
    for module in (typos, sentence, clauses, times, session, edits, picture, titles, music, builders, ranges, output,
                   plan)
    for value in vars(module).values()
    if isinstance(value, re.Pattern | tuple)
)
typos._protect(_PATTERNS)
