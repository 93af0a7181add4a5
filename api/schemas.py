"""Typed request and response models for the public endpoints: documentation for ``/docs`` and ``/openapi.json``.

These models DESCRIBE the wire format; they never parse or filter it. The routes keep reading their
bodies by hand (with their own error codes: 400, 422, 1002, ...) and keep returning the dicts
api/views.py builds, so nothing a client sees changes. The models reach the OpenAPI document in
two ways that have no effect at run time:

* request bodies through ``openapi_extra`` (:func:`request_body`), a ``$ref`` to a component that
  :func:`openapi` adds to the document;
* responses through ``responses={200: {"model": ...}}`` (:func:`ok_response`), which FastAPI only
  uses to write the document (``response_model`` is never set from these).

Every model allows extra keys (``additionalProperties: true``): the answers are supersets that
clients read in different places (api-contract.md Q3, Q5), and more keys may come. The draft's
own JSON Schema (``engine.model.draft.json_schema``, what ``reelforge schema`` prints) is added to
the components as ``Draft`` (its parts as ``Draft<Name>``) and served whole at ``/schema/draft.json``.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Annotated, Any, Final, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from engine.model.draft import json_schema as draft_json_schema

DRAFT_SCHEMA_PATH: Final = "/schema/draft.json"
COMPONENTS: Final = "#/components/schemas/"
_DRAFT_NOTE: Final = (f"The draft timeline (docs/draft-format.md): the draft's JSON Schema is the `Draft` component "
                      f"and is served whole at {DRAFT_SCHEMA_PATH} (`reelforge schema` prints the same). Send "
                      "`data.state.draft` from the state call (E6), edited or not.")

_DRAFT_MARK: Final = "x-reelforge-draft"
DraftJson = Annotated[dict[str, Any], WithJsonSchema({"type": "object", _DRAFT_MARK: True, "description": _DRAFT_NOTE})]
"""A draft, in a model: documented as the ``Draft`` component (:func:`_link_drafts` puts the ``$ref`` in)."""


class Doc(BaseModel):
    """A documentation model: extra keys allowed (the answers are supersets), never used to parse."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Envelope(Doc):
    code: int = Field(0, description="0 on success; an error's code otherwise (docs/api.md, Errors)")
    message: str = Field("success", description="a readable word on success, what went wrong otherwise")


# ---------------------------------------------------------------------------------------------- errors


class ErrorBody(Doc):
    """Every error: the envelope with the error's code (HTTP status per docs/api.md; 200 for the body-level
    codes 1001, 1002, 2001, 4001, 4002 with REELFORGE_LEGACY_HTTP_200)."""

    code: int = Field(description="400, 402, 404, 409, 410, 413, 422, 429, 507, or body-level 1001, 1002, 2001, "
                                  "4001, 4002")
    message: str = Field(description="what went wrong, in words a person can act on")
    data: dict[str, Any] | None = Field(None, description="details: `issues` (an invalid draft: path, rule, message "
                                                          "each), `problems`, `limit`/`value`/`max`, `retry_after`, "
                                                          "`bind_id`/`available`/`needed` (2001), `filename`")
    detail: str | None = Field(None, description='only on 1002 and ADK answers: "Session not found"')


# ---------------------------------------------------------------------------------------------- E1, E5, E11


class TokenData(Doc):
    token: str = Field(description="the bearer token, `nmv_usr_…`")
    user_id: str = Field(description="`anon_…`")
    bind_id: str = Field(description="the same as user_id (the id a 2001 asks to bind)")
    credits: int = Field(description="credits available now")
    expires_at: str = Field(description="ISO-8601 UTC, e.g. 2026-11-28T09:01:15Z (7 days)")


class TokenResponse(Envelope):
    """E1: a token for this X-Client-Id (the same one again while it is valid, to the client holding it)."""

    data: TokenData


class BalanceData(Doc):
    available: int
    frozen: int = Field(description="held by exports still running")
    total: int = Field(description="available + frozen")


class BalanceResponse(Envelope):
    """E5: the token's credits."""

    data: BalanceData


class ClaimRequest(Doc):
    """E11: a claim link for one of your sessions."""

    session_id: str = Field(description="the session to link to")
    task_id: str | None = Field(None, description="optional; when given it must be that session's task")


class ClaimData(Doc):
    claim_token: str = Field(description="`clm_…`; it opens a browser link, it cannot call the API")
    expires_in: int = Field(description="seconds (7 days)")
    issued_at: int = Field(description="epoch seconds")


class ClaimResponse(Envelope):
    data: ClaimData


class ClaimExchangeRequest(Doc):
    """A browser link's claim, for the token and session it opens (the studio's `/workspace/claim?ct=`)."""

    claim_token: str = Field(description="`clm_…`, from E11 (POST /api/auth/claim-token)")


class ClaimExchangeData(Doc):
    token: str = Field(description="a bearer token of the claim's user, `nmv_usr_…` (keep it out of URLs)")
    session_id: str = Field(description="the session the link opens")
    task_id: str
    user_id: str
    expires_in: int = Field(description="seconds the token has left")


class ClaimExchangeResponse(Envelope):
    """The claim's user's live token (a new one only when all have expired) and the claimed session."""

    data: ClaimExchangeData


# ---------------------------------------------------------------------------------------------- E2, E6


class CreateSessionRequest(Doc):
    """E2: both keys optional; the body may be left out."""

    task_name: str = Field("project", max_length=200)
    language: str = Field("en", max_length=35, description="an ISO code such as en, zh-CN, ja, es")


class SessionCreatedData(Doc):
    task_id: str = Field(description="`task_<hex>`")
    session_id: str = Field(description="a decimal, snowflake-like string")
    user_id: str
    bind_id: str
    task_name: str
    language: str


class SessionCreatedResponse(Envelope):
    """E2: a new task and session."""

    data: SessionCreatedData


class SessionListItem(Doc):
    session_id: str
    task_id: str
    created_at: int = Field(description="epoch ms")
    updated_at: int = Field(description="epoch ms of the last activity: a draft saved, a file added, a chat turn")
    title: str = Field(description="the draft's m.title, else the task name (unless the default), else the first "
                                   'upload\'s name, else "Untitled"')
    task_name: str
    uploads: int = Field(description="files uploaded")
    renders: int = Field(description="exports (previews not counted)")


class SessionListData(Doc):
    sessions: list[SessionListItem] = Field(description="the most recently active first")


class SessionListResponse(Envelope):
    """Your sessions (the studio's list)."""

    data: SessionListData


class MediaItem(Doc):
    """An uploaded (or generated) file, as E4 answers it and E6 lists it."""

    id: str
    filename: str
    file_type: Literal["video", "image", "audio"]
    format: str | None = Field(None, description="what probing the content found: mp4, png, mp3, …")
    cdn_url: str = Field(description="`<base>/api/media/<id>/<filename>` (needs the owner's token); put it, `url`, "
                                     "the id or the file name in a draft's `src`")
    url: str = Field(description="the same as cdn_url")
    duration: float | None = Field(None, description="seconds")
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    has_audio: bool
    size: int = Field(description="bytes")
    hash: str = Field(description="sha256 of the content")
    source: Literal["upload", "url", "generated"]
    source_url: str | None = Field(None, description="the URL it was fetched from (source url)")


class SessionUpload(MediaItem):
    thumbnail_url: str | None = Field(description="a small JPEG (or the picture itself) at a signed URL that needs "
                                                  "no token; null for sound and for an expired upload")
    created_at: int = Field(description="epoch ms")


class SessionUploadsData(Doc):
    files: list[SessionUpload] = Field(description="oldest first; what reelforge generated is not listed")


class SessionUploadsResponse(Envelope):
    """A session's uploads (the studio's media list)."""

    data: SessionUploadsData


class UploadData(Doc):
    files: list[MediaItem]
    uploaded_files: list[MediaItem] = Field(description="the same list as files (api-contract Q5)")
    session_state_applied: bool = Field(description="true: the files are in the session's state")
    draft_version: int | None = Field(None, description="the draft version after the upload (the starting draft)")


class UploadResponse(Envelope):
    """E4: the files kept (all of them, or none when one is refused)."""

    data: UploadData


class UploadUrlsRequest(Doc):
    """E4 with Content-Type application/json: the server fetches the URLs (SSRF-guarded)."""

    urls: list[str] = Field(min_length=1, description="http(s) URLs, at most REELFORGE_MAX_UPLOAD_FILES")
    source_type: Literal["url"] = "url"


class UploadFilesRequest(Doc):
    """E4 with multipart/form-data: the field `files`, repeated for several files (`file` works too)."""

    files: list[Annotated[bytes, WithJsonSchema({"type": "string", "format": "binary"})]] = Field(
        description="video mp4 mov avi webm mkv; image jpg png gif webp heic; audio mp3 wav m4a aac "
                    "(judged by content)")


class CanvasConfig(Doc):
    width: int
    height: int
    aspect_ratio: str = Field(description='e.g. "9:16"')
    fps: float


class SessionState(Doc):
    draft: DraftJson = Field(description="the current draft ({} until the first picture or clip is uploaded); "
                                         "the Draft component describes it")
    video_infos: list[MediaItem] = Field(description="the uploads")
    canvas_config: CanvasConfig
    video_analyses: dict[str, Any] = Field(description="always {} (reelforge has no video analysis)")
    generated_media: list[MediaItem] = Field(description="what reelforge made for the session (the chat's music bed)")


class StateData(Doc):
    session_id: str
    task_id: str
    task_name: str
    user_id: str
    bind_id: str
    draft_version: int = Field(description="how many draft versions were saved")
    state: SessionState
    summary: str | None = Field(None, description="the draft's one-line summary, as the agent's \"show tracks\" "
                                                  "gives it; null when the draft is empty or over 64 KB")


class StateResponse(Envelope):
    """E6: everything a client needs to describe the session; cheap enough to poll."""

    data: StateData


# ---------------------------------------------------------------------------------------------- E7-E10


class ExportOutput(Doc):
    """Laid over the draft's `m.out`; all optional (default mp4, high)."""

    format: Literal["mp4", "gif", "webm", "webp"] = "mp4"
    quality: Literal["high", "medium", "low"] = "high"
    resolution: str | None = Field(None, description="the short side: 360p … 1080p (default: the draft's canvas; "
                                                     "720p for the GIF skills' MP4/WebM)")
    fps: float | None = None
    max_mb: float | None = Field(None, description="a size target in MB (the smaller of this and the draft's wins)")


class ExportRequest(Doc):
    """E7 (and its alias POST /api/render/proxy/draft): start an export of a draft."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,128}$",
                    description="a render id you make, e.g. render_1773423613616; the same id again is the same job")
    sessionId: str = Field(description="the session (session_id works too)")
    draft: DraftJson
    output: ExportOutput | None = None
    callback: str | None = Field(None, description="an http(s) URL POSTed the status body, signed, when the job "
                                                   "ends (webhook is an alias); needs REELFORGE_WEBHOOK_SECRET")
    webhook: str | None = Field(None, description="alias of callback")


class PreviewRequest(Doc):
    """A quick preview (the studio's): H.264 MP4, short side 360 px, 15 fps, at most 20 s; free, no X-Skill-Source.
    Poll it with GET /api/render/proxy/lambda/{id}; a new one replaces the session's unfinished one."""

    sessionId: str = Field(description="the session (session_id works too)")
    draft: DraftJson | None = Field(None, description="default: the session's current draft")
    start_ms: int | None = Field(None, ge=0, description="the window's start on the timeline (default: end_ms - "
                                                         "20000, or 0)")
    end_ms: int | None = Field(None, ge=1, description="the window's end (default and at most: start_ms + 20000; "
                                                       "never past the draft's end)")


class WebhookAttempt(Doc):
    at: int = Field(description="epoch ms")
    duration_ms: int | None = None
    status: int | None = Field(None, description="the HTTP status the callback answered; null when none came")
    error: str | None = None
    response: str | None = Field(None, description="the first 256 bytes of the answer")


class WebhookView(Doc):
    """Where the export's callback delivery stands (only when the export carried a callback)."""

    url: str
    delivery_id: str
    state: Literal["waiting", "pending", "delivered", "failed"]
    delivered: bool
    event: Literal["render.completed", "render.failed", "render.cancelled"] | None = None
    attempt_count: int
    next_attempt_at: int | None = Field(None, description="epoch ms")
    attempts: list[WebhookAttempt] = Field(description="the newest 20")


class RenderOutput(Doc):
    url: str | None = Field(description="the signed output URL (no token needed), null until completed")
    duration: float | None = Field(None, description="seconds")
    size: int | None = Field(None, description="bytes")
    format: Literal["mp4", "gif", "webm", "webp"]
    width: int | None = None
    height: int | None = None
    target_mb: float | None = Field(None, description="with a size target only")
    size_target_met: bool | None = Field(None, description="with a size target only")
    encoding: dict[str, Any] | None = Field(None, description="with a size target only: the settings chosen, tries")
    enhance: dict[str, Any] | None = Field(None, description="with m.enhance only")
    gif: dict[str, Any] | None = Field(None, description="a GIF's scenes, palettes and loop seam")


class RenderDataOutput(Doc):
    url: str | None


class RenderJobData(Doc):
    id: str
    render_id: str
    status: Literal["pending", "processing", "completed", "failed"]
    progress: int = Field(ge=0, le=100)
    outputUrl: str | None
    output: RenderDataOutput
    createdAt: int = Field(description="epoch ms")
    completedAt: int | None = Field(description="epoch ms")
    error: str | None
    cancelled: bool
    attempts: int
    worker: str | None = None
    parts: int | None = None
    encoder: str | None = None
    encoder_reason: str | None = None
    decoder: str | None = None
    decoder_reason: str | None = None
    webhook: WebhookView | None = None


class RenderJob(Doc):
    """E7, E8, E10: the render job, the superset of every shape clients read (api-contract Q3)."""

    code: int = 0
    success: bool = Field(description="false when the job failed")
    message: str = "ok"
    id: str
    render_id: str
    taskId: str
    status: Literal["pending", "processing", "completed", "failed"]
    progress: int = Field(ge=0, le=100)
    output: RenderOutput
    error: str | None = Field(description='a readable string when failed ("cancelled" after E10)')
    data: RenderJobData
    webhook: WebhookView | None = None


class ListedRender(RenderJobData):
    """E8's ``data``, whose ``output`` is E8's whole ``output``."""

    output: RenderOutput  # type: ignore[assignment]


class SessionRendersData(Doc):
    renders: list[ListedRender] = Field(description="the session's exports, newest first (not its previews)")


class SessionRendersResponse(Envelope):
    """A session's exports (the studio's render list)."""

    data: SessionRendersData


class FarmJob(Doc):
    """A render as the farm listing shows it: yours by render id, anyone else's with no id."""

    render_id: str | None = Field(description="your own render's id; null for anyone else's")
    mine: bool
    preview: bool = Field(description="a studio preview, not an export")
    status: Literal["pending", "processing", "completed", "failed"]
    progress: int = Field(ge=0, le=100)
    format: Literal["mp4", "gif", "webm", "webp"]
    duration_ms: int | None = Field(description="the finished file's length")
    wait_ms: int | None = Field(description="from the request until a worker started it")
    render_ms: int | None = Field(description="wall time from start to end, once ended")
    worker: str | None = Field(description='the worker that rendered it ("local" in the embedded default)')
    createdAt: int = Field(description="epoch ms")
    completedAt: int | None = Field(description="epoch ms")


class FarmData(Doc):
    mode: Literal["farm", "embedded"]
    workers: list[dict[str, Any]] = Field(description="each worker: name, queues, slots, load, busy, current job(s) "
                                                      "(your own ids), encoder, gpu (a name or null), running (a "
                                                      "FarmJob, with its progress, for each job it renders)")
    jobs: dict[str, int] = Field(description="rendering, waiting")
    queue: list[FarmJob] = Field(description="the 20 renders waiting longest to start, oldest first")
    recent: list[FarmJob] = Field(description="the 20 renders that ended last, newest first")


class FarmResponse(Envelope):
    data: FarmData


class HealthData(Doc):
    status: str
    rendering: Any = None
    encoder: str
    decoder: str


class HealthResponse(Envelope):
    data: HealthData


# ---------------------------------------------------------------------------------------------- E3, E13


class Part(Doc):
    text: str | None = None


class Content(Doc):
    role: Literal["user"] | None = Field(None, description='"user" or left out')
    parts: list[Part] = Field(description="the message's text parts; their texts are joined")


class RunAgentRequest(Doc):
    """E3 /run_sse and E13 /run: ADK's RunAgentRequest. camelCase (appName, userId, sessionId, newMessage)
    works as well as snake_case."""

    app_name: Literal["nemo_agent"] = "nemo_agent"
    user_id: str = Field("me", description='"me" or your own user id')
    session_id: str
    new_message: Content = Field(description="at most 4000 characters of text")
    streaming: bool = Field(False, description="true: text chunks with partial: true, then the whole text")


class AdkEvent(Doc):
    """An ADK Event (camelCase), as one `data:` line of /run_sse carries it and /run lists it."""

    content: dict[str, Any] | None = Field(None, description="{parts: [{text | functionCall | functionResponse}], "
                                                                "role}")
    invocationId: str | None = None
    author: str | None = None
    actions: dict[str, Any] | None = Field(None, description="stateDelta (the new draft), artifactDelta, "
                                                             "requestedAuthConfigs")
    id: str | None = None
    timestamp: float | None = Field(None, description="epoch seconds")
    partial: bool | None = None
    turnComplete: bool | None = None
    errorCode: str | None = None
    errorMessage: str | None = None


class AdkSession(Doc):
    """ADK's Session JSON."""

    id: str
    appName: Literal["nemo_agent"]
    userId: str
    state: dict[str, Any] = Field(description="the E6 state (draft, video_infos, canvas_config, video_analyses, "
                                              "generated_media); {} in a list of sessions")
    events: list[AdkEvent] = Field(description="each chat turn's message and final reply; [] in a list")
    lastUpdateTime: float = Field(description="epoch seconds")


class AdkCreateSessionRequest(Doc):
    """A new session starts empty: only an id may be chosen (it must have a character that is not a digit)."""

    sessionId: str | None = Field(None, description="1 to 128 of letters, digits, _ . : - with a non-digit")
    state: dict[str, Any] | None = Field(None, description="must be empty")
    events: list[Any] | None = Field(None, description="must be empty")


class StateDelta(Doc):
    draft: DraftJson


class AdkUpdateSessionRequest(Doc):
    """Make a draft current (checked as an export checks it); other state keys are refused."""

    stateDelta: StateDelta


# ---------------------------------------------------------------------------------------------- wiring

REQUEST_MODELS: Final = (ClaimRequest, ClaimExchangeRequest, CreateSessionRequest, UploadUrlsRequest,
                         UploadFilesRequest, ExportOutput, ExportRequest, PreviewRequest, Part, Content,
                         RunAgentRequest, AdkCreateSessionRequest, StateDelta, AdkUpdateSessionRequest)


def request_body(model: type[BaseModel], *, required: bool = True, multipart: type[BaseModel] | None = None,
                 description: str | None = None) -> dict[str, Any]:
    """``openapi_extra`` documenting a body the route reads by hand: a ``$ref`` to ``model``'s component."""
    content: dict[str, Any] = {"application/json": {"schema": {"$ref": f"{COMPONENTS}{model.__name__}"}}}
    if multipart is not None:
        content["multipart/form-data"] = {"schema": {"$ref": f"{COMPONENTS}{multipart.__name__}"}}
    body: dict[str, Any] = {"required": required, "content": content}
    if description:
        body["description"] = description
    return {"requestBody": body}


def ok_response(model: type[BaseModel] | Any, description: str = "Successful Response") -> dict[int | str, Any]:
    """``responses=`` documenting the 200 answer as ``model`` (no filtering: response_model stays unset),
    and the error envelope for the rest."""
    return {200: {"model": model, "description": description},
            "4XX": {"model": ErrorBody, "description": "an error, in the envelope (docs/api.md, Errors)"}}


def file_response(description: str) -> dict[int | str, Any]:
    """``responses=`` for an endpoint that answers a file (a render's or an upload's)."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {200: {"description": description, "content": {kind: binary for kind in FILE_TYPES}},
            "4XX": {"model": ErrorBody, "description": "an error, in the envelope (404 no such file, 410 expired)"}}


FILE_TYPES: Final = ("video/mp4", "image/gif", "video/webm", "image/webp", "application/octet-stream")


@cache
def draft_components() -> dict[str, Any]:
    """The draft's JSON Schema as components: ``Draft`` and ``Draft<Name>`` for each of its ``$defs``."""
    schema = draft_json_schema()
    defs = schema.pop("$defs", {})
    schema.pop("$schema", None)
    schema["description"] = f"{schema.get('description', '')} The same schema, whole: {DRAFT_SCHEMA_PATH}."
    text = json.dumps({"Draft": schema, **{f"Draft{name}": d for name, d in defs.items()}})
    return dict(json.loads(text.replace('"#/$defs/', f'"{COMPONENTS}Draft')))


def _request_components() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for model in REQUEST_MODELS:
        schema = model.model_json_schema(ref_template=COMPONENTS + "{model}", mode="validation")
        found.update(schema.pop("$defs", {}))
        found[model.__name__] = schema
    return found


def _clean_refs(node: Any) -> None:
    """FastAPI merges a documented schema over the one it made itself; where a ``$ref`` came in, keep only it
    (and a description): the generic ``type: object`` beside it would only confuse a client generator."""
    if isinstance(node, dict):
        if "$ref" in node:
            for key in [k for k in node if k not in ("$ref", "description")]:
                del node[key]
        for value in node.values():
            _clean_refs(value)
    elif isinstance(node, list):
        for value in node:
            _clean_refs(value)


def _link_drafts(node: Any) -> None:
    """Each schema marked as a draft becomes a ``$ref`` to the ``Draft`` component (pydantic cannot make a ``$ref``
    to a schema it does not own)."""
    if isinstance(node, dict):
        if node.pop(_DRAFT_MARK, False):
            description = node.get("description", _DRAFT_NOTE)
            node.clear()
            node.update({"$ref": f"{COMPONENTS}Draft", "description": description})
        for value in node.values():
            _link_drafts(value)
    elif isinstance(node, list):
        for value in node:
            _link_drafts(value)


def openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, with the request models and the draft's schema in its components."""
    if app.openapi_schema is None:
        document = get_openapi(title=app.title, version=app.version, description=app.description,
                               routes=app.routes, tags=app.openapi_tags, servers=app.servers)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in {**_request_components(), **draft_components()}.items():
            schemas.setdefault(name, schema)
        _link_drafts(document)
        _clean_refs(document["paths"])
        app.openapi_schema = document
    return app.openapi_schema


def install(app: FastAPI) -> None:
    """Serve :func:`openapi` at /openapi.json (and so in /docs)."""
    app.openapi = lambda: openapi(app)  # type: ignore[method-assign]
