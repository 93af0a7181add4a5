"""Disk on the API side: a scratch folder per job (gone once the job ends, swept at start-up), the
per-user storage quota, retention with 410 for what it removed, and ``reelforge gc``.

Retention is tested with a clock moved by hand: the test writes timestamps in the past into the
server's own database, then lets one cleanup pass run."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.errors import QuotaExceeded
from api.retention import (
    MULTIPART_SLACK,
    Rules,
    UploadQuota,
    check_output_room,
    plan,
    sweep_scratch,
    upload_quota,
)
from api.settings import ApiSettings
from api.store import SCHEMA, JobRow, MediaRow, Store
from tests.apiserver import Server

DAY_MS = 86_400_000


def clip_draft(url: str, d: int = 1000) -> dict[str, Any]:
    return {"m": {"width": 160, "height": 90, "out": {"format": "mp4"}}, "t": [{"tt": 0, "sg": [{"src": url, "d": d}]}]}


def db(data: Path) -> sqlite3.Connection:
    return sqlite3.connect(data / "reelforge.db", timeout=30, isolation_level=None)


def work_dir_of(data: Path, render_id: str) -> Path:
    with db(data) as conn:
        (spec,) = conn.execute("SELECT spec FROM jobs WHERE render_id = ?", (render_id,)).fetchone()
    return Path(json.loads(spec)["config"]["work_dir"])


def wait_for(check, timeout_s: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def assert_envelope(reply: httpx.Response, status: int, code: int) -> dict[str, Any]:
    body = reply.json()
    assert (reply.status_code, body["code"]) == (status, code), body
    assert set(body) >= {"code", "message", "data"} and "Traceback" not in reply.text
    return body


@pytest.fixture(scope="module")
def disk_server(tmp_path_factory: pytest.TempPathFactory):
    """A server whose cleanup loop runs every half second (with today's timestamps it expires nothing)."""
    server = Server(tmp_path_factory.mktemp("disk") / "data", env={"REELFORGE_RETENTION_INTERVAL_S": "0.5"}).start()
    yield server
    server.stop()


# ---------------------------------------------------------------- scratch


def test_each_job_gets_its_own_scratch_folder_gone_once_it_ends(disk_server, clients, media) -> None:
    data = disk_server.data_dir
    client = clients(disk_server.base).connect()
    good, bad = client.upload(media.red, media.blue)["data"]["files"]
    [bad_file] = list((data / "media").rglob(f"{bad['id']}.*"))
    bad_file.write_bytes(b"no longer a video" * 64)          # the render re-probes it and fails
    ok = client.export(clip_draft(good["url"]), render_id="scratch_ok")
    fails = client.export(clip_draft(bad["url"]), render_id="scratch_fails")
    assert ok["code"] == 0 and fails["code"] == 0
    folders = [work_dir_of(data, "scratch_ok"), work_dir_of(data, "scratch_fails")]
    assert folders[0] != folders[1]
    for folder in folders:
        assert folder.parent == (data / "scratch").resolve()      # made by the render process when it starts
    assert client.wait("scratch_ok")["status"] == "completed"
    failed = client.wait("scratch_fails")
    assert failed["status"] == "failed" and "Traceback" not in json.dumps(failed)
    wait_for(lambda: not any(f.exists() for f in folders), what="the jobs' scratch folders to go")
    assert list((data / "scratch").iterdir()) == []


def _job(store: Store, job_id: str, status: str, work_dir: Path | None, output: Path, ended_ms: int | None = None,
         size: int = 0) -> None:
    spec = {"job_id": job_id, "draft": {}, "sources": {}, "output": str(output),
            "config": {"work_dir": str(work_dir) if work_dir else None}}
    store.create_job(JobRow(id=job_id, user_id="u1", token="t1", session_id="s1", status="pending", progress=0,
                            format="mp4", spec=json.dumps(spec), output_path=str(output), result=None, error=None,
                            attempts=0, cancel=False, credits=0, created_ms=int(time.time() * 1000), started_ms=None,
                            completed_ms=None))
    if status == "completed":
        store.complete_job(job_id, {"size_bytes": size})
    elif status == "failed":
        store.fail_job(job_id, "render failed")
    elif status == "processing":
        store.claim_job()
    if ended_ms is not None:
        with db(store.path.parent) as conn:
            conn.execute("UPDATE jobs SET completed_ms = ? WHERE id = ?", (ended_ms, job_id))


def _filled(folder: Path, name: str = "frame.png", size: int = 1000) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(b"x" * size)
    return folder


def test_the_start_up_sweep_removes_strays_and_keeps_live_jobs_folders(tmp_path: Path, cpu_only) -> None:
    from api.services import Services

    data = tmp_path / "data"
    scratch = data / "scratch"
    store = Store(data / "reelforge.db")
    pending, running, ended = (_filled(scratch / f"job-{n}") for n in ("pending", "running", "ended"))
    _job(store, "r_running", "processing", running, data / "outputs" / "a.mp4")
    _job(store, "r_pending", "pending", pending, data / "outputs" / "b.mp4")
    _job(store, "r_ended", "failed", ended, data / "outputs" / "c.mp4")
    stray = _filled(scratch / "reelforge-abc123")
    (scratch / "graph.txt").write_text("left by a killed render")
    svc = Services.build(ApiSettings(data_dir=data), cpu_only)
    assert sorted(p.name for p in scratch.iterdir()) == ["job-pending", "job-running"]
    assert not ended.exists() and not stray.exists()
    assert (pending / "frame.png").is_file() and (running / "frame.png").is_file()
    svc.cleaner.stop()


def test_a_farm_sweeps_only_what_has_been_idle_for_a_lease(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = Store(data / "reelforge.db")
    scratch = data / "scratch"
    live = _filled(scratch / "job-live")
    _job(store, "r_live", "pending", live, data / "outputs" / "a.mp4")
    busy = _filled(scratch / "reelforge-busy")              # a worker on this host renders here right now
    old = _filled(scratch / "reelforge-old")
    for folder in (live, old):
        for path in (folder / "frame.png", folder):
            os.utime(path, (time.time() - 60, time.time() - 60))
    assert sweep_scratch(store, scratch, farm=True, lease_s=15) == 1
    assert live.is_dir() and busy.is_dir() and not old.exists()


# ---------------------------------------------------------------- quota


@pytest.fixture(scope="module")
def quota_files(tmp_path_factory: pytest.TempPathFactory, media) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("quota")
    green = folder / "green.png"
    shutil.copy(media.green_png, green)
    over = folder / "green-and-a-byte.png"
    over.write_bytes(green.read_bytes() + b"\0")                 # still a valid PNG, one byte bigger
    return {"red": media.red, "green": green, "over": over}


def test_the_storage_quota_one_byte_over_and_at_the_cap(tmp_path: Path, clients, quota_files) -> None:
    red, green = quota_files["red"].stat().st_size, quota_files["green"].stat().st_size
    quota = red + green
    env = {"REELFORGE_STORAGE_QUOTA_MB": f"{quota / 1e6:.6f}", "REELFORGE_RETENTION_INTERVAL_S": "0"}
    with Server(tmp_path / "data", env=env) as server:
        client = clients(server.base).connect()
        path = f"/api/upload-video/nemo_agent/me/{client.session_id}"
        assert client.upload(quota_files["red"])["code"] == 0

        def refused(*files: Path, held: int = red) -> None:
            reply = client.call("POST", path, files=[("files", (f.name, f.read_bytes())) for f in files])
            body = assert_envelope(reply, 413, 4002)
            assert "storage_quota_mb" in body["message"] and body["data"]["limit"] == "storage_quota_mb"
            assert body["data"]["max"] == quota and body["data"]["uploads_bytes"] == held

        refused(quota_files["over"])                              # one byte over what is left
        refused(quota_files["green"], quota_files["green"])      # each fits, together they do not
        kept = [p for p in (server.data_dir / "media").rglob("*") if p.is_file()]
        assert len(kept) == 1 and len(client.state()["data"]["state"]["video_infos"]) == 1
        assert client.upload(quota_files["green"])["code"] == 0   # exactly at the cap
        refused(quota_files["green"], held=quota)                 # full: refused before the body is read
        export = client.export(clip_draft(client.state()["data"]["state"]["video_infos"][0]["url"]))
        assert export["code"] == 4002 and "storage_quota_mb" in export["message"]
        with db(server.data_dir) as conn:
            assert conn.execute("SELECT COUNT(*) FROM jobs").fetchone() == (0,)
        assert list((server.data_dir / "scratch").iterdir()) == []


def test_a_body_bigger_than_the_quota_left_is_refused_while_it_streams() -> None:
    quota = UploadQuota(quota=3 * MULTIPART_SLACK, uploads=MULTIPART_SLACK, outputs=0)
    read = []

    async def body() -> AsyncIterator[bytes]:
        for _ in range(100):
            read.append(1)
            yield b"x" * (MULTIPART_SLACK // 4)

    async def consume() -> None:
        async for _chunk in quota.guard(body()):
            pass

    with pytest.raises(QuotaExceeded, match="storage_quota_mb"):
        asyncio.run(consume())
    assert len(read) == 13                   # 2 MiB left + 1 MiB for the multipart framing, then one chunk more
    with pytest.raises(QuotaExceeded):       # declared too big: refused before reading
        upload_quota_of(quota_mb=3 * MULTIPART_SLACK / 1e6, used=MULTIPART_SLACK, content_length=4 * MULTIPART_SLACK)
    upload_quota_of(quota_mb=3 * MULTIPART_SLACK / 1e6, used=MULTIPART_SLACK, content_length=3 * MULTIPART_SLACK)


def upload_quota_of(quota_mb: float, used: int, content_length: int) -> UploadQuota:
    class Used:
        def storage_used(self, _user: str) -> tuple[int, int]:
            return used, 0

    return upload_quota(Used(), ApiSettings(storage_quota_mb=quota_mb), "u1", str(content_length))  # type: ignore[arg-type]


def test_outputs_count_towards_the_quota(tmp_path: Path) -> None:
    store = Store(tmp_path / "reelforge.db")
    _job(store, "r1", "completed", None, tmp_path / "out.mp4", size=600_000)
    _job(store, "r2", "failed", None, tmp_path / "out2.mp4")
    assert store.storage_used("u1") == (0, 600_000)
    check_output_room(store, ApiSettings(data_dir=tmp_path, storage_quota_mb=0.600001), "u1")
    check_output_room(store, ApiSettings(data_dir=tmp_path, storage_quota_mb=0), "u1")     # no quota
    with pytest.raises(QuotaExceeded, match="your outputs fill your storage quota of 0.6 MB") as refused:
        check_output_room(store, ApiSettings(data_dir=tmp_path, storage_quota_mb=0.6), "u1")
    assert refused.value.code == 4002 and refused.value.data["outputs_bytes"] == 600_000


# ---------------------------------------------------------------- retention and 410


def test_expired_files_go_and_answer_410(disk_server, clients, media) -> None:
    data = disk_server.data_dir
    client = clients(disk_server.base).connect()
    red, green = client.upload(media.red, media.green_png)["data"]["files"]
    first = client.export(clip_draft(red["url"]), render_id="old_render")
    second = client.export(clip_draft(green["url"]), render_id="older_render")
    assert first["code"] == 0 and second["code"] == 0
    done = client.wait("old_render")
    assert done["status"] == "completed" and client.wait("older_render")["status"] == "completed"
    signed = done["output"]["url"]
    assert httpx.get(signed).status_code == 200
    with db(data) as conn:
        red_path, = conn.execute("SELECT path FROM media WHERE id = ?", (red["id"],)).fetchone()
        outputs = dict(conn.execute("SELECT render_id, output_path FROM jobs "
                                    "WHERE render_id IN ('old_render', 'older_render')"))
        versions = [v for (v,) in conn.execute("SELECT version FROM drafts WHERE session_id = ? ORDER BY version",
                                               (client.session_id,))]
        assert versions == [1, 2, 3]                    # the upload's starting draft, then two exports
        # the clock moves: the red upload and both renders ended 31 days ago, one of them 91; all drafts are old
        now = time.time()
        now_ms = int(now * 1000)
        conn.execute("UPDATE media SET created = ? WHERE id = ?", (now - 31 * 86400, red["id"]))
        conn.execute("UPDATE jobs SET completed_ms = ? WHERE render_id = 'old_render'", (now_ms - 31 * DAY_MS,))
        conn.execute("UPDATE jobs SET completed_ms = ? WHERE render_id = 'older_render'", (now_ms - 91 * DAY_MS,))
        conn.execute("UPDATE drafts SET created = ? WHERE session_id = ?", (now - 91 * 86400, client.session_id))
    parts = _filled(data / "outputs" / ".parts" / "a_lost_job", "part-0000.mp4")
    os.utime(parts, (now - 2 * 86400, now - 2 * 86400))
    os.utime(parts / "part-0000.mp4", (now - 2 * 86400, now - 2 * 86400))

    wait_for(lambda: not Path(outputs["older_render"]).exists() and not Path(outputs["old_render"]).exists()
             and not Path(red_path).exists() and not parts.exists(), what="the cleanup pass")
    for where in ("/api/render/proxy/lambda/old_render", "/api/render/proxy/old_render/download",
                  "/api/render/proxy/lambda/older_render"):
        body = assert_envelope(client.call("GET", where), 410, 410)
        assert "expired" in body["message"]
    assert_envelope(httpx.get(signed), 410, 410)
    gone = assert_envelope(client.call("GET", f"/api/media/{red['id']}/{red['filename']}"), 410, 410)
    assert gone["data"]["media_id"] == red["id"] and "upload it again" in gone["message"]
    assert client.call("GET", f"/api/media/{green['id']}/{green['filename']}").status_code == 200
    again = client.export(clip_draft(red["url"]))
    assert again["code"] == 410 and again["data"]["where"] == "t[0].sg[0].src" and again["data"]["src"] == red["url"]
    other = clients(disk_server.base).connect()          # someone else asking for them learns nothing new
    assert other.call("GET", "/api/render/proxy/lambda/old_render").json()["code"] == 404
    assert other.call("GET", f"/api/media/{red['id']}/{red['filename']}").json()["code"] == 404
    with db(data) as conn:
        assert [v for (v,) in conn.execute("SELECT version FROM drafts WHERE session_id = ?",
                                           (client.session_id,))] == [3]            # the current draft stays
        specs = dict(conn.execute("SELECT render_id, spec FROM jobs WHERE render_id IN ('old_render', 'older_render')"))
    assert specs["older_render"] == "{}" and json.loads(specs["old_render"])["config"]["work_dir"]
    state = client.state()["data"]
    assert state["draft_version"] == 3 and state["state"]["draft"]["t"][0]["sg"][0]["src"] == green["url"]


# ---------------------------------------------------------------- reelforge gc


def _expired_data(data: Path) -> Store:
    """A data directory with two expired uploads, one expired output, one old draft version and a stray folder."""
    store = Store(data / "reelforge.db")
    session = store.create_session("u1", "project", "en")
    old = time.time() - 40 * 86400
    rows = []
    for name, size in (("a.mp4", 1000), ("b.png", 500), ("c.mp4", 300)):
        path = _filled(data / "media" / "u1" / session.id, name, size) / name
        rows.append(MediaRow(f"m_{name}", "u1", session.id, name, str(path), "video", {}, size, "0", "upload",
                             old if name != "c.mp4" else time.time()))
    store.add_media(rows)
    output = data / "outputs" / "x.mp4"
    _filled(output.parent, "x.mp4", 2000)
    _job(store, "r_x", "completed", None, output, ended_ms=int(old * 1000), size=2000)
    store.save_draft(session.id, {"v": 1}, note="first")
    store.save_draft(session.id, {"v": 2}, note="second")
    with db(data) as conn:
        conn.execute("UPDATE drafts SET created = ?", (time.time() - 100 * 86400,))   # history keeps 90 days
    stray = _filled(data / "scratch" / "job-dead", "frame.png", 700)
    for path in (stray / "frame.png", stray):
        os.utime(path, (old, old))
    return store


def _gc(data: Path, *flags: str) -> dict[str, Any]:
    env = {**os.environ, "REELFORGE_DATA_DIR": str(data)}
    out = subprocess.run([sys.executable, "-m", "engine.cli", "gc", "--json", *flags], env=env, capture_output=True,
                         text=True, check=True, timeout=60)
    return json.loads(out.stdout)


def test_gc_dry_run_lists_what_gc_then_deletes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _expired_data(data)
    files_before = sorted(p for p in data.rglob("*") if p.is_file() and "reelforge.db" not in p.name)
    want = {"uploads": {"count": 2, "bytes": 1500}, "outputs": {"count": 1, "bytes": 2000},
            "jobs": {"count": 0, "bytes": 0}, "drafts": {"count": 1, "bytes": len('{"v":1}')},
            "parts": {"count": 0, "bytes": 0}, "scratch": {"count": 1, "bytes": 700}}
    dry = _gc(data, "--dry-run")
    assert dry["dry_run"] is True and dry["kinds"] == want
    assert sorted(p for p in data.rglob("*") if p.is_file() and "reelforge.db" not in p.name) == files_before
    with db(data) as conn:
        assert conn.execute("SELECT COUNT(*) FROM media WHERE expired_at IS NOT NULL").fetchone() == (0,)
        assert conn.execute("SELECT COUNT(*) FROM drafts").fetchone() == (2,)
    assert _gc(data)["kinds"] == want
    left = sorted(p.name for p in data.rglob("*") if p.is_file() and "reelforge.db" not in p.name)
    assert left == ["c.mp4"]
    with db(data) as conn:
        assert conn.execute("SELECT COUNT(*) FROM media WHERE expired_at IS NOT NULL").fetchone() == (2,)
        assert conn.execute("SELECT version FROM drafts").fetchall() == [(2,)]
    assert all(v["count"] == 0 for v in _gc(data, "--dry-run")["kinds"].values())


def test_gc_keeps_everything_when_retention_is_off(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = _expired_data(data)
    rules = Rules(0, 0, 0, 0, 0, farm=False, lease_s=15)
    assert [d.kind for d in plan(store, data, rules).items] == ["scratch"]     # stray scratch always goes


def test_an_old_database_gains_the_retention_columns(tmp_path: Path) -> None:
    path = tmp_path / "reelforge.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(SCHEMA)
        conn.execute("INSERT INTO media VALUES ('m1','u1','s1','a.mp4','/x/a.mp4','video','{}',10,'0','upload',1.0)")
    store = Store(path)
    Store(path)                                             # a second opening changes nothing
    assert store.media("m1") is not None and store.media_expired_at("m1") is None
    assert store.storage_used("u1") == (10, 0)
    store.expire_uploads(["m1"], 5.0)
    assert store.media_expired_at("m1") == 5.0 and store.storage_used("u1") == (0, 0)
