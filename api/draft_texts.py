"""Draft texts, stored once: the one way a draft becomes text, its hash, and how a job's spec points
at its draft's text instead of holding a copy.

The tables are made by :mod:`api.migrations` (which also moves drafts of an older data directory
here); these functions run inside :mod:`api.store`'s transactions.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from typing import Any, Final

EMPTY_DRAFT: Final = "{}"
SPEC_DRAFT: Final = '{"draft":{"$text":"'       # how a job's spec, as stored, begins: its draft is a text's hash


def compact_json(value: Any) -> str:
    """The one way a draft becomes text here, so that the same draft is always the same text."""
    return json.dumps(value, separators=(",", ":"))


def canvas_meta(draft: dict[str, Any]) -> dict[str, Any]:
    """The few keys of the draft's ``m`` that the state's canvas_config shows, kept beside each version so
    that a state poll never parses the draft; only short plain values, whatever else ``m`` holds."""
    meta = draft.get("m")
    if not isinstance(meta, dict):
        return {}
    return {key: meta[key] for key in ("aspect", "width", "height", "fps")
            if isinstance(meta.get(key), int | float | str) and len(str(meta[key])) <= 32}


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def put_text(db: sqlite3.Connection, digest: str, text: str) -> None:
    db.execute("INSERT OR IGNORE INTO draft_texts (hash, text, size) VALUES (?,?,?)",
               (digest, text, len(text.encode())))


def forget_texts(db: sqlite3.Connection, hashes: set[str]) -> None:
    for digest in hashes:
        db.execute("DELETE FROM draft_texts WHERE hash = ? AND NOT EXISTS (SELECT 1 FROM drafts WHERE hash = ?) "
                   "AND NOT EXISTS (SELECT 1 FROM jobs WHERE draft_hash = ?)", (digest, digest, digest))


def split_spec(spec: str) -> tuple[str, str | None, str | None]:
    """(the spec as stored, its draft's hash, its draft's text): the draft goes to draft_texts, the spec
    keeps its hash in its first key (see Store.job_spec). A spec without a draft is kept whole."""
    data = json.loads(spec)
    draft = data.pop("draft", None)
    if not isinstance(draft, dict):
        return spec, None, None
    text = compact_json(draft)
    digest = text_hash(text)
    rest = compact_json(data)[1:]
    return SPEC_DRAFT + digest + '"}' + ("," + rest if rest != "}" else "}"), digest, text


def spec_draft_hash(spec: str) -> str | None:
    """The hash of the draft a stored spec points at; None: the spec holds its draft itself."""
    return spec[len(SPEC_DRAFT):len(SPEC_DRAFT) + 64] if spec.startswith(SPEC_DRAFT) else None


def join_spec(spec: str, text: str) -> str:
    """The whole spec again, from the stored one and its draft's text."""
    return '{"draft":' + text + spec[len(SPEC_DRAFT) + 66:]
