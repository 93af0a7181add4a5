"""The draft model: round trips, every error named by its JSON path, the schema, the summary."""

from __future__ import annotations

import copy
import json

import pytest

from engine.errors import DraftError, SchemaVersionError
from engine.model.draft import dump_draft, json_schema, parse_draft
from engine.model.summary import summarize

SEED_EXAMPLE = {
    "v": 1, "d": 10000,
    "m": {"title": "Urban Dreams", "width": 1080, "height": 1920, "fps": 30, "bg": "#000000"},
    "t": [
        {"id": "trk_v1", "tt": 0, "n": "Video", "sg": [
            {"id": "seg_1", "n": "city timelapse", "st": 0, "d": 10000, "src": "https://cdn/x/city.mp4", "ss": 0,
             "fit": "cover", "tr": {"in": {"type": "fade", "d": 500}}}]},
        {"id": "trk_a1", "tt": 1, "n": "BGM", "sg": [
            {"id": "seg_2", "n": "Lo-fi", "st": 0, "d": 10000, "src": "https://cdn/x/lofi.mp3", "ss": 0, "vol": 0.35,
             "fi": 1000, "fo": 1000}]},
        {"id": "trk_t1", "tt": 7, "n": "Title", "sg": [
            {"id": "seg_3", "n": "Title", "st": 0, "d": 3000, "txt": "Urban Dreams",
             "style": {"color": "#FFFFFF", "size": 64, "pos": "top", "anim": "fade-in"}}]},
    ],
}


def test_round_trip_keeps_everything_including_unknown_keys() -> None:
    data = copy.deepcopy(SEED_EXAMPLE)
    data["x_client"] = {"nested": [1, 2, {"deep": True}]}
    data["m"]["x_theme"] = "dark"
    data["t"][0]["x_locked"] = True
    data["t"][0]["sg"][0]["x_effect"] = {"name": "glow", "amount": 0.3}
    data["t"][2]["sg"][0]["style"]["x_font_weight"] = 900
    again = dump_draft(parse_draft(data))
    assert again == data
    assert json.loads(json.dumps(again)) == data


def test_every_problem_is_reported_with_its_path() -> None:
    bad = {"t": [{"tt": 0, "sg": [{"d": -5, "src": ""}, {"src": "a.mp4", "tr": {"in": "spin"}, "spd": 10}]},
                 {"tt": 3},
                 {"tt": 7, "sg": [{"txt": "   ", "style": {"color": "nocolour", "pos": "upper"}}]}],
           "m": {"out": {"format": "avi"}}}
    with pytest.raises(DraftError) as err:
        parse_draft(bad)
    paths = {issue.path: issue.rule for issue in err.value.issues}
    assert paths == {
        "t[0].sg[0].d": "greater_than", "t[0].sg[0].src": "string_too_short", "t[0].sg[1].tr.in.type": "one_of",
        "t[0].sg[1].spd": "less_than_equal", "t[1]": "track_type", "t[2].sg[0].txt": "not_blank",
        "t[2].sg[0].style.color": "color", "t[2].sg[0].style.pos": "one_of", "m.out.format": "one_of",
    }
    assert "invalid draft" in str(err.value) and err.value.details()["issues"]


@pytest.mark.parametrize("data", [[], "draft", None, 5])
def test_a_draft_must_be_an_object(data: object) -> None:
    with pytest.raises(DraftError):
        parse_draft(data)


def test_newer_versions_are_refused_clearly() -> None:
    with pytest.raises(SchemaVersionError) as err:
        parse_draft({"v": 99, "t": []})
    assert err.value.issues[0].path == "v" and "99" in str(err.value)


def test_shorthands_and_aliases() -> None:
    draft = parse_draft({"t": [{"tt": "0", "sg": [{"src": "a.jpg", "mo": "pan-left", "tr": {"in": "crossfade"}}]},
                               {"tt": 7, "sg": [{"txt": "hi", "style": {"pos": "top-center"}}]}]})
    seg = draft.t[0].sg[0]
    assert seg.mo.type == "pan-left" and seg.tr.in_.type == "fade" and seg.tr.in_.d == 500
    assert draft.t[1].sg[0].style.pos == "top"


def test_size_targets_are_for_every_format() -> None:
    for fmt in ("mp4", "webm", "gif", "webp"):
        assert parse_draft({"m": {"out": {"format": fmt, "max_mb": 8}}}).m.out.max_mb == 8


def test_canvas_limits() -> None:
    with pytest.raises(DraftError) as err:
        parse_draft({"m": {"width": 1920, "height": 1920}})
    assert (err.value.issues[0].path, err.value.issues[0].rule) == ("m", "canvas_size")
    with pytest.raises(DraftError):
        parse_draft({"m": {"width": 3840}})
    parse_draft({"m": {"width": 1080, "height": 1920}})
    parse_draft({"m": {"width": 1920, "height": 1080}})


def test_schema_describes_the_short_keys() -> None:
    schema = json_schema()
    assert {"v", "d", "m", "t"} <= set(schema["properties"])
    text = json.dumps(schema)
    for key in ('"tt"', '"sg"', '"src"', '"txt"', '"mo"', '"tr"', '"in"'):
        assert key in text
    video = schema["$defs"]["VideoTrack"]
    assert "tt" in video["required"]
    shorthand = schema["$defs"]["VideoSegment"]["properties"]["mo"]["anyOf"]
    assert any("zoom-in" in option.get("enum", []) for alt in shorthand for option in alt.get("anyOf", [alt]))


def test_summary_matches_what_clients_print() -> None:
    expected = ('Timeline (3 tracks): 1. Video: city timelapse (0-10s) 2. BGM: Lo-fi (0-10s, 35%) '
                '3. Title: "Urban Dreams" (0-3s)')
    assert summarize(parse_draft(SEED_EXAMPLE)) == expected
    assert summarize(parse_draft({})) == "Timeline (0 tracks): empty"
    sequential = parse_draft({"t": [{"tt": 0, "sg": [{"src": "a/clip_one.mp4", "d": 2500}, {"src": "b.jpg"}]}]})
    assert summarize(sequential) == "Timeline (1 track): 1. Video: clip one (0-2.5s), b (2.5-5.5s)"
