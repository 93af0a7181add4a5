"""Settings that do not exist fail loudly: a REELFORGE_* variable no settings class knows stops the
CLI, the server and the worker at start, with one line that names it and the nearest real setting."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from api.settings import ApiSettings
from engine.cli import main
from engine.settings import (
    OTHER_SETTINGS,
    EngineSettings,
    setting_names,
    settings_models,
    unknown_settings,
)
from workers.settings import WorkerSettings

ROOT = Path(__file__).resolve().parent.parent
KNOWN = setting_names([EngineSettings, ApiSettings, WorkerSettings])
TYPO = "REELFORGE_GPU_INDX"


def test_the_known_names_are_every_settings_class_s_fields() -> None:
    assert settings_models(["api", "workers", "no_such_package"]) == [EngineSettings, ApiSettings, WorkerSettings]
    assert setting_names(settings_models(["api", "workers"])) == KNOWN
    assert {"REELFORGE_FFMPEG_PATH", "REELFORGE_MAX_SEGMENTS",              # the engine's
            "REELFORGE_PORT", "REELFORGE_LLM_URL",                          # the API's
            "REELFORGE_GPU", "REELFORGE_NVENC_SESSION_LIMIT", "REELFORGE_WORKER_QUEUES",   # the workers'
            *OTHER_SETTINGS} <= KNOWN                                       # read by the tests themselves
    assert "REELFORGE_GPU_INDEX" not in KNOWN                               # never existed


def test_unknown_names_get_one_line_each_with_the_nearest_setting() -> None:
    env = {TYPO: "1", "REELFORGE_REDIS_ULR": "redis://x", "REELFORGE_XYZ": "1", "REELFORGE_PORT": "8000",
           "reelforge_encodr": "auto", "PATH": "/bin", "CUDA_VISIBLE_DEVICES": "0", "MY_REELFORGE_X": "1"}
    assert unknown_settings(env, KNOWN) == [
        f"unknown setting {TYPO} (did you mean REELFORGE_GPU?)",
        "unknown setting REELFORGE_REDIS_ULR (did you mean REELFORGE_REDIS_URL?)",
        "unknown setting REELFORGE_XYZ",                                    # nothing near: no guess
        "unknown setting reelforge_encodr (did you mean REELFORGE_ENCODER?)",   # settings ignore case
    ]
    assert unknown_settings({"REELFORGE_MAX_UPLOAD": "9"}, KNOWN) == [
        "unknown setting REELFORGE_MAX_UPLOAD (did you mean REELFORGE_MAX_UPLOAD_MB?)"]
    assert unknown_settings({"reelforge_port": "1", "REELFORGE_GPU": "0"}, KNOWN) == []


def _names_in(paths: list[Path]) -> set[str]:
    found: set[str] = set()
    for path in paths:
        found |= set(re.findall(r"REELFORGE_[A-Z0-9_]*[A-Z0-9]\b", path.read_text(errors="replace")))
    return found


def test_every_name_the_repository_sets_or_documents_is_known() -> None:
    """The suite, CI, the scripts and the images set only real settings (else the CLI the tests run
    would refuse to start), and the docs name only real ones."""
    here = Path(__file__).resolve()
    files = [p for pattern in ("tests/**/*.py", "scripts/**/*", ".ci/**/*", "docker/**/*", "benchmarks/**/*.py",
                               "docs/**/*.md", "README.md", "engine/**/*.py", "api/**/*.py", "workers/**/*.py")
             for p in ROOT.glob(pattern) if p.is_file() and p != here]
    assert len(files) > 50
    assert _names_in(files) - KNOWN - {TYPO} == set()           # TYPO: the message's example, in docstrings


def test_the_cli_refuses_to_start_with_an_unknown_setting(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(TYPO, "1")
    for command in (["schema"], ["encoders"], ["worker"], ["serve"], ["farm", "--ping"]):
        assert main(command) == 2, command                  # before any work, Redis or port is touched
        out, err = capsys.readouterr()
        assert (out, err) == ("", f"reelforge: unknown setting {TYPO} (did you mean REELFORGE_GPU?)\n")


def test_known_settings_pass(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("REELFORGE_GPU", "0")               # a worker's setting: known to every command
    monkeypatch.setenv("REELFORGE_LLM_MODEL", "m")         # an API's
    assert main(["schema"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("{") and err == ""


def test_the_installed_command_exits_non_zero_with_the_message() -> None:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("REELFORGE_")}
    env |= {TYPO: "3", "PYTHONPATH": os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "engine.cli", "schema"], env=env, capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip() == f"reelforge: unknown setting {TYPO} (did you mean REELFORGE_GPU?)"
    env.pop(TYPO)
    ok = subprocess.run([sys.executable, "-m", "engine.cli", "schema"], env=env | {"REELFORGE_GPU": "GPU-1b2c"},
                        capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert ok.returncode == 0, ok.stderr
