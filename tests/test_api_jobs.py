"""Render jobs survive what happens to processes: a server restarted mid-render, a worker killed."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.apiserver import Server, until

NEEDS_PROC = pytest.mark.skipif(not Path("/proc/self").exists(), reason="reads /proc, which only Linux has")


def processes(marker: bytes) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def long_draft(url: str) -> dict:
    return {"m": {"width": 320, "height": 180, "out": {"format": "webm"}},
            "t": [{"tt": 0, "sg": [{"src": url, "d": 15_000}]}]}


@NEEDS_PROC
def test_a_restart_loses_nothing_and_leaves_nothing_stuck(tmp_path, clients, media) -> None:
    server = Server(tmp_path / "data").start()
    try:
        client = clients(server.base).connect()
        [clip] = client.upload(media.pattern)["data"]["files"]
        short = {"m": {"width": 160, "height": 90}, "t": [{"tt": 0, "sg": [{"src": clip["url"], "d": 1000}]}]}
        finished = client.wait(client.export(short)["id"])
        assert finished["status"] == "completed"
        running = client.export(long_draft(clip["url"]))
        until(lambda: client.json("GET", f"/api/render/proxy/lambda/{running['id']}")["progress"] > 0)
        state_before = client.state()["data"]
        credits_before = client.json("GET", "/api/credits/balance/simple")["data"]

        server.stop(signal.SIGKILL)                                  # the API dies mid-render, workers with it
        assert until(lambda: not processes(b"workers.job"), 10)
        assert not processes(running["id"].encode()) and not processes(b"libvpx-vp9")

        server.port = server.port + 1 if server.port < 65000 else 20000
        server.start()
        client.base = server.base
        state_after = client.state()["data"]
        for key in ("session_id", "task_id", "user_id"):
            assert state_after[key] == state_before[key]
        assert [m["id"] for m in state_after["state"]["video_infos"]] == [m["id"] for m in
                                                                           state_before["state"]["video_infos"]]
        assert state_after["state"]["draft"] == state_before["state"]["draft"] == long_draft(clip["url"])
        assert client.json("GET", "/api/credits/balance/simple")["data"] == credits_before
        old = client.json("GET", f"/api/render/proxy/lambda/{finished['id']}")
        assert old["status"] == "completed" and httpx.get(old["output"]["url"]).status_code == 200
        resumed = client.wait(running["id"], timeout_s=120)          # picked up again, not left "processing"
        assert resumed["status"] == "completed", resumed
    finally:
        server.stop()


@NEEDS_PROC
def test_a_killed_worker_is_retried_then_the_job_fails_with_a_reason(tmp_path, clients, media) -> None:
    server = Server(tmp_path / "data", env={"REELFORGE_JOB_MAX_ATTEMPTS": "2"}).start()
    try:
        client = clients(server.base).connect()
        [clip] = client.upload(media.pattern)["data"]["files"]
        job = client.export(long_draft(clip["url"]))

        def kill_worker() -> bool:
            workers = processes(b"workers.job")
            for pid in workers:
                os.kill(pid, signal.SIGKILL)
            return bool(workers)

        for _attempt in range(2):
            until(lambda: client.json("GET", f"/api/render/proxy/lambda/{job['id']}")["progress"] > 0)
            until(kill_worker)
            time.sleep(0.5)
        failed = client.wait(job["id"], timeout_s=60)
        assert failed["status"] == "failed" and "worker died" in failed["error"] and "2 times" in failed["error"]
        assert until(lambda: not processes(b"libvpx-vp9"), 10)       # no FFmpeg outlives its worker
    finally:
        server.stop()
