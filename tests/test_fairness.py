"""Fairness between users: turns and caps on renders, rate limits, render time and memory limits, errors in
the API's words, owner-scoped render ids, what X-Client-Id proves, and scratch folders gone after every end.

Store and helper rules are checked directly; render processes, servers and clients are real."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from api.jobs import RenderRules, Runner
from api.store import JobRow, QueueFull, Store, new_job_key, now_ms
from engine.config import EngineConfig
from engine.errors import FFmpegFailed, MediaNotFound
from engine.job import RenderJob
from engine.run import limited_child
from tests.apiserver import Client, Server
from workers.farm import FarmWorker
from workers.job import OUT_OF_MEMORY_MESSAGE, public_error
from workers.protocol import (
    ChildEnd,
    ChildRender,
    capped_env,
    remove_scratch,
    render_memory_cap,
    render_time_limit_s,
    scratch_folder,
)
from workers.settings import WorkerSettings

NEEDS_PROC = pytest.mark.skipif(not Path("/proc/self").exists(), reason="reads /proc, which only Linux has")

# ---------------------------------------------------------------- the store: turns, caps, owners


def _job(store: Store, user: str, render_id: str | None = None, created_ms: int | None = None) -> JobRow:
    store.issue_token(f"client-{user}", 100, 3600)
    token = store.live_token(f"client-{user}")
    assert token is not None
    key = new_job_key()
    row = JobRow(key, token.user_id, token.token, "s", "pending", 0, "mp4", "{}", "", None, None, 0, False, 0,
                 now_ms() if created_ms is None else created_ms, None, None, render_id or key)
    made, created = store.create_job(row)
    assert created
    return made


def _owner(store: Store, user: str) -> str:
    token = store.live_token(f"client-{user}")
    assert token is not None
    return token.user_id


def test_claims_take_users_in_turns_and_cap_each_user_s_running_jobs(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    a_jobs = [_job(store, "a", created_ms=1000 + i) for i in range(5)]       # a queued five first
    b_job = _job(store, "b", created_ms=2000)
    c_job = _job(store, "c", created_ms=3000)
    first = store.claim_job(max_running=2)
    assert first is not None and first.id == a_jobs[0].id                    # nobody served yet: oldest waiting
    assert [store.claim_job(2).id for _ in range(2)] == [b_job.id, c_job.id]  # then the users a has to wait for
    second = store.claim_job(2)
    assert second is not None and second.id == a_jobs[1].id
    assert store.claim_job(2) is None                                         # a has two running: its cap
    store.complete_job(first.id, {})
    third = store.claim_job(2)
    assert third is not None and third.id == a_jobs[2].id
    assert store.claim_job() is not None                                      # no cap: a's next one


def test_a_user_who_was_served_last_waits_behind_one_who_was_not(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    a_jobs = [_job(store, "a", created_ms=1000 + i) for i in range(3)]
    first = store.claim_job(1)
    assert first is not None and first.id == a_jobs[0].id
    b_job = _job(store, "b", created_ms=5000)                                 # b comes after a's whole queue
    store.complete_job(first.id, {})                                          # one slot: nobody is running
    assert store.claim_job(1).id == b_job.id                                  # type: ignore[union-attr]


def test_the_queued_cap_refuses_and_changes_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    for _ in range(3):
        _job(store, "a")
    token = store.live_token("client-a")
    assert token is not None
    over = JobRow(new_job_key(), token.user_id, token.token, "s", "pending", 0, "mp4", "{}", "", None, None, 0,
                  False, 7, now_ms(), None, None, "one-more")
    with pytest.raises(QueueFull) as refused:
        store.create_job(over, max_pending=3)
    assert (refused.value.pending, refused.value.maximum) == (3, 3)
    assert store.own_job(token.user_id, "one-more") is None
    assert store.token(token.token) == token                                  # no credits frozen
    started = store.claim_job()
    assert started is not None
    assert store.create_job(over, max_pending=3)[1] is True                   # one started: room for one more


def test_render_ids_belong_to_their_owner(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    mine = _job(store, "a", render_id="render_1")
    theirs = _job(store, "b", render_id="render_1")                           # not "taken": b's own job
    assert mine.id != theirs.id
    assert store.own_job(_owner(store, "a"), "render_1") == mine
    assert store.own_job(_owner(store, "b"), "render_1") == theirs
    again, created = store.create_job(replace(mine, id=new_job_key()))         # the same id again: the same job
    assert (again, created) == (mine, False)
    assert store.render_ids(_owner(store, "a"), [mine.id, theirs.id]) == {mine.id: "render_1"}


def test_an_older_database_gets_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE tokens (token TEXT PRIMARY KEY, user_id TEXT NOT NULL, client_id TEXT, anonymous INTEGER NOT NULL,
          available INTEGER NOT NULL, frozen INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL, expires REAL NOT NULL);
        CREATE TABLE jobs (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, token TEXT NOT NULL, session_id TEXT NOT NULL,
          status TEXT NOT NULL, progress INTEGER NOT NULL DEFAULT 0, format TEXT NOT NULL, spec TEXT NOT NULL,
          output_path TEXT NOT NULL, result TEXT, error TEXT, attempts INTEGER NOT NULL DEFAULT 0,
          cancel INTEGER NOT NULL DEFAULT 0, credits INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL,
          started_ms INTEGER, completed_ms INTEGER);
        INSERT INTO tokens VALUES ('nmv_usr_old', 'anon_1', 'c1', 1, 100, 0, 1, 9999999999);
        INSERT INTO jobs (id, user_id, token, session_id, status, format, spec, output_path, created_ms)
          VALUES ('render_old', 'anon_1', 'nmv_usr_old', 's', 'completed', 'mp4', '{}', '', 1);
    """)
    db.commit()
    db.close()
    store = Store(path)
    old = store.own_job("anon_1", "render_old")
    assert old is not None and old.id == "render_old" and old.render_id == "render_old"
    token = store.token("nmv_usr_old")
    assert token is not None and token.issued_ip is None
    Store(path)                                                               # opening it again changes nothing


# ---------------------------------------------------------------- the rules, as functions


def test_the_time_limit_grows_with_the_timeline_between_its_floor_and_ceiling() -> None:
    assert render_time_limit_s(1.0, 300, 10, 3600) == 300
    assert render_time_limit_s(60.0, 300, 10, 3600) == 600
    assert render_time_limit_s(3600.0, 300, 10, 3600) == 3600
    assert render_time_limit_s(None, 300, 10, 3600) == 3600


def test_the_memory_cap_skips_gpu_renders() -> None:
    assert render_memory_cap(700, {"encoder": "libx264", "decoder": "cpu"}) == 700 * 1024 * 1024
    assert render_memory_cap(700, None) == 700 * 1024 * 1024
    assert render_memory_cap(700, {"encoder": "h264_nvenc", "decoder": "cpu"}) is None
    assert render_memory_cap(700, {"encoder": "libx264", "decoder": "cuda"}) is None
    assert render_memory_cap(0, None) is None
    assert capped_env(None) == {} and capped_env(1 << 30)["MALLOC_ARENA_MAX"] == "2"


def test_only_a_folder_inside_scratch_is_a_job_s_to_delete(tmp_path: Path) -> None:
    scratch = tmp_path / "data" / "scratch"
    (scratch / "job_1").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    assert scratch_folder(scratch / "job_1", scratch) == (scratch / "job_1").resolve()
    for not_its_own in (None, "", scratch, scratch / ".." / "outputs", tmp_path / "elsewhere", scratch / ".."):
        assert scratch_folder(not_its_own, scratch) is None, not_its_own
    remove_scratch(tmp_path / "elsewhere", scratch)
    remove_scratch(scratch, scratch)
    assert (tmp_path / "elsewhere").is_dir() and scratch.is_dir()
    remove_scratch(scratch / "job_1", scratch)
    assert not (scratch / "job_1").exists()


def test_errors_a_client_reads_carry_no_stderr_or_traceback() -> None:
    failed = FFmpegFailed(["ffmpeg", "-i", "x"], 1, "[libx264 @ 0x55] broken preset\nConversion failed!\n")
    code, message = public_error(failed)
    assert code == "ffmpeg_failed" and "ffmpeg_failed" in message and "libx264" not in message and "0x" not in message
    assert public_error(RecursionError("maximum recursion depth exceeded")) == (
        "internal_error", "the render failed with an internal error (RecursionError); the server's log has the details")
    assert public_error(MemoryError()) == ("out_of_memory", OUT_OF_MEMORY_MESSAGE)
    assert public_error(MediaNotFound("clip.mp4", "not found"))[1] == "clip.mp4: not found"   # already plain words


# ---------------------------------------------------------------- render processes


def _spec(media, tmp_path: Path, *, draft: dict | None = None, config: EngineConfig | None = None,
          work_dir: Path | None = None, out: str = "out.mp4", **extra: object) -> RenderJob:
    config = config or EngineConfig.default()
    if work_dir is not None:
        config = replace(config, work_dir=work_dir)
    draft = draft or {"m": {"width": 160, "height": 90}, "t": [{"tt": 0, "sg": [{"src": "clip", "d": 1000}]}]}
    return RenderJob("job", draft, {"clip": str(media.pattern)}, str(tmp_path / out), RenderJob.config_of(config),
                     **extra)  # type: ignore[arg-type]


def _long(media, tmp_path: Path, **kwargs: object) -> RenderJob:
    draft = {"m": {"width": 640, "height": 360, "out": {"format": "webm"}},
             "t": [{"tt": 0, "sg": [{"src": "clip", "d": 60_000}]}]}
    return _spec(media, tmp_path, draft=draft, out="long.webm", **kwargs)  # type: ignore[arg-type]


def test_a_render_that_raises_fails_once_in_the_api_s_words(media, tmp_path: Path) -> None:
    bad_preset = _spec(media, tmp_path, config=replace(EngineConfig.default(), x264_preset="no-such-preset"))
    outcome = ChildRender(bad_preset.to_json()).run()
    assert outcome.end == ChildEnd.FAILED and outcome.error is not None
    assert outcome.error.startswith("FFmpeg could not render this draft (ffmpeg_failed)")
    assert "no-such-preset" not in outcome.error and "no-such-preset" in outcome.stderr_tail   # the log has it
    broken = json.loads(_spec(media, tmp_path).to_json())
    broken["config"]["no_such_setting"] = 1                                   # an exception of no engine kind
    outcome = ChildRender(json.dumps(broken)).run()
    assert outcome.end == ChildEnd.FAILED and "internal error (TypeError)" in (outcome.error or "")
    assert "Traceback" in outcome.stderr_tail and "Traceback" not in (outcome.error or "")


def test_a_render_past_its_time_limit_is_stopped(media, tmp_path: Path) -> None:
    started = time.monotonic()
    outcome = ChildRender(_long(media, tmp_path).to_json(), time_limit_s=1.5).run()
    assert outcome.end == ChildEnd.TIMED_OUT and "time limit of 2 s" in (outcome.error or "")
    assert time.monotonic() - started < 15


@NEEDS_PROC
def test_the_memory_cap_holds_the_render_process_and_its_ffmpeg(media, tmp_path: Path) -> None:
    cap = 500 * 1024 * 1024
    child = ChildRender(_long(media, tmp_path).to_json(), preexec=limited_child(cap), env=capped_env(cap))
    limits: list[str] = []

    def look() -> None:
        while child.proc is None:
            time.sleep(0.02)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not limits:
            try:
                text = Path(f"/proc/{child.proc.pid}/limits").read_text()
                limits.extend(line for line in text.splitlines() if line.startswith("Max address space"))
            except OSError:
                return
        child.cancel()

    watcher = threading.Thread(target=look)
    watcher.start()
    assert child.run().end == ChildEnd.CANCELLED
    watcher.join()
    assert limits and limits[0].split()[3:5] == [str(cap), str(cap)]
    big = {"m": {"width": 1920, "height": 1080}, "t": [{"tt": 0, "sg": [{"src": "clip", "d": 1000}]}]}
    outcome = ChildRender(_spec(media, tmp_path, draft=big).to_json(), preexec=limited_child(cap),
                          env=capped_env(cap)).run()
    assert outcome.end == ChildEnd.FAILED, outcome                            # the render fails, not the host
    assert outcome.error == OUT_OF_MEMORY_MESSAGE or "(ffmpeg_failed)" in (outcome.error or ""), outcome
    small = ChildRender(_spec(media, tmp_path).to_json(), preexec=limited_child(cap), env=capped_env(cap)).run()
    assert small.end == ChildEnd.DONE, small


def test_every_way_a_job_ends_removes_its_scratch_folder_and_nothing_else(media, tmp_path: Path) -> None:
    scratch = tmp_path / "data" / "scratch"
    scratch.mkdir(parents=True)
    keep = tmp_path / "keep"
    keep.mkdir()
    store = Store(tmp_path / "data" / "db.sqlite")
    runner = Runner(store, workers=4, max_attempts=1, rules=RenderRules(scratch_root=scratch))

    def submit(spec: RenderJob) -> JobRow:
        store.issue_token("client-s", 100, 3600)
        token = store.live_token("client-s")
        assert token is not None
        key = new_job_key()
        row = JobRow(key, token.user_id, token.token, "s", "pending", 0, "mp4", spec.to_json(), spec.output, None,
                     None, 0, False, 0, now_ms(), None, None, key)
        store.create_job(row)
        runner.submitted()
        return row

    def ended(row: JobRow, timeout_s: float = 60) -> JobRow:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            job = store.job(row.id)
            if job is not None and job.status in ("completed", "failed"):
                return job
            time.sleep(0.1)
        raise AssertionError(f"{row.id} did not end")

    def rendering_in(folder: Path) -> None:
        deadline = time.monotonic() + 30
        while not any(folder.glob("reelforge-*")):                           # the engine's own temp dir in it
            assert time.monotonic() < deadline
            time.sleep(0.05)

    runner.start()
    try:
        ok = submit(_spec(media, tmp_path, work_dir=scratch / "ok"))
        bad = submit(_spec(media, tmp_path, work_dir=scratch / "bad", out="bad.mp4",
                           config=replace(EngineConfig.default(), x264_preset="no-such-preset")))
        cancelled = submit(_long(media, tmp_path, work_dir=scratch / "cancelled"))
        killed = submit(_long(media, tmp_path, work_dir=scratch / "killed"))
        shared = submit(_spec(media, tmp_path, work_dir=keep, out="shared.mp4"))
        assert ended(ok).status == "completed" and ended(shared).status == "completed"
        assert ended(bad).status == "failed"
        rendering_in(scratch / "cancelled")
        runner.cancel(cancelled.id)
        assert ended(cancelled).error == "cancelled"
        rendering_in(scratch / "killed")
        children = [w.child.proc for w in runner._running.values() if w.job.id == killed.id]
        assert children and children[0] is not None
        os.kill(children[0].pid, signal.SIGKILL)
        died = ended(killed)
        assert died.status == "failed" and "died" in (died.error or "")
        deadline = time.monotonic() + 10
        while runner.busy() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sorted(p.name for p in scratch.iterdir()) == []                # every job's own folder is gone
        assert keep.is_dir() and scratch.is_dir()                             # a folder not its own is kept
    finally:
        runner.stop()


def test_the_farm_worker_renders_in_the_job_s_scratch_folder_as_mounted_there(tmp_path: Path) -> None:
    api_root, mount = tmp_path / "api-data", tmp_path / "mnt"
    (mount / "scratch").mkdir(parents=True)
    worker = FarmWorker(WorkerSettings(data_dir=mount), "w", None, None, EngineConfig.default(), None, [])  # type: ignore[arg-type]
    job = RenderJob("job_1", {}, {}, str(api_root / "outputs" / "o.mp4"),
                    RenderJob.config_of(replace(EngineConfig.default(), work_dir=api_root / "scratch" / "job_1")),
                    data_root=str(api_root))
    assert worker._scratch(job) == (mount / "scratch" / "job_1").resolve()
    (mount / "scratch" / "job_1" / "tmp").mkdir(parents=True)
    worker._clean(job)
    assert not (mount / "scratch" / "job_1").exists() and (mount / "scratch").is_dir()
    shared = replace(job, config=RenderJob.config_of(replace(EngineConfig.default(), work_dir=api_root / "scratch")))
    assert worker._scratch(shared) is None


# ---------------------------------------------------------------- through the API


def clip_draft(url: str, d: int = 1000, fmt: str = "mp4") -> dict:
    return {"m": {"width": 160, "height": 90, "out": {"format": fmt}}, "t": [{"tt": 0, "sg": [{"src": url, "d": d}]}]}


def slow_draft(url: str) -> dict:
    return {"m": {"width": 320, "height": 180, "out": {"format": "webm"}},
            "t": [{"tt": 0, "sg": [{"src": url, "d": 6000}]}]}


def status(client: Client, render_id: str) -> str:
    return str(client.json("GET", f"/api/render/proxy/lambda/{render_id}")["status"])


def wait_for(predicate, timeout_s: float = 60, step: float = 0.1):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(step)
    raise AssertionError("timed out")


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def fair_server(tmp_path_factory: pytest.TempPathFactory):
    """Two render slots, one running export per user, three waiting."""
    env = {"REELFORGE_LOCAL_WORKERS": "2", "REELFORGE_MAX_RUNNING_RENDERS": "1", "REELFORGE_MAX_QUEUED_RENDERS": "3"}
    with Server(tmp_path_factory.mktemp("fair") / "data", env=env) as server:
        yield server


@NEEDS_PROC
def test_one_user_s_queue_does_not_hold_up_another_s_export(fair_server, clients, media) -> None:
    alice, bob = clients(fair_server.base).connect(), clients(fair_server.base).connect()
    [clip] = alice.upload(media.pattern)["data"]["files"]
    [bob_clip] = bob.upload(media.red)["data"]["files"]
    first = alice.export(slow_draft(clip["url"]))
    wait_for(lambda: status(alice, first["id"]) == "processing")
    queued = [alice.export(slow_draft(clip["url"]))["id"] for _ in range(3)]
    credits = alice.json("GET", "/api/credits/balance/simple")["data"]
    draft_before = alice.state()["data"]["state"]["draft"]
    refused = alice.call("POST", "/api/render/proxy/lambda",
                         json={"id": "render_over", "sessionId": alice.session_id, "draft": clip_draft(clip["url"])})
    body = refused.json()
    assert (refused.status_code, body["code"], refused.headers["Retry-After"]) == (429, 429, "30"), body
    assert body["data"] == {"retry_after": 30, "limit": "max_queued_renders", "max": 3, "value": 3}
    assert "max_queued_renders" in body["message"]
    assert alice.call("GET", "/api/render/proxy/lambda/render_over").status_code == 404          # nothing stored
    assert alice.json("GET", "/api/credits/balance/simple")["data"] == credits
    assert alice.state()["data"]["state"]["draft"] == draft_before

    theirs = bob.export(clip_draft(bob_clip["url"]))                          # after all of alice's, yet it runs now
    wait_for(lambda: status(bob, theirs["id"]) in ("processing", "completed"), timeout_s=30)
    assert [status(alice, r) for r in queued] == ["pending"] * 3
    bob_view = bob.json("GET", "/api/farm/workers")["data"]
    alice_view = alice.json("GET", "/api/farm/workers")["data"]
    assert first["id"] not in json.dumps(bob_view) and bob_view["jobs"]["waiting"] >= 3      # others: counts only
    assert alice_view["workers"][0]["current_jobs"] == [first["id"]] or status(alice, first["id"]) != "processing"
    server_pid = fair_server.proc.pid
    renders = wait_for(lambda: [pid for pid in children_of(server_pid)
                                if b"workers.job" in Path(f"/proc/{pid}/cmdline").read_bytes()])
    limit = next(line for line in Path(f"/proc/{renders[0]}/limits").read_text().splitlines()
                 if line.startswith("Max address space"))
    assert limit.split()[3] == str(6144 * 1024 * 1024)                        # the default render memory cap

    def all_done() -> bool:
        return all(status(alice, r) in ("completed", "failed") for r in [first["id"], *queued])

    wait_for(all_done, timeout_s=240, step=0.2)
    # Her cap, though a slot was free: no two of her renders ran at once. Judged from the server's own start and end
    # times, since statuses read one request at a time can straddle one render ending and the next starting.
    with sqlite3.connect(fair_server.data_dir / "reelforge.db") as db:
        spans = sorted(db.execute(f"SELECT started_ms, completed_ms FROM jobs WHERE render_id IN "
                                  f"({','.join('?' * 4)})", [first["id"], *queued]).fetchall())
    assert len(spans) == 4 and all(end >= start for start, end in spans), spans
    assert all(later[0] >= earlier[1] for earlier, later in zip(spans, spans[1:], strict=False)), spans
    done = [alice.wait(r) for r in [first["id"], *queued]]
    mine = bob.wait(theirs["id"])
    assert all(d["status"] == "completed" for d in [*done, mine])
    assert mine["data"]["completedAt"] < done[1]["data"]["completedAt"]


def test_a_render_past_its_time_limit_fails_once_with_a_reason(tmp_path, clients, media) -> None:
    env = {"REELFORGE_RENDER_TIME_FLOOR_S": "5", "REELFORGE_RENDER_TIME_PER_S": "0.15"}
    with Server(tmp_path / "data", env=env) as server:
        client = clients(server.base).connect()
        [clip] = client.upload(media.pattern)["data"]["files"]
        long = {"m": {"width": 640, "height": 360, "out": {"format": "webm"}},
                "t": [{"tt": 0, "sg": [{"src": clip["url"], "d": 60_000}]}]}
        failed = client.wait(client.export(long, {"format": "webm"})["id"], timeout_s=60)
        assert failed["status"] == "failed" and failed["data"]["attempts"] == 1, failed
        assert failed["error"].startswith("the render ran past its time limit of 9 s")
        short = client.wait(client.export(clip_draft(clip["url"]))["id"])
        assert short["status"] == "completed"                                 # the floor leaves short ones be


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory: pytest.TempPathFactory):
    env = {"REELFORGE_EXPORTS_PER_MINUTE": "2", "REELFORGE_UPLOADS_PER_MINUTE": "2",
           "REELFORGE_CHAT_TURNS_PER_MINUTE": "1", "REELFORGE_TOKENS_PER_IP_PER_WEEK": "2"}
    with Server(tmp_path_factory.mktemp("limited") / "data", env=env) as server:
        yield server


def _token_call(server: Server, client_id: str, source: str = "127.0.0.1", bearer: str | None = None) -> httpx.Response:
    headers = {"X-Client-Id": client_id, **({"Authorization": f"Bearer {bearer}"} if bearer else {})}
    with httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=30) as http:
        return http.post(server.base + "/api/auth/anonymous-token", headers=headers)


def test_exports_uploads_and_chat_turns_are_rate_limited_per_user(limited_server, media) -> None:
    users = []
    for source in ("127.0.0.3", "127.0.0.4"):                                 # the token cap is per address
        client = Client(limited_server.base, http=httpx.Client(transport=httpx.HTTPTransport(local_address=source),
                                                               timeout=60))
        users.append(client.connect())
    alice, bob = users
    try:
        uploads = [alice.call("POST", f"/api/upload-video/nemo_agent/me/{alice.session_id}",
                              files=[("files", ("red.mp4", media.red.read_bytes()))]) for _ in range(3)]
        assert [u.status_code for u in uploads] == [200, 200, 429]
        assert uploads[2].json()["data"]["limit"] == "uploads_per_minute" and 0 < int(uploads[2].headers["Retry-After"])
        url = uploads[0].json()["data"]["files"][0]["url"]
        exports = [alice.call("POST", "/api/render/proxy/lambda", json={
            "id": f"render_{uuid.uuid4().hex}", "sessionId": alice.session_id, "draft": clip_draft(url)})
            for _ in range(3)]
        assert [e.status_code for e in exports] == [200, 200, 429]
        over = exports[2].json()
        assert over["code"] == 429 and over["data"]["limit"] == "exports_per_minute" and over["data"]["max"] == 2
        assert "exports_per_minute" in over["message"] and 0 < int(exports[2].headers["Retry-After"]) <= 60
        first, second = alice.chat("make it 2 seconds"), alice.chat("make it 3 seconds")
        assert first.status == 200
        assert second.status == 429 and second.error["data"]["limit"] == "chat_turns_per_minute"
        [bob_clip] = bob.upload(media.red)["data"]["files"]                   # another user has limits of their own
        assert bob.export(clip_draft(bob_clip["url"]))["code"] == 0
    finally:
        for user in users:
            user.close()


def test_a_client_id_proves_nothing_by_itself(limited_server) -> None:
    def token(reply: httpx.Response) -> str:
        assert reply.status_code == 200, reply.text
        return str(reply.json()["data"]["token"])

    home, away = "127.0.0.5", "127.0.0.6"
    alice = token(_token_call(limited_server, "alice-1", home))
    assert token(_token_call(limited_server, "alice-1", home)) == alice            # the address it went to
    stranger = _token_call(limited_server, "alice-1", away)                       # someone else, her client id
    assert (stranger.status_code, stranger.json()["code"]) == (429, 429)
    assert stranger.json()["data"]["limit"] == "tokens_per_client_id" and alice not in stranger.text
    assert int(stranger.headers["Retry-After"]) > 6 * 86400                       # until her token expires
    assert token(_token_call(limited_server, "alice-1", away, bearer=alice)) == alice   # she moved: her bearer
    assert token(_token_call(limited_server, "bob-1", home)) != alice
    third = _token_call(limited_server, "carol-1", home)                          # a third new token, one address
    assert (third.status_code, third.json()["data"]["limit"]) == (429, "tokens_per_ip_per_week")
    assert 6 * 86400 < int(third.headers["Retry-After"]) <= 7 * 86400
    assert token(_token_call(limited_server, "alice-1", home)) == alice            # returning one is still free
    assert token(_token_call(limited_server, "carol-1", away)) not in (alice,)    # another address, its own cap
