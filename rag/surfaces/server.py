"""HTTP backend for chat UIs: OpenAI-compatible API, native JSON API, a chat page.

One process holds the index and the models. Requests that need the local LLM
queue on its lock (rag.models.llms.LlamaCppChat); searches do not wait for it. Every
request first checks whether `rag index update` swapped in a new index
generation, so updates show up without a restart, and a request in flight
keeps the generation it started with.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from urllib.parse import quote
from dataclasses import dataclass, field, fields
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal, get_type_hints

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from fastapi.sse import EventSourceResponse
from pydantic import BaseModel, Field, create_model, model_validator

from rag.article import ArticleMeta
from rag.answer.engine import Answer, AnswerEngine, Event, citation_dict, history_pairs
from rag.answer.claims import Claim
from rag.config import Settings
from rag.errors import FilterError, InputError, NotFoundError, RagError
from rag.language import has_lone_surrogate
from rag.surfaces.http_guard import HostGuard, allowed_hosts, bearer_ok, check_bind, error_body, openai_error
from rag.answer.render import REPLACED_NOTICE, evidence_text
from rag.service import Archive

LOG = logging.getLogger("rag.surfaces.server")
STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY_BYTES = 256 * 1024
MODEL_ID = "rag"
# Declared so that it shows in /openapi.json; checked by `authorize` only when RAG_API_KEY is set.
BEARER = HTTPBearer(auto_error=False, description="RAG_API_KEY, when the server has one")


# -- request / response models -------------------------------------------------------


def _printable(value: Any) -> Any:
    """`value` with lone surrogates replaced (U+FFFD), so that an error can echo the input it refuses."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8") if _has_surrogate(value) else value
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_printable(v) for v in value]
    return value


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return has_lone_surrogate(value)
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    return False


class Body(BaseModel):
    """A request body: text must be valid Unicode (JSON allows a lone surrogate such as "\\ud800"; no text has one)."""

    @model_validator(mode="before")
    @classmethod
    def _unicode(cls, data: Any) -> Any:
        if _has_surrogate(data):
            raise ValueError("text holds a lone UTF-16 surrogate (e.g. \\ud800), which is not a character; send valid Unicode")
        return data



class SearchRequest(Body):
    query: str = Field(min_length=1, description="Question or keywords, any language.")
    k: int = Field(5, ge=1, description="Number of passages.")
    outlet: str | None = Field(None, description="Only this outlet, in either script or as a domain.")
    since: str | None = Field(None, description="YYYY-MM-DD (or YYYY-MM, YYYY)")
    until: str | None = Field(None, description="YYYY-MM-DD (or YYYY-MM, YYYY)")
    lang: str | None = None
    per_article: bool = False
    all_copies: bool = Field(False, description="Every copy of a story, not one hit per story.")
    diverse: int | None = Field(None, ge=1, description="At most this many passages per outlet (then by score).")


def _article_model() -> type[BaseModel]:
    """The article's fields as the API shows them, built from `ArticleMeta` (rag.article), never copied by hand."""
    hints = get_type_hints(ArticleMeta)
    spec: dict[str, Any] = {}
    for f in fields(ArticleMeta):
        name = {"id": "article_id", "story": "story_id"}.get(f.name, f.name)
        spec[name] = (hints[f.name], None) if f.default is None else (hints[f.name], ...)
    return create_model("ArticleFields", **spec)


ArticleFields = _article_model()
Copy = create_model("Copy", **{k: (ArticleFields.model_fields[k].annotation, ...) for k in ArticleMeta(id="").copy_ref()})


class Reference(ArticleFields):  # type: ignore[misc,valid-type]
    n: int
    quote: str
    speaker: str | None = None
    quote_type: str | None = None
    also_reported_by: list[Copy] = []  # type: ignore[valid-type]


class Citation(Reference):
    translation: dict[str, Any] | None = None


class Source(Reference):
    score: float = 0.0


class Hit(ArticleFields):  # type: ignore[misc,valid-type]
    rank: int
    score: float
    chunk_id: str
    text: str
    speaker: str | None = None
    quote_type: str | None = None
    first_report: bool
    also_reported_by: list[Copy]  # type: ignore[valid-type]


class TimeFilterModel(BaseModel):
    since: str
    until: str
    from_question: bool
    text: str | None = None
    matched: bool | None = None


class SearchResponse(BaseModel):
    query: str
    hits: list[Hit]
    facets: dict[str, dict[str, int]]
    time_filter: TimeFilterModel | None = None
    speaker: str | None = None
    expansions: list[dict[str, Any]] | None = None


class Turn(Body):
    role: Literal["user", "assistant"]
    content: str


class Filtered(Body):
    """The filters every question-taking endpoint accepts, validated the same way."""

    outlet: str | None = Field(None, description="Only this outlet.")
    since: str | None = Field(None, description="YYYY-MM-DD")
    until: str | None = Field(None, description="YYYY-MM-DD")
    lang: str | None = Field(None, description="Only articles in this language (ar, en, …).")


class AskRequest(Filtered):
    question: str = Field(min_length=1)
    k: int | None = Field(None, ge=1)
    history: list[Turn] = Field(default_factory=list, description="Earlier turns, oldest first.")
    stream: bool = Field(False, description="Server-sent events: sources, token…, citations, done.")
    compare_outlets: bool = Field(False, description="One cited section per outlet (up to 5) instead of one answer.")


class AskResponse(BaseModel):
    question: str
    answer: str
    language: str
    abstained: bool
    mode: str
    claims: list[Claim]
    citations: list[Citation]
    sources: list[Source]
    timings: dict[str, float | None]
    as_of: str | None = None
    outlets: list[dict[str, Any]] | None = None
    time_filter: dict[str, Any] | None = None


class StatusResponse(BaseModel):
    articles: int
    chunks: int
    outlets: dict[str, int]
    embedder: str
    index_dir: str
    #: freshness: the last commit, the newest article's date, each source's last success and lag
    updated_at: str | None = None
    oldest_article: str | None = None
    newest_article: str | None = None
    sources: list[dict[str, Any]] = []


class ChatMessage(Body):
    role: str
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(Filtered):
    """OpenAI's request; `outlet`, `since`, `until`, `lang` and `k` may come as extra body fields.

    Fields OpenAI defines that this server cannot honour are refused with a 400 naming them, never
    silently ignored (`UNSUPPORTED`). System and developer messages are accepted and not followed: the
    answer's policy (cited, checked claims in the question's language) is fixed (docs/server.md).
    """

    k: int | None = Field(None, ge=1)
    model: str = MODEL_ID
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    temperature: float | None = Field(None, ge=0.0, le=2.0, description="Passed to the model.")
    max_tokens: int | None = Field(None, ge=1, description="Caps the model's answer (at most llm_max_tokens × 4).")
    max_completion_tokens: int | None = Field(None, ge=1, description="The same as max_tokens (the SDK's newer name).")
    stop: str | list[str] | None = Field(None, description="Up to 4 sequences; the answer text ends before the first one.")
    n: int | None = Field(None, ge=1, le=1, description="One choice only.")
    stream_options: StreamOptions | None = None
    compare_outlets: bool = Field(False, description="How the outlets reported it (also: model \"rag:compare\").")
    evidence: bool = Field(True, description="Streamed answers start with the passages found; false leaves them out.")
    tools: Any = None
    tool_choice: Any = None
    functions: Any = None
    function_call: Any = None
    response_format: Any = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    seed: int | None = None
    user: str | None = None


#: OpenAI fields refused with a 400 when given (value other than null/false), and why
UNSUPPORTED = {
    "tools": "tool calls are not supported (this model answers from the articles only)",
    "tool_choice": "tool calls are not supported",
    "functions": "function calls are not supported",
    "function_call": "function calls are not supported",
    "response_format": "the response format is fixed (an answer with [n] citations)",
    "logprobs": "log probabilities are not returned",
    "top_logprobs": "log probabilities are not returned",
}
MODELS = {MODEL_ID: "cited answers", f"{MODEL_ID}:compare": "one cited section per outlet"}


class BodyLimit:
    """Refuses request bodies over `max_bytes` with 413, by Content-Length or as chunks arrive.

    A plain ASGI middleware: Starlette's `@app.middleware("http")` wraps
    streaming responses so that a client's disconnect never reaches them.
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(scope, send)
            return
        seen = 0
        started = refused = False

        async def counted_receive() -> Any:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes and not refused:
                    refused = True
                    if not started:
                        await self._refuse(scope, send)
                    return {"type": "http.disconnect"}  # the app stops reading; what it answers is dropped
            return message

        async def tracked_send(message: Any) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted_receive, tracked_send)

    async def _refuse(self, scope: Any, send: Any) -> None:
        body = error_body(scope, 413, f"request body over {self.max_bytes} bytes")
        await JSONResponse(body, status_code=413)({"type": "http"}, None, send)  # type: ignore[arg-type]


class JsonBody:
    """A POST to the API is JSON whatever its Content-Type says (`curl -d` sends form encoding): parsed as JSON,
    and a body that is not JSON gets a 422 that says so, instead of a bare "field required"."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("method") == "POST" and str(scope.get("path", "")).startswith(("/api/", "/v1/")):
            headers = [(k, v) for k, v in scope.get("headers") or [] if k != b"content-type"]
            scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
        await self.app(scope, receive, send)


# -- helpers ----------------------------------------------------------------------------


def _text(content: str | list[dict[str, Any]] | None) -> str:
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return content or ""


_END = object()
# While the model thinks (prompt evaluation, a long claim) a comment line goes out this often:
# proxies keep the connection, and writing is how the server learns that a client has left.
KEEPALIVE_S = 1.0


async def pump(make_events: Callable[[threading.Event], Iterator[str]],
               failed: Callable[[BaseException], Iterator[str]]) -> AsyncIterator[str]:
    """Run a blocking event generator in its own thread and relay what it yields.

    If it raises, `failed(exc)` gives the stream's last events (an error event and the terminator):
    a stream always ends with its terminator or an error event, never cut off.

    When the client goes away, the next write fails and Starlette cancels this
    coroutine; the `finally` sets the stop event, which the answer engine checks
    between model tokens, and the worker closes the generator, releasing the
    model's lock. Without this an abandoned stream kept the lock and every
    later question hung.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    stop = threading.Event()
    events = make_events(stop)

    def put(item: Any) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: the server is shutting down
            stop.set()

    def work() -> None:
        try:
            for item in events:
                if stop.is_set():
                    break
                put(item)
        except BaseException as exc:  # relayed to the response, which ends the stream
            put(exc)
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()
            put(_END)

    threading.Thread(target=work, name="rag-stream", daemon=True).start()
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
            except asyncio.TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if item is _END:
                return
            if isinstance(item, BaseException):
                if not isinstance(item, RagError):
                    LOG.error("a stream failed", exc_info=item)
                for last in failed(item):
                    yield last
                return
            yield item
    finally:
        stop.set()


def _sse(event: str | None, data: Any) -> str:
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return (f"event: {event}\n" if event else "") + f"data: {payload}\n\n"


SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class ApiError(HTTPException):
    """A client error that names the request field at fault (OpenAI's `param`) and, on /v1/, its `code`."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(status, message)
        self.param = param
        self.code = code


def _error(request: Request, status: int, message: str, headers: dict[str, str] | None = None,
           param: str | None = None, code: str | None = None) -> JSONResponse:
    """OpenAI's error shape on /v1/*, FastAPI's `{"detail"}` on the native API."""
    if request.url.path.startswith("/v1/"):
        body: dict[str, Any] = {"error": openai_error(status, message, param, code)}
    else:
        body = error_body(request.scope, status, message, param)
    return JSONResponse(body, status_code=status, headers=headers)


def _pieces(text: str) -> list[str]:
    """Text split after each line, so a client renders it as it arrives."""
    return [line for line in text.splitlines(keepends=True) if line]


def _with_sources(answer: Answer) -> str:
    block = answer.sources_block()
    return f"{answer.answer}\n\nSources:\n{block}" if block and not answer.abstained else answer.answer


REPLACED_NOTE = f"\n\n{REPLACED_NOTICE}\n\n"


def _evidence_text(event: Event) -> str:
    """The first thing an OpenAI-API client sees: the best quote and the passages found."""
    return evidence_text(event.sources, event.quote)


def _engine(request: Request) -> AnswerEngine:
    return request.app.state.engine


def _archive(request: Request) -> Archive:
    return request.app.state.archive


def _settings(request: Request) -> Settings:
    return request.app.state.settings


#: what endpoints take from the app (set by `create_app`), so routers hold no globals
Engine = Annotated[AnswerEngine, Depends(_engine)]
Store = Annotated[Archive, Depends(_archive)]
Config = Annotated[Settings, Depends(_settings)]


def authorize(request: Request, credentials: HTTPAuthorizationCredentials | None = Security(BEARER)) -> None:
    """The bearer token, when the server has one (RAG_API_KEY)."""
    if not bearer_ok(dict(request.scope.get("headers") or []), request.app.state.settings.api_key):
        raise ApiError(401, "missing or wrong bearer token (RAG_API_KEY is set); send 'Authorization: Bearer <key>'",
                       code="invalid_api_key")


# Validation is the archive's (rag.service: `check`, `filters`), the same on every surface; its InputError
# and FilterError become a 422 naming the field, NotFoundError a 404 (the handlers in `create_app`). Filters
# are validated before any answer starts: an unknown outlet is a 422, never an error in the middle of a stream.


#: the native JSON API (/api/*), the OpenAI-compatible one (/v1/*), the API's description, and the public page
native_router = APIRouter(dependencies=[Depends(authorize)], tags=["native"])
openai_router = APIRouter(dependencies=[Depends(authorize)], tags=["openai"])
schema_router = APIRouter(dependencies=[Depends(authorize)], include_in_schema=False)
page_router = APIRouter()


@page_router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}

@schema_router.get("/openapi.json")
def openapi_schema(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())

@schema_router.get("/docs")
def swagger(request: Request) -> Any:
    from fastapi.openapi.docs import get_swagger_ui_html

    return get_swagger_ui_html(openapi_url="/openapi.json", title="rag API")

@native_router.get("/api/status", response_model=StatusResponse)
def status(archive: Store) -> dict[str, Any]:
    return archive.status()

@native_router.post("/api/search", response_model=SearchResponse, response_model_exclude_none=True)
def search(body: SearchRequest, archive: Store) -> dict[str, Any]:
    archive.check(body.query, body.k, "query")
    filters = archive.filters(body.outlet, body.since, body.until, body.lang)
    return archive.search(body.query, body.k, filters, per_article=body.per_article, all_copies=body.all_copies,
                          diverse=body.diverse).to_dict()

@native_router.get("/api/articles")
def list_articles(archive: Store, outlet: str | None = None, since: str | None = None, until: str | None = None, lang: str | None = None,
                  limit: int = Query(20, ge=1, le=1000), offset: int = Query(0, ge=0)) -> dict[str, Any]:
    return archive.articles(archive.filters(outlet, since, until, lang), offset, limit)

@native_router.get("/api/articles/{article_id:path}")
def get_article(article_id: str, archive: Store) -> dict[str, Any]:
    return archive.article(article_id)

@native_router.post("/api/ask", response_model=AskResponse,
          responses={200: {"content": {"text/event-stream": {}}}})
def ask(body: AskRequest, archive: Store) -> Any:
    archive.check(body.question, body.k)
    history = history_pairs([(t.role, t.content) for t in body.history])
    chosen = archive.filters(body.outlet, body.since, body.until, body.lang)
    if body.compare_outlets:
        compared = archive.ask(body.question, history, body.k, chosen, compare=True).to_dict()
        if not body.stream:
            return compared
        return EventSourceResponse(iter([_sse("citations", {**compared, "replaced": False}), _sse("done", {})]),
                                   headers=SSE_HEADERS)
    if not body.stream:
        return archive.ask(body.question, history, body.k, chosen).to_dict()

    def events(stop: threading.Event) -> Iterator[str]:
        for event in archive.stream(body.question, history, body.k, chosen, cancel=stop):
            if event.kind == "sources":
                yield _sse("sources", {"sources": [x.to_dict() for x in event.sources],
                                       "quote": event.quote.to_dict() if event.quote else None})
            elif event.kind == "token":
                yield _sse("token", {"text": event.text})
            elif event.answer is not None:
                yield _sse("citations", {**event.answer.to_dict(), "replaced": event.replaced})
        yield _sse("done", {})

    def failed(exc: BaseException) -> Iterator[str]:
        yield _sse("error", {"detail": _stream_error_message(exc)})

    return EventSourceResponse(pump(events, failed), headers=SSE_HEADERS)


def _model_card(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "rag"}


@openai_router.get("/v1/models")
def models() -> dict[str, Any]:
    return {"object": "list", "data": [_model_card(m) for m in MODELS]}

@openai_router.get("/v1/models/{model_id:path}")
def model(model_id: str) -> dict[str, Any]:
    if model_id not in MODELS:
        raise ApiError(404, f"The model '{model_id}' does not exist; GET /v1/models lists them", param="model",
                       code="model_not_found")
    return _model_card(model_id)


def _check_openai_request(body: ChatCompletionRequest, settings: Settings) -> None:
    """What OpenAI clients may send that this server cannot honour: a 400 naming the field."""
    if body.model not in MODELS:
        raise ApiError(404, f"The model '{body.model}' does not exist; use one of: {', '.join(MODELS)}",
                       param="model", code="model_not_found")
    for name, why in UNSUPPORTED.items():
        if getattr(body, name) not in (None, False, [], {}):
            raise ApiError(400, f"{name}: {why}; leave it out", param=name, code="unsupported_parameter")
    if body.max_tokens and body.max_completion_tokens and body.max_tokens != body.max_completion_tokens:
        raise ApiError(400, "max_tokens and max_completion_tokens differ; send one", param="max_completion_tokens")
    if isinstance(body.stop, list) and len(body.stop) > 4:
        raise ApiError(400, "stop: at most 4 sequences", param="stop")
    limit = body.max_completion_tokens or body.max_tokens
    if limit is not None and limit > settings.llm_max_tokens * 4:
        name = "max_completion_tokens" if body.max_completion_tokens else "max_tokens"
        raise ApiError(400, f"{name}: at most {settings.llm_max_tokens * 4} here", param=name)


@openai_router.post("/v1/chat/completions")
def chat_completions(body: ChatCompletionRequest, archive: Store, settings: Config, request: Request) -> Any:
    _check_openai_request(body, settings)
    turns = [(m.role, _text(m.content)) for m in body.messages if m.role in ("user", "assistant")]
    if not turns or turns[-1][0] != "user":
        raise ApiError(400, "the last message must be from the user", param="messages")
    question = turns[-1][1]
    archive.check(question, body.k, "messages")
    limit = body.max_completion_tokens or body.max_tokens
    generation = {key: value for key, value in (("temperature", body.temperature), ("max_tokens", limit)) if value is not None}
    chosen = archive.filters(body.outlet, body.since, body.until, body.lang)
    history = history_pairs([(role, strip_evidence(text) if role == "assistant" else text) for role, text in turns[:-1]])
    stops = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    reply = Completion(f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time()), body.model,
                       bool(body.stream_options and body.stream_options.include_usage), [s for s in stops if s],
                       articles_url=f"{request.base_url}api/articles/")
    if body.compare_outlets or body.model.endswith(":compare"):
        answer = archive.ask(question, history, body.k, chosen, compare=True)
        if body.stream:
            return EventSourceResponse(iter([reply.chunk({"role": "assistant", "content": ""}),
                                             *reply.closing(answer, _with_sources(answer)), _sse(None, "[DONE]")]),
                                       headers=SSE_HEADERS)
        return {**reply.message(answer, _with_sources(answer)), "outlets": [o.to_dict() for o in answer.outlets]}
    if not body.stream:
        answer = archive.ask(question, history, body.k, chosen, generation=generation)
        return reply.message(answer, _with_sources(answer))

    def events(stop: threading.Event) -> Iterator[str]:
        yield reply.chunk({"role": "assistant", "content": ""})
        streamed = False
        for event in archive.stream(question, history, body.k, chosen, cancel=stop, generation=generation):
            if event.kind == "sources" and body.evidence and _evidence_text(event):
                yield from reply.say(_evidence_text(event))
            elif event.kind == "token":
                streamed = True
                yield from reply.say(event.text)
            elif event.answer is not None:
                tail = _with_sources(event.answer)
                if streamed:
                    block = event.answer.sources_block()
                    tail = REPLACED_NOTE + tail if event.replaced else (f"\n\nSources:\n{block}" if block else "")
                yield from reply.closing(event.answer, tail)
        yield _sse(None, "[DONE]")

    def failed(exc: BaseException) -> Iterator[str]:  # OpenAI's stream error: an `error` object, then the terminator
        yield _sse(None, {"error": openai_error(500 if not isinstance(exc, RagError) else 400, _stream_error_message(exc))})
        yield _sse(None, "[DONE]")

    return EventSourceResponse(pump(events, failed), headers=SSE_HEADERS)


def _stream_error_message(exc: BaseException) -> str:
    if isinstance(exc, RagError):
        return str(exc)
    return f"the answer failed ({type(exc).__name__}); the server log has the details"


def strip_evidence(text: str) -> str:
    """An assistant turn as a UI stored it from a stream, without the evidence preface and the sources block."""
    if text.startswith(("Best match [", "Passages:")) and "\nPassages:\n" in "\n" + text:
        cut = text.find("\n\n", ("\n" + text).find("\nPassages:\n"))
        text = text[cut + 2:] if cut >= 0 else ""
    if REPLACED_NOTE.strip() in text:
        text = text.split(REPLACED_NOTE.strip(), 1)[1]
    return text.split("\n\nSources:\n", 1)[0].strip()


@dataclass
class Completion:
    """One chat completion's identity and its OpenAI-shaped pieces (message, chunks, closing)."""

    id: str
    created: int
    model: str
    include_usage: bool
    stop: list[str] = field(default_factory=list)
    #: where an article without a web URL can be read (this server's /api/articles/{id})
    articles_url: str = "/api/articles/"
    sent: str = ""
    stopped: bool = False

    def chunk(self, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        return _sse(None, {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra})

    def say(self, text: str) -> Iterator[str]:
        """A content chunk, cut before a stop sequence (which may span chunks); nothing once stopped."""
        if self.stopped or not text:
            return
        whole = self.cut(self.sent + text)
        self.stopped = len(whole) < len(self.sent) + len(text)
        piece, self.sent = whole[len(self.sent):], whole
        if piece:
            yield self.chunk({"content": piece})

    def cut(self, text: str) -> str:
        found = [text.find(s) for s in self.stop if s in text]
        return text[: min(found)] if found else text

    def message(self, answer: Answer, content: str) -> dict[str, Any]:
        content = self.cut(content)
        return {"id": self.id, "object": "chat.completion", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                             "message": {"role": "assistant", "content": content, "refusal": None,
                                         "annotations": url_citations(content, answer, self.articles_url)}}],
                "usage": answer.usage, "citations": [citation_dict(c) for c in answer.citations]}

    def closing(self, answer: Answer, tail: str) -> Iterator[str]:
        """The answer's last pieces (a line at a time), the finishing chunk with citations, and the usage."""
        for piece in _pieces(tail):
            yield from self.say(piece)
        yield self.chunk({}, "stop", citations=[citation_dict(c) for c in answer.citations])
        if self.include_usage:  # OpenAI's last chunk: no choices, the usage of the whole answer
            yield _sse(None, {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                              "model": self.model, "choices": [], "usage": answer.usage})


def url_citations(content: str, answer: Answer, articles_url: str) -> list[dict[str, Any]]:
    """Citations as OpenAI `url_citation` annotations: each cited passage's first `[n]` in the text, with the
    article's web URL, or where this server shows the article when the corpus gave none."""
    found = []
    for citation in answer.citations:
        marker = f"[{citation.n}]"
        start = content.find(marker)
        if start < 0:
            continue
        web = (citation.url or "").lower().startswith(("http://", "https://"))
        url = citation.url if web else articles_url + quote(citation.article_id, safe="/")
        found.append({"type": "url_citation", "url_citation": {
            "start_index": start, "end_index": start + len(marker), "url": url,
            "title": f"{citation.outlet} — {citation.title}"}})
    return found


@page_router.get("/", include_in_schema=False)
def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html")



def _install_error_handlers(app: FastAPI) -> None:
    """Every error in the shape its API uses (OpenAI's on /v1/*, FastAPI's `detail` elsewhere): a field that
    cannot be used as given is a 422 naming it, something the archive does not hold a 404, never a 500."""

    @app.exception_handler(RagError)
    async def rag_error(request: Request, exc: RagError) -> JSONResponse:
        if isinstance(exc, (InputError, FilterError)):  # a field that cannot be used as given
            return _error(request, 422, str(exc), param=exc.field)
        if isinstance(exc, NotFoundError):
            return _error(request, 404, str(exc))
        return _error(request, 400, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(request, exc.status_code, str(exc.detail), exc.headers,
                      getattr(exc, "param", None), getattr(exc, "code", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if errors and errors[0].get("type") == "json_invalid":
            return _error(request, 422, f"the body is not valid JSON ({errors[0].get('ctx', {}).get('error', 'cannot parse')}); "
                                        "send a JSON object", param="body")
        if not request.url.path.startswith("/v1/"):
            return JSONResponse({"detail": _printable(jsonable_encoder(errors))}, status_code=422)
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"{where}: {first.get('msg', 'invalid request')}" if where else str(first.get("msg", "invalid request"))
        return _error(request, 422, message, param=where or None)


def create_app(settings: Settings, engine: AnswerEngine | None = None, bind_host: str = "127.0.0.1") -> FastAPI:
    """The ASGI app; `engine` defaults to the configured index and LLM (loaded once, here).

    Public without a key: the chat page's shell (`/`, no archive data in it) and `/healthz`. Everything
    else — the API, `/openapi.json`, `/docs` — needs the key when RAG_API_KEY is set.
    """
    if engine is None:
        from rag.answer.engine import open_answer_engine

        engine = open_answer_engine(settings)
    from rag import __version__

    app = FastAPI(
        title="rag",
        version=__version__,
        description="Cited answers from news articles. OpenAI-compatible chat API plus a native JSON API.",
        # operationIds are the endpoint functions' names (ask, search, chat_completions, …): stable for clients
        generate_unique_id_function=lambda route: route.name,
        openapi_url=None, docs_url=None, redoc_url=None,  # served by schema_router, behind the key
    )
    app.state.engine = engine
    app.state.settings = settings
    app.state.archive = Archive(settings, engine)
    app.state.archive.warm()  # a server lives long: read the index's pages ahead once
    # added innermost first: the body limit's 413 still gets CORS headers; the Host check comes before all
    app.add_middleware(JsonBody)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"], allow_headers=["*"])
    app.add_middleware(HostGuard, hosts=allowed_hosts(bind_host, settings.allowed_hosts))

    _install_error_handlers(app)

    from rag.live.routes import router as live_router

    for router in (native_router, openai_router, schema_router, page_router):
        app.include_router(router)
    app.include_router(live_router, dependencies=[Depends(authorize)])
    return app


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000, insecure: bool = False) -> None:
    import uvicorn

    check_bind(host, settings.api_key, insecure, "rag serve")
    # SIGTERM (docker stop, systemd) ends open streams after this many seconds instead of
    # waiting for them; the stream threads are daemons and stop at their next token.
    uvicorn.run(create_app(settings, bind_host=host), host=host, port=port, log_level="info", timeout_graceful_shutdown=3)
