"""Golden filter graphs: the FFmpeg command of a dozen representative drafts, compiled without
running anything, compared with tests/golden/<name>.txt, so that any change to a graph shows
in review.

The media are synthetic ``MediaInfo`` values with fixed fake paths, and the pictures a render
would prepare (stills, motion scripts, captions) are fixed fake paths too: the files hold no
path of the machine that wrote them. After a deliberate change to the graph, rewrite them with
``scripts/update-golden`` and read the diff.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.encode.encoders import CodecChoice
from engine.encode.profiles import output_args
from engine.graph.build import rate
from engine.graph.compile import compile_render
from engine.model.draft import TRANSITIONS, parse_draft
from engine.model.mediainfo import AudioStream, MediaInfo, VideoStream
from engine.model.timeline import build_timeline
from tests.placeholders import placeholder_sources

GOLDEN = Path(__file__).parent / "golden"
UPDATE = "scripts/update-golden"
CODECS = CodecChoice("libx264", "cpu", None, "golden", "golden")


def _video(name: str, ms: int, w: int, h: int, fps: float = 30.0, audio: bool = True, start_us: int = 0) -> MediaInfo:
    return MediaInfo(f"/media/{name}", "video", "mp4", "mov", 1_000_000, ms,
                     VideoStream("h264", w, h, fps, None, "yuv420p", 0),
                     AudioStream("aac", 48000, 2) if audio else None, start_us)


def _still(name: str, w: int, h: int) -> MediaInfo:
    return MediaInfo(f"/media/{name}", "image", "jpeg", None, 200_000, None,
                     VideoStream("mjpeg", w, h, None, 1, None, 0), None)


MEDIA = {m.path.rsplit("/", 1)[1]: m for m in (
    _video("a.mp4", 3000, 1280, 720), _video("b.mp4", 3000, 1280, 720), _video("c.mp4", 3000, 1280, 720),
    _video("ntsc.mp4", 10_000, 1280, 720, fps=30000 / 1001, start_us=23_220),
    _video("phone.mp4", 8000, 720, 1280), _video("silent.mp4", 4000, 640, 360, audio=False),
    _still("photo.jpg", 1920, 1280), _still("portrait.jpg", 800, 1200),
    MediaInfo("/media/music.mp3", "audio", "mp3", "mp3", 80_000, 5000, None, AudioStream("mp3", 44100, 2)),
)}
HD = {"width": 1280, "height": 720}


def clip(src: str, **seg: Any) -> dict[str, Any]:
    return {"src": src, **seg}


def base(*segments: dict[str, Any], m: dict[str, Any] | None = None, **draft: Any) -> dict[str, Any]:
    return {"m": m or HD, "t": [{"tt": 0, "sg": list(segments)}], **draft}


CASES: dict[str, dict[str, Any]] = {
    "one_clip": base(clip("a.mp4", ss=500, d=2000)),
    "crossfades_held_at_both_ends": base(clip("a.mp4", d=3000), clip("b.mp4", d=3000, tr={"in": "fade"}),
                                         clip("c.mp4", d=3000, tr={"in": "fade"})),
    "every_transition": base(*(clip("ntsc.mp4", ss=300 * i, d=300, tr={"in": {"type": kind, "d": 200}})
                               for i, kind in enumerate(TRANSITIONS))),
    "gaps": {"m": {**HD, "bg": "#203040"}, "t": [{"tt": 0, "sg": [
        clip("a.mp4", st=500, d=1000, tr={"in": {"type": "fade", "d": 400}, "out": "wipeleft"}),
        clip("photo.jpg", st=2500, d=1000), clip("b.mp4", st=4000, d=800, tr={"in": "dissolve"})]}], "d": 5500},
    "still_with_motion": base(clip("photo.jpg", d=2000, mo="zoom-in"),
                              clip("portrait.jpg", d=2000, mo={"type": "pan-down", "amt": 0.2}, fill="blur",
                                   tr={"in": "slideleft"})),
    "reverse_and_speed": base(clip("a.mp4", d=1000, spd=0.5), clip("b.mp4", d=1000, spd=1.5, rev=True,
                                                                  tr={"out": "wipeup"}),
                              clip("ntsc.mp4", d=1500, spd=2, ss=1000, tr={"in": {"type": "fadeblack", "d": 300}})),
    "layer_box_opacity": {"m": HD, "t": [
        {"tt": 0, "sg": [clip("a.mp4", d=3000)]},
        {"tt": 0, "sg": [clip("phone.mp4", st=500, d=2000, box={"x": 0.6, "y": 0.1, "w": 0.35, "h": 0.8}, op=0.7,
                              fit="cover", tr={"in": {"d": 300}, "out": "wipeleft"}),
                         clip("photo.jpg", st=2500, d=500, box={"x": 0.05, "y": 0.05, "w": 0.3, "h": 0.3})]}]},
    "captions": {"m": HD, "t": [
        {"tt": 0, "sg": [clip("b.mp4", d=3000)]},
        {"tt": 7, "sg": [{"txt": "First", "st": 0, "d": 1200, "style": {"anim": "fade", "pos": "top"}},
                         {"txt": "Second", "st": 1500, "d": 1500, "fi": 200, "style": {"pos": "bottom"}}]}]},
    "audio_track": {"m": HD, "t": [
        {"tt": 0, "sg": [clip("a.mp4", d=2000, vol=0.5), clip("silent.mp4", d=2000, tr={"in": "fade"})]},
        {"tt": 1, "sg": [{"src": "music.mp3", "vol": 0.35, "fi": 500, "fo": 1000, "loop": True}]}]},
    "gif_output": base(clip("a.mp4", d=1500), clip("photo.jpg", d=1500, tr={"in": "fade"}),
                       m={**HD, "out": {"format": "gif", "fps": 10, "width": 320, "colors": 64,
                                        "dither": "sierra2_4a"}}),
    "transitions_at_start_and_end": base(clip("a.mp4", d=1500, tr={"in": {"type": "fade", "d": 600}}),
                                         clip("b.mp4", d=1500, tr={"out": {"type": "fadewhite", "d": 900}})),
    "fit_and_fill": {"m": {"width": 720, "height": 1280, "fps": 29.97}, "t": [{"tt": 0, "sg": [
        clip("a.mp4", d=1000), clip("b.mp4", d=1000, fill="#112233"), clip("c.mp4", d=1000, fit="cover"),
        clip("phone.mp4", d=1000, box={"x": 0.1, "y": 0.1, "w": 0.8, "h": 0.5})]}]},
}


def command_text(name: str) -> str:
    """The golden file's text: the draft, then the argv one argument a line, the graph one chain a line."""
    draft = CASES[name]
    tl = build_timeline(parse_draft(draft), MEDIA)
    args = output_args(tl.output, rate(tl.canvas), CODECS, "veryfast")
    command = compile_render(tl, placeholder_sources(tl), args, Path(f"/out/{name}.{tl.output.format}"))
    graph = command.filter_graph or ""
    argv = ["<graph>" if a == graph else a for a in command.argv("ffmpeg")]
    return "\n".join([f"# {name}: written by {UPDATE}; compare, never edit", f"# draft: {json.dumps(draft)}",
                      "", "## argv", *argv, "", "## graph", *graph.split(";"), ""])


@pytest.mark.parametrize("name", sorted(CASES))
def test_filter_graph_is_the_golden_one(name: str) -> None:
    path = GOLDEN / f"{name}.txt"
    assert path.exists(), f"no golden file for {name}: run {UPDATE}"
    assert command_text(name) == path.read_text(encoding="utf-8"), (
        f"the command for {name} changed; if that is intended, run {UPDATE} and review the diff of {path.name}")


def test_the_same_draft_compiles_to_the_same_command() -> None:
    assert command_text("every_transition") == command_text("every_transition")


def write_golden() -> list[Path]:
    """Rewrite every golden file (scripts/update-golden calls this) and remove those of dropped cases."""
    GOLDEN.mkdir(exist_ok=True)
    written = []
    for name in sorted(CASES):
        path = GOLDEN / f"{name}.txt"
        path.write_text(command_text(name), encoding="utf-8")
        written.append(path)
    for stale in set(GOLDEN.glob("*.txt")) - set(written):
        stale.unlink()
    return written
