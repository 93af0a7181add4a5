"""Schema versions: a data directory made by the release before them (tests/data/release-0fe6eeb.sqlite,
made by tests/data/make_release_db.py with that release) is upgraded in place at start, keeps every
row and is served by the API; a new one gets the latest schema; a newer one is refused; and neither a
second start nor two processes starting together run a step twice."""

from __future__ import annotations

import multiprocessing
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.migrations import (
    LATEST,
    STEPS,
    NotReelforge,
    SchemaTooNew,
    migrate,
    step_1_baseline,
    upgrade,
    version_of,
)
from api.store import KEPT_OUTPUTS, KEPT_UPLOADS, Store
from tests.apiserver import SKILL_HEADERS, Server

RELEASE_DB = Path(__file__).parent / "data" / "release-0fe6eeb.sqlite"
ALL_STEPS = list(range(1, LATEST + 1))


def _release_copy(folder: Path, name: str = "reelforge.db") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    shutil.copy(RELEASE_DB, path)
    return path


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def _rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order."""
    with _connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        rows = {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}
    db.close()
    return rows


def _schema(path: Path) -> list[tuple[str, str, str | None]]:
    """The tables and indexes, as SQLite keeps their definitions."""
    with _connect(path) as db:
        found = db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").fetchall()
    db.close()
    return found


def _version(path: Path) -> int:
    with _connect(path) as db:
        found = version_of(db)
    db.close()
    return found


def _release_ids(path: Path) -> dict[str, str]:
    with _connect(path) as db:
        token, user = db.execute("SELECT token, user_id FROM tokens").fetchone()
        [session] = db.execute("SELECT id FROM sessions").fetchone()
        [render_id] = db.execute("SELECT render_id FROM jobs").fetchone()
    db.close()
    return {"token": token, "user": user, "session": session, "render_id": render_id}


# ---------------------------------------------------------------- the release's data directory


def test_the_fixture_is_the_release_schema_without_a_version() -> None:
    rows = _rows(RELEASE_DB)
    assert _version(RELEASE_DB) == 0
    assert {t: len(r) for t, r in rows.items()} == {"claims": 0, "draft_texts": 4, "drafts": 3, "jobs": 1, "media": 1,
                                                   "sessions": 1, "tokens": 1, "turns": 1, "users": 1}


def test_the_release_database_is_upgraded_with_every_row_kept(tmp_path: Path) -> None:
    path = _release_copy(tmp_path)
    before = _rows(path)
    store = Store(path)
    assert store.migrated == ALL_STEPS and _version(path) == LATEST
    after = _rows(path)
    assert {t: r for t, r in after.items() if t in before} == before          # every release row, unchanged
    assert all(not after[t] for t in set(after) - set(before))               # tables of later steps start empty
    ids = _release_ids(path)
    token = store.token(ids["token"])
    assert token is not None and token.user_id == ids["user"] and token.available == 97
    job = store.own_job(ids["user"], ids["render_id"])
    assert job is not None and job.status == "completed" and job.result is not None
    assert '"draft":{"m"' in store.job_spec(job)                   # its draft put back from draft_texts
    assert store.session(ids["session"]) is not None and store.draft_head(ids["session"]).version == 3
    assert [t["status"] for t in store.session_turns(ids["session"])] == ["done"]
    assert [m.filename for m in store.session_media(ids["session"])] == ["clip.mp4"]
    assert store.storage_used(ids["user"]) == (2392, 3253)


def test_step_1_is_the_release_schema(tmp_path: Path) -> None:
    """Step 1 makes a new file exactly what the release made, and changes nothing in the release's file."""
    new, release = tmp_path / "new.db", _release_copy(tmp_path)
    for path in (new, release):
        with _connect(path) as db:
            assert migrate(db, str(path), STEPS[:1]) == [1]
        db.close()
    assert _schema(new) == _schema(release) == _schema(RELEASE_DB)


def test_an_upgraded_database_has_the_schema_of_a_new_one(tmp_path: Path) -> None:
    upgraded, new = _release_copy(tmp_path / "old"), tmp_path / "new" / "reelforge.db"
    Store(upgraded)
    Store(new)
    assert _schema(upgraded) == _schema(new)


def test_the_api_serves_the_release_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    path = _release_copy(data)
    ids = _release_ids(path)
    headers = {**SKILL_HEADERS, "Authorization": f"Bearer {ids['token']}"}
    with Server(data) as server:
        status = httpx.get(f"{server.base}/api/render/proxy/lambda/{ids['render_id']}", headers=headers).json()
        state = httpx.get(f"{server.base}/api/state/nemo_agent/me/{ids['session']}/latest", headers=headers).json()
        assert _version(path) == LATEST                              # upgraded at start
    log = (tmp_path / "data-server.log").read_text()
    assert f"reelforge serve: {path}: schema version {LATEST} (ran step {', '.join(map(str, ALL_STEPS))})" in log
    assert (status["status"], status["render_id"], status["output"]["size"]) == ("completed", ids["render_id"], 3253)
    assert "/render-result/" in status["output"]["url"]
    assert state["code"] == 0 and state["data"]["draft_version"] == 3, state
    assert state["data"]["state"]["draft"]["m"]["width"] == 160


# ---------------------------------------------------------------- new, newer, foreign


def test_a_new_data_directory_gets_the_latest_schema(tmp_path: Path) -> None:
    path = tmp_path / "data" / "reelforge.db"
    store = Store(path)
    assert store.migrated == ALL_STEPS and _version(path) == LATEST
    assert {"users", "tokens", "sessions", "media", "jobs", "drafts", "draft_texts", "turns", "claims"} <= set(
        _rows(path))


def test_a_database_from_a_newer_reelforge_is_refused(tmp_path: Path) -> None:
    path = _release_copy(tmp_path)
    Store(path)
    with _connect(path) as db:
        db.execute(f"PRAGMA user_version = {LATEST + 1}")
    db.close()
    schema, rows = _schema(path), _rows(path)
    with pytest.raises(SchemaTooNew) as refused:
        Store(path)
    assert str(refused.value) == (f"{path} has schema version {LATEST + 1}, but this reelforge knows versions up to "
                                  f"{LATEST}: it was written by a newer reelforge. Run that release (or a later one) "
                                  "on it, or restore a backup made before the upgrade; reelforge never downgrades a "
                                  "database.")
    assert (_version(path), _schema(path), _rows(path)) == (LATEST + 1, schema, rows)      # left as it was


def test_the_server_does_not_start_on_a_database_from_a_newer_reelforge(tmp_path: Path) -> None:
    data = tmp_path / "data"
    path = _release_copy(data)
    with _connect(path) as db:
        db.execute(f"PRAGMA user_version = {LATEST + 7}")
    db.close()
    with pytest.raises(RuntimeError, match="reelforge serve exited with 2"):
        Server(data).start()
    log = (tmp_path / "data-server.log").read_text()
    assert log.startswith(f"reelforge serve: {path} has schema version {LATEST + 7}, but this reelforge knows "
                          f"versions up to {LATEST}: it was written by a newer reelforge."), log
    assert "Traceback" not in log
    assert _version(path) == LATEST + 7


def test_a_database_of_another_program_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "reelforge.db"
    with _connect(path) as db:
        db.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
    db.close()
    with pytest.raises(NotReelforge, match="is not a reelforge database"):
        Store(path)
    assert [r[1] for r in _schema(path)] == ["photos"] and _version(path) == 0


# ---------------------------------------------------------------- twice, failing, racing


def test_migrating_twice_changes_nothing(tmp_path: Path) -> None:
    path = _release_copy(tmp_path)
    Store(path)
    schema, rows = _schema(path), _rows(path)
    assert Store(path).migrated == []
    with _connect(path) as db:
        # What a process does after reading an older version outside the transaction while another one
        # was migrating: it re-reads the version under the write lock and runs nothing.
        assert upgrade(db, str(path)) == []
    db.close()
    assert (_version(path), _schema(path), _rows(path)) == (LATEST, schema, rows)


def test_a_step_that_fails_rolls_back_and_keeps_the_version_before_it(tmp_path: Path) -> None:
    path = _release_copy(tmp_path)

    def half_done(db: sqlite3.Connection) -> None:
        """a step that fails half way"""
        db.execute("ALTER TABLE jobs ADD COLUMN half_done TEXT")
        db.execute("UPDATE jobs SET half_done = 'x'")
        raise sqlite3.OperationalError("disk I/O error")

    with _connect(path) as db:
        with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
            migrate(db, str(path), (step_1_baseline, half_done))
        assert not db.in_transaction
    db.close()
    assert _version(path) == 1
    with _connect(path) as db:
        assert "half_done" not in {r[1] for r in db.execute("PRAGMA table_info(jobs)")}
    db.close()
    assert Store(path).migrated == ALL_STEPS[1:] and _version(path) == LATEST       # the next start goes on


def _open_at_once(path: str, start: Any) -> list[int] | str:
    start.wait(30)
    try:
        return Store(Path(path)).migrated
    except Exception as exc:  # noqa: BLE001 - reported back to the test
        return f"{type(exc).__name__}: {exc}"


@pytest.mark.parametrize("kind", ["new", "release"])
def test_processes_starting_together_run_each_step_once(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "reelforge.db" if kind == "new" else _release_copy(tmp_path)
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        start = manager.Event()
        with context.Pool(4) as pool:
            results = [pool.apply_async(_open_at_once, (str(path), start)) for _ in range(4)]
            start.set()
            ran = [r.get(60) for r in results]
    assert not [r for r in ran if isinstance(r, str)], ran
    assert sorted(step for steps in ran for step in steps) == ALL_STEPS          # each step by one process only
    assert _version(path) == LATEST


def test_an_older_index_of_jobs_by_user_is_made_the_releases(tmp_path: Path) -> None:
    path = _release_copy(tmp_path)
    with _connect(path) as db:      # as a data directory made between the retention columns and render ids has it
        db.execute("DROP INDEX jobs_by_user")
        db.execute("CREATE INDEX jobs_by_user ON jobs (user_id, status)")
    db.close()
    Store(path)
    with _connect(path) as db:
        assert [r[2] for r in db.execute("PRAGMA index_info(jobs_by_user)")] == ["user_id", "status", "created_ms"]
    db.close()


# ---------------------------------------------------------------- step 2, the example to copy


def _plan(db: sqlite3.Connection, sql: str) -> str:
    return " | ".join(str(r[3]) for r in db.execute("EXPLAIN QUERY PLAN " + sql, ("anon_x",)))


def test_step_2_indexes_serve_the_storage_quota_reads(tmp_path: Path) -> None:
    path = _release_copy(tmp_path)
    with _connect(path) as db:
        assert migrate(db, str(path), STEPS[:1]) == [1]
        assert "jobs_by_user" in _plan(db, KEPT_OUTPUTS) and "media_by_user" in _plan(db, KEPT_UPLOADS)
        assert migrate(db, str(path), STEPS[:2]) == [2]
        assert _plan(db, KEPT_OUTPUTS) == "SEARCH jobs USING INDEX jobs_kept_outputs (user_id=? AND status=?)"
        assert _plan(db, KEPT_UPLOADS) == "SEARCH media USING INDEX media_kept (user_id=?)"
    db.close()
    store, user = Store(path), _release_ids(path)["user"]
    assert store.storage_used(user) == (2392, 3253)
    [(rowid, _job, _out)] = store.outputs_before(1 << 62)
    store.expire_outputs([rowid], 1.0)
    [(media_id, _path, _size)] = store.uploads_before(1e12)
    store.expire_uploads([media_id], 1.0)
    assert store.storage_used(user) == (0, 0)       # expired files leave the partial indexes
