"""From an export request to a RenderJob: merge the output settings into the draft, check it
(:mod:`api.drafts`, the storage quota, expired uploads), name the output file and give the job a
scratch folder of its own."""

from __future__ import annotations

import copy
import secrets
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from api.drafts import check_draft
from api.errors import BadRequest, DraftInvalid
from api.retention import check_output_room, new_scratch, refuse_expired_sources
from api.views import EXTENSIONS
from api.webhooks import check_callback
from engine.errors import DraftError
from engine.job import RenderJob
from engine.model.cost import Caps
from engine.model.draft import Draft, dump_draft
from engine.model.timeline import Timeline
from engine.pipeline.scratch import plan_scratch
from engine.pipeline.size_target import check_reachable

if TYPE_CHECKING:
    from api.services import Services
    from api.settings import ApiSettings
    from api.store import MediaRow

OUTPUT_KEYS = ("format", "quality", "resolution", "fps")
CALLBACK_KEYS = ("callback", "webhook")


def callback_of(body: dict[str, Any], settings: ApiSettings) -> str | None:
    """The export's callback URL (``callback``, or its alias ``webhook``), checked by the URL uploads' SSRF guard;
    None when it has none. BadRequest: not an http(s) URL, a non-public address, or no secret to sign with."""
    given = {key: body[key] for key in CALLBACK_KEYS if body.get(key) is not None}
    if not given:
        return None
    if len(set(map(str, given.values()))) > 1:
        raise BadRequest("callback and webhook name the same thing: send one of them", {"field": "callback"})
    key, raw = next(iter(given.items()))
    return check_callback(raw, settings, key)


def with_output(draft: Any, output: Any, skill: str | None, skill_resolutions: dict[str, str]) -> dict[str, Any]:
    """The draft with the export's ``output`` settings laid over ``m.out``.

    A size target is never weakened: the export's ``max_mb`` applies where the draft has none, and
    the smaller of the two where both say one (checked with the draft, like every ``m.out`` key).
    ``quality`` leaves ``max_mb`` alone: the engine holds the target whatever quality says."""
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
    if output and output.get("format") not in (None, "gif"):    # a loop seam is a GIF's: another format drops it
        out.pop("loop_seam", None)
        out.pop("loop_seam_ms", None)
    asked = output.get("max_mb") if output else None
    if asked is not None:
        out["max_mb"] = _tighter(out.get("max_mb"), asked)
    video = out.get("format", "mp4") in ("mp4", "webm")      # GIF/WebP keep their own small default size
    if video and "resolution" not in out and "width" not in out and skill in skill_resolutions:
        out["resolution"] = skill_resolutions[skill]
    return merged


def _tighter(draft_mb: Any, export_mb: Any) -> Any:
    """The smaller size target; a value that is not a number is passed on, for the draft check to name."""
    def number(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool)

    if draft_mb is None or not number(export_mb):
        return export_mb
    return min(draft_mb, export_mb) if number(draft_mb) else draft_mb


def checked(svc: Services, draft_json: dict[str, Any], user_id: str,
            session_id: str) -> tuple[Draft, dict[str, MediaRow], Timeline]:
    """Every rule an export checks (:func:`api.drafts.check_draft`): (draft, its media, its timeline), or
    DraftError/MediaError naming what is wrong, and Gone when the draft uses an expired upload."""
    try:
        return check_draft(svc.store, draft_json, user_id, session_id, Caps.of(svc.engine))
    except DraftError:              # a src that names an expired upload answers 410, not "not one of your uploads"
        refuse_expired_sources(svc.store, draft_json, user_id, session_id)
        raise


def build_job(svc: Services, render_id: str, draft_json: dict[str, Any], user_id: str,
              session_id: str, x264_preset: str | None = None) -> tuple[RenderJob, str]:
    """The RenderJob for an export, or DraftError/MediaError naming what is wrong, QuotaExceeded when the
    user's files fill their quota, Gone when the draft uses an expired upload. (job, format).
    ``x264_preset``: instead of the server's (a preview's fastest one).

    The job's scratch folder is only named here; its render process makes it."""
    check_output_room(svc.store, svc.settings, user_id)
    draft, media, timeline = checked(svc, draft_json, user_id, session_id)
    plan_scratch(timeline, svc.engine)        # over the scratch budget: refused now, not once it is queued
    check_reachable(timeline)                 # a size target nothing could meet: refused now, naming m.out.max_mb
    fmt = draft.m.out.format
    output = svc.outputs_dir / f"{secrets.token_urlsafe(12)}.{EXTENSIONS[fmt]}"
    config = replace(svc.engine, work_dir=new_scratch(svc.scratch_dir),
                     x264_preset=x264_preset or svc.engine.x264_preset)
    job = RenderJob(job_id=render_id, draft=dump_draft(draft), sources={s: m.path for s, m in media.items()},
                    data_root=str(svc.settings.data_dir.resolve()), duration_s=timeline.duration_s,
                    output=str(output), config=RenderJob.config_of(config), choice=svc.codecs.to_dict())
    return job, fmt
