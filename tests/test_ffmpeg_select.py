"""Which FFmpeg runs (engine/encode/ffmpeg_select.py): every candidate read, the one that can NVENC on
this driver chosen, else the wheel's with the reason.

The choice runs against fake FFmpeg binaries (small shell scripts that answer -version, -encoders,
-hwaccels and -filters, with nvenc.c's driver message and literal appended after their ``exit``) and a
fake pynvml. The last tests read the real wheel's FFmpeg and run ``reelforge encoders`` here, where
there is no driver.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from engine.config import bundled_ffmpeg
from engine.encode.ffmpeg_select import (
    NVENC_MESSAGE,
    FFmpegInfo,
    HostDriver,
    choose_ffmpeg,
    nvenc_verdict,
    read_ffmpeg,
    read_host_driver,
    scan_nvenc_requirement,
    select_ffmpeg,
    version_tuple,
)
from engine.encode.gpu import GpuDiscovery, GpuInfo
from engine.errors import EncoderUnavailable

# --- fakes --------------------------------------------------------------------------------------

def fake_ffmpeg(path: Path, version: str, *, min_driver: str | None = "610.00", nvenc: bool = True,
                cuda: bool = True, scale_cuda: bool = True, needs_lib: str | None = None) -> Path:
    """A shell script that answers like FFmpeg, with nvenc.c's strings after its ``exit`` (as a binary's
    .rodata would hold them: NUL-terminated)."""
    encoders = " V....D libx264              libx264 H.264 / AVC\\n"
    if nvenc:
        encoders += " V....D h264_nvenc           NVIDIA NVENC H.264 encoder (codec h264)\\n"
    hwaccels = "Hardware acceleration methods:\\nvaapi\\n" + ("cuda\\n" if cuda else "")
    filters = " .. scale                V->V       Scale the input video size.\\n"
    if scale_cuda:
        filters += " .. scale_cuda           V->V       GPU accelerated video resizer\\n"
    script = (
        "#!/bin/sh\n"
        'case "$*" in\n'
        f'  *-version*) echo "ffmpeg version {version} Copyright (c) 2000-2025 the FFmpeg developers" ;;\n'
        f"  *-encoders*) printf '{encoders}' ;;\n"
        f"  *-hwaccels*) printf '{hwaccels}' ;;\n"
        f"  *-filters*) printf '{filters}' ;;\n"
        "esac\n"
        "exit 0\n"
    ).encode()
    tail = b""
    if nvenc and needs_lib is None:     # min_driver None: a build that prints "(unknown)"
        tail = b"\x00" + NVENC_MESSAGE + b"\n\x00\x00\x00" + (min_driver or "(unknown)").encode() + b"\x00"
    if needs_lib is not None:
        tail = b"\x00" + needs_lib.encode() + b"\x00"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(script + tail)
    path.chmod(0o755)
    return path


class NVMLError(Exception):
    pass


class NVMLError_LibraryNotFound(NVMLError):  # named like pynvml's classes
    def __str__(self) -> str:
        return "NVML Shared Library Not Found"


def fake_nvml(driver: str | bytes | None, cuda: int = 12040) -> SimpleNamespace:
    """pynvml's driver calls; ``driver=None``: no driver (nvmlInit raises, as here)."""

    def init() -> None:
        if driver is None:
            raise NVMLError_LibraryNotFound()

    return SimpleNamespace(NVMLError=NVMLError, nvmlInit=init, nvmlShutdown=lambda: None,
                           nvmlSystemGetDriverVersion=lambda: driver,
                           nvmlSystemGetCudaDriverVersion_v2=lambda: cuda)


def gpus(*, nvenc: bool = True) -> GpuDiscovery:
    name = "NVIDIA L4" if nvenc else "NVIDIA H100 80GB HBM3"
    note = "encoder capacity 100%" if nvenc else "NVML reports no encoder (NotSupported)"
    return GpuDiscovery((GpuInfo(0, name, "GPU-0", 23034, 0, nvenc, 0, note),), "1 NVIDIA GPU")


@pytest.fixture
def wheel(tmp_path: Path) -> str:
    """A stand-in for the wheel's FFmpeg: 9.0.2, NVENC API 13.1, needs 610.00."""
    return str(fake_ffmpeg(tmp_path / "wheel" / "ffmpeg-linux-x86_64-v9.0.2", "n9.0.2-17-g2a571b6068-20260930"))


def select(forced: str | None, wheel: str, driver: str | None, discovery: GpuDiscovery | None = None,
           system: tuple[str, ...] = (), which: str | None = None):
    return select_ffmpeg(forced, discovery=discovery or gpus(), nvml=fake_nvml(driver), wheel=wheel,
                         which=lambda _name: which, system_paths=system)


# --- the choice ----------------------------------------------------------------------------------

def test_without_a_driver_the_wheel_runs(wheel: str, tmp_path: Path) -> None:
    system = fake_ffmpeg(tmp_path / "usr/bin/ffmpeg", "7.1.1-1ubuntu1", min_driver="530.41.03")
    chosen = select(None, wheel, driver=None, discovery=GpuDiscovery((), "NVML unavailable"), system=(str(system),))
    assert chosen.path == wheel
    assert chosen.choice.reason.startswith("no NVIDIA driver (NVML unavailable: NVML Shared Library Not Found)")
    assert chosen.host == HostDriver(None, None, "NVML unavailable: NVML Shared Library Not Found")
    assert [c.path for c in chosen.candidates] == [str(system), wheel]      # both read, for the report


def test_an_old_driver_with_only_the_wheel_keeps_the_wheel_and_says_why(wheel: str) -> None:
    chosen = select(None, wheel, driver="550.54.14")
    assert chosen.path == wheel
    assert chosen.choice.reason == (
        "the wheel's FFmpeg 9.0.2 needs driver 610.00 for NVENC; this host runs 550.54.14; no other FFmpeg "
        "found: set REELFORGE_FFMPEG_PATH or use the GPU image")
    (only,) = chosen.candidates
    assert (only.min_driver, only.nvenc_api, only.short_version) == ("610.00", "13.1", "9.0.2")
    assert nvenc_verdict(only, "550.54.14") == "no (needs 610.00, this host runs 550.54.14)"


def test_an_old_driver_takes_a_system_ffmpeg_built_for_api_12_1(wheel: str, tmp_path: Path) -> None:
    system = fake_ffmpeg(tmp_path / "usr/bin/ffmpeg", "7.1.1-1ubuntu1", min_driver="530.41.03")
    chosen = select(None, wheel, driver="550.54.14", system=(str(system),))
    assert chosen.path == str(system)
    assert chosen.choice.reason == (f"FFmpeg at {system} 7.1.1 can NVENC on driver 550.54.14 "
                                    "(needs 530.41.03, NVENC API 12.1)")
    info = chosen.candidates[0]
    assert (info.nvenc, info.cuda_hwaccel, info.scale_cuda, info.sources) == (True, True, True, (str(system),))


def test_the_first_candidate_that_fits_wins_and_those_that_cannot_are_named(wheel: str, tmp_path: Path) -> None:
    no_nvenc = fake_ffmpeg(tmp_path / "on-path/ffmpeg", "7.1", nvenc=False, cuda=False, scale_cuda=False)
    too_new = fake_ffmpeg(tmp_path / "usr/local/bin/ffmpeg", "8.1", min_driver="570.0")
    fits = fake_ffmpeg(tmp_path / "opt/ffmpeg/bin/ffmpeg", "7.0.2", min_driver="470.57.02")
    chosen = select(None, wheel, driver="535.247.01", which=str(no_nvenc), system=(str(too_new), str(fits)))
    assert chosen.path == str(fits)
    assert [c.sources for c in chosen.candidates] == [("PATH",), (str(too_new),), (str(fits),), ("wheel",)]
    assert not chosen.candidates[0].nvenc and chosen.candidates[0].min_driver is None
    # with nothing that fits, the reason names each candidate and what it needs
    chosen = select(None, wheel, driver="535.247.01", which=str(no_nvenc), system=(str(too_new),))
    assert chosen.path == wheel
    assert (f"{no_nvenc}: no (no h264_nvenc); {too_new}: no (needs 570.0, this host runs 535.247.01)"
            in chosen.choice.reason)


def test_a_release_older_than_7_is_never_chosen(wheel: str, tmp_path: Path) -> None:
    """engine/run.py passes long graphs as -/filter_complex FILE, which FFmpeg 6 does not know."""
    old = fake_ffmpeg(tmp_path / "usr/bin/ffmpeg", "6.1.1-3ubuntu5", min_driver="530.41.03")
    snapshot = fake_ffmpeg(tmp_path / "opt/ffmpeg/bin/ffmpeg", "N-118000-gabcdef", min_driver="530.41.03")
    chosen = select(None, wheel, driver="550.54.14", system=(str(old), str(snapshot)))
    assert chosen.candidates[0].too_old and not chosen.candidates[1].too_old
    assert chosen.path == str(snapshot)
    chosen = select(None, wheel, driver="550.54.14", system=(str(old),))
    assert chosen.path == wheel
    assert f"{old}: no (FFmpeg 6.1.1 is older than 7.0, which reelforge needs)" in chosen.choice.reason
    with pytest.raises(EncoderUnavailable, match="is FFmpeg 6.1.1; reelforge needs 7.0 or newer"):
        select(str(old), wheel, driver="550.54.14")


def test_a_gpu_without_nvenc_keeps_the_wheel(wheel: str, tmp_path: Path) -> None:
    system = fake_ffmpeg(tmp_path / "usr/bin/ffmpeg", "7.1", min_driver="530.41.03")
    chosen = select(None, wheel, driver="550.54.14", discovery=gpus(nvenc=False), system=(str(system),))
    assert chosen.path == wheel and chosen.choice.reason.startswith("no GPU with NVENC (1 NVIDIA GPU) on driver")


def test_a_candidate_whose_minimum_is_unknown_beats_a_wheel_that_cannot(wheel: str, tmp_path: Path) -> None:
    unknown = fake_ffmpeg(tmp_path / "usr/bin/ffmpeg", "7.1", min_driver=None)    # nvenc, but no literal
    chosen = select(None, wheel, driver="550.54.14", system=(str(unknown),))
    assert chosen.path == str(unknown) and "its trial encode decides" in chosen.choice.reason
    assert chosen.candidates[0].min_driver is None and "names no minimum driver" in chosen.candidates[0].scan_note


def test_one_binary_reached_two_ways_is_one_candidate(wheel: str, tmp_path: Path) -> None:
    real = fake_ffmpeg(tmp_path / "usr/bin/ffmpeg", "7.1", min_driver="530.41.03")
    link = tmp_path / "bin" / "ffmpeg"
    link.parent.mkdir()
    link.symlink_to(real)
    chosen = select(None, wheel, driver="550.54.14", which=str(link), system=(str(real),))
    assert [c.sources for c in chosen.candidates] == [("PATH", str(real)), ("wheel",)]


def test_the_choice_is_pure_and_needs_the_wheel() -> None:
    def info(path: str, sources: tuple[str, ...], min_driver: str | None) -> FFmpegInfo:
        return FFmpegInfo(path, sources, True, "ffmpeg version 7.0", True, True, True, min_driver, None, "")

    wheel = info("/w", ("wheel",), "610.00")
    host = HostDriver("610.10", "13.0", "")
    assert choose_ffmpeg([info("/s", ("PATH",), "530.41.03"), wheel], host, gpus()).path == "/s"
    assert choose_ffmpeg([wheel], host, gpus()).reason.startswith("the wheel's FFmpeg 7.0 can NVENC on driver 610.10")
    with pytest.raises(ValueError):
        choose_ffmpeg([info("/s", ("PATH",), "530.41.03")], host, gpus())


def test_driver_versions_compare_as_numbers() -> None:
    assert version_tuple("610.00") == (610, 0) and version_tuple("550.54.14") == (550, 54, 14)
    assert version_tuple("570.0") <= version_tuple("570.86.15") < version_tuple("610.00")
    assert version_tuple("99.1") < version_tuple("470.57.02")      # not a string comparison


# --- REELFORGE_FFMPEG_PATH -----------------------------------------------------------------------

def test_a_forced_path_that_does_not_exist_fails_at_start(wheel: str, tmp_path: Path) -> None:
    assert select("", wheel, driver=None).path == wheel          # REELFORGE_FFMPEG_PATH= (empty) is unset
    with pytest.raises(EncoderUnavailable, match=r"REELFORGE_FFMPEG_PATH=/nowhere/ffmpeg: no such file"):
        select("/nowhere/ffmpeg", wheel, driver=None)
    broken = tmp_path / "broken"
    broken.write_text("#!/bin/sh\necho 'error while loading shared libraries: libavdevice.so.61' >&2\nexit 127\n")
    broken.chmod(0o755)
    with pytest.raises(EncoderUnavailable, match="does not run as FFmpeg: error while loading shared libraries"):
        select(str(broken), wheel, driver=None)
    not_ffmpeg = tmp_path / "true"
    not_ffmpeg.write_text("#!/bin/sh\necho hello\n")
    not_ffmpeg.chmod(0o755)
    with pytest.raises(EncoderUnavailable, match="not FFmpeg"):
        select(str(not_ffmpeg), wheel, driver=None)
    plain = tmp_path / "plain"
    plain.write_text("not executable")
    with pytest.raises(EncoderUnavailable, match="not an executable file"):
        select(str(plain), wheel, driver=None)


def test_a_forced_path_is_used_even_where_it_cannot_nvenc(wheel: str, tmp_path: Path) -> None:
    mine = fake_ffmpeg(tmp_path / "mine/ffmpeg", "8.1", min_driver="570.0")
    better = fake_ffmpeg(tmp_path / "usr/bin/ffmpeg", "7.1", min_driver="530.41.03")
    chosen = select(str(mine), wheel, driver="550.54.14", system=(str(better),))
    assert chosen.path == str(mine)
    assert chosen.choice.reason == ("forced by REELFORGE_FFMPEG_PATH; NVENC on this driver: no (needs 570.0, this "
                                    "host runs 550.54.14)")


def test_reelforge_encoders_refuses_a_forced_path_that_is_missing(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "engine.cli", "encoders"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "REELFORGE_FFMPEG_PATH": str(tmp_path / "gone")})
    assert done.returncode == 2 and done.stdout == ""
    assert f"REELFORGE_FFMPEG_PATH={tmp_path / 'gone'}: no such file" in done.stderr


# --- reading binaries and the driver ------------------------------------------------------------

def test_a_shared_build_is_read_through_the_libavcodec_it_loads(tmp_path: Path) -> None:
    binary = fake_ffmpeg(tmp_path / "usr/bin/ffmpeg", "5.1.9-0+deb12u1", needs_lib="libavcodec.so.59")
    library = tmp_path / "usr/lib/x86_64-linux-gnu/libavcodec.so.59"
    library.parent.mkdir(parents=True)
    library.write_bytes(b"\x7fELF" + b"\x00" * 64 + NVENC_MESSAGE + b"\n\x00\x00470.57.02\x00")
    scan = scan_nvenc_requirement(str(binary))
    assert (scan.min_driver, scan.api) == ("470.57.02", "11.1") and str(library) in scan.note
    assert read_ffmpeg(str(binary)).min_driver == "470.57.02"


def test_the_literal_nearest_the_message_counts_wherever_it_is(tmp_path: Path) -> None:
    far = tmp_path / "far"
    far.write_bytes(b"\x00445.87\x00" + b"\x01" * (9 << 20) + b"\x00" + NVENC_MESSAGE + b"\x00")
    assert scan_nvenc_requirement(str(far)).min_driver == "445.87"        # past the first, nearby look
    two = tmp_path / "two"
    two.write_bytes(b"\x00570.0\x00" + b"\x01" * 4096 + b"\x00" + NVENC_MESSAGE + b"\x00\x00530.41.03\x00")
    scan = scan_nvenc_requirement(str(two))
    assert scan.min_driver == "530.41.03" and "also saw 570.0" in scan.note
    inside = tmp_path / "inside"      # a literal inside a longer string is not one
    inside.write_bytes(b"\x00" + NVENC_MESSAGE + b"\x00v1610.00\x00")
    assert scan_nvenc_requirement(str(inside)).min_driver is None


def test_a_rebuilt_binary_is_read_again(tmp_path: Path) -> None:
    path = fake_ffmpeg(tmp_path / "ffmpeg", "7.1", min_driver="550.54.14")
    assert scan_nvenc_requirement(str(path)).min_driver == "550.54.14"
    fake_ffmpeg(path, "7.1", min_driver="530.41.03")       # same path, new size and mtime
    os.utime(path, ns=(1, 1))
    assert scan_nvenc_requirement(str(path)).min_driver == "530.41.03"


def test_the_driver_comes_from_nvml_and_its_absence_is_a_note() -> None:
    assert read_host_driver(fake_nvml(b"550.54.14", 12040)) == HostDriver("550.54.14", "12.4",
                                                                          "driver 550.54.14, CUDA 12.4")
    assert read_host_driver(fake_nvml("580.95.05", 13000)).cuda == "13.0"
    assert read_host_driver(fake_nvml(None)).note == "NVML unavailable: NVML Shared Library Not Found"
    assert read_host_driver().driver is None          # the real pynvml here: no driver, no exception


def test_the_wheel_s_ffmpeg_needs_driver_610(tmp_path: Path) -> None:
    """A real read of the real binary: the literal nvenc.c compiled in, and what the binary lists."""
    scan = scan_nvenc_requirement(bundled_ffmpeg())
    assert (scan.min_driver, scan.api) == ("610.00", "13.1")
    info = read_ffmpeg(bundled_ffmpeg(), ("wheel",))
    assert info.runs and info.version.startswith("ffmpeg version n9.0.2")
    assert (info.nvenc, info.cuda_hwaccel, info.scale_cuda, info.min_driver) == (True, True, True, "610.00")


def test_reelforge_encoders_says_there_is_no_driver_here() -> None:
    env = {k: v for k, v in os.environ.items() if k != "REELFORGE_FFMPEG_PATH"}
    done = subprocess.run([sys.executable, "-m", "engine.cli", "encoders", "--json"], capture_output=True, text=True,
                          timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["host"]["driver"] is None and "NVML" in report["host"]["note"]
    assert report["ffmpeg"]["chosen"] == bundled_ffmpeg()
    assert report["ffmpeg"]["reason"].startswith("no NVIDIA driver")
    wheel = next(c for c in report["ffmpeg"]["candidates"] if "wheel" in c["sources"])
    assert (wheel["min_driver"], wheel["nvenc_api"], wheel["nvenc_on_this_driver"]) == (
        "610.00", "13.1", "no (no NVIDIA driver)")
    assert report["choice"]["encoder"] == "libx264" and report["discovery"]["gpus"] == []
    text = subprocess.run([sys.executable, "-m", "engine.cli", "encoders"], capture_output=True, text=True,
                          timeout=60, env=env).stdout
    assert text.startswith("NVIDIA driver: none (NVML unavailable")
    assert "h264_nvenc yes, needs driver 610.00 (NVENC API 13.1); cuda hwaccel yes; scale_cuda yes" in text
    assert f"FFmpeg chosen: {bundled_ffmpeg()}" in text and "Encoder: libx264" in text
