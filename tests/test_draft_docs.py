"""docs/draft-format.md against engine/model/draft.py: every field, name, default and limit documented,
every JSON example valid, every summary line real. Pure Python, no FFmpeg."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import annotated_types
import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from engine.model.draft import (
    MOTIONS,
    POSITION_ALIASES,
    POSITIONS,
    TRANSITION_ALIASES,
    TRANSITIONS,
    Draft,
    json_schema,
    parse_draft,
)
from engine.model.summary import summarize

DOC = Path(__file__).resolve().parent.parent / "docs" / "draft-format.md"
# ``tt`` has a per-class default in the models, but the track discriminator needs it: the doc says "required".
REQUIRED_BY_DISCRIMINATOR = {"tt"}
SUMMARY_EXAMPLE = ('Timeline (3 tracks): 1. Video: city timelapse (0-10s) 2. BGM: Lo-fi (0-10s, 35%) '
                   '3. Title: "Urban Dreams" (0-3s)')


@cache
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def code_blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", doc(), flags=re.MULTILINE | re.DOTALL)


def prose() -> str:
    """The doc with the contents of fenced blocks blanked out (line numbers kept)."""
    out, inside = [], False
    for line in doc().splitlines():
        if line.startswith("```"):
            inside = not inside
            out.append("")
        else:
            out.append("" if inside else line)
    return "\n".join(out)


def spans() -> set[str]:
    return set(re.findall(r"`([^`\n]+)`", prose()))


def unquoted_spans() -> set[str]:
    return {s.strip('"') for s in spans()}


# ---------------------------------------------------------------- walking the models


def _types_in(annotation: Any) -> list[Any]:
    """Every type and metadata object nested in an annotation (unions, lists, Annotated)."""
    found = [annotation]
    for arg in get_args(annotation):
        found += _types_in(arg)
    return found


def models() -> list[type[BaseModel]]:
    seen: list[type[BaseModel]] = []
    todo: list[type[BaseModel]] = [Draft]
    while todo:
        model = todo.pop(0)
        if model in seen:
            continue
        seen.append(model)
        for info in model.model_fields.values():
            todo += [t for t in _types_in(info.annotation) if isinstance(t, type) and issubclass(t, BaseModel)]
    return seen


def wire_name(name: str, info: FieldInfo) -> str:
    return info.alias or name


def literal_values(info: FieldInfo) -> list[str]:
    values: list[str] = []
    for t in _types_in(info.annotation):
        if get_origin(t) is Literal:
            values += [v for v in get_args(t) if isinstance(v, str)]
    return values


def limits(info: FieldInfo) -> list[float]:
    """The numbers in a field's constraints (ge, gt, le, lt, min/max length), wherever they are declared."""
    metadata = list(info.metadata)
    for t in _types_in(info.annotation):
        if isinstance(t, FieldInfo):
            metadata += t.metadata
    numbers: list[float] = []
    for m in metadata:
        if not isinstance(m, (annotated_types.BaseMetadata, annotated_types.GroupedMetadata)):
            continue
        for attr in ("ge", "gt", "le", "lt", "min_length", "max_length"):
            value = getattr(m, attr, None)
            if value is not None and not (attr == "min_length" and value == 0):
                numbers.append(float(value))
    return numbers


# ---------------------------------------------------------------- reading the doc's tables


def section(model: type[BaseModel]) -> str:
    """The doc from the heading that names ``model`` (in backticks) to the next heading."""
    lines = prose().splitlines()
    starts = [i for i, line in enumerate(lines)
              if re.match(r"#{1,6} ", line) and f"`{model.__name__}`" in line]
    assert len(starts) == 1, f"want exactly one heading naming `{model.__name__}`, found {len(starts)}"
    end = next((j for j in range(starts[0] + 1, len(lines)) if re.match(r"#{1,6} ", lines[j])), len(lines))
    return "\n".join(lines[starts[0]:end])


def row(model: type[BaseModel], field: str) -> list[str]:
    """The cells of the table row for ``field`` in ``model``'s section: field, type, default, limits, meaning."""
    rows = [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in section(model).splitlines() if line.startswith("|")]
    matches = [r for r in rows if r[0] == f"`{field}`"]
    assert len(matches) == 1, f"{model.__name__}.{field}: want one table row, found {len(matches)}"
    assert len(matches[0]) == 5, f"{model.__name__}.{field}: want 5 cells, found {matches[0]}"
    return matches[0]


def all_fields() -> list[tuple[type[BaseModel], str, FieldInfo]]:
    return [(m, wire_name(n, i), i) for m in models() for n, i in m.model_fields.items()]


FIELDS = all_fields()
FIELD_IDS = [f"{m.__name__}.{name}" for m, name, _ in FIELDS]


# ---------------------------------------------------------------- tests


def test_the_walk_finds_every_draft_object() -> None:
    names = {m.__name__ for m in models()}
    assert {"Draft", "Meta", "Output", "VideoTrack", "AudioTrack", "TextTrack", "VideoSegment", "AudioSegment",
            "TextSegment", "TextStyle", "Stroke", "Shadow", "TextBox", "Box", "Motion", "Transitions",
            "Transition"} <= names


def test_every_field_name_is_in_backticks() -> None:
    documented = spans()
    missing = sorted({name for _, name, _ in FIELDS if name not in documented})
    assert not missing, f"fields not in backticks anywhere in {DOC.name}: {missing}"


@pytest.mark.parametrize(("model", "name", "info"), FIELDS, ids=FIELD_IDS)
def test_every_field_has_a_row_with_its_default_and_limits(model: type[BaseModel], name: str,
                                                           info: FieldInfo) -> None:
    _, _, default_cell, limits_cell, meaning = row(model, name)
    assert meaning, f"{model.__name__}.{name}: no meaning given"
    if info.is_required() or name in REQUIRED_BY_DISCRIMINATOR:
        assert default_cell == "required", f"{model.__name__}.{name}: default cell should say required"
    else:
        first = re.search(r"`([^`]+)`", default_cell)
        assert first, f"{model.__name__}.{name}: default cell {default_cell!r} has no `value`"
        stated = json.loads(first.group(1))
        if info.default_factory is not None:
            value = info.default_factory()  # type: ignore[call-arg]
            expected = value.model_dump(exclude_unset=True) if isinstance(value, BaseModel) else value
        else:
            expected = info.default
        same = stated is expected if isinstance(expected, bool) or isinstance(stated, bool) else stated == expected
        assert same, f"{model.__name__}.{name}: doc says default {stated!r}, code has {expected!r}"
    numbers = {float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", limits_cell)}
    for bound in limits(info):
        assert bound in numbers, f"{model.__name__}.{name}: limit {bound:g} missing from {limits_cell!r}"


def test_every_allowed_value_is_documented() -> None:
    documented = unquoted_spans()
    names = [*TRANSITIONS, *TRANSITION_ALIASES, *MOTIONS, *POSITIONS, *POSITION_ALIASES]
    names += [v for _, _, info in FIELDS for v in literal_values(info)]
    missing = sorted({n for n in names if n not in documented})
    assert not missing, f"values not in backticks in {DOC.name}: {missing}"


def test_transition_motion_and_position_names_appear() -> None:
    text = doc()
    for name in (*TRANSITIONS, *MOTIONS, *POSITIONS):
        assert name in text, name


def json_examples() -> list[Any]:
    blocks = code_blocks("json")
    assert blocks, "the doc has no ```json blocks"
    parsed = []
    for block in blocks:
        try:
            parsed.append(json.loads(block))
        except json.JSONDecodeError as exc:
            pytest.fail(f"a ```json block does not parse ({exc}):\n{block}")
    return parsed


def test_every_json_example_parses_and_every_draft_is_valid() -> None:
    drafts = [ex for ex in json_examples() if isinstance(ex, dict) and "t" in ex]
    assert len(drafts) >= 3
    for example in drafts:
        parse_draft(example)   # raises DraftError naming every problem


def test_every_summary_line_in_the_doc_is_what_summarize_prints() -> None:
    made = {summarize(parse_draft(ex)) for ex in json_examples() if isinstance(ex, dict) and "t" in ex}
    shown = [line for block in code_blocks("text") for line in block.splitlines() if line.startswith("Timeline (")]
    assert SUMMARY_EXAMPLE in shown and SUMMARY_EXAMPLE in made
    for line in shown:
        assert line in made, f"no example in the doc summarises to:\n{line}\nexamples give:\n" + "\n".join(sorted(made))


def test_json_schema_is_serialisable_and_has_the_top_level_keys() -> None:
    schema = json_schema()
    assert json.loads(json.dumps(schema)) == schema
    assert {"v", "d", "m", "t"} <= set(schema["properties"])
