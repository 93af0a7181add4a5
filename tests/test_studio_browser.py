"""The studio in a real browser: headless Chromium (Debian's, through Playwright) against a real ``reelforge
serve`` (conftest's ``api_server``, shared with the API tests) and a real two-worker farm (test_farm's
fixtures). One browser for the module; each test is a fresh visitor. Screenshots of the main screens go to
the tests' output folder (``studio-screens`` under pytest's base temp); README's come from there.

What a person does, and sees: a first visit gets a token; a clip uploaded with the file picker shows with its
length and size; "convert this clip into a looping GIF" streams its reply in, shows the tool call, and the
timeline changes without a reload; export to GIF moves the progress bar, the GIF plays in the page and its
download is a looping GIF; undo is a button; a claim link opens its session in a fresh browser; a refused
upload says the API's own reason; the farm page lists the farm's live workers and what they render.
"""

from __future__ import annotations

import base64
import re
import shutil
import tomllib
from collections.abc import Iterator
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from api.studio.routes import STATIC
from engine.media.probe import inspect_output
from tests import studio_browser, test_farm
from tests.apiserver import SKILL_HEADERS, Client
from tests.conftest import ffmpeg
from tests.studio_browser import PHONE, Visitor, visitor
from tests.test_farm import Farm

CHAT = "convert this clip into a looping GIF"

# fixtures from elsewhere: the module's one browser, and test_farm's Redis and two-worker farm (module-scoped
# there and here, so this module starts its own farm once)
browser = studio_browser.browser
redis_url = test_farm.redis_url
farm = test_farm.farm


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 s of moving test pattern with a tone: long enough that an export's progress is seen rising."""
    path = tmp_path_factory.mktemp("studio-media") / "beach day.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=480x270:r=30:d=6", "-f", "lavfi", "-i", "sine=f=440:d=6",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path))
    return path


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("studio-screens")


@pytest.fixture()
def person(browser: Any, api_server: Any) -> Iterator[Visitor]:
    seen = visitor(browser, api_server.base)
    yield seen
    seen.close()
    assert not seen.offsite, f"the page asked for something outside the server: {seen.offsite}"
    assert not seen.errors, f"the page's script failed: {seen.errors}"


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def by(page: Any, testid: str) -> Any:
    return page.get_by_test_id(testid)


def arrive(page: Any, base: str, path: str = "/") -> str:
    """Open the studio and wait until it has a token and an open session; the session's id."""
    page.goto(base + path)
    expect(by(page, "token-status")).to_have_attribute("data-state", "ready")
    session = by(page, "session")
    sid = session.get_attribute("data-session-id")
    assert sid, "the page opened no session"
    return sid


def shown_bytes(text: str) -> float:
    """A size as the page shows it ("1.03 MB") in bytes."""
    value, unit = text.split()
    return float(value) * {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}[unit]


def record(page: Any, testid: str, what: str) -> None:
    """Remember, in the page, every value ``what`` (a JS expression of ``el``) takes as ``testid`` changes."""
    page.evaluate("""([testid, what]) => {
        window.__seen = window.__seen || {};
        const seen = window.__seen[testid] = [];
        const read = new Function("el", "return " + what);
        new MutationObserver(() => {
            const all = document.querySelectorAll(`[data-testid=${testid}]`);
            if (all.length) seen.push(read(all[all.length - 1]));
        }).observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});
    }""", [testid, what])


def recorded(page: Any, testid: str) -> list[Any]:
    return list(page.evaluate("(testid) => window.__seen[testid]", testid))


def test_a_first_visit_uploads_chats_exports_a_gif_and_downloads_it(person: Visitor, clip: Path, shots: Path,
                                                                     tmp_path: Path) -> None:
    page, base = person.page, person.base
    sid = arrive(page, base)
    token = page.evaluate("localStorage.getItem('reelforge.token')")
    assert token.startswith("nmv_usr_") and token not in page.content()
    expect(by(page, "token-status")).to_contain_text("anon_")
    expect(by(page, "credits")).to_have_text("100 credits")
    expect(by(page, "session-item").and_(page.locator(f"[data-session-id='{sid}']"))).to_have_count(1)

    # upload with the file picker: a bar that fills, then the clip with its length and size
    by(page, "upload-input").set_input_files(clip)
    expect(by(page, "upload-progress")).to_have_js_property("value", 100)
    item = by(page, "media-item")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("beach day.mp4")
    expect(by(item, "media-duration")).to_have_text("6.00 s")
    assert shown_bytes(by(item, "media-size").inner_text()) == pytest.approx(clip.stat().st_size, rel=0.01)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=item.locator("img").element_handle())
    expect(by(page, "timeline-lane")).to_have_count(1)
    assert "beach day" in (by(page, "timeline-segment").get_attribute("title") or "")

    # chat, from the keyboard: the reply grows as it streams, the tool call is a line, no reload
    page.evaluate("window.__sameDocument = true")
    record(page, "chat-reply", "el.textContent.length")
    by(page, "chat-input").focus()
    page.keyboard.type(CHAT)
    page.keyboard.press("Enter")
    expect(by(page, "chat-user")).to_have_text(CHAT)
    reply = by(page, "chat-reply")
    expect(reply).to_contain_text("Export it as GIF")
    expect(by(page, "chat-send")).to_be_enabled()
    expect(by(page, "chat-tool")).to_contain_text("set_output")
    expect(by(page, "chat-tool")).to_contain_text("✓")
    lengths = recorded(page, "chat-reply")
    assert len(set(lengths)) >= 3 and lengths == sorted(lengths), f"the reply did not stream in: {lengths}"
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"
    expect(by(page, "timeline-summary")).to_contain_text("Timeline (1 track)")
    expect(by(page, "timeline")).to_contain_text("Output: GIF, looping")
    expect(by(page, "credits")).not_to_have_text("100 credits")

    # a quick preview of the edit plays in the page: 360p MP4, not listed with the exports
    by(page, "preview-button").click()
    preview = by(page, "preview-player")
    expect(preview).to_be_visible(timeout=30_000)
    page.wait_for_function("el => el.readyState >= 1", arg=preview.element_handle())
    assert preview.evaluate("v => [v.videoWidth, v.videoHeight, Math.round(v.duration)]") == [640, 360, 6]
    expect(by(page, "render-item")).to_have_count(0)

    # export a GIF (the chat's choice is already picked): the bar rises, the GIF plays in the page, with a download
    expect(by(page, "export-format")).to_have_value("gif")
    by(page, "export-quality").select_option("medium")
    record(page, "export-progress", "Number(el.value)")
    by(page, "export-button").click()
    player = by(page, "result-player")
    expect(player).to_be_visible(timeout=60_000)
    progress = recorded(page, "export-progress")
    assert progress[-1] == 100 and progress == sorted(progress[progress.index(0):]) and 0 in progress, progress
    assert any(0 < p < 100 for p in progress), f"the bar jumped straight to 100: {progress}"
    expect(by(page, "export-progress")).to_have_js_property("value", 100)
    assert player.evaluate("el => el.tagName") == "IMG"
    expect(player).to_have_js_property("complete", True)
    assert player.evaluate("img => img.naturalWidth") == 480
    assert by(page, "result-encoder").inner_text().startswith("gif")
    render = by(page, "render-item")
    expect(render).to_have_count(1)
    render_id = render.get_attribute("data-render-id")
    page.screenshot(path=shots / "studio-edit.png", full_page=True)

    with page.expect_download() as got:
        by(page, "result-download").click()
    saved = tmp_path / "download.gif"
    got.value.save_as(saved)
    info = inspect_output(saved)
    assert (info.container, info.width, info.loop) == ("gif", 480, 0) and info.frames > 30, info
    assert got.value.suggested_filename == f"{render_id}.gif"
    assert shown_bytes(by(page, "result-size").inner_text()) == pytest.approx(saved.stat().st_size, rel=0.01)
    assert abs(float(by(page, "result-duration").inner_text().split()[0]) - info.duration_s) < 0.1

    # undo is a button: the GIF output goes, the clip stays
    by(page, "chat-undo").click()
    expect(by(page, "chat-user").last).to_have_text("undo")
    expect(by(page, "chat-reply").last).to_contain_text("Undid")
    expect(by(page, "timeline")).not_to_contain_text("Output: GIF")
    expect(by(page, "timeline-lane")).to_have_count(1)

    # a new session goes to the top of the list, newest first; the old one opens again with its work
    by(page, "new-session").click()
    expect(by(page, "session")).not_to_have_attribute("data-session-id", sid)
    fresh = by(page, "session").get_attribute("data-session-id")
    expect(by(page, "session-item").first).to_have_attribute("data-session-id", str(fresh))
    expect(by(page, "session-item")).to_have_count(2)
    expect(by(page, "media-item")).to_have_count(0)
    expect(by(page, "timeline-lane")).to_have_count(0)
    page.locator(f"[data-testid=session-item][data-session-id='{sid}'] button").click()
    expect(by(page, "session")).to_have_attribute("data-session-id", sid)
    expect(by(page, "media-item")).to_have_count(1)
    expect(by(page, "render-item")).to_have_count(1)
    expect(by(page, "chat-user").first).to_have_text(CHAT)

    # at phone width nothing runs off the side, and the same controls are there
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    expect(by(page, "export-button")).to_be_visible()
    page.screenshot(path=shots / "studio-phone.png", full_page=True)


def test_a_claim_link_opens_its_session_in_a_fresh_browser(browser: Any, api_server: Any, clip: Path,
                                                           shots: Path) -> None:
    owner = Client(api_server.base).connect()
    try:
        assert owner.upload(clip, clip)["code"] == 0
        for text in (CHAT, 'add the title "Urban Dreams" at the top for 2 seconds', "add a crossfade between the clips",
                     "add background music at 30%"):
            assert owner.chat(text).status == 200
        claim = owner.json("POST", "/api/auth/claim-token",
                           json={"task_id": owner.json("GET", f"/api/state/nemo_agent/me/{owner.session_id}/latest")
                                 ["data"]["task_id"], "session_id": owner.session_id})["data"]["claim_token"]
    finally:
        owner.close()
    seen = visitor(browser, api_server.base)
    try:
        page = seen.page
        sid = arrive(page, api_server.base, f"/workspace/claim?ct={claim}")
        assert sid == owner.session_id
        assert page.url == api_server.base + "/", "the claim stayed in the address bar"
        assert page.evaluate("localStorage.getItem('reelforge.token')").startswith("nmv_usr_")
        expect(by(page, "token-status")).to_contain_text("claim link")
        expect(by(page, "chat-user")).to_have_count(4)            # the session's history came with it
        expect(by(page, "chat-user").first).to_have_text(CHAT)
        expect(by(page, "timeline")).to_contain_text("Output: GIF, looping")
        expect(by(page, "media-item")).to_have_count(2)
        expect(by(page, "error-banner")).to_be_hidden()
        # the timeline: a lane per track, blocks at their place, the transition, the text, the music's volume
        expect(by(page, "timeline-summary")).to_contain_text("Timeline (3 tracks)")
        lanes = by(page, "timeline-lane")
        expect(lanes).to_have_count(3)
        video, title, music = (by(lanes.nth(i), "timeline-segment") for i in range(3))
        expect(video).to_have_count(2)
        expect(video.nth(1)).to_have_attribute("title", re.compile("Enters with: fade 500 ms"))
        expect(video.nth(1).locator(".tr")).to_have_count(1)
        expect(title).to_have_text(re.compile("“Urban Dreams”"))
        expect(title).to_have_attribute("title", re.compile("On the timeline: 0s to 2s"))
        expect(music).to_have_attribute("title", re.compile("Volume 30%"))
        first, second, text = (box.bounding_box() for box in (video.nth(0), video.nth(1), title))
        assert abs(first["width"] - second["width"]) < 2 and abs(first["x"] + first["width"] - second["x"]) < 2
        assert abs(text["width"] - first["width"] / 3) < 2 and abs(text["x"] - first["x"]) < 2   # 0-2 s; 6 s clips
        video.nth(0).hover()
        page.screenshot(path=shots / "studio-claimed.png", full_page=True)
        # a click on the timeline moves the playhead; the preview around it is the 10 s about it, cut at the end
        lane = lanes.nth(0).locator(".lane-body")
        width = lane.bounding_box()["width"]
        lane.click(position={"x": width * 0.75, "y": 5})
        assert page.locator("#playhead").input_value() == "9000"
        page.get_by_label("around the playhead").check()
        by(page, "preview-button").click()
        preview = by(page, "preview-player")
        expect(preview).to_be_visible(timeout=30_000)
        page.wait_for_function("el => el.readyState >= 1", arg=preview.element_handle())
        assert preview.evaluate("v => Math.round(v.duration)") == 8          # 4-12 s of the 12 s timeline
    finally:
        seen.close()
    assert not seen.offsite and not seen.errors, (seen.offsite, seen.errors)

    legacy = visitor(browser, api_server.base)  # the seeds' older link form, token in the link: the same session
    try:
        link = f"/workspace/claim?token={owner.token}&task=t&session={owner.session_id}"
        assert arrive(legacy.page, api_server.base, link) == owner.session_id
        assert legacy.page.url == api_server.base + "/"
        expect(by(legacy.page, "media-item")).to_have_count(2)
    finally:
        legacy.close()

    bad = visitor(browser, api_server.base)     # a claim that is no claim: the API's words, and a fresh start
    try:
        arrive(bad.page, api_server.base, "/workspace/claim?ct=clm_not-a-real-claim")
        banner = by(bad.page, "error-banner")
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("not valid or has expired")
        assert not banner.inner_text().lstrip().startswith("{")
        assert "clm_" not in bad.page.url
    finally:
        bad.close()


def test_a_refused_upload_says_the_api_s_reason(person: Visitor, tmp_path: Path) -> None:
    page = person.page
    arrive(page, person.base)
    junk = tmp_path / "notes.mp4"
    junk.write_text("this is not a video\n" * 50)
    by(page, "upload-input").set_input_files(junk)
    refused = by(page, "upload-error")
    expect(refused).to_contain_text("notes.mp4: not a media file we can read")
    expect(by(page, "error-banner")).to_contain_text("not a media file we can read")
    assert "{" not in refused.inner_text()
    expect(by(page, "media-item")).to_have_count(0)
    expect(by(page, "timeline-lane")).to_have_count(0)

    # dropped together with a picture: the picture is taken, the junk refused again, each with its own bar
    picture = tmp_path / "green.png"
    Image.new("RGB", (64, 36), (0, 255, 0)).save(picture)
    files = [[p.name, base64.b64encode(p.read_bytes()).decode(), kind]
             for p, kind in ((picture, "image/png"), (junk, "video/mp4"))]
    dropped = page.evaluate_handle("""(files) => { const dt = new DataTransfer();
        for (const [name, b64, type] of files) {
            dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name, {type}));
        }
        return dt; }""", files)
    by(page, "drop-zone").dispatch_event("drop", {"dataTransfer": dropped})
    expect(by(page, "upload-progress")).to_have_count(3)
    expect(refused).to_have_count(2)
    expect(by(page, "media-item")).to_have_count(1)
    expect(by(page, "media-item")).to_contain_text("green.png")
    expect(by(page, "media-duration")).to_have_text("still")
    expect(by(page, "timeline-segment")).to_have_count(1)


def test_a_running_export_is_cancelled_from_the_page(person: Visitor, clip: Path, tmp_path: Path) -> None:
    page = person.page
    sid = arrive(page, person.base)
    copies = []
    for n in range(6):                          # 36 s of WebM: seconds of rendering, time to press Cancel
        copies.append(tmp_path / f"take {n}.mp4")
        shutil.copy(clip, copies[-1])
    by(page, "upload-input").set_input_files(copies)
    expect(by(page, "media-item")).to_have_count(6)
    expect(by(page, "timeline-summary")).to_contain_text("take 5")
    by(page, "export-format").select_option("webm")
    by(page, "export-button").click()
    cancel = by(page, "export-cancel")
    expect(cancel).to_be_visible()
    expect(by(page, "export-status")).to_contain_text("processing")
    cancel.click()
    expect(by(page, "export-status")).to_have_text("— cancelled", timeout=15_000)
    expect(cancel).to_be_hidden()
    expect(by(page, "export-result")).to_be_hidden()
    expect(by(page, "error-banner")).to_be_hidden()
    [item] = by(page, "render-item").all()
    render_id = item.get_attribute("data-render-id")
    expect(item).to_contain_text("failed")
    token = page.evaluate("localStorage.getItem('reelforge.token')")
    job = httpx.get(f"{person.base}/api/render/proxy/lambda/{render_id}",
                    headers={"Authorization": f"Bearer {token}", **SKILL_HEADERS}).json()
    assert (job["status"], job["error"], job["data"]["cancelled"]) == ("failed", "cancelled", True), job
    assert sid == by(page, "session").get_attribute("data-session-id")


def test_every_control_is_reached_with_the_keyboard_and_shows_its_focus(person: Visitor) -> None:
    page = person.page
    arrive(page, person.base)
    reached: list[str] = []
    for _ in range(40):
        page.keyboard.press("Tab")
        focused = page.evaluate("""() => { const el = document.activeElement;
            const named = el.dataset.testid || el.id || el.closest("[data-testid]")?.dataset.testid;
            return [named || el.tagName, getComputedStyle(el).outlineStyle]; }""")
        reached.append(focused[0])
        if focused[0] in ("new-session", "chat-send", "export-button"):
            assert focused[1] != "none", f"{focused[0]} shows no focus"
    wanted = ["new-session", "session-item", "upload-input", "chat-input", "chat-send", "chat-undo", "preview-button",
              "export-format", "export-quality", "export-button"]
    missed = [w for w in wanted if w not in reached]
    assert not missed, f"not reached with Tab: {missed} (reached {reached})"


def test_the_pages_are_served_beside_the_api_without_shadowing_it(api_server: Any) -> None:
    base = api_server.base
    page = httpx.get(base + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "http" not in page.text.replace('href="http', "")      # nothing from elsewhere
    for name in ("studio.js", "api.js", "timeline.js", "farm.js", "studio.css", "farm.html"):
        got = httpx.get(f"{base}/studio/static/{name}")
        assert got.status_code == 200, name
    assert httpx.get(base + "/studio/static/studio.js").headers["content-type"].startswith("text/javascript")
    for path in ("/studio/static/..%2Froutes.py", "/studio/static/routes.py", "/studio/static/.hidden"):
        refused = httpx.get(base + path)
        assert refused.status_code == 404 and refused.json()["code"] == 404, path
    assert httpx.get(base + "/farm").status_code == 200
    assert httpx.get(base + "/docs").status_code == 200
    paths = httpx.get(base + "/openapi.json").json()["paths"]
    assert "/" not in paths and "/farm" not in paths and "/api/farm/workers" in paths
    assert httpx.get(base + "/health").json()["data"]["status"] == "ok"


def test_a_wheel_carries_every_file_of_the_pages() -> None:
    """A non-editable install serves the studio too: pyproject's package data covers every file in static/."""
    pyproject = tomllib.loads((STATIC.parents[2] / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["api.studio"]
    files = [str(p.relative_to(STATIC.parent)) for p in STATIC.rglob("*") if p.is_file()]
    assert len(files) >= 7 and all(any(fnmatch(f, g) for g in globs) for f in files), (files, globs)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs Debian's redis-server")
def test_the_farm_page_lists_the_farm_s_workers_and_what_they_render(browser: Any, farm: Farm, clip: Path,
                                                                      shots: Path) -> None:
    owner, other = Client(farm.api.base).connect(), Client(farm.api.base).connect()
    try:
        # at once, one on each worker: the owner's long MP4, and a short GIF of someone else's
        url = owner.upload(clip)["data"]["files"][0]["url"]
        long = {"m": {"width": 640, "height": 360}, "t": [{"tt": 0, "sg": [{"src": url}] * 3}]}   # 18 s: one part
        running = owner.export(long, {"format": "mp4", "quality": "high"})["id"]
        theirs = other.upload(clip)["data"]["files"][0]["url"]
        short = {"m": {"width": 320, "height": 180}, "t": [{"tt": 0, "sg": [{"src": theirs, "d": 1000}]}]}
        finished = other.export(short, {"format": "gif"})["id"]
        seen = visitor(browser, farm.api.base, storage={"reelforge.token": str(owner.token)})
        try:
            page = seen.page
            page.goto(farm.api.base + "/farm")
            expect(by(page, "farm-mode")).to_have_attribute("data-mode", "farm")
            workers = by(page, "farm-worker")
            expect(workers).to_have_count(2)
            assert sorted(w.get_attribute("data-worker") for w in workers.all()) == ["w1", "w2"]
            for worker in workers.all():
                expect(by(worker, "worker-queues")).to_have_text("cpu")
                expect(by(worker, "worker-encoder")).to_have_text("libx264")
                expect(by(worker, "worker-gpu")).to_have_text("none")
            busy = workers.filter(has=page.get_by_test_id("worker-job").filter(has_text=running))
            expect(busy).to_have_count(1, timeout=20_000)          # the owner sees its render by name, live
            expect(by(page, "farm-queue")).to_contain_text("1 rendering")
            page.wait_for_function("""(id) => [...document.querySelectorAll("[data-testid=farm-worker]")].some((w) =>
                w.querySelector("[data-testid=worker-job]").textContent.includes(id)
                && w.querySelector("[data-testid=worker-progress]").value > 0)""", arg=running, timeout=20_000)
            done = by(page, "farm-recent-item")                   # someone else's: a row, but not its id
            expect(done).to_have_count(1, timeout=20_000)
            expect(done).to_contain_text("another user's render")
            expect(done).to_contain_text("completed")
            expect(done).to_contain_text("GIF")
            assert done.get_attribute("data-render-id") == "" and finished not in page.content()
            assert done.locator("td").nth(5).inner_text() in ("w1", "w2")
            page.screenshot(path=shots / "studio-farm.png", full_page=True)
        finally:
            seen.close()
        assert not seen.offsite and not seen.errors, (seen.offsite, seen.errors)
        owner.json("POST", f"/api/render/proxy/lambda/{running}/cancel")     # no need to wait for it
    finally:
        owner.close()
        other.close()


def test_the_farm_page_shows_the_embedded_server_s_own_slots(person: Visitor) -> None:
    page = person.page
    page.goto(person.base + "/farm")
    expect(by(page, "farm-mode")).to_have_attribute("data-mode", "embedded")
    worker = by(page, "farm-worker")
    expect(worker).to_have_count(1)
    expect(worker).to_have_attribute("data-worker", "local")
    expect(by(page, "worker-queues")).to_have_text("local")
    expect(by(page, "worker-encoder")).to_have_text(re.compile("^(libx264|h264_nvenc)$"))
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
