"""The media doors against a real ``reelforge serve``: a header that declares a huge frame is refused fast
without the API growing, a probe child out of memory is a 4001 that keeps nothing, probes run a few at a
time, an upload request carries a bounded number of files, and the chat's music bed stays small whatever
the timeline, yet loops with sound to the end of a render."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.media.probe import inspect_output
from tests.apiserver import Client, Server
from tests.conftest import audio_samples, rms
from tests.crafted import mkv_declaring, png_declaring
from tests.test_api_seeds import download, uploaded

NEEDS_PROC = pytest.mark.skipif(not Path("/proc/self").exists(), reason="reads /proc, which only Linux has")

PROBE_MEMORY_MB = 256


@pytest.fixture(scope="module")
def tight_server(tmp_path_factory: pytest.TempPathFactory):
    """Probe children of 256 MB, one at a time; three files per upload request."""
    env = {"REELFORGE_PROBE_MEMORY_MB": str(PROBE_MEMORY_MB), "REELFORGE_PROBE_MAX_CHILDREN": "1",
           "REELFORGE_MAX_UPLOAD_FILES": "3", "REELFORGE_LOCAL_WORKERS": "1"}
    with Server(tmp_path_factory.mktemp("tight") / "data", env=env) as server:
        yield server


def memory_kb(pid: int) -> dict[str, int]:
    """The process's peak and current resident memory (VmHWM, VmRSS) in kB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {name: int(fields[name].split()[0]) for name in ("VmHWM", "VmRSS")}


def kept_files(server: Server) -> list[Path]:
    return sorted(p for p in (server.data_dir / "media").rglob("*") if p.is_file())


def post_files(client: Client, *paths: Path) -> tuple[int, dict]:
    reply = client.call("POST", f"/api/upload-video/nemo_agent/me/{client.session_id}",
                        files=[("files", (p.name, p.read_bytes())) for p in paths])
    return reply.status_code, reply.json()


@NEEDS_PROC
def test_a_header_declaring_a_huge_frame_is_refused_fast_and_the_api_does_not_grow(api_server, clients,
                                                                                   tmp_path) -> None:
    client = clients(api_server.base).connect()
    huge_mkv = mkv_declaring(tmp_path / "frame.mkv", 16000)       # 2 KB; one 16000x16000 16-bit RGBA frame: 2 GB
    huge_png = png_declaring(tmp_path / "poster.png", 16000, 16000)
    before = memory_kb(api_server.proc.pid)
    for path in (huge_mkv, huge_png, huge_mkv):
        started = time.monotonic()
        status, body = post_files(client, path)
        assert time.monotonic() - started < 20
        assert (status, body["code"]) == (415, 4001), body
        assert body["data"] == {"filename": path.name, "limit": "probe_max_width", "value": 16000, "max": 8192}
        assert "16000x16000" in body["message"] and "probe_max_width" in body["message"]
    after = memory_kb(api_server.proc.pid)
    assert after["VmHWM"] - before["VmHWM"] < 64_000, (before, after)     # kB; decoding it took 2 GB
    assert client.state()["data"]["state"]["video_infos"] == []


def test_the_file_count_per_request_is_capped_while_streaming(api_server, tight_server, clients, media) -> None:
    default = clients(api_server.base).connect()
    status, body = post_files(default, *[media.green_png] * 11)
    assert (status, body["code"]) == (400, 400)
    assert body["data"] == {"limit": "max_upload_files", "value": 11, "max": 10}
    assert "max_upload_files" in body["message"]
    tight = clients(tight_server.base).connect()
    before = kept_files(tight_server)
    status, body = post_files(tight, media.green_png, media.webp, media.gif, media.green_png)
    assert (status, body["data"]) == (400, {"limit": "max_upload_files", "value": 4, "max": 3})
    assert kept_files(tight_server) == before
    urls = tight.call("POST", f"/api/upload-video/nemo_agent/me/{tight.session_id}",
                      json={"urls": ["https://example.com/a.png"] * 4, "source_type": "url"}).json()
    assert urls["code"] == 400 and urls["data"] == {"limit": "max_upload_files", "value": 4, "max": 3}
    status, body = post_files(tight, media.green_png, media.webp, media.gif)          # at the cap
    assert status == 200 and len(body["data"]["files"]) == 3


def test_a_probe_child_out_of_memory_is_4001_and_nothing_is_kept(tight_server, clients, media, tmp_path) -> None:
    client = clients(tight_server.base).connect()
    big = png_declaring(tmp_path / "big.png", 5700, 5700)        # within every cap, but 130 MB to decode
    before = kept_files(tight_server)
    status, body = post_files(client, media.green_png, big)       # a good file with it is not kept either
    assert (status, body["code"]) == (415, 4001), body
    assert body["data"] == {"filename": "big.png"}
    assert f"{PROBE_MEMORY_MB} MB" in body["message"] and "probe_memory_mb" in body["message"]
    assert kept_files(tight_server) == before
    assert client.state()["data"]["state"]["video_infos"] == []
    assert uploaded(client, media.green_png)[0]["width"] == 64      # the same server still probes fine


def children_probing(pid: int) -> int:
    """How many of the process's children are probe children right now."""
    count = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            kids = (task / "children").read_text().split()
        except OSError:
            continue
        for kid in kids:
            try:
                count += b"engine.media.isolated" in Path(f"/proc/{kid}/cmdline").read_bytes()
            except OSError:
                continue
    return count


@NEEDS_PROC
def test_probes_run_at_most_probe_max_children_at_once(tight_server, clients, media) -> None:
    senders = [clients(tight_server.base).connect() for _ in range(4)]
    seen: list[int] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.append(children_probing(tight_server.proc.pid))
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(4) as pool:
            replies = list(pool.map(lambda c: post_files(c, media.pattern, media.red), senders))
    finally:
        done.set()
        watcher.join()
    assert [status for status, _ in replies] == [200] * 4
    assert max(seen) == 1, "probes ran side by side past probe_max_children"


@NEEDS_PROC
def test_music_on_an_hour_long_draft_stays_small_and_loops_with_sound_to_the_end(api_server, clients,
                                                                                  tmp_path) -> None:
    client = clients(api_server.base).connect()
    pictures = []
    for index in range(6):
        pictures.append(tmp_path / f"photo-{index}.jpg")
        Image.new("RGB", (64, 36), (40 * index, 90, 200 - 30 * index)).save(pictures[-1])
    uploaded(client, *pictures)
    assert client.chat("slideshow with 600 seconds per image").status == 200
    hour = client.state()["data"]["state"]["draft"]
    total = sum(s.get("d", 0) for t in hour["t"] if t["tt"] == 0 for s in t["sg"])
    assert total >= 3_500_000, hour

    before = memory_kb(api_server.proc.pid)
    answer = client.chat("add background music")
    after = memory_kb(api_server.proc.pid)
    assert answer.status == 200 and answer.responses()[-1]["response"]["status"] == "success", answer.raw
    assert after["VmHWM"] - before["VmHWM"] < 64_000, (before, after)   # kB; the timeline-long WAV took 2.4 GB
    state = client.state()["data"]["state"]
    [bed] = state["generated_media"]
    [music] = [s for t in state["draft"]["t"] if t["tt"] == 1 for s in t["sg"]]
    assert music["loop"] is True and music["fi"] == 2000 and music["fo"] > 0
    assert bed["duration"] == pytest.approx(19.2) and bed["size"] < 4_000_000      # one 3.4 MB loop, not 635 MB

    short = {"m": {"width": 64, "height": 36, "fps": 10, "out": {"format": "mp4", "width": 64, "quality": "low"}},
             "t": [{"tt": 0, "sg": [{"src": hour["t"][0]["sg"][0]["src"], "d": 24_000}]},
                   {"tt": 1, "sg": [{**music, "d": 24_000, "fo": 1500}]}]}
    started = client.export(short, {"format": "mp4"})
    assert started["code"] == 0, started
    done = client.wait(started["id"], timeout_s=240)
    assert done["status"] == "completed", done
    out = download(done["output"]["url"], tmp_path / "looped.mp4")
    info = inspect_output(out)
    assert info.has_audio and abs(info.audio_duration_s - 24) <= 0.1
    samples = audio_samples(out)
    rate = len(samples[0]) / info.audio_duration_s

    def level(start_s: float, end_s: float) -> float:
        return rms(samples[:, int(start_s * rate):int(end_s * rate)])

    steady = level(3, 18)
    assert steady > 0.02
    assert level(0, 0.3) < steady / 2                                  # faded in by the segment, once
    for start in (18.7, 19.7, 20.5, 21.5):                            # across the loop's seam at 19.2 s and on
        assert level(start, start + 0.5) > steady / 3, start
    assert level(23.8, 24) < steady / 3 < level(22, 22.5)             # faded out at the end of the timeline
    assert not np.isnan(samples).any()
