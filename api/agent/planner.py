"""Planning a turn: the rules always; an OpenAI-compatible model when one is configured.

The LLM planner sends the sentence and the op catalogue as function-calling tools to
``{url}/chat/completions`` and turns the tool calls it gets back into ops. Any problem (no
answer in time, an HTTP error, malformed JSON, an unknown tool, bad arguments, no tool call at
all) falls back to the rules, so a broken or absent model never breaks a turn. The model's ops
run in the rules' phase order (:func:`api.agent.understand.plan.arrange`: the range before speed
or reverse, the file format last); its plan names no unmet clauses (``unmet=()``).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Final

import httpx

from api.agent.ops import OPS, Op, OpError, make_op
from api.agent.understand import MediaFacts, Understanding, understand
from api.agent.understand.plan import arrange

log = logging.getLogger("reelforge.agent")
CJK: Final = re.compile(r"[\u3400-\u9fff]")
SYSTEM: Final = (
    "You edit short videos by calling tools on the user's timeline. Call one tool per edit the user asks for, "
    "in order, with arguments taken from the request (times in milliseconds). Call no tool when the request "
    "is not an edit you can make with these tools. The session has: {facts}."
)


@dataclass(frozen=True, slots=True)
class LlmPlanner:
    url: str                      # base URL of an OpenAI-compatible API, e.g. http://127.0.0.1:11434/v1
    model: str
    api_key: str | None = None
    timeout_s: float = 20.0

    def tools(self) -> list[dict[str, Any]]:
        return [{"type": "function", "function": {"name": spec.name, "description": spec.description,
                                                  "parameters": spec.parameters()}} for spec in OPS.values()]

    async def plan(self, text: str, facts: MediaFacts) -> list[Op]:
        """The model's ops; raises on any problem (the caller falls back)."""
        body = {"model": self.model, "tools": self.tools(), "tool_choice": "auto", "temperature": 0,
                "messages": [{"role": "system", "content": SYSTEM.format(facts=_describe(facts))},
                             {"role": "user", "content": text}]}
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        async with httpx.AsyncClient(timeout=self.timeout_s, trust_env=False) as client:
            reply = await client.post(self.url.rstrip("/") + "/chat/completions", json=body, headers=headers)
        reply.raise_for_status()
        message = reply.json()["choices"][0]["message"]
        calls = message.get("tool_calls") or []
        ops = []
        for call in calls:
            function = call["function"]
            args = function.get("arguments") or "{}"
            ops.append(make_op(function["name"], **(json.loads(args) if isinstance(args, str) else args)))
        return ops


def _describe(facts: MediaFacts) -> str:
    audio = ", ".join(f"{name} (media_id {mid})" for mid, name in facts.audios) or "none"
    length = f"{facts.timeline_ms} ms" if facts.timeline_ms else "no timeline yet"
    return f"{facts.videos} videos, {facts.images} images, audio files: {audio}; timeline: {length}"


async def plan(text: str, facts: MediaFacts, llm: LlmPlanner | None = None) -> tuple[Understanding, str]:
    """(what to do, which planner decided: "llm" or "rules")."""
    if llm is not None:
        try:
            ops = await llm.plan(text, facts)
        except (httpx.HTTPError, OpError, KeyError, IndexError, TypeError, ValueError) as exc:
            log.warning("LLM planner failed (%s: %s); using the rules", exc.__class__.__name__, exc)
        else:
            if ops:
                return Understanding(arrange(ops), "zh" if CJK.search(text) else "en", False), "llm"
    return understand(text, facts), "rules"
