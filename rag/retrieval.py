"""Ranked, attributed passages for a question: dense + BM25, fused by RRF.

Dense retrieval (e5 via FAISS) carries meaning and crosses languages; BM25
over normalised Arabic tokens carries exact names and numbers. Reciprocal
rank fusion combines the two without calibrating their scores. A
`QueryExpander` can add terms (e.g. the Arabic spelling of an English name)
and extra dense queries before the search.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol


from rag.models.embeddings import Embedder
from rag.errors import IndexMismatchError
from rag.language import lexical_tokens
from rag.news.dates import TimeFilter
from rag.news.questions import RERANK_DEPTH, NewsQuestion, analyse, attribute, mentions, quote_rank, terms_for
from rag.article import ArticleMeta
from rag.index.docstore import StoredChunk
from rag.index.store import IndexStore
from rag.news.filters import Filters

if TYPE_CHECKING:
    from rag.names.expansion import AliasMatch

RRF_K = 60
Mode = Literal["hybrid", "dense", "bm25"]


@dataclass
class Hit:
    rank: int
    score: float
    chunk: StoredChunk
    #: Cosine similarity of the passage to the question (None if dense did not see it).
    similarity: float | None = None
    #: Other copies of the same story (rag.news.stories), earliest first; empty when it has none.
    also_reported_by: list[ArticleMeta] = field(default_factory=list)
    #: This passage's article is the story's earliest report.
    first_report: bool = True
    #: For "what did X say" questions: X as asked, and how this passage gives X's words (rag.news.questions).
    speaker: str | None = None
    quote_type: str | None = None

    def to_dict(self) -> dict[str, Any]:
        article = self.chunk.article.to_dict()
        story_id = article.pop("story_id")
        return {
            "rank": self.rank,
            "score": round(float(self.score), 6),
            **article,
            "chunk_id": self.chunk.chunk_id,
            "text": self.chunk.text,
            **({"speaker": self.speaker, "quote_type": self.quote_type} if self.speaker else {}),
            "story_id": story_id,
            "first_report": self.first_report,
            "also_reported_by": [a.copy_ref() for a in self.also_reported_by],
        }


@dataclass
class Expansion:
    """What expanders add to a query, and why (shown by `rag search --explain`)."""

    lexical_terms: list[str] = field(default_factory=list)
    dense_queries: list[tuple[str, float]] = field(default_factory=list)
    #: Latin-script names of the query matched to their Arabic spellings (rag.names.expansion)
    aliases: list["AliasMatch"] = field(default_factory=list)
    #: whole-query translations (rag.answer.translation.QueryTranslator)
    translations: list[str] = field(default_factory=list)

    def merge(self, other: "Expansion") -> "Expansion":
        return Expansion(
            self.lexical_terms + other.lexical_terms,
            self.dense_queries + other.dense_queries,
            self.aliases + other.aliases,
            self.translations + other.translations,
        )

    def alias_terms(self) -> dict[str, list[str]]:
        """Each Latin name of the query → the lexical terms of its Arabic spellings (the alias's words, its
        lexical form, its inflections in the corpus): what the search, the news re-ranking and the answer's
        topic (rag.answer.grounded.Topic) all match a name by."""
        terms: dict[str, list[str]] = {}
        for alias in self.aliases:
            terms.setdefault(alias.name, []).extend([*lexical_tokens(alias.alias), *alias.term.split(), *alias.variants])
        return {name: list(dict.fromkeys(found)) for name, found in terms.items()}

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
    #: counts over the candidates the ranking considered (articles, one per story unless all copies)
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    #: the date range applied, and whether it was read from the question (rag.news.dates)
    time_filter: TimeFilter | None = None
    news: NewsQuestion | None = None

    def to_dict(self, explain: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {"query": self.query, "hits": [h.to_dict() for h in self.hits], "facets": self.facets}
        if self.time_filter is not None:
            data["time_filter"] = self.time_filter.to_dict()
        if self.news is not None and self.news.speaker:
            data["speaker"] = self.news.speaker
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
        self._keep_warm = False
        self.warmed: set[str] = set()  # segments whose pages were read ahead (warm_in_background)

    def refresh(self) -> bool:
        """Switch to the newest generation if the index was updated; True if it was."""
        if self.store.is_current():
            return False
        with self._lock:
            if not self.store.is_current():
                self.store = IndexStore.open(self.store.index_dir)
                if self._keep_warm:
                    self._warm(self.store)
                return True
        return False

    def warm_in_background(self) -> threading.Thread:
        """For a long-lived process (the server): read the index's pages ahead in a daemon thread, and
        the new segments of each update it switches to (IndexStore.warm)."""
        self._keep_warm = True
        return self._warm(self.store)

    def _warm(self, store: IndexStore) -> threading.Thread:
        def run() -> None:
            try:
                self.warmed.update(store.warm(skip=set(self.warmed)))
            except OSError:  # a merge removed a segment of a generation no longer current
                pass

        thread = threading.Thread(target=run, daemon=True, name="rag-warm")
        thread.start()
        return thread

    def expand(self, query: str) -> Expansion:
        expansion = Expansion()
        for expander in self.expanders:
            expansion = expansion.merge(expander.expand(query, self.store))
        return expansion

    def name_terms(self, text: str) -> list[str]:
        """The text's words with the spellings of its names (the alias index and the name matcher), never
        from an expander that asks the LLM: the claim checks call this while the model is streaming, and a
        local model's lock is not re-entrant (`QueryTranslator` there would wait on itself)."""
        expansion = Expansion()
        for expander in self.expanders:
            if not getattr(expander, "uses_model", False):
                expansion = expansion.merge(expander.expand(text, self.store))
        return expansion.lexical_terms

    def translations(self, word: str) -> list[str]:
        """An English word's nearest Arabic terms in the index (rag.names.expansion.NameExpander.translations)."""
        for expander in self.expanders:
            if hasattr(expander, "translations"):
                return expander.translations(word, self.store)
        return []

    def _runs(self, store: IndexStore, query: str, expansion: Expansion, mode: Mode, depth: int,
              filters: Filters) -> tuple[list[tuple[list[int], float]], dict[int, float]]:
        """The rankings to fuse (dense: the question and its expansions; BM25: its words and the names'
        spellings), each with its weight, and the question's own cosine similarity per row."""
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
        return runs, similarity

    def search(
        self,
        query: str,
        k: int = 5,
        filters: Filters | None = None,
        mode: Mode = "hybrid",
        per_article: bool = False,
        expand: bool = True,
        all_copies: bool = False,
        diverse: int | None = None,
        infer_time: bool = True,
        news: bool = True,
    ) -> SearchResult:
        """The k best passages. One per story unless `all_copies` (the others are listed on the hit);
        with `diverse` = m, at most m per outlet before any outlet gets more. `news` reads speakers,
        entities, recency and dates from the question (rag.news.questions); off, the ranking is by relevance only."""
        store = self.store  # one generation for the whole query, even if refresh() runs meanwhile
        filters = filters or Filters()
        question = analyse(query) if news else NewsQuestion()
        asked = filters
        applied: TimeFilter | None = None
        if filters.since or filters.until:  # given by the caller: it overrides the question
            applied = TimeFilter(filters.since or "", filters.until or "", from_question=False)
        elif question.time_filter is not None and infer_time:
            applied = question.time_filter
            filters = replace(filters, since=applied.since, until=applied.until, soft_dates=True)
        expansion = self.expand(query) if expand else Expansion()
        depth = max(self.depth, k * 4)
        runs, similarity = self._runs(store, query, expansion, mode, depth, filters)
        fused = rrf(runs)
        ordered = [row for row, _ in fused]
        scores = dict(fused)
        chunks = store.chunks(ordered[: depth * 2])
        names = [t for terms in expansion.alias_terms().values() for t in terms] if question.speaker else []
        candidates = _one_per_story(ordered, chunks, scores, similarity, all_copies, per_article, names)
        facets = _facets(candidates)
        candidates = _rerank_for_news(candidates, question, expansion, k)
        hits = _diversify(candidates, k, diverse) if diverse else candidates[:k]
        if not all_copies:
            _attach_copies(store, hits, chunks, ordered, scores, similarity)
        for rank, hit in enumerate(hits, 1):
            hit.rank = rank
        if not hits and applied is not None and applied.from_question:
            # Nothing published in the window the question names ("in 1998" may be when it happened,
            # not when it was reported): search all dates and say the window found nothing.
            result = self.search(query, k, asked, mode, per_article, expand, all_copies, diverse, infer_time=False, news=news)
            result.time_filter = replace(applied, matched=False)
            return result
        return SearchResult(query=query, hits=hits, expansion=expansion, facets=facets, time_filter=applied, news=question)


def _one_per_story(ordered: list[int], chunks: dict[int, StoredChunk], scores: dict[int, float],
                   similarity: dict[int, float], all_copies: bool, per_article: bool,
                   prefer: Sequence[str] = ()) -> list[Hit]:
    """The fused ranking as hits: one per story unless `all_copies`, one per article with `per_article`.

    A story keeps its place in the ranking (its best chunk's); it is represented by its best-ranked chunk
    that names most of `prefer` — the names of a "what did X say about Y" question: an English question
    ranks an article's chunk about X above the one where X speaks about Y (Lavrov on Aleppo)."""
    groups: dict[object, list[int]] = {}
    for row in ordered:
        chunk = chunks.get(row)
        if chunk is None:
            continue
        key: object = (chunk.story or chunk.article_id) if not all_copies else (chunk.article_id if per_article else row)
        groups.setdefault(key, []).append(row)
    wanted = set(prefer)
    candidates: list[Hit] = []
    for rows in groups.values():
        row = rows[0]
        if wanted and len(rows) > 1:
            named = [len(wanted & set(lexical_tokens(chunks[r].text))) for r in rows]
            row = rows[named.index(max(named))]  # the first (best-ranked) of those naming the most
        candidates.append(Hit(rank=0, score=scores[row], chunk=chunks[row], similarity=similarity.get(row)))
    return candidates


def _rerank_for_news(candidates: list[Hit], news: NewsQuestion, expansion: Expansion, k: int) -> list[Hit]:
    """Speakers' own words first; passages naming the asked-about entity first, newest first if asked."""
    head, tail = candidates[:RERANK_DEPTH], candidates[RERANK_DEPTH:]
    aliases = expansion.alias_terms()
    if news.speaker:
        news.speaker_terms = terms_for(news.speaker, aliases)
        for hit in head:
            attribution = attribute(hit.chunk.text, news.speaker_terms)
            hit.speaker, hit.quote_type = news.speaker, attribution.quote_type or "none"
        head.sort(key=lambda h: -quote_rank(h.quote_type if h.quote_type != "none" else None))
    if news.entity:
        news.entity_terms = terms_for(news.entity, aliases)
        if news.entity_terms:
            naming = [h for h in head if mentions(f"{h.chunk.title} {h.chunk.text}", news.entity_terms)]
            others = [h for h in head if h not in naming]
            if news.latest:
                naming.sort(key=lambda h: h.chunk.date or "", reverse=True)
            head = naming + others
    elif news.latest and not news.speaker:
        top = sorted(head[:k], key=lambda h: h.chunk.date or "", reverse=True)
        head = top + head[k:]
    return head + tail


def _facets(candidates: list[Hit]) -> dict[str, dict[str, int]]:
    outlets: dict[str, int] = {}
    months: dict[str, int] = {}
    counted: set[str] = set()
    for hit in candidates:
        chunk = hit.chunk
        if chunk.article_id in counted:
            continue
        counted.add(chunk.article_id)
        outlets[chunk.outlet] = outlets.get(chunk.outlet, 0) + 1
        if chunk.date:
            months[chunk.date[:7]] = months.get(chunk.date[:7], 0) + 1
    return {
        "outlets": dict(sorted(outlets.items(), key=lambda item: -item[1])),
        "months": dict(sorted(months.items())),
    }


def _diversify(candidates: list[Hit], k: int, per_outlet: int) -> list[Hit]:
    """At most `per_outlet` hits per outlet, by score; then the best of the rest if k is not reached."""
    chosen: list[Hit] = []
    counts: dict[str, int] = {}
    rest: list[Hit] = []
    for hit in candidates:
        if counts.get(hit.chunk.outlet, 0) < per_outlet:
            counts[hit.chunk.outlet] = counts.get(hit.chunk.outlet, 0) + 1
            chosen.append(hit)
        else:
            rest.append(hit)
        if len(chosen) == k:
            return chosen
    return chosen + rest[: k - len(chosen)]


def _attach_copies(
    store: IndexStore,
    hits: list[Hit],
    chunks: dict[int, StoredChunk],
    ordered: list[int],
    scores: dict[int, float],
    similarity: dict[int, float],
) -> None:
    """List each hit's other copies; cite the story's first report when one of its passages was retrieved."""
    members = store.story_articles([h.chunk.story for h in hits if h.chunk.story])
    for hit in hits:
        story = members.get(hit.chunk.story, [])
        if len(story) < 2:
            continue
        first = story[0]
        if hit.chunk.article_id != first.id:
            rows = [r for r in ordered if r in chunks and chunks[r].article_id == first.id]
            if rows:
                hit.chunk, hit.similarity = chunks[rows[0]], similarity.get(rows[0], hit.similarity)
        hit.first_report = hit.chunk.article_id == first.id
        hit.also_reported_by = [a.article for a in story if a.id != hit.chunk.article_id]


def rrf(runs: list[tuple[list[int], float]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal rank fusion of ranked id lists, each with a weight."""
    scores: dict[int, float] = {}
    for rows, weight in runs:
        for rank, row in enumerate(rows):
            scores[row] = scores.get(row, 0.0) + weight / (k + rank + 1)
    return sorted(scores.items(), key=lambda item: -item[1])
