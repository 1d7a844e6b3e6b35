"""HTTP backend for chat UIs: OpenAI-compatible API, native JSON API, a chat page.

One process holds the index and the models. Requests that need the local LLM
queue on its lock (rag.llms.LlamaCppChat); searches do not wait for it. Every
request first checks whether `rag index update` swapped in a new index
generation, so updates show up without a restart, and a request in flight
keeps the generation it started with.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
import uuid
from dataclasses import asdict
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from fastapi.sse import EventSourceResponse
from pydantic import BaseModel, Field

from rag.answer import Answer, AnswerEngine, Citation, Event, Source, citation_dict, history_pairs, source_line
from rag.claims import Claim
from rag.config import Settings
from rag.errors import FilterError, RagError
from rag.store import Filters

STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY_BYTES = 256 * 1024
MODEL_ID = "rag"
# Declared so that it shows in /openapi.json; checked by `authorize` only when RAG_API_KEY is set.
BEARER = HTTPBearer(auto_error=False, description="RAG_API_KEY, when the server has one")


# -- request / response models -------------------------------------------------------


class SearchRequest(BaseModel):
    query: str = Field(min_length=1, description="Question or keywords, any language.")
    k: int = Field(5, ge=1, description="Number of passages.")
    outlet: str | None = Field(None, description="Only this outlet, in either script or as a domain.")
    since: str | None = Field(None, description="YYYY-MM-DD (or YYYY-MM, YYYY)")
    until: str | None = Field(None, description="YYYY-MM-DD (or YYYY-MM, YYYY)")
    lang: str | None = None
    per_article: bool = False
    all_copies: bool = Field(False, description="Every copy of a story, not one hit per story.")
    diverse: int | None = Field(None, ge=1, description="At most this many passages per outlet (then by score).")


class Copy(BaseModel):
    article_id: str
    outlet: str
    date: str | None
    url: str | None


class Hit(BaseModel):
    rank: int
    score: float
    article_id: str
    title: str
    outlet: str
    date: str | None
    date_source: str | None = None
    url: str | None
    source_path: str
    chunk_id: str
    text: str
    speaker: str | None = None
    quote_type: str | None = None
    story_id: str
    first_report: bool
    also_reported_by: list[Copy]


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


class Turn(BaseModel):
    role: Literal["user", "assistant"]
    content: str


class Filtered(BaseModel):
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


class ChatMessage(BaseModel):
    role: str
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(Filtered):
    """OpenAI's request; `outlet`, `since`, `until`, `lang` and `k` may come as extra body fields."""

    k: int | None = Field(None, ge=1)
    model: str = MODEL_ID
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    temperature: float | None = Field(None, ge=0.0, le=2.0, description="Passed to the model.")
    max_tokens: int | None = Field(None, ge=1, description="Caps the model's answer (at most llm_max_tokens × 4).")
    stop: str | list[str] | None = Field(None, description="Not supported: answers are checked JSON claims; a 422 says so.")
    n: int | None = Field(None, ge=1, le=1, description="One choice only.")
    stream_options: StreamOptions | None = None
    compare_outlets: bool = Field(False, description="How the outlets reported it (also: model \"rag:compare\").")


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
        message = f"request body over {self.max_bytes} bytes"
        body: dict[str, Any] = {"detail": message}
        if str(scope.get("path", "")).startswith("/v1/"):
            body = {"error": {"message": message, "type": "invalid_request_error", "code": 413}}
        await JSONResponse(body, status_code=413)({"type": "http"}, None, send)  # type: ignore[arg-type]


# -- helpers ----------------------------------------------------------------------------


def _text(content: str | list[dict[str, Any]] | None) -> str:
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return content or ""


_END = object()
# While the model thinks (prompt evaluation, a long claim) a comment line goes out this often:
# proxies keep the connection, and writing is how the server learns that a client has left.
KEEPALIVE_S = 1.0


async def pump(make_events: Callable[[threading.Event], Iterator[str]]) -> AsyncIterator[str]:
    """Run a blocking event generator in its own thread and relay what it yields.

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
                raise item
            yield item
    finally:
        stop.set()


def _sse(event: str | None, data: Any) -> str:
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return (f"event: {event}\n" if event else "") + f"data: {payload}\n\n"


SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
                413: "invalid_request_error", 422: "invalid_request_error"}


def _error(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """OpenAI's error shape on /v1/*, FastAPI's `{"detail"}` on the native API."""
    if request.url.path.startswith("/v1/"):
        body: dict[str, Any] = {"error": {"message": message, "type": _ERROR_TYPES.get(status, "server_error"),
                                          "code": status}}
    else:
        body = {"detail": message}
    return JSONResponse(body, status_code=status, headers=headers)


def _pieces(text: str) -> list[str]:
    """Text split after each line, so a client renders it as it arrives."""
    return [line for line in text.splitlines(keepends=True) if line]


def _with_sources(answer: Answer) -> str:
    block = answer.sources_block()
    return f"{answer.answer}\n\nSources:\n{block}" if block and not answer.abstained else answer.answer


REPLACED_NOTE = "\n\n(Those claims do not answer the question.)\n\n"


def _evidence_text(event: Event) -> str:
    """The first thing an OpenAI-API client sees: the best quote and the passages found."""
    if not event.sources:
        return ""
    lines = []
    if event.quote is not None:
        lines.append(f"Best match [{event.quote.n}] {event.quote.outlet}: “{event.quote.quote}”")
    lines += ["Passages:", *(source_line(s) for s in event.sources)]
    return "\n".join(lines) + "\n\n"


def _engine(request: Request) -> AnswerEngine:
    return request.app.state.engine


def _settings(request: Request) -> Settings:
    return request.app.state.settings


#: what endpoints take from the app (set by `create_app`), so routers hold no globals
Engine = Annotated[AnswerEngine, Depends(_engine)]
Config = Annotated[Settings, Depends(_settings)]


def authorize(request: Request, credentials: HTTPAuthorizationCredentials | None = Security(BEARER)) -> None:
    """The bearer token, when the server has one (RAG_API_KEY)."""
    api_key = request.app.state.settings.api_key
    if not api_key:
        return
    token = credentials.credentials if credentials and credentials.scheme.lower() == "bearer" else ""
    if not secrets.compare_digest(token.encode(), api_key.encode()):
        raise HTTPException(401, "missing or wrong bearer token (RAG_API_KEY is set)", headers={"WWW-Authenticate": "Bearer"})


def check_question(settings: Settings, text: str, k: int | None) -> None:
    if len(text) > settings.max_question_chars:
        raise HTTPException(422, f"question is over {settings.max_question_chars} characters")
    if k is not None and k > settings.max_k:
        raise HTTPException(422, f"k is over the limit of {settings.max_k}")


def parse_filters(outlet: str | None, since: str | None, until: str | None = None, lang: str | None = None) -> Filters:
    try:
        return Filters.parse(outlet, since, until, lang)
    except FilterError as exc:
        raise HTTPException(422, str(exc)) from None


#: the native JSON API (/api/*), the OpenAI-compatible one (/v1/*), and the chat page with the health check
native_router = APIRouter(dependencies=[Depends(authorize)], tags=["native"])
openai_router = APIRouter(dependencies=[Depends(authorize)], tags=["openai"])
page_router = APIRouter()


@page_router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}

@native_router.get("/api/status", response_model=StatusResponse)
def status(engine: Engine) -> dict[str, Any]:
    engine.retriever.refresh()
    return engine.retriever.store.status()

@native_router.post("/api/search", response_model=SearchResponse, response_model_exclude_none=True)
def search(body: SearchRequest, engine: Engine, settings: Config) -> dict[str, Any]:
    check_question(settings, body.query, body.k)
    engine.retriever.refresh()
    result = engine.retriever.search(
        body.query, k=body.k, filters=parse_filters(body.outlet, body.since, body.until, body.lang), per_article=body.per_article,
        all_copies=body.all_copies, diverse=body.diverse,
    )
    return result.to_dict()

@native_router.get("/api/articles")
def list_articles(engine: Engine, outlet: str | None = None, since: str | None = None, until: str | None = None, lang: str | None = None,
                  limit: int = Query(20, ge=1, le=1000), offset: int = Query(0, ge=0)) -> dict[str, Any]:
    engine.retriever.refresh()
    total, articles = engine.retriever.store.list_articles(parse_filters(outlet, since, until, lang), offset, limit)
    return {"total": total, "offset": offset, "articles": [a.to_dict() for a in articles]}

@native_router.get("/api/articles/{article_id:path}")
def get_article(article_id: str, engine: Engine) -> dict[str, Any]:
    engine.retriever.refresh()
    store = engine.retriever.store
    article = store.find_articles([article_id]).get(article_id)
    if article is None:
        raise HTTPException(404, f"no article {article_id!r}; GET /api/articles lists them")
    return {**article.to_dict(), "text": store.article_text(article_id)}

@native_router.post("/api/ask", response_model=AskResponse,
          responses={200: {"content": {"text/event-stream": {}}}})
def ask(body: AskRequest, engine: Engine, settings: Config) -> Any:
    check_question(settings, body.question, body.k)
    history = history_pairs([(t.role, t.content) for t in body.history])
    chosen = parse_filters(body.outlet, body.since, body.until, body.lang)
    if body.compare_outlets:
        compared = engine.compare(engine.condense(body.question, history), body.k, chosen).to_dict()
        if not body.stream:
            return compared
        return EventSourceResponse(iter([_sse("citations", {**compared, "replaced": False}), _sse("done", {})]),
                                   headers=SSE_HEADERS)
    if not body.stream:
        return engine.ask(body.question, history, body.k, chosen).to_dict()

    def events(stop: threading.Event) -> Iterator[str]:
        try:
            for event in engine.stream(body.question, history, body.k, chosen, cancel=stop):
                if event.kind == "sources":
                    yield _sse("sources", {"sources": [asdict(x) for x in event.sources],
                                           "quote": asdict(event.quote) if event.quote else None})
                elif event.kind == "token":
                    yield _sse("token", {"text": event.text})
                elif event.answer is not None:
                    yield _sse("citations", {**event.answer.to_dict(), "replaced": event.replaced})
            yield _sse("done", {})
        except RagError as exc:
            yield _sse("error", {"detail": str(exc)})

    return EventSourceResponse(pump(events), headers=SSE_HEADERS)

@openai_router.get("/v1/models")
def models() -> dict[str, Any]:
    return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "rag"}]}

@openai_router.post("/v1/chat/completions")
def chat_completions(body: ChatCompletionRequest, engine: Engine, settings: Config) -> Any:
    turns = [(m.role, _text(m.content)) for m in body.messages if m.role in ("user", "assistant")]
    if not turns or turns[-1][0] != "user":
        raise HTTPException(422, "the last message must be from the user")
    question = turns[-1][1]
    check_question(settings, question, body.k)
    if body.stop:
        raise HTTPException(422, "stop: stop sequences are not supported (answers are checked JSON claims); leave it out")
    if body.max_tokens is not None and body.max_tokens > settings.llm_max_tokens * 4:
        raise HTTPException(422, f"max_tokens: at most {settings.llm_max_tokens * 4} here")
    generation = {key: value for key, value in (("temperature", body.temperature), ("max_tokens", body.max_tokens)) if value is not None}
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    chosen = parse_filters(body.outlet, body.since, body.until, body.lang)
    history = history_pairs(turns[:-1])
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        data = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": body.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return _sse(None, data)

    if body.compare_outlets or body.model.endswith(":compare"):
        answer = engine.compare(engine.condense(question, history), body.k, chosen)
        content = _with_sources(answer)
        if body.stream:
            pieces = [chunk({"role": "assistant", "content": ""}), *(chunk({"content": p}) for p in _pieces(content)),
                      chunk({}, "stop", citations=[citation_dict(c) for c in answer.citations]), _sse(None, "[DONE]")]
            return EventSourceResponse(iter(pieces), headers=SSE_HEADERS)
        return {
            "id": completion_id, "object": "chat.completion", "created": created, "model": body.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            "citations": [citation_dict(c) for c in answer.citations],
            "outlets": [o.to_dict() for o in answer.outlets],
        }
    if not body.stream:
        answer = engine.ask(question, history, body.k, chosen, generation)
        return {
            "id": completion_id, "object": "chat.completion", "created": created, "model": body.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": _with_sources(answer)}, "finish_reason": "stop"}],
            "usage": answer.usage,
            "citations": [citation_dict(c) for c in answer.citations],
        }

    def events(stop: threading.Event) -> Iterator[str]:
        yield chunk({"role": "assistant", "content": ""})
        try:
            yield from answer_events(stop)
        except RagError as exc:  # e.g. the model file vanished: say so in the stream, then end it
            yield chunk({"content": f"\n\nerror: {exc}"})
            yield chunk({}, "stop")
        yield _sse(None, "[DONE]")

    def answer_events(stop: threading.Event) -> Iterator[str]:
        streamed = False
        for event in engine.stream(question, history, body.k, chosen, cancel=stop, generation=generation):
            if event.kind == "sources":
                evidence = _evidence_text(event)
                if evidence:
                    yield chunk({"content": evidence})
            elif event.kind == "token":
                streamed = True
                yield chunk({"content": event.text})
            elif event.answer is not None:
                answer = event.answer
                if not streamed:
                    tail = _with_sources(answer)
                elif event.replaced:
                    tail = REPLACED_NOTE + _with_sources(answer)
                else:
                    block = answer.sources_block()
                    tail = f"\n\nSources:\n{block}" if block else ""
                # the answer arrives in pieces (a line at a time), not as one chunk at the end
                for piece in _pieces(tail):
                    yield chunk({"content": piece})
                yield chunk({}, "stop", citations=[citation_dict(c) for c in answer.citations])
                if include_usage:  # OpenAI's last chunk: no choices, the usage of the whole answer
                    yield _sse(None, {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                                      "model": body.model, "choices": [], "usage": answer.usage})

    return EventSourceResponse(pump(events), headers=SSE_HEADERS)

@page_router.get("/", include_in_schema=False)
def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html")



def create_app(settings: Settings, engine: AnswerEngine | None = None) -> FastAPI:
    """The ASGI app; `engine` defaults to the configured index and LLM (loaded once, here)."""
    if engine is None:
        from rag.answer import open_answer_engine

        engine = open_answer_engine(settings)
    app = FastAPI(
        title="rag",
        version="0.1.0",
        description="Cited answers from news articles. OpenAI-compatible chat API plus a native JSON API.",
        # operationIds are the endpoint functions' names (ask, search, chat_completions, …): stable for clients
        generate_unique_id_function=lambda route: route.name,
    )
    app.state.engine = engine
    app.state.settings = settings
    engine.retriever.warm_in_background()  # a server lives long: read the index's pages ahead once
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"], allow_headers=["*"])

    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)

    @app.exception_handler(RagError)
    async def rag_error(request: Request, exc: RagError) -> JSONResponse:
        return _error(request, 400, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(request, exc.status_code, str(exc.detail), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        if not request.url.path.startswith("/v1/"):
            return JSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return _error(request, 422, f"{where}: {first.get('msg', 'invalid request')}" if where else "invalid request")

    for router in (native_router, openai_router, page_router):
        app.include_router(router)
    return app


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000) -> None:
    import uvicorn

    # SIGTERM (docker stop, systemd) ends open streams after this many seconds instead of
    # waiting for them; the stream threads are daemons and stop at their next token.
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info", timeout_graceful_shutdown=3)
