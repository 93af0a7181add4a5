"""The SQLite schema's version, and the numbered steps that bring any data directory up to it.

``PRAGMA user_version`` (an integer in the file's header) is the version of the schema the database
has. Step N takes a database from version N-1 to N; :func:`migrate` runs the missing ones when a
:class:`~api.store.Store` opens the file, in order, each in its own ``BEGIN IMMEDIATE`` transaction
that re-reads the version first. So a step either happens whole, with the version it reaches, or
not at all (a failed step rolls back and the file stays at the version before it), and two processes
starting together never run a step twice: the second waits for the first's write lock, then finds
the step done.

Version 0 is either a new, empty file or a data directory from before versions existed (release
0fe6eeb and older: it has reelforge's tables). Both go through every step from step 1, which is the
schema as that release made it, upgrades of older layouts included; a new database is not given the
latest schema by a separate script. One path for both means there is one definition of the schema
(the steps), nothing to keep in step with them, and every store a test opens runs every step.

A database with a version above :data:`LATEST` was written by a newer reelforge: it is refused
(:class:`SchemaTooNew`), never downgraded.

To change the schema: append a step (a function taking the connection, inside the transaction; its
docstring's first line is what the log says) to :data:`STEPS`. Never edit a step that a release has
shipped; never use ``executescript`` in a step (it commits).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from typing import Final

from api.draft_texts import EMPTY_DRAFT, canvas_meta, compact_json, put_text, split_spec, text_hash

log = logging.getLogger("reelforge.store")

Step = Callable[[sqlite3.Connection], None]

# The tables and indexes release 0fe6eeb created at start (before its upgrades of older layouts, in
# step 1). Frozen: a later change is a new step, not an edit here. Statements are split on ";".
BASELINE_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS users (
  id TEXT PRIMARY KEY, client_id TEXT UNIQUE, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
  token TEXT PRIMARY KEY, user_id TEXT NOT NULL, client_id TEXT, anonymous INTEGER NOT NULL,
  available INTEGER NOT NULL, frozen INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL, expires REAL NOT NULL,
  issued_ip TEXT);
CREATE INDEX IF NOT EXISTS tokens_by_client ON tokens (client_id, expires);
CREATE TABLE IF NOT EXISTS sessions (
  id TEXT PRIMARY KEY, task_id TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL, task_name TEXT NOT NULL,
  language TEXT NOT NULL, created REAL NOT NULL, version INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_id, created);
CREATE TABLE IF NOT EXISTS media (
  id TEXT PRIMARY KEY, user_id TEXT NOT NULL, session_id TEXT NOT NULL, filename TEXT NOT NULL, path TEXT NOT NULL,
  file_type TEXT NOT NULL, info TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL, source TEXT NOT NULL,
  created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS media_by_session ON media (session_id, created);
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY, user_id TEXT NOT NULL, token TEXT NOT NULL, session_id TEXT NOT NULL, status TEXT NOT NULL,
  progress INTEGER NOT NULL DEFAULT 0, format TEXT NOT NULL, spec TEXT NOT NULL, output_path TEXT NOT NULL,
  result TEXT, error TEXT, attempts INTEGER NOT NULL DEFAULT 0, cancel INTEGER NOT NULL DEFAULT 0,
  credits INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL, started_ms INTEGER, completed_ms INTEGER,
  render_id TEXT);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, created_ms);
CREATE TABLE IF NOT EXISTS drafts (
  session_id TEXT NOT NULL, version INTEGER NOT NULL, parent INTEGER, hash TEXT NOT NULL, note TEXT NOT NULL,
  created REAL NOT NULL, meta TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (session_id, version));
CREATE TABLE IF NOT EXISTS draft_texts (
  hash TEXT PRIMARY KEY, text TEXT NOT NULL, size INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS turns (
  id TEXT PRIMARY KEY, session_id TEXT NOT NULL, token TEXT NOT NULL, text TEXT NOT NULL, status TEXT NOT NULL,
  frozen INTEGER NOT NULL, spent INTEGER NOT NULL DEFAULT 0, reply TEXT, created REAL NOT NULL, ended REAL);
CREATE INDEX IF NOT EXISTS turns_by_status ON turns (status);
CREATE INDEX IF NOT EXISTS turns_by_session ON turns (session_id, created);
CREATE TABLE IF NOT EXISTS claims (
  claim TEXT PRIMARY KEY, user_id TEXT NOT NULL, task_id TEXT NOT NULL, session_id TEXT NOT NULL,
  expires REAL NOT NULL);
"""

# reelforge's tables in a version-0 file: any of them and it is a data directory from before versions.
RELEASE_TABLES: Final = frozenset({"users", "tokens", "sessions", "media", "jobs", "drafts", "draft_texts", "turns",
                                   "claims"})


class SchemaError(Exception):
    """The database cannot be used by this reelforge; nothing in it was changed."""


class SchemaTooNew(SchemaError):
    """The database was written by a newer reelforge than this one (its version is above LATEST)."""

    def __init__(self, where: str, version: int, latest: int) -> None:
        super().__init__(f"{where} has schema version {version}, but this reelforge knows versions up to {latest}: "
                         "it was written by a newer reelforge. Run that release (or a later one) on it, or restore a "
                         "backup made before the upgrade; reelforge never downgrades a database.")
        self.version, self.latest = version, latest


class NotReelforge(SchemaError):
    """A file without a schema version whose tables are none of reelforge's."""

    def __init__(self, where: str, tables: set[str]) -> None:
        super().__init__(f"{where} is not a reelforge database (no schema version, and its tables "
                         f"{', '.join(sorted(tables)[:5])} are not reelforge's); point REELFORGE_DATA_DIR at a "
                         "reelforge data directory or an empty one.")


# ---------------------------------------------------------------- the steps


def step_1_baseline(db: sqlite3.Connection) -> None:
    """the schema of release 0fe6eeb, older layouts brought up to it"""
    for statement in BASELINE_SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)
    _drafts_stored_once(db)
    for table, column, kind in (("tokens", "issued_ip", "TEXT"), ("jobs", "render_id", "TEXT"),
                                ("media", "expired_at", "REAL"), ("jobs", "output_expired_at", "REAL"),
                                ("jobs", "record_expired_at", "REAL")):
        if column not in _columns(db, table):
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
    db.execute("UPDATE jobs SET render_id = id WHERE render_id IS NULL")
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS jobs_by_owner ON jobs (user_id, render_id)")
    # A database made between the retention columns and owner-scoped render ids has jobs_by_user on
    # (user_id, status) only: claim_job's per-user "oldest pending" then sorts; make it the release's.
    if _index_columns(db, "jobs_by_user") not in ([], ["user_id", "status", "created_ms"]):
        db.execute("DROP INDEX jobs_by_user")
    db.execute("CREATE INDEX IF NOT EXISTS jobs_by_user ON jobs (user_id, status, created_ms)")
    db.execute("CREATE INDEX IF NOT EXISTS jobs_served ON jobs (user_id, started_ms)")
    db.execute("CREATE INDEX IF NOT EXISTS media_by_user ON media (user_id)")


def step_2_kept_files(db: sqlite3.Connection) -> None:
    """indexes of the files each user keeps, for the storage quota read on every upload and export"""
    # Store.storage_used sums the user's kept uploads and outputs. Through media_by_user and jobs_by_user
    # it read every upload and every completed job the user ever had, expired ones included (their rows
    # stay, for 410 answers), so it grew for as long as the server ran. These partial indexes hold only
    # what is kept (what retention has not yet removed); the planner uses them because the query's WHERE
    # says what theirs says. tests/test_migrations.py checks that with EXPLAIN QUERY PLAN.
    db.execute("CREATE INDEX IF NOT EXISTS jobs_kept_outputs ON jobs (user_id, status) "
               "WHERE status = 'completed' AND output_expired_at IS NULL")
    db.execute("CREATE INDEX IF NOT EXISTS media_kept ON media (user_id) WHERE expired_at IS NULL")


def step_3_webhooks(db: sqlite3.Connection) -> None:
    """webhook deliveries (api/webhooks.py): one row per export that carries a callback URL, and its attempts"""
    # state: waiting (the job has not ended) -> pending (due at next_at) -> delivered | failed (gave up)
    db.execute("CREATE TABLE IF NOT EXISTS webhooks (job_id TEXT PRIMARY KEY, url TEXT NOT NULL, base TEXT NOT NULL, "
               "delivery_id TEXT NOT NULL, state TEXT NOT NULL, event TEXT, body TEXT, ended_ms INTEGER, "
               "next_at REAL, lease_until REAL, created REAL NOT NULL)")
    db.execute("CREATE INDEX IF NOT EXISTS webhooks_due ON webhooks (state, next_at)")
    db.execute("CREATE TABLE IF NOT EXISTS webhook_attempts (job_id TEXT NOT NULL, at_ms INTEGER NOT NULL, "
               "duration_ms INTEGER NOT NULL, status INTEGER, error TEXT, response TEXT)")
    db.execute("CREATE INDEX IF NOT EXISTS webhook_attempts_by_job ON webhook_attempts (job_id, at_ms)")


STEPS: Final[tuple[Step, ...]] = (step_1_baseline, step_2_kept_files, step_3_webhooks)
LATEST: Final = len(STEPS)


# ---------------------------------------------------------------- running them


def version_of(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: sqlite3.Connection, where: str = "the database", steps: tuple[Step, ...] = STEPS) -> list[int]:
    """Bring the database up to the last of ``steps`` (LATEST) and return the steps this call ran (none:
    it was current, or another process ran them). ``db`` must be in autocommit mode
    (``isolation_level=None``); ``where`` names the file in messages. Raises SchemaTooNew or
    NotReelforge, having changed nothing."""
    if db.isolation_level is not None or db.in_transaction:
        raise ValueError("migrate needs a connection in autocommit mode (isolation_level=None), outside a transaction")
    found = version_of(db)
    if found == len(steps):
        return []           # the usual start: one read, no write lock
    if found > len(steps):
        raise SchemaTooNew(where, found, len(steps))
    return upgrade(db, where, steps)


def upgrade(db: sqlite3.Connection, where: str = "the database", steps: tuple[Step, ...] = STEPS) -> list[int]:
    """The steps from whatever version the file has when each transaction starts (not what a caller
    read before: another process may have moved it on since), each step in its own transaction."""
    ran: list[int] = []
    latest = len(steps)
    while True:
        db.execute("BEGIN IMMEDIATE")
        try:
            version = version_of(db)
            if version > latest:
                raise SchemaTooNew(where, version, latest)
            if version == latest:
                db.execute("COMMIT")
                return ran
            if version == 0:
                _say_what_it_is(db, where, latest)
            step = steps[version]
            step(db)
            db.execute(f"PRAGMA user_version = {version + 1}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        ran.append(version + 1)
        log.info("%s: schema version %d -> %d (%s)", where, version, version + 1, _summary(step))


def _say_what_it_is(db: sqlite3.Connection, where: str, latest: int) -> None:
    tables = {str(r[0]) for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                            "AND name NOT LIKE 'sqlite_%'")}
    if not tables:
        log.info("%s: a new database; creating schema version %d", where, latest)
    elif tables & RELEASE_TABLES:
        log.info("%s: a database from before schema versions (release 0fe6eeb or older); upgrading it to "
                 "version %d", where, latest)
    else:
        raise NotReelforge(where, tables)


def _summary(step: Step) -> str:
    return (step.__doc__ or step.__name__).strip().splitlines()[0]


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {str(r[1]) for r in db.execute(f"PRAGMA table_info({table})")}


def _index_columns(db: sqlite3.Connection, index: str) -> list[str]:
    return [str(r[2]) for r in db.execute(f"PRAGMA index_info({index})")]


# ---------------------------------------------------------------- older layouts, for step 1


def _drafts_stored_once(db: sqlite3.Connection) -> None:
    """A data directory written before drafts were stored once: each session's current draft
    (sessions.draft) and every saved version move into draft_texts, and job specs keep only their
    draft's hash. Does nothing on a later one."""
    if "draft" in _columns(db, "drafts"):
        db.execute("ALTER TABLE drafts RENAME TO drafts_old")
        db.execute("CREATE TABLE drafts (session_id TEXT NOT NULL, version INTEGER NOT NULL, parent INTEGER, "
                   "hash TEXT NOT NULL, note TEXT NOT NULL, created REAL NOT NULL, meta TEXT NOT NULL DEFAULT '{}', "
                   "PRIMARY KEY (session_id, version))")
        for row in db.execute("SELECT session_id, version, parent, draft, note, created FROM drafts_old").fetchall():
            _old_version(db, *row)
        db.execute("DROP TABLE drafts_old")
    if "draft" in _columns(db, "sessions"):
        for sid, version, draft, created in db.execute("SELECT id, version, draft, created FROM sessions").fetchall():
            kept = db.execute("SELECT 1 FROM drafts WHERE session_id = ? AND version = ?", (sid, version)).fetchone()
            if kept is None and (version > 0 or draft not in ("", EMPTY_DRAFT)):
                version = max(1, int(version))
                _old_version(db, sid, version, None, draft, "kept from the session", created)
                db.execute("UPDATE sessions SET version = ? WHERE id = ?", (version, sid))
        db.execute("ALTER TABLE sessions RENAME TO sessions_old")
        db.execute("CREATE TABLE sessions (id TEXT PRIMARY KEY, task_id TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL, "
                   "task_name TEXT NOT NULL, language TEXT NOT NULL, created REAL NOT NULL, "
                   "version INTEGER NOT NULL DEFAULT 0)")
        db.execute("INSERT INTO sessions SELECT id, task_id, user_id, task_name, language, created, version "
                   "FROM sessions_old")
        db.execute("DROP TABLE sessions_old")
        db.execute("CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_id, created)")
    if "draft_hash" not in _columns(db, "jobs"):
        db.execute("ALTER TABLE jobs ADD COLUMN draft_hash TEXT")
        for job_id, stored in db.execute("SELECT id, spec FROM jobs").fetchall():
            spec, digest, text = split_spec(stored)
            if digest is not None and text is not None:
                put_text(db, digest, text)
                db.execute("UPDATE jobs SET spec = ?, draft_hash = ? WHERE id = ?", (spec, digest, job_id))
    db.execute("CREATE INDEX IF NOT EXISTS drafts_by_hash ON drafts (hash)")
    db.execute("CREATE INDEX IF NOT EXISTS jobs_by_draft ON jobs (draft_hash)")


def _old_version(db: sqlite3.Connection, session_id: str, version: int, parent: int | None, text: str, note: str,
                 created: float) -> None:
    draft = json.loads(text or EMPTY_DRAFT)
    text = compact_json(draft)
    digest = text_hash(text)
    meta = canvas_meta(draft) if isinstance(draft, dict) else {}
    put_text(db, digest, text)
    db.execute("INSERT OR REPLACE INTO drafts (session_id, version, parent, hash, note, created, meta) "
               "VALUES (?,?,?,?,?,?,?)", (session_id, version, parent, digest, note, created, compact_json(meta)))
