"""Distributed chunked rendering: one long job as a Celery chord of parts, then a join.

A worker that claims a job whose timeline is longer than ``REELFORGE_CHUNK_OVER_S`` plans parts
at frame boundaries (:func:`engine.chunks.plan_parts`) and starts a chord: every part and the
whole timeline's sound render in parallel on any workers of the job's queue, and the chord's
body joins them without re-encoding the picture (:func:`engine.chunks.join_parts`, which checks
the result as a single render would). Parts are files under ``outputs/.parts/<job>/``; a part
whose file is already there is not rendered again, so a job sent again after a lost worker only
redoes what is missing.

While the chord runs, the job's lease belongs to it (``REELFORGE_JOB_TIME_LIMIT_S``), and each
piece reports its progress; the job's progress is their mean. Each piece renders in a child process
(``python -m workers.job``) under the render memory cap and time limit, like a whole render: a
piece that fails fails the job at once, in the API's words; a piece whose process died gives the
job's lease up, so the API sends the job again and only the missing pieces are rendered.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from celery import Celery, chord

from engine.chunks import PART_SUFFIX, Part, join_parts, plan_parts
from engine.config import EngineConfig
from engine.encode.encoders import CodecChoice
from engine.errors import EngineError, RenderCancelled
from engine.job import RenderJob
from engine.media.probe import probe
from engine.model.cost import Caps, check_cost
from engine.model.draft import parse_draft
from engine.model.timeline import build_timeline
from engine.run import limited_child
from workers.board import Board
from workers.job import public_error
from workers.protocol import (
    CANCELLED,
    ChildEnd,
    ChildRender,
    capped_env,
    render_memory_cap,
    render_time_limit_s,
)
from workers.settings import WorkerSettings as Settings
from workers.storage import SharedDirectory
from workers.tasks import PART, SOUND, piece_request

log = logging.getLogger("reelforge.chunked")
PART_TASK: Final = "reelforge.render_part"
SOUND_TASK: Final = "reelforge.render_sound"
JOIN_TASK: Final = "reelforge.join_parts"
SOUND_SHARE: Final = "sound"


@dataclass
class Chunked:
    """The chord's three tasks, bound to one worker's settings, codecs and board."""

    app: Celery
    settings: Settings
    board: Board
    config: EngineConfig
    codecs: Callable[[], CodecChoice]
    worker_name: str = ""

    def register(self) -> None:
        options = {"acks_late": True, "reject_on_worker_lost": True, "ignore_result": False,
                   "typing": False}          # bound methods: Celery would count ``self`` among the arguments
        self.app.task(name=PART_TASK, **options)(self.part)
        self.app.task(name=SOUND_TASK, **options)(self.sound)
        self.app.task(name=JOIN_TASK, **options)(self.join)

    # ------------------------------------------------------------ planning (in the task that claimed the job)

    def plan(self, job: RenderJob) -> list[Part]:
        """The parts of a job longer than REELFORGE_CHUNK_OVER_S; one part when it is shorter, not MP4 or GIF,
        or cannot be split exactly. A job the API already measured as short is not probed here again."""
        out_format = job.draft.get("m", {}).get("out", {}).get("format", "mp4")
        if out_format not in ("mp4", "gif") or (job.duration_s is not None
                                                and job.duration_s <= self.settings.chunk_over_s):
            return []
        storage = SharedDirectory(job.data_root, self.settings.data_dir)
        media = {src: probe(storage.input(path), self.config.probe) for src, path in job.sources.items()}
        model = parse_draft(job.draft)
        timeline = build_timeline(model, media)
        check_cost(model, timeline, media, Caps.of(self.config))      # each part alone would be under the caps
        if timeline.duration_s <= self.settings.chunk_over_s or timeline.output.format not in ("mp4", "gif"):
            return []
        return plan_parts(job.draft, media, self.settings.chunk_s)

    def start(self, job_id: str, spec: str, parts: list[Part], queue: str) -> None:
        self.board.hold(job_id, self.settings.job_time_limit_s, pieces=len(parts) + 1)
        header = [self.app.signature(PART_TASK, args=[job_id, spec, part.to_dict(), len(parts)], queue=queue)
                  for part in parts]
        header.append(self.app.signature(SOUND_TASK, args=[job_id, spec], queue=queue))
        chord(header)(self.app.signature(JOIN_TASK, args=[job_id, spec, parts[-1].end_frame], queue=queue))
        log.info("job %s: %d parts and the sound, on the %s queue", job_id, len(parts), queue)

    # ------------------------------------------------------------ the chord's tasks

    def part(self, job_id: str, spec: str, data: dict[str, Any], count: int) -> str:
        job, part = RenderJob.from_json(spec), Part.from_dict(data)
        fmt = job.draft.get("m", {}).get("out", {}).get("format", "mp4")
        out = self._folder(job) / f"part-{part.index:04d}{PART_SUFFIX[fmt]}"
        if out.is_file():
            return str(out)
        self._render_piece(job_id, str(part.index), PART, job, out, part)
        return str(out)

    def sound(self, job_id: str, spec: str) -> str | None:
        job = RenderJob.from_json(spec)
        out = self._folder(job) / "sound.m4a"
        if out.is_file():
            return str(out)
        return self._render_piece(job_id, SOUND_SHARE, SOUND, job, out)

    def join(self, pieces: list[str | None], job_id: str, spec: str, frames: int) -> dict[str, Any]:
        job = RenderJob.from_json(spec)
        *parts, sound = pieces
        storage = SharedDirectory(job.data_root, self.settings.data_dir)
        output = storage.output(job.output)
        try:
            result = join_parts(job.draft, [Path(p) for p in parts if p], Path(sound) if sound else None, output,
                                config=self.config, frames=frames)
        except EngineError as exc:
            log.warning("job %s: joining the parts failed: %r", job_id, exc)
            self.board.fail(job_id, f"joining the parts failed: {public_error(exc)[1]}")
            raise
        storage.publish(output, job.output)
        self.board.complete(job_id, {**result.to_dict(), "parts": len(parts), "chunked": True,
                                     "worker": self.worker_name})
        shutil.rmtree(self._folder(job), ignore_errors=True)
        return {"job": job_id, "status": "completed"}

    # ------------------------------------------------------------ helpers

    def _folder(self, job: RenderJob) -> Path:
        storage = SharedDirectory(job.data_root, self.settings.data_dir)
        folder = storage.output(job.output).parent / ".parts" / job.job_id
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _render_piece(self, job_id: str, piece: str, kind: str, job: RenderJob, out: Path,
                      part: Part | None = None) -> str | None:
        """One piece in a render process, its progress onto the board; the path it made (None: no sound)."""
        if self.board.cancel_requested(job_id):
            self.board.fail(job_id, CANCELLED)
            raise RenderCancelled("cancelled before it started")
        storage = SharedDirectory(job.data_root, self.settings.data_dir)
        local = replace(job, sources={src: str(storage.input(path)) for src, path in job.sources.items()},
                        output=str(out), config=RenderJob.config_of(self.config), choice=self.codecs().to_dict())
        cap = render_memory_cap(self.settings.render_memory_mb, local.choice)
        limit = render_time_limit_s(job.duration_s, self.settings.render_time_floor_s,
                                    self.settings.render_time_per_s, self.settings.job_time_limit_s)
        child = ChildRender(json.dumps(piece_request(kind, local, part)), time_limit_s=limit,
                            preexec=limited_child(cap), env=capped_env(cap),
                            on_progress=lambda percent: self.board.piece_progress(job_id, piece, percent),
                            should_cancel=lambda: self.board.cancel_requested(job_id))
        outcome = child.run()
        if outcome.end == ChildEnd.DONE:
            self.board.piece_progress(job_id, piece, 100)
            made = outcome.result.get("output")
            return str(made) if made else None
        if outcome.end == ChildEnd.CANCELLED:
            self.board.fail(job_id, CANCELLED)
            raise RenderCancelled()
        if outcome.end in (ChildEnd.FAILED, ChildEnd.TIMED_OUT):
            log.warning("job %s: piece %s failed: %s\n%s", job_id, piece, outcome.error, outcome.stderr_tail)
            self.board.fail(job_id, f"a part failed: {outcome.error}")
            raise PieceFailed(outcome.error or "the render failed")
        log.warning("job %s: piece %s: its render process died (exit %s); the job goes back to the API\n%s",
                    job_id, piece, outcome.returncode, outcome.stderr_tail)
        self.board.release(job_id)
        raise PieceFailed("its render process died")


class PieceFailed(Exception):
    """A piece of a chunked job did not render (the chord then stops; the board says why)."""
