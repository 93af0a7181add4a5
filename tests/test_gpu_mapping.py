"""The GPU a process reports is the GPU FFmpeg uses (engine/encode/gpu.py, engine/run.py).

NVML numbers GPUs in PCI bus order and ignores CUDA_VISIBLE_DEVICES; FFmpeg's ``-gpu`` and
``-hwaccel_device`` count the CUDA devices the process sees. These tests run the mapping between the
two on fake NVML readings (no GPU here), and check that every FFmpeg child gets
CUDA_DEVICE_ORDER=PCI_BUS_ID, with a fake FFmpeg that prints its environment.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest

from engine.config import EngineConfig
from engine.encode.encoders import (
    CUDA_DECODE,
    choose_codecs,
    detect_capabilities,
    h264_encoder_args,
    input_decoder_args,
)
from engine.encode.gpu import (
    GpuDiscovery,
    NvmlDevice,
    cuda_devices,
    discover_gpus,
    find_gpu,
    pin_gpu,
)
from engine.errors import EncoderUnavailable
from engine.run import run_ffmpeg_args
from tests.test_encoders import NOT_SUPPORTED, FakeNvml, NVMLError, RecordingTrial

MIB = 1024 * 1024
UUIDS = ("GPU-8932f937-d72c-4106-c12f-20bd9faed9f6", "GPU-1b2c3d4e-0000-1111-2222-333344445555",
         "GPU-1b2c9999-aaaa-bbbb-cccc-ddddeeeeffff", "GPU-77e0a1b2-1234-5678-9abc-def012345678")
BUS = ("00000000:1A:00.0", "00000000:3B:00.0", "00000000:86:00.0", "00000000:DB:00.0")


@dataclass(frozen=True)
class Card:
    name: str
    uuid: str
    bus: str
    sessions: int = 0
    capacity: object = 100


@dataclass
class HostNvml(FakeNvml):
    """A fake pynvml for a host with several GPUs, each with its own UUID, PCI bus id and NVENC load."""

    host: list[Card] = field(default_factory=list)
    read: list[int] = field(default_factory=list)          # NVML indices whose details were read

    def nvmlDeviceGetCount(self) -> int:
        return len(self.host)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetName(self, handle: int) -> str:  # type: ignore[override]
        self.read.append(handle)
        return self.host[handle].name

    def nvmlDeviceGetUUID(self, handle: int) -> bytes:  # type: ignore[override]
        return self.host[handle].uuid.encode()             # old pynvml: bytes

    def nvmlDeviceGetPciInfo(self, handle: int) -> SimpleNamespace:  # type: ignore[override]
        return SimpleNamespace(busId=self.host[handle].bus.encode())

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> SimpleNamespace:  # type: ignore[override]
        return SimpleNamespace(total=24_000 * MIB, used=500 * MIB, free=0)

    def nvmlDeviceGetEncoderCapacity(self, handle: int, query: int) -> int:  # type: ignore[override]
        capacity = self.host[handle].capacity
        if isinstance(capacity, Exception):
            raise capacity
        return int(capacity)  # type: ignore[call-overload]

    def nvmlDeviceGetEncoderSessions(self, handle: int) -> list[object]:  # type: ignore[override]
        return [object()] * self.host[handle].sessions


def four_l4s(**sessions: int) -> HostNvml:
    return HostNvml(host=[Card(f"NVIDIA L4 #{i}", UUIDS[i], BUS[i], sessions.get(f"gpu{i}", 0)) for i in range(4)])


DEVICES = [NvmlDevice(i, UUIDS[i], BUS[i]) for i in range(4)]


def nvml_indices(visible: str | None, devices: list[NvmlDevice] = DEVICES) -> list[int]:
    return [d.nvml_index for d in cuda_devices(devices, visible).devices]


# --- the mapping: pure -----------------------------------------------------------------------------

def test_unset_means_every_gpu_in_pci_bus_order() -> None:
    assert nvml_indices(None) == [0, 1, 2, 3]
    assert cuda_devices(DEVICES, None).note == ""
    # NVML handed them over in another order: CUDA (CUDA_DEVICE_ORDER=PCI_BUS_ID) still goes by bus
    shuffled = [NvmlDevice(0, UUIDS[0], BUS[2]), NvmlDevice(1, UUIDS[1], BUS[0]), NvmlDevice(2, UUIDS[2], BUS[1])]
    assert nvml_indices(None, shuffled) == [1, 2, 0]
    assert nvml_indices("0", shuffled) == [1]
    # bus ids compare as numbers, whatever the case and domain width
    mixed = [NvmlDevice(0, UUIDS[0], "0000:a0:00.0"), NvmlDevice(1, UUIDS[1], "00000000:9F:00.0")]
    assert nvml_indices(None, mixed) == [1, 0]


def test_without_bus_ids_nvml_order_stands_in_and_says_so() -> None:
    devices = [NvmlDevice(1, UUIDS[1], ""), NvmlDevice(0, UUIDS[0], BUS[3])]
    view = cuda_devices(devices, None)
    assert [d.nvml_index for d in view.devices] == [0, 1]
    assert view.note == "PCI bus id unknown for GPU 1: NVML's order taken for CUDA's"


def test_indices_pick_and_order_the_gpus() -> None:
    assert nvml_indices("2") == [2]
    assert nvml_indices("2,0") == [2, 0]             # CUDA device 0 is GPU 2, CUDA device 1 is GPU 0
    assert nvml_indices(" 3 , 1 ") == [3, 1]
    view = cuda_devices(DEVICES, "2,0")
    assert view.note == "CUDA_VISIBLE_DEVICES=2,0: CUDA sees 2 of 4 GPUs (CUDA device 0 = GPU 2, 1 = GPU 0)"


def test_uuids_and_unique_uuid_prefixes() -> None:
    assert nvml_indices(UUIDS[3]) == [3]
    assert nvml_indices(f"{UUIDS[3]},{UUIDS[0]}") == [3, 0]
    assert nvml_indices("GPU-8932f937") == [0]                  # a prefix, as CUDA accepts
    assert nvml_indices("gpu-8932F937") == [0]                  # case does not matter
    assert nvml_indices("1,GPU-77e0") == [1, 3]                 # indices and UUIDs mix
    ambiguous = cuda_devices(DEVICES, "0,GPU-1b2c")             # GPUs 1 and 2 both start so
    assert [d.nvml_index for d in ambiguous.devices] == [0]
    assert "CUDA ignores 'GPU-1b2c' and every entry after it: the UUID prefix matches 2 GPUs" in ambiguous.note


def test_an_entry_that_names_no_gpu_hides_itself_and_the_rest() -> None:
    assert nvml_indices("0,2,-1,1") == [0, 2]                    # CUDA's own documented example
    out_of_range = cuda_devices(DEVICES, "1,7,0")
    assert [d.nvml_index for d in out_of_range.devices] == [1]
    assert "CUDA ignores '7' and every entry after it: index 7 is out of range (4 GPUs)" in out_of_range.note
    assert nvml_indices("GPU-ffff") == []
    assert "no GPU has that UUID" in cuda_devices(DEVICES, "GPU-ffff").note
    assert nvml_indices("1,1,2") == [1]
    assert "GPU 1 is listed twice" in cuda_devices(DEVICES, "1,1,2").note
    assert nvml_indices("0,,1") == [0]
    assert nvml_indices("all") == []


def test_empty_means_no_gpu() -> None:
    for empty in ("", "  "):
        view = cuda_devices(DEVICES, empty)
        assert view.devices == ()
        assert view.note == "CUDA_VISIBLE_DEVICES is empty: CUDA sees no GPU"


def test_mig_instances_are_reported_unsupported() -> None:
    view = cuda_devices(DEVICES, "MIG-4f2c1a9e-1111-2222-3333-444455556666")
    assert view.devices == ()
    assert "MIG instances are not supported by reelforge" in view.note
    assert nvml_indices("3,MIG-GPU-x/1/0") == [3]


# --- discovery: each GPU read from its own handle, numbered as FFmpeg numbers it ---------------------

def test_a_worker_pinned_with_cuda_visible_devices_reports_that_gpu_and_gives_ffmpeg_index_0() -> None:
    nvml = four_l4s(gpu0=3, gpu2=1)
    discovery = discover_gpus(nvml, visible_devices="2")
    (gpu,) = discovery.gpus
    assert (gpu.nvml_index, gpu.cuda_index, gpu.name, gpu.uuid, gpu.pci_bus_id) == (
        2, 0, "NVIDIA L4 #2", UUIDS[2], BUS[2])
    assert gpu.nvenc_sessions == 1                       # GPU 2's sessions, not GPU 0's three
    assert nvml.read == [2]                              # the other GPUs' details were not even read
    assert nvml.calls == ["init", "shutdown"]
    assert discovery.note == "1 NVIDIA GPU; CUDA_VISIBLE_DEVICES=2: CUDA sees 1 of 4 GPUs (CUDA device 0 = GPU 2)"
    assert gpu.label() == "GPU 2 (CUDA device 0)"
    assert gpu.to_dict() | {} == {
        "nvml_index": 2, "cuda_index": 0, "name": "NVIDIA L4 #2", "uuid": UUIDS[2], "pci_bus_id": BUS[2],
        "memory_total_mb": 24_000, "memory_used_mb": 500, "nvenc": True, "nvenc_sessions": 1,
        "nvenc_note": "encoder capacity 100%"}

    trial = RecordingTrial()
    choice = choose_codecs("auto", "auto", discovery, trial)
    assert (choice.encoder, choice.decoder, choice.gpu_index) == ("h264_nvenc", "cuda", 0)
    assert trial.calls == [("h264_nvenc", 0), (CUDA_DECODE, 0)]       # the trials ran on FFmpeg's index
    assert choice.encoder_reason == "NVENC on GPU 2 (CUDA device 0) (NVIDIA L4 #2), trial encode ok"
    # ... and the renders get the same index
    assert h264_encoder_args(choice.encoder, "medium", "veryfast", choice.gpu_index)[2:4] == ["-gpu", "0"]
    assert input_decoder_args(choice.decoder, choice.gpu_index) == ["-hwaccel", "cuda", "-hwaccel_device", "0"]


def test_reordered_gpus_pick_the_least_busy_by_its_own_sessions() -> None:
    nvml = four_l4s(gpu3=2, gpu1=0)
    discovery = discover_gpus(nvml, visible_devices=f"{UUIDS[3]},1")
    assert [(g.nvml_index, g.cuda_index, g.nvenc_sessions) for g in discovery.gpus] == [(3, 0, 2), (1, 1, 0)]
    trial = RecordingTrial()
    choice = choose_codecs("h264_nvenc", "cpu", discovery, trial)
    assert choice.gpu_index == 1 and trial.calls == [("h264_nvenc", 1)]     # GPU 1, which FFmpeg calls 1
    assert choice.encoder_reason.endswith("NVENC on GPU 1 (NVIDIA L4 #1), trial encode ok")


def test_a_failed_trial_names_both_numbers() -> None:
    discovery = discover_gpus(four_l4s(), visible_devices="3")
    choice = choose_codecs("auto", "cpu", discovery, RecordingTrial({("h264_nvenc", 0): "driver too old"}))
    assert choice.encoder == "libx264"
    assert choice.encoder_reason == "h264_nvenc trial encode failed on GPU 3 (CUDA device 0): driver too old"


def test_empty_cuda_visible_devices_means_no_gpu_and_libx264() -> None:
    discovery = discover_gpus(four_l4s(), visible_devices="")
    assert discovery.gpus == ()
    choice = choose_codecs("auto", "auto", discovery, RecordingTrial())
    assert (choice.encoder, choice.decoder) == ("libx264", "cpu")
    assert "CUDA_VISIBLE_DEVICES is empty" in choice.encoder_reason
    with pytest.raises(EncoderUnavailable, match="CUDA_VISIBLE_DEVICES is empty"):
        choose_codecs("h264_nvenc", "cpu", discovery, RecordingTrial())


def test_a_lost_gpu_keeps_the_others_numbers() -> None:
    class Lost(HostNvml):
        def nvmlDeviceGetName(self, handle: int) -> str:  # type: ignore[override]
            if handle == 1:
                raise NVMLError("GPU is lost")
            return super().nvmlDeviceGetName(handle)

    discovery = discover_gpus(Lost(host=four_l4s().host), visible_devices="1,2")
    assert [(g.nvml_index, g.cuda_index) for g in discovery.gpus] == [(2, 1)]
    assert "GPU 1 skipped: GPU is lost" in discovery.note


def test_a_gpu_without_pci_info_is_still_listed() -> None:
    class NoPci(HostNvml):
        def nvmlDeviceGetPciInfo(self, handle: int) -> SimpleNamespace:  # type: ignore[override]
            raise NVMLError("Not Supported")

    discovery = discover_gpus(NoPci(host=four_l4s().host[:2]))
    assert [(g.nvml_index, g.cuda_index, g.pci_bus_id) for g in discovery.gpus] == [(0, 0, ""), (1, 1, "")]
    assert "PCI bus id unknown for GPU 0, 1" in discovery.note


# --- a pin (REELFORGE_GPU): an NVML index or UUID among the visible GPUs ---------------------------------

def test_find_gpu_by_nvml_index_uuid_or_prefix() -> None:
    gpus = discover_gpus(four_l4s()).gpus
    assert find_gpu(gpus, "2") is gpus[2]
    assert find_gpu(gpus, UUIDS[3]) is gpus[3]
    assert find_gpu(gpus, "gpu-8932") is gpus[0]
    assert find_gpu(gpus, "GPU-1b2c") is None                   # two GPUs start so
    assert find_gpu(gpus, "9") is None
    assert find_gpu(gpus, "") is None


def test_a_pin_agrees_with_cuda_visible_devices() -> None:
    # CUDA_VISIBLE_DEVICES=3,1 and the pin names NVML GPU 1: FFmpeg must get 1, NVML reads handle 1
    discovery = pin_gpu(discover_gpus(four_l4s(gpu1=2), visible_devices="3,1"), "1")
    (gpu,) = discovery.gpus
    assert (gpu.nvml_index, gpu.cuda_index, gpu.nvenc_sessions) == (1, 1, 2)
    assert discovery.note.startswith(f"pinned to GPU 1 (NVIDIA L4 #1, {UUIDS[1]}); 2 NVIDIA GPUs")
    choice = choose_codecs("auto", "auto", discovery, RecordingTrial())
    assert choice.gpu_index == 1


def test_a_pin_to_a_gpu_this_process_cannot_see_fails_loudly() -> None:
    with pytest.raises(EncoderUnavailable, match="no GPU this process can see has that NVML index or UUID"):
        pin_gpu(discover_gpus(four_l4s(), visible_devices="0"), "2")
    with pytest.raises(EncoderUnavailable, match=r"it sees: none \(NVML unavailable"):
        pin_gpu(GpuDiscovery((), "NVML unavailable: NVML Shared Library Not Found"), "0")


def test_detect_capabilities_reads_visible_devices_and_the_pin_from_the_config() -> None:
    config = EngineConfig(ffmpeg="/nonexistent/ffmpeg", cuda_visible_devices="2,3", gpu=UUIDS[3][:12])
    caps = detect_capabilities(config, nvml=four_l4s(), trial=RecordingTrial())
    assert [(g.nvml_index, g.cuda_index) for g in caps.discovery.gpus] == [(3, 1)]
    assert caps.choice.gpu_index == 1
    unpinned = detect_capabilities(EngineConfig(ffmpeg="x", cuda_visible_devices="2,3"), nvml=four_l4s(),
                                   trial=RecordingTrial())
    assert [g.nvml_index for g in unpinned.discovery.gpus] == [2, 3]
    with pytest.raises(EncoderUnavailable):
        detect_capabilities(EngineConfig(ffmpeg="x", gpu="0"), nvml=FakeNvml(init_error=NVMLError("no driver")),
                            trial=RecordingTrial())


def test_an_h100_pinned_by_uuid_decodes_on_its_own_index() -> None:
    nvml = HostNvml(host=[Card("NVIDIA L4", UUIDS[0], BUS[0]),
                          Card("NVIDIA H100 80GB HBM3", UUIDS[1], BUS[1], capacity=NOT_SUPPORTED)])
    discovery = pin_gpu(discover_gpus(nvml), UUIDS[1])
    trial = RecordingTrial()
    choice = choose_codecs("auto", "auto", discovery, trial)
    assert (choice.encoder, choice.decoder, choice.gpu_index) == ("libx264", "cuda", 1)
    assert trial.calls == [(CUDA_DECODE, 1)]


# --- the settings: CUDA_VISIBLE_DEVICES and REELFORGE_GPU reach the config ------------------------------

def test_settings_carry_cuda_visible_devices_and_the_worker_pin(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.settings import EngineSettings
    from workers.settings import WorkerSettings

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert EngineSettings().engine_config().cuda_visible_devices is None
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-8932f937,1")
    monkeypatch.setenv("REELFORGE_GPU", "1")
    assert EngineSettings().engine_config().cuda_visible_devices == "GPU-8932f937,1"
    assert EngineSettings().engine_config().gpu is None                  # a pin is the workers' setting
    worker = WorkerSettings().engine_config()
    assert (worker.cuda_visible_devices, worker.gpu) == ("GPU-8932f937,1", "1")


# --- every FFmpeg child numbers CUDA devices in PCI bus order -------------------------------------------

def test_ffmpeg_children_get_cuda_device_order_pci_bus_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "ffmpeg"
    fake.write_text('#!/bin/sh\necho "order=$CUDA_DEVICE_ORDER visible=$CUDA_VISIBLE_DEVICES" >&2\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "FASTEST_FIRST")            # whatever the parent has
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2")
    result = run_ffmpeg_args(["-version"], ffmpeg=str(fake), work_dir=tmp_path, timeout_s=10)
    assert "order=PCI_BUS_ID visible=2" in result.stderr_tail
    assert os.environ["CUDA_DEVICE_ORDER"] == "FASTEST_FIRST"           # the parent's stays as it was


# --- what a worker reports: the start-up line and its Redis heartbeat record -------------------------------

def test_the_worker_reports_both_numbers_of_its_gpu() -> None:
    from workers.farm import FarmWorker, encoder_for_job, gpu_summary

    config = EngineConfig(ffmpeg="x", cuda_visible_devices="2", gpu=None)
    caps = detect_capabilities(config, nvml=four_l4s(gpu2=1), trial=RecordingTrial())
    assert gpu_summary(caps.discovery) == f"GPU 2 NVIDIA L4 #2 {UUIDS[2]} pci {BUS[2]} cuda 0"
    assert gpu_summary(discover_gpus(four_l4s(), visible_devices="")) == (
        "no GPU (0 NVIDIA GPUs; CUDA_VISIBLE_DEVICES is empty: CUDA sees no GPU)")
    worker = FarmWorker(None, "w1", None, None, config, caps, ["gpu"])  # type: ignore[arg-type]
    record = worker.info()
    (gpu,) = record["gpus"]["gpus"]
    assert {k: gpu[k] for k in ("name", "uuid", "pci_bus_id", "nvml_index", "cuda_index")} == {
        "name": "NVIDIA L4 #2", "uuid": UUIDS[2], "pci_bus_id": BUS[2], "nvml_index": 2, "cuda_index": 0}
    assert record["choice"]["gpu_index"] == 0
    # per job, the session count is read again, from GPU 2's handle, which FFmpeg calls 0
    busy = discover_gpus(four_l4s(gpu0=5, gpu2=3), visible_devices="2")
    fallback = encoder_for_job(caps.choice, busy, session_limit=3)
    assert fallback.encoder == "libx264"
    assert fallback.encoder_reason == "GPU 2 (CUDA device 0) runs 3 NVENC sessions (limit 3)"
    assert encoder_for_job(caps.choice, discover_gpus(four_l4s(gpu0=5), visible_devices="2"), 3) == caps.choice
