"""BM25 over segments, with statistics that are global to the index.

Each segment stores an inverted index of its chunks' lexical tokens as three
memory-mapped arrays (CSC: `indptr` per term column, `docs`, `tfs`) plus the
document lengths; the term → column map and document frequencies live in the
segment's `terms` table (rag.index.vocabulary). At query time the IDF and average
length come from the sums over all live segments, so a term's weight does not
depend on which segment a chunk landed in: scores equal one BM25 over the
whole index (Lucene variant, k1 = 1.5, b = 0.75, as bm25s computes it; tested
against bm25s). As in Lucene, deleted chunks keep counting in the statistics
until their segment is merged.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

K1 = 1.5
B = 0.75

FILES = ("lex_indptr.npy", "lex_docs.npy", "lex_tfs.npy", "lex_doclen.npy")


def write_postings(directory: Path, documents: Sequence[Sequence[str]]) -> dict[str, tuple[int, int]]:
    """Write the inverted index of `documents` (token lists, by position); returns term → (column, df)."""
    columns: dict[str, int] = {}
    pairs_term: list[int] = []
    pairs_doc: list[int] = []
    pairs_tf: list[int] = []
    doclen = np.zeros(len(documents), dtype=np.int32)
    for doc, tokens in enumerate(documents):
        doclen[doc] = len(tokens)
        for term, tf in Counter(tokens).items():
            column = columns.setdefault(term, len(columns))
            pairs_term.append(column)
            pairs_doc.append(doc)
            pairs_tf.append(tf)
    term_ids = np.asarray(pairs_term, dtype=np.int64)
    order = np.argsort(term_ids, kind="stable")  # by column, then by document
    counts = np.bincount(term_ids, minlength=len(columns)) if len(columns) else np.zeros(0, np.int64)
    indptr = np.zeros(len(columns) + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    np.save(directory / FILES[0], indptr)
    np.save(directory / FILES[1], np.asarray(pairs_doc, dtype=np.int32)[order])
    np.save(directory / FILES[2], np.minimum(np.asarray(pairs_tf, dtype=np.int64)[order], 65535).astype(np.uint16))
    np.save(directory / FILES[3], doclen)
    return {term: (column, int(counts[column])) for term, column in columns.items()}


class Postings:
    """One segment's inverted index, memory-mapped (opening costs nothing)."""

    def __init__(self, directory: Path) -> None:
        # Plain views of the memory maps: slicing a np.memmap costs ~2 µs more each time, and a query
        # slices every term's postings in every segment.
        self.indptr, self.docs, self.tfs, self.doclen = (np.asarray(np.load(directory / name, mmap_mode="r")) for name in FILES)
        self.n_docs = len(self.doclen)
        self.total_length = int(np.asarray(self.doclen, dtype=np.int64).sum())

    def column(self, column: int) -> tuple[np.ndarray, np.ndarray]:
        """Views of the column's postings (uncopied: searching them reads only the pages probed)."""
        start, end = int(self.indptr[column]), int(self.indptr[column + 1])
        return self.docs[start:end], self.tfs[start:end]

    def docs_with(self, column: int) -> np.ndarray:
        start, end = int(self.indptr[column]), int(self.indptr[column + 1])
        return self.docs[start:end]


# Postings per document above which scores are summed in a dense array instead of by sorting.
DENSE_ACCUMULATE_RATIO = 16
# Below this many postings for a query in a segment, scoring them all is cheaper than pruning.
PRUNE_MIN_POSTINGS = 50_000


@dataclass(frozen=True)
class Statistics:
    """Collection statistics over all segments of one opened index."""

    n_docs: int
    avg_length: float

    def idf(self, df: int) -> float:
        return math.log(1 + (self.n_docs - df + 0.5) / (df + 0.5))


def score(postings: Postings, query: Sequence[tuple[int, float]], stats: Statistics) -> tuple[np.ndarray, np.ndarray]:
    """BM25 of the documents of one segment that contain a query term: (positions, scores).

    `query` holds (column, idf) per query token occurrence (a repeated token counts again, like bm25s).
    """
    if not query or postings.n_docs == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    parts_docs, parts_scores = [], []
    for column, idf in query:
        docs, tfs = postings.column(column)
        tf = tfs.astype(np.float32)
        length = np.asarray(postings.doclen[docs], dtype=np.float32)
        norm = K1 * ((1 - B) + B * length / max(stats.avg_length, 1e-9))
        parts_docs.append(docs)
        parts_scores.append(idf * tf / (tf + norm))
    docs = np.concatenate(parts_docs)
    values = np.concatenate(parts_scores)
    if len(docs) * DENSE_ACCUMULATE_RATIO >= postings.n_docs:
        # Common words: summing into one slot per document beats sorting the postings (a 400k-chunk
        # segment spent 8 ms per query in np.unique; bincount takes under 2 ms).
        sums = np.bincount(docs, weights=values, minlength=postings.n_docs)
        found = np.flatnonzero(sums)
        return found.astype(np.int64), sums[found].astype(np.float32)
    unique, inverse = np.unique(docs, return_inverse=True)
    totals = np.bincount(inverse, weights=values, minlength=len(unique))  # float64, in query order (np.add.at is 5x slower)
    return unique.astype(np.int64), totals.astype(np.float32)


def top(
    postings: Postings, query: Sequence[tuple[int, float]], stats: Statistics, depth: int, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The documents that can be among the `depth` best by BM25 (ties with the last one kept), with
    their scores: equal to `score` then a cut, without reading the postings of common words when the
    rarer ones already decide the top (MaxScore, as Lucene does).

    A word adds less than its idf to any document (tf / (tf + norm) < 1). So once the documents that
    contain one of the rarer words, scored in full, have `depth` scores above the idfs of the remaining
    words summed, no document that has only those words can enter: their postings are only looked
    up for the candidates, never scanned. Measured at 955k chunks: see docs/scale.md.
    """
    if not query or postings.n_docs == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    lengths = {column: int(postings.indptr[column + 1] - postings.indptr[column]) for column, _ in query}
    # A term's most (a repeated query token counts again) and the terms from rarest to commonest.
    bound: dict[int, float] = {}
    for column, idf in query:
        bound[column] = bound.get(column, 0.0) + idf
    order = sorted(bound, key=lambda column: (lengths[column], column))
    total = sum(lengths.values())
    for split in _splits(order, lengths, total):
        rare = set(order[:split])
        rest = sum(bound[column] for column in order[split:]) * (1 + 1e-6)  # margin for float32 rounding
        candidates, partial = score(postings, [(c, idf) for c, idf in query if c in rare], stats)
        if mask is not None:
            keep = mask[candidates]
            candidates, partial = candidates[keep], partial[keep]
        if len(candidates) < depth:
            continue
        # The depth-th best partial score is at most the depth-th best full one; a document without a
        # rare word scores under `rest`, one with them under partial + rest.
        floor = _kth_best(partial, depth)
        if floor <= rest:
            continue
        candidates = candidates[partial + rest >= floor * (1 - 1e-6)]
        return _cut(candidates, _score_candidates(postings, query, stats, candidates), depth)
    positions, scores = score(postings, query, stats)
    if mask is not None and len(positions):
        keep = mask[positions]
        positions, scores = positions[keep], scores[keep]
    return _cut(positions, scores, depth)


def _kth_best(scores: np.ndarray, k: int) -> float:
    return np.partition(scores, len(scores) - k)[len(scores) - k]


def _cut(positions: np.ndarray, scores: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """The `depth` best, and every one tied with the last of them."""
    if len(scores) <= depth:
        return positions, scores
    keep = scores >= _kth_best(scores, depth)
    return positions[keep], scores[keep]


def _splits(order: list[int], lengths: dict[int, int], total: int) -> list[int]:
    """Where to split the terms (rarest first) into scored and looked-up ones, best bet first: the
    commonest words that hold half the postings looked up, else only the commonest one. Two tries at
    most: each failed one costs a partial scoring (measured at 955k chunks, docs/scale.md)."""
    if total < PRUNE_MIN_POSTINGS or len(order) < 2:
        return []
    split, held = len(order), 0
    while split > 1 and held * 2 < total:
        split -= 1
        held += lengths[order[split]]
    return [split] if split == len(order) - 1 else [split, len(order) - 1]


def _score_candidates(postings: Postings, query: Sequence[tuple[int, float]], stats: Statistics, candidates: np.ndarray) -> np.ndarray:
    """Full BM25 of `candidates` (sorted positions): each query term's postings searched, not scanned.
    Terms are added in query order in float64, as `score` adds them, so the two agree to the bit."""
    length = np.asarray(postings.doclen[candidates], dtype=np.float32)
    norm = K1 * ((1 - B) + B * length / max(stats.avg_length, 1e-9))
    totals = np.zeros(len(candidates), dtype=np.float64)
    for column, idf in query:
        docs, tfs = postings.column(column)
        at = np.searchsorted(docs, candidates)
        present = at < len(docs)
        present[present] = docs[at[present]] == candidates[present]
        tf = np.zeros(len(candidates), dtype=np.float32)
        tf[present] = tfs[at[present]]
        totals[present] += (idf * tf / (tf + norm))[present]
    return totals.astype(np.float32)
