"""A real headless Chromium for the studio's browser tests (tests only): Debian's ``chromium`` driven by
Playwright for Python, one browser per test module, a fresh context (no storage) per visitor, and a guard
that refuses, and remembers, every request a page makes to anywhere but the server under test (the
studio must work offline)."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 740}


def missing() -> str | None:
    """Why the browser tests cannot run here, or None (CI installs both: scripts/system-deps.sh, the test extras)."""
    if importlib.util.find_spec("playwright") is None:
        return "needs Playwright for Python (pip install -e '.[test]')"
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        return f"needs Debian's chromium at {CHROMIUM} (sh scripts/system-deps.sh installs it)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module; skipped, with the reason, where there is none."""
    reason = missing()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    executable = CHROMIUM if CHROMIUM.exists() else Path(str(shutil.which("chromium")))
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(executable), headless=True, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Visitor:
    """One person's browser window: a fresh context (nothing stored) and its page, on ``base`` only."""

    base: str
    context: Any
    page: Any
    offsite: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def close(self) -> None:
        self.context.close()


def visitor(browser: Any, base: str, viewport: dict[str, int] = DESKTOP, storage: dict[str, str] | None = None,
            ) -> Visitor:
    context = browser.new_context(viewport=viewport, accept_downloads=True)
    if storage:      # what an earlier visit left in localStorage, set before the page's own script runs
        lines = "".join(f"localStorage.setItem({k!r}, {v!r});" for k, v in storage.items())
        context.add_init_script(f"if (location.origin === {base!r}) {{ {lines} }}")
    context.set_default_timeout(20_000)
    page = context.new_page()
    seen = Visitor(base, context, page)

    def guard(route: Any) -> None:
        url = route.request.url
        if url.startswith(base + "/") or url == base:
            route.continue_()
        else:
            seen.offsite.append(url)
            route.abort()

    context.route("**/*", guard)
    page.on("pageerror", lambda exc: seen.errors.append(str(exc)))
    return seen
