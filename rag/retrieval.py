"""Ranked, attributed passages for a question: dense + BM25, fused by RRF.

Dense retrieval (e5 via FAISS) carries meaning and crosses languages; BM25
over normalised Arabic tokens carries exact names and numbers. Reciprocal
rank fusion combines the two without calibrating their scores. A
`QueryExpander` can add terms (e.g. the Arabic spelling of an English name)
and extra dense queries before the search.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from rag.embeddings import Embedder
from rag.errors import IndexMismatchError
from rag.language import lexical_tokens
from rag.store import Filters, IndexStore, StoredChunk

if TYPE_CHECKING:
    from rag.names import AliasMatch

RRF_K = 60
Mode = Literal["hybrid", "dense", "bm25"]


@dataclass
class Hit:
    rank: int
    score: float
    chunk: StoredChunk
    #: Cosine similarity of the passage to the question (None if dense did not see it).
    similarity: float | None = None

    def to_dict(self) -> dict[str, Any]:
        c = self.chunk
        return {
            "rank": self.rank,
            "score": round(float(self.score), 6),
            "article_id": c.article_id,
            "title": c.title,
            "outlet": c.outlet,
            "date": c.date,
            "url": c.url,
            "source_path": c.source_path,
            "chunk_id": c.chunk_id,
            "text": c.text,
        }


@dataclass
class Expansion:
    """What expanders add to a query, and why (shown by `rag search --explain`)."""

    lexical_terms: list[str] = field(default_factory=list)
    dense_queries: list[tuple[str, float]] = field(default_factory=list)
    #: Latin-script names of the query matched to their Arabic spellings (rag.names)
    aliases: list["AliasMatch"] = field(default_factory=list)
    #: whole-query translations (rag.translation.QueryTranslator)
    translations: list[str] = field(default_factory=list)

    def merge(self, other: "Expansion") -> "Expansion":
        return Expansion(
            self.lexical_terms + other.lexical_terms,
            self.dense_queries + other.dense_queries,
            self.aliases + other.aliases,
            self.translations + other.translations,
        )

    def explain(self) -> list[dict[str, Any]]:
        """JSON for `--explain` and the API's `expansions`."""
        return [a.to_dict() for a in self.aliases] + [{"translation": t} for t in self.translations]


class QueryExpander(Protocol):
    """Adds search terms for a query, e.g. a translation or name aliases."""

    def expand(self, query: str, store: IndexStore) -> Expansion: ...


@dataclass
class SearchResult:
    query: str
    hits: list[Hit]
    expansion: Expansion

    def to_dict(self, explain: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {"query": self.query, "hits": [h.to_dict() for h in self.hits]}
        if explain or self.expansion.aliases or self.expansion.translations:
            data["expansions"] = self.expansion.explain()
        return data


class Retriever:
    """Searches one index; reopens it when another process has updated it."""

    def __init__(
        self,
        store: IndexStore,
        embedder: Embedder,
        expanders: list[QueryExpander] | None = None,
        depth: int = 50,
        expansion_weight: float = 0.3,
    ) -> None:
        if store.manifest.embedder != embedder.id:
            raise IndexMismatchError(
                f"index {store.index_dir} was built with embedder {store.manifest.embedder!r} but {embedder.id!r} "
                "is configured; set embedder back or rebuild with `rag index build`"
            )
        self.store = store
        self.embedder = embedder
        self.expanders = list(expanders or [])
        self.depth = depth
        self.expansion_weight = expansion_weight
        self._lock = threading.Lock()

    def refresh(self) -> bool:
        """Switch to the newest generation if the index was updated; True if it was."""
        if self.store.is_current():
            return False
        with self._lock:
            if not self.store.is_current():
                self.store = IndexStore.open(self.store.index_dir)
                return True
        return False

    def expand(self, query: str) -> Expansion:
        expansion = Expansion()
        for expander in self.expanders:
            expansion = expansion.merge(expander.expand(query, self.store))
        return expansion

    def search(
        self,
        query: str,
        k: int = 5,
        filters: Filters | None = None,
        mode: Mode = "hybrid",
        per_article: bool = False,
        expand: bool = True,
    ) -> SearchResult:
        store = self.store  # one generation for the whole query, even if refresh() runs meanwhile
        filters = filters or Filters()
        expansion = self.expand(query) if expand else Expansion()
        depth = max(self.depth, k * 4)
        runs: list[tuple[list[int], float]] = []
        similarity: dict[int, float] = {}
        if mode in ("hybrid", "dense"):
            queries = [(query, 1.0), *expansion.dense_queries]
            vectors = self.embedder.embed_queries([q for q, _ in queries])
            for number, ((_, weight), vector) in enumerate(zip(queries, vectors)):
                rows, scores = store.dense_search(vector, depth, filters)
                runs.append((rows, weight))
                if number == 0:  # the question as asked: its cosine similarity gates abstention
                    similarity = dict(zip(rows, scores))
        if mode in ("hybrid", "bm25"):
            tokens = lexical_tokens(query) + expansion.lexical_terms
            rows, coverage = store.lexical_search(tokens, depth, filters)
            # An English question over Arabic articles shares few words with them: BM25 then
            # ranks on stray numbers, so its vote counts in proportion to the words it knows.
            if expansion.lexical_terms:
                # Measured on XQuAD EN→AR: names in BM25 at full weight pulled in sibling
                # passages that mention the same names (MRR .863 → .854); at 0.3 it helps a little.
                coverage *= self.expansion_weight
            runs.append((rows, coverage if mode == "hybrid" else 1.0))
        fused = rrf(runs)
        ordered = [row for row, _ in fused]
        scores = dict(fused)
        chunks = store.chunks(ordered[: depth * 2])
        hits: list[Hit] = []
        seen_articles: set[str] = set()
        for row in ordered:
            chunk = chunks.get(row)
            if chunk is None:
                continue
            if per_article:
                if chunk.article_id in seen_articles:
                    continue
                seen_articles.add(chunk.article_id)
            hits.append(Hit(rank=len(hits) + 1, score=scores[row], chunk=chunk, similarity=similarity.get(row)))
            if len(hits) == k:
                break
        return SearchResult(query=query, hits=hits, expansion=expansion)


def rrf(runs: list[tuple[list[int], float]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal rank fusion of ranked id lists, each with a weight."""
    scores: dict[int, float] = {}
    for rows, weight in runs:
        for rank, row in enumerate(rows):
            scores[row] = scores.get(row, 0.0) + weight / (k + rank + 1)
    return sorted(scores.items(), key=lambda item: -item[1])
