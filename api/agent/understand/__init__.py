"""The rules planner: one chat sentence (English or Chinese) to the edit ops it asks for, with no model.

:func:`understand` reads a sentence in three steps:

1. **Prepare.** Quoted text (``'…'``, ``"…"``, ``“…”``, ``「…」``, ``『…』``, ``《…》``, and the unquoted
   forms ``title: Hi`` / ``saying Hi`` / ``标题是Hi``) is set aside and replaced by a placeholder, so that
   words inside a title never count as commands. The rest is NFKC-folded and lower-cased; Chinese and
   English number words become digits (``三`` → 3, ``十五`` → 15, ``three`` → 3, ``两秒半`` → 2.5秒);
   a word of 5+ letters that is one typo away from a keyword becomes that keyword (``loopin``, ``vertica``).
2. **Find.** Handlers run in a fixed order (:data:`plan._HANDLERS`). Each looks for its own phrases, returns
   the ops it found with their positions, and blanks the words it used, so later handlers do not read
   them again (a title's "for the first 3 seconds" is not also a trim).
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
  "slow motion" / "慢动作": x :data:`SLOW_MOTION` (0.5). Factors outside 0.25 … 4 are clamped.
- Music fades: none unless asked; "fade in" / "fade out" with no length: :data:`FADE_IN_MS` (1 s) and
  :data:`FADE_OUT_MS` (2 s). Volume only when asked: "30%" → 0.3; "quieter" → :data:`QUIETER` (0.2),
  "louder" → :data:`LOUDER` (0.6). A fade or volume with "add"/"use"/"with music" is ``add_music``, without
  it ``set_music`` (the facts do not say whether music is there already).
- ``add_music`` takes the uploaded audio named in the sentence, else the last one uploaded, else
  ``media_id=None`` (the built-in bed). With a promo, which brings its own music, no ``add_music``.
- ``mute`` drops the music too, unless the sentence also adds music or says "original sound"/"原声".
- "keep the last 3 seconds" is ``keep_end(3000)``; "the first second" / "the last second" is 1 s.
- "a 10-second clip" describes the input, not a cut: it becomes ``keep_range(0, 10000)`` only when the
  timeline is known to be longer; "trim/cut/shorten it to 10 seconds" always does.
- "trim" with a range ("trim from 2s to 5s") keeps it; "trim the first 2 seconds" removes it.
- Images to video: ``slideshow`` when there are (or the sentence names) several pictures, else
  ``still_clip``; ``promo`` when the sentence says promo/promotional/ad/commercial/marketing/宣传/广告.
- Text size: "big"/"large"/"大字" → :data:`BIG_TEXT` (120), "small"/"小字" → :data:`SMALL_TEXT` (48), or the
  number said. "change the title to 'X'" is ``remove_text`` then ``add_text``.
- "fade in"/"fade out" always mean the music (there is no op that fades the picture).
- ``slideshow`` has no motion or transition length: a motion word is dropped there, and a length said
  with the transition adds a ``set_transition`` after it.
- A fill mode ("crop to fill") is only used together with an aspect (``set_aspect`` needs one).
- Only the first :data:`MAX_CHARS` characters are read.

A message with no ops and no unmet requests (only filler) is ``not_understood``: the caller replies with
:func:`examples_text`, which also follows the unmet lines of a message that is all unmet.

Modules, in the order they depend on each other:

- ``defaults``: the numbers chosen when the sentence says less (above); ``model``: :class:`MediaFacts`,
  :class:`Understanding` and the values handlers pass around.
- ``sentence``: step 1, preparing the sentence; ``clauses`` and ``times``: reading it (clauses, blanked spans,
  times in milliseconds; the requests of step 4 and the user's own words for each).
- The handlers of step 2, one concern each: ``session`` (undo, tracks, pointers), ``edits`` (aspect, mute,
  reverse, boomerang, speed), ``titles`` (text on the picture), ``music``, ``builders`` (promo, slideshow,
  still clip, transitions), ``ranges`` (keep or remove part of the timeline), ``output`` (the output file).
- ``plan``: the handler order, :func:`understand`, steps 3 and 4, and :func:`examples_text`.
"""

from __future__ import annotations

import re
from typing import Final

from api.agent.understand import builders, clauses, edits, music, output, plan, ranges, sentence, session, times, titles
from api.agent.understand.defaults import (
    BIG_TEXT,
    DEFAULT_TRIM_MS,
    FADE_IN_MS,
    FADE_OUT_MS,
    FASTER,
    LOUDER,
    MAX_CHARS,
    QUIETER,
    SLOW_MOTION,
    SLOWER,
    SMALL_TEXT,
)
from api.agent.understand.model import MediaFacts, Understanding
from api.agent.understand.plan import examples_text, understand
from api.agent.understand.sentence import _correct as _correct

__all__ = [
    "BIG_TEXT",
    "DEFAULT_TRIM_MS",
    "FADE_IN_MS",
    "FADE_OUT_MS",
    "FASTER",
    "LOUDER",
    "MAX_CHARS",
    "QUIETER",
    "SLOWER",
    "SLOW_MOTION",
    "SMALL_TEXT",
    "MediaFacts",
    "Understanding",
    "examples_text",
    "understand",
]

# Every pattern the planner reads with, gathered from its modules: typo correction (_correct) must never change a
# word that one of them looks for (tests/test_agent_understand.py reads both from this package).
_PATTERNS: Final = tuple(
    value
    for module in (sentence, clauses, times, session, edits, titles, music, builders, ranges, output, plan)
    for value in vars(module).values()
    if isinstance(value, re.Pattern | tuple)
)
