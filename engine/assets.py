"""The pictures a render needs that FFmpeg must not make itself: fitted stills and rasterised text.

Written into the render's scratch directory, then handed to the compiler as ``Sources``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from engine.encoders import CodecChoice, input_decoder_args
from engine.fonts import FontCatalog
from engine.motion import plan_motion
from engine.stills import PreparedStill, prepare_still
from engine.text import render_text
from engine.timeline import Timeline
from engine.video_graph import PreparedCaption, Sources


def decoder_options(choice: CodecChoice | None) -> dict[str, str]:
    """Input options for decoding video on the chosen decoder (none for the CPU)."""
    if choice is None or choice.decoder != "cuda":
        return {}
    args = input_decoder_args("cuda", choice.gpu_index)
    return {flag.lstrip("-"): value for flag, value in zip(args[0::2], args[1::2], strict=False)}


def prepare_sources(tl: Timeline, work: Path, fonts: FontCatalog,
                    decoder: CodecChoice | None) -> tuple[Sources, list[str]]:
    """Write the stills and captions of ``tl`` into ``work``; returns them and any text warnings."""
    canvas = tl.canvas
    stills: dict[str, PreparedStill] = {}
    for index, v in enumerate(tl.visuals()):
        if not v.is_still:
            continue
        on_base = v in tl.base
        plan = plan_motion(v.motion, v.extent, v.box.w, v.box.h) if v.motion else None
        size = (plan.width, plan.height) if plan else (v.box.w, v.box.h)
        still = prepare_still(v.media, size=size, fit=v.fit, fill=v.fill, blur_fill=on_base and v.fill is None,
                              backdrop=canvas.bg if on_base else None, out=work / f"still-{index}.png")
        if plan is not None:
            target = f"crop@motion{index}"
            script = work / f"motion-{index}.cmd"
            script.write_text(plan.commands(target, canvas.fps), encoding="ascii")
            still = replace(still, motion=plan, motion_script=script, motion_target=target)
        stills[v.where] = still
    captions: dict[str, PreparedCaption] = {}
    warnings: list[str] = []
    for index, cap in enumerate(tl.captions()):
        text = render_text(cap.text, cap.style, canvas_w=canvas.width, canvas_h=canvas.height, scale=canvas.scale,
                           safe=canvas.safe, fonts=fonts)
        path = work / f"text-{index}.png"
        text.image.save(path, format="PNG", compress_level=1)
        captions[cap.where] = PreparedCaption(PreparedStill(path, text.image.width, text.image.height, True),
                                              text.x, text.y)
        warnings.extend(f"{cap.where}: {w}" for w in text.warnings)
    return Sources(stills, captions, decoder_options(decoder)), warnings
