"""Which FFmpeg binary runs: chosen at start by what each candidate can do on this host's NVIDIA driver.

The wheel's static FFmpeg (imageio-ffmpeg, 9.0.2) is built against NVENC API 13.1 and refuses NVENC
on drivers older than 610.00, while most farms run the R535-R580 branches. So at start every
candidate is read, and the one that can encode with NVENC on this driver wins:

1. ``REELFORGE_FFMPEG_PATH`` (settings ``ffmpeg_path``), when set: a forced choice. A path that does
   not exist or does not run raises :class:`EncoderUnavailable` at start, never a silent fallback.
2. System builds: ``ffmpeg`` on ``PATH``, then /usr/bin, /usr/local/bin and /opt/ffmpeg/bin
   (one entry per real path).
3. The wheel's FFmpeg (:func:`engine.config.bundled_ffmpeg`), always last and always the fallback.

Of each candidate we read the version (``-version``), whether it lists ``h264_nvenc``, the ``cuda``
hwaccel and ``scale_cuda`` (``-encoders``, ``-hwaccels``, ``-filters``), and the driver its NVENC needs.
FFmpeg does not print that number unless NVENC fails, but ``libavcodec/nvenc.c`` stores it as a
string literal beside "The minimum required Nvidia driver for nvenc is %s or newer", so we look for
the known literals in the binary's bytes (or in the ``libavcodec.so`` a shared build loads).

This is evidence, not proof: the trial encode in :mod:`engine.encode.encoders` still decides NVENC.
The decision, :func:`choose_ffmpeg`, is pure; :func:`select_ffmpeg` does the reading.
"""

from __future__ import annotations

import importlib
import mmap
import os
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from engine.config import EngineConfig, bundled_ffmpeg
from engine.encode.gpu import GpuDiscovery, discover_gpus
from engine.errors import EncoderUnavailable
from engine.run import run_child

SYSTEM_PATHS: Final = ("/usr/bin/ffmpeg", "/usr/local/bin/ffmpeg", "/opt/ffmpeg/bin/ffmpeg")
READ_TIMEOUT_S: Final = 10.0             # one ``-version`` / ``-encoders`` run; a healthy one takes milliseconds
FORCED: Final = "REELFORGE_FFMPEG_PATH"
MIN_RELEASE: Final = (7, 0)              # engine/run.py hands long graphs over as ``-/filter_complex FILE`` (FFmpeg 7+)
WHEEL: Final = "wheel"

NVENC_MESSAGE: Final = b"The minimum required Nvidia driver for nvenc is %s or newer"

# The Linux minimum driver FFmpeg's libavcodec/nvenc.c names for the NVENC API it was built against
# (``nvenc_print_driver_requirement``; the Windows values differ and never occur in a Linux binary).
# Up to 12.2 from FFmpeg's source; 13.0 read from PyAV 18's libavcodec (FFmpeg 8.1), 13.1 from the
# wheel's 9.0.2. Builds against 12.3 headers print "(unknown)": no literal of ours, minimum unknown.
NVENC_DRIVERS: Final[Mapping[str, str]] = MappingProxyType({
    "378.13": "8.0",
    "390.25": "8.1",
    "396.24": "8.2",
    "418.30": "9.0",
    "435.21": "9.1",
    "445.87": "10.0",
    "455.28": "11.0",
    "470.57.02": "11.1",
    "520.56.06": "12.0",
    "530.41.03": "12.1",
    "550.54.14": "12.2",
    "570.0": "13.0",
    "610.00": "13.1",
})
_LITERALS: Final = re.compile(b"\x00(" + b"|".join(re.escape(v.encode()) for v in NVENC_DRIVERS) + b")\x00")
_NEAR: Final = 8 << 20                  # bytes either side of the message searched first
_NEEDED_AVCODEC: Final = re.compile(rb"\x00(libavcodec\.so\.\d+)\x00")
_LIBRARY_DIRS: Final = ("/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
                        "/lib/aarch64-linux-gnu", "/usr/local/lib", "/usr/lib64", "/usr/lib", "/lib")


# --- what a binary says about itself ------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class NvencScan:
    """The minimum driver a binary's NVENC needs, as read from its bytes."""

    min_driver: str | None      # "610.00"; None when no known literal was found
    api: str | None             # the NVENC API that minimum belongs to ("13.1")
    note: str                   # where it was read, or why there is none


@dataclass(frozen=True, slots=True)
class FFmpegInfo:
    """One candidate FFmpeg and what it can do."""

    path: str
    sources: tuple[str, ...]    # why it is a candidate: "REELFORGE_FFMPEG_PATH", "PATH", "/usr/bin/ffmpeg", "wheel"
    runs: bool
    version: str                # first line of ``-version``, or why it did not run
    nvenc: bool                 # lists h264_nvenc
    cuda_hwaccel: bool
    scale_cuda: bool
    min_driver: str | None      # NVENC's minimum driver, from the binary
    nvenc_api: str | None
    scan_note: str

    @property
    def short_version(self) -> str:
        """"9.0.2" from "ffmpeg version n9.0.2-17-g2a571b6068-20260930 ..."; the whole token otherwise."""
        words = self.version.split()
        if len(words) < 3 or words[:2] != ["ffmpeg", "version"]:
            return self.version
        match = re.match(r"n?(\d+(?:\.\d+)*)", words[2])
        return match.group(1) if match else words[2]

    @property
    def too_old(self) -> bool:
        """A release older than :data:`MIN_RELEASE` (git snapshots, whose number says nothing, pass)."""
        match = re.fullmatch(r"(\d+)\.(\d+)(?:\.\d+)*", self.short_version)
        return bool(self.runs and match and (int(match.group(1)), int(match.group(2))) < MIN_RELEASE)

    @property
    def label(self) -> str:
        owner = "the wheel's FFmpeg" if WHEEL in self.sources else f"FFmpeg at {self.path}"
        return f"{owner} {self.short_version}"

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "sources": list(self.sources)}


def _ask(path: str, *args: str) -> tuple[bool, str]:
    """Run ``path args`` briefly; (ran cleanly, stdout or the reason it did not)."""
    done = run_child([path, *args], memory_bytes=None, timeout_s=READ_TIMEOUT_S)
    if done.timed_out:
        return False, f"{' '.join(args)} took over {READ_TIMEOUT_S:g} s"
    if done.returncode != 0:
        why = done.stderr_tail.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        return False, why[0]
    return True, done.stdout.decode("utf-8", "replace")


def _lists(text: str, name: str, column: int) -> bool:
    """Whether a line of an FFmpeg listing has ``name`` as its word number ``column``."""
    for line in text.splitlines():
        words = line.split()
        if len(words) > column and words[column] == name:
            return True
    return False


def read_ffmpeg(path: str, sources: Sequence[str] = ()) -> FFmpegInfo:
    """Read one candidate: version, NVENC, the cuda hwaccel, scale_cuda and NVENC's minimum driver."""
    ran, text = _ask(path, "-hide_banner", "-version")
    first = text.strip().splitlines()[0] if ran and text.strip() else ""
    if not ran or not first.startswith("ffmpeg version"):
        why = text.strip() if not ran else f"not FFmpeg (-version said {first[:80]!r})"
        return FFmpegInfo(path, tuple(sources), False, why, False, False, False, None, None, "not read")
    encoders, hwaccels, filters = (_ask(path, "-hide_banner", what) for what in ("-encoders", "-hwaccels", "-filters"))
    nvenc = encoders[0] and _lists(encoders[1], "h264_nvenc", 1)
    cuda = hwaccels[0] and _lists(hwaccels[1], "cuda", 0)
    scale = filters[0] and _lists(filters[1], "scale_cuda", 1)
    scan = scan_nvenc_requirement(path) if nvenc else NvencScan(None, None, "no h264_nvenc, so no NVENC minimum")
    return FFmpegInfo(path, tuple(sources), True, first, nvenc, cuda, scale, scan.min_driver, scan.api, scan.note)


def scan_nvenc_requirement(path: str) -> NvencScan:
    """NVENC's minimum driver from the bytes of ``path``, or of the ``libavcodec.so`` it loads.

    Cached per (real path, size, mtime) for the life of the process: a scan reads the whole file
    (a third of a second for the wheel's 170 MB) and a binary that changes is read again.
    """
    scan = _scan_file(path)
    if scan is not None:
        return scan
    library = _linked_avcodec(path)
    if library is not None:
        scan = _scan_file(library)
        if scan is not None:
            return replace(scan, note=f"{scan.note} (read from {library}, which it loads)")
    return NvencScan(None, None, f"no {NVENC_MESSAGE.decode()!r} message found in {path}"
                     + (f" or {library}" if library else ""))


def _scan_file(path: str) -> NvencScan | None:
    """The scan of one file; None when it has no NVENC driver message at all."""
    real = os.path.realpath(path)
    try:
        info = os.stat(real)
    except OSError:
        return None
    return _scan_cached(real, info.st_size, info.st_mtime_ns)


@lru_cache(maxsize=32)
def _scan_cached(real: str, size: int, _mtime_ns: int) -> NvencScan | None:
    if size == 0:
        return None
    with open(real, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        message = data.find(NVENC_MESSAGE)
        if message < 0:
            return None
        # Both strings sit in .rodata, a megabyte or two apart: look near the message first (a tenth
        # of the wheel's 170 MB), then everywhere.
        near = (max(0, message - _NEAR), min(size, message + _NEAR))
        found = [(abs(m.start() - message), m.group(1).decode()) for m in _LITERALS.finditer(data, *near)]
        if not found:
            found = [(abs(m.start() - message), m.group(1).decode()) for m in _LITERALS.finditer(data)]
    if not found:
        return NvencScan(None, None, "NVENC names no minimum driver we know (an NVENC API newer than 13.1, "
                                     "or a build that prints \"(unknown)\")")
    _distance, literal = min(found)      # the nearest to the message, should two ever appear
    others = sorted({v for _d, v in found} - {literal})
    note = f"found {literal!r} with the driver message" + (f" (also saw {', '.join(others)})" if others else "")
    return NvencScan(literal, NVENC_DRIVERS[literal], note)


def _linked_avcodec(path: str) -> str | None:
    """The libavcodec a dynamically linked FFmpeg loads, looked up where distributions put it."""
    real = os.path.realpath(path)
    try:
        with open(real, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            needed = _NEEDED_AVCODEC.search(data)
            name = needed.group(1).decode() if needed else None
    except (OSError, ValueError):       # unreadable, or empty (mmap refuses a zero-length file)
        return None
    if name is None:
        return None
    here = Path(real).parent
    beside = [here, here.parent / "lib", here.parent / "lib64", *sorted((here.parent / "lib").glob("*-linux-gnu"))]
    for folder in (*beside, *map(Path, _LIBRARY_DIRS)):
        if (folder / name).is_file():
            return str(folder / name)
    return None


# --- the host -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class HostDriver:
    """The NVIDIA driver here, as NVML says; both None with a note when there is none."""

    driver: str | None          # "550.54.14"
    cuda: str | None            # the newest CUDA the driver supports, "12.4"
    note: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def read_host_driver(nvml: Any | None = None) -> HostDriver:
    """The driver and CUDA driver versions through ``nvml`` (default ``import pynvml``). Never raises an
    NVML error: like :func:`engine.encode.gpu.discover_gpus`, a missing driver is a note."""
    if nvml is None:
        try:
            nvml = importlib.import_module("pynvml")
        except ImportError:
            return HostDriver(None, None, "pynvml not installed")
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        return HostDriver(None, None, f"NVML unavailable: {_error_text(exc)}")
    try:
        try:
            driver = _text(nvml.nvmlSystemGetDriverVersion())
        except nvml.NVMLError as exc:
            return HostDriver(None, None, f"NVML did not give the driver version: {_error_text(exc)}")
        try:
            number = int(nvml.nvmlSystemGetCudaDriverVersion_v2())
            cuda: str | None = f"{number // 1000}.{number % 1000 // 10}"
            note = f"driver {driver}, CUDA {cuda}"
        except nvml.NVMLError as exc:
            cuda, note = None, f"driver {driver}; CUDA version unknown: {_error_text(exc)}"
        return HostDriver(driver, cuda, note)
    finally:
        with suppress(nvml.NVMLError):
            nvml.nvmlShutdown()


def version_tuple(version: str) -> tuple[int, ...]:
    """(550, 54, 14) from "550.54.14"; (610, 0) from "610.00". Non-numbers count as 0."""
    return tuple(int(part) if part.isdigit() else 0 for part in version.strip().split("."))


def nvenc_fits(info: FFmpegInfo, driver: str | None) -> bool | None:
    """Whether ``info`` can NVENC on ``driver``: True, False, or None when its minimum is unknown."""
    if not info.runs or not info.nvenc or driver is None:
        return False
    if info.min_driver is None:
        return None
    return version_tuple(info.min_driver) <= version_tuple(driver)


def nvenc_verdict(info: FFmpegInfo, driver: str | None) -> str:
    """Whether a candidate can NVENC on this driver, in words."""
    if not info.runs:
        return "no (it does not run)"
    if info.too_old:
        return f"no (FFmpeg {info.short_version} is older than {_release(MIN_RELEASE)}, which reelforge needs)"
    if not info.nvenc:
        return "no (no h264_nvenc)"
    if driver is None:
        return "no (no NVIDIA driver)"
    fits = nvenc_fits(info, driver)
    if fits is None:
        return "unknown (it names no minimum driver we know; the trial encode decides)"
    return f"{'yes' if fits else 'no'} (needs {info.min_driver}, this host runs {driver})"


# --- the choice: pure ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class FFmpegChoice:
    path: str
    reason: str


def choose_ffmpeg(candidates: Sequence[FFmpegInfo], host: HostDriver, discovery: GpuDiscovery,
                  forced: str | None = None) -> FFmpegChoice:
    """Pick the binary: the forced one; else, with an NVENC GPU on a driver, the first candidate whose
    NVENC fits that driver (then one whose minimum is unknown); else the wheel's, with the reason.

    ``candidates`` are in order of preference and hold the wheel's FFmpeg (``"wheel"`` in its sources).
    """
    wheel = next((c for c in candidates if WHEEL in c.sources), None)
    if wheel is None:
        raise ValueError("the candidates must include the wheel's FFmpeg")
    if forced is not None:
        chosen = next(c for c in candidates if FORCED in c.sources)
        return FFmpegChoice(chosen.path, f"forced by {FORCED}; NVENC on this driver: "
                                         f"{nvenc_verdict(chosen, host.driver)}")
    if host.driver is None:
        return FFmpegChoice(wheel.path, f"no NVIDIA driver ({host.note}): {wheel.label}")
    if not any(g.nvenc for g in discovery.gpus):
        why = "no GPU" if not discovery.gpus else "no GPU with NVENC"
        return FFmpegChoice(wheel.path, f"{why} ({discovery.note}) on driver {host.driver}: {wheel.label}")
    usable = [c for c in candidates if c.runs and not c.too_old]
    fit = next((c for c in usable if nvenc_fits(c, host.driver)), None)
    if fit is not None:
        return FFmpegChoice(fit.path, f"{fit.label} can NVENC on driver {host.driver} "
                                      f"(needs {fit.min_driver}, NVENC API {fit.nvenc_api})")
    maybe = next((c for c in usable if nvenc_fits(c, host.driver) is None), None)
    if maybe is not None:
        return FFmpegChoice(maybe.path, f"no FFmpeg known to fit driver {host.driver}; {maybe.label} names no "
                                        "minimum driver we know, so its trial encode decides")
    wheel_needs = (f"needs driver {wheel.min_driver} for NVENC" if wheel.min_driver
                   else "has no NVENC it can use" if not wheel.nvenc else "names no minimum driver")
    others = [c for c in candidates if c is not wheel]
    found = ("no other FFmpeg found" if not others else
             "no other FFmpeg found that fits (" + "; ".join(
                 f"{c.path}: {nvenc_verdict(c, host.driver)}" for c in others) + ")")
    return FFmpegChoice(wheel.path, f"{wheel.label} {wheel_needs}; this host runs {host.driver}; {found}: "
                                    f"set {FORCED} or use the GPU image")


# --- reading them all, and wiring ---------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class FFmpegSelection:
    """Everything read at start: the driver, every candidate, and the choice with its reason."""

    host: HostDriver
    candidates: tuple[FFmpegInfo, ...]
    choice: FFmpegChoice

    @property
    def path(self) -> str:
        return self.choice.path

    def to_dict(self) -> dict[str, object]:
        return {"chosen": self.choice.path, "reason": self.choice.reason,
                "candidates": [{**c.to_dict(), "short_version": c.short_version, "too_old": c.too_old,
                                "nvenc_on_this_driver": nvenc_verdict(c, self.host.driver)}
                               for c in self.candidates]}


def candidate_paths(forced: str | None, wheel: str, *, which: Callable[[str], str | None] = shutil.which,
                    system_paths: Sequence[str] = SYSTEM_PATHS) -> list[tuple[str, tuple[str, ...]]]:
    """(path, sources) in order of preference, one per real path; the forced path and the wheel are always listed."""
    listed: dict[str, tuple[str, list[str]]] = {}

    def add(path: str | None, source: str, always: bool = False) -> None:
        if path is None or (not always and not os.path.isfile(path)):
            return
        key = os.path.realpath(path)
        listed.setdefault(key, (path, []))[1].append(source)

    add(forced, FORCED, always=True)
    add(which("ffmpeg"), "PATH")
    for path in system_paths:
        add(path, path)
    add(wheel, WHEEL, always=True)
    return [(path, tuple(sources)) for path, sources in listed.values()]


def check_forced(path: str) -> None:
    """Raise EncoderUnavailable when the forced FFmpeg is missing or not runnable."""
    where = f"{FORCED}={path}"
    if not os.path.exists(path):
        raise EncoderUnavailable("ffmpeg", f"{where}: no such file (point it at an FFmpeg binary, or unset it "
                                           "to let reelforge choose)")
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        raise EncoderUnavailable("ffmpeg", f"{where}: not an executable file")


def select_ffmpeg(forced: str | None, *, discovery: GpuDiscovery | None = None, nvml: Any | None = None,
                  wheel: str | None = None, which: Callable[[str], str | None] = shutil.which,
                  system_paths: Sequence[str] = SYSTEM_PATHS) -> FFmpegSelection:
    """Read the driver and every candidate, and choose. A forced path that is missing or does not run
    raises :class:`EncoderUnavailable`."""
    forced = forced or None     # an empty REELFORGE_FFMPEG_PATH= (as compose files pass it) is unset
    if forced is not None:
        check_forced(forced)
    host = read_host_driver(nvml)
    if discovery is None:
        discovery = discover_gpus(nvml)
    paths = candidate_paths(forced, wheel or bundled_ffmpeg(), which=which, system_paths=system_paths)
    infos = tuple(read_ffmpeg(path, sources) for path, sources in paths)
    if forced is not None:
        mine = next(i for i in infos if FORCED in i.sources)
        if not mine.runs:
            raise EncoderUnavailable("ffmpeg", f"{FORCED}={forced} does not run as FFmpeg: {mine.version}")
        if mine.too_old:
            raise EncoderUnavailable("ffmpeg", f"{FORCED}={forced} is FFmpeg {mine.short_version}; reelforge needs "
                                               f"{_release(MIN_RELEASE)} or newer (it reads long filter graphs from "
                                               "a file with -/filter_complex)")
    return FFmpegSelection(host, infos, choose_ffmpeg(infos, host, discovery, forced))


def with_chosen_ffmpeg(config: EngineConfig, forced: str | None, *, nvml: Any | None = None
                       ) -> tuple[EngineConfig, FFmpegSelection]:
    """``config`` with the chosen FFmpeg, and the selection (for logs and ``reelforge encoders``).
    Call before :func:`engine.encode.encoders.detect_capabilities`, so the trials run that binary."""
    selection = select_ffmpeg(forced, nvml=nvml)
    return replace(config, ffmpeg=selection.path), selection


def _release(numbers: tuple[int, ...]) -> str:
    return ".".join(map(str, numbers))


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _error_text(exc: BaseException) -> str:
    return str(exc).strip() or type(exc).__name__
