"""reelforge's render core: draft timelines to video files. No web, no queue, no global state."""

from engine.config import EngineConfig
from engine.draft import Draft, dump_draft, json_schema, parse_draft
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
from engine.pipeline import RenderResult, render
from engine.probe import MediaInfo, probe
from engine.resolve import LocalResolver
from engine.summary import summarize

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
