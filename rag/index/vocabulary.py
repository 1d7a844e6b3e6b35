"""The index's vocabulary: one `terms` table per segment, read through typed queries.

Each segment's `terms` row serves two readers:
- BM25 (rag.index.lexical): the term's postings column and document frequency;
- the name matcher (rag.names.expansion): how often an Arabic-script term occurs, its
  written form, its consonant skeleton (to match Latin-script names) and, for
  the most frequent terms, a word vector (to match translated names).

No other module reads or writes this table; `Vocabulary` sums it over the
segments of one opened index.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rag.index.sql import where_in
from rag.language import is_arabic_word, lexical_term, written_words
from rag.names.transliteration import arabic_skeleton

SCHEMA = """
CREATE TABLE IF NOT EXISTS terms(
    term TEXT PRIMARY KEY, col INTEGER, df INTEGER, freq INTEGER,
    surface TEXT, skeleton TEXT, vector BLOB);
"""


@dataclass(frozen=True)
class Term:
    """An Arabic-script term of the index: as lexically indexed, as written, how often, its skeleton."""

    term: str
    freq: int
    surface: str
    skeleton: str


class TermCounter:
    """Collects what a segment's `terms` table needs while its chunks are written."""

    def __init__(self) -> None:
        self.freq: Counter[str] = Counter()
        self.surfaces: dict[str, str] = {}
        self.vectors: dict[str, bytes] = {}
        self._written: set[str] = set()

    def add(self, tokens: Sequence[str], raw_text: str) -> None:
        self.freq.update(tokens)
        # A term keeps the first written form seen; a word seen before cannot change that, so each
        # distinct word is normalised once (this was a fifth of a hash:384 build's time).
        for word in written_words(raw_text):
            if word not in self._written:
                self._written.add(word)
                if is_arabic_word(word):
                    self.surfaces.setdefault(lexical_term(word), word)

    def add_term(self, term: Term, vector: bytes | None) -> None:
        """Carry a term's written form and vector over from a merged segment."""
        self.surfaces.setdefault(term.term, term.surface)
        if vector is not None:
            self.vectors.setdefault(term.term, vector)

    def write(self, db: sqlite3.Connection, columns: Mapping[str, tuple[int, int]]) -> None:
        db.executescript(SCHEMA)
        rows = []
        for term, (column, df) in columns.items():
            arabic = is_arabic_word(term)
            rows.append(
                (
                    term,
                    column,
                    df,
                    self.freq.get(term, 0),
                    self.surfaces.get(term, term) if arabic else None,
                    arabic_skeleton(term) if arabic else None,
                    self.vectors.get(term),
                )
            )
        db.executemany("INSERT INTO terms VALUES (?,?,?,?,?,?,?)", rows)

    def arabic_terms_by_frequency(self) -> list[tuple[str, str]]:
        """(term, written form) of Arabic terms of 3+ letters, most frequent first."""
        terms = [t for t in self.freq if len(t) >= 3 and is_arabic_word(t)]
        terms.sort(key=lambda t: (-self.freq[t], t))
        return [(t, self.surfaces.get(t, t)) for t in terms]


class Vocabulary:
    """The terms of all segments of one opened index (read-only)."""

    def __init__(self, segments: Sequence[sqlite3.Connection]) -> None:
        self._dbs = list(segments)

    def _query(self, sql: str, params: Sequence[object] = ()) -> Iterator[tuple]:
        for db in self._dbs:
            yield from db.execute(sql, params)

    def _in(self, sql: str, terms: Sequence[str]) -> Iterator[tuple]:
        for db in self._dbs:
            yield from where_in(db, sql, terms)

    def columns(self, db: sqlite3.Connection, terms: Sequence[str]) -> dict[str, tuple[int, int]]:
        """term → (postings column, document frequency) in one segment."""
        return {t: (c, d) for t, c, d in where_in(db, "SELECT term, col, df FROM terms WHERE term IN ({marks})", terms)}

    def document_frequencies(self, terms: Sequence[str]) -> dict[str, int]:
        """Chunks containing each term, over all segments (terms not indexed are absent)."""
        totals: Counter[str] = Counter()
        for term, df in self._in("SELECT term, df FROM terms WHERE term IN ({marks})", terms):
            totals[term] += df
        return dict(totals)

    def frequencies(self, terms: Sequence[str]) -> dict[str, int]:
        """Occurrences of Arabic-script terms in the index."""
        totals: Counter[str] = Counter()
        for term, freq in self._in("SELECT term, freq FROM terms WHERE skeleton IS NOT NULL AND term IN ({marks})", terms):
            totals[term] += freq
        return dict(totals)

    def arabic_terms(self) -> Iterator[Term]:
        """Every Arabic-script term once, with its frequency summed over segments."""
        if len(self._dbs) == 1:
            for row in self._dbs[0].execute("SELECT term, freq, surface, skeleton FROM terms WHERE skeleton IS NOT NULL"):
                yield Term(*row)
            return
        merged: dict[str, list] = {}
        for term, freq, surface, skeleton in self._query("SELECT term, freq, surface, skeleton FROM terms WHERE skeleton IS NOT NULL"):
            entry = merged.get(term)
            if entry is None:
                merged[term] = [freq, surface, skeleton]
            else:
                entry[0] += freq
        for term, (freq, surface, skeleton) in merged.items():
            yield Term(term, freq, surface, skeleton)

    def vectors(self) -> tuple[list[str], np.ndarray | None]:
        """Stored word vectors (float32) of terms, one per term."""
        terms: list[str] = []
        vectors: list[np.ndarray] = []
        seen: set[str] = set()
        for term, blob in self._query("SELECT term, vector FROM terms WHERE vector IS NOT NULL"):
            if term not in seen:
                seen.add(term)
                terms.append(term)
                vectors.append(np.frombuffer(blob, dtype=np.float16))
        return terms, (np.stack(vectors).astype(np.float32) if vectors else None)

    def with_vectors(self, terms: Iterable[str]) -> set[str]:
        """Which of `terms` already have a stored word vector in some segment."""
        return {t for (t,) in self._in("SELECT term FROM terms WHERE vector IS NOT NULL AND term IN ({marks})", list(terms))}

    def stored_vectors(self, terms: Sequence[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for term, blob in self._in("SELECT term, vector FROM terms WHERE vector IS NOT NULL AND term IN ({marks})", terms):
            found.setdefault(term, blob)
        return found

    def size(self) -> int:
        return sum(db.execute("SELECT count(*) FROM terms WHERE skeleton IS NOT NULL").fetchone()[0] for db in self._dbs)


def read_terms(db: sqlite3.Connection) -> Iterator[tuple[Term | None, str, bytes | None]]:
    """One segment's rows for a merge: (Arabic term record or None, term, vector)."""
    for term, freq, surface, skeleton, vector in db.execute("SELECT term, freq, surface, skeleton, vector FROM terms"):
        yield (Term(term, freq, surface, skeleton) if skeleton is not None else None), term, vector


# Word vectors for the name matcher (rag.models.embeddings.WordEncoder), most frequent terms first and
# at most this many per chunk added: a word embeds ~300x faster than a 200-token chunk, so even a
# full budget stays under 10% of the indexing time (docs/names.md).
TERM_VECTORS_PER_CHUNK = 30


def new_term_vectors(terms: TermCounter, n_chunks: int, encoder: Any, given: set[str],
                     live: "Vocabulary | None") -> dict[str, bytes]:
    """Word vectors (float16) for a new segment's most frequent Arabic terms that have none yet — neither in
    the live index nor `given` by this update's earlier segments — up to TERM_VECTORS_PER_CHUNK a chunk."""
    candidates = terms.arabic_terms_by_frequency()
    present: set[str] = set(given)
    if live is not None:
        present |= live.with_vectors(t for t, _ in candidates if t not in present)
    pending = [(t, s) for t, s in candidates if t not in present][: TERM_VECTORS_PER_CHUNK * n_chunks]
    found: dict[str, bytes] = {}
    for start in range(0, len(pending), 512):
        part = pending[start : start + 512]
        encoded = encoder.encode([surface for _, surface in part])
        found.update((term, np.asarray(v, np.float16).tobytes()) for (term, _), v in zip(part, encoded))
    return found
