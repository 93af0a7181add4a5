"""Probing an untrusted file, and making the music bed, in a child process with a memory cap and a time limit.

Opening a video may decode a frame before any of our checks run (FFmpeg does, to learn what the
container leaves out), and a 2 MB file can declare one 16000x16000 frame of 16-bit RGBA. So a
process that serves many users never does this itself: :func:`probe_isolated` runs
:func:`engine.media.probe.probe` in a child (``python -m engine.media.isolated``) whose address
space is capped (RLIMIT_AS, ``ProbeLimits.memory_mb``) and which is killed past
``ProbeLimits.timeout_s``. A child that runs out of either is a :class:`MediaUnsupported` that
says which, like any other file we cannot take; the probe caps themselves come back as
:class:`MediaOverLimit`, as they would in process. The child answers with one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final

from engine.config import ProbeLimits
from engine.errors import MediaError, MediaNotFound, MediaOverLimit, MediaUnsupported
from engine.model.mediainfo import MediaInfo
from engine.run import run_child

MB: Final = 1024 * 1024
PACKAGE_ROOT: Final = Path(__file__).resolve().parents[2]     # where ``-m engine...`` is found
# Every thread's stack and buffers count against RLIMIT_AS: keep the child's libraries to one thread.
CHILD_ENV: Final = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}


def probe_isolated(path: str | Path, limits: ProbeLimits, *, python: str = sys.executable) -> MediaInfo:
    """:func:`engine.media.probe.probe` in a limited child: MediaNotFound, MediaUnsupported or MediaOverLimit
    for the file, and MediaUnsupported when the child runs out of memory or time."""
    source = str(path)
    answer = _run(["probe", str(Path(path).resolve())], source, limits, python)
    return _with_path(answer["info"], source)


def music_bed_isolated(path: Path, limits: ProbeLimits, *, seed: int, python: str = sys.executable) -> MediaInfo:
    """Write the loopable music bed (:func:`engine.media.musicbed.write_loop_bed`) to ``path`` in a limited
    child, and probe it there; on any failure nothing is left at ``path``."""
    try:
        answer = _run(["music-bed", str(Path(path).resolve()), "--seed", str(seed)], str(path), limits, python)
    except BaseException:
        Path(path).unlink(missing_ok=True)
        Path(path).with_name(Path(path).name + ".part").unlink(missing_ok=True)
        raise
    return _with_path(answer["info"], str(path))


def _with_path(info: dict[str, Any], source: str) -> MediaInfo:
    return MediaInfo.from_dict({**info, "path": source})


def _run(command: list[str], source: str, limits: ProbeLimits, python: str) -> dict[str, Any]:
    argv = [python, "-m", "engine.media.isolated", *command, "--limits", json.dumps(asdict(limits))]
    result = run_child(argv, memory_bytes=limits.memory_mb * MB, timeout_s=limits.timeout_s, cwd=PACKAGE_ROOT,
                       set_env=CHILD_ENV)
    if result.timed_out:
        raise MediaOverLimit(source, f"reading it took longer than {limits.timeout_s:g} s (probe_timeout_s)",
                             "probe_timeout_s", round(result.elapsed_s, 1), limits.timeout_s)
    lines = result.stdout.decode("utf-8", "replace").strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        answer = None
    if not isinstance(answer, dict):
        raise MediaUnsupported(source, _crash_reason(result.returncode, limits))
    error = answer.get("error")
    if error is None:
        return answer
    reason = str(answer.get("reason", "unreadable"))
    if error == "memory":
        raise MediaUnsupported(source, f"reading it needs more than the {limits.memory_mb} MB a probe may use "
                                       "(probe_memory_mb)")
    if error == "over_limit":
        raise MediaOverLimit(source, reason, str(answer["limit"]), answer["value"], answer["max"])
    if error == "not_found":
        raise MediaNotFound(source, reason)
    raise MediaUnsupported(source, reason)


def _crash_reason(returncode: int, limits: ProbeLimits) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        how = f"was killed by {name}"
    else:
        how = f"exited with status {returncode}"
    return (f"reading it failed: the probe process {how}, most likely out of the {limits.memory_mb} MB "
            "it may use (probe_memory_mb)")


# ---------------------------------------------------------------- the child's side


def _answer(payload: dict[str, Any]) -> int:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()
    return 0


def _error(exc: MediaError) -> dict[str, Any]:
    if isinstance(exc, MediaOverLimit):
        return {"error": "over_limit", "reason": exc.reason, "limit": exc.limit, "value": exc.value,
                "max": exc.maximum}
    return {"error": "not_found" if isinstance(exc, MediaNotFound) else "unsupported", "reason": exc.reason}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.media.isolated")
    sub = parser.add_subparsers(dest="command", required=True)
    probe_cmd = sub.add_parser("probe")
    probe_cmd.add_argument("path")
    bed_cmd = sub.add_parser("music-bed")
    bed_cmd.add_argument("path")
    bed_cmd.add_argument("--seed", type=int, default=0)
    for cmd in (probe_cmd, bed_cmd):
        cmd.add_argument("--limits", type=json.loads, default={})
    args = parser.parse_args(argv)
    limits = ProbeLimits(**args.limits)

    from PIL import Image

    from engine.media.probe import probe

    Image.MAX_IMAGE_PIXELS = None    # this process's own: the probe caps, in ``limits``, are the guard here
    try:
        if args.command == "music-bed":
            from engine.media.musicbed import write_loop_bed

            write_loop_bed(Path(args.path), seed=args.seed)
        info = probe(args.path, limits)
    except MemoryError:
        return _answer({"error": "memory"})
    except MediaError as exc:
        return _answer(_error(exc))
    return _answer({"info": info.to_dict()})


if __name__ == "__main__":
    sys.exit(main())
