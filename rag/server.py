"""HTTP backend for chat UIs: OpenAI-compatible API, native JSON API, a chat page.

One process holds the index and the models. Requests that need the local LLM
queue on its lock (rag.llms.LlamaCppChat); searches do not wait for it. Every
request first checks whether `rag index update` swapped in a new index
generation, so updates show up without a restart, and a request in flight
keeps the generation it started with.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from rag.answer import Answer, AnswerEngine, Citation, Source
from rag.config import Settings
from rag.corpus import parse_date
from rag.errors import RagError
from rag.store import Filters

STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY_BYTES = 256 * 1024
MODEL_ID = "rag"


# -- request / response models -------------------------------------------------------


class SearchRequest(BaseModel):
    query: str = Field(min_length=1, description="Question or keywords, any language.")
    k: int = Field(5, ge=1, description="Number of passages.")
    outlet: str | None = None
    since: str | None = Field(None, description="YYYY-MM-DD")
    until: str | None = Field(None, description="YYYY-MM-DD")
    lang: str | None = None
    per_article: bool = False


class Hit(BaseModel):
    rank: int
    score: float
    article_id: str
    title: str
    outlet: str
    date: str | None
    url: str | None
    source_path: str
    chunk_id: str
    text: str


class SearchResponse(BaseModel):
    query: str
    hits: list[Hit]
    expansions: list[dict[str, Any]] | None = None


class Turn(BaseModel):
    role: Literal["user", "assistant"]
    content: str


class AskRequest(BaseModel):
    question: str = Field(min_length=1)
    k: int | None = Field(None, ge=1)
    outlet: str | None = None
    since: str | None = None
    history: list[Turn] = Field(default_factory=list, description="Earlier turns, oldest first.")
    stream: bool = Field(False, description="Server-sent events: token, citations, done.")


class AskResponse(BaseModel):
    question: str
    answer: str
    language: str
    abstained: bool
    citations: list[Citation]
    sources: list[Source]
    timings: dict[str, float | None]


class StatusResponse(BaseModel):
    articles: int
    chunks: int
    outlets: dict[str, int]
    embedder: str
    index_dir: str


class ChatMessage(BaseModel):
    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionRequest(BaseModel):
    model: str = MODEL_ID
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    temperature: float | None = None
    max_tokens: int | None = None


# -- helpers ----------------------------------------------------------------------------


def _text(content: str | list[dict[str, Any]] | None) -> str:
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return content or ""


def _history(turns: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(question, answer) pairs from alternating user/assistant messages."""
    pairs: list[tuple[str, str]] = []
    pending: str | None = None
    for role, content in turns:
        if role == "user":
            pending = content
        elif role == "assistant" and pending is not None:
            pairs.append((pending, content))
            pending = None
    return pairs


def _sse(event: str | None, data: Any) -> str:
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return (f"event: {event}\n" if event else "") + f"data: {payload}\n\n"


def _with_sources(answer: Answer) -> str:
    block = answer.sources_block()
    return f"{answer.answer}\n\nSources:\n{block}" if block and not answer.abstained else answer.answer


REPLACED_NOTE = "\n\n(The model's answer was not supported by its sources; quoting them instead.)\n\n"


def create_app(settings: Settings, engine: AnswerEngine | None = None) -> FastAPI:
    """The ASGI app; `engine` defaults to the configured index and LLM (loaded once, here)."""
    if engine is None:
        from rag.answer import open_answer_engine

        engine = open_answer_engine(settings)
    app = FastAPI(
        title="rag",
        version="0.1.0",
        description="Cited answers from news articles. OpenAI-compatible chat API plus a native JSON API.",
    )
    app.state.engine = engine
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"], allow_headers=["*"])

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Any) -> Any:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
            return JSONResponse({"detail": f"request body over {MAX_BODY_BYTES} bytes"}, status_code=413)
        return await call_next(request)

    @app.exception_handler(RagError)
    async def rag_error(request: Request, exc: RagError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    def authorize(request: Request) -> None:
        if not settings.api_key:
            return
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
        if not secrets.compare_digest(token.encode(), settings.api_key.encode()):
            raise HTTPException(401, "missing or wrong bearer token (RAG_API_KEY is set)", headers={"WWW-Authenticate": "Bearer"})

    def check_question(text: str, k: int | None) -> None:
        if len(text) > settings.max_question_chars:
            raise HTTPException(422, f"question is over {settings.max_question_chars} characters")
        if k is not None and k > settings.max_k:
            raise HTTPException(422, f"k is over the limit of {settings.max_k}")

    def filters(outlet: str | None, since: str | None, until: str | None = None, lang: str | None = None) -> Filters:
        for name, value in (("since", since), ("until", until)):
            if value and parse_date(value) is None:
                raise HTTPException(422, f"{name} {value!r} is not a date; use YYYY-MM-DD")
        return Filters(outlet=outlet, since=parse_date(since), until=parse_date(until), lang=lang)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/status", response_model=StatusResponse, dependencies=[Depends(authorize)])
    def status() -> dict[str, Any]:
        engine.retriever.refresh()
        return engine.retriever.store.status()

    @app.post("/api/search", response_model=SearchResponse, response_model_exclude_none=True, dependencies=[Depends(authorize)])
    def search(body: SearchRequest) -> dict[str, Any]:
        check_question(body.query, body.k)
        engine.retriever.refresh()
        result = engine.retriever.search(
            body.query, k=body.k, filters=filters(body.outlet, body.since, body.until, body.lang), per_article=body.per_article
        )
        return result.to_dict()

    @app.post("/api/ask", response_model=AskResponse, dependencies=[Depends(authorize)],
              responses={200: {"content": {"text/event-stream": {}}}})
    def ask(body: AskRequest) -> Any:
        check_question(body.question, body.k)
        history = _history([(t.role, t.content) for t in body.history])
        chosen = filters(body.outlet, body.since)
        if not body.stream:
            return engine.ask(body.question, history, body.k, chosen).to_dict()

        def events() -> Iterator[str]:
            try:
                for event in engine.stream(body.question, history, body.k, chosen):
                    if event.kind == "token":
                        yield _sse("token", {"text": event.text})
                    elif event.answer is not None:
                        yield _sse("citations", {**event.answer.to_dict(), "replaced": event.replaced})
                yield _sse("done", {})
            except RagError as exc:
                yield _sse("error", {"detail": str(exc)})

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.get("/v1/models", dependencies=[Depends(authorize)])
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "rag"}]}

    @app.post("/v1/chat/completions", dependencies=[Depends(authorize)])
    def chat_completions(body: ChatCompletionRequest) -> Any:
        turns = [(m.role, _text(m.content)) for m in body.messages if m.role in ("user", "assistant")]
        if not turns or turns[-1][0] != "user":
            raise HTTPException(422, "the last message must be from the user")
        question = turns[-1][1]
        check_question(question, None)
        history = _history(turns[:-1])
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
            data = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": body.model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
            return _sse(None, data)

        if not body.stream:
            answer = engine.ask(question, history)
            return {
                "id": completion_id, "object": "chat.completion", "created": created, "model": body.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": _with_sources(answer)}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
                "citations": [c.__dict__ for c in answer.citations],
            }

        def events() -> Iterator[str]:
            yield chunk({"role": "assistant", "content": ""})
            try:
                yield from answer_events()
            except RagError as exc:  # e.g. the model file vanished: say so in the stream, then end it
                yield chunk({"content": f"\n\nerror: {exc}"})
                yield chunk({}, "stop")
            yield _sse(None, "[DONE]")

        def answer_events() -> Iterator[str]:
            streamed = False
            for event in engine.stream(question, history):
                if event.kind == "token":
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
                    if tail:
                        yield chunk({"content": tail})
                    yield chunk({}, "stop", citations=[c.__dict__ for c in answer.citations])

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    return app


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000) -> None:
    import uvicorn

    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
