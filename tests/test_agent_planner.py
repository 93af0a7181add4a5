"""The optional LLM planner, against a small local fake of an OpenAI-compatible chat-completions API:
its tool calls become ops, and every way it can fail falls back to the rules."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from api.agent.ops import OPS
from api.agent.planner import LlmPlanner, plan
from api.agent.understand import MediaFacts
from tests.apiserver import Server
from tests.test_api_seeds import skill, uploaded


class FakeLlm:
    """Answers POST /v1/chat/completions with whatever ``reply`` says; keeps every request body."""

    def __init__(self) -> None:
        self.reply: Any = {"tool_calls": []}
        self.status = 200
        self.delay_s = 0.0
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
                time.sleep(fake.delay_s)
                payload = (fake.reply if isinstance(fake.reply, bytes) else
                           json.dumps({"choices": [{"message": {"role": "assistant", **fake.reply}}]}).encode())
                try:
                    self.send_response(fake.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except BrokenPipeError:
                    pass                         # the planner gave up waiting (the "slow" case)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = False          # server_close() waits for answers still being written
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def calls(self, *calls: tuple[str, dict[str, Any]]) -> None:
        self.reply = {"content": None, "tool_calls": [
            {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
            for i, (name, args) in enumerate(calls)]}


@pytest.fixture()
def llm() -> Iterator[FakeLlm]:
    fake = FakeLlm()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


FACTS = MediaFacts(videos=1, timeline_ms=6000)


def run(text: str, planner: LlmPlanner) -> tuple[list[tuple[str, dict[str, Any]]], str]:
    understanding, who = asyncio.run(plan(text, FACTS, planner))
    return [(op.name, op.args) for op in understanding.ops], who


def test_tool_calls_become_ops(llm: FakeLlm) -> None:
    llm.calls(("set_aspect", {"aspect": "9:16"}), ("set_output", {"format": "gif", "fps": 12}))
    ops, who = run("make this feel like a tiktok thing", LlmPlanner(llm.url, "local-model", "sk-test"))
    assert who == "llm" and ops == [("set_aspect", {"aspect": "9:16"}), ("set_output", {"format": "gif", "fps": 12})]
    [request] = llm.requests
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer sk-test"
    assert request["model"] == "local-model"
    assert request["messages"][-1]["content"] == "make this feel like a tiktok thing"
    assert {t["function"]["name"] for t in request["tools"]} == set(OPS)
    assert all(t["function"]["parameters"]["type"] == "object" for t in request["tools"])


@pytest.mark.parametrize("failure", ["http_500", "not_json", "unknown_tool", "bad_arguments", "no_calls", "slow"])
def test_any_failure_falls_back_to_the_rules(llm: FakeLlm, failure: str) -> None:
    if failure == "http_500":
        llm.status = 500
    elif failure == "not_json":
        llm.reply = b"<html>gateway error</html>"
    elif failure == "unknown_tool":
        llm.calls(("launch_rocket", {}))
    elif failure == "bad_arguments":
        llm.calls(("speed", {"factor": 99}))
    elif failure == "no_calls":
        llm.reply = {"content": "Sure! I made it a GIF."}
    else:
        llm.delay_s = 1.0
    ops, who = run("convert this clip into a looping GIF with no sound", LlmPlanner(llm.url, "m", timeout_s=0.3))
    assert who == "rules" and ("set_output", {"format": "gif", "loop": True}) in ops


def test_the_server_plans_with_the_llm_when_configured(llm: FakeLlm, tmp_path, clients, media) -> None:
    llm.calls(("reverse", {}), ("add_text", {"text": "Rewind", "role": "title"}))
    with Server(tmp_path / "data", env={"REELFORGE_LLM_URL": llm.url, "REELFORGE_LLM_MODEL": "fake"}) as server:
        client = clients(server.base, headers=skill("best-gif-maker")).connect()
        uploaded(client, media.pattern)
        answer = client.chat("do the rewind thing with a title")
        assert [c["args"]["operation"] for c in answer.calls()] == ["reverse", "add_text"]
        draft = client.state()["data"]["state"]["draft"]
        assert draft["t"][0]["sg"][0]["rev"] is True and draft["t"][-1]["sg"][0]["txt"] == "Rewind"
        llm.status = 503                                          # the model goes away: the rules carry on
        answer = client.chat("make it square")
        assert [c["args"]["operation"] for c in answer.calls()] == ["set_aspect"]
        assert client.state()["data"]["state"]["draft"]["m"]["aspect"] == "1:1"
