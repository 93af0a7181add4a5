"""Disk on the API side: each render's scratch folder, the per-user storage quota, and retention.

- Scratch: every export gets a fresh folder under ``<data>/scratch`` as its engine ``work_dir``
  (:func:`new_scratch`). :func:`sweep_scratch` removes what no running job owns: at start-up on
  the embedded default everything not owned by a pending or processing job; otherwise (the cleanup
  loop, ``reelforge gc``, and a farm's start-up) only what has also been untouched for a while,
  since a render may be writing there.
- Quota: a user keeps at most ``storage_quota_mb`` of uploads plus finished outputs.
  :class:`UploadQuota` refuses an upload that would pass it while the body streams in;
  :func:`check_output_room` refuses an export once the quota is full.
- Retention: :func:`plan` lists what the ``retention_*_days`` settings have expired (uploads,
  outputs, finished jobs, draft history, farm parts) plus stray scratch, and :func:`apply` deletes
  exactly that set. An expired upload's or output's row stays, marked, so asking for it later is
  answered 410 (:func:`gone_if_expired_job`, :func:`gone_if_expired_media`). :class:`Cleaner`
  runs both every ``retention_interval_s`` in the API process; ``reelforge gc`` runs them once.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import threading
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from api.drafts import find_upload, session_uploads_by_name
from api.errors import Gone, QuotaExceeded
from api.settings import ApiSettings
from api.store import JobRow, MediaRow, Store

log = logging.getLogger("reelforge.retention")

DAY_S: Final = 86400.0
KINDS: Final = ("uploads", "outputs", "jobs", "drafts", "parts", "scratch")
SCRATCH_PREFIX: Final = "job-"
IDLE_S: Final = 10.0            # local mode: a folder no live job owns, untouched this long, is abandoned
MULTIPART_SLACK: Final = 1 << 20  # a multipart body's headers and boundaries stay well under this
MB: Final = 1_000_000


# ---------------------------------------------------------------- scratch


def new_scratch(scratch_dir: Path) -> Path:
    """A fresh name for one render's folder of intermediates: its render process makes it when it starts,
    so a request refused after this point leaves nothing behind."""
    return scratch_dir / f"{SCRATCH_PREFIX}{secrets.token_hex(8)}"


def _newest_mtime(path: Path) -> float:
    """The latest modification time of ``path`` or anything in it (a render writing there keeps it fresh)."""
    try:
        newest = path.lstat().st_mtime
    except FileNotFoundError:
        return 0.0
    if path.is_dir() and not path.is_symlink():
        for root, dirs, files in os.walk(path):
            for name in (*dirs, *files):
                try:
                    newest = max(newest, os.lstat(os.path.join(root, name)).st_mtime)
                except FileNotFoundError:
                    pass
    return newest


def _size(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():
        try:
            return path.lstat().st_size
        except FileNotFoundError:
            return 0
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                pass
    return total


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except OSError:
        return False


def stray_scratch(store: Store, scratch_dir: Path, *, idle_s: float | None, now: float | None = None) -> list[Path]:
    """Entries of ``scratch_dir`` that no live job owns; with ``idle_s``, only those untouched for that long."""
    if not scratch_dir.is_dir():
        return []
    now = time.time() if now is None else now
    live = {Path(work).resolve() for _job, work in store.live_jobs() if work}
    stray = []
    for entry in sorted(scratch_dir.iterdir()):
        if entry.resolve() in live:
            continue
        if idle_s is not None and now - _newest_mtime(entry) < idle_s:
            continue
        stray.append(entry)
    return stray


def sweep_scratch(store: Store, scratch_dir: Path, *, farm: bool, lease_s: float) -> int:
    """The start-up sweep; returns how many entries it removed. On the embedded default nothing renders
    yet, so whatever no pending or processing job owns goes; a farm's workers may be rendering into a
    shared scratch, so there only what has also been untouched for a lease goes."""
    stray = stray_scratch(store, scratch_dir, idle_s=lease_s if farm else None)
    for entry in stray:
        _remove(entry)
    if stray:
        log.info("scratch: removed %d folders no job owns", len(stray))
    return len(stray)


# ---------------------------------------------------------------- quota


def _quota_bytes(settings: ApiSettings) -> int | None:
    return round(settings.storage_quota_mb * MB) if settings.storage_quota_mb > 0 else None


def _quota_error(message: str, quota: int, uploads: int, outputs: int, asked: int | None) -> QuotaExceeded:
    return QuotaExceeded(message, {"limit": "storage_quota_mb", "value": asked, "max": quota,
                                   "uploads_bytes": uploads, "outputs_bytes": outputs})


def _in_mb(n: int) -> str:
    return f"{n / MB:,.6g} MB"


class UploadQuota:
    """What one upload request may still store for its user. Refusals raise QuotaExceeded (4002)
    naming ``storage_quota_mb``; the caller discards whatever it received."""

    def __init__(self, quota: int | None, uploads: int, outputs: int) -> None:
        self.quota, self.uploads, self.outputs = quota, uploads, outputs
        self.left = None if quota is None else quota - uploads - outputs
        self.file_limit = 0

    def refuse(self, asked: int | None) -> QuotaExceeded:
        assert self.quota is not None
        held = f"you keep {_in_mb(self.uploads)} of uploads and {_in_mb(self.outputs)} of outputs"
        return _quota_error(f"this upload would pass your storage quota of {_in_mb(self.quota)} (storage_quota_mb): "
                            f"{held}; old files expire, or ask the server's owner for more room",
                            self.quota, self.uploads, self.outputs, asked)

    def per_file(self, limit: int) -> int:
        """The limit to stream each file under: the per-file one, or what is left of the quota if smaller."""
        self.file_limit = limit
        return limit if self.left is None else max(0, min(limit, self.left))

    def too_large(self, limit_bytes: int) -> None:
        """A file passed ``limit_bytes`` while streaming: QuotaExceeded when that limit was the quota's."""
        if self.left is not None and limit_bytes == self.left and self.left < self.file_limit:
            raise self.refuse(None)

    async def guard(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """The body, refused the moment it is bigger than the quota left could hold (however it is split
        into files)."""
        seen = 0
        async for chunk in chunks:
            seen += len(chunk)
            if self.left is not None and seen > self.left + MULTIPART_SLACK:
                raise self.refuse(seen)
            yield chunk

    def admit(self, sizes: Iterable[int]) -> None:
        """All files received: refuse them together when their sum passes what is left."""
        total = sum(sizes)
        if self.left is not None and total > self.left:
            raise self.refuse(total)


def upload_quota(store: Store, settings: ApiSettings, user_id: str, content_length: str | None) -> UploadQuota:
    """The user's quota for one upload; refused at once when it is already full, or when the declared
    body is bigger than what is left could hold."""
    quota = UploadQuota(_quota_bytes(settings), *store.storage_used(user_id))
    if quota.left is not None:
        declared = int(content_length) if (content_length or "").isdigit() else None
        if quota.left <= 0 or (declared is not None and declared > quota.left + MULTIPART_SLACK):
            raise quota.refuse(declared)
    return quota


def check_output_room(store: Store, settings: ApiSettings, user_id: str) -> None:
    """An export needs room for its output: QuotaExceeded when the user's files already fill the quota."""
    quota = _quota_bytes(settings)
    if quota is None:
        return
    uploads, outputs = store.storage_used(user_id)
    if uploads + outputs >= quota:
        fills = "your outputs fill" if outputs >= quota else "your uploads and outputs fill"
        raise _quota_error(f"{fills} your storage quota of {_in_mb(quota)} (storage_quota_mb): outputs "
                           f"{_in_mb(outputs)}, uploads {_in_mb(uploads)}; there is no room for this export's "
                           "output until old files expire", quota, uploads, outputs, uploads + outputs)


# ---------------------------------------------------------------- 410 for what retention removed


def _date(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def gone_if_expired_job(store: Store, job: JobRow) -> None:
    """410 when retention removed the job's output (or trimmed the job)."""
    at = store.job_expired_at(job.id, job.user_id)
    if at is not None:
        raise Gone(f"render {job.id!r} expired: its output was removed on {_date(at)} under this server's retention "
                   "(retention_outputs_days); export the draft again", {"render_id": job.id, "expired_at": _date(at)})


def gone_if_expired_media(store: Store, media: MediaRow | None, user_id: str) -> None:
    """410 when ``media`` is one of the user's uploads that retention removed."""
    if media is None or media.user_id != user_id:
        return
    at = store.media_expired_at(media.id)
    if at is not None:
        raise Gone(f"the upload {media.filename!r} expired: it was removed on {_date(at)} under this server's "
                   "retention (retention_uploads_days); upload it again",
                   {"media_id": media.id, "filename": media.filename, "expired_at": _date(at)})


def refuse_expired_sources(store: Store, draft: Any, user_id: str, session_id: str) -> None:
    """410 naming the first ``src`` of the draft that points at one of the user's expired uploads (found
    as exports find sources, :func:`api.drafts.find_upload`)."""
    tracks = draft.get("t") if isinstance(draft, dict) else None
    if not isinstance(tracks, list):
        return
    by_name = session_uploads_by_name(store, session_id)
    for i, track in enumerate(tracks):
        segments = track.get("sg") if isinstance(track, dict) else None
        for j, seg in enumerate(segments if isinstance(segments, list) else []):
            src = seg.get("src") if isinstance(seg, dict) else None
            if not isinstance(src, str) or not src:
                continue
            media = find_upload(store, src, by_name)
            if media is None or media.user_id != user_id:
                continue
            at = store.media_expired_at(media.id)
            if at is not None:
                raise Gone(f"t[{i}].sg[{j}].src: the upload {media.filename!r} expired on {_date(at)} and was "
                           "removed (retention_uploads_days); upload it again and use its new url",
                           {"where": f"t[{i}].sg[{j}].src", "src": src, "media_id": media.id,
                            "expired_at": _date(at)})


# ---------------------------------------------------------------- retention


@dataclass(frozen=True, slots=True)
class Rules:
    """What expires when (days; 0 keeps forever), and how scratch is judged."""

    uploads_days: float
    outputs_days: float
    jobs_days: float
    drafts_days: float
    parts_days: float
    farm: bool
    lease_s: float

    @classmethod
    def of(cls, settings: ApiSettings) -> Rules:
        return cls(settings.retention_uploads_days, settings.retention_outputs_days, settings.retention_jobs_days,
                   settings.retention_drafts_days, settings.retention_parts_days, bool(settings.redis_url),
                   settings.job_lease_s)

    @property
    def scratch_idle_s(self) -> float:
        return max(self.lease_s, IDLE_S) if self.farm else IDLE_S


@dataclass(frozen=True, slots=True)
class Doomed:
    """One thing retention deletes: a file or folder, a row, or both."""

    kind: str
    key: Any                    # media id, job rowid, (session id, version), or None for a bare path
    path: Path | None
    bytes: int


@dataclass
class Plan:
    items: list[Doomed] = field(default_factory=list)

    def summary(self) -> dict[str, dict[str, int]]:
        out = {kind: {"count": 0, "bytes": 0} for kind in KINDS}
        for item in self.items:
            out[item.kind]["count"] += 1
            out[item.kind]["bytes"] += item.bytes
        return out


def _cutoff(days: float, now: float) -> float | None:
    return now - days * DAY_S if days > 0 else None


def _file_bytes(path: str | Path) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0


def plan(store: Store, data_dir: Path, rules: Rules, now: float | None = None) -> Plan:
    """Everything expired at ``now``; nothing is changed."""
    now = time.time() if now is None else now
    found = Plan()
    if (cut := _cutoff(rules.uploads_days, now)) is not None:
        found.items += [Doomed("uploads", mid, Path(path), size) for mid, path, size in store.uploads_before(cut)]
    trimmed: set[int] = set()
    if (cut := _cutoff(rules.jobs_days, now)) is not None:
        for rowid, _job, path, spec_bytes in store.jobs_before(int(cut * 1000)):
            trimmed.add(rowid)
            found.items.append(Doomed("jobs", rowid, Path(path), spec_bytes + _file_bytes(path)))
    if (cut := _cutoff(rules.outputs_days, now)) is not None:
        found.items += [Doomed("outputs", rowid, Path(path), _file_bytes(path))
                        for rowid, _job, path in store.outputs_before(int(cut * 1000)) if rowid not in trimmed]
    if (cut := _cutoff(rules.drafts_days, now)) is not None:
        found.items += [Doomed("drafts", (sid, version), None, n) for sid, version, n in store.drafts_before(cut)]
    parts = data_dir / "outputs" / ".parts"
    if (cut := _cutoff(rules.parts_days, now)) is not None and parts.is_dir():
        live = {job for job, _work in store.live_jobs()}
        found.items += [Doomed("parts", None, folder, _size(folder)) for folder in sorted(parts.iterdir())
                        if folder.name not in live and _newest_mtime(folder) < cut]
    found.items += [Doomed("scratch", None, entry, _size(entry))
                    for entry in stray_scratch(store, data_dir / "scratch", idle_s=rules.scratch_idle_s, now=now)]
    return found


def apply(store: Store, data_dir: Path, found: Plan, now: float | None = None) -> dict[str, dict[str, int]]:
    """Delete exactly what ``found`` lists: files first, then mark or delete the rows. Returns its summary.
    A path outside the data directory is never deleted (its row is still marked)."""
    now = time.time() if now is None else now
    for item in found.items:
        if item.path is not None and _inside(item.path, data_dir):
            _remove(item.path)
    by_kind: dict[str, list[Any]] = {kind: [] for kind in KINDS}
    for item in found.items:
        by_kind[item.kind].append(item.key)
    store.expire_uploads(by_kind["uploads"], now)
    store.expire_outputs(by_kind["outputs"], now)
    store.expire_jobs(by_kind["jobs"], now)
    store.delete_drafts(by_kind["drafts"])      # and every draft text nothing points at any more
    summary = found.summary()
    if found.items:
        log.info("retention: removed %s", ", ".join(f"{v['count']} {k} ({v['bytes']:,} bytes)"
                                                    for k, v in summary.items() if v["count"]))
    return summary


class Cleaner:
    """The cleanup loop in the API process: one retention pass every ``interval_s`` (none when 0)."""

    def __init__(self, store: Store, data_dir: Path, rules: Rules, interval_s: float) -> None:
        self.store, self.data_dir, self.rules, self.interval_s = store, data_dir, rules, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="reelforge-retention", daemon=True)

    def start(self) -> None:
        if self.interval_s > 0:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)

    def run_once(self, now: float | None = None) -> dict[str, dict[str, int]]:
        return apply(self.store, self.data_dir, plan(self.store, self.data_dir, self.rules, now), now)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.run_once()
            except Exception:   # a locked database or a vanished file must not end the loop
                log.exception("retention: the cleanup pass failed; trying again next interval")
