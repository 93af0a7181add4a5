"""GPU discovery (engine/encode/gpu.py) and codec choice (engine/encode/encoders.py).

The decision logic runs against a fake pynvml and a recording fake trial, so every GPU situation is
covered on a machine with no GPU. The last tests start the real FFmpeg and the real pynvml, which
here (no driver, like CI) must fail cleanly and leave the engine on libx264 and the CPU.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest

from engine.config import EngineConfig, bundled_ffmpeg
from engine.encode.encoders import (
    CUDA_DECODE,
    CodecChoice,
    FFmpegTrial,
    TrialResult,
    choose_codecs,
    detect_capabilities,
    h264_encoder_args,
    input_decoder_args,
    trial_cuda_decode,
    trial_encode,
)
from engine.encode.gpu import GpuDiscovery, GpuInfo, discover_gpus, no_nvenc_part
from engine.errors import EncoderUnavailable, ffmpeg_cause

MIB = 1024 * 1024


# --- a fake pynvml -----------------------------------------------------------------------------

class NVMLError(Exception):
    pass


class NVMLError_NotSupported(NVMLError):  # named like pynvml's classes
    def __str__(self) -> str:
        return "Not Supported"


class NVMLError_LibraryNotFound(NVMLError):
    def __str__(self) -> str:
        return "NVML Shared Library Not Found"


@dataclass(frozen=True)
class FakeCard:
    name: str | bytes
    capacity: int | Exception = 100        # what the encoder-capacity query answers (or raises)
    sessions: int = 0
    total_mb: int = 24_000
    used_mb: int = 500


@dataclass
class FakeNvml:
    """Just enough of pynvml's module API; records init/shutdown so tests can check the pairing."""

    cards: list[FakeCard] = field(default_factory=list)
    init_error: Exception | None = None
    calls: list[str] = field(default_factory=list)

    NVMLError = NVMLError
    NVMLError_NotSupported = NVMLError_NotSupported
    NVML_ENCODER_QUERY_H264 = 0

    def nvmlInit(self) -> None:
        self.calls.append("init")
        if self.init_error is not None:
            raise self.init_error

    def nvmlShutdown(self) -> None:
        self.calls.append("shutdown")

    def nvmlDeviceGetCount(self) -> int:
        return len(self.cards)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeCard:
        return self.cards[index]

    def nvmlDeviceGetName(self, card: FakeCard) -> str | bytes:
        return card.name

    def nvmlDeviceGetUUID(self, card: FakeCard) -> str:
        return f"GPU-{self.cards.index(card):04d}"

    def nvmlDeviceGetPciInfo(self, card: FakeCard) -> SimpleNamespace:
        return SimpleNamespace(busId=f"00000000:{self.cards.index(card) + 1:02X}:00.0")

    def nvmlDeviceGetMemoryInfo(self, card: FakeCard) -> SimpleNamespace:
        return SimpleNamespace(total=card.total_mb * MIB, used=card.used_mb * MIB, free=0)

    def nvmlDeviceGetEncoderCapacity(self, card: FakeCard, query: int) -> int:
        assert query == self.NVML_ENCODER_QUERY_H264
        if isinstance(card.capacity, Exception):
            raise card.capacity
        return card.capacity

    def nvmlDeviceGetEncoderSessions(self, card: FakeCard) -> list[object]:
        return [object()] * card.sessions


H100 = "NVIDIA H100 80GB HBM3"
NOT_SUPPORTED = NVMLError_NotSupported()
L4 = "NVIDIA L4"


@dataclass
class RecordingTrial:
    """A fake Trial: answers from a table keyed by (what, gpu index), records every call."""

    fails: dict[tuple[str, int | None], str] = field(default_factory=dict)
    calls: list[tuple[str, int | None]] = field(default_factory=list)

    def __call__(self, what: str, gpu_index: int | None) -> TrialResult:
        self.calls.append((what, gpu_index))
        message = self.fails.get((what, gpu_index))
        return TrialResult(message is None, message or "ok")


def discover(*cards: FakeCard) -> GpuDiscovery:
    return discover_gpus(FakeNvml(list(cards)))


# --- (a) no driver -------------------------------------------------------------------------------

def test_nvml_init_failure_means_no_gpus_and_libx264() -> None:
    nvml = FakeNvml(init_error=NVMLError_LibraryNotFound())
    discovery = discover_gpus(nvml)
    assert discovery == GpuDiscovery((), "NVML unavailable: NVML Shared Library Not Found")
    assert nvml.calls == ["init"]                       # no shutdown without a successful init
    trial = RecordingTrial()
    choice = choose_codecs("auto", "auto", discovery, trial)
    assert (choice.encoder, choice.decoder, choice.gpu_index) == ("libx264", "cpu", None)
    assert choice.encoder_reason == "no NVIDIA GPU (NVML unavailable: NVML Shared Library Not Found)"
    assert "NVML" in choice.decoder_reason
    assert trial.calls == []


def test_missing_pynvml_is_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)     # makes ``import pynvml`` raise ImportError
    assert discover_gpus() == GpuDiscovery((), "pynvml not installed")


def test_discovery_shuts_nvml_down_and_counts() -> None:
    nvml = FakeNvml([FakeCard(L4), FakeCard(L4)])
    discovery = discover_gpus(nvml)
    assert nvml.calls == ["init", "shutdown"]
    assert discovery.note == "2 NVIDIA GPUs"
    assert discover_gpus(FakeNvml([])).note == "NVML reports 0 GPUs"


def test_discovery_reads_fields_and_decodes_bytes_names() -> None:
    (gpu,) = discover(FakeCard(L4.encode(), capacity=100, sessions=2, total_mb=23_034, used_mb=1)).gpus
    assert gpu == GpuInfo(0, L4, "GPU-0000", 23_034, 1, True, 2, "encoder capacity 100%", "00000000:01:00.0", 0)
    assert gpu.to_dict()["name"] == L4


def test_discovery_never_raises_on_a_broken_gpu() -> None:
    class Lost(FakeNvml):
        def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeCard:
            if index == 1:
                raise NVMLError("GPU is lost")
            return super().nvmlDeviceGetHandleByIndex(index)

    nvml = Lost([FakeCard(L4), FakeCard(L4)])
    discovery = discover_gpus(nvml)
    assert [g.nvml_index for g in discovery.gpus] == [0]
    assert discovery.note == "1 NVIDIA GPU; GPU 1 skipped: GPU is lost"
    assert nvml.calls == ["init", "shutdown"]


# --- (b) (c) H100: CUDA and NVDEC, no NVENC ----------------------------------------------------------

def test_h100_not_supported_means_libx264_and_cuda_decode_when_it_works() -> None:
    discovery = discover(FakeCard(H100, capacity=NOT_SUPPORTED))
    (gpu,) = discovery.gpus
    assert (gpu.nvenc, gpu.nvenc_sessions) == (False, 0)
    assert gpu.nvenc_note == "NVML reports no encoder (NotSupported)"
    trial = RecordingTrial()
    choice = choose_codecs("auto", "auto", discovery, trial)
    assert choice == CodecChoice(
        "libx264", "cuda", 0,
        f"{H100} (GPU 0) has no NVENC engine: NVML reports no encoder (NotSupported)",
        f"CUDA decode on GPU 0 ({H100}), trial decode ok",
    )
    assert trial.calls == [(CUDA_DECODE, 0)]            # no pointless NVENC trial


def test_h100_decode_trial_failure_means_cpu_decode() -> None:
    discovery = discover(FakeCard(H100, capacity=NOT_SUPPORTED))
    trial = RecordingTrial({(CUDA_DECODE, 0): "No device available for decoder"})
    choice = choose_codecs("auto", "auto", discovery, trial)
    assert (choice.encoder, choice.decoder, choice.gpu_index) == ("libx264", "cpu", None)
    assert choice.decoder_reason == "CUDA decode trial failed on GPU 0: No device available for decoder"


def test_h100_answering_capacity_is_still_no_nvenc() -> None:
    (gpu,) = discover(FakeCard(H100, capacity=100)).gpus
    assert gpu.nvenc is False
    assert gpu.nvenc_note == "H100 class has no NVENC engine (NVML answered capacity 100%)"


@pytest.mark.parametrize(
    ("name", "part"),
    [
        (H100, "H100"), ("NVIDIA A100-SXM4-80GB", "A100"), ("NVIDIA H200", "H200"),
        ("NVIDIA GH200 480GB", "GH200"), ("NVIDIA A30", "A30"), ("NVIDIA B200", "B200"),
        ("NVIDIA H800 PCIe", "H800"), ("NVIDIA A800 80GB PCIe", "A800"),
        (L4, None), ("Tesla T4", None), ("NVIDIA A10", None), ("NVIDIA RTX A3000 Laptop GPU", None),
        ("NVIDIA A40", None),
    ],
)
def test_no_nvenc_part_table(name: str, part: str | None) -> None:
    assert no_nvenc_part(name) == part


def test_capacity_zero_or_query_error_means_no_nvenc() -> None:
    zero, broken = discover(FakeCard(L4, capacity=0), FakeCard(L4, capacity=NVMLError("Unknown Error"))).gpus
    assert (zero.nvenc, zero.nvenc_note) == (False, "encoder capacity 0%")
    assert (broken.nvenc, broken.nvenc_note) == (False, "NVML encoder query failed: Unknown Error")


# --- (d) (e) cards with NVENC ------------------------------------------------------------------------

def test_l4_uses_nvenc_when_the_trial_passes() -> None:
    trial = RecordingTrial()
    choice = choose_codecs("auto", "auto", discover(FakeCard(L4)), trial)
    assert choice == CodecChoice("h264_nvenc", "cuda", 0, f"NVENC on GPU 0 ({L4}), trial encode ok",
                                 f"CUDA decode on GPU 0 ({L4}), trial decode ok")
    assert trial.calls == [("h264_nvenc", 0), (CUDA_DECODE, 0)]


def test_l4_falls_back_to_libx264_with_the_ffmpeg_cause() -> None:
    trial = RecordingTrial({("h264_nvenc", 0): "OpenEncodeSessionEx failed: out of memory (10)"})
    choice = choose_codecs("auto", "cpu", discover(FakeCard(L4)), trial)
    assert (choice.encoder, choice.decoder, choice.gpu_index) == ("libx264", "cpu", None)
    assert choice.encoder_reason == (
        "h264_nvenc trial encode failed on GPU 0: OpenEncodeSessionEx failed: out of memory (10)"
    )


def test_least_busy_nvenc_gpu_wins() -> None:
    discovery = discover(
        FakeCard(L4, sessions=3), FakeCard(L4, sessions=1), FakeCard(H100, capacity=NOT_SUPPORTED)
    )
    trial = RecordingTrial()
    choice = choose_codecs("auto", "auto", discovery, trial)
    assert (choice.encoder, choice.decoder, choice.gpu_index) == ("h264_nvenc", "cuda", 1)
    assert trial.calls == [("h264_nvenc", 1), (CUDA_DECODE, 1)]


def test_equal_sessions_prefer_lowest_index_and_a_failed_gpu_is_skipped() -> None:
    discovery = discover(FakeCard(L4, sessions=0), FakeCard(L4, sessions=0))
    trial = RecordingTrial({("h264_nvenc", 0): "No capable devices found"})
    choice = choose_codecs("auto", "cpu", discovery, trial)
    assert (choice.encoder, choice.gpu_index) == ("h264_nvenc", 1)
    assert "GPU 0: No capable devices found" in choice.encoder_reason
    assert trial.calls == [("h264_nvenc", 0), ("h264_nvenc", 1)]


# --- (f) (g) forced settings ---------------------------------------------------------------------------

def test_forced_nvenc_without_nvenc_raises() -> None:
    trial = RecordingTrial()
    with pytest.raises(EncoderUnavailable) as info:
        choose_codecs("h264_nvenc", "auto", discover(FakeCard(H100, capacity=NOT_SUPPORTED)), trial)
    assert info.value.encoder == "h264_nvenc"
    assert info.value.reason == f"{H100} (GPU 0) has no NVENC engine: NVML reports no encoder (NotSupported)"
    assert trial.calls == []


def test_forced_nvenc_with_failing_trial_raises_with_the_message() -> None:
    trial = RecordingTrial({("h264_nvenc", 0): "Driver does not support the required nvenc API version"})
    with pytest.raises(EncoderUnavailable, match="required nvenc API version"):
        choose_codecs("h264_nvenc", "cpu", discover(FakeCard(L4)), trial)


def test_forced_nvenc_with_no_gpu_raises() -> None:
    with pytest.raises(EncoderUnavailable, match="no NVIDIA GPU"):
        choose_codecs("h264_nvenc", "cpu", GpuDiscovery((), "pynvml not installed"), RecordingTrial())


def test_forced_nvenc_ok_says_it_was_forced() -> None:
    choice = choose_codecs("h264_nvenc", "cpu", discover(FakeCard(L4)), RecordingTrial())
    assert choice.encoder == "h264_nvenc"
    assert choice.encoder_reason.startswith("forced by setting (encoder=h264_nvenc); NVENC on GPU 0")


def test_forced_libx264_runs_no_trial() -> None:
    trial = RecordingTrial()
    choice = choose_codecs("libx264", "cpu", discover(FakeCard(L4)), trial)
    assert choice == CodecChoice("libx264", "cpu", None, "forced by setting (encoder=libx264)",
                                 "forced by setting (decoder=cpu)")
    assert trial.calls == []


def test_forced_cuda_decoder_without_gpu_raises() -> None:
    no_driver = GpuDiscovery((), "NVML unavailable: Driver Not Loaded")
    with pytest.raises(EncoderUnavailable) as info:
        choose_codecs("auto", "cuda", no_driver, RecordingTrial())
    assert info.value.encoder == "cuda"
    assert "Driver Not Loaded" in info.value.reason


def test_forced_cuda_decoder_tries_each_gpu_and_raises_when_all_fail() -> None:
    discovery = discover(FakeCard(H100, capacity=NOT_SUPPORTED), FakeCard(H100, capacity=NOT_SUPPORTED))
    ok_on_1 = choose_codecs("libx264", "cuda", discovery, RecordingTrial({(CUDA_DECODE, 0): "busy"}))
    assert (ok_on_1.decoder, ok_on_1.gpu_index) == ("cuda", 1)
    with pytest.raises(EncoderUnavailable, match="GPU 0: busy; CUDA decode trial failed on GPU 1: busy"):
        both_busy = RecordingTrial({(CUDA_DECODE, 0): "busy", (CUDA_DECODE, 1): "busy"})
        choose_codecs("libx264", "cuda", discovery, both_busy)


def test_unknown_settings_raise_typed_errors() -> None:
    with pytest.raises(EncoderUnavailable):
        choose_codecs("qsv", "cpu", GpuDiscovery((), "x"), RecordingTrial())  # type: ignore[arg-type]
    with pytest.raises(EncoderUnavailable):
        choose_codecs("libx264", "vaapi", GpuDiscovery((), "x"), RecordingTrial())  # type: ignore[arg-type]


def test_detect_capabilities_with_fakes_and_to_dict() -> None:
    config = EngineConfig(ffmpeg="/nonexistent/ffmpeg")
    caps = detect_capabilities(config, nvml=FakeNvml([FakeCard(L4)]), trial=RecordingTrial())
    data = caps.to_dict()
    assert data["choice"] == {"encoder": "h264_nvenc", "decoder": "cuda", "gpu_index": 0,
                              "encoder_reason": f"NVENC on GPU 0 ({L4}), trial encode ok",
                              "decoder_reason": f"CUDA decode on GPU 0 ({L4}), trial decode ok"}
    assert data["discovery"]["note"] == "1 NVIDIA GPU"                            # type: ignore[index]


# --- arguments -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("quality", "crf", "cq"), [("high", "20", "21"), ("medium", "23", "25"), ("low", "28", "30")]
)
def test_h264_encoder_args(quality: str, crf: str, cq: str) -> None:
    assert h264_encoder_args("libx264", quality, "veryfast", None) == [
        "-c:v", "libx264", "-preset", "veryfast", "-crf", crf, "-pix_fmt", "yuv420p"]
    assert h264_encoder_args("h264_nvenc", quality, "veryfast", 1) == [
        "-c:v", "h264_nvenc", "-gpu", "1", "-preset", "p4", "-tune", "hq", "-rc", "vbr", "-cq", cq,
        "-b:v", "0", "-pix_fmt", "yuv420p"]


def test_h264_encoder_args_rejects_unknowns() -> None:
    assert "-gpu" not in h264_encoder_args("h264_nvenc", "high", "veryfast", None)
    with pytest.raises(ValueError, match="quality"):
        h264_encoder_args("libx264", "ultra", "veryfast", None)
    with pytest.raises(EncoderUnavailable):
        h264_encoder_args("hevc_nvenc", "high", "veryfast", 0)


def test_input_decoder_args() -> None:
    assert input_decoder_args("cpu", None) == []
    assert input_decoder_args("cuda", 2) == ["-hwaccel", "cuda", "-hwaccel_device", "2"]
    assert input_decoder_args("cuda", None) == ["-hwaccel", "cuda"]


def test_trial_message_skips_the_cascade_and_addresses() -> None:
    stderr = (
        "[h264_nvenc @ 0x55cb9c03d980] Cannot load libcuda.so.1\n"
        "[vost#0:0/h264_nvenc @ 0x55cb9c03ce40] [enc:h264_nvenc @ 0x55cb9c03d880] Error while opening"
        " encoder\n"
        "[out#0/null @ 0x55cb9c03c280] Nothing was written into output file\n"
    )
    assert ffmpeg_cause(stderr) == "[h264_nvenc] Cannot load libcuda.so.1"
    assert ffmpeg_cause("Conversion failed!\n") == "Conversion failed!"
    assert ffmpeg_cause("") == "(no stderr)"


# --- the real FFmpeg and pynvml on this machine (no GPU, no driver) -----------------------------------------

@pytest.fixture(scope="module")
def ffmpeg() -> str:
    return bundled_ffmpeg()


@pytest.fixture(scope="module")
def no_gpu() -> None:
    """These tests describe a host without NVIDIA GPUs (CI, this dev box); on a GPU host they do not apply."""
    found = discover_gpus()
    if found.gpus:
        pytest.skip(f"NVIDIA GPU present ({found.note})")


def test_real_libx264_trial_passes(ffmpeg: str, tmp_path: Path) -> None:
    assert trial_encode(ffmpeg, "libx264", None, tmp_path) == TrialResult(True, "ok")


def test_real_nvenc_trial_fails_cleanly_without_a_gpu(ffmpeg: str, tmp_path: Path, no_gpu: None) -> None:
    result = FFmpegTrial(ffmpeg, tmp_path)("h264_nvenc", 0)
    assert result.ok is False
    assert result.message.strip()


def test_real_cuda_decode_trial_fails_cleanly_without_gpu(ffmpeg: str, tmp_path: Path, no_gpu: None) -> None:
    result = trial_cuda_decode(ffmpeg, 0, tmp_path)
    assert result.ok is False
    assert result.message.strip()
    assert not result.message.startswith("could not make the sample")   # libx264 worked; CUDA did not
    assert list(tmp_path.iterdir()) == []                               # the sample is cleaned up


def test_real_detect_capabilities_on_this_machine(tmp_path: Path, no_gpu: None) -> None:
    config = EngineConfig(ffmpeg=bundled_ffmpeg(), work_dir=tmp_path)
    caps = detect_capabilities(config)
    assert caps.discovery.gpus == ()
    assert (caps.choice.encoder, caps.choice.decoder, caps.choice.gpu_index) == ("libx264", "cpu", None)
    assert caps.choice.encoder_reason.startswith("no NVIDIA GPU (NVML unavailable: ")
    assert caps.choice.decoder_reason.startswith("no NVIDIA GPU (NVML unavailable: ")
    assert list(tmp_path.iterdir()) == []


def test_real_detect_capabilities_default_config(no_gpu: None) -> None:
    caps = detect_capabilities(EngineConfig.default())
    assert (caps.choice.encoder, caps.choice.decoder) == ("libx264", "cpu")
    assert "NVML" in caps.choice.encoder_reason
