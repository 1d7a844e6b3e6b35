"""LangChain integration: the index as a `BaseRetriever`.

    from rag.surfaces.langchain import RagRetriever
    retriever = RagRetriever(index_dir="index", k=5, outlet="SANA")
    docs = retriever.invoke("What did Lavrov say about Raqqa?")

Each `Document` is one passage; its metadata names the article, outlet, date and
URL, so a chain's own model can cite it.
"""

from __future__ import annotations

from pathlib import Path
from collections.abc import AsyncIterator, Iterator

from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import run_in_executor
from pydantic import ConfigDict, PrivateAttr

from rag.answer.engine import history_pairs
from rag.config import Settings
from rag.errors import RagError
from rag.retrieval import Retriever
from rag.news.filters import Filters
from rag.validation import check_question


#: the fields a call may override
PER_CALL = frozenset({"k", "outlet", "since", "until", "lang", "per_article"})


class RagRetriever(BaseRetriever):
    """Hybrid search with cross-lingual names over a built index, as LangChain documents."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index_dir: str | None = None
    k: int = 5
    outlet: str | None = None
    since: str | None = None
    until: str | None = None
    lang: str | None = None
    per_article: bool = False
    _retriever: Retriever | None = PrivateAttr(default=None)
    _settings: Settings | None = PrivateAttr(default=None)

    @classmethod
    def from_settings(cls, settings: Settings, **fields: Any) -> "RagRetriever":
        retriever = cls(index_dir=str(settings.index_dir), **fields)
        retriever._settings = settings
        return retriever

    @classmethod
    def from_retriever(cls, retriever: Retriever, **fields: Any) -> "RagRetriever":
        """Over an already open `rag.retrieval.Retriever` (shares its models and index)."""
        wrapped = cls(index_dir=str(retriever.store.index_dir), **fields)
        wrapped._retriever = retriever
        return wrapped

    def _open(self) -> Retriever:
        if self._retriever is None:
            from rag import load_settings, open_retriever

            settings = self._settings or load_settings(index_dir=Path(self.index_dir) if self.index_dir else None)
            self._retriever = open_retriever(settings)
        return self._retriever

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                **kwargs: Any) -> list[Document]:
        """`kwargs` override the fields for this call (`invoke(q, k=1, outlet="SANA")`), as LangChain's
        retrievers do; an unknown one is an error, never ignored."""
        unknown = set(kwargs) - PER_CALL
        if unknown:
            raise RagError(f"unknown search option(s) {', '.join(sorted(unknown))}; use {', '.join(sorted(PER_CALL))}")
        options = {name: kwargs.get(name, getattr(self, name)) for name in PER_CALL}
        retriever = self._open()
        check_question(self._settings or Settings(), query, options["k"], "query")
        filters = Filters.parse(options["outlet"], options["since"], options["until"], options["lang"])
        retriever.refresh()
        result = retriever.search(query, k=options["k"], filters=filters, per_article=options["per_article"])
        documents = []
        for hit in result.hits:
            c = hit.chunk
            metadata: dict[str, Any] = {
                **c.article.to_dict(), "chunk_id": c.chunk_id, "score": round(float(hit.score), 6), "rank": hit.rank,
                "also_reported_by": [a.copy_ref() for a in hit.also_reported_by],
            }
            if hit.speaker and hit.quote_type in ("direct", "reported", "mention"):
                metadata.update(speaker=hit.speaker, quote_type=hit.quote_type)
            if result.expansion.aliases:
                metadata["aliases"] = {a.name: a.alias for a in result.expansion.aliases}
            documents.append(Document(page_content=c.text, metadata=metadata, id=c.chunk_id))
        return documents

    async def _aget_relevant_documents(self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun,
                                       **kwargs: Any) -> list[Document]:
        """The same search in an executor thread (it is blocking), with the same per-call options."""
        return await run_in_executor(None, self._get_relevant_documents, query,
                                     run_manager=run_manager.get_sync(), **kwargs)


def _question_and_history(value: Any) -> tuple[str, list[tuple[str, str]]]:
    """A question string, {"question": …, "history": [(q, a)…]}, or chat messages (dicts or LangChain messages)."""
    if isinstance(value, str):
        return value, []
    if isinstance(value, dict) and "question" in value:
        return str(value["question"]), [tuple(pair) for pair in value.get("history", [])]  # type: ignore[misc]
    messages = value.get("messages") if isinstance(value, dict) else value
    if not isinstance(messages, list) or not messages:
        raise RagError("pass a question, {'question': …} or a list of chat messages")
    turns = []
    for m in messages:
        role = m.get("role") if isinstance(m, dict) else {"human": "user", "ai": "assistant"}.get(m.type, m.type)
        content = m.get("content") if isinstance(m, dict) else m.content
        turns.append((role, str(content)))
    if turns[-1][0] != "user":
        raise RagError("the last message must be from the user")
    return turns[-1][1], history_pairs(turns[:-1])


class AnswerRunnable(Runnable[Any, dict[str, Any]]):
    """`AnswerEngine` as a LangChain `Runnable`: a question (or chat messages) in, the answer dict out.

    `invoke`/`ainvoke` return the answer; `stream`/`astream` yield the same typed events (`sources`, `token`…,
    `answer`). Every call runs under LangChain's callbacks (a chain run with its input and output), so tracing
    sees it.
    """

    name = "rag-answer"

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        return self._call_with_config(self._answer, input, config, run_type="chain")

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[dict[str, Any]]:
        yield from self._transform_stream_with_config(iter([input]), self._events, config, run_type="chain")

    async def astream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> AsyncIterator[dict[str, Any]]:
        """The events of `stream`, each fetched in an executor thread (the model is blocking)."""
        events = self.stream(input, config, **kwargs)
        done = object()
        try:
            while (event := await run_in_executor(config, next, events, done)) is not done:
                yield event
        finally:
            events.close()

    def _answer(self, input: Any) -> dict[str, Any]:
        question, history = _question_and_history(input)
        return self.engine.ask(question, history).to_dict()

    def _events(self, inputs: Iterator[Any]) -> Iterator[dict[str, Any]]:
        for value in inputs:
            question, history = _question_and_history(value)
            for event in self.engine.stream(question, history):
                if event.kind == "sources":
                    yield {"type": "sources", "sources": [s.to_dict() for s in event.sources],
                           "quote": event.quote.to_dict() if event.quote else None}
                elif event.kind == "token":
                    yield {"type": "token", "text": event.text}
                elif event.answer is not None:
                    yield {"type": "answer", **event.answer.to_dict(), "replaced": event.replaced}
