"""What the planner is given and what it returns (:class:`MediaFacts`, :class:`Understanding`), and the values
its handlers pass around: a handler reads the prepared sentence and a :class:`_Context` and returns a
:data:`_Result`, the ops it found and the spans it used."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from api.agent.ops import Op


@dataclass(frozen=True, slots=True)
class MediaFacts:
    """What the session has; the planner needs it to resolve "this clip", "the song"."""

    videos: int = 0
    images: int = 0
    audios: tuple[tuple[str, str], ...] = ()   # (media_id, filename) of uploaded audio files, upload order
    timeline_ms: int | None = None             # current timeline length, when a draft exists


@dataclass(frozen=True, slots=True)
class Unmet:
    """A part of the request that will not be done: the words as the user wrote them, why not and what can be
    done instead, in English and Chinese. The turn's reply names every one."""

    words: str
    en: str
    zh: str


@dataclass(frozen=True, slots=True)
class Understanding:
    ops: list[Op]                  # empty when nothing was understood
    language: str                  # "en" or "zh" (zh when the text has CJK characters)
    not_understood: bool           # True: ops and unmet are empty; the caller replies with examples_text(language)
    unmet: tuple[Unmet, ...] = ()  # the clauses that became no op, each with why (clause accounting)


Span = tuple[int, int]


@dataclass(frozen=True, slots=True)
class _Found:
    pos: int                       # where the sentence asks for it (orders the edits)
    op: Op


@dataclass(frozen=True, slots=True)
class _Context:
    facts: MediaFacts
    quotes: tuple[str, ...]        # quoted texts; placeholder i stands for quotes[i]
    raw: str                       # the original sentence, lower-cased (file names)
    promo: bool                    # the sentence asks for a promo


@dataclass(frozen=True, slots=True)
class _Declined:
    """A request a handler recognised and will not do (blur the faces, 4K): said back in the reply."""

    pos: int
    unmet: Unmet


_Result = tuple[Sequence[_Found | _Declined], list[Span]]   # a handler may return list[_Found] alone
