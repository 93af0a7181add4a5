"""From an export request to a RenderJob: merge the output settings into the draft, check it
(:mod:`api.drafts`) and name the output file."""

from __future__ import annotations

import copy
import secrets
from typing import TYPE_CHECKING, Any

from api.drafts import check_draft
from api.errors import BadRequest, DraftInvalid
from api.views import EXTENSIONS
from engine.job import RenderJob
from engine.model.cost import Caps
from engine.model.draft import dump_draft

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


def build_job(svc: Services, render_id: str, draft_json: dict[str, Any], user_id: str,
              session_id: str) -> tuple[RenderJob, str]:
    """The RenderJob for an export, or DraftError/MediaError naming what is wrong. (job, format)."""
    draft, media, timeline = check_draft(svc.store, draft_json, user_id, session_id, Caps.of(svc.engine))
    fmt = draft.m.out.format
    output = svc.outputs_dir / f"{secrets.token_urlsafe(12)}.{EXTENSIONS[fmt]}"
    job = RenderJob(job_id=render_id, draft=dump_draft(draft), sources={s: m.path for s, m in media.items()},
                    data_root=str(svc.settings.data_dir.resolve()), duration_s=timeline.duration_s,
                    output=str(output), config=RenderJob.config_of(svc.engine), choice=svc.codecs.to_dict())
    return job, fmt
