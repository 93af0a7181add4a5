"""From an export request to a RenderJob: merge the output settings into the draft, map each
``src`` to one of the user's uploads, and check the whole draft before any job exists."""

from __future__ import annotations

import copy
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from api.errors import BadRequest, DraftInvalid
from api.store import MediaRow, Store
from api.views import EXTENSIONS, media_id_of
from engine.errors import DraftError, Issue
from engine.job import RenderJob
from engine.model.draft import Draft, dump_draft, parse_draft
from engine.model.mediainfo import MediaInfo
from engine.model.timeline import Timeline, build_timeline

if TYPE_CHECKING:
    from api.services import Services

OUTPUT_KEYS = ("format", "quality", "resolution", "fps")


def with_output(draft: Any, output: Any, skill: str | None, skill_resolutions: dict[str, str]) -> dict[str, Any]:
    """The draft with the export's ``output`` settings laid over ``m.out``."""
    if not isinstance(draft, dict):
        raise DraftInvalid("draft must be a JSON object (the data.state.draft you read from state)")
    if output is not None and not isinstance(output, dict):
        raise BadRequest("output must be an object such as {\"format\": \"mp4\", \"quality\": \"high\"}")
    merged = copy.deepcopy(draft)
    meta = merged.setdefault("m", {})
    if not isinstance(meta, dict):
        raise DraftInvalid("m must be an object")
    out = meta.setdefault("out", {})
    if not isinstance(out, dict):
        raise DraftInvalid("m.out must be an object")
    for key in OUTPUT_KEYS:
        if output and output.get(key) is not None:
            out[key] = output[key]
    video = out.get("format", "mp4") in ("mp4", "webm")      # GIF/WebP keep their own small default size
    if video and "resolution" not in out and "width" not in out and skill in skill_resolutions:
        out["resolution"] = skill_resolutions[skill]
    return merged


def resolve_sources(draft: Draft, store: Store, user_id: str, session_id: str) -> dict[str, MediaRow]:
    """Each distinct src -> one of the user's uploads, by its URL, id or (within the session) file name."""
    by_name = {m.filename: m for m in store.session_media(session_id)}
    found: dict[str, MediaRow] = {}
    issues = []
    for i, track in enumerate(draft.t):
        for j, seg in enumerate(track.sg):
            src = getattr(seg, "src", None)
            if src is None or src in found:
                continue
            media = store.media(media_id_of(src)) or store.media(src) or by_name.get(src)
            if media is None or media.user_id != user_id or not Path(media.path).is_file():
                issues.append(Issue(f"t[{i}].sg[{j}].src", "media_known",
                                    f"{src!r} is not one of your uploads; upload it first and use its url"))
                continue
            found[src] = media
    if issues:
        raise DraftError(issues)
    return found


def check_renderable(draft: Draft) -> None:
    if not any(track.sg for track in draft.t):
        raise DraftError([Issue("t", "not_empty", "the draft has no segments: add media to a track first")])


def check_draft(store: Store, draft_json: dict[str, Any], user_id: str,
                session_id: str) -> tuple[Draft, dict[str, MediaRow], Timeline]:
    """Every rule an export checks (shape, sources, timeline), or DraftError/MediaError.
    (draft, its media, its timeline)."""
    draft = parse_draft(draft_json)
    check_renderable(draft)
    media = resolve_sources(draft, store, user_id, session_id)
    timeline = build_timeline(draft, {src: MediaInfo.from_dict(row.info) for src, row in media.items()})
    return draft, media, timeline


def build_job(svc: Services, render_id: str, draft_json: dict[str, Any], user_id: str,
              session_id: str) -> tuple[RenderJob, str]:
    """The RenderJob for an export, or DraftError/MediaError naming what is wrong. (job, format)."""
    draft, media, timeline = check_draft(svc.store, draft_json, user_id, session_id)
    fmt = draft.m.out.format
    output = svc.outputs_dir / f"{secrets.token_urlsafe(12)}.{EXTENSIONS[fmt]}"
    job = RenderJob(job_id=render_id, draft=dump_draft(draft), sources={s: m.path for s, m in media.items()},
                    data_root=str(svc.settings.data_dir.resolve()), duration_s=timeline.duration_s,
                    output=str(output), config=RenderJob.config_of(svc.engine), choice=svc.codecs.to_dict())
    return job, fmt
