"""reelforge's render core: draft timelines to video files. No web, no queue, no global state."""

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
