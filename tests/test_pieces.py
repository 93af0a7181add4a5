"""The pieces model (engine/model/pieces.py), property by property, without rendering anything.

Drafts come from tests/draft_strategies.py over media described, not made: the same catalogue
as tests/numbered.py, as synthetic ``MediaInfo`` values. Each property holds for every draft
that resolves; the last one checks the model against docs/draft-format.md §4, read on its own
by tests/frame_oracle.py.
"""

from __future__ import annotations

from typing import Any

from hypothesis import assume, given

from engine.errors import DraftError
from engine.model.draft import parse_draft
from engine.model.mediainfo import AudioStream, MediaInfo, VideoStream
from engine.model.pieces import BaseTrack, Run, base_pieces
from engine.model.timeline import Timeline, Visual, build_timeline
from tests.draft_strategies import drafts, property_settings
from tests.frame_oracle import docs_reading, model_reading
from tests.numbered import CLIPS, STILLS

PURE = property_settings(300, long_run_scale=20)

MEDIA = {
    **{c.src: MediaInfo(c.src, "video", c.container, "mov", 1, c.duration_ms,
                        VideoStream("h264", *c.size, float(c.fps), int(c.seconds * c.fps), "yuv420p", 0),
                        AudioStream("aac", 48000, 2)) for c in CLIPS.values()},
    **{s.src: MediaInfo(s.src, "image", "png", None, 1, None, VideoStream("png", *s.size, None, 1, None, 0), None)
       for s in STILLS},
}


def resolve(draft: dict[str, Any]) -> Timeline:
    """The draft's timeline, or the example is rejected (the strategy's few drafts that do not fit)."""
    try:
        return build_timeline(parse_draft(draft), MEDIA)
    except DraftError as err:
        assume(False)
        raise AssertionError from err


def pieces_tile_the_timeline(tl: Timeline, track: BaseTrack) -> None:
    assert track.pieces[0].start == 0 and track.pieces[-1].end == tl.length
    for before, after in zip(track.pieces, track.pieces[1:], strict=False):
        assert before.end == after.start, f"{before} and {after} leave a gap or overlap"
    assert all(p.frames >= 1 for p in track.pieces)


def items_tile_the_timeline_and_clips_keep_their_place(tl: Timeline, track: BaseTrack) -> None:
    assert track.items[0].start == 0 and track.items[-1].end == tl.length
    for before, after in zip(track.items, track.items[1:], strict=False):
        assert before.end == after.start, f"{before} and {after} leave a gap or overlap"
    assert [i for i in track.items if isinstance(i, Visual)] == list(tl.base)
    assert all(i.length >= 1 for i in track.items if isinstance(i, Visual))


def a_blend_mixes_two_runs_of_its_own_length(track: BaseTrack) -> None:
    for p in track.pieces:
        assert p.run.frames == p.frames
        if p.is_blend:
            assert p.kind is not None and p.into is not None and p.into.frames == p.frames
            assert p.into.item == p.run.item + 1, f"{p} does not join neighbours"
        else:
            assert p.kind is None


def each_items_runs_are_consecutive_and_make_its_extent(track: BaseTrack) -> None:
    for index, item in enumerate(track.items):
        runs = track.runs_of(index)
        assert runs, f"item {index} appears nowhere"
        for before, after in zip(runs, runs[1:], strict=False):
            assert before.stop == after.first, f"item {index}: {before} then {after}"
        extent = track.extent(index)
        assert extent == Run(index, runs[0].first, sum(r.frames for r in runs))
        if isinstance(item, Visual):
            assert extent.first == -item.lead_in
            assert extent.frames == item.extent == item.lead_in + item.length + item.tail_out


def every_frame_is_its_items_frame_counted_from_the_items_start(tl: Timeline, track: BaseTrack) -> None:
    for f in range(tl.length):
        p = track.piece_at(f)
        assert p.start <= f < p.end
        for run in (p.run, p.into):
            if run is not None:
                assert run.first + (f - p.start) == f - track.items[run.item].start


@PURE
@given(drafts())
def test_pieces_tile_the_timeline_and_each_item_shows_one_unbroken_run(draft: dict[str, Any]) -> None:
    """Pieces and items tile [0, length) with no gap or overlap; a blend's two runs have its length and
    join neighbouring items; each item's runs follow one another and make its extent, which for a clip
    is lead_in + length + tail_out; every run counts its item's frames from the item's start."""
    tl = resolve(draft)
    track = base_pieces(tl)
    pieces_tile_the_timeline(tl, track)
    items_tile_the_timeline_and_clips_keep_their_place(tl, track)
    a_blend_mixes_two_runs_of_its_own_length(track)
    each_items_runs_are_consecutive_and_make_its_extent(track)
    every_frame_is_its_items_frame_counted_from_the_items_start(tl, track)


@PURE
@given(drafts())
def test_the_model_says_what_the_draft_format_says(draft: dict[str, Any]) -> None:
    """docs/draft-format.md 4.3-4.7, read independently: lengths, placement, transitions centred on the
    cut (half rounded down before it), inside the segment at the timeline's ends, centred on the edge
    next to a gap, holds, speed and reverse, layer fades and caption fades."""
    tl = resolve(draft)
    model, docs = model_reading(tl), docs_reading(draft, MEDIA)
    assert model.fps == docs.fps and model.length == docs.length
    for f, (m, d) in enumerate(zip(model.base, docs.base, strict=True)):
        assert m == d, f"frame {f}: the model shows {m}, the draft format says {d}"
    assert model.source_times == docs.source_times
    assert model.layers == docs.layers and model.layer_times == docs.layer_times
    assert model.captions == docs.captions
