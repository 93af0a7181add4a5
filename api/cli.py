"""``reelforge serve``: the API on the embedded default (SQLite, local render workers, no Redis).

Registered as a ``reelforge.commands`` entry point, so the engine's CLI offers it without
importing anything of the web.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the API server (the hosted API, drop-in)",
                       description="Run the API on the embedded default: SQLite state, a media directory and "
                                   "local render workers. Settings come from REELFORGE_* variables; flags win.")
    p.add_argument("--host", help="address to listen on (default REELFORGE_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default REELFORGE_PORT or 8000)")
    p.add_argument("--data-dir", help="state, uploads and outputs (default REELFORGE_DATA_DIR or ./reelforge-data)")
    p.add_argument("--workers", type=int, help="renders at once (default REELFORGE_LOCAL_WORKERS or 1)")
    p.set_defaults(handler=serve)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from api.settings import get_settings

    overrides = {key: value for key, value in (("host", args.host), ("port", args.port), ("data_dir", args.data_dir),
                                               ("local_workers", args.workers)) if value is not None}
    settings = get_settings().model_copy(update=overrides)
    settings = type(settings).model_validate(settings.model_dump())     # re-check the overridden values
    print(f"reelforge API on http://{settings.host}:{settings.port} (docs at /docs), data in {settings.data_dir}",
          flush=True)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning",
                timeout_graceful_shutdown=15)
    return 0
