"""What a source is, as the timeline needs to know it: kind, size, length, streams.

Made by :mod:`engine.media.probe` (which reads files) and read by the model, which never does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

MediaKind = Literal["video", "image", "audio"]

@dataclass(frozen=True, slots=True)
class VideoStream:
    codec: str
    width: int            # as displayed: rotation and pixel aspect applied
    height: int
    fps: float | None
    frames: int | None
    pix_fmt: str | None
    rotation: int         # degrees the decoder turns the picture (0, 90, 180, 270)
    time_base: str | None = None   # the seconds one tick of its timestamps is, e.g. "1/15360"; None: not known


@dataclass(frozen=True, slots=True)
class AudioStream:
    codec: str
    sample_rate: int
    channels: int


@dataclass(frozen=True, slots=True)
class MediaInfo:
    path: str
    kind: MediaKind
    format: str            # the container or image format we detected, e.g. "mp4", "png", "heic"
    demuxer: str | None    # the FFmpeg demuxer to force when this file is an input (None for stills)
    size_bytes: int
    duration_ms: int | None
    video: VideoStream | None
    audio: AudioStream | None
    start_us: int = 0      # the container's first timestamp: where source time 0 is (FFmpeg's -ss counts from it)

    @property
    def has_audio(self) -> bool:
        return self.audio is not None

    @property
    def width(self) -> int | None:
        return self.video.width if self.video else None

    @property
    def height(self) -> int | None:
        return self.video.height if self.video else None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["has_audio"] = self.has_audio
        out["duration"] = None if self.duration_ms is None else self.duration_ms / 1000
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MediaInfo:
        """Back from :meth:`to_dict` (what the API keeps of an upload, so it need not probe it again)."""
        video = VideoStream(**data["video"]) if data.get("video") else None
        audio = AudioStream(**data["audio"]) if data.get("audio") else None
        return cls(data["path"], data["kind"], data["format"], data.get("demuxer"), data["size_bytes"],
                   data.get("duration_ms"), video, audio, int(data.get("start_us") or 0))
