"""One render in its own process: ``python -m workers.job``, run by
:class:`workers.protocol.ChildRender` (the embedded default's API and a farm worker alike).

Protocol, one JSON object per line:
- stdin, first line: the RenderJob, or one piece of a job rendered in parts
  (:func:`workers.tasks.piece_request`); later lines: ``cancel``. End of input (the parent is
  gone) also cancels.
- stdout: ``{"event": "progress", "progress": 0.42}`` as it goes, then exactly one of
  ``{"event": "done", "result": {...}}`` or ``{"event": "failed", "error": {"code", "message"}}``.

Whatever the render raises ends as a ``failed`` event whose message is in the API's words: a
client never reads a traceback or FFmpeg's stderr. The detail goes to stderr, which the parent
writes to the server's log. A process that ends without an event died (killed, crashed).

A process per job keeps renders apart: a leak, a crash or a hung decoder ends with its process,
and cancelling can always fall back to killing it.
"""

from __future__ import annotations

import json
import sys
import threading
import traceback
from typing import Any, Final, TextIO

from engine.errors import (
    EncoderUnavailable,
    EngineError,
    FFmpegFailed,
    RenderCancelled,
    RenderTimeout,
)
from engine.job import RenderJob
from workers.protocol import CANCELLED
from workers.tasks import render_job, render_piece

# FFmpeg's words for running out of memory under the render's address-space cap.
_OUT_OF_MEMORY: Final = ("Cannot allocate memory", "Out of memory", "ENOMEM", "malloc of size")
OUT_OF_MEMORY_MESSAGE: Final = ("the render needed more memory than this server allows one render "
                                "(render_memory_mb); make the export smaller or shorter")


def public_error(exc: BaseException) -> tuple[str, str]:
    """(code, message) for a client: a short sentence in the API's words and a stable code."""
    if isinstance(exc, RenderCancelled):
        return CANCELLED, CANCELLED
    if isinstance(exc, MemoryError):
        return "out_of_memory", OUT_OF_MEMORY_MESSAGE
    if isinstance(exc, FFmpegFailed):
        if any(word in exc.stderr_tail for word in _OUT_OF_MEMORY):
            return "out_of_memory", OUT_OF_MEMORY_MESSAGE
        return exc.code, f"FFmpeg could not render this draft ({exc.code}); the server's log has the details"
    if isinstance(exc, RenderTimeout):
        return exc.code, f"a step of the render ran past its time limit of {exc.seconds:g} s and was stopped"
    if isinstance(exc, EncoderUnavailable):
        return exc.code, f"the encoder {exc.encoder} cannot run on this server ({exc.code})"
    if isinstance(exc, EngineError):
        return exc.code, str(exc)
    return "internal_error", (f"the render failed with an internal error ({type(exc).__name__}); "
                              "the server's log has the details")


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


def main(stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr) -> int:
    emit = Events(stdout)
    cancel = threading.Event()
    last = [-1.0]

    def progress(fraction: float) -> None:
        if fraction - last[0] >= 0.01 or fraction >= 1.0:
            last[0] = fraction
            emit({"event": "progress", "progress": round(fraction, 4)})

    try:
        request = json.loads(stdin.readline())
        threading.Thread(target=watch, args=(stdin, cancel), daemon=True).start()
        job = RenderJob.from_json(json.dumps(request.get("job", request)))
        work_dir = job.engine_config().work_dir
        if work_dir is not None:
            work_dir.mkdir(parents=True, exist_ok=True)
        result = render_piece(request, progress, cancel) if "piece" in request else render_job(job, progress, cancel)
    except Exception as exc:          # every way a render can fail ends as one event, never as a traceback
        code, message = public_error(exc)
        try:
            if isinstance(exc, FFmpegFailed):
                stderr.write(f"render failed: ffmpeg exited with {exc.returncode}\n{exc.stderr_tail}\n")
            elif isinstance(exc, EngineError):
                stderr.write(f"render failed ({code}): {exc}\n")
            else:
                traceback.print_exception(exc, file=stderr)
            stderr.flush()
        except Exception:             # out of memory, say: the event below still goes out
            pass
        emit({"event": "failed", "error": {"code": code, "message": message}})
        return 1
    emit({"event": "done", "result": result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
