"""Stills: decode once with Pillow, fit into their box once, and hand FFmpeg a ready picture.

Doing this in Python instead of per frame in the filter graph makes a still nearly free to
render: FFmpeg decodes one small PNG, converts it once and repeats the frame by reference.
It also gives every format Pillow reads (HEIC, WebP, the first frame of a GIF) one path, and
honours EXIF orientation, which FFmpeg's image decoders ignore.

A still with motion is prepared larger than its box (see engine/media/motion.py): the motion filter
then crops whole pixels of the big picture and scales them down, so each whole-pixel step is a
fraction of an output pixel, and every frame moves by the same number of them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from PIL import Image, ImageFilter, ImageOps

from engine.errors import MediaUnsupported, RenderCancelled
from engine.media.motion import MotionPlan
from engine.model.canvas import Rect
from engine.model.mediainfo import MediaInfo

try:
    from pillow_heif import register_heif_opener
except ImportError:  # pragma: no cover
    register_heif_opener = None

BLUR_SHRINK: Final = 16        # the blurred fill is made at 1/16 size: cheap, and blurrier is better here
BLUR_PASSES: Final = 3         # a blurred region (here and in engine/graph/looks.py): three box blurs, ...
BLUR_SHARE: Final = 4          # ... each as wide as a quarter of the region's short side: no detail survives
RGB = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class PreparedStill:
    path: Path
    width: int
    height: int
    has_alpha: bool
    demuxer: str = "png_pipe"              # how FFmpeg reads it
    motion: MotionPlan | None = None       # with the sendcmd script that drives its crop filter
    motion_script: Path | None = None
    motion_target: str = ""


def load_upright(info: MediaInfo) -> Image.Image:
    """The first frame of a still, turned the way its EXIF says, as RGBA."""
    if register_heif_opener is not None:
        register_heif_opener()
    try:
        with Image.open(info.path) as im:
            im.seek(0)
            upright = ImageOps.exif_transpose(im)
            return upright.convert("RGBA")
    except (OSError, ValueError, SyntaxError) as exc:
        raise MediaUnsupported(info.path, f"unreadable image ({exc})") from exc


def _cover(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    return ImageOps.fit(im, size, method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))


def _contain_size(im: Image.Image, size: tuple[int, int]) -> tuple[int, int]:
    scale = min(size[0] / im.width, size[1] / im.height)
    return max(1, round(im.width * scale)), max(1, round(im.height * scale))


def _blurred_backdrop(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    small = (max(1, size[0] // BLUR_SHRINK), max(1, size[1] // BLUR_SHRINK))
    tiny = _cover(im, small).filter(ImageFilter.GaussianBlur(radius=max(1.0, min(small) / 12)))
    return tiny.resize(size, Image.Resampling.BILINEAR)


def fit_still(im: Image.Image, size: tuple[int, int], fit: str, fill: RGB | None, blur_fill: bool) -> Image.Image:
    """The picture fitted into ``size``: cover crops, stretch distorts, contain leaves bars.

    Contain's bars are ``fill``, or a blurred copy of the picture when ``blur_fill`` is set,
    or stay transparent (a layer over other video).
    """
    if fit == "cover":
        return _cover(im, size)
    if fit == "stretch":
        return im.resize(size, Image.Resampling.LANCZOS)
    inner = im.resize(_contain_size(im, size), Image.Resampling.LANCZOS)
    if fill is not None:
        canvas = Image.new("RGBA", size, (*fill, 255))
    elif blur_fill:
        canvas = _blurred_backdrop(im, size)
    else:
        canvas = Image.new("RGBA", size, (0, 0, 0, 0))
    canvas.alpha_composite(inner, ((size[0] - inner.width) // 2, (size[1] - inner.height) // 2))
    return canvas


def crop_and_blur(im: Image.Image, crop: Rect | None, blur: tuple[Rect, ...], size: tuple[int, int]) -> Image.Image:
    """The kept part of a still with its regions blurred, as a clip's graph does (engine/graph/looks.py).

    The rectangles are pixels of a ``size`` picture (the probed one); they are scaled to the decoded one."""
    if crop is not None:
        sx, sy = im.width / size[0], im.height / size[1]
        im = im.crop((round(crop.x * sx), round(crop.y * sy), round((crop.x + crop.w) * sx),
                      round((crop.y + crop.h) * sy)))
        size = (crop.w, crop.h)
    if not blur:
        return im
    im = im.copy()
    sx, sy = im.width / size[0], im.height / size[1]
    for region in blur:
        box = (round(region.x * sx), round(region.y * sy), round((region.x + region.w) * sx),
               round((region.y + region.h) * sy))
        piece = im.crop(box)
        radius = max(1, min(piece.width, piece.height) // BLUR_SHARE)
        for _ in range(BLUR_PASSES):
            piece = piece.filter(ImageFilter.BoxBlur(radius))
        im.paste(piece, box[:2])
    return im


def stop_if_cancelled(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise RenderCancelled()


def prepare_still(info: MediaInfo, *, size: tuple[int, int], fit: str, fill: RGB | None, blur_fill: bool,
                  backdrop: RGB | None, out: Path, cancel: threading.Event | None = None, crop: Rect | None = None,
                  blur: tuple[Rect, ...] = ()) -> PreparedStill:
    """Write the still, cropped and blurred as its segment says (:func:`crop_and_blur`), fitted into ``size``
    (its box, or larger for motion), next to ``out``.

    ``backdrop``: flatten transparency onto this colour (the base track has nothing below it).
    Opaque pictures are written as PPM (no compression: 30 times faster to write and 4 times
    faster to read than PNG, and a 1080p still is written and read once); pictures with
    transparency as PNG. ``cancel`` is checked between decoding, fitting and writing
    (RenderCancelled); nothing is left behind then.
    """
    upright = load_upright(info)
    if crop is not None or blur:
        upright = crop_and_blur(upright, crop, blur, (info.width or upright.width, info.height or upright.height))
    stop_if_cancelled(cancel)
    picture = fit_still(upright, size, fit, fill, blur_fill)
    del upright
    stop_if_cancelled(cancel)
    if backdrop is not None:
        flat = Image.new("RGBA", size, (*backdrop, 255))
        flat.alpha_composite(picture)
        picture = flat.convert("RGB")
    has_alpha = picture.mode == "RGBA" and picture.getextrema()[3][0] < 255
    if has_alpha:
        path = out.with_suffix(".png")
        picture.save(path, format="PNG", compress_level=1)
        return PreparedStill(path, size[0], size[1], True, demuxer="png_pipe")
    path = out.with_suffix(".ppm")
    picture.convert("RGB").save(path, format="PPM")
    return PreparedStill(path, size[0], size[1], False, demuxer="ppm_pipe")
