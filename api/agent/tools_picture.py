"""The picture tools: crop, blur and enhance. Each writes a setting into the draft that the render
carries out (docs/draft-format.md: VideoSegment ``crop`` and ``blur``, ``m.enhance``); none of
them looks at pixels here.

Regions are fractions of the frame the user sees. Where a piece is already cropped that is the
cropped picture, so a new crop is taken within the old one and a blurred region is mapped back
to the source frame, which is what ``crop`` and ``blur`` in the draft count in.
"""

from __future__ import annotations

from typing import Any, Final

from api.agent import ops as o
from api.agent.tools_base import (
    Draft,
    MediaRef,
    Said,
    ToolError,
    ToolResult,
    Workspace,
    any_sound,
    base_track,
    subject,
)
from engine.model.canvas import even, fit_within_limits
from engine.model.draft import MAX_BLUR_REGIONS as MAX_BLURS
from engine.model.draft import STREAMING_LOUDNESS_LUFS as LOUDNESS_LUFS
from engine.model.looks import MIN_CROP_PX

Box = dict[str, float]
PICTURE_WORDS: Final = Said("levels, contrast and saturation balanced from each clip's own statistics",
                            "根据每段素材自身的统计数据平衡色阶、对比度和饱和度")
LOUDNESS_WORDS: Final = Said(f"loudness normalised to {LOUDNESS_LUFS:g} LUFS, measured first (EBU R128)",
                             f"响度先测量再统一到 {LOUDNESS_LUFS:g} LUFS（EBU R128）")


def crop(draft: Draft, ws: Workspace, a: o.Crop) -> ToolResult:
    """Keep part of the picture on every piece of the main track. The canvas takes the cropped shape of the first
    piece unless the draft sets its shape (``m.aspect``, or a size that no earlier crop gave it)."""
    region = _region(a)
    draft = subject(draft, ws)
    pieces = _pieces(draft)
    crops = [_within(seg.get("crop"), region) for seg in pieces]
    for seg, box in zip(pieces, crops, strict=True):
        ref = ws.by_src(str(seg.get("src", "")))
        if ref is not None and ref.width and ref.height and min(box["w"] * ref.width, box["h"] * ref.height) \
                < MIN_CROP_PX:
            raise ToolError(f"That crop would leave less than {MIN_CROP_PX} pixels of \"{ref.filename}\".",
                            f"这样裁剪后“{ref.filename}”只剩不到 {MIN_CROP_PX} 像素。")
    meta = draft.setdefault("m", {})
    first = ws.by_src(str(pieces[0].get("src", "")))
    follows = not meta.get("aspect") and (
        not (meta.get("width") or meta.get("height"))
        or (meta.get("width"), meta.get("height")) == _cropped_size(first, pieces[0].get("crop")))
    within = any(seg.get("crop") for seg in pieces)
    for seg, box in zip(pieces, crops, strict=True):
        seg["crop"] = box
    size = _cropped_size(first, crops[0]) if follows else None
    if size is not None:
        meta["width"], meta["height"] = size
        frame, frame_zh = f"the frame is now {size[0]}x{size[1]}", f"画面尺寸现在是 {size[0]}x{size[1]}"
    elif meta.get("aspect") or meta.get("width"):
        shape = meta.get("aspect") or f"{meta.get('width')}x{meta.get('height')}"
        frame = f"the frame stays {shape}, and the cropped picture is fitted into it"
        frame_zh = f"画面仍为 {shape}，裁剪后的画面放入其中"
    else:
        frame, frame_zh = "the frame keeps its shape", "画面尺寸不变"
    where, where_zh = _where(region)
    inside = " (within the earlier crop)" if within else ""
    inside_zh = "（在之前裁剪的范围内）" if within else ""
    count = len(pieces)
    return ToolResult(draft, {"status": "success", "crop": crops[0], "pieces": count,
                              "width": meta.get("width"), "height": meta.get("height")},
                      Said(f"Cropped {_pieces_en(count)} to {where}{inside}; {frame}.",
                           f"已将 {count} 段素材裁剪为{where_zh}{inside_zh}；{frame_zh}。"))


def blur(draft: Draft, ws: Workspace, a: o.Blur) -> ToolResult:
    """Blur a fixed region on every piece of the main track (at most MAX_BLURS regions a piece)."""
    region = _region(a)
    draft = subject(draft, ws)
    pieces = _pieces(draft)
    if any(len(seg.get("blur") or []) >= MAX_BLURS for seg in pieces):
        raise ToolError(f"A piece can have at most {MAX_BLURS} blurred regions; undo one first.",
                        f"每段素材最多只能有 {MAX_BLURS} 个模糊区域；请先撤销一个。")
    for seg in pieces:
        seg["blur"] = [*(seg.get("blur") or []), _within(seg.get("crop"), region)]
    where, where_zh = _where(region)
    count = len(pieces)
    return ToolResult(draft, {"status": "success", "blur": _within(pieces[0].get("crop"), region), "pieces": count},
                      Said(f"Blurred {where} on {_pieces_en(count)}. The region stays where it is: nothing follows "
                           "a moving face or number plate.",
                           f"已在 {count} 段素材上模糊{where_zh}。模糊区域固定不动，不会跟随移动的人脸或车牌。"))


def enhance(draft: Draft, ws: Workspace, a: o.Enhance) -> ToolResult:
    """Ask the render to balance the picture and normalise the loudness (``m.enhance``). What was asked before
    stays on; loudness is set only when the file will have sound."""
    if not a.picture and not a.sound:
        raise ToolError("Say what to improve: the picture, the sound or both.",
                        "请说明要改善什么：画面、声音，或两者。")
    draft = subject(draft, ws)
    sound = any_sound(draft, ws)
    if a.sound and not sound and not a.picture:
        raise ToolError("There is no sound on the timeline, so there is no loudness to normalise.",
                        "时间线上没有声音，无需统一响度。")
    meta = draft.setdefault("m", {})
    before: dict[str, Any] = meta.get("enhance") if isinstance(meta.get("enhance"), dict) else {}
    picture = a.picture or bool(before.get("picture"))
    loudness = LOUDNESS_LUFS if a.sound and sound else before.get("loudness")
    meta["enhance"] = {"picture": picture, "loudness": loudness}
    parts = [w for w, on in ((PICTURE_WORDS, picture), (LOUDNESS_WORDS, loudness is not None)) if on]
    en = "The render will enhance it: " + "; ".join(p.en for p in parts) + "."
    zh = "导出时将优化：" + "；".join(p.zh for p in parts) + "。"
    if a.sound and not sound:
        en += " The loudness part does not apply: there is no sound on the timeline."
        zh += "时间线上没有声音，响度统一不适用。"
    return ToolResult(draft, {"status": "success", "enhance": dict(meta["enhance"])}, Said(en, zh))


# ---------------------------------------------------------------- regions


def _region(a: o.Crop | o.Blur) -> Box:
    """The op's region, checked to lie inside the frame (ToolError otherwise)."""
    if a.x + a.w > 1 + 1e-9 or a.y + a.h > 1 + 1e-9:
        raise ToolError("That region reaches past the edge of the picture.", "这个区域超出了画面边缘。")
    return {"x": a.x, "y": a.y, "w": min(a.w, 1 - a.x), "h": min(a.h, 1 - a.y)}


def _within(outer: Any, inner: Box) -> Box:
    """``inner`` (fractions of the ``outer`` crop, or of the whole frame when there is none) as fractions of the
    source frame."""
    o_ = outer if isinstance(outer, dict) else {}
    ox, oy = float(o_.get("x", 0)), float(o_.get("y", 0))
    ow, oh = float(o_.get("w", 1)), float(o_.get("h", 1))
    x, y = round(ox + inner["x"] * ow, 6), round(oy + inner["y"] * oh, 6)
    return {"x": x, "y": y, "w": min(round(inner["w"] * ow, 6), round(1 - x, 6)),
            "h": min(round(inner["h"] * oh, 6), round(1 - y, 6))}


def _pieces(draft: Draft) -> list[dict[str, Any]]:
    pieces = [seg for seg in base_track(draft).get("sg", []) if isinstance(seg, dict) and seg.get("src")]
    if not pieces:
        raise ToolError("The timeline has no pictures.", "时间线上没有画面。")
    return pieces


def _cropped_size(ref: MediaRef | None, box: Any) -> tuple[int, int] | None:
    """The canvas for a piece cropped to ``box``: its cropped size in pixels, within 1920 on the long side and
    1080 on the short, even; None without a crop or when the picture's size is not known."""
    if not isinstance(box, dict) or ref is None or not ref.width or not ref.height:
        return None
    w, h = fit_within_limits(ref.width * float(box.get("w", 1)), ref.height * float(box.get("h", 1)))
    return max(MIN_CROP_PX, even(w)), max(MIN_CROP_PX, even(h))


def _where(box: Box) -> tuple[str, str]:
    """A region in words: across and down, in percent of the frame."""
    def pct(v: float) -> str:
        return f"{v * 100:.0f}%"

    if box["x"] == 0 and box["y"] == 0 and box["w"] == 1 and box["h"] == 1:
        return "the whole frame", "整个画面"
    across = f"{pct(box['x'])}-{pct(box['x'] + box['w'])} across" if box["w"] < 1 else "the full width"
    down = f"{pct(box['y'])}-{pct(box['y'] + box['h'])} down" if box["h"] < 1 else "the full height"
    across_zh = f"横向 {pct(box['x'])}-{pct(box['x'] + box['w'])}" if box["w"] < 1 else "全宽"
    down_zh = f"纵向 {pct(box['y'])}-{pct(box['y'] + box['h'])}" if box["h"] < 1 else "全高"
    return f"the part of the frame {across} and {down}", f"画面{across_zh}、{down_zh}的区域"


def _pieces_en(count: int) -> str:
    return "the picture" if count == 1 else f"all {count} pieces"
