"""What NVML (the driver's management library, via ``pynvml``) says about the NVIDIA GPUs here.

This is evidence, not proof: it tells :mod:`engine.encode.encoders` which GPUs exist, which claim an NVENC
encoder and how busy each one is. Only a trial encode proves that FFmpeg can use a GPU (style §7 rule 13).

Discovery never raises an NVML error. A worker without a driver (CI, CPU-only hosts) must still start
and encode with libx264, so every ``NVMLError`` becomes a ``note`` that explains why no GPU was listed.
Other exceptions are bugs and propagate.

Two traps this module handles:

* Datacentre parts such as the H100/H200/A100 have NVDEC and CUDA but no NVENC engine. NVML usually
  answers the encoder-capacity query with NotSupported there; a table of those parts is a safety net
  for drivers that answer anyway, so we never plan an NVENC encode on them.
* NVML numbers GPUs in PCI bus order, CUDA (and so FFmpeg's ``-gpu`` / ``-hwaccel_device``) uses
  fastest-first unless ``CUDA_DEVICE_ORDER=PCI_BUS_ID``. On the usual single-model hosts they agree;
  on mixed hosts set that variable for the worker. Renders reuse the index the trial ran with, so
  a mismatch can cost the GPU but cannot break a render.
"""

from __future__ import annotations

import importlib
import re
from contextlib import suppress
from dataclasses import asdict, dataclass
from typing import Any, Final

MIB: Final = 1024 * 1024

# Parts with no NVENC engine (NVIDIA's video encode/decode support matrix). Word boundaries keep
# "A30" from matching the RTX A3000, which does have NVENC.
_NO_NVENC_PART: Final = re.compile(r"\b(GH200|GB200|H100|H200|H800|A100|A800|A30|B100|B200)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class GpuInfo:
    """One GPU as NVML describes it. ``index`` is NVML's index, the one passed to FFmpeg."""

    index: int
    name: str
    uuid: str
    memory_total_mb: int
    memory_used_mb: int
    nvenc: bool
    nvenc_sessions: int     # encode sessions running when we looked; 0 when there is no NVENC
    nvenc_note: str         # how ``nvenc`` was decided, for logs and ``reelforge probe``

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class GpuDiscovery:
    """The GPUs found, and a note that says why there are none (or how many there are)."""

    gpus: tuple[GpuInfo, ...]
    note: str

    def to_dict(self) -> dict[str, object]:
        return {"gpus": [gpu.to_dict() for gpu in self.gpus], "note": self.note}


def no_nvenc_part(name: str) -> str | None:
    """The part number ("H100", ...) if ``name`` is a GPU known to have no NVENC engine, else None."""
    match = _NO_NVENC_PART.search(name)
    return match.group(1).upper() if match else None


def discover_gpus(nvml: Any | None = None) -> GpuDiscovery:
    """List the NVIDIA GPUs through ``nvml`` (a module with the pynvml API; default: ``import pynvml``).

    NVML errors never escape: each becomes the note or a GPU's ``nvenc_note``. NVML is shut down
    again after every successful init, so calling this once per worker start leaves no state behind.
    """
    if nvml is None:
        try:
            # Lazy: importing the engine must not load the driver library.
            nvml = importlib.import_module("pynvml")
        except ImportError:
            return GpuDiscovery((), "pynvml not installed")
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:  # LibraryNotFound / DriverNotLoaded on hosts without a driver
        return GpuDiscovery((), f"NVML unavailable: {_error_text(exc)}")
    try:
        return _list_gpus(nvml)
    finally:
        with suppress(nvml.NVMLError):  # the listing is complete; a failed shutdown changes nothing
            nvml.nvmlShutdown()


def _list_gpus(nvml: Any) -> GpuDiscovery:
    try:
        count = int(nvml.nvmlDeviceGetCount())
    except nvml.NVMLError as exc:
        return GpuDiscovery((), f"NVML could not count GPUs: {_error_text(exc)}")
    gpus: list[GpuInfo] = []
    skipped: list[str] = []
    for index in range(count):
        # One lost or half-initialised GPU must not hide the healthy ones, so errors are per GPU.
        try:
            gpus.append(_read_gpu(nvml, index))
        except nvml.NVMLError as exc:
            skipped.append(f"GPU {index} skipped: {_error_text(exc)}")
    if count == 0:
        note = "NVML reports 0 GPUs"
    else:
        note = "; ".join([f"{len(gpus)} NVIDIA GPU{'' if len(gpus) == 1 else 's'}", *skipped])
    return GpuDiscovery(tuple(gpus), note)


def _read_gpu(nvml: Any, index: int) -> GpuInfo:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    name = _text(nvml.nvmlDeviceGetName(handle))
    uuid = _text(nvml.nvmlDeviceGetUUID(handle))
    memory = nvml.nvmlDeviceGetMemoryInfo(handle)
    nvenc, note = _nvenc_support(nvml, handle, name)
    return GpuInfo(
        index=index,
        name=name,
        uuid=uuid,
        memory_total_mb=int(memory.total) // MIB,
        memory_used_mb=int(memory.used) // MIB,
        nvenc=nvenc,
        nvenc_sessions=_encoder_sessions(nvml, handle) if nvenc else 0,
        nvenc_note=note,
    )


def _nvenc_support(nvml: Any, handle: Any, name: str) -> tuple[bool, str]:
    """Whether the GPU has a usable H.264 NVENC engine, and how we know."""
    try:
        capacity = int(nvml.nvmlDeviceGetEncoderCapacity(handle, nvml.NVML_ENCODER_QUERY_H264))
    except nvml.NVMLError_NotSupported:
        return False, "NVML reports no encoder (NotSupported)"
    except nvml.NVMLError as exc:  # any other answer is no evidence of a usable encoder
        return False, f"NVML encoder query failed: {_error_text(exc)}"
    part = no_nvenc_part(name)
    if part is not None:
        return False, f"{part} class has no NVENC engine (NVML answered capacity {capacity}%)"
    if capacity <= 0:
        # Capacity is what is left; 0 means absent or saturated. Either way, not worth planning on.
        return False, f"encoder capacity {capacity}%"
    return True, f"encoder capacity {capacity}%"


def _encoder_sessions(nvml: Any, handle: Any) -> int:
    """Active NVENC sessions; 0 when the driver will not say (it is only a tie-breaker)."""
    try:
        return len(nvml.nvmlDeviceGetEncoderSessions(handle))
    except nvml.NVMLError:
        return 0


def _text(value: object) -> str:
    # Old pynvml releases return bytes for names and UUIDs.
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _error_text(exc: BaseException) -> str:
    return str(exc).strip() or type(exc).__name__
