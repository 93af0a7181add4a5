"""Draft texts, stored once: the one way a draft becomes text, its hash, how a job's spec points at
its draft's text instead of holding a copy, and bringing an older data directory up to date.

The tables are in :mod:`api.store`; these functions run inside its transactions.
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


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {str(r["name"]) for r in db.execute(f"PRAGMA table_info({table})")}


def migrate_drafts(db: sqlite3.Connection) -> None:
    """Bring a data directory written before drafts were stored once up to date (inside a transaction):
    each session's current draft (sessions.draft) and every saved version move into draft_texts, and
    job specs keep only their draft's hash. Does nothing on a current one."""
    if "draft" in _columns(db, "drafts"):
        db.execute("ALTER TABLE drafts RENAME TO drafts_old")
        db.execute("CREATE TABLE drafts (session_id TEXT NOT NULL, version INTEGER NOT NULL, parent INTEGER, "
                   "hash TEXT NOT NULL, note TEXT NOT NULL, created REAL NOT NULL, meta TEXT NOT NULL DEFAULT '{}', "
                   "PRIMARY KEY (session_id, version))")
        for row in db.execute("SELECT * FROM drafts_old").fetchall():
            _migrate_version(db, row["session_id"], row["version"], row["parent"], row["draft"], row["note"],
                             row["created"])
        db.execute("DROP TABLE drafts_old")
    if "draft" in _columns(db, "sessions"):
        for row in db.execute("SELECT id, version, draft, created FROM sessions").fetchall():
            kept = db.execute("SELECT 1 FROM drafts WHERE session_id = ? AND version = ?",
                              (row["id"], row["version"])).fetchone()
            if kept is None and (row["version"] > 0 or row["draft"] not in ("", EMPTY_DRAFT)):
                version = max(1, int(row["version"]))
                _migrate_version(db, row["id"], version, None, row["draft"], "kept from the session", row["created"])
                db.execute("UPDATE sessions SET version = ? WHERE id = ?", (version, row["id"]))
        db.execute("ALTER TABLE sessions RENAME TO sessions_old")
        db.execute("CREATE TABLE sessions (id TEXT PRIMARY KEY, task_id TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL, "
                   "task_name TEXT NOT NULL, language TEXT NOT NULL, created REAL NOT NULL, "
                   "version INTEGER NOT NULL DEFAULT 0)")
        db.execute("INSERT INTO sessions SELECT id, task_id, user_id, task_name, language, created, version "
                   "FROM sessions_old")
        db.execute("DROP TABLE sessions_old")
    if "draft_hash" not in _columns(db, "jobs"):
        db.execute("ALTER TABLE jobs ADD COLUMN draft_hash TEXT")
        for row in db.execute("SELECT id, spec FROM jobs").fetchall():
            spec, digest, text = split_spec(row["spec"])
            if digest is not None and text is not None:
                put_text(db, digest, text)
                db.execute("UPDATE jobs SET spec = ?, draft_hash = ? WHERE id = ?", (spec, digest, row["id"]))
    db.execute("CREATE INDEX IF NOT EXISTS drafts_by_hash ON drafts (hash)")
    db.execute("CREATE INDEX IF NOT EXISTS jobs_by_draft ON jobs (draft_hash)")


def _migrate_version(db: sqlite3.Connection, session_id: str, version: int, parent: int | None, text: str, note: str,
                     created: float) -> None:
    draft = json.loads(text or EMPTY_DRAFT)
    text = compact_json(draft)
    digest = text_hash(text)
    meta = canvas_meta(draft) if isinstance(draft, dict) else {}
    put_text(db, digest, text)
    db.execute("INSERT OR REPLACE INTO drafts (session_id, version, parent, hash, note, created, meta) "
               "VALUES (?,?,?,?,?,?,?)", (session_id, version, parent, digest, note, created, compact_json(meta)))
