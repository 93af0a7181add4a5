"""A render's scratch: worked out beforehand and kept under its budget and the free disk, the GIF size
search's intermediate small, and nothing left behind on success, failure or cancel, which is quick."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from engine.config import EngineConfig
from engine.encode.encoders import CodecChoice
from engine.errors import InsufficientDisk, LimitExceeded, RenderCancelled, TargetSizeUnreachable
from engine.media.fonts import FontCatalog
from engine.media.resolve import LocalResolver
from engine.model.draft import parse_draft
from engine.model.mediainfo import AudioStream, MediaInfo, VideoStream
from engine.model.timeline import Timeline, build_timeline
from engine.pipeline.render import RenderResult, probe_sources, render
from engine.pipeline.scratch import (
    LOSSLESS_BYTES_PER_PIXEL,
    ScratchPlan,
    check_free_space,
    gif_search_bytes,
    plan_scratch,
)
from tests.conftest import FFMPEG, Media

MB = 2**20


class Watched:
    """A scratch folder, and the most bytes it held while watched."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.peak = folder, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            total = 0
            for path in self.folder.rglob("*"):
                try:
                    total += path.stat().st_size if path.is_file() else 0
                except FileNotFoundError:
                    continue
            self.peak = max(self.peak, total)

    def __enter__(self) -> Watched:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def left(self) -> list[Path]:
        return sorted(self.folder.rglob("*"))


@pytest.fixture()
def job(media: Media, config: EngineConfig, cpu_only: CodecChoice, fonts: FontCatalog,
        tmp_path: Path) -> Callable[..., RenderResult]:
    """Render into ``tmp_path/out``, with ``tmp_path/work`` as the job's own scratch folder."""

    def run(draft: dict[str, Any], name: str = "out.mp4", **options: Any) -> RenderResult:
        chosen = replace(config, work_dir=tmp_path / "work", **options.pop("config", {}))
        resolve = options.pop("resolve", LocalResolver(media.dir))
        return render(draft, tmp_path / "out" / name, config=chosen, resolve=resolve, codecs=cpu_only, fonts=fonts,
                      **options)

    return run


# ---------------------------------------------------------------- nothing left behind


def test_a_render_leaves_nothing_in_its_scratch_folder_on_success_and_on_failure(job, tmp_path: Path) -> None:
    work = tmp_path / "work"
    job({"t": [{"tt": 0, "sg": [{"src": "red.mp4", "d": 1000, "rev": True}, {"src": "green.png", "d": 500}]}],
         "m": {"out": {"format": "gif", "max_mb": 1}}}, "ok.gif", config={"reverse_in_graph_mb": 0})
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["ok.gif"] and list(work.iterdir()) == []
    with pytest.raises(TargetSizeUnreachable):
        job({"t": [{"tt": 0, "sg": [{"src": "pattern.mp4", "d": 2000, "rev": True}]}],
             "m": {"out": {"format": "gif", "max_mb": 0.001}}}, "tiny.gif", config={"reverse_in_graph_mb": 0})
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["ok.gif"] and list(work.iterdir()) == []


@pytest.fixture(scope="module")
def big_still(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2400x1600 photo of noise (an 8 MB JPEG): a tenth of a second or two to decode, and to fit."""
    folder = tmp_path_factory.mktemp("big-still")
    noise = np.random.default_rng(7).integers(0, 256, (1600, 2400, 3), dtype=np.uint8)
    Image.fromarray(noise).save(folder / "big.jpg", quality=90)
    return folder


def test_a_cancel_while_stills_are_prepared_ends_within_a_second_and_leaves_nothing(
        big_still: Path, config: EngineConfig, cpu_only: CodecChoice, fonts: FontCatalog, tmp_path: Path) -> None:
    draft = {"m": {"width": 1920, "height": 1080},
             "t": [{"tt": 0, "sg": [{"src": "big.jpg", "d": 100, "fit": "contain"} for _ in range(48)]}]}
    work, cancel, outcome = tmp_path / "work", threading.Event(), {}

    def go() -> None:
        try:
            render(draft, tmp_path / "out.mp4", config=replace(config, work_dir=work), resolve=LocalResolver(big_still),
                   codecs=cpu_only, fonts=fonts, cancel=cancel)
        except Exception as exc:   # noqa: BLE001 (handed to the test's thread)
            outcome["error"] = exc
        outcome["ended"] = time.monotonic()

    thread = threading.Thread(target=go)
    thread.start()
    deadline = time.monotonic() + 60
    while not any(p.name.startswith("still-") for p in work.rglob("*")) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert thread.is_alive(), "the stills were all prepared before the test could cancel"
    cancelled = time.monotonic()
    cancel.set()
    thread.join(10)
    assert isinstance(outcome.get("error"), RenderCancelled)
    assert outcome["ended"] - cancelled < 1.0, f"{outcome['ended'] - cancelled:.2f} s"
    assert list(work.iterdir()) == [] and not list(tmp_path.glob("*.mp4")) and not list(tmp_path.glob(".*partial"))


def test_probes_stop_at_a_cancel(media: Media) -> None:
    resolved: list[str] = []

    def resolve(src: str) -> str:
        resolved.append(src)
        return str(media.dir / src)

    cancel = threading.Event()
    cancel.set()
    draft = parse_draft({"t": [{"tt": 0, "sg": [{"src": "red.mp4"}, {"src": "blue.mp4"}, {"src": "green.png"}]}]})
    with pytest.raises(RenderCancelled):
        probe_sources(draft, resolve, cancel=cancel)
    assert resolved == []


# ---------------------------------------------------------------- the budget and the free disk, beforehand


def video(ms: int, w: int = 1280, h: int = 720) -> MediaInfo:
    return MediaInfo("c.mp4", "video", "mp4", "mov", 1, ms, VideoStream("h264", w, h, 30.0, None, "yuv420p", 0),
                     AudioStream("aac", 48000, 2))


def timeline(draft: dict[str, Any]) -> Timeline:
    return build_timeline(parse_draft(draft), {"c.mp4": video(60_000)})


REVERSED = {"m": {"width": 1280, "height": 720, "fps": 30}, "t": [{"tt": 0, "sg": [{"src": "c.mp4", "d": 20_000,
                                                                                     "rev": True}]}]}


def test_a_reversed_window_turned_round_beforehand_counts_its_frames_and_its_sound_twice() -> None:
    tl = timeline(REVERSED)
    plan = plan_scratch(tl, EngineConfig(ffmpeg=FFMPEG, reverse_in_graph_mb=0))
    frames, samples = 600, 20 * 48_000
    assert plan.items == (("t[0].sg[0] (reversed)", int(frames * 1280 * 720 * LOSSLESS_BYTES_PER_PIXEL)
                           + 2 * samples * 8),)
    assert [w.v.where for w in plan.reversed] == ["t[0].sg[0]"]
    in_graph = plan_scratch(tl, EngineConfig(ffmpeg=FFMPEG, reverse_in_graph_mb=1024))   # 600 x 1.4 MB fit in 1 GB
    assert in_graph.items == () and in_graph.reversed == ()


def test_the_scratch_budget_one_byte_over_and_at_the_cap() -> None:
    tl = timeline(REVERSED)
    need = plan_scratch(tl, EngineConfig(ffmpeg=FFMPEG, reverse_in_graph_mb=0)).items[0][1]
    at_cap = EngineConfig(ffmpeg=FFMPEG, reverse_in_graph_mb=0, scratch_budget_mb=need / MB)
    assert plan_scratch(tl, at_cap).items[0][1] == need
    with pytest.raises(LimitExceeded) as err:
        plan_scratch(tl, replace(at_cap, scratch_budget_mb=(need - 1) / MB))
    assert err.value.details() == {"limit": "scratch_budget_mb", "value": round(need / MB, 1),
                                   "max": round((need - 1) / MB, 1)}
    assert "t[0].sg[0] (reversed)" in str(err.value) and "scratch_budget_mb" in str(err.value)


def test_a_render_over_the_budget_is_refused_before_anything_is_written(job, tmp_path: Path) -> None:
    with pytest.raises(LimitExceeded) as err:
        job({"t": [{"tt": 0, "sg": [{"src": "pattern.mp4", "d": 2000, "rev": True}]}]},
            config={"reverse_in_graph_mb": 0, "scratch_budget_mb": 1})
    assert err.value.limit == "scratch_budget_mb"
    assert not (tmp_path / "out").exists() and not any((tmp_path / "work").rglob("*"))


def test_less_free_disk_than_the_plan_needs_is_refused(tmp_path: Path) -> None:
    free = shutil.disk_usage(tmp_path).free
    with pytest.raises(InsufficientDisk) as err:
        check_free_space(ScratchPlan((("t[0].sg[0] (reversed)", free + 1),), ()), tmp_path)
    assert err.value.need_bytes > free and "not enough free disk" in str(err.value)
    assert str(tmp_path) not in str(err.value) and str(tmp_path) not in str(err.value.details())
    check_free_space(ScratchPlan((("t[0].sg[0] (reversed)", 1),), ()), tmp_path)


# ---------------------------------------------------------------- the GIF size search


def gif_draft(src: str, ms: int, max_mb: float, width: int = 320) -> dict[str, Any]:
    return {"m": {"out": {"format": "gif", "width": width, "fps": 30, "max_mb": max_mb}},
            "t": [{"tt": 0, "sg": [{"src": src, "d": ms}]}]}


def test_a_gif_size_search_starts_smaller_to_stay_under_the_budget(job, tmp_path: Path, media: Media) -> None:
    draft = gif_draft("pattern.mp4", 3000, 0.4)
    tl = build_timeline(parse_draft(draft), probe_sources(parse_draft(draft), LocalResolver(media.dir)))
    full = plan_scratch(tl, EngineConfig(ffmpeg=FFMPEG))
    assert full.gif_start is not None and (full.gif_start.width, full.gif_start.fps) == (320, 30.0)
    # one byte short of the full size's search
    budget = (gif_search_bytes(tl, full.gif_start, EngineConfig(ffmpeg=FFMPEG)) - 1) / MB
    plan = plan_scratch(tl, EngineConfig(ffmpeg=FFMPEG, scratch_budget_mb=budget))
    assert plan.gif_start is not None and plan.gif_start.width * plan.gif_start.fps < 320 * 30
    with Watched(tmp_path / "work") as watched:
        result = job(draft, "small.gif", config={"scratch_budget_mb": budget})
    assert result.gif is not None and result.size_bytes <= 400_000
    first = result.gif["attempts"][0]
    assert (first["width"], first["fps"]) == (plan.gif_start.width, plan.gif_start.fps)
    assert any("scratch_budget_mb" in w for w in result.warnings)
    assert 0 < watched.peak <= plan.total_bytes


def test_a_gif_size_search_of_a_still_keeps_a_small_intermediate(job, tmp_path: Path) -> None:
    """FFV1 wrote every frame of a still whole (78 MB/s at 1080 wide); H.264 at qp 0 writes it once."""
    noise = np.random.default_rng(3).integers(0, 256, (270, 480, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "noise.png")
    draft = gif_draft("noise.png", 4000, 20, width=480)
    (tmp_path / "work").mkdir()
    with Watched(tmp_path / "work") as watched:
        result = job(draft, "still.gif", resolve=LocalResolver(tmp_path))
    assert result.gif is not None and result.gif["width"] == 480 and result.gif["fps"] == 30
    ffv1 = 121 * 480 * 270 * 1.36                                    # 121 frames of noise at 1.36 bytes a pixel
    assert 0 < watched.peak < 0.1 * ffv1



def test_a_gif_scene_too_long_for_memory_is_kept_on_disk_within_its_plan(job, tmp_path: Path, media: Media) -> None:
    draft = {"m": {"out": {"format": "gif", "width": 320}},
             "t": [{"tt": 0, "sg": [{"src": "pattern.mp4", "d": 6000, "loop": True}]}]}
    model = parse_draft(draft)
    tl = build_timeline(model, probe_sources(model, LocalResolver(media.dir)))
    plan = plan_scratch(tl, EngineConfig(ffmpeg=FFMPEG, gif_buffer_mb=16))
    assert [what for what, _size in plan.items] == ["m.out (the GIF's scenes)"]
    (tmp_path / "work").mkdir()
    with Watched(tmp_path / "work") as watched:
        result = job(draft, "spooled.gif", config={"gif_buffer_mb": 16})
    assert result.passes == 3                                      # compose, palette and spool, then the mapping
    assert 0 < watched.peak <= plan.total_bytes
    assert list((tmp_path / "work").iterdir()) == []
