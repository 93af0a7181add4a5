"""Whether a draft can be exported: its shape, its sources (each ``src`` one of the user's uploads), its
timeline and its cost (engine/model/cost.py), checked before any job exists. Exports and the chat's
edit check share it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from api.store import MediaRow, Store
from api.views import media_id_of
from engine.errors import DraftError, Issue
from engine.model.cost import Caps, check_cost
from engine.model.draft import Draft, parse_draft
from engine.model.mediainfo import MediaInfo
from engine.model.timeline import Timeline, build_timeline


def session_uploads_by_name(store: Store, session_id: str) -> dict[str, MediaRow]:
    return {m.filename: m for m in store.session_media(session_id)}


def find_upload(store: Store, src: str, by_name: dict[str, MediaRow]) -> MediaRow | None:
    """The upload a draft's ``src`` names: by its URL, its id, or its file name in the session (``by_name``)."""
    return store.media(media_id_of(src)) or store.media(src) or by_name.get(src)


def resolve_sources(draft: Draft, store: Store, user_id: str, session_id: str) -> dict[str, MediaRow]:
    """Each distinct src -> one of the user's uploads (:func:`find_upload`)."""
    by_name = session_uploads_by_name(store, session_id)
    found: dict[str, MediaRow] = {}
    issues = []
    for i, track in enumerate(draft.t):
        for j, seg in enumerate(track.sg):
            src = getattr(seg, "src", None)
            if src is None or src in found:
                continue
            media = find_upload(store, src, by_name)
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


def check_draft(store: Store, draft_json: dict[str, Any], user_id: str, session_id: str,
                caps: Caps) -> tuple[Draft, dict[str, MediaRow], Timeline]:
    """Every rule an export checks (shape, sources, timeline, cost), or DraftError/MediaError/LimitExceeded.
    (draft, its media, its timeline)."""
    draft = parse_draft(draft_json)
    check_renderable(draft)
    media = resolve_sources(draft, store, user_id, session_id)
    infos = {src: MediaInfo.from_dict(row.info) for src, row in media.items()}
    timeline = build_timeline(draft, infos)
    check_cost(draft, timeline, infos, caps)
    return draft, media, timeline
