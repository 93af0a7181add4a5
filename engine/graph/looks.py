"""A clip's crop and blurred regions, and the grade of ``m.enhance``, as filters.

Crop and blur work on the source picture, before it is fitted to its box: the crop keeps the pixels
the model chose (:mod:`engine.model.looks`), each blurred region is cut out, blurred on its own (so
nothing from outside it is smeared in, and nothing inside it leaks out) and laid back in place. Stills
get the same crop and blur in Pillow (:mod:`engine.media.stills`). The grade is FFmpeg's ``eq`` on the
fitted picture, still or clip alike.
"""

from __future__ import annotations

import ffmpeg

from engine.graph.build import Stream
from engine.media.stats import Grade
from engine.media.stills import BLUR_PASSES, BLUR_SHARE
from engine.model.canvas import Rect
from engine.model.timeline import Visual


def cropped(stream: Stream, v: Visual) -> Stream:
    """The kept part of a clip's decoded picture, at exactly its crop's size.

    The crop is given relative to the decoded size, which is the probed size but for sources with a
    pixel aspect (it is then proportionally the same), and scaled to the crop's size, which costs
    nothing where the sizes already agree."""
    c, width, height = v.crop, v.media.width, v.media.height
    if c is None or not width or not height:
        return stream
    return (stream.filter("crop", w=f"iw*{c.w}/{width}", h=f"ih*{c.h}/{height}", x=f"iw*{c.x}/{width}",
                          y=f"ih*{c.y}/{height}")
            .filter("scale", c.w, c.h))


def blur_radii(region: Rect) -> tuple[int, int]:
    """boxblur's luma and chroma radius for a region (the chroma planes of 4:2:0 are half as big)."""
    short = min(region.w, region.h)
    return max(1, short // BLUR_SHARE), max(1, short // (2 * BLUR_SHARE))


def blurred(stream: Stream, regions: tuple[Rect, ...]) -> Stream:
    """The picture with every region blurred in place."""
    if not regions:
        return stream
    copies = stream.filter_multi_output("split", len(regions) + 1)
    out = copies[0]
    for n, region in enumerate(regions, 1):
        luma, chroma = blur_radii(region)
        piece = (copies[n].filter("crop", region.w, region.h, region.x, region.y)
                 .filter("boxblur", luma_radius=luma, luma_power=BLUR_PASSES, chroma_radius=chroma,
                         chroma_power=BLUR_PASSES))
        out = ffmpeg.overlay(out, piece, x=region.x, y=region.y, eof_action="pass")
    return out


def source_look(stream: Stream, v: Visual) -> Stream:
    """A clip's decoded picture cropped and blurred as its segment says."""
    return blurred(cropped(stream, v), v.blur)


def graded(stream: Stream, grade: Grade | None, pix: str) -> Stream:
    """The picture through ``eq`` with the grade's settings; unchanged for none or the identity."""
    if grade is None or grade.is_identity:
        return stream
    return stream.filter("format", pix).filter("eq", contrast=f"{grade.contrast:g}",
                                               brightness=f"{grade.brightness:g}", gamma=f"{grade.gamma:g}",
                                               saturation=f"{grade.saturation:g}")
