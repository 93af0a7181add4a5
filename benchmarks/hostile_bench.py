"""Hostile-input benchmark: one token misbehaves, everyone else should not notice.

Starts a real ``reelforge serve`` (embedded default, its default limits) on loopback. A victim
client (its own token and session, a 1 s clip uploaded) calls the credit balance (E5) and its
state (E6) back to back, and exports a 1 s clip, first while the server is quiet and then while
one attacker token, in several threads at once, does what issue 10's audit did:

- uploads a 2 MB MKV whose one PNG frame is 16000x16000 rgba64 (2 GB once decoded), 3 at a time;
- asks the chat for background music on a one-hour draft;
- floods exports of one-hour drafts under fresh ids;
- posts a 20 MB draft of tiny objects, and a draft with a key nested 400 levels deep;
- polls the state of a session holding a large (allowed) draft.

It reports the API process's peak RSS (sampled, and the kernel's high-water mark), the victim's
p50/p99 latency and export time quiet and under attack (and their ratios), and what the
attacker got back (HTTP status counts per attack). Nothing here asserts a timing.

    python -m benchmarks.hostile_bench [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from benchmarks import common
from tests.apiserver import SKILL_HEADERS, Server

NAME = "hostile_bench"
OUT = common.WORK / "hostile"
HOUR_MS = 3_600_000


def make_media(folder: Path) -> tuple[Path, Path]:
    """(a 1 s 320x180 clip with sound, the 16000x16000 rgba64 PNG-in-MKV), cached."""
    folder.mkdir(parents=True, exist_ok=True)
    clip, bomb = folder / "clip.mp4", folder / "bomb.mkv"
    ff = [common.ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    if not clip.exists():
        subprocess.run([*ff, "-f", "lavfi", "-i", "testsrc2=s=320x180:r=30:d=1", "-f", "lavfi", "-i", "sine=d=1",
                        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(clip)], check=True)
    if not bomb.exists():
        subprocess.run([*ff, "-f", "lavfi", "-i", "color=black:s=16000x16000:d=1:r=1", "-frames:v", "1",
                        "-c:v", "png", "-pix_fmt", "rgba64be", str(bomb)], check=True)
    return clip, bomb


class Agent:
    def __init__(self, base: str) -> None:
        self.base, self.http = base, httpx.Client(timeout=120)
        reply = self.http.post(base + "/api/auth/anonymous-token", headers={"X-Client-Id": str(uuid.uuid4())})
        self.token = reply.json()["data"]["token"]
        self.session = self.new_session()

    @property
    def headers(self) -> dict[str, str]:
        return {**SKILL_HEADERS, "Authorization": f"Bearer {self.token}"}

    def new_session(self) -> str:
        reply = self.http.post(self.base + "/api/tasks/me/with-session/nemo_agent", headers=self.headers,
                               json={"task_name": "bench", "language": "en"})
        return str(reply.json()["data"]["session_id"])

    def upload(self, path: Path, session: str | None = None) -> httpx.Response:
        with open(path, "rb") as fh:
            return self.http.post(f"{self.base}/api/upload-video/nemo_agent/me/{session or self.session}",
                                  headers=self.headers, files=[("files", (path.name, fh))])

    def export(self, draft: Any, session: str | None = None, content: bytes | None = None) -> httpx.Response:
        body = {"id": f"render_{uuid.uuid4().hex}", "sessionId": session or self.session, "draft": draft,
                "output": {"format": "mp4", "resolution": "360p"}}
        if content is None:
            return self.http.post(self.base + "/api/render/proxy/lambda", headers=self.headers, json=body)
        return self.http.post(self.base + "/api/render/proxy/lambda", content=content,
                              headers={**self.headers, "Content-Type": "application/json"})

    def wait(self, render_id: str, timeout_s: float = 600) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            job = self.http.get(f"{self.base}/api/render/proxy/lambda/{render_id}", headers=self.headers).json()
            status = job.get("status") or job.get("data", {}).get("status")
            if status in ("completed", "failed"):
                return str(status)
            time.sleep(0.1)
        return "timeout"


def clip_draft(url: str, d_ms: int, segments: int = 1) -> dict[str, Any]:
    seg_d = d_ms // segments
    return {"v": 1, "m": {"width": 640, "height": 360, "fps": 30},
            "t": [{"tt": 0, "sg": [{"st": i * seg_d, "d": seg_d, "src": url, "ss": 0, "n": f"{i:03d} " + "x" * 196}
                                   for i in range(segments)]}]}


def still_hour_draft(url: str) -> dict[str, Any]:
    return {"v": 1, "m": {"width": 640, "height": 360, "fps": 30},
            "t": [{"tt": 0, "sg": [{"st": 0, "d": HOUR_MS, "src": url}]}]}


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self.stop = pid, 0, threading.Event()

    def read(self, key: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        return 0

    def run(self) -> None:
        while not self.stop.wait(0.05):
            self.peak_kb = max(self.peak_kb, self.read("VmRSS"))


def victim_latencies(victim: Agent, seconds: float) -> list[float]:
    """Milliseconds per call, E5 and E6 in turn, back to back for ``seconds``."""
    paths = ["/api/credits/balance/simple", f"/api/state/nemo_agent/me/{victim.session}/latest"]
    out, end, i = [], time.monotonic() + seconds, 0
    with httpx.Client(timeout=60) as http:
        while time.monotonic() < end:
            started = time.perf_counter()
            http.get(victim.base + paths[i % 2], headers=victim.headers)
            out.append((time.perf_counter() - started) * 1000)
            i += 1
    return out


def victim_export(victim: Agent, clip_url: str, timeout_s: float = 120) -> float | None:
    """Seconds from export to completed, or None when it did not complete within ``timeout_s``."""
    started = time.monotonic()
    render_id = victim.export(clip_draft(clip_url, 1000)).json()["data"]["id"]
    status = victim.wait(render_id, timeout_s)
    return round(time.monotonic() - started, 2) if status == "completed" else None


def attacks(attacker: Agent, bomb: Path, clip_url: str, still_url: str) -> dict[str, Callable[[], int]]:
    """Each attack: one request, returning its HTTP status."""
    music_session = attacker.new_session()
    attacker.export(still_hour_draft(still_url), session=music_session)   # the session now holds a 1 h draft
    big = attacker.new_session()
    big_draft = clip_draft(clip_url, 160_000, segments=400)          # some 120 KB: allowed, and heavy to serve
    attacker.export(big_draft, session=big)
    huge = json.dumps({"id": "render_huge", "sessionId": attacker.session,
                       "draft": {"v": 1, "t": [{"tt": 0, "sg": [{"x": i} for i in range(2_200_000)]}]}}).encode()
    deep: Any = 1
    for _ in range(400):
        deep = {"k": deep}

    def chat_music() -> int:
        body = {"app_name": "nemo_agent", "user_id": "me", "session_id": music_session,
                "new_message": {"parts": [{"text": "add background music"}]}}
        with attacker.http.stream("POST", attacker.base + "/run_sse", json=body,
                                  headers={**attacker.headers, "Accept": "text/event-stream"}) as reply:
            reply.read()
            return reply.status_code

    return {
        "header_bomb_upload": lambda: attacker.upload(bomb).status_code,
        "chat_music_1h": chat_music,
        "export_flood_1h": lambda: attacker.export(still_hour_draft(still_url)).status_code,
        "draft_20mb": lambda: attacker.export(None, content=huge).status_code,
        "draft_deep": lambda: attacker.export({"v": 1, "t": [], "x": deep}).status_code,
        "poll_big_state": lambda: attacker.http.get(f"{attacker.base}/api/state/nemo_agent/me/{big}/latest",
                                                    headers=attacker.headers).status_code,
    }


def hammer(name: str, attack: Callable[[], int], until: float, counts: dict[str, Counter[int]]) -> None:
    while time.monotonic() < until:
        try:
            counts[name][attack()] += 1
        except httpx.HTTPError as exc:
            counts[name][type(exc).__name__] += 1   # type: ignore[index]


def summary(ms: list[float]) -> dict[str, float]:
    q = statistics.quantiles(ms, n=100)
    return {"calls": len(ms), "p50_ms": round(q[49], 1), "p99_ms": round(q[98], 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20, help="length of the quiet and of the attack phase")
    args = parser.parse_args(argv)
    clip, bomb = make_media(OUT / "media")
    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp, Server(Path(tmp) / "data") as server:
        assert server.proc is not None
        rss = RssSampler(server.proc.pid)
        rss.start()
        victim, attacker = Agent(server.base), Agent(server.base)
        clip_url = victim.upload(clip).json()["data"]["files"][0]["url"]
        attacker_clip = attacker.upload(clip).json()["data"]["files"][0]["url"]
        still = OUT / "media" / "still.png"
        if not still.exists():
            subprocess.run([common.ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                            "testsrc2=s=640x360", "-frames:v", "1", str(still)], check=True)
        still_url = attacker.upload(still).json()["data"]["files"][0]["url"]

        quiet_export = victim_export(victim, clip_url)
        quiet = victim_latencies(victim, args.seconds)
        quiet_rss_kb = rss.peak_kb

        plan = attacks(attacker, bomb, attacker_clip, still_url)
        counts: dict[str, Counter[int]] = {name: Counter() for name in plan}
        until = time.monotonic() + args.seconds
        threads = [threading.Thread(target=hammer, args=(name, attack, until, counts), daemon=True)
                   for name, attack in plan.items()]
        threads += [threading.Thread(target=hammer, args=("header_bomb_upload", plan["header_bomb_upload"],
                                                          until, counts), daemon=True) for _ in range(2)]
        for t in threads:
            t.start()
        export_box: list[float | None] = []
        exporter = threading.Thread(target=lambda: export_box.append(victim_export(victim, clip_url)), daemon=True)
        exporter.start()
        loud = victim_latencies(victim, args.seconds)
        for t in threads:
            t.join(120)
        exporter.join(180)
        rss.stop.set()
        result = {
            "machine": common.machine(),
            "seconds": args.seconds,
            "api_rss_mb": {"quiet_peak": round(quiet_rss_kb / 1024), "attack_peak": round(rss.peak_kb / 1024),
                           "high_water_mark": round(rss.read("VmHWM") / 1024)},
            "victim": {"quiet": summary(quiet), "attack": summary(loud),
                       "p99_ratio": round(summary(loud)["p99_ms"] / summary(quiet)["p99_ms"], 2),
                       "export_s": {"quiet": quiet_export, "attack": export_box[0] if export_box else None}},
            "attacker": {name: {str(k): v for k, v in sorted(c.items(), key=str)} for name, c in counts.items()},
        }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "result.json").write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
