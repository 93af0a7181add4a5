"""The render farm, for real: a private redis-server, `reelforge serve` in farm mode and `reelforge worker`
processes (Celery), rendering through the API. Plus the GPU routing decisions, with fake NVML readings.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from api.farm import FarmRunner
from api.store import JobRow, Store
from engine.encode.encoders import CUDA_DECODE, CodecChoice, choose_codecs
from engine.errors import MediaNotFound
from engine.media.probe import inspect_output
from tests.apiserver import Client, RedisServer, Server, Worker
from tests.conftest import ffmpeg
from tests.test_api_seeds import download, skill, uploaded
from tests.test_encoders import H100, L4, NOT_SUPPORTED, FakeCard, RecordingTrial, discover
from workers.board import EXHAUSTED, RUN, Board, Registry
from workers.farm import encoder_for_job, queues_for
from workers.protocol import (
    CANCELLED,
    JOB_TTL_S,
    JobEntry,
    JobField,
    JobStatus,
    job_key,
    queued_write,
    worker_key,
)
from workers.storage import SharedDirectory

NEEDS_PROC = pytest.mark.skipif(not Path("/proc/self").exists(), reason="reads /proc, which only Linux has")

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs Debian's redis-server")


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@dataclass
class Farm:
    api: Server
    workers: dict[str, Worker]
    redis_url: str

    def live(self) -> list[dict]:
        return Registry(redis.Redis.from_url(self.redis_url)).live()


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Farm]:
    root = tmp_path_factory.mktemp("farm")
    data = root / "data"
    env = {"REELFORGE_REDIS_URL": redis_url, "REELFORGE_DATA_DIR": str(data), "REELFORGE_JOB_LEASE_S": "3",
           "REELFORGE_JOB_MAX_ATTEMPTS": "2", "REELFORGE_X264_PRESET": "medium",
           "REELFORGE_CHUNK_OVER_S": "20", "REELFORGE_CHUNK_S": "8"}     # the 12 s renders stay whole
    api = Server(data, env=env).start()
    workers = {name: Worker(name, env, root / f"{name}.log").start() for name in ("w1", "w2")}
    farm = Farm(api, workers, redis_url)
    deadline = time.monotonic() + 60
    while len(farm.live()) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(farm.live()) == 2, [w.log.read_text() for w in workers.values()]
    yield farm
    for worker in workers.values():
        worker.stop()
    api.stop()


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("farm-media") / "long.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=640x360:r=30:d=12", "-f", "lavfi", "-i", "sine=f=500:d=12",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path))
    return path


def start_render(client: Client, clip_url: str) -> str:
    draft = {"m": {"width": 1280, "height": 720}, "t": [{"tt": 0, "sg": [{"src": clip_url}]}]}
    started = client.export(draft, {"format": "mp4", "quality": "high", "resolution": "720p"})
    assert started["code"] == 0, started
    return started["id"]


def poll(client: Client, render_id: str, until: set[str], timeout_s: float = 120) -> tuple[dict, list[int]]:
    seen: list[int] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = client.json("GET", f"/api/render/proxy/lambda/{render_id}")
        seen.append(body["progress"])
        if body["status"] in until:
            return body, seen
        time.sleep(0.1)
    raise AssertionError(f"{render_id} never reached {until}: {body}")


def running_on(client: Client, render_id: str, timeout_s: float = 60) -> str:
    """The worker rendering one of ``client``'s exports, as the farm listing shows it to its owner."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for worker in client.json("GET", "/api/farm/workers")["data"]["workers"]:
            if worker.get("current_job") == render_id:
                return str(worker["name"])
        time.sleep(0.1)
    raise AssertionError(f"no worker took {render_id}")


def ffmpeg_processes(under: Path) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "ffmpeg" in cmdline and str(under) in cmdline:
            found.append(f"{pid}: {cmdline[:120]}")
    return found


@pytest.fixture()
def client(farm: Farm, clients, long_clip: Path) -> Client:
    client = clients(farm.api.base, headers=skill("ai-video-maker-gratis")).connect()
    client.clip_url = uploaded(client, long_clip)[0]["url"]  # type: ignore[attr-defined]
    return client


def test_renders_on_the_farm_with_rising_progress(farm: Farm, client: Client, tmp_path: Path) -> None:
    render_id = start_render(client, client.clip_url)  # type: ignore[attr-defined]
    done, seen = poll(client, render_id, {"completed", "failed"})
    assert done["status"] == "completed", done
    assert any(0 < p < 100 for p in seen) and seen == sorted(seen), seen          # it rose while rendering
    assert done["data"]["worker"] in farm.workers and done["data"]["encoder"] == "libx264"
    info = inspect_output(download(done["output"]["url"], tmp_path / "farm.mp4"))
    assert (info.width, info.height, info.has_audio) == (1280, 720, True) and abs(info.duration_s - 12) < 0.05
    listing = client.json("GET", "/api/farm/workers")["data"]
    assert listing["mode"] == "farm" and {w["name"] for w in listing["workers"]} == {"w1", "w2"}
    assert all(w["queues"] == ["cpu"] and w["choice"]["encoder"] == "libx264" for w in listing["workers"])
    cli = subprocess.run([sys.executable, "-m", "engine.cli", "farm", "--json"], capture_output=True, text=True,
                         env={**os.environ, "REELFORGE_REDIS_URL": farm.redis_url}, check=True)
    assert {w["name"] for w in json.loads(cli.stdout)} == {"w1", "w2"}


@NEEDS_PROC
def test_a_killed_worker_s_job_completes_on_the_other(farm: Farm, client: Client, tmp_path: Path) -> None:
    render_id = start_render(client, client.clip_url)  # type: ignore[attr-defined]
    victim = running_on(client, render_id)
    poll(client, render_id, {"processing"})
    time.sleep(1.0)
    farm.workers[victim].stop(signal.SIGKILL)                  # mid-render, no goodbye
    try:
        done, _ = poll(client, render_id, {"completed", "failed"}, timeout_s=180)
        assert done["status"] == "completed", done
        assert done["data"]["worker"] != victim and done["data"]["attempts"] == 2
        info = inspect_output(download(done["output"]["url"], tmp_path / "again.mp4"))
        assert abs(info.duration_s - 12) < 0.05
        assert not ffmpeg_processes(farm.api.data_dir), ffmpeg_processes(farm.api.data_dir)
    finally:
        farm.workers[victim].start()


@NEEDS_PROC
def test_cancel_stops_a_running_render_and_its_ffmpeg(farm: Farm, client: Client) -> None:
    render_id = start_render(client, client.clip_url)  # type: ignore[attr-defined]
    running_on(client, render_id)
    poll(client, render_id, {"processing"})
    time.sleep(1.0)
    cancelled = client.json("POST", f"/api/render/proxy/lambda/{render_id}/cancel")
    assert cancelled["status"] == "failed" and cancelled["data"]["cancelled"] is True, cancelled
    deadline = time.monotonic() + 10
    while ffmpeg_processes(farm.api.data_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not ffmpeg_processes(farm.api.data_dir)


def test_a_long_timeline_renders_in_parts(farm: Farm, client: Client, tmp_path: Path) -> None:
    clip = client.clip_url  # type: ignore[attr-defined]
    draft = {"m": {"width": 640, "height": 360},
             "t": [{"tt": 0, "sg": [{"src": clip}, {"src": clip, "spd": 2}, {"src": clip, "ss": 2000, "d": 6000}]},
                   {"tt": 7, "sg": [{"txt": "Across the parts", "st": 5000, "d": 8000}]}]}
    started = client.export(draft, {"format": "mp4", "quality": "high"})
    done, seen = poll(client, started["id"], {"completed", "failed"}, timeout_s=300)
    assert done["status"] == "completed", done
    assert done["data"]["parts"] >= 2 and any(0 < p < 100 for p in seen)
    info = inspect_output(download(done["output"]["url"], tmp_path / "parts.mp4"))
    assert info.frames == 24 * 30 and abs(info.duration_s - 24.0) < 0.05 and info.has_audio
    assert abs((info.audio_duration_s or 0) - 24.0) < 0.1


def test_api_restart_while_jobs_run(farm: Farm, client: Client) -> None:
    ids = [start_render(client, client.clip_url) for _ in range(2)]  # type: ignore[attr-defined]
    running_on(client, ids[0])
    farm.api.stop()
    farm.api.start()                                            # same data, same port
    for render_id in ids:
        done, _ = poll(client, render_id, {"completed", "failed"}, timeout_s=180)
        assert done["status"] == "completed", done


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, ValueError):
                continue
    return found


def _active_entries(client: redis.Redis) -> int:
    """Board entries a worker holds or the broker carries (not yet ended)."""
    entries = [JobEntry.from_hash(client.hgetall(k)) for k in client.scan_iter(match="reelforge:job:*")]
    return sum(1 for e in entries if e is not None and e.status in (JobStatus.QUEUED, JobStatus.PROCESSING))


@NEEDS_PROC
def test_the_farm_takes_users_in_turns_and_shows_others_only_as_counts(farm: Farm, client: Client, clients,
                                                                      long_clip: Path) -> None:
    bob = clients(farm.api.base, headers=skill("ai-video-maker-gratis")).connect()
    [bob_clip] = uploaded(bob, long_clip)
    clip = client.clip_url  # type: ignore[attr-defined]
    draft = {"m": {"width": 320, "height": 180}, "t": [{"tt": 0, "sg": [{"src": clip, "d": 4000}]}]}
    alice_ids = [client.export(draft, {"format": "mp4"})["id"] for _ in range(4)]
    bob_draft = {"m": {"width": 320, "height": 180}, "t": [{"tt": 0, "sg": [{"src": bob_clip["url"], "d": 1000}]}]}
    bob_id = bob.export(bob_draft, {"format": "mp4"})["id"]
    board = redis.Redis.from_url(farm.redis_url)
    busiest, limits, bob_saw = 0, set(), ""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        busiest = max(busiest, _active_entries(board))
        bob_saw += json.dumps(bob.json("GET", "/api/farm/workers")["data"])
        for worker in farm.workers.values():
            for pid in _children(worker.proc.pid if worker.proc else -1):
                try:
                    if b"workers.job" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                        continue                  # not yet its render process (between fork and exec)
                    text = Path(f"/proc/{pid}/limits").read_text()
                except OSError:
                    continue
                limits.update(line.split()[3] for line in text.splitlines() if line.startswith("Max address space"))
        statuses = [client.json("GET", f"/api/render/proxy/lambda/{r}")["status"] for r in alice_ids]
        if all(s in ("completed", "failed") for s in statuses) and bob.wait(bob_id, 0)["status"] == "completed":
            break
        time.sleep(0.2)
    done = [client.wait(r) for r in alice_ids]
    mine = bob.wait(bob_id)
    assert all(d["status"] == "completed" for d in [*done, mine]), [*done, mine]
    assert mine["data"]["completedAt"] < max(d["data"]["completedAt"] for d in done)   # not after all of alice's
    assert busiest <= 2                                   # never more sent than the two workers can take
    assert limits == {str(6144 * 1024 * 1024)}            # each render process ran under the memory cap
    assert not any(r in bob_saw for r in alice_ids) and '"rendering"' in bob_saw


def test_cancel_revokes_the_queued_message_by_its_task_id(farm: Farm, tmp_path: Path) -> None:
    deadline = time.monotonic() + 120
    while any(w.get("current_job") for w in farm.live()) and time.monotonic() < deadline:
        time.sleep(0.2)                                   # idle workers answer the inspection below
    runner = FarmRunner(Store(tmp_path / "db.sqlite"), farm.redis_url, 2, 3)
    queued_write("revoke-me", "cpu", 1, False).apply(redis.Redis.from_url(farm.redis_url))   # its second sending
    runner.cancel("revoke-me")
    revoked = runner.celery.control.inspect(timeout=5).revoked() or {}
    assert len(revoked) == 2 and all("revoke-me:1" in ids for ids in revoked.values()), revoked
    entry = JobEntry.from_hash(redis.Redis.from_url(farm.redis_url).hgetall(job_key("revoke-me")))
    assert entry is not None and (entry.status, entry.error) == (JobStatus.FAILED, CANCELLED)


def test_rate_limits_are_shared_by_every_api_process(redis_url: str, tmp_path: Path) -> None:
    env = {"REELFORGE_REDIS_URL": redis_url.rsplit("/", 1)[0] + "/3", "REELFORGE_TOKENS_PER_IP_PER_WEEK": "2"}
    with Server(tmp_path / "one", env=env) as one, Server(tmp_path / "two", env=env) as two:
        codes = [httpx.post(server.base + "/api/auth/anonymous-token", headers={"X-Client-Id": str(uuid.uuid4())},
                            timeout=30).status_code for server in (one, two, one, two)]
    assert codes == [200, 200, 429, 429]


def test_jobs_go_to_gpu_only_while_a_gpu_worker_is_alive(redis_url: str, tmp_path: Path) -> None:
    runner = FarmRunner(Store(tmp_path / "db.sqlite"), redis_url, 2, 3)
    client = redis.Redis.from_url(redis_url)
    client.set(worker_key("gpu-test"), json.dumps({"name": "gpu-test", "queues": ["gpu"]}), px=1500)
    assert runner._queue() == "gpu"
    time.sleep(1.6)                                             # its key expires: it died
    assert runner._queue() == "cpu"


def test_every_way_a_job_ends_leaves_no_lease_and_an_expiry(redis_url: str, tmp_path: Path) -> None:
    client = redis.Redis.from_url(redis_url)
    board, runner = Board(client), FarmRunner(Store(tmp_path / "db.sqlite"), redis_url, 2, 3)

    def ended(job_id: str) -> JobEntry:
        entry = JobEntry.from_hash(client.hgetall(job_key(job_id)))
        assert entry is not None and entry.lease == 0, entry
        assert JOB_TTL_S - 60 < client.ttl(job_key(job_id)) <= JOB_TTL_S, job_id
        return entry

    def sent(job_id: str, attempts: int = 0, cancel: bool = False) -> str:
        queued_write(job_id, "cpu", attempts, cancel).apply(client)
        return job_id

    assert board.claim(sent("p-done"), "w1", 30, 2) == RUN
    board.complete("p-done", {"frames": 3})
    assert (ended("p-done").status, ended("p-done").result) == (JobStatus.COMPLETED, {"frames": 3})
    assert board.claim(sent("p-fail"), "w1", 30, 2) == RUN
    board.fail("p-fail", "ffmpeg failed")
    assert (ended("p-fail").status, ended("p-fail").error) == (JobStatus.FAILED, "ffmpeg failed")
    assert board.claim(sent("p-cancelled", cancel=True), "w1", 30, 2) == CANCELLED
    assert ended("p-cancelled").error == CANCELLED
    assert board.claim(sent("p-exhausted", attempts=2), "w1", 30, 2) == EXHAUSTED
    assert ended("p-exhausted").error == "the render worker died 2 times; giving up"
    runner.cancel(sent("p-api-cancel"))                             # still queued: the API fails it itself
    assert ended("p-api-cancel").error == CANCELLED
    assert board.claim(sent("p-lost"), "w1", 30, 2) == RUN
    client.hset(job_key("p-lost"), mapping={JobField.ATTEMPTS: 2, JobField.LEASE: 1})   # its worker died
    lost = JobEntry.from_hash(client.hgetall(job_key("p-lost")))
    assert lost is not None and not lost.leased()
    runner._follow(JobRow("p-lost", "u", "t", "s", "processing", 0, "mp4", "{}", "", None, None, 2, False, 0, 0,
                          None, None), lost)
    assert ended("p-lost").error == "the render worker died 2 times (last: w1); giving up"
    assert ended("p-lost").status == JobStatus.FAILED


def test_worker_queue_by_capability_with_fake_nvml_readings() -> None:
    no_gpu = choose_codecs("auto", "auto", discover(), RecordingTrial())
    assert queues_for(no_gpu) == ["cpu"]
    h100 = choose_codecs("auto", "auto", discover(FakeCard(H100, capacity=NOT_SUPPORTED)), RecordingTrial())
    assert (h100.encoder, h100.decoder, queues_for(h100)) == ("libx264", "cuda", ["gpu"])   # CUDA decode/scale
    h100_no_decode = choose_codecs("auto", "auto", discover(FakeCard(H100, capacity=NOT_SUPPORTED)),
                                   RecordingTrial({(CUDA_DECODE, 0): "no CUDA"}))
    assert (h100_no_decode.decoder, queues_for(h100_no_decode)) == ("cpu", ["cpu"])
    l4 = discover(FakeCard(L4, sessions=1))
    choice = choose_codecs("auto", "auto", l4, RecordingTrial())
    assert (choice.encoder, queues_for(choice)) == ("h264_nvenc", ["gpu"])
    assert encoder_for_job(choice, l4, session_limit=3) == choice
    busy = discover(FakeCard(L4, sessions=3))
    fallback = encoder_for_job(choice, busy, session_limit=3)
    assert fallback.encoder == "libx264" and "3 NVENC sessions" in fallback.encoder_reason
    assert encoder_for_job(CodecChoice("libx264", "cpu", None, "", ""), busy, 3).encoder == "libx264"


def test_shared_directory_maps_the_api_s_paths_to_this_worker_s_mount(tmp_path: Path) -> None:
    api_root, mount = tmp_path / "api-data", tmp_path / "mnt" / "reelforge"
    (mount / "media" / "u1").mkdir(parents=True)
    (mount / "media" / "u1" / "clip.mp4").write_bytes(b"x")
    storage = SharedDirectory(api_root, mount)
    assert storage.input(str(api_root / "media" / "u1" / "clip.mp4")) == mount / "media" / "u1" / "clip.mp4"
    assert storage.output(str(api_root / "outputs" / "r.mp4")) == mount / "outputs" / "r.mp4"
    assert (mount / "outputs").is_dir()
    for outside in (str(tmp_path / "elsewhere.mp4"), str(api_root / ".." / "api-data-2" / "x.mp4")):
        with pytest.raises(MediaNotFound):
            storage.input(outside)
    with pytest.raises(MediaNotFound, match="mounted"):
        storage.input(str(api_root / "media" / "u1" / "missing.mp4"))
    assert SharedDirectory(None, mount).input(str(mount / "media" / "u1" / "clip.mp4")).name == "clip.mp4"
