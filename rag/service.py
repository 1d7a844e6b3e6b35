"""The archive as every surface sees it: one service under the CLI, the HTTP API, MCP and LangChain.

    archive = Archive.open(settings)          # the index now; the LLM on the first question
    archive.search(query, k, archive.filters(outlet=…, since=…))
    archive.ask(question) / archive.stream(question) / archive.compare(question)
    archive.article(id) · archive.articles(filters) · archive.outlets() · archive.status()
    archive.story(id) · archive.timeline(subject, filters)

Each operation reads the newest generation (another process may have updated the index), validates what
it is given with the one validator (`check`, `filters`: the same messages on every surface) and raises a
`RagError` a surface turns into its own error shape (a CLI line, a 4xx, an MCP tool error). A surface is
argument parsing, one `Archive` call and rendering.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

from rag.config import Settings
from rag.errors import NotFoundError
from rag.news.filters import Filters


class Archive:
    def __init__(self, settings: Settings, engine: Any = None, retriever: Any = None) -> None:
        self.settings = settings
        self._engine = engine
        self._retriever = retriever if retriever is not None else (engine.retriever if engine is not None else None)
        self._store: Any = None
        self._lock = threading.Lock()

    @classmethod
    def open(cls, settings: Settings, engine: Any = None) -> "Archive":
        return cls(settings, engine)

    # --- what it is made of (opened on first use) -----------------------------------------

    @property
    def engine(self) -> Any:
        """The answer engine (retriever + the configured LLM), loaded on the first question."""
        with self._lock:
            if self._engine is None:
                from rag.answer.engine import open_answer_engine

                self._engine = open_answer_engine(self.settings, retriever=self._retriever)  # one retriever for both
                self._retriever = self._engine.retriever
            return self._engine

    @property
    def retriever(self) -> Any:
        """The retriever on the newest generation (no LLM is loaded for it)."""
        with self._lock:
            if self._retriever is None:
                from rag import open_retriever

                self._retriever = open_retriever(self.settings)
        self._retriever.refresh()
        return self._retriever

    @property
    def store(self) -> Any:
        """The newest generation; the retriever's when one is open, else the index alone (listing articles,
        status and stories need no model)."""
        if self._retriever is not None:
            return self.retriever.store
        from rag.index.store import IndexStore

        with self._lock:
            if self._store is None or not self._store.is_current():
                self._store = IndexStore.open(self.settings.index_dir)
            return self._store

    def warm(self) -> None:
        """A long-lived process (server, MCP session): read the index's pages ahead, and each new segment's."""
        self.retriever.warm_in_background()

    # --- validation (the same on every surface) --------------------------------------------

    def check(self, text: str, k: int | None = None, field: str = "question") -> None:
        from rag.validation import check_question

        check_question(self.settings, text, k, field)

    def filters(self, outlet: str | None = None, since: str | None = None, until: str | None = None,
                lang: str | None = None) -> Filters:
        """Filters as typed, validated against the live index (an unknown outlet is an error here, before
        any answer starts)."""
        filters = Filters.parse(outlet, since, until, lang)
        if filters.outlet:
            self.store.resolve_outlet(filters.outlet)
        return filters

    # --- reading ----------------------------------------------------------------------------

    def search(self, query: str, k: int = 5, filters: Filters | None = None, **options: Any) -> Any:
        """The k best passages (surfaces `check` the query and k first: their limits differ, the CLI allows 100)."""
        return self.retriever.search(query, k=k, filters=filters, **options)

    def article(self, article_id: str) -> dict[str, Any]:
        """An article's record and its text."""
        store = self.store
        article = store.find_articles([article_id]).get(article_id)
        if article is None:
            raise NotFoundError(f"no article {article_id!r} in the index; search results and `rag articles list` give ids")
        return {**article.to_dict(), "text": store.article_text(article_id)}

    def articles(self, filters: Filters | None = None, offset: int = 0, limit: int = 20) -> dict[str, Any]:
        total, found = self.store.list_articles(filters, offset, limit)
        return {"total": total, "offset": offset, "articles": [a.to_dict() for a in found]}

    def outlets(self) -> dict[str, Any]:
        store = self.store
        return {"outlets": store.outlet_counts(), "articles": store.manifest.articles}

    def status(self) -> dict[str, Any]:
        """What the index holds and how fresh it is (each source's last success and lag)."""
        from rag.live.sources import freshness

        store = self.store
        return {**store.status(), "sources": freshness(store.index_dir)}

    def story(self, story_or_article: str) -> dict[str, Any]:
        from rag.live.timeline import story_timeline

        found = story_timeline(self.store, story_or_article)
        if found is None:
            raise NotFoundError(f"no story or article {story_or_article!r}; search results give story ids")
        return found.to_dict()

    def timeline(self, subject: str, filters: Filters | None = None) -> dict[str, Any]:
        from rag.live.timeline import subject_timeline

        self.check(subject, None, "subject")
        return subject_timeline(self.retriever, subject, filters).to_dict()

    # --- answering --------------------------------------------------------------------------

    def ask(self, question: str, history: Sequence[tuple[str, str]] = (), k: int | None = None,
            filters: Filters | None = None, compare: bool = False, generation: dict[str, Any] | None = None) -> Any:
        """A cited answer (checked claims, or quotes, or "not in these articles"); with `compare`, one cited
        section per outlet (the follow-up is made standalone first)."""
        self.check(question, k)
        engine = self.engine
        engine.retriever.refresh()
        if compare:
            return engine.compare(engine.condense(question, list(history)), k, filters)
        return engine.ask(question, list(history), k, filters, generation)

    def stream(self, question: str, history: Sequence[tuple[str, str]] = (), k: int | None = None,
               filters: Filters | None = None, cancel: threading.Event | None = None,
               generation: dict[str, Any] | None = None) -> Iterator[Any]:
        """The answer's events: `sources` first, then checked claims as `token`s, then the `answer`."""
        self.check(question, k)
        engine = self.engine
        engine.retriever.refresh()
        return engine.stream(question, list(history), k, filters, cancel=cancel, generation=generation)
