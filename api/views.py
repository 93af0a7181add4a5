"""The JSON clients read: the envelope, uploaded files, session state, and the render job body.

The job body is the superset api-contract.md §2.1 recommends, because clients disagree on where
to look: top-level ``status``/``output.url`` (the seeds), ``data.status``/``data.outputUrl``
(the API reference) and ``taskId``/``output`` (the first skill version) all work.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote, urlparse

from api.signing import Signer
from api.store import JobRow, MediaRow, SessionRow
from engine.model.draft import ASPECTS

EXTENSIONS = {"mp4": "mp4", "gif": "gif", "webm": "webm", "webp": "webp"}
CONTENT_TYPES = {"mp4": "video/mp4", "gif": "image/gif", "webm": "video/webm", "webp": "image/webp"}


def ok(data: Any, message: str = "success") -> dict[str, Any]:
    return {"code": 0, "message": message, "data": data}


def media_url(base: str, media: MediaRow) -> str:
    return f"{base}/api/media/{media.id}/{quote(media.filename)}"


def thumbnail_url(base: str, signer: Signer, media: MediaRow) -> str:
    """The upload's thumbnail at a signed URL an <img> can load without a token (like ``output.url``); the same
    URL on every call for the signer's ttl after the upload arrived."""
    expires, signature = signer.sign(thumbnail_key(media.id), since=media.created)
    return f"{base}/media-thumb/{quote(media.id, safe='')}.jpg?e={expires}&s={signature}"


def thumbnail_key(media_id: str) -> str:
    """What a thumbnail URL signs: never a render job's key (those start with job_)."""
    return f"thumb:{media_id}"


def media_id_of(src: str) -> str:
    """The upload id a draft's ``src`` names: from its URL or path (``…/media/<id>/<name>``), else ``src`` itself
    (a bare id; a file name matches nothing here, callers look those up by name)."""
    parts = [p for p in unquote(urlparse(src).path).split("/") if p]
    if len(parts) >= 3 and parts[-3] == "media":
        return parts[-2]
    return parts[-1] if parts else src


def media_item(base: str, media: MediaRow) -> dict[str, Any]:
    info = media.info
    video = info.get("video") or {}
    url = media_url(base, media)
    return {
        "id": media.id, "filename": media.filename, "file_type": media.file_type, "format": info.get("format"),
        "cdn_url": url, "url": url, "duration": info.get("duration"), "width": video.get("width"),
        "height": video.get("height"), "fps": video.get("fps"), "has_audio": bool(info.get("audio")),
        "size": media.size, "hash": media.sha256,
        "source": "url" if media.source.startswith("http") else "generated" if generated(media) else "upload",
        "source_url": media.source if media.source.startswith("http") else None,
    }


def generated(media: MediaRow) -> bool:
    """Made by reelforge (the chat's built-in music bed), not uploaded."""
    return media.source.startswith("builtin:")


def canvas_config(draft: dict[str, Any]) -> dict[str, Any]:
    meta = draft.get("m") if isinstance(draft.get("m"), dict) else {}
    aspect = meta.get("aspect") if meta.get("aspect") in ASPECTS else None
    width, height = meta.get("width"), meta.get("height")
    if not (width and height):
        width, height = ASPECTS[aspect or "9:16"]
    if aspect is None:
        aspect = next((name for name, (w, h) in ASPECTS.items() if w * height == h * width), f"{width}:{height}")
    return {"width": width, "height": height, "aspect_ratio": aspect, "fps": meta.get("fps", 30)}


def state(base: str, session: SessionRow, media: list[MediaRow], draft: Any, meta: dict[str, Any]) -> dict[str, Any]:
    """The E6 body; ``draft`` goes in as it is (the route may put a placeholder there), ``meta`` is its ``m``."""
    return {
        "session_id": session.id, "task_id": session.task_id, "task_name": session.task_name,
        "user_id": session.user_id, "bind_id": session.user_id, "draft_version": session.version,
        "state": {
            "draft": draft,
            "video_infos": [media_item(base, m) for m in media if not generated(m)],
            "canvas_config": canvas_config({"m": meta}),
            "video_analyses": {},
            "generated_media": [media_item(base, m) for m in media if generated(m)],
        },
    }


def result_url(base: str, signer: Signer, job: JobRow) -> str:
    """The signed link; the same on every poll for the first ``ttl`` after the job finished."""
    expires, signature = signer.sign(job.id, since=(job.completed_ms or 0) / 1000)
    return f"{base}/render-result/{quote(job.id, safe='')}.{EXTENSIONS[job.format]}?e={expires}&s={signature}"


def size_target(result: dict[str, Any]) -> dict[str, Any]:
    """``output`` keys of a render made under ``m.out.max_mb``: the target, whether the file met it (a
    finished one always does), and the settings the engine chose to (``encoding``); nothing otherwise."""
    target = result.get("target_bytes")
    if not target:
        return {}
    size = result.get("size_bytes")
    encoding = result.get("encoding") or {}
    chosen = {key: encoding.get(key) for key in ("width", "height", "fps", "video_kbps", "audio_kbps", "quality",
                                                 "colors", "chosen") if encoding.get(key) is not None}
    tries = encoding.get("attempts")
    return {"target_mb": target / 1_000_000, "size_target_met": size is not None and size <= target,
            "encoding": {**chosen, "tries": len(tries) if isinstance(tries, list) else None}}


def gif_palettes(result: dict[str, Any]) -> dict[str, Any]:
    """``output.gif`` of a GIF made with palettes per scene or a loop seam: its scenes, how many palettes, and
    the seam (where it ended, how far the last frame was from the first before and after); nothing otherwise."""
    gif = result.get("gif") or {}
    kept = {key: gif[key] for key in ("palettes", "scenes", "loop_seam") if gif.get(key) is not None}
    return {"gif": kept} if kept else {}


def job_body(base: str, signer: Signer, job: JobRow, webhook: dict[str, Any] | None = None) -> dict[str, Any]:
    """The status body; ``webhook`` (:func:`api.webhooks.delivery_view`) goes in as ``webhook`` and ``data.webhook``
    when the export carried a callback."""
    result = job.result or {}
    done = job.status == "completed"
    url = result_url(base, signer, job) if done else None
    error = job.error if job.status == "failed" else None
    output = {"url": url, "duration": result.get("duration_s"), "size": result.get("size_bytes"), "format": job.format,
              "width": result.get("width"), "height": result.get("height"), **size_target(result),
              **({"enhance": result["enhance"]} if result.get("enhance") else {}), **gif_palettes(result)}
    codecs = {key: result.get(key) for key in ("encoder", "encoder_reason", "decoder", "decoder_reason")}
    data = {"id": job.render_id, "render_id": job.render_id, "status": job.status, "progress": job.progress,
            "outputUrl": url, "output": {"url": url}, "createdAt": job.created_ms, "completedAt": job.completed_ms,
            "error": error, "cancelled": error == "cancelled", "attempts": job.attempts, "worker": result.get("worker"),
            "parts": result.get("parts"), **codecs, **({"webhook": webhook} if webhook is not None else {})}
    return {"code": 0, "success": job.status != "failed", "message": "ok", "id": job.render_id,
            "render_id": job.render_id, "taskId": job.render_id, "status": job.status, "progress": job.progress,
            "output": output, "error": error, "data": data, **({"webhook": webhook} if webhook is not None else {})}
