"""The index on disk: FAISS vectors + SQLite docstore + BM25 + manifest.

Layout of an index directory::

    CURRENT              name of the live generation (replaced atomically)
    gen-<stamp>/         one complete, immutable index
        manifest.json    embedder id, dimension, chunking, format version, counts
        docstore.sqlite  articles, chunks (text, metadata, lexical tokens) and the
                         Arabic vocabulary with name skeletons and word
                         vectors (rag.names)
        dense.faiss      IndexIDMap2(IndexFlatIP): ids are chunk row ids
        bm25/            bm25s index over the chunks' lexical tokens
    embeddings.sqlite    cache of computed vectors, written as they are made
    .lock                held by the one writer

An update writes a *new* generation next to the live one and then swaps
CURRENT, so a reader always sees a whole index, a killed update leaves the
previous one in place, and the vectors it had already computed are reused
from the cache by the next run. The previous generation is kept until the
next update, so a server that opened it a moment ago is not pulled from under.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from filelock import FileLock, Timeout

from rag.chunking import Chunk, chunk_article
from rag.corpus import Article, read_corpus
from rag.embeddings import Embedder, WordEncoder
from rag.errors import IndexLockedError, IndexMismatchError, IndexMissingError
from rag.language import is_arabic_word, lexical_tokens, surface_forms
from rag.transliteration import arabic_skeleton

FORMAT_VERSION = 4
EMBED_BATCH = 16
# Word vectors for the name matcher (rag.embeddings.WordEncoder), most frequent terms
# first and at most this many per chunk added: a word embeds ~300x faster than a
# 200-token chunk, so even a full budget stays under 10% of the indexing time
# (docs/names.md). A term left over is encoded at query time if it is a candidate.
TERM_VECTORS_PER_CHUNK = 30

Progress = Callable[[int], None]


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
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> "Manifest":
        data = json.loads(path.read_text(encoding="utf-8"))
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

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
class StoredChunk:
    row: int
    chunk_id: str
    article_id: str
    ordinal: int
    text: str
    title: str
    outlet: str
    date: str | None
    url: str | None
    lang: str
    source_path: str


@dataclass
class UpdateReport:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    chunks_embedded: int = 0
    terms_embedded: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Filters:
    """Restrictions on what a search may return (all optional, combined with AND)."""

    outlet: str | None = None
    since: str | None = None
    until: str | None = None
    lang: str | None = None

    def active(self) -> bool:
        return any((self.outlet, self.since, self.until, self.lang))


_SCHEMA = """
CREATE TABLE IF NOT EXISTS articles(
    id TEXT PRIMARY KEY, title TEXT, outlet TEXT, date TEXT, url TEXT, lang TEXT,
    source_path TEXT, content_hash TEXT, n_chunks INTEGER);
CREATE TABLE IF NOT EXISTS chunks(
    row INTEGER PRIMARY KEY AUTOINCREMENT, chunk_id TEXT UNIQUE, article_id TEXT,
    ordinal INTEGER, text TEXT, tokens TEXT, embed_key TEXT);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks(article_id);
CREATE TABLE IF NOT EXISTS vocabulary(
    term TEXT PRIMARY KEY, freq INTEGER, surface TEXT, skeleton TEXT);
CREATE INDEX IF NOT EXISTS vocabulary_skeleton ON vocabulary(skeleton);
CREATE TABLE IF NOT EXISTS term_vectors(term TEXT PRIMARY KEY, vector BLOB);
CREATE INDEX IF NOT EXISTS articles_outlet ON articles(outlet);
"""

_CHUNK_SELECT = """
SELECT c.row, c.chunk_id, c.article_id, c.ordinal, c.text, a.title, a.outlet, a.date, a.url, a.lang, a.source_path
FROM chunks c JOIN articles a ON a.id = c.article_id
"""


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def current_generation(index_dir: Path) -> Path | None:
    pointer = Path(index_dir) / "CURRENT"
    if not pointer.exists():
        return None
    gen = Path(index_dir) / pointer.read_text(encoding="utf-8").strip()
    return gen if (gen / "manifest.json").exists() else None


class IndexStore:
    """One opened, read-only generation of an index."""

    def __init__(self, gen_dir: Path) -> None:
        self.path = gen_dir
        self.index_dir = gen_dir.parent
        self.manifest = Manifest.read(gen_dir / "manifest.json")
        self.db = sqlite3.connect(f"file:{gen_dir / 'docstore.sqlite'}?mode=ro", uri=True, check_same_thread=False)
        self.dense = faiss.read_index(str(gen_dir / "dense.faiss"))
        self.bm25, self.bm25_rows = _load_bm25(gen_dir)
        self.extras: dict[str, Any] = {}

    @classmethod
    def open(cls, index_dir: Path) -> "IndexStore":
        gen = current_generation(Path(index_dir))
        if gen is None:
            raise IndexMissingError(f"no index in {index_dir}; build one with `rag index build --corpus DIR`")
        return cls(gen)

    def is_current(self) -> bool:
        """False once another process has swapped in a newer generation."""
        return current_generation(self.index_dir) == self.path

    def chunks(self, rows: Sequence[int]) -> dict[int, StoredChunk]:
        if not len(rows):
            return {}
        marks = ",".join("?" * len(rows))
        cursor = self.db.execute(f"{_CHUNK_SELECT} WHERE c.row IN ({marks})", [int(r) for r in rows])
        return {row[0]: StoredChunk(*row) for row in cursor}

    def term_frequencies(self, terms: Sequence[str]) -> dict[str, int]:
        """Corpus frequency of Arabic-script terms (from the vocabulary table)."""
        unique = list(dict.fromkeys(terms))
        if not unique:
            return {}
        marks = ",".join("?" * len(unique))
        return dict(self.db.execute(f"SELECT term, freq FROM vocabulary WHERE term IN ({marks})", unique))

    def article_chunks(self, article_id: str) -> list[StoredChunk]:
        cursor = self.db.execute(f"{_CHUNK_SELECT} WHERE c.article_id = ? ORDER BY c.ordinal", (article_id,))
        return [StoredChunk(*row) for row in cursor]

    def allowed_rows(self, filters: Filters) -> np.ndarray | None:
        """Row ids that pass `filters`, or None when nothing is filtered."""
        if not filters.active():
            return None
        clauses, params = [], []
        if filters.outlet:
            clauses.append("lower(a.outlet) = lower(?)")
            params.append(filters.outlet)
        if filters.since:
            clauses.append("a.date >= ?")
            params.append(filters.since)
        if filters.until:
            clauses.append("a.date <= ?")
            params.append(filters.until)
        if filters.lang:
            clauses.append("a.lang = ?")
            params.append(filters.lang)
        sql = f"SELECT c.row FROM chunks c JOIN articles a ON a.id = c.article_id WHERE {' AND '.join(clauses)}"
        return np.array([r for (r,) in self.db.execute(sql, params)], dtype=np.int64)

    def outlet_names(self) -> list[str]:
        return [name for (name,) in self.db.execute("SELECT DISTINCT outlet FROM articles")]

    def all_chunk_texts(self) -> Iterable[tuple[int, str, str]]:
        yield from self.db.execute("SELECT c.row, a.title, c.text FROM chunks c JOIN articles a ON a.id = c.article_id ORDER BY c.row")

    def status(self) -> dict[str, Any]:
        outlets = dict(self.db.execute("SELECT outlet, count(*) FROM articles GROUP BY outlet ORDER BY count(*) DESC"))
        return {
            "articles": self.manifest.articles,
            "chunks": self.manifest.chunks,
            "outlets": outlets,
            "embedder": self.manifest.embedder,
            "index_dir": str(self.index_dir),
        }

    def close(self) -> None:
        self.db.close()


def _load_bm25(gen_dir: Path) -> tuple[Any, np.ndarray]:
    import bm25s

    rows = np.load(gen_dir / "bm25_rows.npy")
    if not len(rows):
        return None, rows
    return bm25s.BM25.load(str(gen_dir / "bm25"), show_progress=False), rows


def _build_bm25(gen_dir: Path, db: sqlite3.Connection) -> None:
    import bm25s

    rows, corpus = [], []
    for row, tokens in db.execute("SELECT row, tokens FROM chunks ORDER BY row"):
        rows.append(row)
        corpus.append(tokens.split())
    np.save(gen_dir / "bm25_rows.npy", np.array(rows, dtype=np.int64))
    if corpus:
        retriever = bm25s.BM25()
        retriever.index(corpus, show_progress=False)
        retriever.save(str(gen_dir / "bm25"), show_progress=False)


class VocabularyDelta:
    """Arabic-script term counts, kept in step with the chunks by deltas.

    The name matcher (rag.names) looks Latin-script names up here by
    consonant skeleton; an update touches only the terms of the chunks it
    adds or removes, so its cost follows the change, not the corpus.
    """

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.surfaces: dict[str, str] = {}

    def remove(self, tokens: Iterable[str]) -> None:
        self.counts.subtract(t for t in tokens if is_arabic_word(t))

    def add(self, tokens: Iterable[str], raw_text: str) -> None:
        self.counts.update(t for t in tokens if is_arabic_word(t))
        for surface, term in surface_forms(raw_text):
            self.surfaces.setdefault(term, surface)

    def apply(self, db: sqlite3.Connection) -> None:
        changed = [(term, delta) for term, delta in self.counts.items() if delta]
        existing = set()
        for start in range(0, len(changed), 500):
            part = [t for t, _ in changed[start : start + 500]]
            existing.update(t for (t,) in db.execute(f"SELECT term FROM vocabulary WHERE term IN ({','.join('?' * len(part))})", part))
        db.executemany("UPDATE vocabulary SET freq = freq + ? WHERE term = ?", [(d, t) for t, d in changed if t in existing])
        db.executemany(
            "INSERT INTO vocabulary VALUES (?,?,?,?)",
            [(t, d, self.surfaces.get(t, t), arabic_skeleton(t)) for t, d in changed if t not in existing and d > 0],
        )
        db.execute("DELETE FROM vocabulary WHERE freq <= 0")


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
            for start in range(0, len(keys), 500):
                part = keys[start : start + 500]
                marks = ",".join("?" * len(part))
                for key, blob in self.db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({marks})", part):
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

    def keep_only(self, keys: Iterable[str]) -> None:
        self.db.execute("CREATE TEMP TABLE keep(key TEXT PRIMARY KEY)")
        self.db.executemany("INSERT OR IGNORE INTO keep VALUES (?)", ((k,) for k in keys))
        self.db.execute("DELETE FROM vectors WHERE key NOT IN (SELECT key FROM keep)")
        self.db.execute("DROP TABLE keep")
        self.db.commit()

    def close(self) -> None:
        self.db.close()


class IndexWriter:
    """Builds or updates an index directory; one writer at a time (file lock)."""

    def __init__(
        self,
        index_dir: Path,
        embedder: Embedder,
        chunk_tokens: int = 200,
        chunk_overlap_tokens: int = 40,
        word_encoder: WordEncoder | None = None,
    ) -> None:
        self.index_dir = Path(index_dir)
        self.embedder = embedder
        self.word_encoder = word_encoder  # word vectors for the name matcher; none without it
        self.chunk_tokens = chunk_tokens
        self.chunk_overlap_tokens = chunk_overlap_tokens

    def update(
        self,
        corpus_dir: Path,
        *,
        rebuild: bool = False,
        outlets: Mapping[str, Sequence[str]] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> UpdateReport:
        """Make the index match `corpus_dir`: embed new/changed articles, drop deleted ones."""
        articles, errors = read_corpus(Path(corpus_dir), outlets)
        report = UpdateReport(errors=[{"path": e.path, "error": e.message} for e in errors])
        for article in articles:
            report.errors.extend({"path": article.source_path, "error": w} for w in article.warnings)
        self.index_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.index_dir / ".lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise IndexLockedError(
                f"index {self.index_dir} is locked: another `rag index` is writing it; wait for it to finish"
            ) from None
        try:
            return self._update_locked(articles, report, rebuild, progress)
        finally:
            lock.release()

    def _update_locked(
        self,
        articles: list[Article],
        report: UpdateReport,
        rebuild: bool,
        progress: Callable[[int, int], None] | None,
    ) -> UpdateReport:
        live = None if rebuild else current_generation(self.index_dir)
        old_hashes: dict[str, str] = {}
        if live is not None:
            manifest = Manifest.read(live / "manifest.json")
            problem = manifest.compatible_with(self.embedder.id, self.chunk_tokens, self.chunk_overlap_tokens)
            if problem:
                raise IndexMismatchError(
                    f"cannot update {self.index_dir}: {problem}; rebuild it with `rag index build` (or use the old settings)"
                )
            with sqlite3.connect(live / "docstore.sqlite") as db:
                old_hashes = dict(db.execute("SELECT id, content_hash FROM articles"))
        new_ids = {a.id for a in articles}
        changed = [a for a in articles if old_hashes.get(a.id) != a.content_hash]
        report.added = sum(a.id not in old_hashes for a in changed)
        report.updated = len(changed) - report.added
        removed = [i for i in old_hashes if i not in new_ids]
        report.removed = len(removed)
        report.unchanged = len(articles) - len(changed)
        if live is not None and not changed and not removed:
            return report

        self._sweep_stale()
        tmp = self.index_dir / f"tmp-{os.getpid()}-{time.time_ns()}"
        tmp.mkdir()
        try:
            self._write_generation(tmp, live, changed, [*removed, *(a.id for a in changed if a.id in old_hashes)], report, progress)
            final = self.index_dir / tmp.name.replace("tmp-", "gen-", 1)
            tmp.rename(final)
            _fsync_dir(self.index_dir)
            pointer = self.index_dir / "CURRENT.tmp"
            with open(pointer, "w", encoding="utf-8") as handle:
                handle.write(final.name)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(pointer, self.index_dir / "CURRENT")
            _fsync_dir(self.index_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._sweep_stale(keep={final.name, live.name if live else ""})
        self._prune_cache()
        return report

    def _write_generation(
        self,
        gen: Path,
        live: Path | None,
        changed: list[Article],
        drop_ids: list[str],
        report: UpdateReport,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        db_path = gen / "docstore.sqlite"
        db = sqlite3.connect(db_path)
        if live is not None:
            with sqlite3.connect(live / "docstore.sqlite") as source:
                source.backup(db)
            dense = faiss.read_index(str(live / "dense.faiss"))
            manifest = Manifest.read(live / "manifest.json")
        else:
            db.executescript(_SCHEMA)
            dense = faiss.IndexIDMap2(faiss.IndexFlatIP(self.embedder.dim))
            manifest = Manifest(
                embedder=self.embedder.id,
                dim=self.embedder.dim,
                chunk_tokens=self.chunk_tokens,
                chunk_overlap_tokens=self.chunk_overlap_tokens,
                created_at=_now(),
            )
        removed_rows: list[int] = []
        vocabulary = VocabularyDelta()
        for start in range(0, len(drop_ids), 500):
            part = drop_ids[start : start + 500]
            marks = ",".join("?" * len(part))
            for row, tokens in db.execute(f"SELECT row, tokens FROM chunks WHERE article_id IN ({marks})", part):
                removed_rows.append(row)
                vocabulary.remove(tokens.split())
            db.execute(f"DELETE FROM chunks WHERE article_id IN ({marks})", part)
            db.execute(f"DELETE FROM articles WHERE id IN ({marks})", part)
        if removed_rows:
            dense.remove_ids(np.array(removed_rows, dtype=np.int64))

        chunks: list[tuple[Article, Chunk]] = []
        for article in changed:
            for chunk in chunk_article(article, self.embedder.count_tokens, self.chunk_tokens, self.chunk_overlap_tokens):
                chunks.append((article, chunk))
        vectors = self._embed([c.embed_text for _, c in chunks], report, progress)
        counts: dict[str, int] = {}
        for _, chunk in chunks:
            counts[chunk.article_id] = counts.get(chunk.article_id, 0) + 1
        db.executemany(
            "INSERT INTO articles VALUES (?,?,?,?,?,?,?,?,?)",
            [(a.id, a.title, a.outlet, a.date, a.url, a.lang, a.source_path, a.content_hash, counts.get(a.id, 0)) for a in changed],
        )
        rows: list[int] = []
        for (_, chunk), key in zip(chunks, vectors.keys):
            tokens = lexical_tokens(chunk.embed_text)
            vocabulary.add(tokens, chunk.embed_text)
            cursor = db.execute(
                "INSERT INTO chunks(chunk_id, article_id, ordinal, text, tokens, embed_key) VALUES (?,?,?,?,?,?)",
                (chunk.chunk_id, chunk.article_id, chunk.ordinal, chunk.text, " ".join(tokens), key),
            )
            rows.append(int(cursor.lastrowid))
        vocabulary.apply(db)
        report.terms_embedded = self._embed_terms(db, manifest, budget=TERM_VECTORS_PER_CHUNK * len(chunks))
        if rows:
            dense.add_with_ids(vectors.matrix, np.array(rows, dtype=np.int64))
        db.commit()

        _build_bm25(gen, db)
        manifest.articles = db.execute("SELECT count(*) FROM articles").fetchone()[0]
        manifest.chunks = db.execute("SELECT count(*) FROM chunks").fetchone()[0]
        manifest.updated_at = _now()
        keys = [k for (k,) in db.execute("SELECT embed_key FROM chunks")]
        db.close()
        faiss.write_index(dense, str(gen / "dense.faiss"))
        (gen / "manifest.json").write_text(json.dumps(asdict(manifest), indent=2, ensure_ascii=False), encoding="utf-8")
        for path in gen.rglob("*"):
            if path.is_file():
                with open(path, "rb") as handle:
                    os.fsync(handle.fileno())
        self._cache_keys = keys

    def _embed_terms(self, db: sqlite3.Connection, manifest: Manifest, budget: int) -> int:
        """Give the most frequent terms without a word vector one, up to `budget`."""
        db.execute("DELETE FROM term_vectors WHERE term NOT IN (SELECT term FROM vocabulary)")
        if self.word_encoder is None:
            return 0
        if manifest.extras.get("word_vectors") != self.word_encoder.id:
            db.execute("DELETE FROM term_vectors")  # another encoder's vectors: start over
            manifest.extras["word_vectors"] = self.word_encoder.id
        pending = db.execute(
            "SELECT term, surface FROM vocabulary WHERE length(term) >= 3 "
            "AND term NOT IN (SELECT term FROM term_vectors) ORDER BY freq DESC, term LIMIT ?",
            (budget,),
        ).fetchall()
        for start in range(0, len(pending), 512):
            part = pending[start : start + 512]
            vectors = self.word_encoder.encode([surface for _, surface in part])
            db.executemany(
                "INSERT INTO term_vectors VALUES (?, ?)",
                [(term, np.asarray(v, np.float16).tobytes()) for (term, _), v in zip(part, vectors)],
            )
        return len(pending)

    def _embed(self, texts: list[str], report: UpdateReport, progress: Callable[[int, int], None] | None) -> "_Vectors":
        cache = EmbeddingCache(self.index_dir / "embeddings.sqlite")
        try:
            keys = [EmbeddingCache.key(self.embedder.id, t) for t in texts]
            found = cache.get_many(keys, self.embedder.dim)
            todo = [i for i, k in enumerate(keys) if k not in found]
            if progress:
                progress(0, len(todo))
            for start in range(0, len(todo), EMBED_BATCH):
                batch = todo[start : start + EMBED_BATCH]
                vectors = self.embedder.embed_passages([texts[i] for i in batch])
                cache.put_many((keys[i], v) for i, v in zip(batch, vectors))
                found.update((keys[i], v) for i, v in zip(batch, vectors))
                report.chunks_embedded += len(batch)
                if progress:
                    progress(len(batch), len(todo))
            matrix = np.stack([found[k] for k in keys]) if keys else np.zeros((0, self.embedder.dim), np.float32)
            return _Vectors(keys, matrix.astype(np.float32))
        finally:
            cache.close()

    def _prune_cache(self) -> None:
        """Drop cached vectors that the live index no longer uses."""
        keys = getattr(self, "_cache_keys", None)
        if keys is not None:
            cache = EmbeddingCache(self.index_dir / "embeddings.sqlite")
            try:
                cache.keep_only(keys)
            finally:
                cache.close()

    def _sweep_stale(self, keep: set[str] | None = None) -> None:
        """Remove unfinished `tmp-*` dirs, and (after a swap) generations older than the previous one."""
        for path in self.index_dir.iterdir():
            if path.name.startswith("tmp-") or (keep is not None and path.name.startswith("gen-") and path.name not in keep):
                shutil.rmtree(path, ignore_errors=True)


@dataclass
class _Vectors:
    keys: list[str]
    matrix: np.ndarray


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
