"""``reelforge worker`` and ``reelforge farm``: registered as ``reelforge.commands`` entry points."""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workers.settings import WorkerSettings


def register(sub: Any) -> None:
    p = sub.add_parser("worker", help="run a render-farm worker (Celery on REELFORGE_REDIS_URL)",
                       description="Render jobs from the farm's queue, one at a time. It serves the gpu queue "
                                   "when this host can use NVENC or CUDA decoding, else cpu.")
    p.add_argument("--queues", help="queues to consume, comma-separated (default: by capability)")
    p.add_argument("--name", help="this worker's name on the farm (default: host-pid)")
    p.set_defaults(handler=worker)
    p = sub.add_parser("farm", help="list the farm's live workers: capabilities, current job, load")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.add_argument("--ping", action="store_true", help="exit 0 if a worker on this host is alive (health check)")
    p.set_defaults(handler=farm)


def _settings(**overrides: str | None) -> WorkerSettings:
    """The worker's settings with the command line's options laid over them; Redis is required."""
    from engine import logs
    from workers.settings import get_settings

    settings = get_settings().model_copy(update={k: v for k, v in overrides.items() if v is not None})
    logs.configure(settings.log_format, settings.log_level)
    if not settings.redis_url:
        raise SystemExit("set REELFORGE_REDIS_URL (for example redis://localhost:6379/0)")
    return settings


def worker(args: argparse.Namespace) -> int:
    from workers.farm import run_worker

    return run_worker(_settings(worker_queues=args.queues, worker_name=args.name))


def farm(args: argparse.Namespace) -> int:
    import redis

    from workers.board import Registry

    settings = _settings()
    try:
        live = Registry(redis.Redis.from_url(settings.redis_url, socket_connect_timeout=5)).live()
    except redis.RedisError as exc:
        print(f"reelforge farm: cannot reach Redis at {settings.redis_url}: {exc}", file=sys.stderr)
        return 1 if args.ping else 2
    if args.ping:
        return 0 if any(w.get("host") == socket.gethostname() for w in live) else 1
    if args.json:
        print(json.dumps(live, indent=2))
        return 0
    if not live:
        print("no live workers")
        return 0
    for w in live:
        choice = w.get("choice", {})
        job = w.get("current_job") or "idle"
        print(f"{w['name']:<28} {','.join(w.get('queues', [])):<8} {choice.get('encoder', '?'):<11} "
              f"{choice.get('decoder', '?'):<5} {job:<24} load {w.get('load') or 0:.2f}  "
              f"rendered {w.get('rendered', 0)}  up {time.time() - w.get('started', time.time()):.0f} s")
    return 0
