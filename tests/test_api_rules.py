"""The API's rules, against a real server: every error code, isolation between tokens, upload
limits, attribution, credits under concurrency. Bad input always changes nothing."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.apiserver import SKILL_HEADERS, Server

NEEDS_PROC = pytest.mark.skipif(not Path("/proc/self").exists(), reason="reads /proc, which only Linux has")


def clip_draft(url: str, d: int = 1000, fmt: str = "mp4") -> dict:
    return {"m": {"width": 160, "height": 90, "out": {"format": fmt}}, "t": [{"tt": 0, "sg": [{"src": url, "d": d}]}]}


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


# ---------------------------------------------------------------- tokens


def test_anonymous_tokens(api_server) -> None:
    url = api_server.base + "/api/auth/anonymous-token"
    missing = httpx.post(url)
    assert (missing.status_code, missing.json()["code"]) == (400, 400) and "X-Client-Id" in missing.json()["message"]
    too_long = httpx.post(url, headers={"X-Client-Id": "x" * 65})
    assert (too_long.status_code, too_long.json()["code"]) == (400, 400)
    client_id = str(uuid.uuid4())
    first = httpx.post(url, headers={"X-Client-Id": client_id}).json()
    again = httpx.post(url, headers={"X-Client-Id": client_id}).json()
    other = httpx.post(url, headers={"X-Client-Id": str(uuid.uuid4())}).json()
    assert first["code"] == 0 and first["data"]["token"].startswith("nmv_usr_")
    assert again["data"]["token"] == first["data"]["token"]                  # one token per client id (Q7)
    assert other["data"]["token"] != first["data"]["token"]
    assert first["data"]["credits"] == 100 and first["data"]["user_id"].startswith("anon_")
    expires = time.mktime(time.strptime(first["data"]["expires_at"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert 6.9 * 86400 < expires - time.time() <= 7 * 86400
    assert '"token":"nmv_usr_' in httpx.post(url, headers={"X-Client-Id": client_id}).text   # compact JSON


def test_every_endpoint_wants_a_valid_token(api_server) -> None:
    calls = [("POST", "/api/tasks/me/with-session/nemo_agent"), ("GET", "/api/credits/balance/simple"),
             ("GET", "/api/state/nemo_agent/me/1/latest"), ("POST", "/api/upload-video/nemo_agent/me/1"),
             ("POST", "/api/render/proxy/lambda"), ("GET", "/api/render/proxy/lambda/r1"),
             ("GET", "/api/render/proxy/r1/download"), ("POST", "/api/render/proxy/lambda/r1/cancel")]
    for method, path in calls:
        for auth in ({}, {"Authorization": "Bearer nmv_usr_nope"}, {"Authorization": "Basic abc"}):
            reply = httpx.request(method, api_server.base + path, headers={**SKILL_HEADERS, **auth})
            assert (reply.status_code, reply.json()["code"]) == (401, 1001), (method, path, auth)


def test_unknown_routes_and_bad_bodies_keep_the_envelope(api_server, clients) -> None:
    client = clients(api_server.base).connect()
    missing = client.call("GET", "/api/nothing/here")
    assert (missing.status_code, missing.json()["code"]) == (404, 404)
    garbage = client.call("POST", "/api/tasks/me/with-session/nemo_agent", content=b"{not json",
                          headers={"Content-Type": "application/json"})
    assert (garbage.status_code, garbage.json()["code"]) == (400, 400)
    bare = client.call("POST", "/api/tasks/me/with-session/nemo_agent")     # no body at all: defaults
    assert bare.json()["code"] == 0 and bare.json()["data"]["language"] == "en"


def test_every_json_endpoint_refuses_a_body_over_the_limit_unread(api_server, clients) -> None:
    """Only the headers are sent: the answer comes without the server waiting for a byte of the body."""
    client = clients(api_server.base).connect()
    over = 2 * 1024 * 1024 + 1
    paths = ["/api/tasks/me/with-session/nemo_agent", "/api/render/proxy/lambda", "/api/render/proxy/draft", "/run_sse",
             "/api/auth/claim-token", "/api/auth/anonymous-token", "/api/render/proxy/lambda/r1/cancel",
             f"/api/upload-video/nemo_agent/me/{client.session_id}"]
    for path in paths:
        with socket.create_connection(("127.0.0.1", api_server.port), timeout=10) as sock:
            sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {client.token}\r\n"
                         f"Content-Type: application/json\r\nContent-Length: {over}\r\n\r\n".encode())
            reply = b""
            while not reply.endswith(b"}"):
                more = sock.recv(65536)
                if not more:
                    break
                reply += more
        status, body = int(reply.split(b" ", 2)[1]), json.loads(reply.split(b"\r\n\r\n", 1)[1])
        assert (status, body["code"]) == (413, 413), path
        assert body["data"] == {"limit": "max_json_body_bytes", "value": over, "max": over - 1}, path


# ---------------------------------------------------------------- isolation


def test_a_token_sees_only_its_own_things(api_server, clients, media) -> None:
    alice = clients(api_server.base).connect()
    bob = clients(api_server.base).connect()
    [clip] = alice.upload(media.red)["data"]["files"]
    started = alice.export(clip_draft(clip["url"]))
    alice.wait(started["id"])
    forbidden = [
        ("GET", f"/api/state/nemo_agent/me/{alice.session_id}/latest"),
        ("GET", f"/api/state/nemo_agent/{alice.json('GET', '/api/credits/balance/simple') and 'anon_x'}/"
                f"{bob.session_id}/latest"),
        ("POST", f"/api/upload-video/nemo_agent/me/{alice.session_id}"),
    ]
    for method, path in forbidden:
        reply = bob.call(method, path, files=[("files", ("a.png", media.green_png.read_bytes()))]
                         if method == "POST" else None)
        assert (reply.status_code, reply.json()["code"]) == (404, 1002), path
    assert bob.call("GET", f"/api/render/proxy/lambda/{started['id']}").json()["code"] == 404
    assert bob.call("GET", f"/api/render/proxy/{started['id']}/download").status_code == 404
    assert bob.call("GET", clip["url"].replace(api_server.base, "")).status_code == 404
    stolen = bob.export(clip_draft(clip["url"]))                               # alice's media in bob's draft
    assert stolen["code"] == 400 and stolen["data"]["issues"][0]["path"] == "t[0].sg[0].src"
    bob.session_id, mine = alice.session_id, bob.session_id
    assert bob.export(clip_draft(clip["url"]))["code"] == 1002                # alice's session
    bob.session_id = mine
    own_id = alice.json("GET", f"/api/state/nemo_agent/me/{alice.session_id}/latest")["data"]["user_id"]
    assert alice.json("GET", f"/api/state/nemo_agent/{own_id}/{alice.session_id}/latest")["code"] == 0
    assert alice.call("GET", clip["url"].replace(api_server.base, "")).content == media.red.read_bytes()


# ---------------------------------------------------------------- uploads


@pytest.mark.parametrize("name", ["notes.mp4", "truncated.mp4", "run.mov", "noise.png"])
def test_unsupported_files_are_refused_and_nothing_is_kept(api_server, clients, media, name) -> None:
    client = clients(api_server.base).connect()
    [good] = client.upload(media.green_png)["data"]["files"]
    before = files_under(api_server.data_dir / "media")
    reply = client.call("POST", f"/api/upload-video/nemo_agent/me/{client.session_id}",
                        files=[("files", ("fine.png", media.green_png.read_bytes())),
                               ("files", (name, (media.dir / name).read_bytes()))])
    assert (reply.status_code, reply.json()["code"]) == (415, 4001) and name in reply.json()["message"]
    assert files_under(api_server.data_dir / "media") == before             # not even the good file
    assert [f["id"] for f in client.state()["data"]["state"]["video_infos"]] == [good["id"]]


def test_formats_the_seeds_list_are_taken_by_content_not_name(api_server, clients, media, tmp_path) -> None:
    client = clients(api_server.base).connect()
    renamed = tmp_path / "song.png"
    renamed.write_bytes(media.music.read_bytes())
    files = client.upload(media.pattern, media.webp, media.gif, renamed, field_name="file")["data"]["files"]
    assert [(f["file_type"], f["format"]) for f in files] == [("video", "mp4"), ("image", "webp"), ("image", "gif"),
                                                             ("audio", "mp3")]
    wav = tmp_path / "tone.wav"
    from tests.conftest import ffmpeg

    ffmpeg("-f", "lavfi", "-i", "sine=d=1", str(wav))
    assert client.upload(wav)["data"]["files"][0]["format"] == "wav"


def test_a_file_over_the_limit_is_refused_while_streaming(strict_server, clients) -> None:
    client = clients(strict_server.base).connect()
    before = files_under(strict_server.data_dir / "media")
    boundary = "----reelforge-test"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.mp4\"\r\n"
            f"Content-Type: video/mp4\r\n\r\n").encode()
    total = 200_000_000                                                       # claims 200 MB; the limit is 1 MB
    request = (f"POST /api/upload-video/nemo_agent/me/{client.session_id} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               f"Authorization: Bearer {client.token}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
               f"Content-Length: {total}\r\n\r\n").encode() + head
    sent, started = 0, time.monotonic()
    with socket.create_connection(("127.0.0.1", strict_server.port)) as sock:
        sock.sendall(request)
        sock.settimeout(0.01)
        answer = b""
        while sent < total and not answer:
            try:
                sock.sendall(b"\0" * 65536)
                sent += 65536
            except OSError:
                break
            try:
                answer = sock.recv(65536)
            except TimeoutError:
                continue
        sock.settimeout(10)
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
        head, _, body = answer.partition(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length")))
        while len(body) < length:
            body += sock.recv(65536)
    assert b" 413 " in head.split(b"\r\n")[0] and json.loads(body)["code"] == 4002
    assert sent < 20_000_000 and time.monotonic() - started < 10                # refused early, not at 200 MB
    time.sleep(0.3)
    assert files_under(strict_server.data_dir / "media") == before              # no partial file left


def test_url_uploads(strict_server, api_server, clients, media) -> None:
    payload = media.pattern.read_bytes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    source = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=source.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{source.server_address[1]}/clips/pattern.mp4"
    try:
        lenient = clients(strict_server.base).connect()                          # private addresses allowed there
        reply = lenient.json("POST", f"/api/upload-video/nemo_agent/me/{lenient.session_id}",
                             json={"urls": [url], "source_type": "url"})
        [item] = reply["data"]["files"]
        assert (item["filename"], item["file_type"], item["duration"], item["source"]) == ("pattern.mp4", "video", 3.0,
                                                                                          "url")
        default = clients(api_server.base).connect()                             # the default refuses loopback
        refused = default.call("POST", f"/api/upload-video/nemo_agent/me/{default.session_id}",
                               json={"urls": [url], "source_type": "url"})
        assert (refused.status_code, refused.json()["code"]) == (400, 400)
        assert default.state()["data"]["state"]["video_infos"] == []
        for bad in ({"urls": ["file:///etc/passwd"]}, {"urls": []}, {"nothing": 1}, {"urls": "http://x"}):
            path = f"/api/upload-video/nemo_agent/me/{default.session_id}"
            assert default.json("POST", path, json=bad)["code"] == 400
    finally:
        source.shutdown()
        source.server_close()


# ---------------------------------------------------------------- exports


def test_export_without_attribution_is_402_for_anonymous_tokens(api_server, clients, media) -> None:
    client = clients(api_server.base, headers={}).connect()
    [clip] = client.upload(media.red)["data"]["files"]                          # other calls work without them
    refused = client.call("POST", "/api/render/proxy/lambda",
                          json={"id": "render_no_attr", "sessionId": client.session_id,
                                "draft": clip_draft(clip["url"])})
    assert (refused.status_code, refused.json()["code"]) == (402, 402)
    assert client.call("GET", "/api/render/proxy/lambda/render_no_attr").status_code == 402
    client.headers = dict(SKILL_HEADERS)
    assert client.call("GET", "/api/render/proxy/lambda/render_no_attr").json()["code"] == 404   # nothing was made


def test_invalid_drafts_get_400_with_paths_and_make_no_job(api_server, clients, media) -> None:
    client = clients(api_server.base).connect()
    [clip] = client.upload(media.red)["data"]["files"]
    uploaded = client.state()["data"]["state"]["draft"]                          # the uploads' starting draft
    cases = [
        ({}, "t"),
        ({"t": [{"tt": 0, "sg": []}]}, "t"),
        ({"t": [{"tt": 0, "sg": [{"src": clip["url"], "d": -5}]}]}, "t[0].sg[0].d"),
        ({"t": [{"tt": 0, "sg": [{"src": "https://elsewhere.example/x.mp4"}]}]}, "t[0].sg[0].src"),
        ({"t": [{"tt": 0, "sg": [{"src": clip["url"], "ss": 9000}]}]}, "t[0].sg[0].ss"),
        ({"t": [{"tt": 0, "sg": [{"src": clip["url"]}]}], "m": {"out": {"format": "avi"}}}, "m.out.format"),
    ]
    for index, (draft, path) in enumerate(cases):
        render_id = f"render_bad_{index}_{uuid.uuid4().hex[:6]}"
        reply = client.call("POST", "/api/render/proxy/lambda",
                            json={"id": render_id, "sessionId": client.session_id, "draft": draft})
        body = reply.json()
        assert (reply.status_code, body["code"]) == (400, 400), body
        assert path in [issue["path"] for issue in body["data"]["issues"]], body
        assert client.call("GET", f"/api/render/proxy/lambda/{render_id}").json()["code"] == 404
    assert client.state()["data"]["state"]["draft"] == uploaded                  # bad input changed nothing
    assert client.json("GET", "/api/credits/balance/simple")["data"]["available"] == 100


def test_repeated_ids_are_idempotent_and_each_owner_has_their_own(api_server, clients, media) -> None:
    alice, bob = clients(api_server.base).connect(), clients(api_server.base).connect()
    [clip] = alice.upload(media.red)["data"]["files"]
    render_id = f"render_{uuid.uuid4().hex}"
    first = alice.export(clip_draft(clip["url"]), render_id=render_id)
    again = alice.export(clip_draft(clip["url"], d=500), render_id=render_id)
    assert again["id"] == first["id"] and again["data"]["createdAt"] == first["data"]["createdAt"]
    [bob_clip] = bob.upload(media.red)["data"]["files"]
    bobs = bob.call("POST", "/api/render/proxy/lambda",                         # the same id: bob's own job
                    json={"id": render_id, "sessionId": bob.session_id, "draft": clip_draft(bob_clip["url"], d=500)})
    assert (bobs.status_code, bobs.json()["code"], bobs.json()["id"]) == (200, 0, render_id)
    legacy = alice.call("GET", f"/api/render/proxy/{render_id}").json()          # E12 alias
    assert legacy["id"] == render_id
    bob_done = bob.wait(render_id)
    assert bob_done["status"] == "completed" and bob_done["output"]["duration"] == pytest.approx(0.5, abs=0.05)
    done = alice.wait(render_id)
    assert done["output"]["duration"] == pytest.approx(1.0, abs=0.05)           # each sees only their own
    assert done["output"]["url"] != bob_done["output"]["url"] and render_id not in done["output"]["url"]
    assert done["status"] == "completed" and done["progress"] == 100 and done["data"]["completedAt"]
    ranged = alice.call("GET", f"/api/render/proxy/{render_id}/download", headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and len(ranged.content) == 100 and ranged.headers["content-range"].startswith(
        "bytes 0-99/")
    url = done["output"]["url"]
    assert httpx.get(url).status_code == 200
    assert httpx.get(url.replace("s=", "s=0")).json()["code"] == 404            # a forged signature
    assert httpx.get(url.split("?")[0] + "?e=1&s=abc").json()["code"] == 404
    aliased = alice.call("POST", "/api/render/proxy/draft",                      # E12 export alias
                         json={"id": f"render_{uuid.uuid4().hex}", "sessionId": alice.session_id,
                               "draft": clip_draft(clip["url"])}).json()
    assert aliased["code"] == 0 and aliased["status"] in ("pending", "processing", "completed")


@NEEDS_PROC
def test_cancel_stops_a_running_export(api_server, clients, media) -> None:
    client = clients(api_server.base).connect()
    [clip] = client.upload(media.pattern)["data"]["files"]
    long = {"m": {"width": 640, "height": 360, "out": {"format": "webm"}},
            "t": [{"tt": 0, "sg": [{"src": clip["url"], "d": 60_000}]}]}
    started = client.export(long)
    deadline = time.monotonic() + 30
    while client.json("GET", f"/api/render/proxy/lambda/{started['id']}")["progress"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    cancelled = client.json("POST", f"/api/render/proxy/lambda/{started['id']}/cancel")
    assert (cancelled["status"], cancelled["error"], cancelled["data"]["cancelled"]) == ("failed", "cancelled", True)
    assert client.json("GET", f"/api/render/proxy/lambda/{started['id']}")["status"] == "failed"
    time.sleep(0.5)
    procs = [p for p in Path("/proc").iterdir() if p.name.isdigit()]
    running = [p for p in procs if (p / "cmdline").exists() and b"libvpx-vp9" in (p / "cmdline").read_bytes()]
    assert running == []


# ---------------------------------------------------------------- credits


def test_credits_never_go_negative_under_concurrent_exports(strict_server, clients, media) -> None:
    client = clients(strict_server.base).connect()                               # 100 credits, 30 per export
    [clip] = client.upload(media.green_png)["data"]["files"]
    draft = clip_draft(clip["url"], d=300)

    def spend(index: int) -> int:
        body = {"id": f"render_race_{index}_{uuid.uuid4().hex[:6]}", "sessionId": client.session_id, "draft": draft}
        reply = httpx.post(strict_server.base + "/api/render/proxy/lambda", json=body, timeout=60,
                           headers={**SKILL_HEADERS, "Authorization": f"Bearer {client.token}"})
        return int(reply.json()["code"])

    with ThreadPoolExecutor(max_workers=10) as pool:
        codes = list(pool.map(spend, range(10)))
    assert sorted(codes) == [0, 0, 0] + [2001] * 7
    balance = client.json("GET", "/api/credits/balance/simple")["data"]
    assert balance["available"] == 10 and balance["available"] + balance["frozen"] == balance["total"]
    refused = client.export(draft)
    assert refused["code"] == 2001 and refused["data"]["bind_id"].startswith("anon_")


def test_a_burst_of_token_requests_is_rate_limited(tmp_path) -> None:
    server = Server(tmp_path / "data", env={"REELFORGE_TOKEN_REQUESTS_PER_MINUTE": "5"}).start()
    try:
        codes = []
        for _ in range(8):
            reply = httpx.post(server.base + "/api/auth/anonymous-token", headers={"X-Client-Id": str(uuid.uuid4())})
            codes.append(reply.status_code)
        assert codes[:5] == [200] * 5 and codes[5:] == [429] * 3
        assert 0 < int(reply.headers["Retry-After"]) <= 60 and reply.json()["code"] == 429
    finally:
        server.stop()


def test_state_shows_the_exported_draft(api_server, clients, media) -> None:
    client = clients(api_server.base).connect()
    [clip] = client.upload(media.red)["data"]["files"]
    draft = clip_draft(clip["url"]) | {"x_client_note": {"kept": True}}
    client.export(draft)
    state = client.state()["data"]
    assert state["state"]["draft"] == draft and state["draft_version"] == 2      # after the uploads' version
    assert json.dumps(state["state"]["canvas_config"]) == json.dumps(
        {"width": 160, "height": 90, "aspect_ratio": "16:9", "fps": 30})


# ---------------------------------------------------------------- the cost of a render


def test_issue_10_a_day_long_draft_and_a_ten_hour_audio_draft_get_400_and_queue_nothing(api_server, clients,
                                                                                        media) -> None:
    client = clients(api_server.base).connect()
    [still] = client.upload(media.green_png)["data"]["files"]
    [music] = client.upload(media.music)["data"]["files"]
    uploaded = client.state()["data"]["state"]["draft"]                          # the still's starting draft
    day = {"m": {"width": 64, "height": 36}, "t": [{"tt": 0, "sg": [{"src": still["url"], "d": 3_600_000}] * 24}]}
    ten_hours = {"t": [{"tt": 1, "sg": [{"src": music["url"], "d": 3_600_000, "loop": True}] * 10}]}
    for draft, seconds in ((day, 86_400), (ten_hours, 36_000)):
        render_id = f"render_cost_{uuid.uuid4().hex[:8]}"
        reply = client.call("POST", "/api/render/proxy/lambda",
                            json={"id": render_id, "sessionId": client.session_id, "draft": draft})
        body = reply.json()
        assert (reply.status_code, body["code"]) == (400, 400), body
        assert body["data"] == {"limit": "max_timeline_s", "value": seconds, "max": 3600}
        assert body["message"] == (f"the timeline's length in seconds is {seconds}, "
                                   "over the limit of 3600 (max_timeline_s)")
        assert client.call("GET", f"/api/render/proxy/lambda/{render_id}").json()["code"] == 404
    assert client.state()["data"]["state"]["draft"] == uploaded
    assert client.json("GET", "/api/credits/balance/simple")["data"]["available"] == 100
    hour = {"m": {"width": 64, "height": 36, "fps": 1}, "t": [{"tt": 0, "sg": [{"src": still["url"], "d": 3_600_000}]}]}
    queued = client.export(hour)
    assert queued["code"] == 0                                                   # at the cap: queued
    client.call("POST", f"/api/render/proxy/lambda/{queued['id']}/cancel")


def test_caps_are_settings_and_a_chat_edit_over_one_is_refused(tmp_path, clients, media) -> None:
    env = {"REELFORGE_MAX_SEGMENTS": "2", "REELFORGE_MAX_OUTPUT_PIXELS": str(64 * 36 * 30)}
    with Server(tmp_path / "data", env=env) as server:
        client = clients(server.base).connect()
        files = client.upload(media.green_png, media.yellow_jpg_rot, media.webp)["data"]["files"]
        answer = client.chat("make a slideshow of these photos")                   # far over both: the first
        assert "over the limit of 69120 (max_output_pixels)" in answer.final_text
        assert [r["response"]["status"] for r in answer.responses()] == ["error"]
        assert client.state()["data"]["state"]["draft"] == {}                       # the edit changed nothing

        def export(*lengths: int) -> dict:
            draft = {"m": {"width": 64, "height": 36, "fps": 30, "out": {"width": 64}},   # no skill resolution
                     "t": [{"tt": 0, "sg": [{"src": files[i]["url"], "d": d} for i, d in enumerate(lengths)]}]}
            return client.call("POST", "/api/render/proxy/lambda",
                               json={"id": f"render_{uuid.uuid4().hex[:8]}", "sessionId": client.session_id,
                                     "draft": draft}).json()

        first = export(500, 500)
        assert first["code"] == 0, first                                               # 30 frames, 2 segments
        assert export(500, 534)["data"] == {"limit": "max_output_pixels", "value": 64 * 36 * 31,
                                            "max": 64 * 36 * 30}                       # one frame more
        assert export(300, 300, 400)["data"] == {"limit": "max_segments", "value": 3, "max": 2}
