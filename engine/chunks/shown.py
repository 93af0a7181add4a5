"""What every frame of a timeline shows, written so that two timelines can be compared frame for frame:
the chunk planner's check that a part's draft composes exactly its slice of the whole timeline.

Read from the pieces model (:mod:`engine.model.pieces`) and the layers: on the base track, each
frame's item (its picture less its place: source and source time, still, or still with motion and
its frame in it), or a blend's kind, length and progress with both items; on each layer, the item
and its fade. Kept as spans of frames whose numbers (source times, frame counts) move on evenly, so
that even an hour's timeline is compared in a few thousand steps, not a hundred thousand.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

from engine.model.canvas import Canvas
from engine.model.pieces import BaseTrack, Gap, Run, base_pieces, source_seconds, speed_of
from engine.model.timeline import Caption, Layer, Timeline, Visual

Look = tuple[object, ...]


@dataclass(frozen=True, slots=True)
class _Span:
    """``frames`` frames that show ``look``, with ``values`` (source times, frame counts) moving on by
    ``rates`` from each frame to the next."""

    frames: int
    look: Look
    values: tuple[Fraction, ...]
    rates: tuple[Fraction, ...]

    def at(self, n: int) -> tuple[Fraction, ...]:
        return tuple(v + n * r for v, r in zip(self.values, self.rates, strict=True))


def _joined(spans: list[_Span]) -> tuple[_Span, ...]:
    """The same frames with spans that simply go on from one another merged: one way to write them."""
    out: list[_Span] = []
    for span in spans:
        last = out[-1] if out else None
        if last is not None and (last.look, last.rates, last.at(last.frames)) == (span.look, span.rates, span.values):
            out[-1] = replace(last, frames=last.frames + span.frames)
        elif span.frames:
            out.append(span)
    return tuple(out)


def _cut(spans: tuple[_Span, ...], a: int, b: int) -> tuple[_Span, ...]:
    out: list[_Span] = []
    at = 0
    for span in spans:
        lo, hi = max(a, at), min(b, at + span.frames)
        if lo < hi:
            out.append(_Span(hi - lo, span.look, span.at(lo - at), span.rates))
        at += span.frames
    return _joined(out)


@dataclass(frozen=True, slots=True)
class Shown:
    """What every frame of a timeline shows: the base track, then each layer, as spans."""

    base: tuple[_Span, ...]
    layers: tuple[tuple[str, tuple[_Span, ...]], ...]

    @classmethod
    def of(cls, tl: Timeline) -> Shown:
        track = base_pieces(tl)
        base: list[_Span] = []
        for piece in track.pieces:
            look, values, rates = _item_look(track, piece.run, tl.canvas)
            if piece.into is None:
                base.append(_Span(piece.frames, ("plain", look), values, rates))
                continue
            into, into_values, into_rates = _item_look(track, piece.into, tl.canvas)
            base.append(_Span(piece.frames, ("blend", piece.kind, piece.frames, look, into),
                              (Fraction(0), *values, *into_values), (Fraction(1), *rates, *into_rates)))
        return cls(_joined(base), tuple((layer.kind, _layer_spans(layer, tl)) for layer in tl.layers))

    def slice(self, a: int, b: int) -> Shown:
        return Shown(_cut(self.base, a, b), tuple((kind, _cut(spans, a, b)) for kind, spans in self.layers))


def _plain(v: Visual) -> Visual:
    """A clip or still less its place and name: what decides its picture besides the frame."""
    return replace(v, where="", label="", start=0, length=0, source_in_ms=0, enter=None, exit=None, cut=0)


def _visual_look(v: Visual, first: int, frames: int, canvas: Canvas) -> tuple[Look, tuple[Fraction, ...],
                                                                               tuple[Fraction, ...]]:
    """Item frame ``first`` of ``v``, in a stream of its ``frames`` frames that starts there."""
    if not v.is_still:
        step = speed_of(v) / canvas.fps
        return ("clip", _plain(v)), (source_seconds(v, first, canvas),), (-step if v.reverse else step,)
    if v.motion is not None:     # its crops are spread over the frames of the stream it is made as
        return ("motion", _plain(v), frames), (Fraction(0),), (Fraction(1),)
    return ("still", _plain(v)), (), ()


def _item_look(track: BaseTrack, run: Run, canvas: Canvas) -> tuple[Look, tuple[Fraction, ...], tuple[Fraction, ...]]:
    item = track.items[run.item]
    if isinstance(item, Gap):
        return ("gap",), (), ()
    extent = track.extent(run.item)
    look, values, rates = _visual_look(item, extent.first, extent.frames, canvas)
    return look, tuple(v + (run.first - extent.first) * r for v, r in zip(values, rates, strict=True)), rates


def _layer_spans(layer: Layer, tl: Timeline) -> tuple[_Span, ...]:
    """Each item of an upper track split into its fade-in, full and fade-out frames, empty frames between."""
    spans: list[_Span] = []
    at = 0
    empty = _Span(0, ("empty",), (), ())
    for item in layer.clips:
        spans.append(replace(empty, frames=item.start - at))
        if isinstance(item, Caption):
            look: Look = ("caption", replace(item, where="", start=0, length=0, fade_in=0, fade_out=0))
            values: tuple[Fraction, ...] = ()
            rates: tuple[Fraction, ...] = ()
            fade_in, fade_out = item.fade_in, item.fade_out
        else:
            look, values, rates = _visual_look(item, 0, item.length, tl.canvas)
            fade_in, fade_out = (item.enter.frames if item.enter else 0), (item.exit.frames if item.exit else 0)
        full = item.length - fade_in - fade_out
        one = (Fraction(1),)
        # a fade depends on the frame's place in it (the graph counts fades in frames, engine/graph/video.py)
        spans.append(_Span(fade_in, ("fade-in", fade_in, look), (Fraction(0), *values), (*one, *rates)))
        spans.append(_Span(full, ("full", look), _Span(0, look, values, rates).at(fade_in), rates))
        spans.append(_Span(fade_out, ("fade-out", fade_out, look),
                           (Fraction(0), *_Span(0, look, values, rates).at(fade_in + full)), (*one, *rates)))
        at = item.start + item.length
    spans.append(replace(empty, frames=tl.length - at))
    return _joined(spans)
