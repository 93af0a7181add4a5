"""Logging for every reelforge process (API, workers, CLI), configured once with ``logging.config``.

:func:`configure` routes everything to one stderr handler: readable lines by default, or JSON lines
(``fmt="json"``: one object per line with ``time``, ``level``, ``logger``, ``message`` and whatever
extra fields the line carries). ``reelforge.*`` lines show from ``level`` up (INFO by default);
other libraries' from WARNING; uvicorn's own loggers go through the same handler, and its access
log is off (the API writes its own, ``reelforge.access``).

A line about a render carries its job id, worker and attempt: :func:`job_context` sets them for
the code that runs inside it (a contextvar, so each thread or task has its own), and the handler's
filter copies them onto every record logged there.

Stdlib only: the engine knows nothing of the web or the queue.
"""

from __future__ import annotations

import contextvars
import json
import logging
import logging.config
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any, Final

FORMATS: Final = ("text", "json")
JOB_FIELDS: Final = ("job_id", "render_id", "worker", "attempt")   # a readable line shows these of its extras
_job: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "reelforge_job", default=MappingProxyType({}))
# The attributes every LogRecord has: anything else on a record is an extra field of that line.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName",
                                                                                "color_message"}


@contextmanager
def job_context(**fields: Any) -> Iterator[None]:
    """Every line logged inside (in this thread or task) carries these fields (job_id, worker, attempt)."""
    token = _job.set(MappingProxyType({**_job.get(), **{k: v for k, v in fields.items() if v is not None}}))
    try:
        yield
    finally:
        _job.reset(token)


class JobFields(logging.Filter):
    """Copies the current :func:`job_context` onto each record (a field set by ``extra=`` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _job.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601 with ms), level, logger, message, extra fields, and the
    exception's traceback as ``exc`` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        for key, value in extra_fields(record).items():
            out[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``2026-12-06 10:00:00,123 INFO reelforge.jobs: message [job_id=... worker=... attempt=1]``: the job's
    fields only (the message says the rest; JSON lines carry every extra field)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = {k: v for k, v in extra_fields(record).items() if k in JOB_FIELDS}
        if not fields:
            return line
        first, _, rest = line.partition("\n")
        tags = " ".join(f"{k}={v}" for k, v in fields.items())
        return f"{first} [{tags}]" + (f"\n{rest}" if rest else "")


def config_dict(fmt: str = "text", level: str = "INFO") -> dict[str, Any]:
    """The ``logging.config.dictConfig`` schema :func:`configure` applies."""
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r}: use one of {', '.join(FORMATS)}")
    level = level.upper()
    if not isinstance(logging.getLevelName(level), int):
        raise ValueError(f"log level {level!r}: use DEBUG, INFO, WARNING, ERROR or CRITICAL")
    through = {"handlers": [], "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"job": {"()": JobFields}},
        "formatters": {"text": {"()": TextFormatter}, "json": {"()": JsonFormatter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                                "formatter": fmt, "filters": ["job"]}},
        "root": {"level": "WARNING", "handlers": ["stderr"]},
        "loggers": {
            "reelforge": {"level": level, **through},
            "uvicorn": {"level": "INFO", **through},
            "uvicorn.error": {"level": "INFO", **through},
            "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},   # ours is reelforge.access
            "celery": {"level": "WARNING", **through},
        },
    }


def configure(fmt: str = "text", level: str = "INFO") -> None:
    """Set up logging for this process (call once at start; calling again replaces the set-up)."""
    logging.config.dictConfig(config_dict(fmt, level))

