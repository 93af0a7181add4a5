"""Frame-exactness, at length: the property tests of tests/test_frame_exact.py and tests/test_pieces.py
with many more examples than the default test run, saving every failure it finds.

    python -m benchmarks.frame_exact [--examples N] [--jsonl]

The default test run tries a bounded number of drafts and only reads the saved failures in
tests/data/hypothesis/ (so a test run never changes the tree). This script runs the same tests
through pytest with ``REELFORGE_FRAME_EXACT_EXAMPLES=N`` set: each render property tries N drafts
(300 by default; the pure pieces properties 20 times as many) and Hypothesis writes every new
failure, shrunk, into that folder. Commit the folder's new files: from then on every test run
replays those drafts first. Nothing is asserted about time; it prints one JSON line per test
(style §7 rule 29) and exits non-zero when a property fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import pytest

from benchmarks import common

PROPERTIES = (
    "tests/test_pieces.py",
    "tests/test_frame_exact.py::test_every_frame_shows_the_source_frame_the_model_says",
    "tests/test_frame_exact.py::test_render_to_mp4_has_every_frame_and_sound_as_long_as_the_picture",
)


class _Timer:
    """A pytest plugin that keeps each test's outcome and wall time."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            self.rows.append({"test": report.nodeid, "outcome": report.outcome, "wall_s": round(report.duration, 2)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=300, help="drafts per render property (default 300)")
    parser.add_argument("--jsonl", action="store_true", help="print only the JSON lines")
    args = parser.parse_args(argv)
    os.environ["REELFORGE_FRAME_EXACT_EXAMPLES"] = str(args.examples)
    timer = _Timer()
    started = time.monotonic()
    quiet = ["-q", "-p", "no:cacheprovider", "--timeout=0"]
    code = pytest.main([*quiet, *(["--no-header", "-qq"] if args.jsonl else []), *PROPERTIES], plugins=[timer])
    facts = {"benchmark": "frame_exact", "ffmpeg": common.ffmpeg_version(), "encoder": "ffv1 (lossless) / libx264",
             "device": "cpu", "examples": args.examples}
    for row in timer.rows:
        print(json.dumps({**facts, **row}))
    print(json.dumps({**facts, "test": "all", "outcome": "failed" if code else "passed",
                      "wall_s": round(time.monotonic() - started, 1)}))
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
