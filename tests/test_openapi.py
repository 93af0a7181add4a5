"""The OpenAPI document a client author reads (``/openapi.json``, ``/docs``), from a real ``reelforge serve``:
every public endpoint with a typed request body and a typed 200 answer carrying the contract's fields, the
draft's JSON Schema linked; and the wire itself unchanged by the models, which only document it: real
answers keep exactly their keys, statuses and the routes' own error bodies, and every key they carry is
one the document describes.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from engine.model.draft import json_schema
from tests.apiserver import Client, until

REF = "#/components/schemas/"

# Every public endpoint, and the request body each one documents (None: it takes none).
ENDPOINTS: dict[tuple[str, str], str | None] = {
    ("post", "/api/auth/anonymous-token"): None,                                    # E1
    ("post", "/api/tasks/{user}/with-session/{app}"): "CreateSessionRequest",       # E2
    ("post", "/run_sse"): "RunAgentRequest",                                         # E3
    ("post", "/api/upload-video/{app}/{user}/{session_id}"): "UploadUrlsRequest",   # E4
    ("get", "/api/credits/balance/simple"): None,                                    # E5
    ("get", "/api/state/{app}/{user}/{session_id}/latest"): None,                    # E6
    ("post", "/api/render/proxy/lambda"): "ExportRequest",                           # E7
    ("get", "/api/render/proxy/lambda/{render_id}"): None,                           # E8
    ("get", "/api/render/proxy/{render_id}/download"): None,                         # E9
    ("post", "/api/render/proxy/lambda/{render_id}/cancel"): None,                   # E10
    ("post", "/api/auth/claim-token"): "ClaimRequest",                               # E11
    ("get", "/list-apps"): None,                                                     # E13
    ("get", "/apps/{app}/users/{uid}/sessions"): None,
    ("post", "/apps/{app}/users/{uid}/sessions"): "AdkCreateSessionRequest",
    ("post", "/apps/{app}/users/{uid}/sessions/{sid}"): "AdkCreateSessionRequest",
    ("get", "/apps/{app}/users/{uid}/sessions/{sid}"): None,
    ("patch", "/apps/{app}/users/{uid}/sessions/{sid}"): "AdkUpdateSessionRequest",
    ("post", "/run"): "RunAgentRequest",
    ("get", "/render-result/{name}"): None,
    ("get", "/api/farm/workers"): None,
}

# The 200 answer each JSON endpoint documents.
ANSWERS = {
    ("post", "/api/auth/anonymous-token"): "TokenResponse",
    ("post", "/api/tasks/{user}/with-session/{app}"): "SessionCreatedResponse",
    ("post", "/api/upload-video/{app}/{user}/{session_id}"): "UploadResponse",
    ("get", "/api/credits/balance/simple"): "BalanceResponse",
    ("get", "/api/state/{app}/{user}/{session_id}/latest"): "StateResponse",
    ("post", "/api/render/proxy/lambda"): "RenderJob",
    ("get", "/api/render/proxy/lambda/{render_id}"): "RenderJob",
    ("post", "/api/render/proxy/lambda/{render_id}/cancel"): "RenderJob",
    ("post", "/api/auth/claim-token"): "ClaimResponse",
    ("get", "/apps/{app}/users/{uid}/sessions/{sid}"): "AdkSession",
    ("get", "/api/farm/workers"): "FarmResponse",
}

# What the answers carried before the models existed (captured from the release before this change): the
# models must not add, drop or rename one.
JOB_KEYS = {"code", "success", "message", "id", "render_id", "taskId", "status", "progress", "output", "error", "data"}
JOB_DATA_KEYS = {"id", "render_id", "status", "progress", "outputUrl", "output", "createdAt", "completedAt", "error",
                 "cancelled", "attempts", "worker", "parts", "encoder", "encoder_reason", "decoder", "decoder_reason"}
JOB_OUTPUT_KEYS = {"url", "duration", "size", "format", "width", "height"}
TOKEN_KEYS = {"token", "user_id", "bind_id", "credits", "expires_at"}
ERROR_KEYS = {"code", "message", "data"}


@pytest.fixture(scope="module")
def document(api_server) -> dict[str, Any]:
    reply = httpx.get(api_server.base + "/openapi.json", timeout=30)
    assert reply.status_code == 200
    return reply.json()


def component(document: dict[str, Any], ref_or_name: str) -> dict[str, Any]:
    return document["components"]["schemas"][ref_or_name.removeprefix(REF)]


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """A schema with its ``$ref`` (or a nullable ``anyOf`` around one) followed."""
    if "anyOf" in schema:
        schema = next(s for s in schema["anyOf"] if s.get("type") != "null")
    return component(document, schema["$ref"]) if "$ref" in schema else schema


def props(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    return resolve(document, schema).get("properties", {})


def test_every_public_endpoint_has_a_typed_request_body(document) -> None:
    for (method, path), model in ENDPOINTS.items():
        operation = document["paths"][path][method]
        if model is None:
            continue
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": REF + model}, (method, path, schema)
        assert component(document, model)["properties"], model     # not an empty or any-object schema
    upload = document["paths"]["/api/upload-video/{app}/{user}/{session_id}"]["post"]["requestBody"]["content"]
    files = props(document, upload["multipart/form-data"]["schema"])["files"]
    assert files["items"] == {"type": "string", "format": "binary"}


def test_the_200_answers_carry_the_contracts_fields(document) -> None:
    for (method, path), model in ANSWERS.items():
        schema = document["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": REF + model}, (method, path, schema)
    token = props(document, props(document, {"$ref": REF + "TokenResponse"})["data"])
    assert TOKEN_KEYS <= set(token)
    job = props(document, {"$ref": REF + "RenderJob"})
    assert JOB_KEYS <= set(job)
    assert job["status"]["enum"] == ["pending", "processing", "completed", "failed"]
    assert JOB_OUTPUT_KEYS <= set(props(document, job["output"]))
    assert JOB_DATA_KEYS <= set(props(document, job["data"]))
    state = props(document, props(document, props(document, {"$ref": REF + "StateResponse"})["data"])["state"])
    assert {"draft", "video_infos", "canvas_config", "video_analyses", "generated_media"} <= set(state)
    upload = props(document, props(document, {"$ref": REF + "UploadResponse"})["data"])
    item = props(document, upload["files"]["items"])
    assert {"cdn_url", "url", "file_type", "duration", "width", "height", "hash"} <= set(item)
    error = document["paths"]["/api/render/proxy/lambda"]["post"]["responses"]["4XX"]["content"]
    assert ERROR_KEYS <= set(props(document, error["application/json"]["schema"]))
    stream = document["paths"]["/run_sse"]["post"]["responses"]["200"]["content"]
    assert list(stream) == ["text/event-stream"]
    download = document["paths"]["/api/render/proxy/{render_id}/download"]["get"]["responses"]["200"]["content"]
    assert {"video/mp4", "image/gif"} <= set(download)


def test_the_drafts_json_schema_is_linked_and_served(api_server, document) -> None:
    export = component(document, "ExportRequest")
    assert export["properties"]["draft"]["$ref"] == REF + "Draft"
    assert "/schema/draft.json" in export["properties"]["draft"]["description"]
    assert set(export["required"]) == {"id", "sessionId", "draft"}
    draft = component(document, "Draft")
    assert set(draft["properties"]) >= {"v", "d", "m", "t"}
    track = draft["properties"]["t"]["items"]
    assert all(ref["$ref"].startswith(REF + "Draft") for ref in track.get("anyOf", track.get("oneOf", [])))
    state = component(document, "SessionState")
    assert state["properties"]["draft"]["$ref"] == REF + "Draft"
    assert "/schema/draft.json" in document["info"]["description"]
    served = httpx.get(api_server.base + "/schema/draft.json", timeout=30)
    assert served.status_code == 200 and served.json() == json_schema()
    assert httpx.get(api_server.base + "/docs", timeout=30).status_code == 200
    for text in (str(document["paths"]), str(document["components"])):     # every reference resolves
        for ref in {part.split("'")[0] for part in text.split(REF)[1:]}:
            assert ref in document["components"]["schemas"], ref


def documented(document: dict[str, Any], schema: dict[str, Any], body: Any, where: str = "") -> list[str]:
    """The keys of ``body`` that ``schema`` does not describe (a Draft's own keys are the Draft schema's)."""
    schema = resolve(document, schema)
    missing: list[str] = []
    if isinstance(body, dict) and "properties" in schema and schema.get("title") != "reelforge draft":
        for key, value in body.items():
            if key not in schema["properties"]:
                missing.append(f"{where}{key}")
            else:
                missing += documented(document, schema["properties"][key], value, f"{where}{key}.")
    elif isinstance(body, list) and "items" in schema:
        for value in body:
            missing += documented(document, schema["items"], value, f"{where}[].")
    return missing


def test_real_answers_are_unchanged_and_described(api_server, clients, media, document) -> None:
    client: Client = clients(api_server.base)
    token = client.http.post(api_server.base + "/api/auth/anonymous-token", headers={"X-Client-Id": client.client_id})
    assert token.status_code == 200 and set(token.json()) == {"code", "message", "data"}
    assert set(token.json()["data"]) == TOKEN_KEYS
    client.token = token.json()["data"]["token"]
    created = client.json("POST", "/api/tasks/me/with-session/nemo_agent", json={"task_name": "project"})
    client.session_id = created["data"]["session_id"]
    upload = client.upload(media.red)
    state = client.state()
    started = client.export(state["data"]["state"]["draft"], render_id="render_openapi_1")
    assert set(started) == JOB_KEYS and set(started["data"]) == JOB_DATA_KEYS
    assert set(started["output"]) == JOB_OUTPUT_KEYS
    done = until(lambda: (b := client.json("GET", "/api/render/proxy/lambda/render_openapi_1"))["status"]
                 in ("completed", "failed") and b, timeout_s=120)
    assert done["status"] == "completed" and set(done) == JOB_KEYS and set(done["data"]) == JOB_DATA_KEYS
    assert set(done["output"]) == JOB_OUTPUT_KEYS
    answers = {("post", "/api/auth/anonymous-token"): token.json(),
               ("post", "/api/tasks/{user}/with-session/{app}"): created,
               ("post", "/api/upload-video/{app}/{user}/{session_id}"): upload,
               ("get", "/api/credits/balance/simple"): client.json("GET", "/api/credits/balance/simple"),
               ("get", "/api/state/{app}/{user}/{session_id}/latest"): client.state(),
               ("post", "/api/render/proxy/lambda"): started,
               ("get", "/api/render/proxy/lambda/{render_id}"): done,
               ("get", "/apps/{app}/users/{uid}/sessions/{sid}"):
                   client.json("GET", f"/apps/nemo_agent/users/me/sessions/{client.session_id}")}
    for (method, path), body in answers.items():
        schema = {"$ref": REF + ANSWERS[(method, path)]}
        assert documented(document, schema, body) == [], (method, path)

    # The routes still read their bodies themselves: their own codes and words, never FastAPI's 422.
    no_id = client.call("POST", "/api/render/proxy/lambda", json={"sessionId": client.session_id, "draft": {}})
    assert no_id.status_code == 400 and no_id.json() == {
        "code": 400, "message": 'id is required: a render id you make, such as "render_1773423613616"', "data": None}
    not_object = client.call("POST", "/api/tasks/me/with-session/nemo_agent", json=[1])
    assert not_object.status_code == 400 and set(not_object.json()) == ERROR_KEYS
    no_text = client.call("POST", "/run_sse", json={"session_id": client.session_id})
    assert no_text.status_code == 422 and no_text.json()["code"] == 422 and set(no_text.json()) == ERROR_KEYS
    missing = client.call("POST", "/run_sse", json={"session_id": "1", "new_message": {"parts": [{"text": "hi"}]}})
    assert missing.status_code == 404
    assert missing.json() == {"code": 1002, "message": "Session not found", "data": None, "detail": "Session not found"}
    no_render = client.call("GET", "/api/render/proxy/lambda/nope")
    assert no_render.status_code == 404
    assert no_render.json() == {"code": 404, "message": "no render 'nope'", "data": None}
    alias = client.json("GET", "/api/render/proxy/render_openapi_1")          # E12, still answered, still unlisted
    assert set(alias) == JOB_KEYS and "/api/render/proxy/{render_id}" not in document["paths"]
