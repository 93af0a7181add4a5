"""The engine stands alone: importing it pulls in no web framework, queue or broker client."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import api
import engine

ENGINE = Path(engine.__file__).parent
API = Path(api.__file__).parent


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


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports_of(path: Path, modules: set[str]) -> set[str]:
    """The modules of ``modules`` that ``path`` imports anywhere in it (TYPE_CHECKING blocks and functions too)."""
    found: set[str] = set()
    package = _module_name(path, API).rsplit(".", 0 if path.name == "__init__.py" else 1)[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return found & modules


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle in ``graph`` (as the list of modules round it), or None."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module):], module]
        if module in done:
            return None
        for imported in sorted(graph[module]):
            if (cycle := visit(imported, [*path, module])) is not None:
                return cycle
        done.add(module)
        return None

    return next((c for m in sorted(graph) if (c := visit(m, [])) is not None), None)


def test_api_modules_import_each_other_without_a_cycle() -> None:
    files = sorted(API.rglob("*.py"))
    modules = {_module_name(p, API) for p in files}
    graph = {_module_name(p, API): _imports_of(p, modules) - {_module_name(p, API)} for p in files}
    assert graph["api.chat"] and graph["api.services"]          # the walk sees imports at all
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_cycle_finder_finds_one() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
