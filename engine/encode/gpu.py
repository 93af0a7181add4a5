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
* NVML numbers every GPU on the host in PCI bus order and ignores ``CUDA_VISIBLE_DEVICES``; FFmpeg's
  ``-gpu`` (NVENC) and ``-hwaccel_device`` (CUDA) count the CUDA devices the process can see, in the
  order ``CUDA_VISIBLE_DEVICES`` lists them, and fastest first unless ``CUDA_DEVICE_ORDER=PCI_BUS_ID``.
  Every FFmpeg child runs with ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` (:mod:`engine.run`), and
  :func:`cuda_devices` translates ``CUDA_VISIBLE_DEVICES`` (indices, UUIDs or UUID prefixes) into
  NVML's GPUs, so each :class:`GpuInfo` carries both numbers: ``nvml_index`` (``nvidia-smi``'s, whose
  handle gives the name, UUID and NVENC sessions) and ``cuda_index`` (the one FFmpeg gets).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass
from typing import Any, Final

from engine.errors import EncoderUnavailable

MIB: Final = 1024 * 1024

# Parts with no NVENC engine (NVIDIA's video encode/decode support matrix). Word boundaries keep
# "A30" from matching the RTX A3000, which does have NVENC.
_NO_NVENC_PART: Final = re.compile(r"\b(GH200|GB200|H100|H200|H800|A100|A800|A30|B100|B200)\b", re.IGNORECASE)


_PCI_BUS_ID: Final = re.compile(r"([0-9a-f]+):([0-9a-f]+):([0-9a-f]+)\.([0-9a-f]+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class GpuInfo:
    """One GPU this process can use, as NVML describes it.

    ``nvml_index`` is NVML's (and ``nvidia-smi``'s) number for it; ``cuda_index`` is its place among
    the CUDA devices this process sees, the number FFmpeg's ``-gpu`` and ``-hwaccel_device`` take.
    They differ when ``CUDA_VISIBLE_DEVICES`` hides or reorders GPUs. ``cuda_index`` is None only for
    a GpuInfo made by hand: discovery lists no GPU that CUDA cannot see.
    """

    nvml_index: int
    name: str
    uuid: str
    memory_total_mb: int
    memory_used_mb: int
    nvenc: bool
    nvenc_sessions: int     # encode sessions running when we looked; 0 when there is no NVENC
    nvenc_note: str         # how ``nvenc`` was decided, for logs and ``reelforge probe``
    pci_bus_id: str = ""    # NVML's "00000000:41:00.0"; "" when NVML would not say
    cuda_index: int | None = None

    def label(self) -> str:
        """"GPU 2", or "GPU 2 (CUDA device 0)" when FFmpeg numbers it differently from nvidia-smi."""
        if self.cuda_index is None or self.cuda_index == self.nvml_index:
            return f"GPU {self.nvml_index}"
        return f"GPU {self.nvml_index} (CUDA device {self.cuda_index})"

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


@dataclass(frozen=True, slots=True)
class NvmlDevice:
    """What names one GPU to NVML and to CUDA alike: NVML's index, its UUID and its PCI bus id."""

    nvml_index: int
    uuid: str
    pci_bus_id: str         # "" when NVML would not say


@dataclass(frozen=True, slots=True)
class CudaView:
    """The GPUs the CUDA devices of this process are, in CUDA's order (position = CUDA index)."""

    devices: tuple[NvmlDevice, ...]
    note: str               # how CUDA_VISIBLE_DEVICES was read; "" when it is unset and all GPUs are visible


def _pci_key(device: NvmlDevice) -> tuple[int, ...] | None:
    match = _PCI_BUS_ID.fullmatch(device.pci_bus_id.strip())
    return tuple(int(part, 16) for part in match.groups()) if match else None


def pci_order(devices: Sequence[NvmlDevice]) -> tuple[tuple[NvmlDevice, ...], str]:
    """The GPUs in PCI bus order (CUDA's with ``CUDA_DEVICE_ORDER=PCI_BUS_ID``), and a note if that
    order is a guess: without every bus id, NVML's own order (also by bus, as a rule) stands in."""
    keyed = [(key, d) for d in devices if (key := _pci_key(d)) is not None]
    if len(keyed) == len(devices):
        return tuple(d for _, d in sorted(keyed, key=lambda kd: kd[0])), ""
    unknown = ", ".join(str(d.nvml_index) for d in devices if _pci_key(d) is None)
    return (tuple(sorted(devices, key=lambda d: d.nvml_index)),
            f"PCI bus id unknown for GPU {unknown}: NVML's order taken for CUDA's")


def cuda_devices(devices: Sequence[NvmlDevice], visible: str | None) -> CudaView:
    """Which NVML GPU each CUDA device is, for a process with ``CUDA_VISIBLE_DEVICES=visible``
    (None: unset) and ``CUDA_DEVICE_ORDER=PCI_BUS_ID``. Pure: the readings come in.

    As CUDA reads the variable: a comma list of indices (in PCI bus order) or GPU UUIDs
    (``GPU-8932f937-...``, or a prefix that names one GPU only), enumerated in the listed order; the
    first entry that names no GPU (out of range, negative, unknown or ambiguous UUID, a GPU listed
    twice) hides itself and every entry after it; empty hides all. MIG instances (``MIG-...``) are
    not supported here: such an entry ends the list the same way, with a note that says so.
    """
    ordered, order_note = pci_order(devices)
    if visible is None:
        return CudaView(ordered, order_note)
    notes = [order_note] if order_note else []
    chosen: list[NvmlDevice] = []
    if not visible.strip():
        return CudaView((), "; ".join(["CUDA_VISIBLE_DEVICES is empty: CUDA sees no GPU", *notes]))
    for entry in (e.strip() for e in visible.split(",")):
        device, why = _visible_entry(entry, ordered)
        if device in chosen:
            why = f"GPU {entry} is listed twice" if entry.isdigit() else f"{entry} names a GPU listed before"
            device = None
        if device is None:
            notes.append(f"CUDA ignores {entry!r} and every entry after it: {why}")
            break
        chosen.append(device)
    listed = ", ".join(f"{n} = GPU {d.nvml_index}" for n, d in enumerate(chosen)) or "none"
    head = f"CUDA_VISIBLE_DEVICES={visible}: CUDA sees {len(chosen)} of {len(devices)} GPUs (CUDA device {listed})"
    return CudaView(tuple(chosen), "; ".join([head, *notes]))


def _visible_entry(entry: str, ordered: Sequence[NvmlDevice]) -> tuple[NvmlDevice | None, str]:
    """The GPU one entry of CUDA_VISIBLE_DEVICES names, or None and why it names none."""
    if entry.upper().startswith("MIG-"):
        return None, "MIG instances are not supported by reelforge (NVML reports the whole GPU)"
    if entry.isdigit():
        number = int(entry)
        if number < len(ordered):
            return ordered[number], ""
        return None, f"index {number} is out of range ({len(ordered)} GPUs)"
    if entry.upper().startswith("GPU-"):
        matches = [d for d in ordered if d.uuid.lower().startswith(entry.lower())]
        if len(matches) == 1:
            return matches[0], ""
        if matches:
            return None, f"the UUID prefix matches {len(matches)} GPUs"
        return None, "no GPU has that UUID"
    return None, "not a GPU index or UUID"


def find_gpu(gpus: Sequence[GpuInfo], wanted: str) -> GpuInfo | None:
    """The GPU ``wanted`` names: its NVML (``nvidia-smi``) index, or its UUID or a prefix of it that
    names one GPU only; None when none (or several) match."""
    wanted = wanted.strip()
    if wanted.isdigit():
        return next((g for g in gpus if g.nvml_index == int(wanted)), None)
    matches = [g for g in gpus if wanted and g.uuid.lower().startswith(wanted.lower())]
    return matches[0] if len(matches) == 1 else None


def pin_gpu(discovery: GpuDiscovery, wanted: str) -> GpuDiscovery:
    """Only the GPU ``wanted`` names (see :func:`find_gpu`), among the GPUs this process can see.

    Raises :class:`~engine.errors.EncoderUnavailable` when it names none of them: a process pinned to
    a GPU must not quietly run on another one, or on the CPU.
    """
    gpu = find_gpu(discovery.gpus, wanted)
    if gpu is None:
        seen = "; ".join(f"{g.label()} {g.name} {g.uuid}" for g in discovery.gpus) or f"none ({discovery.note})"
        raise EncoderUnavailable(f"GPU {wanted}", f"no GPU this process can see has that NVML index or UUID "
                                                 f"(it sees: {seen})")
    return GpuDiscovery((gpu,), f"pinned to {gpu.label()} ({gpu.name}, {gpu.uuid}); {discovery.note}")


def discover_gpus(nvml: Any | None = None, *, visible_devices: str | None = None) -> GpuDiscovery:
    """List the NVIDIA GPUs this process can use through ``nvml`` (a module with the pynvml API;
    default: ``import pynvml``), in CUDA's order, for a process whose ``CUDA_VISIBLE_DEVICES`` is
    ``visible_devices`` (None: unset, every GPU). Details and NVENC sessions come from each GPU's own
    NVML handle; GPUs CUDA cannot see are not listed (the note says how the variable was read).

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
        return _list_gpus(nvml, visible_devices)
    finally:
        with suppress(nvml.NVMLError):  # the listing is complete; a failed shutdown changes nothing
            nvml.nvmlShutdown()


def _list_gpus(nvml: Any, visible_devices: str | None) -> GpuDiscovery:
    try:
        count = int(nvml.nvmlDeviceGetCount())
    except nvml.NVMLError as exc:
        return GpuDiscovery((), f"NVML could not count GPUs: {_error_text(exc)}")
    handles: dict[int, Any] = {}
    devices: list[NvmlDevice] = []
    skipped: list[str] = []
    for index in range(count):
        # One lost or half-initialised GPU must not hide the healthy ones, so errors are per GPU.
        try:
            handles[index] = nvml.nvmlDeviceGetHandleByIndex(index)
            devices.append(NvmlDevice(index, _text(nvml.nvmlDeviceGetUUID(handles[index])),
                                      _pci_bus_id(nvml, handles[index])))
        except nvml.NVMLError as exc:
            skipped.append(f"GPU {index} skipped: {_error_text(exc)}")
    view = cuda_devices(devices, visible_devices)
    gpus: list[GpuInfo] = []
    for cuda_index, device in enumerate(view.devices):
        try:
            gpus.append(_read_gpu(nvml, handles[device.nvml_index], device, cuda_index))
        except nvml.NVMLError as exc:
            skipped.append(f"GPU {device.nvml_index} skipped: {_error_text(exc)}")
    if count == 0:
        note = "NVML reports 0 GPUs"
    else:
        note = "; ".join([f"{len(gpus)} NVIDIA GPU{'' if len(gpus) == 1 else 's'}", *skipped,
                          *([view.note] if view.note else [])])
    return GpuDiscovery(tuple(gpus), note)


def _pci_bus_id(nvml: Any, handle: Any) -> str:
    try:
        return _text(nvml.nvmlDeviceGetPciInfo(handle).busId)
    except nvml.NVMLError:
        return ""


def _read_gpu(nvml: Any, handle: Any, device: NvmlDevice, cuda_index: int) -> GpuInfo:
    name = _text(nvml.nvmlDeviceGetName(handle))
    memory = nvml.nvmlDeviceGetMemoryInfo(handle)
    nvenc, note = _nvenc_support(nvml, handle, name)
    return GpuInfo(
        nvml_index=device.nvml_index,
        name=name,
        uuid=device.uuid,
        memory_total_mb=int(memory.total) // MIB,
        memory_used_mb=int(memory.used) // MIB,
        nvenc=nvenc,
        nvenc_sessions=_encoder_sessions(nvml, handle) if nvenc else 0,
        nvenc_note=note,
        pci_bus_id=device.pci_bus_id,
        cuda_index=cuda_index,
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
