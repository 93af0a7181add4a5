"""The draft's JSON Schema at ``/schema/draft.json`` (what ``reelforge schema`` prints), for client authors;
the OpenAPI document (``/openapi.json``, ``/docs``) links it from every body that carries a draft."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.schemas import DRAFT_SCHEMA_PATH
from engine.model.draft import json_schema

router = APIRouter(tags=["docs"])


@router.get(DRAFT_SCHEMA_PATH, response_model=None,
            responses={200: {"description": "the draft's JSON Schema (draft 2020-12)",
                             "content": {"application/json": {"schema": {"type": "object"}}}}})
def draft_schema() -> dict[str, Any]:
    """The draft's JSON Schema (JSON Schema draft 2020-12); docs/draft-format.md says what each key does."""
    return json_schema()
