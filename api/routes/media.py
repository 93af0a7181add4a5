"""Uploads (E4) and the uploaded files themselves.

Files are streamed to disk as they arrive and never held in memory; the per-file limit and the
number of files per request are checked while streaming. Then each file is typed by probing its
content (its name means nothing) in a limited child process, never in the API's own (see
api/mediagate.py), and only if every file in the request is one we take are any of them kept: a
bad request leaves nothing behind. Kept pictures and clips go straight onto the session's timeline
as its starting draft (``api.chat._Hooks.place_uploads``), so ``state.draft`` shows them at once.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from pathlib import Path
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from api.deps import Svc, Token, base_url, owned_session
from api.errors import BadRequest, MediaTooLarge, NotFound, OverLimit, UnsupportedMedia
from api.mediagate import MediaGate
from api.retention import gone_if_expired_media, upload_quota
from api.schemas import (
    UploadFilesRequest,
    UploadResponse,
    UploadUrlsRequest,
    file_response,
    ok_response,
    request_body,
)
from api.store import MediaRow
from api.thumbnails import thumbnail, thumbnail_path
from api.uploads import Received, TooManyFiles, UploadRejected, UploadTooLarge, fetch_urls, receive_multipart
from api.views import media_item, ok, thumbnail_key
from engine.errors import MediaError, MediaOverLimit
from engine.model.mediainfo import MediaInfo

router = APIRouter(tags=["media"])

# What the seeds accept, by what the content turned out to be (never by the file name).
ACCEPTED: Final = {
    "video": {"mp4", "mov", "m4v", "avi", "webm", "mkv"},
    "image": {"jpg", "png", "gif", "webp", "heic"},
    "audio": {"mp3", "wav", "m4a", "aac", "mp4", "mov", "webm", "mkv"},
}
MAX_JSON_BYTES: Final = 64 * 1024


def _discard(received: list[Received]) -> None:
    for item in received:
        item.path.unlink(missing_ok=True)


async def _type_all(gate: MediaGate, received: list[Received]) -> list[MediaInfo]:
    """Probe every file (in limited children, a few at once); the first one, in request order, that we do
    not take fails the whole request."""
    probes = [asyncio.ensure_future(_probe_one(gate, item)) for item in received]
    try:
        return [await probe for probe in probes]
    finally:
        for probe in probes:
            probe.cancel()                 # the rest, once one failed: each waits for its child to end
        await asyncio.gather(*probes, return_exceptions=True)


async def _probe_one(gate: MediaGate, item: Received) -> MediaInfo:
    try:
        info = await gate.probe(item.path)
    except MediaOverLimit as exc:
        raise UnsupportedMedia(f"{item.filename}: {exc.reason}",
                               {"filename": item.filename, "limit": exc.limit, "value": exc.value,
                                "max": exc.maximum}) from exc
    except MediaError as exc:
        raise UnsupportedMedia(f"{item.filename}: {exc.reason}; accepted: mp4, mov, avi, webm, mkv, jpg, png, "
                               "gif, webp, heic, mp3, wav, m4a, aac", {"filename": item.filename}) from exc
    if info.format not in ACCEPTED[info.kind]:
        raise UnsupportedMedia(f"{item.filename}: {info.format} is not a format we take",
                               {"filename": item.filename, "format": info.format})
    return info


async def _json_urls(request: Request) -> list[str]:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            raise BadRequest("the JSON body is too large")
    try:
        data = json.loads(body or b"{}")
    except json.JSONDecodeError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None
    urls = data.get("urls") if isinstance(data, dict) else None
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
        raise BadRequest('send {"urls": ["https://..."], "source_type": "url"}')
    return urls


@router.post("/api/upload-video/{app}/{user}/{session_id}", responses=ok_response(UploadResponse),
             openapi_extra=request_body(UploadUrlsRequest, multipart=UploadFilesRequest,
                                        description="multipart files (field files, or file), or JSON URLs"))
async def upload(app: str, user: str, session_id: str, request: Request, svc: Svc, token: Token) -> dict[str, Any]:
    if app != "nemo_agent":
        raise NotFound(f"no app {app!r}; the app is nemo_agent")
    await run_in_threadpool(svc.limits.check, "uploads_per_minute", token.user_id, "upload requests")
    session = await run_in_threadpool(owned_session, svc, token, user, session_id)
    folder = svc.media_dir / token.user_id / session.id
    incoming = folder / ".incoming"
    quota = await run_in_threadpool(upload_quota, svc.store, svc.settings, token.user_id,
                                    request.headers.get("content-length"))
    limit = quota.per_file(int(svc.settings.max_upload_mb * 1_000_000))
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith("multipart/form-data"):
            received = await receive_multipart(quota.guard(request.stream()), content_type, incoming,
                                               max_file_bytes=limit, max_files=svc.settings.max_upload_files)
        elif content_type.startswith("application/json"):
            fetch = fetch_urls(await _json_urls(request), incoming, max_file_bytes=limit,
                               timeout_s=svc.settings.url_fetch_timeout_s,
                               allow_private=svc.settings.allow_private_urls,
                               max_files=svc.settings.max_upload_files)
            try:
                received = await asyncio.wait_for(fetch, svc.settings.url_fetch_deadline_s)
            except TimeoutError:
                raise BadRequest(f"fetching the URLs took longer than {svc.settings.url_fetch_deadline_s:g} s; "
                                 "upload the files instead") from None
        else:
            raise BadRequest("send multipart/form-data with the field 'files', or JSON {\"urls\": [...]}")
    except UploadTooLarge as exc:
        quota.too_large(exc.limit_bytes)
        raise MediaTooLarge(f"'{exc.filename}' is over the limit of {svc.settings.max_upload_mb:g} MB per file: "
                            "compress or trim it",
                            {"limit_mb": svc.settings.max_upload_mb}) from None
    except TooManyFiles as exc:
        raise OverLimit(f"too many {exc.what} in one request: at most {exc.max_files} (max_upload_files)",
                        {"limit": "max_upload_files", "value": exc.count, "max": exc.max_files}) from None
    except UploadRejected as exc:
        raise BadRequest(str(exc)) from None
    try:
        quota.admit(item.size for item in received)
        infos = await _type_all(svc.media_gate, received)
    except BaseException:
        _discard(received)
        raise
    rows = [_keep(item, info, folder, token.user_id, session.id) for item, info in zip(received, infos, strict=True)]
    await run_in_threadpool(svc.store.add_media, rows)
    # shielded: a client that hangs up now still finds its files on the timeline
    await asyncio.shield(svc.chat.place_uploads(session.id, token.user_id, {row.id for row in rows}))
    base = base_url(svc, request)
    items = [media_item(base, row) for row in rows]
    version = svc.store.draft_head(session.id).version
    return ok({"files": items, "uploaded_files": items, "session_state_applied": True, "draft_version": version})


def _keep(item: Received, info: MediaInfo, folder: Path, user_id: str, session_id: str) -> MediaRow:
    media_id = f"m_{secrets.token_urlsafe(16)}"
    final = folder / f"{media_id}.{info.format}"
    item.path.replace(final)
    described = info.to_dict() | {"path": str(final)}
    return MediaRow(media_id, user_id, session_id, item.filename, str(final), info.kind, described, item.size,
                    item.sha256, item.source, time.time())


@router.get("/api/media/{media_id}/{filename}", response_class=FileResponse,
            responses=file_response("the uploaded file, for its owner"))
def media_file(media_id: str, filename: str, svc: Svc, token: Token) -> FileResponse:
    """An uploaded file, for its owner only."""
    media = svc.store.media(media_id)
    if media is None or media.user_id != token.user_id or not Path(media.path).is_file():
        gone_if_expired_media(svc.store, media, token.user_id)
        raise NotFound("no such file")
    return FileResponse(media.path, filename=media.filename)


@router.get("/media-thumb/{name}", response_class=FileResponse,
            responses=file_response("a small JPEG of the upload (thumbnail_url; no token needed)"))
def media_thumbnail(name: str, svc: Svc, e: int = 0, s: str = "") -> FileResponse:
    """An upload's thumbnail at the signed URL the studio's upload list hands out: a small JPEG (or the picture
    itself), made on the first request."""
    media_id = name.removesuffix(".jpg")
    if not svc.signer.valid(thumbnail_key(media_id), e, s):
        raise NotFound("this link is not valid or has expired; list the session's uploads for a fresh one")
    media = svc.store.media(media_id)
    if media is None:
        raise NotFound("no such file")
    if svc.store.media_expired_at(media.id) is not None:     # retention removed the upload: its thumbnail goes too
        thumbnail_path(media).unlink(missing_ok=True)
        gone_if_expired_media(svc.store, media, media.user_id)
    shown = thumbnail(media, svc.engine.ffmpeg, svc.engine.probe)
    if shown is None:
        raise NotFound(f"{media.filename!r} has no picture to show")
    path, media_type = shown
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "private, max-age=86400"})
