"""The pictures a render needs that FFmpeg must not make itself: fitted stills and rasterised text.

Written into the render's scratch directory, then handed to the compiler as ``Sources``.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from engine.encode.encoders import CodecChoice, input_decoder_args
from engine.graph.build import PreparedCaption, Sources
from engine.media.fonts import FontCatalog
from engine.media.motion import plan_motion
from engine.media.stills import PreparedStill, prepare_still, stop_if_cancelled
from engine.media.text import render_text
from engine.model.timeline import Caption, Timeline, Visual

PICTURE_THREADS = 4


def decoder_options(choice: CodecChoice | None) -> dict[str, str]:
    """Input options for decoding video on the chosen decoder (none for the CPU)."""
    if choice is None or choice.decoder != "cuda":
        return {}
    args = input_decoder_args("cuda", choice.gpu_index)
    return {flag.lstrip("-"): value for flag, value in zip(args[0::2], args[1::2], strict=False)}


def _still(tl: Timeline, index: int, v: Visual, work: Path, cancel: threading.Event | None) -> PreparedStill:
    stop_if_cancelled(cancel)
    on_base = v in tl.base
    plan = plan_motion(v.motion, v.extent, v.box.w, v.box.h) if v.motion else None
    size = (plan.width, plan.height) if plan else (v.box.w, v.box.h)
    still = prepare_still(v.media, size=size, fit=v.fit, fill=v.fill, blur_fill=on_base and v.fill is None,
                          backdrop=tl.canvas.bg if on_base else None, out=work / f"still-{index}", cancel=cancel,
                          crop=v.crop, blur=v.blur)
    if plan is None:
        return still
    target = f"crop@motion{index}"
    script = work / f"motion-{index}.cmd"
    script.write_text(plan.commands(target, tl.canvas.fps), encoding="ascii")
    return replace(still, motion=plan, motion_script=script, motion_target=target)


def _caption(tl: Timeline, index: int, cap: Caption, work: Path, fonts: FontCatalog,
             cancel: threading.Event | None) -> tuple[PreparedCaption, list[str]]:
    stop_if_cancelled(cancel)
    canvas = tl.canvas
    text = render_text(cap.text, cap.style, canvas_w=canvas.width, canvas_h=canvas.height, scale=canvas.scale,
                       safe=canvas.safe, fonts=fonts)
    path = work / f"text-{index}.png"
    text.image.save(path, format="PNG", compress_level=1)
    prepared = PreparedCaption(PreparedStill(path, text.image.width, text.image.height, True), text.x, text.y)
    return prepared, [f"{cap.where}: {w}" for w in text.warnings]


def prepare_sources(tl: Timeline, work: Path, fonts: FontCatalog, decoder: CodecChoice | None,
                    cancel: threading.Event | None = None) -> tuple[Sources, list[str]]:
    """Write the stills and captions of ``tl`` into ``work``; returns them and any text warnings.

    Pillow lets go of the interpreter lock while it resizes and encodes, so pictures are made
    on a few threads: with two stills this is most of the time before FFmpeg can start.
    ``cancel`` is checked before every picture and between the steps of a still: once it is set,
    no picture starts and RenderCancelled is raised as soon as those being made reach their next step.
    """
    stills_in = [(i, v) for i, v in enumerate(tl.visuals()) if v.is_still]
    captions_in = list(enumerate(tl.captions()))
    pool = ThreadPoolExecutor(max_workers=PICTURE_THREADS)
    try:
        still_jobs = {v.where: pool.submit(_still, tl, i, v, work, cancel) for i, v in stills_in}
        caption_jobs = {c.where: pool.submit(_caption, tl, i, c, work, fonts, cancel) for i, c in captions_in}
        stills = {where: job.result() for where, job in still_jobs.items()}
        made = {where: job.result() for where, job in caption_jobs.items()}
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    captions = {where: prepared for where, (prepared, _w) in made.items()}
    warnings = [w for _prepared, ws in made.values() for w in ws]
    return Sources(stills, captions, decoder_options(decoder)), warnings
