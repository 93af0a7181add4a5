"""Running FFmpeg: progress, failures with their cause, time limits and cancellation that leave nothing behind."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from engine.errors import FFmpegFailed, FFmpegStalled, RenderCancelled, RenderTimeout
from engine.run import FFmpegCommand, PipedFFmpeg, parse_progress_line, run_ffmpeg
from tests.conftest import FFMPEG

NEEDS_PROC = pytest.mark.skipif(not Path("/proc/self").exists(), reason="reads /proc, which only Linux has")

SLOW = FFmpegCommand(("-re", "-f", "lavfi", "-i", "testsrc2=s=160x90:r=30:d=60"), ("-f", "null", "-"), None, 60.0)


def ffmpeg_children_of_this_test(marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline and "ffmpeg" in cmdline:
                pids.append(int(entry.name))
    return pids


def test_progress_lines() -> None:
    assert parse_progress_line("out_time_us=1500000") == 1.5
    assert parse_progress_line("out_time_ms=250000\n") == 0.25
    assert parse_progress_line("out_time_us=N/A") is None
    assert parse_progress_line("progress=continue") is None


def test_progress_is_reported_and_ends_at_the_duration(tmp_path: Path) -> None:
    seen: list[float] = []
    command = FFmpegCommand(("-f", "lavfi", "-i", "testsrc2=s=160x90:r=30:d=2"), ("-f", "null", "-"), None, 2.0)
    run_ffmpeg(command, ffmpeg=FFMPEG, work_dir=tmp_path, on_progress=seen.append)
    assert seen and seen == sorted(seen) and seen[-1] == pytest.approx(1.0, abs=0.05)


def test_failure_carries_the_cause_and_the_argv(tmp_path: Path) -> None:
    command = FFmpegCommand(("-f", "lavfi", "-i", "testsrc2=d=1"), ("-c:v", "no_such_encoder", "-f", "null", "-"))
    with pytest.raises(FFmpegFailed) as err:
        run_ffmpeg(command, ffmpeg=FFMPEG, work_dir=tmp_path)
    assert "no_such_encoder" in str(err.value) and err.value.returncode != 0
    assert err.value.argv[0] == FFMPEG and "Unknown encoder" in err.value.stderr_tail


def test_graph_travels_in_a_file_that_is_removed(tmp_path: Path) -> None:
    command = FFmpegCommand(("-f", "lavfi", "-i", "testsrc2=s=64x64:d=0.5"), ("-map", "[out]", "-f", "null", "-"),
                            "[0:v]hflip[out]", 0.5)
    run_ffmpeg(command, ffmpeg=FFMPEG, work_dir=tmp_path)
    assert "-/filter_complex" in command.argv("ffmpeg", tmp_path / "g.txt")
    assert not list(tmp_path.iterdir())


@NEEDS_PROC
def test_timeout_kills_the_process_group(tmp_path: Path) -> None:
    marker = f"timeout-{os.getpid()}-{time.monotonic_ns()}"
    command = FFmpegCommand(SLOW.input_args, ("-metadata", f"comment={marker}", *SLOW.output_args), None, 60.0)
    started = time.monotonic()
    with pytest.raises(RenderTimeout):
        run_ffmpeg(command, ffmpeg=FFMPEG, work_dir=tmp_path, timeout_s=0.5)
    assert time.monotonic() - started < 5
    assert ffmpeg_children_of_this_test(marker) == []


@NEEDS_PROC
def test_cancel_stops_ffmpeg_and_leaves_no_process(tmp_path: Path) -> None:
    marker = f"cancel-{os.getpid()}-{time.monotonic_ns()}"
    command = FFmpegCommand(SLOW.input_args, ("-metadata", f"comment={marker}", *SLOW.output_args), None, 60.0)
    cancel = threading.Event()
    started = threading.Event()
    outcome: list[BaseException] = []

    def work() -> None:
        try:
            run_ffmpeg(command, ffmpeg=FFMPEG, work_dir=tmp_path, cancel=cancel, on_progress=lambda f: started.set())
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            outcome.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    assert started.wait(10)
    assert ffmpeg_children_of_this_test(marker)            # it is running
    cancel.set()
    thread.join(10)
    assert outcome and isinstance(outcome[0], RenderCancelled)
    assert ffmpeg_children_of_this_test(marker) == []


def test_cancelled_render_leaves_no_partial_file(do_render, tmp_path: Path) -> None:
    cancel = threading.Event()
    draft = {"d": 60_000, "m": {"width": 320, "height": 180},
             "t": [{"tt": 0, "sg": [{"src": "pattern.mp4", "d": 60_000}]}]}

    def stop_soon(fraction: float) -> None:
        if fraction > 0:
            cancel.set()

    with pytest.raises(RenderCancelled):
        do_render(draft, "long.mp4", on_progress=stop_soon, cancel=cancel)
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------- FFmpeg's own deadlocks


def _fifo_command(tmp_path: Path, marker: str) -> tuple[Path, FFmpegCommand]:
    """An FFmpeg that waits, using no CPU, for a writer on a named pipe: what a deadlocked FFmpeg looks like."""
    fifo = tmp_path / f"{marker}.wav"
    os.mkfifo(fifo)
    out = tmp_path / f"{marker}-out.wav"
    return fifo, FFmpegCommand(("-f", "wav", "-i", str(fifo)), ("-c:a", "pcm_s16le", str(out)), None, 1.0)


def feed_the_second_try(fifo: Path, marker: str, data: bytes) -> threading.Thread:
    """A thread that writes ``data`` into the named pipe ``fifo`` once the first FFmpeg with ``marker`` in its
    command line (stalled on the pipe) is gone and another has started: only the try after the stall is fed."""

    def feed() -> None:
        first = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            children = ffmpeg_children_of_this_test(marker)
            if first is None and children:
                first = children[0]
            elif first is not None and children and first not in children:
                with open(fifo, "wb") as pipe:
                    pipe.write(data)
                return
            time.sleep(0.02)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    return feeder


@NEEDS_PROC
def test_a_stalled_ffmpeg_is_killed_and_run_again(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sound = tmp_path / "tone.wav"
    run_ffmpeg(FFmpegCommand(("-f", "lavfi", "-i", "sine=f=440:d=1"), (str(sound),)), ffmpeg=FFMPEG, work_dir=tmp_path)
    marker = f"stall-{os.getpid()}"
    fifo, command = _fifo_command(tmp_path, marker)

    feeder = feed_the_second_try(fifo, marker, sound.read_bytes())
    result = run_ffmpeg(command, ffmpeg=FFMPEG, work_dir=tmp_path, stall_s=1.5)
    feeder.join(5)
    assert result.elapsed_s >= 1.5
    assert (tmp_path / f"{marker}-out.wav").stat().st_size > 80_000         # a second of 48 kHz 16-bit sound
    assert [r.message for r in caplog.records if "stalled" in r.message] == [
        "ffmpeg stalled (no output and no CPU for 1.5 s), a deadlock of FFmpeg's own; killed it, running it again"]
    assert ffmpeg_children_of_this_test(marker) == []


@NEEDS_PROC
def test_an_ffmpeg_stalled_on_every_try_fails_and_leaves_nothing(tmp_path: Path) -> None:
    marker = f"stuck-{os.getpid()}"
    _fifo, command = _fifo_command(tmp_path, marker)
    with pytest.raises(FFmpegStalled) as failure:
        run_ffmpeg(command, ffmpeg=FFMPEG, work_dir=tmp_path, stall_s=0.5)
    assert failure.value.code == "ffmpeg_stalled" and isinstance(failure.value, FFmpegFailed)
    assert str(failure.value) == "ffmpeg stalled: no output and no CPU for 0.5 s, on each of 3 tries"
    assert ffmpeg_children_of_this_test(marker) == []


@NEEDS_PROC
def test_an_ffmpeg_that_works_without_writing_is_not_stalled(tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    """``reverse`` holds every frame back until its input ends: nothing is written for a while, but the CPU works."""
    busy = FFmpegCommand(("-f", "lavfi", "-i", "testsrc2=s=1280x720:r=30:d=6"),
                         ("-vf", "gblur=sigma=8:steps=6,reverse", "-f", "null", "-"), None, 6.0)
    result = run_ffmpeg(busy, ffmpeg=FFMPEG, work_dir=tmp_path, stall_s=0.3)
    assert result.elapsed_s > 0.6, "the test needs FFmpeg to work longer than two stall windows before writing"
    assert not [r for r in caplog.records if "stalled" in r.message]


@NEEDS_PROC
def test_a_piped_ffmpeg_that_stalls_while_we_wait_on_it_is_killed(tmp_path: Path) -> None:
    marker = f"piped-stall-{os.getpid()}"
    fifo = tmp_path / f"{marker}.raw"
    os.mkfifo(fifo)
    composer = FFmpegCommand(("-f", "rawvideo", "-pix_fmt", "bgra", "-s", "8x8", "-r", "10", "-i", str(fifo)),
                             ("-f", "rawvideo", "-pix_fmt", "bgra", "pipe:1"))
    with PipedFFmpeg(composer, ffmpeg=FFMPEG, work_dir=tmp_path, reads=False, writes=True, stall_s=0.5) as piped:
        assert piped.stdout is not None
        with piped.waiting():
            assert piped.stdout.read(256) == b""          # killed: the pipe ends
        with pytest.raises(FFmpegStalled):
            piped.check()
    assert ffmpeg_children_of_this_test(marker) == []


def test_a_piped_ffmpeg_we_keep_waiting_is_not_stalled(tmp_path: Path) -> None:
    """Idle because we have not written yet is not stuck: only a child we wait on must use the CPU."""
    out = tmp_path / "idle.gif"
    encoder = FFmpegCommand(("-f", "rawvideo", "-pix_fmt", "bgra", "-s", "8x8", "-r", "10", "-i", "pipe:0"),
                            ("-f", "gif", str(out)))
    with PipedFFmpeg(encoder, ffmpeg=FFMPEG, work_dir=tmp_path, reads=True, writes=False, stall_s=0.3) as piped:
        assert piped.stdin is not None
        time.sleep(1.0)                                       # three stall windows with nothing to read
        with piped.waiting():
            piped.stdin.write(bytes(8 * 8 * 4) * 5)
        piped.finish()
    assert out.stat().st_size > 0
