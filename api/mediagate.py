"""The API never decodes media itself: every probe, and every generated music bed, runs in a child
process with a memory cap and a time limit (:mod:`engine.media.isolated`), at most
``probe_max_children`` at once; more wait their turn without holding the event loop or a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from engine.config import ProbeLimits
from engine.media.isolated import music_bed_isolated, probe_isolated
from engine.model.mediainfo import MediaInfo

T = TypeVar("T")


class MediaGate:
    def __init__(self, limits: ProbeLimits, max_children: int) -> None:
        self.limits = limits
        self._slots = asyncio.Semaphore(max_children)

    async def probe(self, path: Path) -> MediaInfo:
        """What ``path`` is, or MediaNotFound / MediaUnsupported / MediaOverLimit."""
        return await self._in_child(lambda: probe_isolated(path, self.limits))

    async def music_bed(self, path: Path, seed: int) -> MediaInfo:
        """Write the loopable built-in music bed to ``path`` and describe it."""
        return await self._in_child(lambda: music_bed_isolated(path, self.limits, seed=seed))

    async def _in_child(self, work: Callable[[], T]) -> T:
        async with self._slots:
            running = asyncio.ensure_future(asyncio.to_thread(work))
            try:
                return await asyncio.shield(running)
            except asyncio.CancelledError:
                # the caller left; its child still runs (to its time limit at most) and keeps its slot until then
                with contextlib.suppress(BaseException):
                    await running
                raise
