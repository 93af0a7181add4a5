"""A real ``reelforge serve`` process on loopback, and a client that speaks to it the way the seed
documents tell agents to (tests only)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

SKILL_HEADERS = {"X-Skill-Source": "best-gif-maker", "X-Skill-Version": "1.0.0", "X-Skill-Platform": "unknown"}
# Every test client comes from 127.0.0.1, far more of them than one address makes in real use: a server
# under test takes them all unless a test sets these lower to prove a limit.
TEST_RATE_LIMITS = {"REELFORGE_TOKEN_REQUESTS_PER_MINUTE": "100000", "REELFORGE_TOKENS_PER_IP_PER_WEEK": "100000",
                    "REELFORGE_EXPORTS_PER_MINUTE": "100000", "REELFORGE_UPLOADS_PER_MINUTE": "100000",
                    "REELFORGE_CHAT_TURNS_PER_MINUTE": "100000"}


def stop_group(proc: subprocess.Popen[bytes] | None, sig: int, grace_s: float) -> None:
    """Signal a process started in its own session, and all its children; SIGKILL after ``grace_s``."""
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, sig)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log: Any = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        env = {**os.environ, **TEST_RATE_LIMITS, "REELFORGE_DATA_DIR": str(self.data_dir), **self.env}
        self.log = open(self.data_dir.parent / f"{self.data_dir.name}-server.log", "ab")  # noqa: SIM115 - closed in stop
        self.proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", "--port", str(self.port)], env=env,
                                     stdout=self.log, stderr=self.log, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self.stop()
                raise RuntimeError(f"reelforge serve exited with {code}; "
                                   f"see {self.data_dir.parent}/{self.data_dir.name}-server.log")
            try:
                if httpx.get(self.base + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("reelforge serve did not come up")

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        stop_group(self.proc, sig, grace_s=30)
        self.proc = None
        if self.log is not None:
            self.log.close()
            self.log = None


@dataclass(frozen=True)
class Chat:
    """One /run_sse answer: the HTTP status, and the stream's events (or the JSON error before it opened)."""

    status: int
    content_type: str
    raw: str

    @property
    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line[6:]) for line in self.raw.splitlines() if line.startswith("data: ")]

    @property
    def error(self) -> dict[str, Any]:
        return json.loads(self.raw)

    def calls(self) -> list[dict[str, Any]]:
        return [p["functionCall"] for e in self.events for p in e["content"]["parts"] if "functionCall" in p]

    def responses(self) -> list[dict[str, Any]]:
        return [p["functionResponse"] for e in self.events for p in e["content"]["parts"] if "functionResponse" in p]

    def drafts(self) -> list[dict[str, Any]]:
        return [e["actions"]["stateDelta"]["draft"] for e in self.events if "draft" in e["actions"]["stateDelta"]]

    @property
    def final_text(self) -> str:
        texts = [e for e in self.events if not e.get("partial") and "text" in e["content"]["parts"][0]]
        return texts[-1]["content"]["parts"][0]["text"] if texts else ""


@dataclass
class Client:
    """One agent client: its own X-Client-Id, token and session, and the attribution headers."""

    base: str
    headers: dict[str, str] = field(default_factory=lambda: dict(SKILL_HEADERS))
    client_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    token: str | None = None
    session_id: str | None = None
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=60))

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        return self.http.request(method, self.base + path, headers=headers, **kwargs)

    def json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return self.call(method, path, **kwargs).json()

    def connect(self, language: str = "en") -> Client:
        reply = self.http.post(self.base + "/api/auth/anonymous-token", headers={"X-Client-Id": self.client_id})
        self.token = reply.json()["data"]["token"]
        session = self.json("POST", "/api/tasks/me/with-session/nemo_agent",
                            json={"task_name": "project", "language": language})
        self.session_id = session["data"]["session_id"]
        return self

    def upload(self, *paths: Path, field_name: str = "files") -> dict[str, Any]:
        files = [(field_name, (p.name, p.read_bytes())) for p in paths]
        return self.json("POST", f"/api/upload-video/nemo_agent/me/{self.session_id}", files=files)

    def state(self) -> dict[str, Any]:
        return self.json("GET", f"/api/state/nemo_agent/me/{self.session_id}/latest")

    def export(self, draft: dict[str, Any], output: dict[str, Any] | None = None, render_id: str | None = None,
               **kwargs: Any) -> dict[str, Any]:
        body = {"id": render_id or f"render_{int(time.time() * 1000)}_{uuid.uuid4().hex[:6]}",
                "sessionId": self.session_id, "draft": draft, "output": output or {"format": "mp4", "quality": "high"}}
        return self.json("POST", "/api/render/proxy/lambda", json=body, **kwargs)

    def chat(self, text: str, *, streaming: bool | None = None, camel: bool = False) -> Chat:
        """POST /run_sse with the seeds' body; the whole stream, parsed."""
        body: dict[str, Any] = {"app_name": "nemo_agent", "user_id": "me", "session_id": self.session_id,
                                "new_message": {"parts": [{"text": text}]}}
        if camel:
            body = {"appName": "nemo_agent", "userId": "me", "sessionId": self.session_id,
                    "newMessage": {"role": "user", "parts": [{"text": text}]}}
        if streaming is not None:
            body["streaming"] = streaming
        headers = {**self.headers, "Accept": "text/event-stream", "Authorization": f"Bearer {self.token}"}
        with self.http.stream("POST", self.base + "/run_sse", json=body, headers=headers, timeout=900) as reply:
            raw = reply.read().decode()
            return Chat(reply.status_code, reply.headers.get("content-type", ""), raw)

    def wait(self, render_id: str, timeout_s: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            body = self.json("GET", f"/api/render/proxy/lambda/{render_id}")
            if body["status"] in ("completed", "failed") or time.monotonic() > deadline:
                return body
            time.sleep(0.3)


@dataclass
class RedisServer:
    """A private redis-server (Debian's package) on a free loopback port, nothing saved."""

    folder: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def __enter__(self) -> RedisServer:
        import redis

        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.folder)], stdout=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                client.close()
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)


@dataclass
class Worker:
    """One `reelforge worker` process on the cpu queue."""

    name: str
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    out: list[Any] = field(default_factory=list)

    def start(self) -> Worker:
        fh = open(self.log, "ab")  # noqa: SIM115 - closed in stop
        self.out.append(fh)
        self.proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "worker", "--name", self.name,
                                      "--queues", "cpu"], env={**os.environ, **self.env}, stdout=fh, stderr=fh,
                                     start_new_session=True)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        stop_group(self.proc, sig, grace_s=20)
        for fh in self.out:
            fh.close()
        self.out.clear()


def until(predicate, timeout_s: float = 60, step: float = 0.2):  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it returns something true (returned), or fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("timed out")
