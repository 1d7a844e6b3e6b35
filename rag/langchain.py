"""LangChain integration: the index as a `BaseRetriever`.

    from rag.langchain import RagRetriever
    retriever = RagRetriever(index_dir="index", k=5, outlet="SANA")
    docs = retriever.invoke("What did Lavrov say about Raqqa?")

Each `Document` is one passage; its metadata names the article, outlet, date and
URL, so a chain's own model can cite it.
"""

from __future__ import annotations

from pathlib import Path
from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import ConfigDict, PrivateAttr

from rag.answer import history_pairs
from rag.config import Settings
from rag.errors import RagError
from rag.retrieval import Retriever
from rag.store import Filters


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

    def _filters(self) -> Filters:
        return Filters.parse(self.outlet, self.since, self.until, self.lang)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        retriever = self._open()
        retriever.refresh()
        result = retriever.search(query, k=self.k, filters=self._filters(), per_article=self.per_article)
        documents = []
        for hit in result.hits:
            c = hit.chunk
            metadata: dict[str, Any] = {
                "article_id": c.article_id, "title": c.title, "outlet": c.outlet, "date": c.date, "url": c.url,
                "chunk_id": c.chunk_id, "source_path": c.source_path, "score": round(float(hit.score), 6),
                "rank": hit.rank, "story_id": c.story or c.article_id,
                "also_reported_by": [{"article_id": a.id, "outlet": a.outlet, "date": a.date, "url": a.url} for a in hit.also_reported_by],
            }
            if hit.speaker and hit.quote_type in ("direct", "reported", "mention"):
                metadata.update(speaker=hit.speaker, quote_type=hit.quote_type)
            if result.expansion.aliases:
                metadata["aliases"] = {a.name: a.surface for a in result.expansion.aliases}
            documents.append(Document(page_content=c.text, metadata=metadata, id=c.chunk_id))
        return documents


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
    """`AnswerEngine` as a LangChain `Runnable`: the answer dict out; `stream` yields the engine's events."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        question, history = _question_and_history(input)
        return self.engine.ask(question, history).to_dict()

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[dict[str, Any]]:
        from dataclasses import asdict

        question, history = _question_and_history(input)
        for event in self.engine.stream(question, history):
            if event.kind == "sources":
                yield {"type": "sources", "sources": [asdict(s) for s in event.sources],
                       "quote": asdict(event.quote) if event.quote else None}
            elif event.kind == "token":
                yield {"type": "token", "text": event.text}
            elif event.answer is not None:
                yield {"type": "answer", **event.answer.to_dict(), "replaced": event.replaced}
