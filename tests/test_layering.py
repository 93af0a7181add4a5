"""The layering rules, checked: the engine stands alone (no web framework, queue or broker client), its
subpackages import only the layers below them, api/ and workers/ share only the farm protocol, and
no package has an import cycle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import api
import engine
import workers

ENGINE = Path(engine.__file__).parent
API = Path(api.__file__).parent
WORKERS = Path(workers.__file__).parent


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


def _top_level_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_api_and_workers_share_only_the_farm_protocol() -> None:
    api_uses = {name for p in API.rglob("*.py") for name in _top_level_imports(p) if name.split(".")[0] == "workers"}
    assert api_uses <= {"workers.protocol"}, api_uses
    workers_use = {name for p in WORKERS.rglob("*.py") for name in _top_level_imports(p) if name.split(".")[0] == "api"}
    assert not workers_use, workers_use


def test_the_farm_protocol_needs_only_the_standard_library() -> None:
    imported = {name.split(".")[0] for name in _top_level_imports(WORKERS / "protocol.py")}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported - set(sys.stdlib_module_names)


def test_engine_settings_are_the_engine_s_only() -> None:
    from engine.settings import EngineSettings

    assert set(EngineSettings.model_fields) == {"ffmpeg_path", "work_dir", "x264_preset", "encoder", "decoder",
                                                "gif_buffer_mb", "render_timeout_s", "font_dirs",
                                                "probe_max_width", "probe_max_height", "probe_max_pixels",
                                                "probe_max_frame_bytes", "probe_max_streams", "probe_max_duration_s",
                                                "probe_memory_mb", "probe_timeout_s", "probe_max_children",
                                                "reverse_in_graph_mb", "reverse_block_mb", "scratch_budget_mb",
                                                "max_timeline_s", "max_output_pixels", "max_reverse_pixels",
                                                "max_segments", "max_tracks", "max_layers", "max_texts",
                                                "max_graph_filters"}


def test_the_api_and_the_workers_read_a_shared_setting_the_same_way(monkeypatch: pytest.MonkeyPatch) -> None:
    from api.settings import ApiSettings
    from workers.settings import WorkerSettings

    shared = set(ApiSettings.model_fields) & set(WorkerSettings.model_fields)
    assert {"redis_url", "data_dir", "job_lease_s", "job_max_attempts"} <= shared
    for name in shared:
        api_field, worker_field = ApiSettings.model_fields[name], WorkerSettings.model_fields[name]
        assert api_field.annotation == worker_field.annotation, name
        default = api_field.get_default(call_default_factory=True)
        assert default == worker_field.get_default(call_default_factory=True), name
        assert api_field.metadata == worker_field.metadata, name      # the same bounds (gt, ge, ...)
    monkeypatch.setenv("REELFORGE_JOB_LEASE_S", "7")
    monkeypatch.setenv("REELFORGE_DATA_DIR", "/srv/media")
    api, worker = ApiSettings(), WorkerSettings()
    assert {n: getattr(api, n) for n in shared} == {n: getattr(worker, n) for n in shared}
    assert worker.job_lease_s == 7 and str(api.data_dir) == "/srv/media"


# What each part of the engine may import from the engine, lowest layer first. A part not listed
# here fails the test, so a new subpackage must say where it stands.
ENGINE_LAYERS: dict[str, set[str]] = {
    "errors": set(),
    "config": set(),
    "run": {"errors"},
    "model": {"errors"},
    "media": {"errors", "config", "run", "model"},
    "graph": {"errors", "model", "media", "run"},
    "encode": {"errors", "config", "model", "run"},
    "job": {"config", "encode"},
    "pipeline": {"errors", "config", "run", "model", "media", "graph", "encode"},
    "chunks": {"errors", "config", "run", "model", "media", "graph", "encode", "pipeline"},
    "settings": {"config"},
    "logs": set(),
    "cli": {"errors", "config", "settings", "logs", "run", "model", "media", "graph", "encode", "pipeline", "chunks"},
    "engine": {"errors", "config", "model", "media", "pipeline"},     # engine/__init__.py: the public names
}


def _engine_part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "engine"


def _engine_graph() -> dict[str, set[str]]:
    modules = {_module_name(p, ENGINE) for p in ENGINE.rglob("*.py")}
    return {_module_name(p, ENGINE): _imports_of(p, modules) - {_module_name(p, ENGINE)} for p in ENGINE.rglob("*.py")}


def test_engine_parts_import_only_the_layers_below_them() -> None:
    wrong = []
    for module, imported in sorted(_engine_graph().items()):
        part = _engine_part(module)
        assert part in ENGINE_LAYERS, f"{module}: {part!r} has no place in ENGINE_LAYERS"
        allowed = ENGINE_LAYERS[part] | {part}
        wrong += [f"{module} imports {other}" for other in sorted(imported) if _engine_part(other) not in allowed]
    assert wrong == []


def test_engine_modules_import_each_other_without_a_cycle() -> None:
    graph = {module: {i for i in imported if i != "engine"} for module, imported in _engine_graph().items()}
    assert _cycle(graph) is None


def test_the_model_reads_no_files_and_starts_nothing() -> None:
    """engine/model/ is pure: the draft, canvas, placement, timeline and pieces are computed, never read."""
    io = {"av", "ffmpeg", "imageio", "imageio_ffmpeg", "subprocess", "os", "shutil", "tempfile", "pathlib", "numpy"}
    found = {}
    for path in (ENGINE / "model").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            bad = sorted({n.split(".")[0] for n in names} & io)
            if bad:
                found[path.name] = bad
    assert found == {}
