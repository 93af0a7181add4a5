"""``reelforge serve``: the API on the embedded default (SQLite, local render workers, no Redis);
``reelforge gc``: one retention pass over the same data directory, with the same settings.

Registered as a ``reelforge.commands`` entry point, so the engine's CLI offers them without
importing anything of the web.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the API server (the hosted API, drop-in)",
                       description="Run the API on the embedded default: SQLite state, a media directory and "
                                   "local render workers. Settings come from REELFORGE_* variables; flags win.")
    p.add_argument("--host", help="address to listen on (default REELFORGE_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default REELFORGE_PORT or 8000)")
    p.add_argument("--data-dir", help="state, uploads and outputs (default REELFORGE_DATA_DIR or ./reelforge-data)")
    p.add_argument("--workers", type=int, help="renders at once (default REELFORGE_LOCAL_WORKERS or 2)")
    p.set_defaults(handler=serve)
    g = sub.add_parser("gc", help="delete what the retention settings have expired",
                       description="Delete expired uploads, outputs, finished jobs, draft history and farm parts, "
                                   "and scratch no running job owns, as the server's cleanup loop does; reads the "
                                   "same REELFORGE_* settings as serve. Safe while the server runs.")
    g.add_argument("--dry-run", action="store_true", help="list what would be deleted (counts and bytes per kind); "
                                                          "delete nothing")
    g.add_argument("--data-dir", help="the server's data directory (default REELFORGE_DATA_DIR or ./reelforge-data)")
    g.add_argument("--json", action="store_true", help="print the counts as one JSON object")
    g.set_defaults(handler=gc)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from api.settings import get_settings
    from engine import logs

    overrides = {key: value for key, value in (("host", args.host), ("port", args.port), ("data_dir", args.data_dir),
                                               ("local_workers", args.workers)) if value is not None}
    settings = get_settings().model_copy(update=overrides)
    settings = type(settings).model_validate(settings.model_dump())     # re-check the overridden values
    logs.configure(settings.log_format, settings.log_level)
    if not _schema_ready(settings.data_dir.resolve(), "serve"):
        return 2
    print(f"reelforge on http://{settings.host}:{settings.port} (the studio at /, API docs at /docs), "
          f"data in {settings.data_dir}", flush=True)
    # uvicorn logs through ours (log_config=None keeps the set-up above); the access log is the app's own
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, access_log=False,
                timeout_graceful_shutdown=15)
    return 0


def gc(args: argparse.Namespace) -> int:
    from api.retention import Rules, apply, plan
    from api.settings import get_settings
    from api.store import Store
    from engine import logs

    settings = get_settings()
    logs.configure(settings.log_format, settings.log_level)
    if args.data_dir:
        settings = settings.model_copy(update={"data_dir": args.data_dir})
        settings = type(settings).model_validate(settings.model_dump())
    data = settings.data_dir.resolve()
    if not (data / "reelforge.db").is_file():
        print(f"reelforge gc: no reelforge data in {data} (set REELFORGE_DATA_DIR or --data-dir)", file=sys.stderr)
        return 2
    if not _schema_ready(data, "gc"):
        return 2
    store = Store(data / "reelforge.db")
    found = plan(store, data, Rules.of(settings))
    summary = found.summary() if args.dry_run else apply(store, data, found)
    if args.json:
        print(json.dumps({"dry_run": args.dry_run, "data_dir": str(data), "kinds": summary}))
        return 0
    print(f"{'would delete' if args.dry_run else 'deleted'} in {data}:")
    for kind, row in summary.items():
        print(f"  {kind:8} {row['count']:7,d}  {row['bytes'] / 1e6:12,.3f} MB")
    return 0


def _schema_ready(data: Path, command: str) -> bool:
    """Bring the data directory's database to this release's schema before anything uses it (printing
    the steps run), or say in one line why it cannot be (a newer reelforge wrote it)."""
    from api.migrations import LATEST, SchemaError
    from api.store import Store

    try:
        store = Store(data / "reelforge.db")
    except SchemaError as exc:
        print(f"reelforge {command}: {exc}", file=sys.stderr)
        return False
    store.close()
    if store.migrated:
        print(f"reelforge {command}: {data / 'reelforge.db'}: schema version {LATEST} "
              f"(ran step {', '.join(map(str, store.migrated))})", flush=True)
    return True
