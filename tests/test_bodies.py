"""Request bodies and drafts, against a real server: a body over its size is refused while it
streams in, a deep or many-valued JSON body before it is parsed, a draft over its size before any
job exists (all in the envelope, changing nothing); a draft is stored once per version, its history
is capped and undo walks back within it; a data directory from before all this keeps working."""

from __future__ import annotations

import json
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.bodies import measure
from api.chat import _Hooks
from api.store import Store
from engine.config import EngineConfig
from engine.encode.encoders import CodecChoice
from engine.errors import LimitExceeded
from engine.job import RenderJob
from engine.model.cost import Caps
from tests.apiserver import SKILL_HEADERS, Client, Server
from tests.conftest import FFMPEG, ffmpeg

NEEDS_PROC = pytest.mark.skipif(not Path("/proc/self").exists(), reason="reads /proc, which only Linux has")

BODY_MAX, VALUES_MAX, DRAFT_MAX, HISTORY = 100_000, 5_000, 20_000, 5
SESSIONS = "/api/tasks/me/with-session/nemo_agent"
CAPS = Caps.of(EngineConfig(FFMPEG))


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with small body and draft limits and a short draft history."""
    env = {"REELFORGE_MAX_JSON_BODY_BYTES": str(BODY_MAX), "REELFORGE_MAX_JSON_VALUES": str(VALUES_MAX),
           "REELFORGE_MAX_DRAFT_BYTES": str(DRAFT_MAX), "REELFORGE_DRAFT_HISTORY_VERSIONS": str(HISTORY),
           "REELFORGE_LOCAL_WORKERS": "1"}
    server = Server(tmp_path_factory.mktemp("bodies") / "data", env=env).start()
    yield server
    server.stop()


def sized(size: int, **fields: Any) -> bytes:
    """A JSON object of exactly ``size`` bytes: ``fields`` and a padding string."""
    head = json.dumps({**fields, "pad": ""}, separators=(",", ":")).encode()
    assert size >= len(head)
    return head[:-2] + b"x" * (size - len(head)) + b'"}'


def nested(depth: int) -> bytes:
    """A session body whose unknown key nests objects so that the whole body is ``depth`` deep."""
    return b'{"task_name":"deep","x":' + b'{"a":' * (depth - 2) + b"{}" + b"}" * (depth - 2) + b"}"


def exchange(port: int, head: str, chunks: tuple[bytes, ...] = (),
             timeout_s: float = 10) -> tuple[float, int, dict[str, Any]]:
    """Send a request by hand (no end of body unless ``chunks`` has it); (seconds to answer, status, JSON body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        started = time.monotonic()
        sock.sendall(head.encode())
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except OSError:
            pass                                    # the server answered and closed while we were still sending
        data = b""
        try:
            while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
                more = sock.recv(65536)
                if not more:
                    break
                data += more
        except ConnectionResetError:
            pass
        took = time.monotonic() - started
    status = int(data.split(b" ", 2)[1])
    return took, status, json.loads(data.split(b"\r\n\r\n", 1)[1])


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 1 << 30


def post_head(client: Client, path: str, framing: str) -> str:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {client.token}\r\n"
            f"Content-Type: application/json\r\n{framing}\r\n\r\n")


def chunked(data: bytes, size: int = 8192) -> tuple[bytes, ...]:
    return tuple(b"%x\r\n%s\r\n" % (len(data[i:i + size]), data[i:i + size]) for i in range(0, len(data), size))


def clip_draft(url: str, d: int = 1000, **extra: Any) -> dict[str, Any]:
    return {"m": {"width": 160, "height": 90, "out": {"format": "mp4"}}, "t": [{"tt": 0, "sg": [{"src": url, "d": d}]}],
            **extra}


def draft_of_size(url: str, size: int, **extra: Any) -> dict[str, Any]:
    """A renderable draft whose compact JSON is exactly ``size`` bytes (an unknown key pads it)."""
    draft = clip_draft(url, note="", **extra)
    missing = size - len(json.dumps(draft, separators=(",", ":")))
    assert missing >= 0
    return draft | {"note": "x" * missing}


def db_rows(server: Server, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(server.data_dir / "reelforge.db") as db:
        return db.execute(sql, args).fetchall()


# ---------------------------------------------------------------- the size of a body


def test_a_body_over_the_limit_is_refused_before_it_is_read(small, clients) -> None:
    client = clients(small.base).connect()
    took, status, body = exchange(small.port, post_head(client, SESSIONS, f"Content-Length: {BODY_MAX + 1}"))
    assert (status, body["code"]) == (413, 413) and took < 5           # answered though no byte of the body came
    assert body["data"] == {"limit": "max_json_body_bytes", "value": BODY_MAX + 1, "max": BODY_MAX}
    assert "max_json_body_bytes" in body["message"]
    at_cap = client.call("POST", SESSIONS, content=sized(BODY_MAX, task_name="at the cap"),
                         headers={"Content-Type": "application/json"})
    assert at_cap.json()["code"] == 0 and at_cap.json()["data"]["task_name"] == "at the cap"
    over = client.call("POST", SESSIONS, content=sized(BODY_MAX + 1, task_name="over"),
                       headers={"Content-Type": "application/json"})
    assert (over.status_code, over.json()["code"], over.json()["data"]["limit"]) == (413, 413, "max_json_body_bytes")


def test_a_chunked_body_is_refused_the_moment_it_passes_the_limit(small, clients) -> None:
    client = clients(small.base).connect()
    over = chunked(sized(BODY_MAX + 1, task_name="streamed"))          # no closing chunk: the body never ends
    took, status, body = exchange(small.port, post_head(client, SESSIONS, "Transfer-Encoding: chunked"), over)
    assert (status, body["code"], body["data"]["limit"]) == (413, 413, "max_json_body_bytes") and took < 5
    assert body["data"]["value"] > BODY_MAX
    at_cap = sized(BODY_MAX, task_name="chunked at the cap")
    reply = client.call("POST", SESSIONS, content=iter([at_cap[:BODY_MAX // 2], at_cap[BODY_MAX // 2:]]),
                        headers={"Content-Type": "application/json"})
    assert reply.request.headers.get("transfer-encoding") == "chunked"
    assert reply.json()["code"] == 0 and reply.json()["data"]["task_name"] == "chunked at the cap"


def test_uploads_keep_their_own_limit_and_other_bodies_get_the_json_one(small, clients, tmp_path: Path) -> None:
    client = clients(small.base).connect()
    clip = tmp_path / "big.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x180:r=30:d=2", "-c:v", "libx264", "-crf", "5", "-pix_fmt", "yuv420p",
           str(clip))
    assert clip.stat().st_size > BODY_MAX
    uploaded = client.upload(clip)
    assert uploaded["code"] == 0 and uploaded["data"]["files"][0]["size"] == clip.stat().st_size
    sneaked = client.call("POST", SESSIONS, files=[("files", ("big.mp4", clip.read_bytes()))])
    assert (sneaked.status_code, sneaked.json()["code"]) == (413, 413)
    urls = client.call("POST", f"/api/upload-video/nemo_agent/me/{client.session_id}",
                       content=sized(BODY_MAX + 1, urls=["https://example.com/a.mp4"]),
                       headers={"Content-Type": "application/json"})
    assert (urls.status_code, urls.json()["data"]["limit"]) == (413, "max_json_body_bytes")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@NEEDS_PROC
def test_huge_drafts_are_refused_fast_with_the_server_rss_flat(tmp_path: Path, clients) -> None:
    """The issue's 20 MB draft of 2.2 M tiny objects (26 s and 2.6 GB to accept before), on default limits."""
    with Server(tmp_path / "data") as server:
        assert server.proc is not None
        client = clients(server.base).connect()
        head = b'{"id":"render_huge","sessionId":"%s","draft":{"t":[{"tt":0,"sg":[{"src":"a.mp4","d":1000,"x":[' % (
            client.session_id.encode())
        tail = b"]}]}]}}"
        huge = head + b'{"k":0},' * 2_200_000 + b'{"k":0}' + tail
        path = "/api/render/proxy/lambda"
        before = peak_rss_mb(server.proc.pid)
        took, status, body = exchange(server.port, post_head(client, path, f"Content-Length: {len(huge)}"))
        assert (status, body["data"]["limit"]) == (413, "max_json_body_bytes") and took < 3
        took, status, body = exchange(server.port, post_head(client, path, "Transfer-Encoding: chunked"),
                                      chunked(huge, 65536))
        assert (status, body["data"]["limit"]) == (413, "max_json_body_bytes") and took < 3
        packed = head + b'{"k":0},' * ((2 * 1024 * 1024 - len(head) - len(tail)) // 8 - 1) + b'{"k":0}' + tail
        started = time.monotonic()
        reply = client.call("POST", path, content=packed, headers={"Content-Type": "application/json"})
        assert (reply.status_code, reply.json()["data"]["limit"]) == (400, "max_json_values")
        assert time.monotonic() - started < 3
        assert peak_rss_mb(server.proc.pid) - before < 50
        assert client.state()["data"]["draft_version"] == 0


# ---------------------------------------------------------------- the shape of a body


def test_measure_counts_depth_and_values_from_the_bytes() -> None:
    cases = {b"5": (0, 1), b"[]": (1, 1), b"[ [ ] ]": (2, 2), b"[1, 2]": (1, 3), b'{"a": {"b": []}}': (3, 3),
             b'{"a": "x,[{\\"]}", "b": [1, {}]}': (3, 5), b'"[[[,,,"': (0, 1)}
    for text, expected in cases.items():
        assert (measure(text).depth, measure(text).values) == expected, text


def test_deep_json_is_refused_naming_the_depth_limit(small, clients, media) -> None:
    client = clients(small.base).connect()
    headers = {"Content-Type": "application/json"}
    assert client.call("POST", SESSIONS, content=nested(32), headers=headers).json()["code"] == 0
    deeper = client.call("POST", SESSIONS, content=nested(33), headers=headers)
    assert (deeper.status_code, deeper.json()["code"]) == (400, 400)
    assert deeper.json()["data"] == {"limit": "max_json_depth", "value": 33, "max": 32}
    [clip] = client.upload(media.red)["data"]["files"]
    unknown = {"a": 1}
    for _ in range(300):                         # an unknown key nested 300 deep inside a draft (a plain 500 before)
        unknown = {"a": unknown}
    body = {"id": f"render_deep_{uuid.uuid4().hex[:8]}", "sessionId": client.session_id,
            "draft": clip_draft(clip["url"], x_deep=unknown)}
    reply = client.call("POST", "/api/render/proxy/lambda", json=body)
    assert (reply.status_code, reply.json()["code"], reply.json()["data"]["limit"]) == (400, 400, "max_json_depth")
    assert client.call("GET", f"/api/render/proxy/lambda/{body['id']}").status_code == 404
    assert client.state()["data"]["draft_version"] == 1                          # the upload's starting draft


def test_too_many_values_are_refused_naming_the_limit(small, clients) -> None:
    client = clients(small.base).connect()
    headers = {"Content-Type": "application/json"}

    def body(values: int) -> bytes:          # the object, task_name, its string, the list, and its numbers
        return json.dumps({"task_name": "v", "x": [0] * (values - 3)}).encode()

    assert measure(body(VALUES_MAX)).values == VALUES_MAX
    assert client.call("POST", SESSIONS, content=body(VALUES_MAX), headers=headers).json()["code"] == 0
    over = client.call("POST", SESSIONS, content=body(VALUES_MAX + 1), headers=headers)
    assert (over.status_code, over.json()["code"]) == (400, 400)
    assert over.json()["data"] == {"limit": "max_json_values", "value": VALUES_MAX + 1, "max": VALUES_MAX}


# ---------------------------------------------------------------- drafts


def test_a_draft_over_its_size_is_refused_before_any_job_exists(small, clients, media) -> None:
    client = clients(small.base).connect()
    [clip] = client.upload(media.red)["data"]["files"]
    over = client.export(draft_of_size(clip["url"], DRAFT_MAX + 1), render_id=f"render_big_{uuid.uuid4().hex[:8]}")
    assert over["code"] == 400 and over["data"] == {"limit": "max_draft_bytes", "value": DRAFT_MAX + 1,
                                                    "max": DRAFT_MAX}
    assert client.state()["data"]["draft_version"] == 1 and db_rows(small, "SELECT id FROM jobs WHERE session_id = ?",
                                                                    client.session_id) == []
    at_cap = draft_of_size(clip["url"], DRAFT_MAX)
    started = client.export(at_cap)
    assert started["code"] == 0, started
    assert client.state()["data"]["state"]["draft"] == at_cap


def test_exports_of_the_same_draft_store_it_once(small, clients, media) -> None:
    client = clients(small.base).connect()
    [clip] = client.upload(media.red)["data"]["files"]
    draft = draft_of_size(clip["url"], 15_000, x_text="\x00draft \"quoted\" [brackets] 中文")

    def stored() -> tuple[int, int]:
        [(used, page)] = db_rows(small, "SELECT (SELECT page_count FROM pragma_page_count()) - "
                                        "(SELECT freelist_count FROM pragma_freelist_count()), "
                                        "(SELECT page_size FROM pragma_page_size())")
        return used * page, len(db_rows(small, "SELECT hash FROM draft_texts"))

    first = client.export(draft)
    assert client.wait(first["id"])["status"] == "completed"        # the worker got the whole draft back
    (bytes_after_one, texts_after_one) = stored()
    ids = [client.export(draft)["id"] for _ in range(5)]
    (bytes_after_six, texts_after_six) = stored()
    assert texts_after_six == texts_after_one
    assert bytes_after_six - bytes_after_one < 5 * 5_000             # five jobs' rows, not ten more copies of 15 kB
    versions = db_rows(small, "SELECT version FROM drafts WHERE session_id = ?", client.session_id)
    assert versions == [(1,), (2,)] and client.state()["data"]["draft_version"] == 2     # the uploads', the export
    specs = db_rows(small, f"SELECT length(spec) FROM jobs WHERE render_id IN ({','.join('?' * 6)})", first["id"], *ids)
    assert len(specs) == 6 and all(length < 5_000 for (length,) in specs)
    assert client.state()["data"]["state"]["draft"] == draft
    for render_id in ids:
        assert client.wait(render_id)["status"] == "completed"


def test_history_is_capped_and_dropped_versions_free_their_text(small, clients, media) -> None:
    client = clients(small.base).connect()
    [clip] = client.upload(media.red)["data"]["files"]
    for d in range(1000, 1000 + 100 * (HISTORY + 3), 100):
        assert client.export(clip_draft(clip["url"], d=d))["code"] == 0
    versions = db_rows(small, "SELECT version, parent FROM drafts WHERE session_id = ? ORDER BY version",
                       client.session_id)
    assert versions == [(v, v - 1) for v in range(5, HISTORY + 5)]            # after the uploads' version 1
    assert client.state()["data"]["draft_version"] == HISTORY + 4
    orphans = db_rows(small, "SELECT count(*) FROM draft_texts WHERE hash NOT IN (SELECT hash FROM drafts) "
                             "AND hash NOT IN (SELECT draft_hash FROM jobs WHERE draft_hash IS NOT NULL)")
    assert orphans == [(0,)]


def test_undo_walks_back_within_the_history(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db", history=3)
    token, _ = store.issue_token("client-1", 100, 3600)
    session = store.create_session(token.user_id, "project", "en")
    hooks = _Hooks(store, token.user_id, session.id, CAPS, 1 << 20)
    def n(value: int) -> dict:
        return {"t": [{"tt": 0, "sg": [{"n": value}]}]}

    for value in range(1, 6):
        assert hooks.save(n(value), note=f"edit {value}") == value
    assert hooks.save(n(5), note="the same again") == 5                    # nothing new stored
    assert hooks.undo() == n(4) and hooks.undo() == n(3)
    assert hooks.undo() is None                                            # edit 2 is past the history
    assert store.draft(session.id) == n(3)
    assert hooks.save(n(6), note="after undo") == 8 and hooks.undo() == n(3)
    texts = {t for (t,) in store._db().execute("SELECT text FROM draft_texts")}
    assert texts == {'{"t":[{"tt":0,"sg":[{"n":3}]}]}'}   # undone versions and those past the history are gone


def test_a_chat_edit_that_would_make_the_draft_too_large_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    token, _ = store.issue_token("client-1", 100, 3600)
    session = store.create_session(token.user_id, "project", "en")
    with pytest.raises(LimitExceeded) as refused:
        _Hooks(store, token.user_id, session.id, CAPS, 1024).check({"t": [], "note": "x" * 1024})
    assert refused.value.details() == {"limit": "max_draft_bytes", "value": 1024 + 18, "max": 1024}


def test_state_gives_back_the_stored_draft_exactly(small, clients, media) -> None:
    client = clients(small.base).connect()
    [clip] = client.upload(media.red)["data"]["files"]
    draft = clip_draft(clip["url"], x={"text": "\x00draft-\u2028 \"\\ 😀", "n": [1.5, -0.0, 1e300, None, True]})
    assert client.export(draft)["code"] == 0
    reply = client.call("GET", f"/api/state/nemo_agent/me/{client.session_id}/latest")
    assert reply.headers["content-type"] == "application/json"
    state = reply.json()["data"]
    assert state["state"]["draft"] == draft and state["draft_version"] == 2     # after the uploads' version
    assert state["state"]["canvas_config"] == {"width": 160, "height": 90, "aspect_ratio": "16:9", "fps": 30}


# ---------------------------------------------------------------- a data directory from before


OLD_SCHEMA = """
CREATE TABLE users (id TEXT PRIMARY KEY, client_id TEXT UNIQUE, created REAL NOT NULL);
CREATE TABLE tokens (
  token TEXT PRIMARY KEY, user_id TEXT NOT NULL, client_id TEXT, anonymous INTEGER NOT NULL,
  available INTEGER NOT NULL, frozen INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL, expires REAL NOT NULL);
CREATE TABLE sessions (
  id TEXT PRIMARY KEY, task_id TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL, task_name TEXT NOT NULL,
  language TEXT NOT NULL, created REAL NOT NULL, draft TEXT NOT NULL DEFAULT '{}', version INTEGER NOT NULL DEFAULT 0);
CREATE TABLE jobs (
  id TEXT PRIMARY KEY, user_id TEXT NOT NULL, token TEXT NOT NULL, session_id TEXT NOT NULL, status TEXT NOT NULL,
  progress INTEGER NOT NULL DEFAULT 0, format TEXT NOT NULL, spec TEXT NOT NULL, output_path TEXT NOT NULL,
  result TEXT, error TEXT, attempts INTEGER NOT NULL DEFAULT 0, cancel INTEGER NOT NULL DEFAULT 0,
  credits INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL, started_ms INTEGER, completed_ms INTEGER);
CREATE TABLE drafts (
  session_id TEXT NOT NULL, version INTEGER NOT NULL, parent INTEGER, draft TEXT NOT NULL, note TEXT NOT NULL,
  created REAL NOT NULL, PRIMARY KEY (session_id, version));
"""


def test_an_old_data_directory_keeps_working(tmp_path: Path, media) -> None:
    data = tmp_path / "data"
    (data / "outputs").mkdir(parents=True)
    (tmp_path / "work").mkdir()
    now = time.time()
    first, second = clip_draft("red.mp4", d=500), clip_draft("red.mp4", d=700)
    kept_only_in_session = clip_draft("red.mp4", d=900)
    job = RenderJob(job_id="render_old_1", draft=second, sources={"red.mp4": str(media.red)},
                    output=str(data / "outputs" / "old.mp4"), data_root=str(data), duration_s=0.7,
                    config=RenderJob.config_of(EngineConfig(ffmpeg=FFMPEG, work_dir=tmp_path / "work")),
                    choice=CodecChoice("libx264", "cpu", None, "test", "test").to_dict())
    with sqlite3.connect(data / "reelforge.db") as db:
        db.executescript(OLD_SCHEMA)
        db.execute("INSERT INTO tokens VALUES ('nmv_usr_old', 'anon_old', 'c1', 1, 100, 0, ?, ?)", (now, now + 3600))
        for sid, draft, version in (("1", second, 2), ("2", kept_only_in_session, 1)):
            db.execute("INSERT INTO sessions VALUES (?, ?, 'anon_old', 'p', 'en', ?, ?, ?)",
                       (sid, f"task_{sid}", now, json.dumps(draft, separators=(",", ":")), version))
        for version, parent, draft in ((1, 0, first), (2, 1, second)):
            db.execute("INSERT INTO drafts VALUES ('1', ?, ?, ?, 'edit', ?)",
                       (version, parent, json.dumps(draft, separators=(",", ":")), now))
        db.execute("INSERT INTO jobs (id, user_id, token, session_id, status, format, spec, output_path, created_ms) "
                   "VALUES ('render_old_1', 'anon_old', 'nmv_usr_old', '1', 'pending', 'mp4', ?, ?, ?)",
                   (job.to_json(), job.output, int(now * 1000)))

    with Server(data) as server:
        headers = {**SKILL_HEADERS, "Authorization": "Bearer nmv_usr_old"}
        states = [httpx.get(f"{server.base}/api/state/nemo_agent/me/{sid}/latest", headers=headers).json()["data"]
                  for sid in ("1", "2")]
        assert (states[0]["state"]["draft"], states[0]["draft_version"]) == (second, 2)
        assert (states[1]["state"]["draft"], states[1]["draft_version"]) == (kept_only_in_session, 1)
        deadline = time.monotonic() + 120
        while (done := httpx.get(f"{server.base}/api/render/proxy/lambda/render_old_1", headers=headers).json())[
                "status"] not in ("completed", "failed") and time.monotonic() < deadline:
            time.sleep(0.3)
        assert done["status"] == "completed", done                   # its spec, compacted on start, still renders

    store = Store(data / "reelforge.db")
    assert "draft" not in {r[1] for r in store._db().execute("PRAGMA table_info(sessions)")}
    row = store.job("render_old_1")
    assert row is not None and len(row.spec) < len(job.to_json()) and json.loads(store.job_spec(row)) == json.loads(
        job.to_json())
    hooks = _Hooks(store, "anon_old", "1", CAPS, 1 << 20)
    assert hooks.undo() == first and store.session("1").version == 3
