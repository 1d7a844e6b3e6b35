"""The index on disk: immutable segments listed by a manifest that is swapped atomically.

Layout of an index directory::

    CURRENT                 name of the live manifest (replaced atomically)
    manifest-<generation>.json
                            embedder, dimension, chunking, format version, counts, and the
                            live segments with the file listing each one's deletions
    seg-<number>/           one immutable segment (rag.index.segments)
    catalog.sqlite          size and mtime of every corpus file at the last commit: an update
                            reads only files that differ (a hint, written after each commit)
    embeddings.sqlite       vectors computed but not yet committed (a killed run resumes)
    .lock                   held by the one writer (rag.index.writer.IndexWriter)

Like Lucene and tantivy: an update writes new segments and new deletion
files next to the live ones and then swaps CURRENT, so a reader always sees
one whole generation, a killed update leaves the previous one in place, and
an update costs what changed, not the index size. Merges (automatic tiers and
`rag index optimize`) rewrite several segments as one, dropping deleted rows.
The previous manifest and its files are kept until the next commit, so a
server that opened it a moment ago is not pulled from under.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sqlite3
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag.index import lexical
from rag.errors import FilterError, IndexMismatchError, IndexMissingError
from rag.news.filters import Filters, date_bound
from rag.index.sql import where_in
from rag.index.docstore import StoredArticle, StoredChunk, make_row, split_row
from rag.index.segments import Segment
from rag.index.vocabulary import Vocabulary

FORMAT_VERSION = 8  # 8: the articles table holds ArticleMeta (author, section)


@dataclass
class SegmentRef:
    """A live segment as the manifest lists it."""

    name: str
    number: int
    articles: int
    chunks: int
    tokens: int
    dense: str
    deleted: str | None = None  # file in the segment's directory with deleted article ordinals
    deleted_articles: int = 0
    deleted_chunks: int = 0

    @property
    def live_chunks(self) -> int:
        return self.chunks - self.deleted_chunks

    @property
    def live_articles(self) -> int:
        return self.articles - self.deleted_articles


@dataclass
class Manifest:
    embedder: str
    dim: int
    chunk_tokens: int
    chunk_overlap_tokens: int
    format_version: int = FORMAT_VERSION
    articles: int = 0
    chunks: int = 0
    created_at: str = ""
    updated_at: str = ""
    #: the word encoder whose vectors the name index holds (rag.models.embeddings.WordEncoder.id); None without them
    word_vectors: str | None = None
    generation: int = 0
    next_segment: int = 1
    segments: list[SegmentRef] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> "Manifest":
        data = json.loads(path.read_text(encoding="utf-8"))
        known = set(cls.__dataclass_fields__)
        if "word_vectors" not in data and isinstance(data.get("extras"), dict):  # written before the typed field
            data["word_vectors"] = data["extras"].get("word_vectors")
        manifest = cls(**{k: v for k, v in data.items() if k in known and k != "segments"})
        manifest.segments = [SegmentRef(**s) for s in data.get("segments", [])]
        return manifest

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, ensure_ascii=False)

    def recount(self) -> None:
        self.articles = sum(s.live_articles for s in self.segments)
        self.chunks = sum(s.live_chunks for s in self.segments)

    def compatible_with(self, embedder_id: str, chunk_tokens: int, overlap: int) -> str | None:
        """None if an update may extend this index, else what differs."""
        if self.format_version != FORMAT_VERSION:
            return f"index format {self.format_version}, this version of rag writes {FORMAT_VERSION}"
        if self.embedder != embedder_id:
            return f"it was built with embedder {self.embedder!r}, the settings say {embedder_id!r}"
        if (self.chunk_tokens, self.chunk_overlap_tokens) != (chunk_tokens, overlap):
            return (
                f"it was built with chunks of {self.chunk_tokens}/{self.chunk_overlap_tokens} tokens, "
                f"the settings say {chunk_tokens}/{overlap}"
            )
        return None


@dataclass
class UpdateReport:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    files_read: int = 0
    files_skipped: int = 0
    chunks_embedded: int = 0
    chunks_reused: int = 0
    terms_embedded: int = 0
    segments_written: int = 0
    segments_merged: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    #: ids of the articles this update added or changed (for standing questions); not in `to_dict`
    changed_ids: list[str] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("changed_ids")
        return data


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def current_generation(index_dir: Path) -> Path | None:
    """The live manifest file, or None when the directory holds no index."""
    pointer = Path(index_dir) / "CURRENT"
    if not pointer.exists():
        return None
    path = Path(index_dir) / pointer.read_text(encoding="utf-8").strip()
    if path.is_dir():  # format 4 and older: a generation directory
        path = path / "manifest.json"
    return path if path.exists() else None


class IndexStore:
    """One opened, read-only generation of an index: the segments one manifest lists."""

    def __init__(self, manifest_path: Path, *, vectors_only: bool = False) -> None:
        """`vectors_only`: an index of an earlier segment format (5 and up), opened by a rebuild only to
        take the vectors of unchanged chunks from it (`vectors_for_keys`) instead of embedding them again."""
        self.path = manifest_path
        self.index_dir = manifest_path.parent if manifest_path.name != "manifest.json" else manifest_path.parent.parent
        self.manifest = Manifest.read(manifest_path)
        if self.manifest.format_version != FORMAT_VERSION and not (vectors_only and self.manifest.format_version >= 5):
            raise IndexMismatchError(
                f"index {self.index_dir} has format {self.manifest.format_version}, this version of rag reads "
                f"{FORMAT_VERSION}; rebuild it with `rag index build`"
            )
        self.segments = [Segment(self.index_dir / ref.name, ref.number, ref.deleted) for ref in self.manifest.segments]
        self._by_number = {s.number: s for s in self.segments}
        self.vocabulary = Vocabulary([s.db for s in self.segments])
        refs = self.manifest.segments
        n_docs = sum(r.chunks for r in refs)
        self.statistics = lexical.Statistics(n_docs, sum(r.tokens for r in refs) / max(n_docs, 1))
        #: the name matcher's alias index of this generation, built on first use (rag.names.expansion.AliasIndex.of)
        self.alias_index: Any = None

    @classmethod
    def open(cls, index_dir: Path) -> "IndexStore":
        path = current_generation(Path(index_dir))
        if path is None:
            raise IndexMissingError(
                f"no index in {Path(index_dir).resolve()}; build one with `rag index build --corpus DIR`, or point "
                "index_dir at an existing one (--index, RAG_INDEX_DIR, ./rag.toml or rag.toml in the user config dir)"
            )
        return cls(path)

    def is_current(self) -> bool:
        """False once another process has swapped in a newer generation."""
        return current_generation(self.index_dir) == self.path

    # --- rows and articles -------------------------------------------------------------

    def chunks(self, rows: Sequence[int]) -> dict[int, StoredChunk]:
        by_segment: dict[int, list[int]] = defaultdict(list)
        for row in rows:
            number, position = split_row(int(row))
            by_segment[number].append(position)
        found: dict[int, StoredChunk] = {}
        for number, positions in by_segment.items():
            segment = self._by_number.get(number)
            if segment is None:
                continue
            found.update((chunk.row, chunk) for chunk in segment.docs.chunks(positions))
        return found

    def find_articles(self, ids: Sequence[str]) -> dict[str, StoredArticle]:
        """Live articles by id."""
        return {a.id: a for a in self._live_articles("id", ids)}

    def articles_in_files(self, files: Sequence[str]) -> list[StoredArticle]:
        """Live articles read from these corpus files (paths relative to the corpus)."""
        return self._live_articles("source_file", files)

    def _live_articles(self, column: str, values: Sequence[str]) -> list[StoredArticle]:
        values = list(dict.fromkeys(values))
        if not values:
            return []
        return [a for s in self.segments for a in s.docs.live_articles_where(column, values)]

    def story_articles(self, story_ids: Sequence[str]) -> dict[str, list[StoredArticle]]:
        """Live articles of each story, earliest first (the first is the story's first report)."""
        found: dict[str, list[StoredArticle]] = defaultdict(list)
        ids = list(dict.fromkeys(story_ids))
        if ids:
            for segment in self.segments:
                for article in segment.docs.live_articles_where("story", ids):
                    found[article.story].append(article)
        for members in found.values():
            members.sort(key=lambda a: (a.date or "9999", a.id))
        return dict(found)

    def story_count(self) -> int:
        stories: set[str] = set()
        for segment in self.segments:
            stories.update(segment.docs.live_stories())
        return len(stories)

    def list_articles(self, filters: Filters | None = None, offset: int = 0, limit: int = 20) -> tuple[int, list[StoredArticle]]:
        """Live articles, newest first (undated last), with the total that pass `filters`."""
        f = filters or Filters()
        outlets = self.resolve_outlet(f.outlet) if f.outlet else None
        since = dt.date.fromordinal(date_bound(f.since, end=False)).isoformat() if f.since else None
        until = dt.date.fromordinal(date_bound(f.until, end=True)).isoformat() if f.until else None
        found = [a for segment in self.segments for a in segment.docs.live_articles_matching(outlets, since, until, f.lang)]
        found.sort(key=lambda a: (a.date is None, "" if a.date is None else _inverted(a.date), a.id))
        return len(found), found[offset : offset + limit]

    def article_text(self, article_id: str) -> str | None:
        """An article's text, put back together from its overlapping chunks (the overlap is whole sentences)."""
        from rag.language import split_sentences

        chunks = self.article_chunks(article_id)
        if not chunks:
            return None
        sentences: list[str] = []
        for chunk in chunks:
            parts = split_sentences(chunk.text)
            overlap = next((n for n in range(min(len(parts), len(sentences)), 0, -1) if sentences[-n:] == parts[:n]), 0)
            sentences.extend(parts[overlap:])
        return " ".join(sentences)

    def article_chunks(self, article_id: str) -> list[StoredChunk]:
        article = self.find_articles([article_id]).get(article_id)
        if article is None:
            return []
        rows = [make_row(article.segment, article.first_pos + i) for i in range(article.n_chunks)]
        chunks = self.chunks(rows)
        return [chunks[r] for r in rows if r in chunks]

    def article_passages(self, article_ids: Sequence[str]) -> tuple[list[StoredChunk], np.ndarray]:
        """The live chunks of these articles and their stored vectors (row i of the matrix is chunk i):
        what a burst of new articles is matched against (standing questions, rag.live.alerts)."""
        chunks: list[StoredChunk] = []
        parts: list[np.ndarray] = []
        for article in self.find_articles(list(article_ids)).values():
            segment = self._by_number[article.segment]
            positions = np.arange(article.first_pos, article.first_pos + article.n_chunks, dtype=np.int64)
            found = self.chunks([make_row(article.segment, int(p)) for p in positions])
            kept = [p for p in positions if make_row(article.segment, int(p)) in found]
            chunks.extend(found[make_row(article.segment, int(p))] for p in kept)
            parts.append(segment.vectors(np.asarray(kept, dtype=np.int64)))
        matrix = np.concatenate(parts) if parts else np.zeros((0, self.manifest.dim), np.float32)
        return chunks, matrix

    def vectors_for_keys(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors by embedding key (an unchanged chunk is never embedded twice)."""
        found: dict[str, np.ndarray] = {}
        for segment in self.segments:
            missing = [k for k in keys if k not in found]
            if not missing:
                break
            found.update(segment.vectors_for_keys(missing))
        return found

    # --- search ------------------------------------------------------------------------

    def resolve_outlet(self, name: str) -> list[str]:
        """The indexed outlets `name` means (either script, a domain); an unknown one is an error listing them."""
        from rag.news.outlets import resolve_outlet

        known = self.outlet_names()
        found = resolve_outlet(name, known)
        if not found:
            raise FilterError(f"unknown outlet {name!r}; this index has: {', '.join(known) or 'none'}", "outlet")
        return found

    def _masks(self, filters: Filters | None) -> list[np.ndarray | None]:
        f = filters or Filters()
        outlets = self.resolve_outlet(f.outlet) if f.outlet else None
        since = date_bound(f.since, end=False) if f.since else None
        until = date_bound(f.until, end=True) if f.until else None
        return [s.mask(outlets, since, until, f.lang, f.soft_dates) for s in self.segments]

    def dense_search(self, vector: np.ndarray, depth: int, filters: Filters | None = None) -> tuple[list[int], list[float]]:
        """Row ids and cosine similarities of the nearest chunks, best first."""
        pairs = list(zip(self.segments, self._masks(filters)))
        total = sum(s.n_chunks for s in self.segments)
        if total >= PARALLEL_DENSE_MIN:
            # FAISS releases the GIL: the scan is split over all cores (one query alone runs on one),
            # a large segment into position ranges so that one merged segment is not scanned by one core.
            pieces = _pieces(pairs, total, os.cpu_count() or 2)
            found = list(_search_pool().map(lambda piece: piece[0].dense_search(vector, depth, piece[1], piece[2]), pieces))
        else:
            pieces = [(segment, mask, None) for segment, mask in pairs]
            found = [segment.dense_search(vector, depth, mask, span) for segment, mask, span in pieces]
        rows = [make_row(segment.number, positions) for (segment, _, _), (positions, _) in zip(pieces, found)]
        return _top(rows, [similarities for _, similarities in found], depth)

    def lexical_search(self, tokens: Sequence[str], depth: int, filters: Filters | None = None) -> tuple[list[int], float]:
        """Row ids by BM25 (positive scores only), and the share of query tokens the index knows."""
        if not tokens or not self.segments:
            return [], 0.0
        frequencies = self.vocabulary.document_frequencies(tokens)
        coverage = sum(t in frequencies for t in tokens) / len(tokens)
        idf = {t: self.statistics.idf(df) for t, df in frequencies.items()}
        rows: list[np.ndarray] = []
        scores: list[np.ndarray] = []
        for segment, mask in zip(self.segments, self._masks(filters)):
            columns = self.vocabulary.columns(segment.db, list(frequencies))
            query = [(columns[t][0], idf[t]) for t in tokens if t in columns]
            positions, values = segment.lexical_search(query, self.statistics, mask, depth)
            rows.append(make_row(segment.number, positions))
            scores.append(values)
        found, _ = _top(rows, scores, depth)
        return found, coverage

    def texts_containing(self, terms: Sequence[str], limit: int) -> list[str]:
        """Texts of (at most `limit`) chunks whose lexical tokens include one of `terms`."""
        rows: list[int] = []
        for segment in self.segments:
            columns = self.vocabulary.columns(segment.db, terms)
            for column, _ in columns.values():
                positions = segment.postings.docs_with(column)
                if segment.live is not None:
                    positions = positions[segment.live[positions]]
                rows.extend(make_row(segment.number, int(p)) for p in positions[: limit - len(rows)])
                if len(rows) >= limit:
                    break
            if len(rows) >= limit:
                break
        chunks = self.chunks(rows)
        return [chunks[r].text for r in rows if r in chunks]

    # --- facts -------------------------------------------------------------------------

    def term_frequencies(self, terms: Sequence[str]) -> dict[str, int]:
        """Corpus frequency of Arabic-script terms."""
        return self.vocabulary.frequencies(terms)

    def outlet_names(self) -> list[str]:
        return sorted({name for s in self.segments for name in s.info["outlets"]})

    def outlet_counts(self) -> dict[str, int]:
        """Live articles per outlet, most first."""
        counts: Counter[str] = Counter()
        for segment in self.segments:
            counts.update(segment.docs.live_outlet_counts())
        return {k: v for k, v in counts.most_common() if v > 0}

    def date_range(self) -> tuple[str | None, str | None]:
        """The oldest and newest publication dates among live articles (what the archive spans, how fresh it is)."""
        ends = [date for segment in self.segments for date in segment.docs.live_date_range() if date]
        return (min(ends), max(ends)) if ends else (None, None)

    def status(self) -> dict[str, Any]:
        """What `rag index status` and /api/status show (rag.index.status)."""
        from rag.index.status import index_status

        return index_status(self)

    def warm(self, skip: set[str] | None = None) -> set[str]:
        """Read the index's pages ahead (rag.index.status.warm_pages); the names of the segments warmed."""
        from rag.index.status import warm_pages

        return warm_pages(self, skip)

    def close(self) -> None:
        for segment in self.segments:
            segment.close()


def _inverted(date: str) -> str:
    """A sort key that puts later ISO dates first."""
    return "".join(chr(0x10FFFF - ord(ch)) for ch in date)


# Below this many chunks a search is a few milliseconds and threads only add overhead.
PARALLEL_DENSE_MIN = 100_000
_POOL: ThreadPoolExecutor | None = None


def _pieces(pairs: list[tuple[Segment, np.ndarray | None]], total: int, workers: int) -> list[tuple[Segment, np.ndarray | None, tuple[int, int] | None]]:
    """(segment, mask, span) work items of about total / workers chunks each; small segments whole."""
    share = max(1, -(-total // workers))
    pieces: list[tuple[Segment, np.ndarray | None, tuple[int, int] | None]] = []
    for segment, mask in pairs:
        parts = -(-segment.n_chunks // share)
        if parts <= 1:
            pieces.append((segment, mask, None))
            continue
        bounds = np.linspace(0, segment.n_chunks, parts + 1).astype(int)
        pieces.extend((segment, mask, (int(a), int(b))) for a, b in zip(bounds[:-1], bounds[1:]))
    return pieces


def _search_pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="rag-search")
    return _POOL


def _top(rows: list[np.ndarray], scores: list[np.ndarray], depth: int) -> tuple[list[int], list[float]]:
    if not rows:
        return [], []
    all_rows = np.concatenate(rows)
    all_scores = np.concatenate(scores)
    if not len(all_rows):
        return [], []
    order = np.lexsort((all_rows, -all_scores))[:depth]  # ties: lower row (earlier chunk) first
    return [int(r) for r in all_rows[order]], [float(s) for s in all_scores[order]]


class EmbeddingCache:
    """Vectors by (embedder, text) key, committed batch by batch so a killed run loses little.

    Safe to share between a server's threads (one connection behind a lock).
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, check_same_thread=False, timeout=10)
        self.db.execute("CREATE TABLE IF NOT EXISTS vectors(key TEXT PRIMARY KEY, vector BLOB)")
        self._lock = threading.Lock()

    @staticmethod
    def key(embedder_id: str, text: str) -> str:
        return hashlib.sha1(f"{embedder_id}\x00{text}".encode()).hexdigest()

    def get_many(self, keys: Sequence[str], dim: int) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for key, blob in where_in(self.db, "SELECT key, vector FROM vectors WHERE key IN ({marks})", keys):
                vector = np.frombuffer(blob, dtype=np.float32)
                if vector.shape == (dim,):
                    found[key] = vector
        return found

    def put_many(self, items: Iterable[tuple[str, np.ndarray]]) -> None:
        rows = [(k, np.asarray(v, np.float32).tobytes()) for k, v in items]
        with self._lock:
            try:
                self.db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", rows)
                self.db.commit()
            except sqlite3.OperationalError:  # read-only or busy: a cache, so carry on without it
                self.db.rollback()

    def delete_many(self, keys: Sequence[str]) -> None:
        with self._lock:
            list(where_in(self.db, "DELETE FROM vectors WHERE key IN ({marks})", keys))
            self.db.commit()

    def clear(self) -> None:
        with self._lock:
            self.db.execute("DELETE FROM vectors")
            self.db.commit()
            self.db.execute("VACUUM")

    def close(self) -> None:
        self.db.close()


def write_manifest(index_dir: Path, manifest: Manifest) -> Path:
    """Write the manifest of a new generation and make it live (atomic, durable)."""
    path = index_dir / f"manifest-{manifest.generation:08d}.json"
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(manifest.to_json())
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    pointer = index_dir / "CURRENT.tmp"
    with open(pointer, "w", encoding="utf-8") as handle:
        handle.write(path.name)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(pointer, index_dir / "CURRENT")
    fsync_dir(index_dir)
    return path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
