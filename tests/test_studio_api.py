"""The endpoints the studio page calls (docs/api.md, "The studio's endpoints"), against a real
``reelforge serve``: the claim link's exchange, the session list, a session's uploads (with thumbnails an
<img> can show) and renders, the quick preview, the state's summary line, and the farm page's additions.
Each refusal is checked for what the client reads and for having changed nothing."""

from __future__ import annotations

import io
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from api.routes.render import gpu_label
from engine.media.probe import inspect_output
from tests.apiserver import Client, RedisServer, Server, Worker, until
from tests.conftest import mean_color, video_frames


def db(server: Server) -> sqlite3.Connection:
    """The server's own database (WAL: safe beside the running server), to move a claim's expiry into the past."""
    return sqlite3.connect(server.data_dir / "reelforge.db", timeout=30, isolation_level=None)


def claim_for(client: Client) -> str:
    body = client.json("POST", "/api/auth/claim-token", json={"session_id": client.session_id})
    assert body["code"] == 0, body
    return str(body["data"]["claim_token"])


def exchange(base: str, claim: Any) -> httpx.Response:
    """What the studio page does with ``?ct=``: no bearer, the claim in the body."""
    return httpx.post(base + "/api/auth/claim-exchange", json={"claim_token": claim}, timeout=30)


# ---------------------------------------------------------------- claim exchange


def test_a_claim_link_opens_its_session_with_its_owners_token(api_server, clients) -> None:
    owner = clients(api_server.base).connect()
    claim = claim_for(owner)
    reply = exchange(api_server.base, claim)
    assert reply.status_code == 200
    data = reply.json()["data"]
    assert data["token"] == owner.token and data["token"].startswith("nmv_usr_")
    assert data["session_id"] == owner.session_id and data["task_id"].startswith("task_")
    assert 6 * 86400 < data["expires_in"] <= 7 * 86400
    browser = Client(api_server.base, token=data["token"], session_id=data["session_id"])
    try:
        assert browser.state()["data"]["session_id"] == owner.session_id      # the token opens the session
    finally:
        browser.close()
    assert exchange(api_server.base, claim).json()["data"]["token"] == owner.token     # a link opens again


def test_a_bad_or_expired_claim_is_refused_with_a_readable_401_and_changes_nothing(api_server, clients) -> None:
    owner = clients(api_server.base).connect()
    claim = claim_for(owner)
    with db(api_server) as con:
        tokens_before = con.execute("SELECT COUNT(*) FROM tokens").fetchone()[0]
    for bad in ("clm_" + "x" * 32, "nmv_usr_abc", "", 42, None, claim + "x"):
        reply = exchange(api_server.base, bad)
        assert reply.status_code == 401, bad
        body = reply.json()
        assert body["code"] == 1001 and body["data"] is None
        assert "not valid or has expired" in body["message"], body
    not_json = httpx.post(api_server.base + "/api/auth/claim-exchange", content=b"{", timeout=30,
                          headers={"Content-Type": "application/json"})
    assert (not_json.status_code, not_json.json()["code"]) == (400, 400)
    con = db(api_server)
    try:
        con.execute("UPDATE claims SET expires = ? WHERE claim = ?", (time.time() - 1, claim))
        expired = exchange(api_server.base, claim)
        assert (expired.status_code, expired.json()["code"]) == (401, 1001)
        assert "expired" in expired.json()["message"]
        assert con.execute("SELECT COUNT(*) FROM tokens").fetchone()[0] == tokens_before    # no token was made
    finally:
        con.close()
    assert "nmv_usr_" not in str(exchange(api_server.base, claim).request.url)


# ---------------------------------------------------------------- sessions, uploads, renders


def clip_draft(url: str, title: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"aspect": "16:9"}
    if title:
        meta["title"] = title
    return {"v": 1, "m": meta, "t": [{"tt": 0, "sg": [{"src": url, "st": 0, "d": 1000}]}]}


def test_sessions_are_listed_newest_activity_first_with_counts_and_titles(api_server, clients, media) -> None:
    alice = clients(api_server.base).connect()
    first = alice.session_id
    alice.upload(media.red, media.music)
    second = alice.json("POST", "/api/tasks/me/with-session/nemo_agent",
                        json={"task_name": "Holiday"})["data"]["session_id"]
    listed = alice.json("GET", "/api/sessions")["data"]["sessions"]
    assert [s["session_id"] for s in listed] == [second, first]
    newest, older = listed
    assert newest["title"] == "Holiday" and newest["uploads"] == 0 and newest["renders"] == 0
    assert older["title"] == "red.mp4" and older["uploads"] == 2 and older["task_id"].startswith("task_")
    assert older["created_at"] <= older["updated_at"] <= newest["updated_at"] <= time.time() * 1000
    [clip] = alice.upload(media.blue)["data"]["files"]       # new activity in the first session
    done = alice.wait(alice.export(clip_draft(clip["url"], title="Blue loop"), render_id="studio_list_1")["id"])
    assert done["status"] == "completed", done
    listed = alice.json("GET", "/api/sessions")["data"]["sessions"]
    assert [s["session_id"] for s in listed] == [first, second]
    assert listed[0]["title"] == "Blue loop" and listed[0]["uploads"] == 3 and listed[0]["renders"] == 1
    assert [s["session_id"] for s in alice.json("GET", "/api/sessions?limit=1")["data"]["sessions"]] == [first]
    for bad in ("0", "101", "x", "-1"):
        reply = alice.call("GET", f"/api/sessions?limit={bad}")
        assert (reply.status_code, reply.json()["code"]) == (400, 400) and "limit" in reply.json()["message"]
    bob = clients(api_server.base).connect()
    assert [s["session_id"] for s in bob.json("GET", "/api/sessions")["data"]["sessions"]] == [bob.session_id]
    anonymous = httpx.get(api_server.base + "/api/sessions", timeout=30)
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, 1001)


def test_uploads_are_listed_with_thumbnails_an_img_can_load(api_server, clients, media) -> None:
    alice = clients(api_server.base).connect()
    alice.upload(media.pattern, media.green_png, media.music)
    files = alice.json("GET", f"/api/sessions/{alice.session_id}/uploads")["data"]["files"]
    assert [f["filename"] for f in files] == ["pattern.mp4", "green.png", "music.mp3"]
    clip, still, sound = files
    assert clip["duration"] == 3.0 and clip["width"] == 320 and clip["size"] == media.pattern.stat().st_size
    assert clip["url"] == clip["cdn_url"] and "/api/media/" in clip["url"] and clip["file_type"] == "video"
    assert sound["thumbnail_url"] is None
    for item, size in ((clip, (320, 180)), (still, (64, 36))):
        picture = httpx.get(item["thumbnail_url"], timeout=30)             # no token, as an <img> asks
        assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
        with Image.open(io.BytesIO(picture.content)) as shown:
            assert shown.format == "JPEG" and shown.size == size
            if item is still:
                assert shown.convert("RGB").getpixel((32, 18))[1] > 200      # green
    if media.heic is not None:                                                 # browsers cannot show HEIC itself
        [heic] = alice.upload(media.heic)["data"]["files"]
        [listed] = [f for f in alice.json("GET", f"/api/sessions/{alice.session_id}/uploads")["data"]["files"]
                    if f["id"] == heic["id"]]
        picture = httpx.get(listed["thumbnail_url"], timeout=30)
        assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
        with Image.open(io.BytesIO(picture.content)) as shown:
            assert shown.size == (64, 36) and shown.convert("RGB").getpixel((32, 18))[2] > 200     # blue
    forged = clip["thumbnail_url"].replace("s=", "s=0")
    assert httpx.get(forged, timeout=30).status_code == 404
    again = alice.json("GET", f"/api/sessions/{alice.session_id}/uploads")["data"]["files"]
    assert again[0]["thumbnail_url"] == clip["thumbnail_url"]                 # stable: the browser caches it


def test_another_users_session_lists_nothing_and_says_session_not_found(api_server, clients, media) -> None:
    alice = clients(api_server.base).connect()
    alice.upload(media.red)
    bob = clients(api_server.base).connect()
    for what in ("uploads", "renders"):
        for sid in (alice.session_id, "123"):
            reply = bob.call("GET", f"/api/sessions/{sid}/{what}")
            assert reply.status_code == 404, (what, sid)
            assert reply.json() == {"code": 1002, "message": "Session not found", "data": None,
                                    "detail": "Session not found"}
    assert alice.json("GET", f"/api/sessions/{alice.session_id}/renders")["data"]["renders"] == []


def test_a_sessions_renders_are_its_exports_newest_first_as_the_status_endpoint_says(api_server, clients,
                                                                                       media) -> None:
    alice = clients(api_server.base).connect()
    [clip] = alice.upload(media.red)["data"]["files"]
    draft = clip_draft(clip["url"])
    gif = alice.wait(alice.export(draft, {"format": "gif", "quality": "low"}, render_id="studio_r1")["id"])
    mp4 = alice.wait(alice.export(draft, {"format": "mp4", "quality": "low"}, render_id="studio_r2")["id"])
    assert gif["status"] == mp4["status"] == "completed"
    renders = alice.json("GET", f"/api/sessions/{alice.session_id}/renders")["data"]["renders"]
    assert [r["id"] for r in renders] == ["studio_r2", "studio_r1"]
    polled = alice.json("GET", "/api/render/proxy/lambda/studio_r1")
    assert renders[1] == {**polled["data"], "output": polled["output"]}
    assert renders[1]["output"]["format"] == "gif" and renders[1]["output"]["size"] > 0
    assert renders[1]["output"]["duration"] == 1.0 and renders[1]["encoder"]
    assert httpx.get(renders[1]["output"]["url"], timeout=30).content[:6] == b"GIF89a"


# ---------------------------------------------------------------- preview


def preview(client: Client, **body: Any) -> httpx.Response:
    """The page's preview request: no X-Skill-Source (a preview needs none)."""
    return client.call("POST", "/api/render/preview", json={"sessionId": client.session_id, **body},
                       headers={"X-Skill-Source": ""})


def finished_preview(client: Client, started: httpx.Response, tmp_path: Path) -> tuple[dict[str, Any], Path]:
    assert started.status_code == 200, started.text
    body = started.json()
    assert body["status"] == "pending" and body["id"].startswith("preview~")
    done = until(lambda: (b := client.json("GET", f"/api/render/proxy/lambda/{body['id']}",
                                           headers={"X-Skill-Source": ""}))["status"] in ("completed", "failed")
                 and b, timeout_s=120)
    assert done["status"] == "completed", done
    path = tmp_path / f"{body['id'].replace('~', '_')}.mp4"
    path.write_bytes(httpx.get(done["output"]["url"], timeout=60).content)
    return done, path


def test_a_preview_is_a_small_quick_mp4_of_the_window_asked_for(api_server, clients, media, tmp_path) -> None:
    alice = clients(api_server.base, headers={}).connect()
    assert alice.state()["data"]["summary"] is None                         # nothing to say about an empty draft
    alice.upload(media.red, media.blue)                        # the starting draft: red 0-2 s, then blue 2-4 s
    summary = alice.state()["data"]["summary"]
    assert summary.startswith("Timeline (1 track): 1. Video: ") and "(0-2s)" in summary and "(2-4s)" in summary
    credits = alice.json("GET", "/api/credits/balance/simple")["data"]
    done, whole = finished_preview(alice, preview(alice), tmp_path)
    shown = inspect_output(whole)
    assert (shown.container, shown.video_codec) == ("mov", "h264") and min(shown.width, shown.height) == 360
    assert shown.frames == 60 and abs(shown.duration_s - 4.0) < 0.1         # 15 fps, the whole 4 s draft
    assert done["output"]["format"] == "mp4" and done["data"]["encoder"]
    _, blue = finished_preview(alice, preview(alice, start_ms=2500, end_ms=3500), tmp_path)
    _, red = finished_preview(alice, preview(alice, start_ms=500, end_ms=1500), tmp_path)
    for path, colour in ((blue, (0, 0, 255)), (red, (255, 0, 0))):
        pictures = video_frames(path)
        assert len(pictures) == 15, path                                     # 1 s at 15 fps
        for picture in (pictures[0], pictures[-1]):
            assert np.allclose(mean_color(picture), colour, atol=40), (path, mean_color(picture))
    assert alice.json("GET", f"/api/sessions/{alice.session_id}/renders")["data"]["renders"] == []
    assert alice.json("GET", "/api/sessions")["data"]["sessions"][0]["renders"] == 0
    assert alice.json("GET", "/api/credits/balance/simple")["data"] == credits     # free


def test_a_new_preview_replaces_the_unfinished_one_and_lasts_at_most_20_s(api_server, clients, media,
                                                                          tmp_path) -> None:
    alice = clients(api_server.base, headers={}).connect()
    [clip] = alice.upload(media.pattern)["data"]["files"]
    long_draft = {"v": 1, "m": {"aspect": "16:9"}, "t": [{"tt": 0, "sg": [{"src": clip["url"]}] * 9}]}   # 27 s
    first = preview(alice, draft=long_draft)
    assert first.status_code == 200, first.text
    done, path = finished_preview(alice, preview(alice, draft=long_draft, start_ms=5000), tmp_path)
    assert abs(inspect_output(path).duration_s - 20.0) < 0.1                 # 5-25 s: 20 s at most
    replaced = alice.json("GET", f"/api/render/proxy/lambda/{first.json()['id']}", headers={"X-Skill-Source": ""})
    assert replaced["status"] == "failed" and replaced["error"] == "cancelled"
    late = finished_preview(alice, preview(alice, draft=long_draft, end_ms=27000), tmp_path)[1]
    assert abs(inspect_output(late).duration_s - 20.0) < 0.1                 # the last 20 s
    assert httpx.get(done["output"]["url"], timeout=30).status_code == 410   # the one it replaced is gone
    with db(api_server) as con:
        [(kept,)] = con.execute("SELECT output_path FROM jobs WHERE render_id = ?", (done["id"],)).fetchall()
    assert kept.startswith(str(api_server.data_dir.resolve())) and not Path(kept).exists()    # its file too


def test_a_bad_preview_request_is_refused_and_makes_nothing(api_server, clients, media) -> None:
    alice = clients(api_server.base, headers={}).connect()
    empty = preview(alice)
    assert (empty.status_code, empty.json()["code"]) == (400, 400) and "empty" in empty.json()["message"]
    alice.upload(media.red)                                    # a 2 s draft
    bad = [({"start_ms": 1500, "end_ms": 1000}, "end_ms (1000) must be after start_ms (1500)"),
           ({"start_ms": 1000, "end_ms": 1000}, "end_ms (1000) must be after start_ms (1000)"),
           ({"start_ms": -5}, "start_ms must be a whole number of milliseconds, 0 or more"),
           ({"end_ms": "soon"}, "end_ms must be a whole number of milliseconds, 0 or more"),
           ({"start_ms": 1.5}, "start_ms must be a whole number of milliseconds, 0 or more"),
           ({"start_ms": 2000}, "start_ms (2000) is past the end of the draft, which lasts 2000 ms"),
           ({"draft": {"t": [{"tt": 0, "sg": [{"src": "nope.mp4"}]}]}}, None),
           ({"draft": "x"}, "draft must be a JSON object (the data.state.draft you read from state)")]
    for body, message in bad:
        reply = preview(alice, **body)
        assert (reply.status_code, reply.json()["code"]) == (400, 400), (body, reply.text)
        if message is not None:
            assert reply.json()["message"] == message, body
    bob = clients(api_server.base, headers={}).connect()
    other = preview(bob, sessionId=alice.session_id)
    assert (other.status_code, other.json()["code"]) == (404, 1002)
    with db(api_server) as con:
        made = con.execute("SELECT COUNT(*) FROM jobs WHERE session_id IN (?, ?)",
                           (alice.session_id, bob.session_id)).fetchone()[0]
    assert made == 0


# ---------------------------------------------------------------- the farm page


def test_the_farm_listing_shows_encoder_progress_queue_and_recent_renders_others_anonymous(api_server, clients,
                                                                                          media) -> None:
    alice = clients(api_server.base).connect()
    bob = clients(api_server.base).connect()
    [clip] = alice.upload(media.pattern)["data"]["files"]
    long_draft = {"v": 1, "m": {"width": 320, "height": 180}, "t": [{"tt": 0, "sg": [{"src": clip["url"]}] * 2}]}
    render_id = alice.export(long_draft, {"format": "mp4", "quality": "high"}, render_id="studio_farm_1")["id"]
    seen: list[dict[str, Any]] = []

    def running_row() -> dict[str, Any] | None:
        listing = alice.json("GET", "/api/farm/workers")["data"]
        seen.append(bob.json("GET", "/api/farm/workers")["data"])
        rows = [row for worker in listing["workers"] for row in worker["running"] if row["render_id"] == render_id]
        return rows[0] if rows else None

    row = until(running_row, timeout_s=60, step=0.1)
    assert row["mine"] and row["status"] == "processing" and 0 <= row["progress"] <= 100 and row["format"] == "mp4"
    assert row["worker"] == "local"
    assert alice.wait(render_id)["status"] == "completed"
    health = httpx.get(api_server.base + "/health", timeout=30).json()["data"]
    listing = alice.json("GET", "/api/farm/workers")["data"]
    [local] = listing["workers"]
    assert listing["mode"] == "embedded" and local["name"] == "local" and local["encoder"] == health["encoder"]
    assert local["gpu"] is None if (health["encoder"], health["decoder"]) == ("libx264", "cpu") else local["gpu"]
    assert isinstance(listing["queue"], list) and listing["jobs"]["waiting"] >= len(listing["queue"])
    mine = next(r for r in listing["recent"] if r["render_id"] == render_id)
    assert mine["status"] == "completed" and mine["duration_ms"] == 6000 and mine["worker"] == "local"
    assert mine["render_ms"] > 0 and mine["completedAt"] >= mine["createdAt"] and not mine["preview"]
    ended = [r["completedAt"] for r in listing["recent"]]
    assert ended == sorted(ended, reverse=True) and len(ended) <= 20
    theirs = bob.json("GET", "/api/farm/workers")["data"]
    assert render_id not in str(seen) + str(theirs)                              # bob never sees alice's ids
    assert any(r["render_id"] is None and not r["mine"] and r["completedAt"] == mine["completedAt"]
               for r in theirs["recent"])
    assert any(row["render_id"] is None and not row["mine"] for v in seen for w in v["workers"] for row in w["running"])


# ---------------------------------------------------------------- the preview's window, cut from the draft


def cut(draft_json: dict[str, Any], start: int, end: int, durations: dict[str, int]) -> dict[str, Any]:
    """:func:`api.preview.window` with sources of these lengths (ms; 0: a picture)."""
    from api.preview import Window, placement_of, window
    from engine.model.draft import parse_draft
    from engine.model.mediainfo import MediaInfo

    infos = {src: MediaInfo(src, "image" if ms == 0 else "video", "mp4", None, 1, ms or None, None, None)
             for src, ms in durations.items()}
    draft = parse_draft(draft_json)
    stills = frozenset(src for src, ms in durations.items() if ms == 0)
    return window(draft_json, draft, placement_of(draft, infos), Window(start, end), stills)


def test_the_window_keeps_what_it_shows_trimming_sources_transitions_and_fades() -> None:
    draft = {"m": {"out": {"format": "gif", "loop_seam": "auto", "max_mb": 2}}, "t": [
        {"tt": 0, "sg": [{"src": "a.mp4", "tr": {"in": "fade", "out": "fade"}},          # 0-4000
                         {"src": "b.mp4", "ss": 1000, "spd": 2.0, "tr": {"in": "wipeleft"}},   # 4000-6000
                         {"src": "c.mp4", "rev": True, "d": 3000},                        # 6000-9000
                         {"src": "p.png"}]},                                              # 9000-12000
        {"tt": 7, "sg": [{"st": 3000, "d": 2000, "txt": "Hi", "tr": {"in": "fade"}}]},
        {"tt": 1, "sg": [{"src": "m.mp3", "st": 0, "fi": 500, "fo": 500, "ss": 100}]}]}
    lengths = {"a.mp4": 4000, "b.mp4": 5000, "c.mp4": 5000, "p.png": 0, "m.mp3": 20_000}
    part = cut(draft, 3500, 8000, lengths)
    assert part["d"] == 4500
    assert part["m"]["out"] == {"format": "mp4", "quality": "low", "resolution": "360p", "fps": 15}
    video, text, music = (track["sg"] for track in part["t"])
    assert video == [{"src": "a.mp4", "tr": {"out": "fade"}, "st": 0, "d": 500, "ss": 3500},
                     {"src": "b.mp4", "ss": 1000, "spd": 2.0, "tr": {"in": "wipeleft"}, "st": 500, "d": 2000},
                     {"src": "c.mp4", "rev": True, "d": 2000, "st": 2500, "ss": 1000}]   # its first 2 s of 3
    assert text == [{"st": 0, "d": 1500, "txt": "Hi"}]
    assert music == [{"src": "m.mp3", "st": 0, "fi": 0, "fo": 0, "ss": 3600, "d": 4500}]
    assert draft["t"][0]["sg"][0] == {"src": "a.mp4", "tr": {"in": "fade", "out": "fade"}}   # the original is untouched
    still = cut(draft, 10_000, 12_000, lengths)["t"][0]["sg"]
    assert still == [{"src": "p.png", "st": 0, "d": 2000}]                                   # a picture has no ss


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs Debian's redis-server")
def test_on_a_farm_the_listing_names_each_workers_encoder_and_the_renders_it_made(tmp_path, clients, media) -> None:
    with RedisServer(tmp_path) as redis_server:
        env = {"REELFORGE_REDIS_URL": redis_server.url, "REELFORGE_DATA_DIR": str(tmp_path / "data")}
        with Server(tmp_path / "data", env=env) as api:
            worker = Worker("w1", env, tmp_path / "w1.log").start()
            try:
                alice = clients(api.base).connect()
                bob = clients(api.base).connect()
                [clip] = alice.upload(media.red)["data"]["files"]
                listed = until(lambda: alice.json("GET", "/api/farm/workers")["data"]["workers"], timeout_s=60)
                [w1] = listed
                assert (w1["name"], w1["queues"], w1["encoder"]) == ("w1", ["cpu"], w1["choice"]["encoder"])
                assert w1["gpu"] is None if w1["choice"]["gpu_index"] is None else w1["gpu"]
                done = alice.wait(alice.export(clip_draft(clip["url"]), render_id="studio_farm_2")["id"])
                assert done["status"] == "completed", done
                mine = alice.json("GET", "/api/farm/workers")["data"]
                assert mine["mode"] == "farm" and mine["queue"] == []
                [row] = [r for r in mine["recent"] if r["render_id"] == "studio_farm_2"]
                assert (row["worker"], row["status"], row["duration_ms"]) == ("w1", "completed", 1000)
                theirs = bob.json("GET", "/api/farm/workers")["data"]
                assert "studio_farm_2" not in str(theirs)
                assert [(r["render_id"], r["mine"], r["worker"]) for r in theirs["recent"]] == [(None, False, "w1")]
            finally:
                worker.stop()


def test_the_farm_page_names_a_gpu_by_what_was_found_at_start_up() -> None:
    """A server or worker that renders on a GPU shows its name (from NVML, by CUDA index); one without, none."""
    found = {0: "NVIDIA L4", 1: "NVIDIA A10G"}
    assert gpu_label(1, found) == "NVIDIA A10G"
    assert gpu_label(None, found) is None
    assert gpu_label(2, found) == "GPU 2"           # used but not described: still says which
