"""One render in its own process: ``python -m workers.job``, the embedded default's worker.

Protocol, one JSON object per line:
- stdin, first line: the RenderJob; later lines: ``cancel``. End of input (the parent is gone)
  also cancels.
- stdout: ``{"event": "progress", "progress": 0.42}`` as it goes, then exactly one of
  ``{"event": "done", "result": {...}}`` or ``{"event": "failed", "error": {...}}``.

A process per job keeps renders apart: a leak, a crash or a hung decoder ends with its process,
and cancelling can always fall back to killing it.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any, TextIO

from engine.errors import EngineError
from engine.job import RenderJob
from workers.tasks import render_job


class Events:
    """JSON lines on stdout, one writer at a time (progress comes from FFmpeg's reader thread)."""

    def __init__(self, out: TextIO) -> None:
        self.out, self.lock = out, threading.Lock()

    def __call__(self, event: dict[str, Any]) -> None:
        with self.lock:
            self.out.write(json.dumps(event, separators=(",", ":")) + "\n")
            self.out.flush()


def watch(stream: TextIO, cancel: threading.Event) -> None:
    for line in stream:
        if line.strip() == "cancel":
            break
    cancel.set()


def main(stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    emit = Events(stdout)
    job = RenderJob.from_json(stdin.readline())
    cancel = threading.Event()
    threading.Thread(target=watch, args=(stdin, cancel), daemon=True).start()
    last = [-1.0]

    def progress(fraction: float) -> None:
        if fraction - last[0] >= 0.01 or fraction >= 1.0:
            last[0] = fraction
            emit({"event": "progress", "progress": round(fraction, 4)})

    try:
        result = render_job(job, progress, cancel)
    except EngineError as exc:
        emit({"event": "failed", "error": {"type": type(exc).__name__, "code": exc.code,
                                           "message": str(exc), "details": exc.details()}})
        return 1
    emit({"event": "done", "result": result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
