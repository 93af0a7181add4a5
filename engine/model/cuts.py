"""Cutting a segment of a draft at a window's edges: what the cut moves besides its place and length.

The chat agent's trims and the studio's previews both cut segments out of a draft; they cut a clip the
same way through :func:`cut_ends`, so a trimmed draft and a preview of the same stretch start each clip
at the same source frame."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def cut_ends(seg: Mapping[str, Any], part: dict[str, Any], head_ms: int, tail_ms: int, rate: float | None) -> None:
    """Finish ``part``, the piece of ``seg`` left after cutting ``head_ms`` timeline ms off its start and
    ``tail_ms`` off its end (its ``st`` and ``d`` already set by the caller).

    - The source in-point ``ss`` moves by what the cut skips, at ``rate`` source ms per timeline ms (the
      clip's speed); a reversed clip shows its source's end first, so for it the tail is what is skipped.
      ``rate`` None: nothing to move (a picture, a text, a sound that loops).
    - A transition at a cut end goes (``tr.in`` with the head, ``tr.out`` with the tail): what it joined
      to is no longer there."""
    if rate is not None:
        skipped = tail_ms if seg.get("rev") else head_ms
        if skipped:
            part["ss"] = int(seg.get("ss") or 0) + round(skipped * rate)
    tr = seg.get("tr")
    if isinstance(tr, dict):
        kept = {k: v for k, v in tr.items() if not ((k == "in" and head_ms) or (k == "out" and tail_ms))}
        if kept:
            part["tr"] = kept
        else:
            part.pop("tr", None)
