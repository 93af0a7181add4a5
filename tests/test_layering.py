"""The engine stands alone: importing it pulls in no web framework, queue or broker client."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import engine

ENGINE = Path(engine.__file__).parent


def test_engine_imports_no_web_or_queue_code() -> None:
    banned = "{'fastapi', 'starlette', 'celery', 'redis', 'api', 'workers'}"
    code = ("import sys, engine, engine.cli, engine.pipeline.render, engine.chunks; "
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {banned}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_only_run_py_starts_processes() -> None:
    starters = sorted(p.name for p in ENGINE.rglob("*.py") if "subprocess" in p.read_text() or "Popen" in p.read_text())
    assert starters == ["run.py"]


def test_the_environment_is_read_in_settings_only() -> None:
    readers = sorted(p.name for p in ENGINE.rglob("*.py") if "os.environ" in p.read_text() or "getenv" in p.read_text())
    assert readers in ([], ["settings.py"])


def test_public_names_are_sorted_and_importable() -> None:
    assert engine.__all__ == sorted(engine.__all__)
    for name in engine.__all__:
        assert getattr(engine, name) is not None
