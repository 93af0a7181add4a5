"""reelforge's render core: draft timelines to video files. No web, no queue, no global state.

The public names below load on first use (PEP 562), so that importing one small part of the engine (a
probe in a memory-capped child, the draft model) does not import all of it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_HOME = {
    "Draft": "engine.model.draft",
    "DraftError": "engine.errors",
    "dump_draft": "engine.model.draft",
    "EncoderUnavailable": "engine.errors",
    "EngineConfig": "engine.config",
    "EngineError": "engine.errors",
    "FFmpegFailed": "engine.errors",
    "Issue": "engine.errors",
    "json_schema": "engine.model.draft",
    "LocalResolver": "engine.media.resolve",
    "MediaError": "engine.errors",
    "MediaInfo": "engine.model.mediainfo",
    "MediaNotFound": "engine.errors",
    "MediaUnsupported": "engine.errors",
    "OutputMismatch": "engine.errors",
    "parse_draft": "engine.model.draft",
    "probe": "engine.media.probe",
    "render": "engine.pipeline.render",
    "RenderCancelled": "engine.errors",
    "RenderError": "engine.errors",
    "RenderResult": "engine.pipeline.render",
    "RenderTimeout": "engine.errors",
    "SchemaVersionError": "engine.errors",
    "summarize": "engine.model.summary",
    "TargetSizeUnreachable": "engine.errors",
}

__all__ = [
    "Draft",
    "DraftError",
    "EncoderUnavailable",
    "EngineConfig",
    "EngineError",
    "FFmpegFailed",
    "Issue",
    "LocalResolver",
    "MediaError",
    "MediaInfo",
    "MediaNotFound",
    "MediaUnsupported",
    "OutputMismatch",
    "RenderCancelled",
    "RenderError",
    "RenderResult",
    "RenderTimeout",
    "SchemaVersionError",
    "TargetSizeUnreachable",
    "dump_draft",
    "json_schema",
    "parse_draft",
    "probe",
    "render",
    "summarize",
]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(import_module(_HOME[name]), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from engine.config import EngineConfig
    from engine.errors import (
        DraftError,
        EncoderUnavailable,
        EngineError,
        FFmpegFailed,
        Issue,
        MediaError,
        MediaNotFound,
        MediaUnsupported,
        OutputMismatch,
        RenderCancelled,
        RenderError,
        RenderTimeout,
        SchemaVersionError,
        TargetSizeUnreachable,
    )
    from engine.media.probe import probe
    from engine.media.resolve import LocalResolver
    from engine.model.draft import Draft, dump_draft, json_schema, parse_draft
    from engine.model.mediainfo import MediaInfo
    from engine.model.summary import summarize
    from engine.pipeline.render import RenderResult, render
