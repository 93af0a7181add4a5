"""Make tests/data/release-0fe6eeb.sqlite: a data directory's database written by the release before
schema versions (commit 0fe6eeb), with one of each row the API keeps. Run it with THAT code, not this
tree's, from a copy of the commit (a plain export, so no worktree is touched):

    mkdir /tmp/rel && git archive 0fe6eeb | tar -x -C /tmp/rel
    PYTHONPATH=/tmp/rel python tests/data/make_release_db.py tests/data/release-0fe6eeb.sqlite

It starts that release's ``reelforge serve`` and uses it as a client does: a token (and its user), a
session, an upload (a media row and the starting draft: a draft and its text), an export rendered to
the end (a job), and a chat turn. Its token is issued for 100 years, so tests can still use it. The
file is then rewritten with 512-byte pages (VACUUM) so that it is a few KB; the schema and the rows
are what the release wrote.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import imageio_ffmpeg

from tests.apiserver import Client, Server


def main(target: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="reelforge-release-") as tmp:
        root = Path(tmp)
        clip = root / "clip.mp4"
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                        "color=c=red:s=160x90:r=30:d=1", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(clip)],
                       check=True)
        data = root / "data"
        data.mkdir()
        # a token that outlives the tests (the default is 7 days), so that they can use it through HTTP
        with Server(data, env={"REELFORGE_TOKEN_TTL_DAYS": "36500"}) as server:
            client = Client(server.base).connect()
            [file] = client.upload(clip)["data"]["files"]
            draft = {"m": {"width": 160, "height": 90, "out": {"format": "mp4"}},
                     "t": [{"tt": 0, "sg": [{"src": file["url"], "d": 1000}]}]}
            started = client.export(draft, render_id="render_release_1")
            assert started["code"] == 0, started
            done = client.wait("render_release_1")
            assert done["status"] == "completed", done
            turn = client.chat("make it a looping gif with no sound")
            assert turn.status == 200, turn.raw
            client.close()
        target.unlink(missing_ok=True)
        with sqlite3.connect(data / "reelforge.db") as live, sqlite3.connect(target) as copy:
            live.backup(copy)           # the WAL's pages too: the server may leave one behind
        live.close()
        copy.close()
    with sqlite3.connect(target, isolation_level=None) as db:
        db.execute("PRAGMA journal_mode=DELETE")
        db.execute("PRAGMA page_size=512")
        db.execute("VACUUM")
        db.execute("PRAGMA journal_mode=WAL")       # as the release leaves it
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").fetchall():
            print(table, db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    db.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())
