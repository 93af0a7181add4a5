"""Set-up on a fresh machine: scripts/serve.sh (README's first command), scripts/test.sh (its second), the
dependency floors in pyproject.toml, constraints.txt and the NOTICE.

The bootstrap runs for real: the repository's files are copied into a temporary directory, serve.sh makes a
fresh virtual environment there and pip installs reelforge into it from the package index (about 20 s), then a
second run reuses it and serves real HTTP. Only what would change this machine is stood in for: a missing or
old python3 (PATH and --python), and apt-get when `python3 -m venv` fails.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
SERVE = ROOT / "scripts" / "serve.sh"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# What serve.sh needs of a checkout: the project, the packages it installs, the scripts and the pins.
CHECKOUT = ("pyproject.toml", "README.md", "constraints.txt", "engine", "api", "workers", "scripts")
PY_VERSION = f"{sys.version_info[0]}.{sys.version_info[1]}"


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without what would point the new venv's Python back at this checkout (the
    tests run with PYTHONPATH set) and without REELFORGE_* settings a test may have set."""
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSAFEPATH"}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.upper().startswith("REELFORGE_")}
    return env | extra


def sh(args: list[str], cwd: Path, env: dict[str, str] | None = None,
       timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", *args], cwd=cwd, env=env or clean_env(), capture_output=True, text=True,
                          timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of the repository's files, as a fresh clone would have them; its venv (~500 MB) is removed after."""
    root = tmp_path_factory.mktemp("checkout")
    for name in CHECKOUT:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        else:
            shutil.copy2(src, root / name)
    yield root
    shutil.rmtree(root / ".venv", ignore_errors=True)


def test_serve_sh_makes_a_venv_installs_reelforge_then_reuses_it_and_serves(checkout: Path, tmp_path: Path) -> None:
    first = sh(["scripts/serve.sh", "--check"], checkout)
    assert first.returncode == 0, first.stderr
    assert "creating the virtual environment" in first.stderr and "installing reelforge" in first.stderr
    venv = checkout / ".venv"
    help_out = subprocess.run([venv / "bin" / "reelforge", "--help"], capture_output=True, text=True,
                              env=clean_env(), cwd=tmp_path)
    assert help_out.returncode == 0, help_out.stderr
    assert "serve" in help_out.stdout and "worker" in help_out.stdout        # both entry points were installed
    # Editable: the venv runs the checkout's code, so edits need no reinstall.
    where = subprocess.run([venv / "bin" / "python", "-c", "import api, engine; print(engine.__file__, api.__file__)"],
                           capture_output=True, text=True, env=clean_env(), cwd=tmp_path, check=True).stdout.split()
    assert all(Path(p).is_relative_to(checkout) for p in where), where

    # A second run installs nothing.
    started = time.monotonic()
    again = sh(["scripts/serve.sh", "--check"], checkout)
    assert again.returncode == 0, again.stderr
    assert "creating" not in again.stderr and "installing" not in again.stderr, again.stderr
    assert time.monotonic() - started < 30

    # And serves: its options go to `reelforge serve`, which answers real HTTP.
    port = free_port()
    server = subprocess.Popen(["sh", "scripts/serve.sh", "--port", str(port), "--data-dir", str(tmp_path / "data")],
                              cwd=checkout, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            try:
                reply = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not answer within 60 s"
                time.sleep(0.2)
        assert reply.status_code == 200 and reply.json()["code"] == 0
        assert (tmp_path / "data").is_dir()
    finally:
        server.terminate()          # sh exec'd reelforge, so this is the server itself
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stdout:
            server.stdout.close()


def test_serve_sh_refuses_clearly_without_python3(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    venv = tmp_path / "venv"
    result = subprocess.run([shutil.which("sh") or "/bin/sh", str(SERVE), "--venv", str(venv), "--check"],
                            env=clean_env(PATH=str(empty)), capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "no python3 found" in result.stderr and "3.11 or newer" in result.stderr
    assert "apt-get install python3 python3-venv" in result.stderr and "--python" in result.stderr
    assert not venv.exists()


def test_serve_sh_refuses_a_python_older_than_3_11(tmp_path: Path) -> None:
    old = tmp_path / "python3.10"
    old.write_text("#!/bin/sh\necho 3.10\n")
    old.chmod(0o755)
    venv = tmp_path / "venv"
    result = sh([str(SERVE), "--python", str(old), "--venv", str(venv), "--check"], tmp_path, timeout=30)
    assert result.returncode == 1
    assert "is Python 3.10; reelforge needs 3.11 or newer" in result.stderr
    assert not venv.exists()


def test_serve_sh_installs_the_venv_package_with_apt_get_when_venv_fails(tmp_path: Path) -> None:
    """As on Debian 12 and Ubuntu 24.04 without python3-venv: `python3 -m venv` fails, so serve.sh asks apt-get
    for python3.X-venv (through sudo when not root). apt-get here is a stand-in that records its arguments and
    fails, so nothing is installed on this machine, and serve.sh must then stop with a clear message."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    # A python3 whose venv module fails the way Debian's does without python3-venv, but which otherwise runs.
    (bin_dir / "python3").write_text(
        "#!/bin/sh\n"
        'if [ "$1" = -m ] && [ "$2" = venv ]; then\n'
        '  mkdir -p "$3/bin" && echo "home = /usr/bin" > "$3/pyvenv.cfg"\n'
        '  echo "The virtual environment was not created successfully because ensurepip is not available." >&2\n'
        "  exit 1\n"
        "fi\n"
        f'exec "{sys.executable}" "$@"\n')
    (bin_dir / "apt-get").write_text(f'#!/bin/sh\necho "apt-get $*" >> "{log}"\nexit 100\n')
    (bin_dir / "sudo").write_text(f'#!/bin/sh\necho "sudo" >> "{log}"\nexec "$@"\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    venv = tmp_path / "venv"
    env = clean_env(PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    result = sh([str(SERVE), "--venv", str(venv), "--check"], tmp_path, env=env, timeout=60)
    assert result.returncode == 1
    calls = [line for line in log.read_text().splitlines() if line != "sudo"]
    assert calls[0] == f"apt-get install -y -q python{PY_VERSION}-venv"
    assert "apt-get update -q" in calls and "apt-get install -y -q python3-venv" in calls
    assert ("sudo" in log.read_text().splitlines()) == (os.getuid() != 0)     # sudo only when not root
    assert f"installing python{PY_VERSION}-venv" in result.stderr
    assert f"could not install python{PY_VERSION}-venv" in result.stderr
    assert not venv.exists(), "the half-made venv is removed"


def test_serve_sh_never_removes_a_directory_that_is_not_a_venv(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("mine")
    result = sh([str(SERVE), "--venv", str(precious), "--check"], tmp_path, timeout=60)
    assert result.returncode == 1 and "is not a virtual environment" in result.stderr
    assert (precious / "notes.txt").read_text() == "mine"


def test_test_sh_is_serve_sh_with_the_test_extras() -> None:
    text = (ROOT / "scripts" / "test.sh").read_text()
    assert re.search(r'exec sh "\$here/serve.sh" --test "\$@"', text)
    serve = SERVE.read_text()
    assert 'extras="[test]"' in serve and "system-deps.sh" in serve and '-m pytest "$@"' in serve


# --- dependency floors and pins ------------------------------------------------------------------------------

def requirements() -> dict[str, Requirement]:
    reqs = PYPROJECT["project"]["dependencies"] + PYPROJECT["project"]["optional-dependencies"]["test"]
    return {Requirement(r).name.lower(): Requirement(r) for r in reqs}


def pins() -> dict[str, str]:
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    return dict(line.split("==", 1) for line in lines if line and not line.startswith("#"))


@pytest.mark.parametrize(("name", "floor"), [
    ("python-multipart", "0.0.20"),   # api/uploads.py imports python_multipart; 0.0.19- fail a body with no parts
    ("av", "16"),                     # engine/media/probe.py: av.stream.Disposition; 15 misreads MP3 durations
    ("imageio-ffmpeg", "0.8"),        # FFmpeg 9.0.2; the 7.0.2 of 0.6 and 0.7 fails renders
    ("pillow", "10.1"),               # ImageFont.load_default(size=...)
    ("fastapi", "0.115.3"),           # allows starlette 0.41.2
    ("starlette", "0.41.2"),          # FileResponse answers Range; imports python_multipart (no warning)
    ("celery", "5.5.3"),              # kombu[redis] picks redis-py; with older ones kombu 5.7 refuses redis-py 5
    ("limits", "5.1"),                # api/ratelimit.py: RedisStorage(key_prefix=...)
])
def test_pyproject_floors_are_those_the_code_needs(name: str, floor: str) -> None:
    req = requirements()[name]
    lowest = min((Version(s.version) for s in req.specifier if s.operator == ">="), default=None)
    assert lowest is not None and lowest >= Version(floor), f"{req}: the code needs {name} {floor}+"


def test_constraints_pin_every_requirement_within_its_floor() -> None:
    pinned = pins()
    for name, req in requirements().items():
        assert name in pinned, f"{name} is not pinned in constraints.txt (run scripts/update-constraints)"
        assert req.specifier.contains(pinned[name]), f"constraints.txt pins {name}=={pinned[name]}, outside {req}"
    assert "reelforge" not in pinned


@pytest.mark.parametrize("file", ["Dockerfile", "Dockerfile.gpu"])
def test_images_install_the_dependencies_with_the_constraints(file: str) -> None:
    text = (ROOT / "docker" / file).read_text()
    assert re.search(r"^COPY constraints\.txt \./$", text, re.M)
    assert re.search(r"pip install -r /tmp/requirements\.txt -c constraints\.txt", text)
    ignore = (ROOT / "docker" / f"{file}.dockerignore").read_text().splitlines()
    assert "!constraints.txt" in ignore


def test_notice_names_the_gpl_ffmpeg_builds_and_where_their_sources_are() -> None:
    notice = (ROOT / "NOTICE").read_text()
    assert "MIT" in notice and "LICENSE" in notice
    for needed in ("imageio-ffmpeg", "PyAV", "GPL", "LGPL", "libx264", "https://ffmpeg.org/releases/",
                   "https://github.com/imageio/imageio-ffmpeg"):
        assert needed in notice, needed
    gpu = (ROOT / "docker" / "Dockerfile.gpu").read_text()
    version = re.search(r"^ARG FFMPEG_VERSION=(\S+)$", gpu, re.M)
    assert version and f"FFmpeg {version.group(1)}" in notice, "NOTICE names the GPU image's FFmpeg release"


# --- macOS ---------------------------------------------------------------------------------------------------

def test_macos_font_folders_are_the_defaults_there() -> None:
    from engine.config import default_font_dirs

    home = Path("/Users/someone")
    assert default_font_dirs("darwin", home) == (Path("/System/Library/Fonts"), Path("/Library/Fonts"),
                                                 home / "Library/Fonts")
    assert Path("/usr/share/fonts") in default_font_dirs("linux", home)


def test_macos_system_fonts_draw_latin_and_cjk_text_without_warnings() -> None:
    """On a Mac without Noto: Helvetica for sans, PingFang for Chinese, Menlo for mono."""
    from engine.media.fonts import FontCatalog, FontFace

    system = Path("/System/Library/Fonts")
    catalog = FontCatalog(faces=(
        FontFace(system / "Helvetica.ttc", 0, "Helvetica", "Regular"),
        FontFace(system / "Helvetica.ttc", 1, "Helvetica", "Bold"),
        FontFace(system / "PingFang.ttc", 0, "PingFang SC", "Regular"),
        FontFace(system / "Menlo.ttc", 0, "Menlo", "Regular"),
    ), dirs=(system,))
    latin = catalog.resolve("sans", bold=True, text="Hello")
    assert latin.face is not None and (latin.face.family, latin.face.style) == ("Helvetica", "Bold")
    assert latin.warnings == ()
    chinese = catalog.resolve("sans", bold=False, text="你好")
    assert chinese.face is not None and chinese.face.family == "PingFang SC" and chinese.warnings == ()
    mono = catalog.resolve("mono", bold=False, text="x = 1")
    assert mono.face is not None and mono.face.family == "Menlo" and mono.warnings == ()


def _proc_readers(tree: ast.Module, source: str) -> set[str]:
    """Functions of a module that read /proc, directly or through another function of the module."""
    funcs = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    readers = {name for name, n in funcs.items() if "/proc" in (ast.get_source_segment(source, n) or "")}
    while True:
        more = {name for name, n in funcs.items() if name not in readers
                and {x.id for x in ast.walk(n) if isinstance(x, ast.Name)} & readers}
        if not more:
            return readers
        readers |= more


def test_tests_that_read_proc_skip_where_there_is_none() -> None:
    """macOS has no /proc: each test that reads it (itself or through a helper) carries NEEDS_PROC."""
    unmarked = []
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        source = path.read_text()
        if "/proc" not in source or path.name == "test_setup.py":
            continue
        tree = ast.parse(source)
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_") \
                    and node.name in _proc_readers(tree, source) \
                    and not any(isinstance(d, ast.Name) and d.id == "NEEDS_PROC" for d in node.decorator_list):
                unmarked.append(f"{path.name}::{node.name}")
    assert not unmarked, f"read /proc without @NEEDS_PROC: {unmarked}"
