"""API benchmark: polling throughput and latency under 50 clients, and export-to-completed times.

Starts a real ``reelforge serve`` (embedded default: SQLite, local worker) on loopback and
measures, in the same run:

1. Polling. 50 concurrent clients, each with its own token and session, each on its own
   keep-alive connection, call an endpoint back to back for a fixed time: E6 state
   (``GET /api/state/nemo_agent/me/{session}/latest``), E8 status
   (``GET /api/render/proxy/lambda/{id}`` of a completed job, the body with the signed URL) and,
   as the reference, ``GET /health`` (the framework's floor: routing, one small JSON body, no
   token, no database). Requests per second and p50/p99 latency, and the ratio of each to the
   floor. The load comes from a small asyncio HTTP/1.1 client in this process (cheaper than
   httpx, so the client costs the 2 cores as little as possible); no render runs meanwhile.
2. Exports. The time from ``POST /api/render/proxy/lambda`` to the first status poll (every
   0.25 s) that says completed, for a 10 s 720p clip to a 720p GIF and for the 30 s 1080p
   timeline of benchmarks.timeline_bench to MP4. Reference: the same draft rendered by
   ``reelforge render`` on the command line, so the ratio is what the API adds (queueing,
   the worker process, verification, bookkeeping). The hosted service promises 20-40 s and
   30-90 s for these.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks import common
from benchmarks.gif_bench import source_clip
from benchmarks.timeline_plan import make_plan
from tests.apiserver import SKILL_HEADERS, Server  # the same real server process the API tests drive

NAME = "api_bench"
HOSTED_PROMISE_S = {"gif": (20, 40), "mp4": (30, 90)}
OUT = common.WORK / "api"


@dataclass
class Agent:
    """One client as the seeds describe it: its own X-Client-Id, token and session."""

    base: str
    token: str = ""
    session_id: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {**SKILL_HEADERS, "Authorization": f"Bearer {self.token}"}

    def connect(self, http: httpx.Client) -> Agent:
        reply = http.post(self.base + "/api/auth/anonymous-token", headers={"X-Client-Id": str(uuid.uuid4())})
        self.token = reply.json()["data"]["token"]
        session = http.post(self.base + "/api/tasks/me/with-session/nemo_agent", headers=self.headers,
                            json={"task_name": "bench", "language": "en"})
        self.session_id = session.json()["data"]["session_id"]
        return self

    def upload(self, http: httpx.Client, path: Path) -> str:
        with open(path, "rb") as fh:
            reply = http.post(f"{self.base}/api/upload-video/nemo_agent/me/{self.session_id}", headers=self.headers,
                              files=[("files", (path.name, fh))])
        body = reply.json()
        if body.get("code") != 0:
            raise SystemExit(f"api_bench: upload of {path.name} failed: {body}")
        return str(body["data"]["files"][0]["url"])

    def export(self, http: httpx.Client, draft: dict[str, Any], output: dict[str, Any]) -> tuple[str, float, dict]:
        """(render id, seconds from POST to a completed poll, the final status body)."""
        render_id = f"render_{int(time.time() * 1000)}_{uuid.uuid4().hex[:6]}"
        started = time.perf_counter()
        reply = http.post(self.base + "/api/render/proxy/lambda", headers=self.headers,
                          json={"id": render_id, "sessionId": self.session_id, "draft": draft, "output": output})
        if reply.json().get("code") != 0:
            raise SystemExit(f"api_bench: export refused: {reply.text}")
        while True:
            body = http.get(f"{self.base}/api/render/proxy/lambda/{render_id}", headers=self.headers).json()
            if body["status"] in ("completed", "failed"):
                elapsed = time.perf_counter() - started
                if body["status"] == "failed":
                    raise SystemExit(f"api_bench: export failed: {body}")
                return render_id, elapsed, body
            time.sleep(0.25)


# ---------------------------------------------------------------- the load


async def _client_loop(port: int, request: bytes, until: float, latencies: list[float], errors: list[str]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < until:
            t0 = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            if not head.startswith(b"HTTP/1.1 200"):
                errors.append(head.split(b"\r\n", 1)[0].decode())
    finally:
        writer.close()


def _request(path: str, token: str | None) -> bytes:
    """A GET as a seed client sends it: its token and the attribution headers."""
    headers = "".join(f"{k}: {v}\r\n" for k, v in SKILL_HEADERS.items())
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}{auth}\r\n".encode()


async def _load(port: int, requests: list[bytes], seconds: float) -> tuple[list[float], list[str]]:
    latencies: list[float] = []
    errors: list[str] = []
    until = time.perf_counter() + seconds
    await asyncio.gather(*(_client_loop(port, r, until, latencies, errors) for r in requests))
    return latencies, errors


def load(port: int, requests: list[bytes], seconds: float, warmup_s: float) -> dict[str, Any]:
    asyncio.run(_load(port, requests, warmup_s))
    started = time.perf_counter()
    latencies, errors = asyncio.run(_load(port, requests, seconds))
    wall = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "rps": round(len(ordered) / wall, 1),
        "p50_ms": round(1000 * ordered[len(ordered) // 2], 2),
        "p99_ms": round(1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
        "max_ms": round(1000 * ordered[-1], 2),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }


def polling(server: Server, agents: list[Agent], render_id: str, owner: Agent, seconds: float,
            rounds: int) -> dict[str, Any]:
    """Each endpoint in turn, ``rounds`` times round-robin; the round with the median rps is kept."""
    targets = {
        "health (floor)": [_request("/health", None)] * len(agents),
        "E6 state": [_request(f"/api/state/nemo_agent/me/{a.session_id}/latest", a.token) for a in agents],
        "E8 status": [_request(f"/api/render/proxy/lambda/{render_id}", owner.token)] * len(agents),
    }
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
    for _ in range(rounds):
        for name, requests in targets.items():
            runs[name].append(load(server.port, requests, seconds, warmup_s=1.0))
    kept = {name: sorted(r, key=lambda x: x["rps"])[len(r) // 2] | {"rounds_rps": [x["rps"] for x in r]}
            for name, r in runs.items()}
    floor = kept["health (floor)"]
    for result in kept.values():
        result["rps_vs_floor"] = round(common.ratio(result["rps"], floor["rps"]), 2)
        result["p99_vs_floor"] = round(common.ratio(result["p99_ms"], floor["p99_ms"]), 2)
    return kept


# ---------------------------------------------------------------- exports


def with_urls(draft: dict[str, Any], urls: dict[str, str]) -> dict[str, Any]:
    text = json.dumps(draft)
    for local, url in urls.items():
        text = text.replace(json.dumps(local), json.dumps(url))
    return json.loads(text)


def cli_render(draft: dict[str, Any], output: Path) -> float:
    draft_path = output.with_suffix(".json")
    draft_path.write_text(json.dumps(draft))
    timing = common.time_commands([[common.reelforge_exe(), "render", str(draft_path), "-o", str(output)]])
    return timing.wall_s


def exports(server: Server, http: httpx.Client, quick: bool, repeats: int) -> dict[str, Any]:
    gif_src = source_clip()
    gif_draft = {"m": {"width": 1280, "height": 720, "fps": 15}, "t": [{"tt": 0, "sg": [{"src": str(gif_src)}]}]}
    plan = make_plan(quick)
    cases = {
        "gif": (gif_draft, {"format": "gif", "resolution": "720p"}, [gif_src]),
        # said outright: for the GIF skill the bench's requests name, a bare MP4 export defaults to 720p (Q16)
        "mp4": (plan.draft(), {"format": "mp4", "quality": "high", "resolution": f"{plan.height}p"}, plan.inputs()),
    }
    owner = Agent(server.base).connect(http)
    results: dict[str, Any] = {}
    for fmt, (draft, output, inputs) in cases.items():
        urls = {str(p): owner.upload(http, p) for p in inputs}
        api_draft = with_urls(draft, urls)
        local = json.loads(json.dumps(draft))
        local.setdefault("m", {}).setdefault("out", {}).update(output)
        api_s, cli_s, last = [], [], {}
        for _ in range(repeats):
            common.warm(inputs)
            cli_s.append(cli_render(local, OUT / f"cli.{fmt}"))
            render_id, seconds, last = owner.export(http, api_draft, output)
            api_s.append(seconds)
        downloaded = OUT / f"api.{fmt}"
        with http.stream("GET", last["output"]["url"]) as reply, open(downloaded, "wb") as fh:
            for chunk in reply.iter_bytes():
                fh.write(chunk)
        info = json.loads(subprocess.run([common.reelforge_exe(), "probe", str(downloaded)], capture_output=True,
                                         text=True, check=True).stdout)
        api, cli = statistics.median(api_s), statistics.median(cli_s)
        results[fmt] = {
            "render_id": render_id,
            "export_to_completed_s": round(api, 2),
            "runs_s": [round(s, 2) for s in api_s],
            "cli_render_s": round(cli, 2),
            "cli_runs_s": [round(s, 2) for s in cli_s],
            "api_vs_cli": round(common.ratio(api, cli), 2),
            "hosted_promise_s": HOSTED_PROMISE_S[fmt],
            "encoder": last.get("data", {}).get("encoder") or last.get("encoder"),
            "output": {"format": info["format"], "width": info["video"]["width"], "height": info["video"]["height"],
                       "duration": info["duration"], "size_bytes": info["size_bytes"]},
        }
    return results


# ---------------------------------------------------------------- report


def report(poll: dict[str, Any], done: dict[str, Any], clients: int, seconds: float) -> None:
    table = common.Table(["endpoint", "req/s", "p50 ms", "p99 ms", "max ms", "req/s vs floor", "errors"])
    for name, r in poll.items():
        table.add(name, r["rps"], r["p50_ms"], r["p99_ms"], r["max_ms"], common.fmt_ratio(r["rps_vs_floor"]),
                  r["errors"])
    common.say(f"\npolling: {clients} concurrent keep-alive clients, {seconds:g} s per endpoint per round")
    common.say(table.render())
    for name, r in poll.items():
        if r["errors"]:
            common.say(f"{name}: {r['errors']} answers were not 200, the first: {r['first_error']}")
    table = common.Table(["export", "output", "export -> completed", "reelforge render (CLI)", "API / CLI",
                          "hosted promise"])
    for fmt, r in done.items():
        o = r["output"]
        low, high = r["hosted_promise_s"]
        table.add(fmt, f"{o['width']}x{o['height']} {o['duration']:.1f} s {o['size_bytes'] / 1e6:.1f} MB",
                  f"{r['export_to_completed_s']:.1f} s", f"{r['cli_render_s']:.1f} s",
                  common.fmt_ratio(r["api_vs_cli"]), f"{low}-{high} s")
    common.say("\nexports (time from POST to the first poll that says completed; polls every 0.25 s)")
    common.say(table.render())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.api_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s per endpoint, 1 round, a 10 s 720p timeline")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, help="load time per endpoint per round (default 10; 3 with --quick)")
    parser.add_argument("--repeats", type=int, help="polling rounds and export runs (default 3; 1 with --quick)")
    parser.add_argument("--jsonl", action="store_true", help="also print one JSON line per measurement")
    args = parser.parse_args(argv)
    seconds = args.seconds or (3.0 if args.quick else 10.0)
    repeats = args.repeats or (1 if args.quick else common.REPEATS)
    started = time.perf_counter()
    machine = common.machine()
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)

    with tempfile.TemporaryDirectory(prefix="reelforge-api-bench-") as data, Server(
            Path(data) / "data", env={"REELFORGE_TOKEN_REQUESTS_PER_MINUTE": "10000"}) as server, \
            httpx.Client(timeout=120) as http:
        common.say(f"reelforge serve on {server.base}; {machine['nproc']} cores, {machine['cpu']}")
        done = exports(server, http, args.quick, repeats)
        agents = [Agent(server.base).connect(http) for _ in range(args.clients)]
        owner = Agent(server.base).connect(http)
        [clip_url] = [owner.upload(http, source_clip())]
        short = {"t": [{"tt": 0, "sg": [{"src": clip_url, "d": 1000}]}], "m": {"width": 320, "height": 180}}
        render_id, _, _ = owner.export(http, short, {"format": "mp4"})
        poll = polling(server, agents, render_id, owner, seconds, repeats)

    report(poll, done, args.clients, seconds)
    records = [{"measure": "polling", "endpoint": k, **v} for k, v in poll.items()]
    records += [{"measure": "export", "format": k, **v} for k, v in done.items()]
    elapsed = time.perf_counter() - started
    payload = {"benchmark": NAME, "machine": machine, "quick": args.quick, "clients": args.clients,
               "seconds_per_endpoint": seconds, "repeats": repeats, "polling": poll, "exports": done,
               "elapsed_s": round(elapsed, 1)}
    return common.finish(NAME, payload, records, args.jsonl, elapsed)


if __name__ == "__main__":
    os.chdir(common.REPO)
    sys.exit(main())
