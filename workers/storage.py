"""Where a farm worker reads a job's inputs and writes its output: one small interface.

The shipped implementation is a directory shared by the API and every worker (a mounted volume
on a farm: NFS, a Docker volume, a bind mount). A job names its files as the API sees them, under
the API's data directory (``RenderJob.data_root``); :class:`SharedDirectory` maps them to where the
same directory is mounted on this worker (its ``REELFORGE_DATA_DIR``), so hosts may mount it at
different paths. A path outside the data directory is refused, never followed.

Another store (S3, HTTP) would implement the same three methods: fetch an input to a local file,
give a local path to write the output to, and publish that file where the API reads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from engine.errors import MediaNotFound


class Storage(Protocol):
    def input(self, path: str) -> Path:
        """A local file with the input's bytes."""

    def output(self, path: str) -> Path:
        """Where to write the output locally (the engine writes a temporary name and renames it)."""

    def publish(self, local: Path, path: str) -> None:
        """Make the finished output visible to the API under ``path``."""


class SharedDirectory:
    def __init__(self, api_root: str | Path | None, local_root: str | Path) -> None:
        self.api_root = Path(api_root).resolve() if api_root else None
        self.local_root = Path(local_root).resolve()

    def _local(self, path: str) -> Path:
        given = Path(path)
        if self.api_root is None or self.api_root == self.local_root:
            local = given.resolve()
        else:
            try:
                local = (self.local_root / given.resolve().relative_to(self.api_root)).resolve()
            except ValueError:
                raise MediaNotFound(path, "not under the shared data directory") from None
        if not local.is_relative_to(self.local_root):
            raise MediaNotFound(path, "not under the shared data directory")
        return local

    def input(self, path: str) -> Path:
        local = self._local(path)
        if not local.is_file():
            raise MediaNotFound(path, f"not on this worker's shared directory ({local}); is it mounted?")
        return local

    def output(self, path: str) -> Path:
        local = self._local(path)
        local.parent.mkdir(parents=True, exist_ok=True)
        return local

    def publish(self, local: Path, path: str) -> None:
        """Nothing to do: the output was written into the shared directory itself."""
