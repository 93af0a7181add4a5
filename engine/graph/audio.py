"""The sound half of the filter graph.

Every contribution (a clip's own sound, a music or voice segment) is made the exact number of
samples it covers on the timeline and faded where its transitions and fades say. Contributions
that do not overlap share a lane: one stream that joins them in order, each delayed by the
silence before it; the lanes, as few as the most contributions sounding at once, are summed
with amix (no normalisation, so a 35% music bed stays 35%) and a limiter keeps the sum from
clipping. (Summed one by one, every contribution would run as silence from the timeline's start
to its own place, and a timeline of many clips would cost the square of their number.)

A transition's crossfade is simply the fade-out of one clip summed with the fade-in of the next
over the same frames. A reversed clip's sound is turned round with its picture, before the
fades, which belong to the timeline: in the graph, or beforehand into a scratch file
(engine/pipeline/reverse.py), read here as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import ffmpeg

from engine.graph.build import Build, secs
from engine.graph.clip import clip_input, clip_read, sound_from
from engine.media.stats import Loudness
from engine.model.canvas import Canvas
from engine.model.pieces import Run, base_pieces
from engine.model.timeline import Sound, Timeline, Visual

Stream = Any
SAMPLE_RATE: Final = 48_000
LIMIT: Final = 0.9   # about -0.9 dBFS: headroom for the AAC encoder's overshoot
RAW_FORMAT: Final = "f32le"   # a reversed clip's prepared sound: interleaved stereo 32-bit floats


def samples(canvas: Canvas, frames: int) -> int:
    return int(frames * SAMPLE_RATE / canvas.fps + 0.5)


def _tempo(stream: Stream, speed: float) -> Stream:
    """atempo takes 0.5..100 per instance, so slower than half speed needs a chain."""
    while speed < 0.5:
        stream = stream.filter("atempo", 0.5)
        speed /= 0.5
    return stream.filter("atempo", f"{speed:g}") if speed != 1 else stream


def _normalised(stream: Stream) -> Stream:
    return stream.filter("aresample", SAMPLE_RATE).filter("aformat", sample_fmts="fltp", channel_layouts="stereo")


@dataclass(frozen=True, slots=True)
class Placed:
    """A contribution of exactly ``count`` samples, which belongs at sample ``first`` of the timeline."""

    stream: Stream
    first: int
    count: int

    @property
    def end(self) -> int:
        return self.first + self.count


def _place(stream: Stream, canvas: Canvas, extent: int, start: int) -> Placed:
    """Exactly ``extent`` frames worth of samples, for timeline frame ``start`` on."""
    count = samples(canvas, extent)
    return Placed(stream.filter("apad", whole_len=count).filter("atrim", end_sample=count), samples(canvas, start),
                  count)


def _lanes(parts: list[Placed]) -> list[Stream]:
    """The contributions joined into as few streams as never overlap, each from sample 0 of the timeline:
    every contribution goes, in order of its start, to the first lane that has ended by then."""
    lanes: list[list[Placed]] = []
    for part in sorted(parts, key=lambda p: p.first):
        lane = next((lane for lane in lanes if lane[-1].end <= part.first), None)
        if lane is None:
            lanes.append([part])
        else:
            lane.append(part)
    out = []
    for lane in lanes:
        if len(lane) == 1:
            part = lane[0]
            out.append(_delayed(part.stream, part.first))
            continue
        joined, cursor = [], 0
        for part in lane:
            # concat goes by timestamps, and a reversed or padded sound's need not count from 0: its samples do
            joined.append(_delayed(part.stream, part.first - cursor).filter("asetpts", "N/SR/TB"))
            cursor = part.end
        out.append(ffmpeg.concat(*joined, v=0, a=1))
    return out


def _delayed(stream: Stream, samples: int) -> Stream:
    return stream.filter("adelay", delays=f"{samples}S", all=1) if samples > 0 else stream


def _fade(stream: Stream, kind: str, start_s: float, length_s: float) -> Stream:
    return stream.filter("afade", t=kind, st=secs(start_s), d=secs(length_s), curve="tri") if length_s > 0 else stream


def forward_sound(b: Build, v: Visual, extent: Run) -> Stream:
    """A clip's own sound over its extent, played forwards from the extent's first time, at its volume.

    A reversed clip's is cut to exactly the extent's samples, so that, turned round, what plays first
    is what ends the window."""
    canvas = b.canvas
    read = clip_read(v, extent, canvas)
    stream, held_s = sound_from(clip_input(b, read).audio, read)
    stream = _normalised(_tempo(stream, v.speed))
    if v.volume != 1:
        stream = stream.filter("volume", f"{v.volume:g}")
    if held_s:
        stream = stream.filter("adelay", delays=f"{round(held_s * SAMPLE_RATE)}S", all=1)
    if v.reverse:
        count = samples(canvas, extent.frames)
        stream = stream.filter("apad", whole_len=count).filter("atrim", end_sample=count)
    return stream


def _reversed_sound(b: Build, v: Visual, extent: Run) -> Stream:
    """A reversed clip's sound, last sample first: from its pre-pass file, or turned round here by
    areverse, which holds every sample of the extent."""
    window = b.sources.reversed.get(v.where)
    if window is None or window.sound is None:
        return forward_sound(b, v, extent).filter("areverse")
    if (window.first, window.frames) != (extent.first, extent.frames):
        raise ValueError(f"{v.where}: its reversed sound covers other frames than its extent")
    raw = b.input(f"{v.where}@reversed-sound", str(window.sound),
                  {"f": RAW_FORMAT, "sample_rate": str(SAMPLE_RATE), "ch_layout": "stereo"})
    return raw.audio.filter("aformat", sample_fmts="fltp", channel_layouts="stereo")


def clip_sound(b: Build, v: Visual, extent: Run) -> Placed:
    """A clip's own sound over the same frames as its picture (its extent), crossfading where its picture does."""
    canvas = b.canvas
    stream = _reversed_sound(b, v, extent) if v.reverse else forward_sound(b, v, extent)
    if v.enter:
        stream = _fade(stream, "in", 0, canvas.seconds(v.enter.frames))
    if v.exit:
        stream = _fade(stream, "out", canvas.seconds(extent.frames - v.exit.frames), canvas.seconds(v.exit.frames))
    return _place(stream, canvas, extent.frames, v.start + extent.first)


def track_sound(b: Build, s: Sound) -> Placed:
    canvas = b.canvas
    length_s = canvas.seconds(s.length)
    inp = b.media(s.where, s.media, start_s=s.source_in_ms / 1000, duration_s=length_s + 0.1, loop=s.loop)
    stream = _normalised(inp.audio.filter("asetpts", "PTS-STARTPTS"))
    if s.volume != 1:
        stream = stream.filter("volume", f"{s.volume:g}")
    stream = _fade(stream, "in", 0, min(s.fade_in_ms / 1000, length_s))
    fade_out = min(s.fade_out_ms / 1000, length_s)
    stream = _fade(stream, "out", length_s - fade_out, fade_out)
    return _place(stream, canvas, s.length, s.start)


def mixed_sound(b: Build, tl: Timeline) -> Stream:
    """Everything audible on the timeline, summed, limited, exactly as long as the timeline."""
    canvas = b.canvas
    track = base_pieces(tl)
    clips = [(item, track.extent(index)) for index, item in enumerate(track.items) if isinstance(item, Visual)]
    clips += [(v, Run(0, 0, v.length)) for layer in tl.layers for v in layer.clips if isinstance(v, Visual)]
    parts = [clip_sound(b, v, frames) for v, frames in clips if v.volume > 0 and v.media.has_audio]
    parts += [track_sound(b, s) for s in tl.sounds if s.volume > 0]
    total = samples(canvas, tl.length)
    if not parts:
        silence = b.lavfi("silence", f"anullsrc=r={SAMPLE_RATE}:cl=stereo", tl.duration_s + 0.1).audio
        return silence.filter("atrim", end_sample=total)
    lanes = _lanes(parts)
    mix = lanes[0] if len(lanes) == 1 else ffmpeg.filter(lanes, "amix", inputs=len(lanes), normalize=0,
                                                         duration="longest", dropout_transition=0)
    mix = (mix.filter("apad", whole_len=total).filter("atrim", end_sample=total)
           .filter("alimiter", limit=LIMIT, level=0, latency=1).filter("aformat", sample_fmts="fltp"))
    return _normalised_loudness(mix, b.sources.loudness, total)


def _normalised_loudness(mix: Stream, loudness: Loudness | None, total: int) -> Stream:
    """The mix brought to its loudness target by loudnorm's second pass, with the first pass's measurement
    (engine/pipeline/enhance.py); loudnorm works at 192 kHz, so the result is resampled and trimmed again."""
    if loudness is None or loudness.silent:
        return mix
    return (_normalised(mix.filter("loudnorm", **loudness.loudnorm_options()))
            .filter("apad", whole_len=total).filter("atrim", end_sample=total))
