"""Farm benchmark: queue throughput with 1 worker against 2, and a long render chunked over 2 workers against 1.

Starts a private redis-server, ``reelforge serve`` in farm mode and ``reelforge worker`` processes,
all on this machine, and measures through the API:

1. Throughput. 20 short renders (a 4 s 720p clip to a 720p MP4) queued at once; the time from the
   first export to the last completed, with 1 worker and then with 2. Ratio: 2 workers / 1.
2. Latency of one long render: a 120 s 1080p timeline (clips, stills with motion, a title, music)
   to MP4, chunked into 30 s parts (``REELFORGE_CHUNK_OVER_S`` 60) rendered by 2 workers, against
   the same render with 1 worker (which renders the parts one after the other). Ratio: 2 / 1.

Every worker shares this machine's cores, so the ratios say what the farm's scheduling costs or
saves here, not what two hosts would give: with N hosts the parts run on N times the cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks import common
from benchmarks.api_bench import Agent
from benchmarks.gif_bench import source_clip
from benchmarks.timeline_plan import make_plan
from tests.apiserver import RedisServer, Server, Worker

NAME = "farm_bench"


def wait_all(agent: Agent, http: httpx.Client, ids: list[str], timeout_s: float = 3600) -> dict[str, dict]:
    done: dict[str, dict] = {}
    deadline = time.monotonic() + timeout_s
    while len(done) < len(ids) and time.monotonic() < deadline:
        for render_id in ids:
            if render_id not in done:
                body = http.get(f"{agent.base}/api/render/proxy/lambda/{render_id}", headers=agent.headers).json()
                if body["status"] in ("completed", "failed"):
                    done[render_id] = body
        time.sleep(0.2)
    failed = [b for b in done.values() if b["status"] != "completed"]
    if failed or len(done) < len(ids):
        raise SystemExit(f"farm_bench: renders did not complete: {failed[:2] or 'timeout'}")
    return done


def submit(agent: Agent, http: httpx.Client, draft: dict[str, Any], output: dict[str, Any]) -> str:
    render_id = f"render_{time.time_ns()}"
    body = {"id": render_id, "sessionId": agent.session_id, "draft": draft, "output": output}
    reply = http.post(f"{agent.base}/api/render/proxy/lambda", json=body, headers=agent.headers).json()
    if reply.get("code") != 0:
        raise SystemExit(f"farm_bench: export refused: {reply}")
    return render_id


def run_farm(workers: int, work: Path, redis_url: str, action: Any, quick: bool) -> dict[str, Any]:
    """A fresh API and ``workers`` workers on one Redis; ``action(agent, http)`` measures."""
    data = work / f"data-{workers}-{time.time_ns()}"
    over, part = ("10", "6") if quick else ("60", "30")
    env = {"REELFORGE_REDIS_URL": redis_url, "REELFORGE_DATA_DIR": str(data), "REELFORGE_CHUNK_OVER_S": over,
           "REELFORGE_CHUNK_S": part, "REELFORGE_TOKEN_REQUESTS_PER_MINUTE": "10000"}
    with Server(data, env=env) as api, httpx.Client(timeout=120) as http:
        crew = [Worker(f"bench-{workers}-{i}", env, work / f"worker-{workers}-{i}.log").start() for i in range(workers)]
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                live = http.get(f"{api.base}/health").status_code == 200 and len(
                    [w for w in _live(redis_url) if w.get("name", "").startswith(f"bench-{workers}-")]) == workers
                if live:
                    break
                time.sleep(0.2)
            agent = Agent(api.base).connect(http)
            return action(agent, http)
        finally:
            for worker in crew:
                worker.stop()


def _live(redis_url: str) -> list[dict[str, Any]]:
    import json

    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter("reelforge:worker:*"))
    return [json.loads(v) for v in client.mget(keys) if v] if keys else []


def throughput(count: int) -> Any:
    def action(agent: Agent, http: httpx.Client) -> dict[str, Any]:
        clip = agent.upload(http, source_clip())
        draft = {"m": {"width": 1280, "height": 720}, "t": [{"tt": 0, "sg": [{"src": clip, "d": 4000}]}]}
        started = time.perf_counter()
        ids = [submit(agent, http, draft, {"format": "mp4", "resolution": "720p"}) for _ in range(count)]
        done = wait_all(agent, http, ids)
        elapsed = time.perf_counter() - started
        by_worker: dict[str, int] = {}
        for body in done.values():
            by_worker[body["data"]["worker"]] = by_worker.get(body["data"]["worker"], 0) + 1
        return {"renders": count, "seconds": round(elapsed, 2), "per_minute": round(count * 60 / elapsed, 2),
                "by_worker": by_worker}
    return action


def long_render(quick: bool) -> Any:
    def action(agent: Agent, http: httpx.Client) -> dict[str, Any]:
        plan = make_plan(quick)
        urls = {str(p): agent.upload(http, p) for p in plan.inputs()}
        draft = _long(plan.draft(), urls, 4 if not quick else 2)
        started = time.perf_counter()
        [render_id] = [submit(agent, http, draft, {"format": "mp4", "quality": "high",
                                                  "resolution": f"{plan.height}p"})]
        body = wait_all(agent, http, [render_id])[render_id]
        return {"seconds": round(time.perf_counter() - started, 2), "duration": body["output"]["duration"],
                "size": body["output"]["size"], "parts": body["data"]["parts"], "joined_by": body["data"]["worker"]}
    return action


def _long(draft: dict[str, Any], urls: dict[str, str], times: int) -> dict[str, Any]:
    """The timeline plan's draft ``times`` over end to end (title once, music looped under all of it), with
    uploaded sources."""
    def uploaded(seg: dict[str, Any]) -> dict[str, Any]:
        return {**seg, "src": urls.get(seg["src"], seg["src"])} if "src" in seg else dict(seg)

    tracks = []
    base = [t for t in draft["t"] if t["tt"] == 0][0]
    total = sum(seg["d"] for seg in base["sg"]) * times
    for track in draft["t"]:
        segments = [uploaded(seg) for seg in track["sg"]]
        if track["tt"] == 0:
            segments = [dict(seg) for _ in range(times) for seg in segments]
        elif track["tt"] == 1:
            segments = [{**seg, "d": total, "loop": True} for seg in segments]
        tracks.append({**track, "sg": segments})
    return {**draft, "t": tracks}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.farm_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="8 renders in the queue; a 20 s 720p long render in 6 s parts")
    parser.add_argument("--jsonl", action="store_true", help="also print one JSON line per measurement")
    args = parser.parse_args(argv)
    count = 8 if args.quick else 20
    started = time.perf_counter()
    machine = common.machine()
    results: dict[str, Any] = {"queue": {}, "long": {}}
    with tempfile.TemporaryDirectory(prefix="reelforge-farm-bench-") as tmp, RedisServer(Path(tmp)) as redis_server:
        work = Path(tmp)
        common.say(f"farm on one machine: {machine['nproc']} cores, {machine['cpu']}; redis {redis_server.url}")
        for workers in (1, 2):
            results["queue"][workers] = run_farm(workers, work, redis_server.url, throughput(count), args.quick)
            common.say(f"queue of {count}, {workers} worker(s): {results['queue'][workers]}")
        for workers in (1, 2):
            results["long"][workers] = run_farm(workers, work, redis_server.url, long_render(args.quick), args.quick)
            common.say(f"long render, {workers} worker(s): {results['long'][workers]}")
    q1, q2 = results["queue"][1]["seconds"], results["queue"][2]["seconds"]
    l1, l2 = results["long"][1]["seconds"], results["long"][2]["seconds"]
    table = common.Table(["measure", "1 worker", "2 workers", "2 / 1"])
    table.add(f"queue of {count} short renders, s", q1, q2, common.fmt_ratio(common.ratio(q2, q1)))
    table.add("long render (chunked), s", l1, l2, common.fmt_ratio(common.ratio(l2, l1)))
    common.say("\n" + table.render())
    elapsed = time.perf_counter() - started
    payload = {"benchmark": NAME, "machine": machine, "quick": args.quick, "results": results,
               "elapsed_s": round(elapsed, 1)}
    records = [{"measure": m, "workers": w, **v} for m in ("queue", "long") for w, v in results[m].items()]
    return common.finish(NAME, payload, records, args.jsonl, elapsed)


if __name__ == "__main__":
    os.chdir(common.REPO)
    sys.exit(main())
