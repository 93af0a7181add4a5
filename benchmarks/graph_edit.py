"""Edit a captured FFmpeg filter graph, to measure what its parts cost and to try changes by hand.

reelforge's graphs come from ffmpeg-python: one filter per ``;``-separated link, each with its
labelled inputs and outputs (``[s3]format=yuv420p[s4]``). :func:`parse` reads that form (and
plain filter chains) into :class:`Node` objects; the functions below return changed copies:

- :func:`only` keeps what one output label needs (to time a part alone);
- :func:`bypass` turns a two-input filter (xfade, overlay) into a pass-through of its first
  input, the second going to a nullsink (the difference in time is what the filter costs);
- :func:`motion_in_420` runs the stills' motion chains (sendcmd-driven ``crop@motion``) in
  4:2:0 instead of 4:4:4;
- :func:`fades_as_blend` replaces ``xfade=transition=fade`` (which in this FFmpeg accepts only
  4:4:4 and planar RGB, so each input is converted from yuv420p and the result back) by
  ``blend`` in normal mode, its opacity set per frame by a sendcmd script, in yuv420p;
- :func:`fades_as_overlay` does the same with an alpha fade and ``overlay``, no script;
- :func:`decoder_threads` sets ``-threads`` on the inputs FFmpeg decodes video from.

These are benchmark tools: the engine is never changed here. Nothing in them is a client's text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

_LINK = re.compile(r"^((?:\[[^\]]+\])*)(.*?)((?:\[[^\]]+\])*)$", re.S)
_LABEL = re.compile(r"\[([^\]]+)\]")
_STREAM = re.compile(r"^\d+:[av](:\d+)?$")
# demuxers of pictures, sound and generated sources: their inputs are not decoded video
_NOT_VIDEO = {"ppm_pipe", "png_pipe", "image2", "image2pipe", "jpeg_pipe", "wav", "lavfi", "mp3", "flac", "ogg"}


@dataclass(frozen=True, slots=True)
class Node:
    ins: tuple[str, ...]
    filter: str  # one filter or a comma-separated chain
    outs: tuple[str, ...]

    @property
    def name(self) -> str:
        """The first filter's name without its instance suffix (``crop@motion1`` -> ``crop``)."""
        return re.split(r"[=@,]", self.filter, maxsplit=1)[0]


def _split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside quotes and brackets."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch == "'":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def parse(graph: str) -> list[Node]:
    nodes = []
    for link in _split_top(graph.strip(), ";"):
        if not link.strip():
            continue
        m = _LINK.match(link.strip())
        assert m is not None
        nodes.append(Node(tuple(_LABEL.findall(m[1])), m[2].strip(), tuple(_LABEL.findall(m[3]))))
    return nodes


def text(nodes: Sequence[Node]) -> str:
    return ";".join("".join(f"[{x}]" for x in n.ins) + n.filter + "".join(f"[{x}]" for x in n.outs) for n in nodes)


def _sink(label: str, audio: bool) -> Node:
    return Node((label,), "anullsink" if audio else "nullsink", ())


def audio_labels(nodes: Sequence[Node]) -> set[str]:
    """Labels that carry sound: made from an input's ``:a`` stream, from other sound, or by an ``a...`` filter."""
    out: set[str] = set()
    for _ in range(2):  # ffmpeg-python writes producers first; a second pass covers any other order
        for n in nodes:
            if n.name.startswith("a") or any(re.match(r"^\d+:a", x) or x in out for x in n.ins):
                out.update(n.outs)
    return out


def only(nodes: Sequence[Node], label: str) -> list[Node]:
    """The part of the graph that makes ``label``; outputs it does not need end in a nullsink."""
    producer = {o: i for i, n in enumerate(nodes) for o in n.outs}
    need: set[int] = set()
    todo = [label]
    while todo:
        at = producer.get(todo.pop())
        if at is not None and at not in need:
            need.add(at)
            todo.extend(x for x in nodes[at].ins if not _STREAM.match(x))
    kept = [nodes[i] for i in sorted(need)]
    used = {x for n in kept for x in n.ins}
    sound = audio_labels(nodes)
    return kept + [_sink(o, o in sound) for n in kept for o in n.outs if o not in used and o != label]


def bypass(nodes: Sequence[Node], name: str) -> list[Node]:
    """Every ``name`` filter (two inputs) replaced by its first input passed through unchanged."""
    out: list[Node] = []
    for n in nodes:
        if n.name == name and len(n.ins) == 2:
            out += [Node((n.ins[0],), "null", n.outs), _sink(n.ins[1], False)]
        else:
            out.append(n)
    return out


def _ancestors(nodes: Sequence[Node], index: int) -> set[int]:
    producer = {o: i for i, n in enumerate(nodes) for o in n.outs}
    seen: set[int] = set()
    todo = list(nodes[index].ins)
    while todo:
        at = producer.get(todo.pop())
        if at is not None and at not in seen:
            seen.add(at)
            todo.extend(nodes[at].ins)
    return seen


def motion_in_420(nodes: Sequence[Node]) -> list[Node]:
    """The motion chains (everything upstream of a ``crop@motion``) in yuv420p / yuva420p, not 4:4:4.

    The crop keeps its whole-pixel, odd-offset rectangles (``exact=1``); in 4:2:0 a chroma
    plane then starts at the even pixel below an odd offset, half a chroma sample off.
    """
    out = list(nodes)
    for i, n in enumerate(nodes):
        if n.filter.startswith("crop@motion"):
            for a in _ancestors(nodes, i):
                f = out[a].filter.replace("format=yuv444p", "format=yuv420p")
                out[a] = replace(out[a], filter=f.replace("format=yuva444p", "format=yuva420p"))
    return out


def fades_as_blend(nodes: Sequence[Node], fps: Fraction, folder: Path) -> list[Node]:
    """``xfade=transition=fade`` (with ``offset=0``, as reelforge feeds it) as a 4:2:0 ``blend``.

    xfade's fade gives frame k of n ``A * (1 - k/n) + B * k/n``; ``blend`` in normal mode with
    the incoming picture on top and ``all_opacity`` = k/n, set for each frame by sendcmd (half a
    frame before it, as the motion scripts do), gives the same mix without leaving yuv420p.
    """
    out: list[Node] = []
    count = 0
    folder.mkdir(parents=True, exist_ok=True)
    for n in nodes:
        duration = re.search(r"duration=([0-9.]+)", n.filter)
        if n.name != "xfade" or "transition=fade" not in n.filter or duration is None or len(n.ins) != 2:
            out.append(n)
            continue
        count += 1
        frames = round(float(duration[1]) * fps)
        target = f"blend@fade{count}"
        script = folder / f"fade-{count}.cmd"
        lines = [f"{float((k - Fraction(1, 2)) / fps) if k else 0.0:.6f} {target} all_opacity {k / frames:.6f};"
                 for k in range(frames)]
        script.write_text("\n".join(lines) + "\n")
        timed = f"{n.outs[0]}_cmd"
        out += [
            Node((n.ins[1],), f"sendcmd=f={script}", (timed,)),
            Node((timed, n.ins[0]), f"{target}=all_mode=normal:all_opacity=0", n.outs),
        ]
    return out


def fades_as_overlay(nodes: Sequence[Node], fps: Fraction) -> list[Node]:
    """``xfade=transition=fade`` as the incoming picture with a fading alpha, overlaid in 4:2:0.

    ``fade=t=in:alpha=1:s=0:n=N`` counts frames, so frame k of N gets alpha k/N (in 8 bits);
    no script file is needed, at the cost of an alpha plane.
    """
    out: list[Node] = []
    for n in nodes:
        duration = re.search(r"duration=([0-9.]+)", n.filter)
        if n.name != "xfade" or "transition=fade" not in n.filter or duration is None or len(n.ins) != 2:
            out.append(n)
            continue
        frames = round(float(duration[1]) * fps)
        faded = f"{n.outs[0]}_alpha"
        out += [
            Node((n.ins[1],), f"format=yuva420p,fade=t=in:alpha=1:s=0:n={frames}", (faded,)),
            Node((n.ins[0], faded), "overlay=format=yuv420:eof_action=pass,format=yuv420p", n.outs),
        ]
    return out


def video_inputs(argv: Sequence[str]) -> list[int]:
    """Indexes (in ``argv``) of the ``-i`` options whose input FFmpeg decodes video from."""
    found, demuxer = [], None
    for i, arg in enumerate(argv):
        if arg == "-f" and i + 1 < len(argv):
            demuxer = argv[i + 1]
        elif arg == "-i":
            if demuxer not in _NOT_VIDEO:
                found.append(i)
            demuxer = None
    return found


def input_numbers(argv: Sequence[str]) -> dict[int, int]:
    """``-i`` position in argv -> FFmpeg's input number."""
    return {i: n for n, i in enumerate(i for i, a in enumerate(argv) if a == "-i")}


def decoder_threads(argv: Sequence[str], threads: int) -> list[str]:
    """``argv`` with ``-threads N`` before every decoded video input."""
    at = set(video_inputs(argv))
    out: list[str] = []
    for i, arg in enumerate(argv):
        if i in at:
            out += ["-threads", str(threads)]
        out.append(arg)
    return out
