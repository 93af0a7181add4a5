"""Engine errors. Everything the engine raises on purpose is one of these.

* EngineError                  base; ``code`` is a stable machine name
  + DraftError                 the draft is invalid; the caller can fix it (carries the issues)
    - SchemaVersionError       the draft's ``v`` is newer than this engine understands
  + MediaError                 an input is missing, unreadable or unsupported
    - MediaNotFound            the source reference resolves to nothing
    - MediaUnsupported         the file is not media we can decode (corrupt, renamed junk, ...)
      . MediaOverLimit         its headers declare more than a probe cap allows (names the cap)
  + LimitExceeded              the work asked for is over one of the documented caps (names it)
  + InsufficientDisk           the scratch folder has less free space than the render needs
  + RenderError                an encode started and did not produce a valid file
    - FFmpegFailed             ffmpeg exited non-zero (argv, return code, stderr tail)
    - RenderTimeout            the render ran past its time limit and was killed
    - RenderCancelled          the caller cancelled the render
    - EncoderUnavailable       a forced encoder cannot run on this machine
    - OutputMismatch           ffmpeg said yes, but the file does not match the timeline
    - TargetSizeUnreachable    no GIF setting we may try fits under the requested size

Every class passes all its constructor arguments to ``super().__init__`` so that the
error survives pickling (Celery moves exceptions between processes).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

# FFmpeg reports the cause first and then the cascade it set off; these cascade lines say nothing
# about why (style §7 rule 18: one table, not scattered checks on stderr).
_CASCADE_LINES: Final = re.compile(
    r"Error while opening encoder|Could not open encoder before EOF|Error sending frames to consumers"
    r"|Task finished with error code|Terminating thread with return code|Nothing was written into output file"
    r"|Error opening output file|Error opening output files|Conversion failed|Error while filtering"
    r"|Error marking filters as finished|Error initializing output stream",
)
_ADDRESS: Final = re.compile(r" @ 0x[0-9a-fA-F]+")


def ffmpeg_cause(stderr_tail: str) -> str:
    """The line of FFmpeg's stderr that says why it failed, without pointer addresses."""
    lines = [_ADDRESS.sub("", ln).strip() for ln in stderr_tail.splitlines()]
    lines = [ln for ln in lines if ln]
    causes = [ln for ln in lines if not _CASCADE_LINES.search(ln)]
    if causes:
        return causes[0]
    return lines[-1] if lines else "(no stderr)"


class EngineError(Exception):
    """Base of every error the engine raises on purpose."""

    code = "engine_error"

    def details(self) -> dict[str, object]:
        """Machine-readable context for API responses and job records."""
        return {}


@dataclass(frozen=True, slots=True)
class Issue:
    """One broken rule in a draft: where (a JSON path such as ``t[0].sg[2].d``), which rule, and why."""

    path: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '(draft)'}: {self.message}"


class DraftError(EngineError):
    """The draft cannot be rendered as it is. ``issues`` lists every problem found, not just the first."""

    code = "invalid_draft"

    def __init__(self, issues: Sequence[Issue]) -> None:
        super().__init__(list(issues))
        self.issues: list[Issue] = list(issues)

    def __str__(self) -> str:
        if not self.issues:
            return "invalid draft"
        head = str(self.issues[0])
        more = len(self.issues) - 1
        return f"invalid draft: {head}" + (f" (and {more} more)" if more else "")

    def details(self) -> dict[str, object]:
        return {"issues": [{"path": i.path, "rule": i.rule, "message": i.message} for i in self.issues]}


class SchemaVersionError(DraftError):
    code = "unsupported_draft_version"

    def __init__(self, version: int, supported: int) -> None:
        issue = Issue("v", "version_supported",
                      f"draft version {version} is newer than {supported}, the newest this engine reads")
        super().__init__([issue])
        self.args = (version, supported)
        self.version, self.supported = version, supported


class MediaError(EngineError):
    code = "media_error"

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(source, reason)
        self.source, self.reason = source, reason

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"

    def details(self) -> dict[str, object]:
        return {"source": self.source, "reason": self.reason}


class MediaNotFound(MediaError):
    code = "media_not_found"


class MediaUnsupported(MediaError):
    code = "media_unsupported"


class MediaOverLimit(MediaUnsupported):
    """The file's headers declare more than a probe cap allows: ``limit`` names the setting (e.g.
    ``probe_max_width``), ``value`` is what the file declares, ``maximum`` the cap."""

    code = "media_over_limit"

    def __init__(self, source: str, reason: str, limit: str, value: float, maximum: float) -> None:
        super().__init__(source, reason)
        self.args = (source, reason, limit, value, maximum)
        self.limit, self.value, self.maximum = limit, value, maximum

    def details(self) -> dict[str, object]:
        return {**super().details(), "limit": self.limit, "value": self.value, "max": self.maximum}


class LimitExceeded(EngineError):
    """The draft or file is valid but asks for more than this server allows: ``limit`` names the cap
    (a setting, e.g. ``max_timeline_s``), ``value`` is what was asked, ``maximum`` the cap."""

    code = "limit_exceeded"

    def __init__(self, limit: str, value: float, maximum: float, what: str) -> None:
        super().__init__(limit, value, maximum, what)
        self.limit, self.value, self.maximum, self.what = limit, value, maximum, what

    def __str__(self) -> str:
        return f"{self.what} is {self.value:g}, over the limit of {self.maximum:g} ({self.limit})"

    def details(self) -> dict[str, object]:
        return {"limit": self.limit, "value": self.value, "max": self.maximum}


class InsufficientDisk(EngineError):
    """The scratch folder has less free space than the render's scratch files may take (checked before
    anything is written). The folder's path stays out of the message: it is the server's business."""

    code = "insufficient_disk"

    def __init__(self, folder: str, need_bytes: int, free_bytes: int) -> None:
        super().__init__(folder, need_bytes, free_bytes)
        self.folder, self.need_bytes, self.free_bytes = folder, need_bytes, free_bytes

    def __str__(self) -> str:
        return (f"not enough free disk for this render's scratch files: it may need {self.need_bytes / 2**20:.0f} MB "
                f"and {self.free_bytes / 2**20:.0f} MB are free; try again later")

    def details(self) -> dict[str, object]:
        return {"need_mb": round(self.need_bytes / 2**20, 1), "free_mb": round(self.free_bytes / 2**20, 1)}


class RenderError(EngineError):
    code = "render_failed"


class FFmpegFailed(RenderError):
    code = "ffmpeg_failed"

    def __init__(self, argv: Sequence[str], returncode: int, stderr_tail: str) -> None:
        super().__init__(list(argv), returncode, stderr_tail)
        self.argv, self.returncode, self.stderr_tail = list(argv), returncode, stderr_tail

    def __str__(self) -> str:
        return f"ffmpeg exited with {self.returncode}: {ffmpeg_cause(self.stderr_tail)}"

    def details(self) -> dict[str, object]:
        return {"returncode": self.returncode, "stderr_tail": self.stderr_tail[-4000:]}


class FFmpegStalled(FFmpegFailed):
    """FFmpeg deadlocked (no output, no CPU) on every try; see engine.run."""

    code = "ffmpeg_stalled"

    def __init__(self, argv: Sequence[str], stall_s: float, tries: int) -> None:
        each = f", on each of {tries} tries" if tries > 1 else ""
        super().__init__(argv, -9, f"ffmpeg stalled: no output and no CPU for {stall_s:g} s{each}")
        self.stall_s, self.tries = stall_s, tries

    def __str__(self) -> str:
        return self.stderr_tail


class RenderTimeout(RenderError):
    code = "render_timeout"

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds

    def __str__(self) -> str:
        return f"render exceeded its time limit of {self.seconds:g} s and was stopped"


class RenderCancelled(RenderError):
    code = "render_cancelled"

    def __str__(self) -> str:
        return "render cancelled"


class EncoderUnavailable(RenderError):
    code = "encoder_unavailable"

    def __init__(self, encoder: str, reason: str) -> None:
        super().__init__(encoder, reason)
        self.encoder, self.reason = encoder, reason

    def __str__(self) -> str:
        return f"encoder {self.encoder} is not usable here: {self.reason}"


class OutputMismatch(RenderError):
    code = "output_mismatch"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return f"rendered file does not match the timeline: {self.reason}"


class TargetSizeUnreachable(RenderError):
    code = "target_size_unreachable"

    def __init__(self, target_bytes: int, smallest_bytes: int, smallest_point: str) -> None:
        super().__init__(target_bytes, smallest_bytes, smallest_point)
        self.target_bytes, self.smallest_bytes, self.smallest_point = target_bytes, smallest_bytes, smallest_point

    def __str__(self) -> str:
        return (
            f"cannot fit under {self.target_bytes / 1e6:.2f} MB: the smallest setting tried "
            f"({self.smallest_point}) gave {self.smallest_bytes / 1e6:.2f} MB; shorten the clip or raise the limit"
        )

    def details(self) -> dict[str, object]:
        return {"target_bytes": self.target_bytes, "smallest_bytes": self.smallest_bytes,
                "smallest_point": self.smallest_point}
