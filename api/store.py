"""Everything the API must not forget, in one SQLite file: tokens and credits, sessions and their
drafts, uploaded media, render jobs.

A draft's text is stored once: ``draft_texts`` holds each distinct text under its SHA-256, and a
session's versions (``drafts``) and render jobs point at it. A session keeps its newest
``history`` versions along the chain undo walks back; a text nothing points at is deleted.

Each thread keeps one connection of its own (opening one per call cost some 130 us, most of a
state poll); WAL mode lets readers run beside a writer. Anything that must not race (issuing a
token, spending credits, claiming a job) runs in one ``BEGIN IMMEDIATE`` transaction, so two
requests can never both spend the last credit or both start the same job.

The schema has a version (``PRAGMA user_version``): opening a Store runs the numbered steps of
:mod:`api.migrations` that the file lacks, and refuses a file written by a newer reelforge.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.draft_texts import (
    EMPTY_DRAFT,
    canvas_meta,
    compact_json,
    forget_texts,
    join_spec,
    put_text,
    spec_draft_hash,
    split_spec,
    text_hash,
)
from api.migrations import BASELINE_SCHEMA, migrate

SCHEMA = BASELINE_SCHEMA     # the tables release 0fe6eeb created, before versions (tests build old databases with it)


@dataclass(frozen=True, slots=True)
class TokenRow:
    token: str
    user_id: str
    anonymous: bool
    available: int
    frozen: int
    expires: float
    issued_ip: str | None = None      # the address the token was issued to


@dataclass(frozen=True, slots=True)
class SessionRow:
    id: str
    task_id: str
    user_id: str
    task_name: str
    language: str
    version: int                # the current draft version (0: the empty draft)


@dataclass(frozen=True, slots=True)
class DraftHead:
    """A session's current draft without its text: enough to decide how to read it."""

    version: int
    size: int                   # bytes of its compact JSON text
    meta: dict[str, Any]        # the canvas keys of its ``m`` object (see canvas_meta)


@dataclass(frozen=True, slots=True)
class MediaRow:
    id: str
    user_id: str
    session_id: str
    filename: str
    path: str
    file_type: str
    info: dict[str, Any]
    size: int
    sha256: str
    source: str
    created: float


@dataclass(frozen=True, slots=True)
class JobRow:
    id: str
    user_id: str
    token: str
    session_id: str
    status: str                 # pending -> processing -> completed | failed
    progress: int               # 0-100
    format: str
    spec: str                   # the RenderJob, as JSON
    output_path: str
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    cancel: bool
    credits: int
    created_ms: int
    started_ms: int | None
    completed_ms: int | None
    render_id: str = ""         # the id its owner chose; ``id`` is the store's own key, unique across users


@dataclass(frozen=True, slots=True)
class ClaimRow:
    """E11's browser link: it names a user's session, and opens it until ``expires`` (epoch seconds)."""

    claim: str
    user_id: str
    task_id: str
    session_id: str
    expires: float


@dataclass(frozen=True, slots=True)
class SessionListing:
    """One row of a user's session list (the studio's): times in epoch seconds."""

    id: str
    task_id: str
    task_name: str
    created: float
    updated: float              # the last activity (see Store.session_updated_at)
    uploads: int                # files uploaded, not the ones reelforge made
    renders: int                # exports, not previews
    first_upload: str | None    # the first upload's file name
    title: str | None           # the current draft's m.title (of a draft up to TITLE_READ_BYTES)


class QueueFull(Exception):
    """The user already has ``pending`` exports waiting, the most allowed (``maximum``)."""

    def __init__(self, pending: int, maximum: int) -> None:
        super().__init__(pending, maximum)
        self.pending, self.maximum = pending, maximum


class SessionExists(Exception):
    """A session id the caller picked is taken."""


class NotEnoughCredits(Exception):
    def __init__(self, available: int, needed: int) -> None:
        super().__init__(available, needed)
        self.available, self.needed = available, needed


# A session list reads the title of drafts up to this size only: it never parses a large draft (as a state poll).
TITLE_READ_BYTES = 64 * 1024
# A preview's render id starts with this: "~" is outside what E7 accepts as an id, so no export is ever taken for one.
PREVIEW_PREFIX = "preview~"
NO_PARENT = -1          # a draft version with nothing before it (what undo cannot go back from)


def now_ms() -> int:
    return int(time.time() * 1000)


def new_job_key() -> str:
    """The store's own key for a job: unguessable and unique across users, whatever id its owner chose."""
    return f"job_{secrets.token_hex(10)}"


def new_session_id() -> str:
    """A decimal snowflake-like id, as the hosted API hands out: time in its high bits, randomness below."""
    return str((now_ms() << 22) | secrets.randbits(22))


class Store:
    def __init__(self, path: Path, history: int = 50) -> None:
        self.path = path
        self.history = history                # draft versions kept per session
        self._local = threading.local()       # this thread's connection (sqlite3 ties one to its thread)
        path.parent.mkdir(parents=True, exist_ok=True)
        db = self._db()
        _use_wal(db)
        self.migrated = migrate(db, str(path))    # the schema steps this opening ran (see api.migrations)

    def close(self) -> None:
        """Close this thread's connection (the next call opens another)."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    @contextmanager
    def _tx(self, immediate: bool = False) -> Iterator[sqlite3.Connection]:
        db = self._db()
        db.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._db().execute(sql, args).fetchone()
        return row

    # ------------------------------------------------------------ tokens and credits

    def issue_token(self, client_id: str, credits: int, ttl_s: float, ip: str | None = None) -> tuple[TokenRow, bool]:
        """The client's live token, or a new one issued to ``ip`` (and its user, the first time). (row, newly made)."""
        now = time.time()
        with self._tx(immediate=True) as db:
            live = db.execute("SELECT * FROM tokens WHERE client_id = ? AND expires > ? ORDER BY created DESC LIMIT 1",
                              (client_id, now)).fetchone()
            if live is not None:
                return _token(live), False
            user = db.execute("SELECT id FROM users WHERE client_id = ?", (client_id,)).fetchone()
            user_id = user["id"] if user else f"anon_{secrets.token_hex(6)}"
            if user is None:
                db.execute("INSERT INTO users (id, client_id, created) VALUES (?, ?, ?)", (user_id, client_id, now))
            token = f"nmv_usr_{secrets.token_urlsafe(24)}"
            db.execute("INSERT INTO tokens (token, user_id, client_id, anonymous, available, frozen, created, expires, "
                       "issued_ip) VALUES (?, ?, ?, 1, ?, 0, ?, ?, ?)",
                       (token, user_id, client_id, credits, now, now + ttl_s, ip))
            row = db.execute("SELECT * FROM tokens WHERE token = ?", (token,)).fetchone()
            return _token(row), True

    def live_token(self, client_id: str) -> TokenRow | None:
        """The client id's token that has not expired, if any."""
        row = self._one("SELECT * FROM tokens WHERE client_id = ? AND expires > ? ORDER BY created DESC LIMIT 1",
                        client_id, time.time())
        return _token(row) if row else None

    def token(self, token: str) -> TokenRow | None:
        row = self._one("SELECT * FROM tokens WHERE token = ?", token)
        return _token(row) if row else None

    # ------------------------------------------------------------ sessions and drafts

    def create_session(self, user_id: str, task_name: str, language: str,
                       session_id: str | None = None) -> SessionRow:
        """A new session, under ``session_id`` when the caller picks one (SessionExists: that id is taken)."""
        sid, task_id = session_id or new_session_id(), f"task_{secrets.token_hex(8)}"
        try:
            with self._tx() as db:
                db.execute("INSERT INTO sessions (id, task_id, user_id, task_name, language, created) "
                           "VALUES (?,?,?,?,?,?)", (sid, task_id, user_id, task_name, language, time.time()))
        except sqlite3.IntegrityError:
            if session_id is None:
                raise
            raise SessionExists(session_id) from None
        return SessionRow(sid, task_id, user_id, task_name, language, 0)

    def user_sessions(self, user_id: str) -> list[SessionRow]:
        rows = self._db().execute("SELECT * FROM sessions WHERE user_id = ? ORDER BY created, rowid", (user_id,))
        return [_session(r) for r in rows]

    def session_updated_at(self, session_id: str) -> float:
        """When anything in the session last changed (created, a draft saved, a file added, a turn run)."""
        row = self._one(f"SELECT {_UPDATED_AT} AS at FROM sessions s WHERE s.id = ?", session_id)
        return float(row["at"]) if row and row["at"] is not None else 0.0

    def session_list(self, user_id: str, limit: int) -> list[SessionListing]:
        """The user's ``limit`` most recently active sessions, newest first, with what a list of them shows."""
        rows = self._db().execute(
            f"SELECT s.id, s.task_id, s.task_name, s.created, {_UPDATED_AT} AS updated, "
            "(SELECT COUNT(*) FROM media WHERE session_id = s.id AND source NOT LIKE 'builtin:%') AS uploads, "
            "(SELECT filename FROM media WHERE session_id = s.id AND source NOT LIKE 'builtin:%' "
            " ORDER BY created, rowid LIMIT 1) AS first_upload, "
            "(SELECT COUNT(*) FROM jobs WHERE user_id = s.user_id AND session_id = s.id "
            " AND render_id NOT LIKE ?) AS renders, "
            "(SELECT CASE WHEN t.size <= ? THEN json_extract(t.text, '$.m.title') END FROM drafts d "
            " JOIN draft_texts t ON t.hash = d.hash WHERE d.session_id = s.id AND d.version = s.version) AS title "
            "FROM sessions s WHERE s.user_id = ? ORDER BY updated DESC, s.rowid DESC LIMIT ?",
            (f"{PREVIEW_PREFIX}%", TITLE_READ_BYTES, user_id, limit))
        return [SessionListing(r["id"], r["task_id"], r["task_name"], float(r["created"]), float(r["updated"]),
                               int(r["uploads"]), int(r["renders"]), r["first_upload"],
                               r["title"] if isinstance(r["title"], str) else None) for r in rows]

    def session_jobs(self, user_id: str, session_id: str, previews: bool = False, limit: int = 100) -> list[JobRow]:
        """The session's newest ``limit`` exports (or previews), newest first."""
        rows = self._db().execute("SELECT * FROM jobs WHERE user_id = ? AND session_id = ? AND render_id "
                                  f"{'' if previews else 'NOT '}LIKE ? ORDER BY created_ms DESC, rowid DESC LIMIT ?",
                                  (user_id, session_id, f"{PREVIEW_PREFIX}%", limit))
        return [_job(r) for r in rows]

    def session_turns(self, session_id: str) -> list[sqlite3.Row]:
        """The session's chat turns, oldest first (id, text, status, reply, created, ended)."""
        return list(self._db().execute("SELECT id, text, status, reply, created, ended FROM turns "
                                       "WHERE session_id = ? ORDER BY created, rowid", (session_id,)))

    def delete_session(self, session_id: str) -> None:
        """Forget the session, its draft versions and its turns. Its uploads and renders stay until retention
        removes them, as for any session (a render still queued may need them), but belong to no session: a
        new session under the same id starts empty."""
        with self._tx(immediate=True) as db:
            db.execute("UPDATE media SET session_id = '' WHERE session_id = ?", (session_id,))
            hashes = {str(r["hash"]) for r in db.execute("SELECT hash FROM drafts WHERE session_id = ?",
                                                          (session_id,))}
            db.execute("DELETE FROM drafts WHERE session_id = ?", (session_id,))
            db.execute("DELETE FROM turns WHERE session_id = ? AND status != 'running'", (session_id,))
            db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
            forget_texts(db, hashes)

    def session(self, session_id: str) -> SessionRow | None:
        row = self._one("SELECT * FROM sessions WHERE id = ?", session_id)
        return _session(row) if row else None

    def save_draft(self, session_id: str, draft: dict[str, Any], note: str = "", parent: int | None = None,
                   text: str | None = None) -> int:
        """Make ``draft`` the session's current draft and return its version: a new version whose history
        says it came from ``parent`` (default: the version it replaces). The current draft saved again
        without a parent is the same version: nothing is stored. ``text``: the draft as compact JSON, when
        the caller has it already."""
        text = compact_json(draft) if text is None else text
        digest = text_hash(text)
        meta = canvas_meta(draft)
        with self._tx(immediate=True) as db:
            row = db.execute("SELECT version FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if row is None:
                raise KeyError(session_id)
            current = int(row["version"])
            if parent is None:
                same = db.execute("SELECT hash FROM drafts WHERE session_id = ? AND version = ?",
                                  (session_id, current)).fetchone()
                if same is not None and same["hash"] == digest:
                    return current
            version = current + 1
            put_text(db, digest, text)
            db.execute("INSERT INTO drafts (session_id, version, parent, hash, note, created, meta) "
                       "VALUES (?,?,?,?,?,?,?)",
                       (session_id, version, current if parent is None else parent, digest, note, time.time(),
                        compact_json(meta)))
            db.execute("UPDATE sessions SET version = ? WHERE id = ?", (version, session_id))
            self._prune_history(db, session_id, version)
            return version

    def _prune_history(self, db: sqlite3.Connection, session_id: str, current: int) -> None:
        """Keep the current version and its ancestors, ``history`` in all; drop every other version."""
        parents = {int(r["version"]): r["parent"] for r in
                   db.execute("SELECT version, parent FROM drafts WHERE session_id = ?", (session_id,))}
        keep: set[int] = set()
        version: int | None = current
        while version is not None and version in parents and len(keep) < self.history:
            keep.add(version)
            parent = parents[version]
            version = None if parent is None or parent < 0 else int(parent)
        dropped = [v for v in parents if v not in keep]
        if not dropped:
            return
        where = f"session_id = ? AND version IN ({','.join('?' * len(dropped))})"
        hashes = {str(r["hash"]) for r in db.execute(f"SELECT hash FROM drafts WHERE {where}", (session_id, *dropped))}
        db.execute(f"DELETE FROM drafts WHERE {where}", (session_id, *dropped))
        forget_texts(db, hashes)

    def draft_head(self, session_id: str) -> DraftHead:
        """The session's current version, its size and ``m``; version 0 (or no session) is the empty draft."""
        row = self._one("SELECT d.version, d.meta, t.size FROM sessions s JOIN drafts d "
                        "ON d.session_id = s.id AND d.version = s.version JOIN draft_texts t ON t.hash = d.hash "
                        "WHERE s.id = ?", session_id)
        if row is None:
            return DraftHead(0, len(EMPTY_DRAFT), {})
        return DraftHead(int(row["version"]), int(row["size"]), json.loads(row["meta"]))

    def draft_text(self, session_id: str) -> tuple[int, dict[str, Any], str]:
        """(version, ``m``, compact JSON text) of the session's current draft, read at one instant."""
        row = self._one("SELECT d.version, d.meta, t.text FROM sessions s JOIN drafts d "
                        "ON d.session_id = s.id AND d.version = s.version JOIN draft_texts t ON t.hash = d.hash "
                        "WHERE s.id = ?", session_id)
        if row is None:
            return 0, {}, EMPTY_DRAFT
        return int(row["version"]), json.loads(row["meta"]), str(row["text"])

    def draft(self, session_id: str) -> dict[str, Any]:
        """The session's current draft ({} before the first save)."""
        parsed: dict[str, Any] = json.loads(self.draft_text(session_id)[2])
        return parsed

    def draft_version(self, session_id: str, version: int) -> tuple[dict[str, Any], int | None, str] | None:
        """(draft, parent version, note) of one kept version; version 0 is the empty draft; None: not kept."""
        if version == 0:
            return {}, None, "empty"
        row = self._one("SELECT d.parent, d.note, t.text FROM drafts d JOIN draft_texts t ON t.hash = d.hash "
                        "WHERE d.session_id = ? AND d.version = ?", session_id, version)
        if row is None:
            return None
        parent = None if row["parent"] is None or row["parent"] < 0 else int(row["parent"])
        return json.loads(row["text"]), parent, row["note"]

    def draft_saved_at(self, session_id: str) -> float:
        row = self._one("SELECT MAX(created) AS at FROM drafts WHERE session_id = ?", session_id)
        return float(row["at"]) if row and row["at"] is not None else 0.0

    def job_spec(self, job: JobRow) -> str:
        """The job's whole RenderJob JSON, its draft put back from the one stored copy."""
        digest = spec_draft_hash(job.spec)
        if digest is None:
            return job.spec
        row = self._one("SELECT text FROM draft_texts WHERE hash = ?", digest)
        if row is None:
            raise KeyError(f"job {job.id}: its draft {digest} is gone")
        return join_spec(job.spec, str(row["text"]))

    def forget_unused_drafts(self) -> int:
        """Delete every draft text no version and no job points at (after jobs are deleted); how many."""
        with self._tx(immediate=True) as db:
            gone = db.execute("DELETE FROM draft_texts WHERE hash NOT IN (SELECT hash FROM drafts) AND hash NOT IN "
                              "(SELECT draft_hash FROM jobs WHERE draft_hash IS NOT NULL)")
            return int(gone.rowcount)

    # ------------------------------------------------------------ media

    def add_media(self, rows: list[MediaRow]) -> None:
        with self._tx() as db:
            db.executemany("INSERT INTO media (id, user_id, session_id, filename, path, file_type, info, size, sha256, "
                           "source, created) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                           [(m.id, m.user_id, m.session_id, m.filename, m.path, m.file_type, json.dumps(m.info),
                             m.size, m.sha256, m.source, m.created) for m in rows])

    def session_media(self, session_id: str) -> list[MediaRow]:
        rows = self._db().execute("SELECT * FROM media WHERE session_id = ? ORDER BY created, rowid", (session_id,))
        return [_media(r) for r in rows]

    def media(self, media_id: str) -> MediaRow | None:
        row = self._one("SELECT * FROM media WHERE id = ?", media_id)
        return _media(row) if row else None

    # ------------------------------------------------------------ render jobs

    def create_job(self, job: JobRow, max_pending: int | None = None) -> tuple[JobRow, bool]:
        """Insert ``job`` and freeze its credits, or return the job its owner already made under the same
        render id. (row, newly made).

        Raises QueueFull when the owner has ``max_pending`` jobs waiting already, and NotEnoughCredits when
        the token cannot pay; either way nothing changes.
        """
        spec, draft_hash, draft_text = split_spec(job.spec)
        with self._tx(immediate=True) as db:
            existing = db.execute("SELECT * FROM jobs WHERE user_id = ? AND render_id = ?",
                                  (job.user_id, job.render_id or job.id)).fetchone()
            if existing is not None:
                return _job(existing), False
            if max_pending is not None:
                pending = _pending(db, job.user_id)
                if pending >= max_pending:
                    raise QueueFull(pending, max_pending)
            _freeze(db, job.token, job.credits)
            if draft_hash is not None and draft_text is not None:
                put_text(db, draft_hash, draft_text)
            db.execute("INSERT INTO jobs (id, user_id, token, session_id, status, progress, format, spec, output_path, "
                       "credits, created_ms, draft_hash, render_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                       (job.id, job.user_id, job.token, job.session_id, job.status, job.progress, job.format, spec,
                        job.output_path, job.credits, job.created_ms, draft_hash, job.render_id or job.id))
        return job, True

    def job(self, key: str) -> JobRow | None:
        """A job by the store's own key."""
        row = self._one("SELECT * FROM jobs WHERE id = ?", key)
        return _job(row) if row else None

    def own_job(self, user_id: str, render_id: str) -> JobRow | None:
        """A job by the id its owner chose: another user's job under the same id is not this one."""
        row = self._one("SELECT * FROM jobs WHERE user_id = ? AND render_id = ?", user_id, render_id)
        return _job(row) if row else None

    def pending_count(self, user_id: str) -> int:
        return _pending(self._db(), user_id)

    def job_counts(self) -> dict[str, int]:
        """Jobs waiting and running, over all users."""
        rows = self._db().execute("SELECT status, COUNT(*) AS n FROM jobs WHERE status IN ('pending', 'processing') "
                                  "GROUP BY status")
        counts = {"pending": 0, "processing": 0}
        counts.update({r["status"]: int(r["n"]) for r in rows})
        return counts

    def render_ids(self, user_id: str, keys: list[str]) -> dict[str, str]:
        """Of these job keys, the ones ``user_id`` owns, with the render id each was given."""
        if not keys:
            return {}
        marks = ",".join("?" * len(keys))
        rows = self._db().execute(f"SELECT id, render_id FROM jobs WHERE user_id = ? AND id IN ({marks})",
                                  (user_id, *keys))
        return {r["id"]: r["render_id"] or r["id"] for r in rows}

    def expire_previews(self, user_id: str, session_id: str, keep: str) -> list[str]:
        """Mark the session's finished previews but ``keep`` as removed (they then answer 410) and return their
        output paths, for the caller to delete: a preview is replaced by the next, and must not fill the quota."""
        with self._tx(immediate=True) as db:
            rows = db.execute("SELECT rowid, output_path FROM jobs WHERE user_id = ? AND session_id = ? AND id != ? "
                              "AND render_id LIKE ? AND status = 'completed' AND output_expired_at IS NULL",
                              (user_id, session_id, keep, f"{PREVIEW_PREFIX}%")).fetchall()
            db.executemany("UPDATE jobs SET output_expired_at = ? WHERE rowid = ?",
                           [(time.time(), r["rowid"]) for r in rows])
        return [str(r["output_path"]) for r in rows]

    def jobs_of(self, keys: list[str]) -> dict[str, JobRow]:
        """The jobs under these store keys (the farm listing's current jobs), by key."""
        if not keys:
            return {}
        rows = self._db().execute(f"SELECT * FROM jobs WHERE id IN ({','.join('?' * len(keys))})", keys)
        return {r["id"]: _job(r) for r in rows}

    def waiting_jobs(self, limit: int) -> list[JobRow]:
        """The ``limit`` jobs waiting longest to start, oldest first (over all users)."""
        rows = self._db().execute("SELECT * FROM jobs WHERE status = 'pending' AND cancel = 0 "
                                  "ORDER BY created_ms, rowid LIMIT ?", (limit,))
        return [_job(r) for r in rows]

    def recent_jobs(self, limit: int, among: int = 500) -> list[JobRow]:
        """The ``limit`` jobs that ended last, newest first (over all users), from the ``among`` made last: a
        bounded read however many jobs the file keeps."""
        rows = self._db().execute("SELECT * FROM (SELECT * FROM jobs ORDER BY rowid DESC LIMIT ?) "
                                  "WHERE status IN ('completed', 'failed') AND completed_ms IS NOT NULL "
                                  "ORDER BY completed_ms DESC LIMIT ?", (among, limit))
        return [_job(r) for r in rows]

    def claim_job(self, max_running: int | None = None) -> JobRow | None:
        """The next pending job, now marked processing (atomically: no two runners get the same one).

        Users take turns: the job comes from the user with the fewest jobs processing, then the one served
        longest ago (or never), then the one waiting longest; it is that user's oldest pending job. A user
        with ``max_running`` jobs processing gets none.
        """
        with self._tx(immediate=True) as db:
            user = db.execute(_NEXT_USER, (max_running if max_running is not None else 1 << 62,)).fetchone()
            if user is None:
                return None
            row = db.execute("SELECT id FROM jobs WHERE user_id = ? AND status = 'pending' AND cancel = 0 "
                             "ORDER BY created_ms LIMIT 1", (user["user_id"],)).fetchone()
            if row is None:
                return None
            db.execute("UPDATE jobs SET status = 'processing', attempts = attempts + 1, started_ms = ?, progress = 0 "
                       "WHERE id = ?", (now_ms(), row["id"]))
            return _job(db.execute("SELECT * FROM jobs WHERE id = ?", (row["id"],)).fetchone())

    def mark_processing(self, job_id: str, attempts: int, progress: int) -> None:
        """A farm worker has it (the board says so): processing, with its tries and progress so far."""
        with self._tx() as db:
            db.execute("UPDATE jobs SET status = 'processing', attempts = ?, progress = ?, "
                       "started_ms = COALESCE(started_ms, ?) WHERE id = ? AND status IN ('pending', 'processing')",
                       (attempts, progress, now_ms(), job_id))

    def set_progress(self, job_id: str, progress: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE jobs SET progress = ? WHERE id = ? AND status = 'processing'", (progress, job_id))

    def complete_job(self, job_id: str, result: dict[str, Any]) -> None:
        """Done: keep the result and take the frozen credits for good."""
        with self._tx(immediate=True) as db:
            job = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if job is None or job["status"] in ("completed", "failed"):
                return                       # settled once, whoever reports it again
            db.execute("UPDATE jobs SET status = 'completed', progress = 100, result = ?, error = NULL, "
                       "completed_ms = ? WHERE id = ?", (json.dumps(result), now_ms(), job_id))
            _webhook_due(db, job_id)
            if job is not None and job["credits"]:
                db.execute("UPDATE tokens SET frozen = frozen - ? WHERE token = ?", (job["credits"], job["token"]))

    def fail_job(self, job_id: str, error: str) -> None:
        """Failed (or cancelled): keep why, and give the frozen credits back."""
        with self._tx(immediate=True) as db:
            job = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if job is None or job["status"] in ("completed", "failed"):
                return
            db.execute("UPDATE jobs SET status = 'failed', error = ?, completed_ms = ? WHERE id = ?",
                       (error, now_ms(), job_id))
            _webhook_due(db, job_id)
            if job["credits"]:
                db.execute("UPDATE tokens SET available = available + ?, frozen = frozen - ? WHERE token = ?",
                           (job["credits"], job["credits"], job["token"]))

    def retry_job(self, job_id: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE jobs SET status = 'pending', progress = 0 WHERE id = ? AND status = 'processing'",
                       (job_id,))

    def request_cancel(self, job_id: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE jobs SET cancel = 1 WHERE id = ?", (job_id,))

    def jobs_in(self, status: str) -> list[JobRow]:
        rows = self._db().execute("SELECT * FROM jobs WHERE status = ? ORDER BY created_ms", (status,))
        return [_job(r) for r in rows]

    # ------------------------------------------------------------ chat turns and their credits

    def start_turn(self, turn_id: str, session_id: str, token: str, text: str, credits: int) -> None:
        """Record a running turn and freeze its price; NotEnoughCredits (and nothing changed) when it cannot."""
        with self._tx(immediate=True) as db:
            _freeze(db, token, credits)
            db.execute("INSERT INTO turns (id, session_id, token, text, status, frozen, created) "
                       "VALUES (?,?,?,?,?,?,?)", (turn_id, session_id, token, text, "running", credits, time.time()))

    def end_turn(self, turn_id: str, spent: int, status: str, reply: str) -> None:
        """Settle a turn: ``spent`` of what it froze is taken, the rest goes back to available."""
        with self._tx(immediate=True) as db:
            row = db.execute("SELECT * FROM turns WHERE id = ? AND status = 'running'", (turn_id,)).fetchone()
            if row is None:
                return
            frozen = int(row["frozen"])
            spent = max(0, min(spent, frozen))
            db.execute("UPDATE tokens SET frozen = frozen - ?, available = available + ? WHERE token = ?",
                       (frozen, frozen - spent, row["token"]))
            db.execute("UPDATE turns SET status = ?, spent = ?, reply = ?, ended = ? WHERE id = ?",
                       (status, spent, reply, time.time(), turn_id))

    def running_turns(self) -> list[str]:
        return [r["id"] for r in self._db().execute("SELECT id FROM turns WHERE status = 'running'")]

    # ------------------------------------------------------------ claim tokens (browser links)

    def create_claim(self, user_id: str, task_id: str, session_id: str, ttl_s: float) -> str:
        claim = f"clm_{secrets.token_urlsafe(24)}"
        with self._tx() as db:
            db.execute("INSERT INTO claims VALUES (?,?,?,?,?)",
                       (claim, user_id, task_id, session_id, time.time() + ttl_s))
        return claim

    def claim(self, claim: str) -> ClaimRow | None:
        """A claim that has not expired (None: unknown or expired; the caller cannot tell which, nor can anyone)."""
        row = self._one("SELECT * FROM claims WHERE claim = ? AND expires > ?", claim, time.time())
        if row is None:
            return None
        return ClaimRow(row["claim"], row["user_id"], row["task_id"], row["session_id"], row["expires"])

    def user_token(self, user_id: str, credits: int, ttl_s: float) -> TokenRow:
        """The user's newest live token; when every one has expired, a new one for the user's client id, as E1
        would issue it after expiry (the same user, fresh credits)."""
        row = self._one("SELECT * FROM tokens WHERE user_id = ? AND expires > ? ORDER BY expires DESC LIMIT 1",
                        user_id, time.time())
        if row is not None:
            return _token(row)
        user = self._one("SELECT client_id FROM users WHERE id = ?", user_id)
        if user is None:
            raise KeyError(user_id)
        return self.issue_token(str(user["client_id"]), credits, ttl_s)[0]

    # ------------------------------------------------------------ retention and quotas
    # An expired upload or output keeps its row, marked with when its file went, so later requests
    # for it are answered 410 rather than 404. Times: media and drafts in seconds, jobs in ms.

    def storage_used(self, user_id: str) -> tuple[int, int]:
        """Bytes the user keeps: (uploads, finished outputs), expired ones not counted."""
        uploads, outputs = self._one(KEPT_UPLOADS, user_id), self._one(KEPT_OUTPUTS, user_id)
        return int(uploads["n"] if uploads else 0), int(outputs["n"] if outputs else 0)

    def media_expired_at(self, media_id: str) -> float | None:
        row = self._one("SELECT expired_at FROM media WHERE id = ?", media_id)
        return float(row["expired_at"]) if row and row["expired_at"] is not None else None

    def job_expired_at(self, job_id: str, user_id: str) -> float | None:
        """When the job's output (or its whole record) was removed by retention; None while it is kept."""
        row = self._one("SELECT COALESCE(output_expired_at, record_expired_at) AS at FROM jobs "
                        "WHERE id = ? AND user_id = ?", job_id, user_id)
        return float(row["at"]) if row and row["at"] is not None else None

    def uploads_before(self, cutoff: float) -> list[tuple[str, str, int]]:
        """(id, path, size) of kept uploads that arrived before ``cutoff``."""
        rows = self._db().execute("SELECT id, path, size FROM media WHERE created < ? AND expired_at IS NULL",
                                  (cutoff,))
        return [(r["id"], r["path"], int(r["size"])) for r in rows]

    def outputs_before(self, cutoff_ms: int) -> list[tuple[int, str, str]]:
        """(rowid, job id, output path) of kept outputs of renders that ended before ``cutoff_ms``."""
        rows = self._db().execute("SELECT rowid, id, output_path FROM jobs WHERE status = 'completed' "
                                  "AND completed_ms < ? AND output_expired_at IS NULL", (cutoff_ms,))
        return [(int(r["rowid"]), r["id"], r["output_path"]) for r in rows]

    def jobs_before(self, cutoff_ms: int) -> list[tuple[int, str, str, int]]:
        """(rowid, job id, output path, bytes of its spec) of untrimmed jobs that ended before ``cutoff_ms``."""
        rows = self._db().execute("SELECT rowid, id, output_path, LENGTH(CAST(spec AS BLOB)) AS n FROM jobs "
                                  "WHERE status IN ('completed', 'failed') AND completed_ms < ? "
                                  "AND record_expired_at IS NULL", (cutoff_ms,))
        return [(int(r["rowid"]), r["id"], r["output_path"], int(r["n"])) for r in rows]

    def drafts_before(self, cutoff: float) -> list[tuple[str, int, int]]:
        """(session id, version, bytes) of history versions saved before ``cutoff``; never a session's current one."""
        rows = self._db().execute("SELECT d.session_id, d.version, COALESCE(t.size, 0) AS n FROM drafts d "
                                  "JOIN sessions s ON s.id = d.session_id LEFT JOIN draft_texts t ON t.hash = d.hash "
                                  "WHERE d.created < ? AND d.version <> s.version", (cutoff,))
        return [(r["session_id"], int(r["version"]), int(r["n"])) for r in rows]

    def live_jobs(self) -> list[tuple[str, str | None]]:
        """(job id, scratch folder) of every job not yet ended, as its RenderJob names them."""
        rows = self._db().execute("SELECT json_extract(spec, '$.job_id') AS job, "
                                  "json_extract(spec, '$.config.work_dir') AS work FROM jobs "
                                  "WHERE status NOT IN ('completed', 'failed')")
        return [(str(r["job"]), r["work"]) for r in rows if r["job"] is not None]

    def expire_uploads(self, ids: list[str], at: float) -> None:
        with self._tx() as db:
            db.executemany("UPDATE media SET expired_at = ? WHERE id = ? AND expired_at IS NULL",
                           [(at, i) for i in ids])

    def expire_outputs(self, rowids: list[int], at: float) -> None:
        with self._tx() as db:
            db.executemany("UPDATE jobs SET output_expired_at = ? WHERE rowid = ? AND output_expired_at IS NULL",
                           [(at, i) for i in rowids])

    def expire_jobs(self, rowids: list[int], at: float) -> None:
        """Trim ended jobs to their record: the RenderJob (and the draft copy in it) goes, and so does the output."""
        with self._tx() as db:
            db.executemany("UPDATE jobs SET spec = '{}', draft_hash = NULL, record_expired_at = ?, "
                           "output_expired_at = COALESCE(output_expired_at, ?) "
                           "WHERE rowid = ? AND status IN ('completed', 'failed') AND record_expired_at IS NULL",
                           [(at, at, i) for i in rowids])
            for table in ("webhook_attempts", "webhooks"):      # a trimmed job's delivery ended long ago
                db.executemany(f"DELETE FROM {table} WHERE job_id = (SELECT id FROM jobs WHERE rowid = ? "
                               "AND record_expired_at IS NOT NULL)", [(i,) for i in rowids])

    def delete_drafts(self, keys: list[tuple[str, int]]) -> None:
        with self._tx() as db:
            db.executemany("DELETE FROM drafts WHERE session_id = ? AND version = ? "
                           "AND version <> (SELECT version FROM sessions WHERE id = ?)",
                           [(sid, version, sid) for sid, version in keys])
        self.forget_unused_drafts()

    # ------------------------------------------------------------ webhook deliveries (api/webhooks.py)
    # Made due in the same transaction that ends the job (complete_job, fail_job: the one place the embedded
    # runner and the farm share), so a job's end and its delivery are never recorded apart.

    def add_webhook(self, job_id: str, url: str, base: str, delivery_id: str) -> None:
        """Deliver the job's end to ``url`` (once per job: a repeat changes nothing); due at once if it has ended."""
        with self._tx(immediate=True) as db:
            job = db.execute("SELECT status, completed_ms FROM jobs WHERE id = ?", (job_id,)).fetchone()
            ended = job is not None and job["status"] in ("completed", "failed")
            db.execute("INSERT OR IGNORE INTO webhooks (job_id, url, base, delivery_id, state, ended_ms, next_at, "
                       "created) VALUES (?,?,?,?,?,?,?,?)",
                       (job_id, url, base, delivery_id, "pending" if ended else "waiting",
                        job["completed_ms"] if ended else None, time.time() if ended else None, time.time()))

    def webhook(self, job_id: str) -> sqlite3.Row | None:
        return self._one("SELECT * FROM webhooks WHERE job_id = ?", job_id)

    def webhook_attempts(self, job_id: str, last: int) -> tuple[int, list[sqlite3.Row]]:
        """(how many attempts, the ``last`` ones, oldest first)."""
        count = self._one("SELECT COUNT(*) AS n FROM webhook_attempts WHERE job_id = ?", job_id)
        rows = self._db().execute("SELECT * FROM (SELECT rowid AS n, * FROM webhook_attempts WHERE job_id = ? "
                                  "ORDER BY rowid DESC LIMIT ?) ORDER BY n", (job_id, last))
        return int(count["n"] if count else 0), list(rows)

    def due_webhooks(self, now: float, limit: int) -> list[str]:
        """Job ids whose delivery is due and that no sender holds."""
        rows = self._db().execute("SELECT job_id FROM webhooks WHERE state = 'pending' AND next_at <= ? "
                                  "AND COALESCE(lease_until, 0) < ? ORDER BY next_at LIMIT ?", (now, now, limit))
        return [r["job_id"] for r in rows]

    def claim_webhook(self, job_id: str, now: float, lease_until: float) -> sqlite3.Row | None:
        """The delivery, held until ``lease_until`` by the caller alone (no two senders, in any process); None: not
        due, or held by another."""
        with self._tx(immediate=True) as db:
            claimed = db.execute("UPDATE webhooks SET lease_until = ? WHERE job_id = ? AND state = 'pending' "
                                 "AND next_at <= ? AND COALESCE(lease_until, 0) < ?",
                                 (lease_until, job_id, now, now))
            if claimed.rowcount != 1:
                return None
            row: sqlite3.Row = db.execute("SELECT * FROM webhooks WHERE job_id = ?", (job_id,)).fetchone()
            return row

    def set_webhook_body(self, job_id: str, event: str, body: str) -> None:
        """What every attempt of this delivery sends, fixed at its first."""
        with self._tx() as db:
            db.execute("UPDATE webhooks SET event = ?, body = ? WHERE job_id = ?", (event, body, job_id))

    def record_webhook_attempt(self, job_id: str, at_ms: int, duration_ms: int, status: int | None,
                               error: str | None, response: str | None, state: str, next_at: float | None) -> None:
        """One attempt, and where the delivery stands after it (pending again at ``next_at``, delivered, failed);
        the lease ends, and a settled delivery's body goes."""
        with self._tx(immediate=True) as db:
            db.execute("INSERT INTO webhook_attempts (job_id, at_ms, duration_ms, status, error, response) "
                       "VALUES (?,?,?,?,?,?)", (job_id, at_ms, duration_ms, status, error, response))
            db.execute("UPDATE webhooks SET state = ?, next_at = ?, lease_until = NULL, "
                       "body = CASE WHEN ? = 'pending' THEN body END WHERE job_id = ?",
                       (state, next_at, state, job_id))


def _webhook_due(db: sqlite3.Connection, job_id: str) -> None:
    """Inside the transaction that ends a job: its delivery, if it has one, is due now."""
    db.execute("UPDATE webhooks SET state = 'pending', next_at = ?, ended_ms = ? "
               "WHERE job_id = ? AND state = 'waiting'", (time.time(), now_ms(), job_id))


# When anything in the session ``s`` last changed (epoch seconds): created, a draft saved, a file added, a turn run.
_UPDATED_AT = ("MAX(COALESCE((SELECT MAX(created) FROM drafts WHERE session_id = s.id), 0), "
               "COALESCE((SELECT MAX(created) FROM media WHERE session_id = s.id), 0), "
               "COALESCE((SELECT MAX(COALESCE(ended, created)) FROM turns WHERE session_id = s.id), 0), s.created)")

# The storage quota's reads, on every upload (and every export under a quota). Their WHERE clauses say
# what the partial indexes media_kept and jobs_kept_outputs say (migration step 2): keep them so.
KEPT_UPLOADS = "SELECT COALESCE(SUM(size), 0) AS n FROM media WHERE user_id = ? AND expired_at IS NULL"
KEPT_OUTPUTS = ("SELECT COALESCE(SUM(json_extract(result, '$.size_bytes')), 0) AS n FROM jobs "
                "WHERE user_id = ? AND status = 'completed' AND output_expired_at IS NULL")

_NEXT_USER = """
WITH waiting AS (
  SELECT user_id, MIN(created_ms) AS first_ms FROM jobs WHERE status = 'pending' AND cancel = 0 GROUP BY user_id),
turns AS (
  SELECT w.user_id, w.first_ms,
    (SELECT COUNT(*) FROM jobs r WHERE r.user_id = w.user_id AND r.status = 'processing') AS running,
    (SELECT MAX(s.started_ms) FROM jobs s WHERE s.user_id = w.user_id) AS served
  FROM waiting w)
SELECT user_id FROM turns WHERE running < ? ORDER BY running, COALESCE(served, 0), first_ms LIMIT 1
"""


def _use_wal(db: sqlite3.Connection, wait_s: float = 30) -> None:
    """WAL mode (kept in the file). Setting it is the connection's first use of the file, and can be
    refused as locked without SQLite's busy wait while another process opens or closes the same file
    (seen with processes starting together), so it is tried again for up to ``wait_s``."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _pending(db: sqlite3.Connection, user_id: str) -> int:
    row = db.execute("SELECT COUNT(*) AS n FROM jobs WHERE user_id = ? AND status = 'pending'", (user_id,)).fetchone()
    return int(row["n"])


def _freeze(db: sqlite3.Connection, token: str, credits: int) -> None:
    """Inside a transaction: move ``credits`` from available to frozen, or raise NotEnoughCredits (the caller's
    transaction then rolls back, so nothing changes). Never lets a balance go negative, also under concurrency."""
    if not credits:
        return
    paid = db.execute("UPDATE tokens SET available = available - ?, frozen = frozen + ? "
                      "WHERE token = ? AND available >= ?", (credits, credits, token, credits))
    if paid.rowcount != 1:
        row = db.execute("SELECT available FROM tokens WHERE token = ?", (token,)).fetchone()
        raise NotEnoughCredits(int(row["available"]) if row else 0, credits)


def _token(r: sqlite3.Row) -> TokenRow:
    return TokenRow(r["token"], r["user_id"], bool(r["anonymous"]), r["available"], r["frozen"], r["expires"],
                    r["issued_ip"])


def _session(r: sqlite3.Row) -> SessionRow:
    return SessionRow(r["id"], r["task_id"], r["user_id"], r["task_name"], r["language"], r["version"])


def _media(r: sqlite3.Row) -> MediaRow:
    return MediaRow(r["id"], r["user_id"], r["session_id"], r["filename"], r["path"], r["file_type"],
                    json.loads(r["info"]), r["size"], r["sha256"], r["source"], r["created"])


def _job(r: sqlite3.Row) -> JobRow:
    return JobRow(r["id"], r["user_id"], r["token"], r["session_id"], r["status"], r["progress"], r["format"],
                  r["spec"], r["output_path"], json.loads(r["result"]) if r["result"] else None, r["error"],
                  r["attempts"], bool(r["cancel"]), r["credits"], r["created_ms"], r["started_ms"], r["completed_ms"],
                  r["render_id"] or r["id"])
