"""The engine's settings: the one place that reads the environment (prefix ``REELFORGE_``).

Only what a render needs lives here; the API and the workers subclass :class:`EngineSettings` with
their own (``api/settings.py``, ``workers/settings.py``), so every process reads the engine's
variables the same way. Only entrypoints call :func:`get_settings`; the engine itself receives an
:class:`EngineConfig`.

A ``REELFORGE_*`` variable that no settings class knows is a typo or a setting that does not exist,
never something to ignore: :func:`unknown_settings` names each one (with the nearest known name), and
the ``reelforge`` command refuses to start while there are any.
"""

from __future__ import annotations

import difflib
import importlib
import os
from collections.abc import Collection, Iterable, Mapping
from dataclasses import fields
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from engine.config import (
    DEFAULT_FONT_DIRS,
    DecoderPreference,
    EncoderPreference,
    EngineConfig,
    ProbeLimits,
    bundled_ffmpeg,
)


def _default(name: str) -> Any:
    return next(f.default for f in fields(EngineConfig) if f.name == name)


class EngineSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REELFORGE_", env_file=None, extra="ignore")

    ffmpeg_path: str | None = Field(None, description=(
        "FFmpeg binary, forced: a path that is missing, does not run or is older than FFmpeg 7.0 stops the worker or "
        "API at start. Unset (or empty): the worker, the API and `reelforge encoders` choose at start, a system "
        "FFmpeg that can NVENC on this host's driver, else the one in the imageio-ffmpeg wheel "
        "(engine/encode/ffmpeg_select.py); `reelforge render` uses the wheel's"))
    work_dir: Path | None = Field(None, description="scratch directory for renders; default: system temp")
    x264_preset: str = "veryfast"
    encoder: EncoderPreference = "auto"
    decoder: DecoderPreference = "auto"
    gif_buffer_mb: int = Field(512, ge=16)
    render_timeout_s: float | None = Field(None, gt=0)
    font_dirs: list[Path] = Field(default_factory=lambda: list(DEFAULT_FONT_DIRS))
    # reversed clips and scratch
    reverse_in_graph_mb: float = Field(
        128, ge=0, description="MB of reversed frames and samples FFmpeg may hold in memory at once, for all the "
        "reversed clips of a render together (FFmpeg's reverse filters keep a whole window); a reversed clip past "
        "that is reversed beforehand, block by block, into a scratch file; 0: always beforehand")
    reverse_block_mb: float = Field(
        256, gt=0, description="MB of frames one block of that pre-pass holds: the memory a reversed clip costs "
        "however long it is (at least one frame per block)")
    scratch_budget_mb: float = Field(
        8192, gt=0, description="MB of scratch files one render may write (reversed clips, prepared stills and "
        "captions, a GIF size search's intermediate and tries), estimated from the timeline before anything is "
        "written; a GIF size search starts smaller to stay under it, anything else over it is refused "
        "(limit_exceeded naming scratch_budget_mb)")

    # --- media probing: what a file may declare, checked from its headers before any frame is decoded
    probe_max_width: int = Field(8192, ge=16, description="widest picture or video a source may be, in pixels; "
                                 "wider is refused with 4001")
    probe_max_height: int = Field(8192, ge=16, description="tallest picture or video a source may be, in pixels")
    probe_max_pixels: int = Field(8192 * 8192, ge=256, description="width x height of a source's pictures")
    probe_max_frame_bytes: int = Field(
        8192 * 8192 * 2, ge=1024, description="bytes one decoded frame may take: pixels x its pixel format's bytes "
        "per pixel (yuv420p 1.5, rgba 4, 16-bit rgba 8); the default takes 8192x8192 at 10-bit 4:2:0")
    probe_max_streams: int = Field(16, ge=1, description="streams (video, audio, subtitles, data) one file may hold")
    probe_max_duration_s: float = Field(4 * 3600, gt=0, description="longest source, by its declared duration")
    probe_memory_mb: int = Field(1024, ge=128, description="address space (RLIMIT_AS) of the child process that "
                                 "probes an uploaded file or makes a music bed; past it the file gets 4001")
    probe_timeout_s: float = Field(30, gt=0, description="wall-clock time a probe child may take; past it the file "
                                   "gets 4001")
    probe_max_children: int = Field(2, ge=1, le=64, description="probe children one API process runs at once; "
                                    "more requests wait their turn")

    def probe_limits(self) -> ProbeLimits:
        return ProbeLimits(max_width=self.probe_max_width, max_height=self.probe_max_height,
                           max_pixels=self.probe_max_pixels, max_frame_bytes=self.probe_max_frame_bytes,
                           max_streams=self.probe_max_streams, max_duration_s=self.probe_max_duration_s,
                           memory_mb=self.probe_memory_mb, timeout_s=self.probe_timeout_s)

    # --- the cost of one render (engine/model/cost.py): over a cap, an export or a chat edit is refused
    # with a 400 naming the cap, and a worker refuses the render too
    max_timeline_s: float = Field(_default("max_timeline_s"), gt=0, description=(
        "longest timeline in seconds (the draft's d, or where its last segment ends), whatever each segment's "
        "own length"))
    max_output_pixels: int = Field(_default("max_output_pixels"), gt=0, description=(
        "frames x pixels of one output: the encoder's work. Default an hour of 1080x1920 at 30 fps "
        "(half an hour at 60 fps); about an hour of a small server's two cores"))
    max_reverse_pixels: int = Field(_default("max_reverse_pixels"), gt=0, description=(
        "frames x box pixels of all reversed clips together (each frame is decoded, kept and turned round "
        "before it is shown); default a minute of 1080x1920 at 30 fps"))
    max_segments: int = Field(_default("max_segments"), gt=0, description=(
        "video and audio segments, all tracks together: each reads and decodes its source as its own FFmpeg "
        "input, with its own threads and frames (about 12 MB of memory and 20 MB of address space for a 1080p "
        "clip: 200 of them, 2.4 GB and 4.2 GB)"))
    max_tracks: int = Field(_default("max_tracks"), gt=0, description="tracks of one draft")
    max_layers: int = Field(_default("max_layers"), gt=0, description=(
        "video segments on the tracks over the first video track (each one more overlay; they count as "
        "segments too)"))
    max_texts: int = Field(_default("max_texts"), gt=0, description=(
        "text segments, all tracks together (each a picture input and an overlay)"))
    max_graph_filters: int = Field(_default("max_graph_filters"), gt=0, description=(
        "filters in one render's FFmpeg graph, as an upper bound counted from the draft (a segment takes 10 "
        "to 80, by its transitions, effects and sound; a text 13). FFmpeg looks through every filter at each "
        "step, so a render's time grows with this times its length"))

    def engine_config(self) -> EngineConfig:
        return EngineConfig(
            ffmpeg=self.ffmpeg_path or bundled_ffmpeg(),
            work_dir=self.work_dir,
            x264_preset=self.x264_preset,
            encoder=self.encoder,
            decoder=self.decoder,
            gif_buffer_mb=self.gif_buffer_mb,
            timeout_s=self.render_timeout_s,
            font_dirs=tuple(self.font_dirs),
            probe=self.probe_limits(),
            reverse_in_graph_mb=self.reverse_in_graph_mb,
            reverse_block_mb=self.reverse_block_mb,
            scratch_budget_mb=self.scratch_budget_mb,
            max_timeline_s=self.max_timeline_s,
            max_output_pixels=self.max_output_pixels,
            max_reverse_pixels=self.max_reverse_pixels,
            max_segments=self.max_segments,
            max_tracks=self.max_tracks,
            max_layers=self.max_layers,
            max_texts=self.max_texts,
            max_graph_filters=self.max_graph_filters,
            cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
        )


@lru_cache(maxsize=1)
def get_settings() -> EngineSettings:
    return EngineSettings()


# --- settings that do not exist ----------------------------------------------------------------------

PREFIX: Final = "REELFORGE_"

# REELFORGE_* variables read outside the settings classes: the tests' count of examples per
# frame-exact property (tests/draft_strategies.py, set by benchmarks/frame_exact.py).
OTHER_SETTINGS: Final = frozenset({"REELFORGE_FRAME_EXACT_EXAMPLES"})


def settings_models(packages: Iterable[str] = ()) -> list[type[BaseSettings]]:
    """EngineSettings and the settings classes of ``packages`` (each one's ``settings`` module, if it
    has one): the packages that add ``reelforge`` commands (api, workers) bring their own."""
    models: list[type[BaseSettings]] = [EngineSettings]
    for package in packages:
        try:
            module = importlib.import_module(f"{package}.settings")
        except ModuleNotFoundError as exc:
            if exc.name not in (package, f"{package}.settings"):
                raise
            continue
        models += [v for v in vars(module).values()
                   if isinstance(v, type) and issubclass(v, BaseSettings) and v not in models]
    return models


def setting_names(models: Iterable[type[BaseSettings]]) -> frozenset[str]:
    """Every environment variable the models read (prefix and field name, upper case), plus OTHER_SETTINGS."""
    names = set(OTHER_SETTINGS)
    for model in models:
        prefix = str(model.model_config.get("env_prefix", ""))
        for name, info in model.model_fields.items():
            alias = info.validation_alias
            names.add((alias if isinstance(alias, str) else prefix + name).upper())
    return frozenset(names)


def unknown_settings(environ: Mapping[str, str], known: Collection[str]) -> list[str]:
    """One line for each ``REELFORGE_*`` variable in ``environ`` that is not in ``known``, naming the
    closest known one: "unknown setting REELFORGE_GPU_INDX (did you mean REELFORGE_GPU?)".
    Names are compared in upper case, as the settings read them."""
    lines = []
    for name in sorted(environ):
        if not name.upper().startswith(PREFIX) or name.upper() in known:
            continue
        close = _nearest(name.upper(), known)
        lines.append(f"unknown setting {name}" + (f" (did you mean {close}?)" if close else ""))
    return lines


def _nearest(name: str, known: Collection[str]) -> str | None:
    """The known name most like ``name``, compared without the prefix they share (which would make
    every name look alike); None when none is close, unless one is ``name`` cut short at a ``_``."""
    tail = name.removeprefix(PREFIX)
    tails = {k.removeprefix(PREFIX): k for k in known}
    close = difflib.get_close_matches(tail, sorted(tails), n=1, cutoff=0.6)
    if close:
        return tails[close[0]]
    stems = [t for t in tails if tail.startswith(f"{t}_")]
    return tails[max(stems, key=len)] if stems else None


def unknown_settings_here(packages: Iterable[str] = ()) -> list[str]:
    """:func:`unknown_settings` for this process's environment, against EngineSettings and ``packages``' settings."""
    return unknown_settings(os.environ, setting_names(settings_models(packages)))
