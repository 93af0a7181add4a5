"""Running FFmpeg, and small limited children: the only place in the engine that starts a process.

Every FFmpeg run gets its own process group, a time limit and a cancel flag, keeps the last 64 KB
of stderr, reports progress from ``-progress pipe:1``, and always ends with the whole group gone,
however the caller leaves (return, exception, cancel, timeout). Long filter graphs travel
through a file (``-/filter_complex PATH``, FFmpeg 7+), never through the shell. :func:`run_child`
runs any short command (a probe, a generated music bed) under a memory cap and a time limit.

FFmpeg 8 and 9's threaded scheduler deadlocks now and then: every thread waits on another, the
process uses no CPU and never exits (seen here about once in 200 runs of one graph with three inputs;
others report it from 8.1). :func:`run_ffmpeg` watches for that, kills the stalled child and runs the
same command again, so a render does not hang until its time limit on a fault of the binary's;
:class:`PipedFFmpeg` watches while we wait on it, and leaves the rerun to its caller.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import IO, Final

from engine.errors import FFmpegFailed, FFmpegStalled, RenderCancelled, RenderTimeout

ffmpeg_log = logging.getLogger("reelforge.ffmpeg")
LOGGED_STDERR_LINES: Final = 20


def failed(argv: Sequence[str], returncode: int, stderr_tail: str) -> FFmpegFailed:
    """The error of an FFmpeg run that failed, its last stderr lines logged first (for operators: a client
    gets FFmpegFailed's short cause, never these lines)."""
    lines = [line for line in stderr_tail.splitlines() if line.strip()][-LOGGED_STDERR_LINES:]
    ffmpeg_log.warning("ffmpeg exited with %s; its last stderr lines:\n%s", returncode, "\n".join(lines),
                       extra={"returncode": returncode})
    return FFmpegFailed(argv, returncode, stderr_tail)

STDERR_TAIL_BYTES: Final = 64 * 1024
PR_SET_PDEATHSIG: Final = 1
GLOBAL_ARGS: Final = ("-nostdin", "-hide_banner", "-nostats", "-loglevel", "error", "-progress", "pipe:1")
WATCH_S: Final = 0.05                    # how often a piped FFmpeg's watchdog looks at the cancel flag and the clock
STALL_S: Final = 10.0                    # an FFmpeg that wrote nothing and used (almost) no CPU this long is stuck
STALL_CPU_SHARE: Final = 0.02            # "almost no CPU": under this share of one core over the stall window
STALL_RETRIES: Final = 2                 # tries after a stall; two deadlocks in a row are already rare
FFMPEG_THREAD_STACK: Final = 1 << 20     # bytes; glibc gives each new thread RLIMIT_STACK (8 MiB by default)
FFMPEG_ENV: Final = MappingProxyType({"CUDA_DEVICE_ORDER": "PCI_BUS_ID"})   # set in every FFmpeg child (_ffmpeg_child)

ProgressCallback = Callable[[float], None]


@dataclass(frozen=True, slots=True)
class FFmpegCommand:
    """One FFmpeg invocation as data: the same timeline always gives the same command."""

    input_args: tuple[str, ...]         # -ss/-t/-f/... -i PATH, for every input, in order
    output_args: tuple[str, ...]        # -map ..., codec options, then the output path
    filter_graph: str | None = None     # the -filter_complex text, written to a file at run time
    duration_s: float | None = None     # length of the output, for progress

    def argv(self, ffmpeg: str, graph_file: Path | None = None, progress: bool = True) -> list[str]:
        graph: list[str] = []
        if self.filter_graph is not None:
            graph = ["-/filter_complex", str(graph_file)] if graph_file else ["-filter_complex", self.filter_graph]
        options = GLOBAL_ARGS if progress else GLOBAL_ARGS[:-2]
        return [ffmpeg, *options, *self.input_args, *graph, *self.output_args]


@dataclass(frozen=True, slots=True)
class RunResult:
    elapsed_s: float
    stderr_tail: str


class _Tail:
    """The last N bytes of a stream, read on a thread."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._limit = limit
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[bytes]) -> None:
        for chunk in iter(lambda: stream.read(4096), b""):
            self._chunks.append(chunk)
            self._size += len(chunk)
            while self._size > self._limit and len(self._chunks) > 1:
                self._size -= len(self._chunks.popleft())

    def text(self, wait: float = 1.0) -> str:
        self._thread.join(wait)
        return b"".join(self._chunks)[-self._limit:].decode("utf-8", "replace")


def parse_progress_line(line: str) -> float | None:
    """Seconds of output written, from one ``-progress`` line, or None for other lines."""
    key, _, value = line.strip().partition("=")
    if key in ("out_time_us", "out_time_ms") and value.strip().lstrip("-").isdigit():
        return max(0.0, int(value) / 1_000_000)   # out_time_ms is microseconds too (an old FFmpeg quirk)
    return None


class _Liveness:
    """Whether an FFmpeg child still does something: its output moves on, or it uses CPU.

    Its CPU time comes from /proc (Linux); where there is none, a child never counts as stalled."""

    def __init__(self, pid: int, window_s: float) -> None:
        self._stat = Path(f"/proc/{pid}/stat")
        self.window_s = window_s
        self.written_s = -1.0                  # seconds of output so far, from -progress (set by the reader)
        self._mark = (time.monotonic(), self.written_s, self._cpu_s())

    def _cpu_s(self) -> float | None:
        try:
            fields = self._stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")    # utime + stime, every thread

    def restart(self) -> None:
        """Start the window afresh (the child is not being waited on, so its idling says nothing)."""
        self._mark = (time.monotonic(), self.written_s, self._cpu_s())

    def stalled(self) -> bool:
        now, cpu = time.monotonic(), self._cpu_s()
        since, written, cpu_then = self._mark
        if cpu is None or cpu_then is None or self.written_s != written or \
                cpu - cpu_then >= STALL_CPU_SHARE * (now - since):
            self._mark = (now, self.written_s, cpu)
            return False
        return now - since >= self.window_s


def _pump_progress(stream: IO[bytes], duration_s: float | None, on_progress: ProgressCallback | None,
                   liveness: _Liveness | None = None) -> None:
    last = -1.0
    for raw in iter(stream.readline, b""):
        seconds = parse_progress_line(raw.decode("ascii", "replace"))
        if seconds is None:
            continue
        if liveness is not None:
            liveness.written_s = seconds
        if on_progress is not None and duration_s:
            fraction = min(1.0, seconds / duration_s)
            if fraction > last:
                last = fraction
                on_progress(fraction)


def die_with_parent() -> None:
    """In a child before exec: have the kernel SIGKILL it when its parent dies (Linux), so that a
    worker killed with SIGKILL leaves no FFmpeg behind. Elsewhere it does nothing."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _ffmpeg_child() -> None:
    """In an FFmpeg child before exec: die with the parent, number CUDA devices in PCI bus order, and
    give its threads 1 MiB stacks.

    CUDA_DEVICE_ORDER=PCI_BUS_ID makes FFmpeg's ``-gpu`` / ``-hwaccel_device`` count GPUs as NVML
    does (CUDA's default is fastest first), so the CUDA index :mod:`engine.encode.gpu` works out
    names the GPU whose NVML readings we took. It is set in the child only (``putenv`` after fork).

    FFmpeg starts two to five threads per input, so a render of a few hundred segments starts
    thousands, and under an address-space cap (RLIMIT_AS) their 8 MiB stacks alone would fill it (600
    caption inputs: 21 GB mapped; with 1 MiB stacks, 3.8 GB)."""
    die_with_parent()
    for name, value in FFMPEG_ENV.items():
        os.putenv(name, value)
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    if (soft == resource.RLIM_INFINITY or soft > FFMPEG_THREAD_STACK) and (
            hard == resource.RLIM_INFINITY or hard >= FFMPEG_THREAD_STACK):
        resource.setrlimit(resource.RLIMIT_STACK, (FFMPEG_THREAD_STACK, hard))


def limited_child(memory_bytes: int | None, set_env: Mapping[str, str] | None = None) -> Callable[[], None]:
    """A ``preexec_fn`` for a child that must die with its parent and may map at most ``memory_bytes``
    of address space (RLIMIT_AS; None: no cap). Past the cap an allocation fails inside the child,
    which then exits with an error, instead of the kernel's OOM killer picking a victim on the host.
    ``set_env`` adds variables to the child's inherited environment (e.g. one BLAS thread: every
    thread's stack and buffers count against the cap)."""

    def preexec() -> None:
        die_with_parent()
        for name, value in (set_env or {}).items():
            os.putenv(name, value)
        if memory_bytes is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))

    return preexec


def _kill_group(proc: subprocess.Popen[bytes], gently: bool = True) -> None:
    """End the child's whole process group: SIGTERM, then SIGKILL after 2 s (at once when not ``gently``:
    a deadlocked FFmpeg never acts on SIGTERM, whose handler only sets a flag its threads would read)."""
    if proc.poll() is not None:
        return
    for sig, grace in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0))[0 if gently else 1:]:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _write_graph(command: FFmpegCommand, work_dir: Path) -> Path | None:
    """The command's filter graph in a file of its own in ``work_dir`` (None: it has none); the caller removes it."""
    if command.filter_graph is None:
        return None
    path = work_dir / f"graph-{os.getpid()}-{threading.get_ident()}-{time.monotonic_ns()}.txt"
    path.write_text(command.filter_graph, encoding="utf-8")
    return path


def run_ffmpeg(
    command: FFmpegCommand,
    *,
    ffmpeg: str,
    work_dir: Path,
    on_progress: ProgressCallback | None = None,
    timeout_s: float | None = None,
    cancel: threading.Event | None = None,
    log_failure: bool = True,
    stall_s: float | None = None,
) -> RunResult:
    """Run one FFmpeg command to the end, or raise FFmpegFailed / RenderTimeout / RenderCancelled.

    A child that stalls (no output and no CPU for ``stall_s``: FFmpeg's own deadlock, see the module's
    text) is killed and the command run again, at most STALL_RETRIES times, within the same time limit;
    after that it fails as FFmpegStalled. A failure's last stderr lines go to the ``reelforge.ffmpeg``
    log unless ``log_failure`` is False (trials, whose failure is an answer, not a fault). ``stall_s``
    defaults to STALL_S."""
    stall_s = STALL_S if stall_s is None else stall_s
    graph_file = _write_graph(command, work_dir)
    argv = command.argv(ffmpeg, graph_file)
    started = time.monotonic()
    try:
        for attempt in range(STALL_RETRIES + 1):
            # A try after a stall writes over the stalled one's partial output.
            tried = argv if attempt == 0 else [argv[0], "-y", *argv[1:]]
            proc = _start_ffmpeg(tried)
            tail = _wait_ffmpeg(proc, command.duration_s, on_progress, timeout_s, cancel, started, stall_s)
            if tail is None:
                ffmpeg_log.warning("ffmpeg stalled (no output and no CPU for %g s), a deadlock of FFmpeg's own; "
                                   "killed it%s", stall_s, "" if attempt == STALL_RETRIES else ", running it again",
                                   extra={"attempt": attempt + 1})
                continue
            if proc.returncode != 0:
                raise failed(tried, proc.returncode, tail) if log_failure else FFmpegFailed(tried, proc.returncode,
                                                                                            tail)
            return RunResult(time.monotonic() - started, tail)
        raise FFmpegStalled(argv, stall_s, STALL_RETRIES + 1)
    finally:
        if graph_file is not None:
            graph_file.unlink(missing_ok=True)


def _start_ffmpeg(argv: list[str]) -> subprocess.Popen[bytes]:
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True, preexec_fn=_ffmpeg_child)
    except OSError as exc:
        raise FFmpegFailed(argv, -1, f"could not start ffmpeg: {exc}") from exc


def _wait_ffmpeg(proc: subprocess.Popen[bytes], duration_s: float | None, on_progress: ProgressCallback | None,
                 timeout_s: float | None, cancel: threading.Event | None, started: float, stall_s: float) -> str | None:
    """Watch one FFmpeg child to its end (its stderr tail) or until it stalls (None: killed). Cancel and the
    time limit raise; the whole group is gone however this returns."""
    assert proc.stdout is not None and proc.stderr is not None
    try:
        stderr = _Tail(proc.stderr, STDERR_TAIL_BYTES)
        liveness = _Liveness(proc.pid, stall_s)
        reader = threading.Thread(target=_pump_progress, args=(proc.stdout, duration_s, on_progress, liveness),
                                  daemon=True)
        reader.start()
        while proc.poll() is None:
            if cancel is not None and cancel.wait(0.1):
                _kill_group(proc)
                raise RenderCancelled()
            if cancel is None:
                time.sleep(0.05)
            if timeout_s is not None and time.monotonic() - started > timeout_s:
                _kill_group(proc)
                raise RenderTimeout(timeout_s)
            if liveness.stalled():
                _kill_group(proc, gently=False)
                return None
        reader.join(2.0)
        return stderr.text()
    finally:
        _kill_group(proc)
        proc.stdout.close()
        proc.stderr.close()


class PipedFFmpeg:
    """FFmpeg reading raw frames from us (``stdin``) or writing them to us (``stdout``), or both; used as a
    context manager, which leaves the whole process group gone however the block ends.

    Reads and writes block, so a watchdog thread enforces the time limit and the cancel flag: it kills
    the process, the pipe ends, and :meth:`finish` (or the next read) raises RenderTimeout or
    RenderCancelled rather than a broken pipe. It also catches FFmpeg's own deadlock (see the module's
    text): while we wait on the child (a read or write inside :meth:`waiting`, or :meth:`finish`), a child
    that uses no CPU for ``stall_s`` is stuck, not slow, since we are not holding it up; it is killed and
    the block raises FFmpegStalled. Running it again is the caller's part: its frames cannot be replayed here."""

    def __init__(self, command: FFmpegCommand, *, ffmpeg: str, work_dir: Path, reads: bool, writes: bool,
                 timeout_s: float | None = None, cancel: threading.Event | None = None,
                 stall_s: float | None = None) -> None:
        stall_s = STALL_S if stall_s is None else stall_s      # read now, so that a test may shorten it
        self._graph_file = _write_graph(command, work_dir)
        self.argv = command.argv(ffmpeg, self._graph_file, progress=False)
        self._started = time.monotonic()
        self._timeout_s, self._cancel, self._stall_s = timeout_s, cancel, stall_s
        self._waited_on = False                 # we block on it now (set by waiting())
        self._stopped: Exception | None = None
        try:
            self._proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE if reads else subprocess.DEVNULL,
                                          stdout=subprocess.PIPE if writes else subprocess.DEVNULL,
                                          stderr=subprocess.PIPE, start_new_session=True, preexec_fn=_ffmpeg_child)
        except OSError as exc:
            self._drop_graph()
            raise FFmpegFailed(self.argv, -1, f"could not start ffmpeg: {exc}") from exc
        assert self._proc.stderr is not None
        self.stdin, self.stdout = self._proc.stdin, self._proc.stdout
        self._stderr = _Tail(self._proc.stderr, STDERR_TAIL_BYTES)
        self._liveness = _Liveness(self._proc.pid, stall_s)
        self._watchdog = threading.Thread(target=self._watch, daemon=True)
        self._watchdog.start()

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        """Around a read from or a write to the child that may block: while in it, the child must do something."""
        self._waited_on = True
        try:
            yield
        finally:
            self._waited_on = False

    def _watch(self) -> None:
        while True:
            try:
                self._proc.wait(WATCH_S)         # returns as soon as it exits: nobody waits on the watchdog
                return
            except subprocess.TimeoutExpired:
                pass
            if self._cancel is not None and self._cancel.is_set():
                self._stopped = RenderCancelled()
            elif self._timeout_s is not None and time.monotonic() - self._started > self._timeout_s:
                self._stopped = RenderTimeout(self._timeout_s)
            elif not self._waited_on:
                self._liveness.restart()
            elif self._liveness.stalled():
                ffmpeg_log.warning("piped ffmpeg stalled (no CPU for %g s while we waited on it), a deadlock of "
                                   "FFmpeg's own; killed it", self._stall_s)
                self._stopped = FFmpegStalled(self.argv, self._stall_s, 1)
                _kill_group(self._proc, gently=False)
                return
            if self._stopped is not None:
                _kill_group(self._proc)
                return

    def check(self) -> None:
        """Raise what stopped it, if the watchdog did."""
        if self._stopped is not None:
            raise self._stopped

    def finish(self) -> RunResult:
        """Close our end of its input, wait for it to exit, and raise if it failed or was stopped."""
        if self.stdin is not None and not self.stdin.closed:
            try:
                self.stdin.close()
            except BrokenPipeError:
                pass
        with self.waiting():
            self._proc.wait()
        self._watchdog.join(1.0)
        self.check()
        tail = self._stderr.text()
        if self._proc.returncode != 0:
            raise failed(self.argv, self._proc.returncode, tail)
        return RunResult(time.monotonic() - self._started, tail)

    def failure(self) -> Exception:
        """Why a write or read on its pipe failed: what stopped it, or FFmpeg's own error."""
        if self._stopped is not None:
            return self._stopped
        self._proc.wait()
        return failed(self.argv, self._proc.returncode, self._stderr.text())

    def _drop_graph(self) -> None:
        if self._graph_file is not None:
            self._graph_file.unlink(missing_ok=True)

    def __enter__(self) -> PipedFFmpeg:
        return self

    def __exit__(self, *_exc: object) -> None:
        _kill_group(self._proc)
        for stream in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            if stream is not None:
                try:
                    stream.close()
                except BrokenPipeError:
                    pass
        self._drop_graph()


def run_ffmpeg_args(args: Sequence[str], *, ffmpeg: str, work_dir: Path, timeout_s: float | None = 60) -> RunResult:
    """A small command with no graph and no progress (probes, palette passes, trial encodes); a failure is
    not logged here, since the caller decides what it means."""
    return run_ffmpeg(FFmpegCommand((), tuple(args)), ffmpeg=ffmpeg, work_dir=work_dir, timeout_s=timeout_s,
                      log_failure=False)


@dataclass(frozen=True, slots=True)
class ChildResult:
    returncode: int          # negative: killed by that signal (RLIMIT_AS failures often end in SIGABRT/SIGSEGV)
    stdout: bytes
    stderr_tail: str
    timed_out: bool
    elapsed_s: float


def run_child(argv: Sequence[str], *, memory_bytes: int | None, timeout_s: float, cwd: Path | None = None,
              set_env: Mapping[str, str] | None = None, max_stdout: int = 1 << 20) -> ChildResult:
    """Run a short command in its own process group, capped at ``memory_bytes`` of address space, killed
    (with its group) past ``timeout_s``; its stdout (up to ``max_stdout``) and stderr tail come back."""
    started = time.monotonic()
    try:
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True, preexec_fn=limited_child(memory_bytes, set_env), cwd=cwd)
    except OSError as exc:
        return ChildResult(-1, b"", f"could not start {argv[0]}: {exc}", False, 0.0)
    assert proc.stdout is not None and proc.stderr is not None
    stderr = _Tail(proc.stderr, STDERR_TAIL_BYTES)
    out = bytearray()

    def pump() -> None:
        assert proc.stdout is not None
        for chunk in iter(lambda: proc.stdout.read(65536), b""):
            if len(out) < max_stdout:
                out.extend(chunk[:max_stdout - len(out)])

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        _kill_group(proc)
        reader.join(2.0)
        tail = stderr.text()
        proc.stdout.close()
        proc.stderr.close()
    return ChildResult(proc.returncode, bytes(out), tail, timed_out, time.monotonic() - started)
