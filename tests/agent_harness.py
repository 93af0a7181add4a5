"""A chat session without the web: the rules planner, the edit tools and the engine, in process.

It stands where ``api.chat`` stands in the server (same ``run_turn``, same hooks: every draft is
checked with the engine's own rules), so the corpus can say what each request did to the draft
and to the rendered file, quickly and without a server. As on the server, the uploads are on
the timeline from the start (``starting_draft``, the first version); undo never walks back past
that draft, and "start over" makes it current again as a new version.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api.agent.tools import Draft, MediaRef, Workspace, normalised, starting_draft, timeline_ms
from api.agent.turn import Step, run_turn
from api.agent.understand import MediaFacts, Understanding, understand
from api.exports import with_output
from engine.config import EngineConfig
from engine.encode.encoders import CodecChoice
from engine.errors import EngineError
from engine.media.musicbed import write_music_bed
from engine.media.probe import probe
from engine.media.resolve import MappedResolver
from engine.model.draft import parse_draft
from engine.model.mediainfo import MediaInfo
from engine.model.summary import summarize
from engine.model.timeline import build_timeline
from engine.pipeline.render import RenderResult, render


@dataclass
class Library:
    """Uploadable files, each probed once: name -> (path, info)."""

    dir: Path
    files: dict[str, tuple[Path, MediaInfo]] = field(default_factory=dict)

    def add(self, path: Path) -> None:
        self.files[path.name] = (path, probe(path))

    def ref(self, name: str, order: int) -> MediaRef:
        path, info = self.files[name]
        video = info.video
        kind = "audio" if info.kind == "audio" else "image" if info.kind == "image" else "video"
        return MediaRef(f"m_{order}_{path.stem}", name, kind, info.duration_ms, info.audio is not None,
                        video.width if video else None, video.height if video else None, float(order))


@dataclass
class Session:
    library: Library
    uploads: list[str]
    draft: Draft = field(default_factory=dict)
    versions: list[Draft] = field(default_factory=list)
    media: list[MediaRef] = field(default_factory=list)
    paths: dict[str, Path] = field(default_factory=dict)
    infos: dict[str, MediaInfo] = field(default_factory=dict)
    saved_at: float = -1.0
    start: Draft = field(default_factory=dict)
    plan: Understanding | None = None          # the last message's understanding (its language is the reply's)

    def __post_init__(self) -> None:
        for order, name in enumerate(self.uploads):
            ref = self.library.ref(name, order)
            self._keep(ref, *self.library.files[name])
        self.start = starting_draft(self.media)
        if self.start:                         # the uploads' own version: nothing before it to undo to
            self.draft = copy.deepcopy(self.start)
            self.saved_at = float(len(self.media))

    def _keep(self, ref: MediaRef, path: Path, info: MediaInfo) -> None:
        self.media.append(ref)
        self.paths[ref.src] = path
        self.infos[ref.src] = info

    # ---- the hooks run_turn calls (what api.chat does with the store)

    def check(self, draft: Draft) -> None:
        model = parse_draft(draft)
        build_timeline(model, {src: self.infos[src] for src in _sources(draft)})

    def summary(self, draft: Draft) -> str:
        return summarize(parse_draft(draft))

    def save(self, draft: Draft, note: str) -> int:
        self.versions.append(self.draft)
        self.draft = draft
        self.saved_at = float(len(self.media))
        return len(self.versions)

    def undo(self) -> Draft | None:
        if not self.versions or not _has_content(self.versions[-1]):    # never back to an empty timeline
            return None
        self.draft = self.versions.pop()
        self.saved_at = float(len(self.media))
        return copy.deepcopy(self.draft)

    def start_over(self) -> Draft | None:
        if not self.start:
            return None
        self.save(copy.deepcopy(self.start), note="start over")
        return copy.deepcopy(self.start)

    def music_bed(self, seconds: float) -> MediaRef:
        path = write_music_bed(self.library.dir / f"bed-{int(seconds * 1000)}.wav", seconds + 1)
        info = probe(path)
        order = float(len(self.media))
        ref = MediaRef(f"m_bed_{len(self.media)}", path.name, "audio", info.duration_ms, True, None, None, order)
        self._keep(ref, path, info)
        return ref

    # ---- talking to it

    def say(self, text: str) -> list[Step]:
        facts = MediaFacts(videos=sum(m.kind == "video" for m in self.media),
                           images=sum(m.kind == "image" for m in self.media),
                           audios=tuple((m.id, m.filename) for m in self.media if m.kind == "audio"),
                           timeline_ms=timeline_ms(normalised(self.draft, self._workspace())) or None)
        self.plan = plan = understand(text, facts)
        return list(run_turn(plan, text, copy.deepcopy(self.draft), self._workspace(plan.language), self))

    def reply(self, steps: list[Step]) -> str:
        """What the user reads: the turn's closing text."""
        texts = [s.text for s in steps if s.kind == "text"]
        return texts[-1] if texts else ""

    def _workspace(self, language: str = "en") -> Workspace:
        return Workspace(list(self.media), self.saved_at, language, make_music_bed=self.music_bed)

    def render(self, out: Path, *, config: EngineConfig, codecs: CodecChoice, width: int = 96,
               fps: float = 8, draft: Draft | None = None) -> RenderResult:
        """The current draft (or ``draft``, e.g. the starting one, to compare with), made small and quick to render
        (the checks are on time, format, sound, shape and coarse pixels)."""
        draft = copy.deepcopy(self.draft if draft is None else draft)
        spec = draft.setdefault("m", {}).setdefault("out", {})
        spec.pop("resolution", None)
        spec.pop("max_mb", None)
        spec["width"], spec["fps"] = width, min(fps, float(spec.get("fps") or fps))
        suffix = spec.get("format", "mp4")
        try:
            return render(draft, out.with_suffix(f".{suffix}"), config=config, codecs=codecs,
                          resolve=MappedResolver({src: str(p) for src, p in self.paths.items()}))
        except EngineError as exc:
            raise AssertionError(f"the draft does not render: {exc}\n{draft}") from exc

    def export(self, out: Path, output: dict[str, Any], *, config: EngineConfig, codecs: CodecChoice,
               skill: str | None = None, skill_resolutions: dict[str, str] | None = None) -> RenderResult:
        """The current draft as an export renders it: the export's ``output`` (e.g. ``{"format": "mp4", "quality":
        "high"}``) laid over ``m.out`` exactly as ``POST /api/render/proxy/lambda`` does, at full size, with every
        other ``m.out`` setting (a size target included) kept."""
        draft = with_output(self.draft, output, skill, skill_resolutions or {})
        suffix = draft["m"]["out"].get("format", "mp4")
        try:
            return render(draft, out.with_suffix(f".{suffix}"), config=config, codecs=codecs,
                          resolve=MappedResolver({src: str(p) for src, p in self.paths.items()}))
        except EngineError as exc:
            raise AssertionError(f"the draft does not export: {exc}\n{draft}") from exc


def _sources(draft: dict[str, Any]) -> set[str]:
    return {str(s["src"]) for t in draft.get("t", []) for s in t.get("sg", []) if "src" in s}


def _has_content(draft: Draft) -> bool:
    return any(isinstance(t, dict) and t.get("sg") for t in draft.get("t", []))
