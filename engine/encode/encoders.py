"""Choosing the H.264 encoder (libx264 or NVENC) and the decoder (CPU or CUDA) for this machine.

``ffmpeg -encoders`` listing h264_nvenc proves nothing: our static FFmpeg always lists it, and the
H100/H200/A100 have CUDA and NVDEC but no NVENC engine. So the choice rests on NVML's description
(:mod:`engine.encode.gpu`) *and* a trial run on the GPU we mean to use (style §7 rule 13).

The decision, :func:`choose_codecs`, is pure: the GPU list and a ``trial`` callable come in, a
:class:`CodecChoice` with a reason for each half comes out. Entrypoints call
:func:`detect_capabilities` once per process and pass the result down; nothing here is cached.

A setting of "auto" falls back to the CPU with a reason; a forced setting ("h264_nvenc", "cuda")
that cannot be met raises :class:`EncoderUnavailable` instead, never a silent fallback.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from engine.config import DecoderPreference, EncoderPreference, EngineConfig
from engine.encode.gpu import GpuDiscovery, GpuInfo, discover_gpus, pin_gpu
from engine.errors import EncoderUnavailable, FFmpegFailed, RenderTimeout, ffmpeg_cause
from engine.run import run_ffmpeg_args

CUDA_DECODE: Final = "cuda-decode"          # the ``trial`` name for a CUDA decode check
TRIAL_TIMEOUT_S: Final = 20.0               # a healthy trial takes well under a second
_TRIAL_SOURCE: Final = ("-f", "lavfi", "-i", "testsrc2=s=256x144:r=30:d=1")

X264_CRF: Final[Mapping[str, int]] = MappingProxyType({"high": 20, "medium": 23, "low": 28})
NVENC_CQ: Final[Mapping[str, int]] = MappingProxyType({"high": 21, "medium": 25, "low": 30})

@dataclass(frozen=True, slots=True)
class TrialResult:
    ok: bool
    message: str


Trial = Callable[[str, int | None], TrialResult]
"""Try an encoder name ("h264_nvenc") or ``CUDA_DECODE`` for real on a GPU's CUDA index (FFmpeg's)."""


@dataclass(frozen=True, slots=True)
class CodecChoice:
    encoder: str                # "libx264" | "h264_nvenc"
    decoder: str                # "cpu" | "cuda"
    gpu_index: int | None       # the GPU both use, as FFmpeg numbers it (its CUDA index); None when neither does
    encoder_reason: str
    decoder_reason: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What this process found at start-up: the GPUs, and the codecs it will use."""

    discovery: GpuDiscovery
    choice: CodecChoice

    def to_dict(self) -> dict[str, object]:
        return {"discovery": self.discovery.to_dict(), "choice": self.choice.to_dict()}


# --- trials: the only part of this module that runs FFmpeg -------------------------------------

def _attempt(args: list[str], ffmpeg: str, work_dir: Path) -> TrialResult:
    try:
        run_ffmpeg_args(args, ffmpeg=ffmpeg, work_dir=work_dir, timeout_s=TRIAL_TIMEOUT_S)
    except FFmpegFailed as exc:
        return TrialResult(False, ffmpeg_cause(exc.stderr_tail))
    except RenderTimeout as exc:
        return TrialResult(False, str(exc))
    return TrialResult(True, "ok")


def trial_encode(ffmpeg: str, encoder: str, gpu_index: int | None, work_dir: Path) -> TrialResult:
    """Encode one second of test pattern with ``encoder`` and throw it away.

    Known encoders run with the options real renders use (old drivers reject NVENC's ``p1``-``p7``
    presets, and a default-options trial would miss that).
    """
    if encoder in ("libx264", "h264_nvenc"):
        codec = h264_encoder_args(encoder, "medium", "ultrafast", gpu_index)
    else:
        codec = ["-c:v", encoder]
    return _attempt([*_TRIAL_SOURCE, *codec, "-f", "null", "-"], ffmpeg, work_dir)


def trial_cuda_decode(ffmpeg: str, gpu_index: int | None, work_dir: Path) -> TrialResult:
    """Make a tiny H.264 file with libx264, then decode it on the GPU.

    Frames stay on the GPU (``-hwaccel_output_format cuda``) and are downloaded by a filter that
    accepts only GPU frames: if FFmpeg quietly fell back to software decoding the trial fails.
    """
    with tempfile.TemporaryDirectory(prefix="cuda-trial-", dir=work_dir) as scratch:
        sample = Path(scratch) / "sample.mp4"
        made = _attempt([*_TRIAL_SOURCE, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                         str(sample)], ffmpeg, work_dir)
        if not made.ok:
            return TrialResult(False, f"could not make the sample to decode: {made.message}")
        device = [] if gpu_index is None else ["-hwaccel_device", str(gpu_index)]
        return _attempt(["-hwaccel", "cuda", *device, "-hwaccel_output_format", "cuda", "-i", str(sample),
                         "-vf", "hwdownload,format=nv12", "-f", "null", "-"], ffmpeg, work_dir)


@dataclass(frozen=True, slots=True)
class FFmpegTrial:
    """The real :data:`Trial`: CUDA_DECODE goes to :func:`trial_cuda_decode`, anything else is an encoder."""

    ffmpeg: str
    work_dir: Path

    def __call__(self, what: str, gpu_index: int | None) -> TrialResult:
        if what == CUDA_DECODE:
            return trial_cuda_decode(self.ffmpeg, gpu_index, self.work_dir)
        return trial_encode(self.ffmpeg, what, gpu_index, self.work_dir)


# --- the decision: pure -------------------------------------------------------------------------

def choose_codecs(
    encoder_pref: EncoderPreference,
    decoder_pref: DecoderPreference,
    discovery: GpuDiscovery,
    trial: Trial,
) -> CodecChoice:
    """Pick the encoder, then the decoder (on the encoder's GPU when it uses one). Runs only needed trials."""
    encoder, encoder_gpu, encoder_reason = _choose_encoder(encoder_pref, discovery, trial)
    decoder, decoder_gpu, decoder_reason = _choose_decoder(decoder_pref, discovery, trial, encoder_gpu)
    gpu = encoder_gpu if encoder_gpu is not None else decoder_gpu
    return CodecChoice(encoder, decoder, gpu.cuda_index if gpu else None, encoder_reason, decoder_reason)


def _choose_encoder(pref: str, discovery: GpuDiscovery, trial: Trial) -> tuple[str, GpuInfo | None, str]:
    if pref == "libx264":
        return "libx264", None, "forced by setting (encoder=libx264)"
    if pref not in ("auto", "h264_nvenc"):
        raise EncoderUnavailable(pref, "unknown encoder setting; expected auto, libx264 or h264_nvenc")
    # Least busy first: NVENC sessions share one engine, so a second GPU's idle engine is faster.
    candidates = sorted((g for g in _usable(discovery) if g.nvenc), key=lambda g: (g.nvenc_sessions, g.cuda_index))
    if not candidates:
        why = _why_no_nvenc(discovery)
        if pref == "h264_nvenc":
            raise EncoderUnavailable("h264_nvenc", why)
        return "libx264", None, why
    gpu, failures = _first_that_works(candidates, trial, "h264_nvenc", "h264_nvenc trial encode")
    if gpu is not None:
        reason = f"NVENC on {gpu.label()} ({gpu.name}), trial encode ok"
        if failures:
            reason += f" (after {'; '.join(failures)})"
        if pref == "h264_nvenc":
            reason = f"forced by setting (encoder=h264_nvenc); {reason}"
        return "h264_nvenc", gpu, reason
    if pref == "h264_nvenc":
        raise EncoderUnavailable("h264_nvenc", "; ".join(failures))
    return "libx264", None, "; ".join(failures)


def _first_that_works(candidates: Sequence[GpuInfo], trial: Trial, what: str,
                      label: str) -> tuple[GpuInfo | None, list[str]]:
    """The first GPU on which ``trial(what)`` passes, and why each one before it failed."""
    failures: list[str] = []
    for gpu in candidates:
        result = trial(what, gpu.cuda_index)
        if result.ok:
            return gpu, failures
        failures.append(f"{label} failed on {gpu.label()}: {result.message}")
    return None, failures


def _why_no_nvenc(discovery: GpuDiscovery) -> str:
    if not discovery.gpus:
        return f"no NVIDIA GPU ({discovery.note})"
    return "; ".join(f"{g.name} ({g.label()}) has no NVENC engine: {g.nvenc_note}" for g in discovery.gpus)


def _usable(discovery: GpuDiscovery) -> tuple[GpuInfo, ...]:
    """The GPUs FFmpeg can be pointed at: those with a CUDA index (discovery lists no other)."""
    return tuple(g for g in discovery.gpus if g.cuda_index is not None)


def _choose_decoder(
    pref: str, discovery: GpuDiscovery, trial: Trial, encoder_gpu: GpuInfo | None
) -> tuple[str, GpuInfo | None, str]:
    if pref == "cpu":
        return "cpu", None, "forced by setting (decoder=cpu)"
    if pref not in ("auto", "cuda"):
        raise EncoderUnavailable(pref, "unknown decoder setting; expected auto, cpu or cuda")
    if not _usable(discovery):
        why = f"no NVIDIA GPU ({discovery.note})"
        if pref == "cuda":
            raise EncoderUnavailable("cuda", why)
        return "cpu", None, why
    # CodecChoice has one GPU index, so an NVENC encode pins the decoder to its GPU. Otherwise
    # "auto" tries GPU 0 only (cheap, and the CPU is a fine answer); a forced "cuda" tries each GPU.
    if encoder_gpu is not None:
        candidates: tuple[GpuInfo, ...] = (encoder_gpu,)
    elif pref == "auto":
        candidates = _usable(discovery)[:1]
    else:
        candidates = _usable(discovery)
    gpu, failures = _first_that_works(candidates, trial, CUDA_DECODE, "CUDA decode trial")
    if gpu is not None:
        reason = f"CUDA decode on {gpu.label()} ({gpu.name}), trial decode ok"
        if pref == "cuda":
            reason = f"forced by setting (decoder=cuda); {reason}"
        return "cuda", gpu, reason
    if pref == "cuda":
        raise EncoderUnavailable("cuda", "; ".join(failures))
    return "cpu", None, "; ".join(failures)


# --- wiring and arguments -----------------------------------------------------------------------

def detect_capabilities(
    config: EngineConfig, *, nvml: Any | None = None, trial: Trial | None = None
) -> Capabilities:
    """Discover GPUs and choose codecs for this process. Call once per worker start, pass the result down.

    The GPUs are those CUDA shows this process (``config.cuda_visible_devices``), numbered as FFmpeg
    numbers them; ``config.gpu`` pins one of them by NVML index or UUID (none matching raises
    EncoderUnavailable). Trials run in a private temporary directory under ``config.work_dir`` (or the
    system temp), removed afterwards, so concurrent workers sharing a work_dir do not collide.
    """
    discovery = discover_gpus(nvml, visible_devices=config.cuda_visible_devices)
    if config.gpu is not None:
        discovery = pin_gpu(discovery, config.gpu)
    if trial is not None:
        return Capabilities(discovery, choose_codecs(config.encoder, config.decoder, discovery, trial))
    with tempfile.TemporaryDirectory(prefix="reelforge-trial-", dir=config.work_dir) as scratch:
        real = FFmpegTrial(config.ffmpeg, Path(scratch))
        return Capabilities(discovery, choose_codecs(config.encoder, config.decoder, discovery, real))


def h264_encoder_args(
    choice_encoder: str, quality: str, x264_preset: str, gpu_index: int | None
) -> list[str]:
    """Output options for H.264 with the chosen encoder at "high", "medium" or "low" quality.

    NVENC runs constant-quality VBR (``-cq`` with ``-b:v 0``, so no bitrate cap). CQ and CRF are
    different scales, so each encoder has its own table of steps.
    """
    if quality not in X264_CRF:
        raise ValueError(f"unknown quality {quality!r}; expected one of {sorted(X264_CRF)}")
    if choice_encoder == "libx264":
        crf = str(X264_CRF[quality])
        return ["-c:v", "libx264", "-preset", x264_preset, "-crf", crf, "-pix_fmt", "yuv420p"]
    if choice_encoder == "h264_nvenc":
        gpu = [] if gpu_index is None else ["-gpu", str(gpu_index)]
        return ["-c:v", "h264_nvenc", *gpu, "-preset", "p4", "-tune", "hq", "-rc", "vbr",
                "-cq", str(NVENC_CQ[quality]), "-b:v", "0", "-pix_fmt", "yuv420p"]
    raise EncoderUnavailable(choice_encoder, "no H.264 options for it; expected libx264 or h264_nvenc")


def input_decoder_args(decoder: str, gpu_index: int | None) -> list[str]:
    """Options to put before ``-i`` for the chosen decoder.

    CUDA-decoded frames are copied back to system memory (no ``-hwaccel_output_format``), so the
    CPU filter graph after them is the same for both decoders.
    """
    if decoder == "cpu":
        return []
    if decoder == "cuda":
        device = [] if gpu_index is None else ["-hwaccel_device", str(gpu_index)]
        return ["-hwaccel", "cuda", *device]
    raise EncoderUnavailable(decoder, "unknown decoder; expected cpu or cuda")
