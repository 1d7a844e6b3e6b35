"""Writing the index: plan what changed → chunk → embed what is missing → write segments → commit → merge.

Each step is its own piece so that other engines reuse them: the Ray engine
(rag.index.distributed) replaces only the embedding step.

- `UpdatePlanner` lists the corpus, skips files whose size and mtime are
  unchanged since the last commit (the catalog), reads the others and yields
  the articles that are new or changed, with the stored version they replace.
- `Chunker` turns an article into its chunk records (text, lexical tokens, key).
- `VectorSource` finds each chunk's vector: the cache of uncommitted work, the
  live index (an unchanged chunk of an edited article), or the embedder.
- `IndexWriter` writes segments of at most FLUSH_CHUNKS chunks, commits them
  with the deletions in one new manifest, and merges segments by tiers.
"""

from __future__ import annotations

import errno
import json
import shutil
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from rag import __version__
from rag.ingest.chunking import chunk_article
from rag.ingest.corpus import READER_VERSION, Article, CorpusFile, list_corpus, read_corpus_file
from rag.models.embeddings import Embedder, WordEncoder
from rag.errors import CorpusError, IndexLockedError, IndexMismatchError, IndexMissingError, IndexWriteError
from rag.language import lexical_tokens
from rag.news.outlets import OutletDetector
from rag.news import stories
from rag.index.segments import (
    ArticleRecord,
    ChunkRecord,
    Segment,
    SegmentInput,
    SegmentStories,
    StoredArticle,
    write_segment,
)
from rag.news.dates import day_number
from rag.index.commit import Generations, copy_manifest
from rag.index.merge import Merger, plan_merge
from rag.index.vocabulary import new_term_vectors
from rag.index.store import (
    FORMAT_VERSION,
    EmbeddingCache,
    IndexStore,
    Manifest,
    SegmentRef,
    UpdateReport,
    current_generation,
    now,
)

EMBED_BATCH = 16
# A segment is flushed every FLUSH_CHUNKS chunks, which bounds a build's memory (~0.3 GB of
# records and vectors at 384 dimensions).
FLUSH_CHUNKS = 50_000
Progress = Callable[[int, int], None]


# --- the catalog of corpus files -------------------------------------------------------


class Catalog:
    """Size and mtime of each corpus file at the last commit, and the errors it had.

    Only a hint: written after a commit, so it never claims more than the
    index holds; a file whose size or mtime differs (or that it lacks) is read.
    """

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, timeout=10)
        self.db.executescript(
            "CREATE TABLE IF NOT EXISTS files(path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, errors TEXT);"
            "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
            "CREATE TABLE IF NOT EXISTS excluded(article_id TEXT PRIMARY KEY, removed_at TEXT);"
        )

    def excluded(self) -> set[str]:
        """Articles removed with `rag articles remove`: kept out of the index even while their file stays."""
        return {a for (a,) in self.db.execute("SELECT article_id FROM excluded")}

    def exclude(self, article_ids: Sequence[str]) -> None:
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO excluded VALUES (?, ?)", [(a, now()) for a in article_ids])

    def include(self, article_ids: Sequence[str]) -> None:
        with self.db:
            self.db.executemany("DELETE FROM excluded WHERE article_id = ?", [(a,) for a in article_ids])

    def entries(self, fingerprint: str) -> dict[str, tuple[int, int, str]]:
        """path → (size, mtime_ns, errors as JSON); empty when the reading settings differ."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'fingerprint'").fetchone()
        if not row or row[0] != fingerprint:
            return {}
        return {p: (s, m, e) for p, s, m, e in self.db.execute("SELECT path, size, mtime_ns, errors FROM files")}

    def record(self, fingerprint: str, read: Sequence[tuple[CorpusFile, list[dict[str, str]]]], gone: Sequence[str], reset: bool) -> None:
        with self.db:
            if reset:
                self.db.execute("DELETE FROM files")
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('fingerprint', ?)", (fingerprint,))
            self.db.executemany(
                "INSERT OR REPLACE INTO files VALUES (?,?,?,?)",
                [(f.rel, f.size, f.mtime_ns, json.dumps(errors, ensure_ascii=False)) for f, errors in read],
            )
            self.db.executemany("DELETE FROM files WHERE path = ?", [(p,) for p in gone])

    def forget_files(self) -> None:
        """Forget every file's size and mtime: the next update reads the whole corpus once."""
        with self.db:
            self.db.execute("DELETE FROM files")

    def close(self) -> None:
        self.db.close()


# --- planning ----------------------------------------------------------------------------


@dataclass
class Change:
    article: Article
    replaces: StoredArticle | None


@dataclass
class UpdatePlan:
    base: Path
    to_read: list[CorpusFile]
    gone: list[str]
    skipped: int
    #: errors of files that were skipped as unchanged (reported again, not re-read)
    known_errors: list[dict[str, str]]
    #: ids removed by `rag articles remove` (never indexed again while so recorded)
    excluded: set[str] = field(default_factory=set)
    # filled while `UpdatePlanner.changes` runs:
    removed: list[StoredArticle] = field(default_factory=list)
    unchanged: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    read: list[tuple[CorpusFile, list[dict[str, str]]]] = field(default_factory=list)


class UpdatePlanner:
    """Decides which files to read and which articles are new, changed or gone."""

    def __init__(self, corpus_dir: Path, outlets: Mapping[str, Sequence[str]] | None = None) -> None:
        self.corpus_dir = Path(corpus_dir)
        self.outlets = dict(outlets or {})
        self.fingerprint = json.dumps([__version__, FORMAT_VERSION, READER_VERSION, sorted(self.outlets.items())], ensure_ascii=False)

    def plan(self, live: IndexStore | None, catalog: Catalog | None) -> UpdatePlan:
        base, files = list_corpus(self.corpus_dir)
        known = catalog.entries(self.fingerprint) if catalog is not None and live is not None else {}
        to_read, known_errors, skipped = [], [], 0
        for file in files:
            entry = known.get(file.rel)
            if entry is not None and entry[:2] == (file.size, file.mtime_ns):
                skipped += 1
                known_errors.extend(json.loads(entry[2] or "[]"))
            else:
                to_read.append(file)
        listed = {f.rel for f in files}
        if live is None:
            gone: list[str] = []
        elif known:
            gone = [p for p in known if p not in listed]
        else:  # no catalog: ask the index which files it holds (the one O(index) case)
            gone = [p for p in _indexed_files(live) if p not in listed]
        excluded = catalog.excluded() if catalog is not None else set()
        return UpdatePlan(base, to_read, gone, skipped, known_errors, excluded)

    def changes(self, plan: UpdatePlan, live: IndexStore | None) -> Iterator[Change]:
        """New and changed articles of the files to read, one file at a time."""
        detector = OutletDetector(self.outlets)
        reread = {f.rel for f in plan.to_read}
        seen: dict[str, str] = {}
        for file in plan.to_read:
            items = read_corpus_file(plan.base, file, detector)
            articles: list[Article] = []
            file_errors: list[dict[str, str]] = []
            for item in items:
                if not isinstance(item, CorpusError) and item.id in plan.excluded:
                    seen[item.id] = item.source_path
                    continue
                if isinstance(item, CorpusError):
                    file_errors.append({"path": item.path, "error": item.message})
                elif item.id in seen:
                    file_errors.append({"path": item.source_path, "error": f"duplicate article id {item.id!r} (also in {seen[item.id]}); give one a unique 'id'"})
                else:
                    seen[item.id] = item.source_path
                    articles.append(item)
                    file_errors.extend({"path": item.source_path, "error": w} for w in item.warnings)
            stored = live.find_articles([a.id for a in articles]) if live is not None else {}
            for article in articles:
                old = stored.get(article.id)
                source_file = _source_file(article)
                if old is not None and old.source_file != source_file and old.source_file not in reread and old.source_file not in plan.gone:
                    file_errors.append({"path": article.source_path, "error": f"duplicate article id {article.id!r} (also in {old.source_path}); give one a unique 'id'"})
                    continue
                if old is not None and old.content_hash == article.content_hash and old.source_path == article.source_path:
                    plan.unchanged += 1
                    continue
                yield Change(article, old)
            plan.errors.extend(file_errors)
            plan.read.append((file, file_errors))
        if live is not None:
            # Articles that left the files that were read, all of those of vanished files, and any
            # excluded one still live (its removal was recorded but not committed).
            removed_ids = set()
            for old in live.articles_in_files([*reread, *plan.gone]):
                if old.id not in seen or old.id in plan.excluded:
                    plan.removed.append(old)
                    removed_ids.add(old.id)
            for old in live.find_articles(sorted(plan.excluded)).values():
                if old.id not in removed_ids:
                    plan.removed.append(old)


def _source_file(article: Article) -> str:
    path = article.source_path
    head, sep, tail = path.rpartition(":")
    return head if sep and tail.isdigit() else path


def _indexed_files(store: IndexStore) -> list[str]:
    files: set[str] = set()
    for segment in store.segments:
        files.update(segment.docs.source_files())
    return sorted(files)


# --- chunking and vectors ----------------------------------------------------------------


class Chunker:
    """Article → its stored record and chunk records (the same on every engine)."""

    def __init__(self, embedder: Embedder, chunk_tokens: int, overlap_tokens: int) -> None:
        self.embedder = embedder
        self.chunk_tokens = chunk_tokens
        self.overlap_tokens = overlap_tokens

    def __call__(self, article: Article) -> tuple[ArticleRecord, list[ChunkRecord]]:
        record = ArticleRecord(meta=article.meta, source_file=_source_file(article), content_hash=article.content_hash,
                               signature=stories.signature(f"{article.title}\n{article.text}"))
        chunks = []
        for chunk in chunk_article(article, self.embedder.count_tokens, self.chunk_tokens, self.overlap_tokens):
            text = chunk.embed_text
            chunks.append(
                ChunkRecord(chunk.chunk_id, chunk.ordinal, chunk.text, lexical_tokens(text), EmbeddingCache.key(self.embedder.id, text), raw=text)
            )
        return record, chunks


class VectorSource:
    """Vectors for chunk keys: uncommitted cache → live index → the embedder (cached as made).

    `embed_elsewhere(keys, texts)`, when given, computes what is in neither the cache nor the live index
    *into the cache* on other workers first (the Ray engine, rag.index.distributed); whatever it left out
    is embedded here.
    """

    def __init__(self, embedder: Embedder, cache: EmbeddingCache, live: IndexStore | None,
                 embed_elsewhere: Callable[[Sequence[str], Sequence[str]], None] | None = None) -> None:
        self.embedder = embedder
        self.cache = cache
        self.live = live if live is not None and live.manifest.embedder == embedder.id else None
        self.embed_elsewhere = embed_elsewhere

    def vectors(self, keys: Sequence[str], texts: Sequence[str], report: UpdateReport, progress: Progress | None) -> np.ndarray:
        found = self.cache.get_many(list(keys), self.embedder.dim)
        missing = [k for k in dict.fromkeys(keys) if k not in found]
        if missing and self.live is not None:
            reused = self.live.vectors_for_keys(missing)
            found.update(reused)
            report.chunks_reused += len(reused)
        text_of = dict(zip(keys, texts))
        todo = [k for k in dict.fromkeys(keys) if k not in found]
        if todo and self.embed_elsewhere is not None:
            self.embed_elsewhere(todo, [text_of[k] for k in todo])
            made = self.cache.get_many(todo, self.embedder.dim)
            found.update(made)
            report.chunks_embedded += len(made)
            todo = [k for k in todo if k not in found]
        self._embed(todo, text_of, found, report, progress)
        if not keys:
            return np.zeros((0, self.embedder.dim), np.float32)
        return np.stack([found[k] for k in keys]).astype(np.float32)

    def _embed(self, todo: list[str], text_of: dict[str, str], found: dict[str, np.ndarray], report: UpdateReport,
               progress: Progress | None) -> None:
        """Embed `todo` here in batches, each put in the cache as it is made (a killed build resumes)."""
        if progress:
            progress(0, len(todo))
        for start in range(0, len(todo), EMBED_BATCH):
            batch = todo[start : start + EMBED_BATCH]
            vectors = self.embedder.embed_passages([text_of[k] for k in batch])
            self.cache.put_many(zip(batch, vectors))
            found.update(zip(batch, vectors))
            report.chunks_embedded += len(batch)
            if progress:
                progress(len(batch), len(todo))


# --- the writer --------------------------------------------------------------------------


class IndexWriter:
    """Builds, updates and merges an index directory; one writer at a time (file lock)."""

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
        self.chunker = Chunker(embedder, chunk_tokens, chunk_overlap_tokens)
        self.chunk_tokens = chunk_tokens
        self.chunk_overlap_tokens = chunk_overlap_tokens
        self.generations = Generations(self.index_dir)
        self.merger = Merger(self.index_dir, self.generations)

    # public entry points

    def update(
        self,
        corpus_dir: Path,
        *,
        rebuild: bool = False,
        outlets: Mapping[str, Sequence[str]] | None = None,
        progress: Progress | None = None,
        embed_elsewhere: Callable[[Sequence[str], Sequence[str]], None] | None = None,
    ) -> UpdateReport:
        """Make the index match `corpus_dir`: index new/changed articles, drop deleted ones.

        `embed_elsewhere(keys, texts)`, if given, computes the vectors of chunks that are in neither
        the cache nor the index *into the cache* first (the Ray engine); the rest is the same.
        """
        with self._locked():
            return self._update(UpdatePlanner(corpus_dir, outlets), rebuild, progress, embed_elsewhere)

    def remove(self, article_ids: Sequence[str]) -> UpdateReport:
        """Take articles out of the index and keep them out while their files stay in the corpus
        (recorded in the catalog; `restore` undoes it)."""
        with self._locked():
            report = UpdateReport()
            live = self._open_live(rebuild=False)
            if live is None:
                raise IndexMissingError(f"no index in {self.index_dir}; build one with `rag index build --corpus DIR`")
            try:
                found = live.find_articles(list(article_ids))
                report.errors = [{"path": a, "error": f"no article {a!r} in the index"} for a in article_ids if a not in found]
                if not found:
                    return report
                catalog = Catalog(self.index_dir / "catalog.sqlite")
                try:
                    catalog.exclude(list(found))  # first: a crash before the commit is finished by the next update
                finally:
                    catalog.close()
                manifest = copy_manifest(live.manifest)
                self.generations.apply_deletions(manifest, live, list(found.values()))
                self.generations.commit(manifest)
                report.removed = len(found)
            finally:
                live.close()
            self.generations.sweep()
            return report

    def restore(self, article_ids: Sequence[str]) -> None:
        """Let removed articles back in: the next `rag index update` re-reads their files."""
        with self._locked():
            catalog = Catalog(self.index_dir / "catalog.sqlite")
            try:
                catalog.include(article_ids)
                catalog.forget_files()  # their files look unchanged: read everything once
            finally:
                catalog.close()

    def optimize(self, progress: Progress | None = None) -> UpdateReport:
        """Merge all segments into one (dropping deleted rows; 8-bit vectors if it is big enough)."""
        with self._locked():
            report = UpdateReport()
            live = self._open_live(rebuild=False)
            if live is not None and (len(live.manifest.segments) > 1 or any(r.deleted_chunks for r in live.manifest.segments)):
                self.merger.merge(live.manifest, list(range(len(live.manifest.segments))), report)
            return report

    # the steps

    def _locked(self) -> "_Writing":
        """The writer lock, held for one command. Whatever a writer killed earlier left half-written is cleared
        first (whichever command comes next), and a full disk ends the command with one line, its partial
        segment removed."""
        self.index_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.index_dir / ".lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise IndexLockedError(
                f"index {self.index_dir} is locked: another `rag index` is writing it; wait for it to finish"
            ) from None
        try:
            self.generations.sweep()
        except BaseException:
            lock.release()
            raise
        return _Writing(lock, self)

    def _open_live(self, rebuild: bool) -> IndexStore | None:
        path = current_generation(self.index_dir)
        if path is None:
            return None
        manifest = Manifest.read(path)
        problem = manifest.compatible_with(self.embedder.id, self.chunk_tokens, self.chunk_overlap_tokens)
        if problem and not rebuild:
            raise IndexMismatchError(
                f"cannot update {self.index_dir}: {problem}; rebuild it with `rag index build` (or use the old settings)"
            )
        if manifest.format_version != FORMAT_VERSION:
            # an older segment format: a rebuild may still take unchanged chunks' vectors from it
            return IndexStore(path, vectors_only=True) if manifest.format_version >= 5 else None
        return IndexStore(path)

    def _fresh_manifest(self, live: IndexStore | None) -> Manifest:
        return Manifest(
            embedder=self.embedder.id,
            dim=self.embedder.dim,
            chunk_tokens=self.chunk_tokens,
            chunk_overlap_tokens=self.chunk_overlap_tokens,
            created_at=now(),
            generation=(live.manifest.generation if live else 0),
            next_segment=(live.manifest.next_segment if live else 1),
        )

    def _update(self, planner: UpdatePlanner, rebuild: bool, progress: Progress | None,
                embed_elsewhere: Callable[[Sequence[str], Sequence[str]], None] | None) -> UpdateReport:
        live = self._open_live(rebuild)
        catalog = Catalog(self.index_dir / "catalog.sqlite")
        compare = None if rebuild else live
        report = UpdateReport()
        try:
            plan = planner.plan(compare, catalog)
            report.files_skipped, report.files_read = plan.skipped, len(plan.to_read)
            manifest = self._fresh_manifest(live) if compare is None else copy_manifest(compare.manifest)
            cache = EmbeddingCache(self.index_dir / "embeddings.sqlite")
            vectors = VectorSource(self.embedder, cache, live, embed_elsewhere)
            assigner = stories.StoryAssigner([SegmentStories(s) for s in compare.segments] if compare is not None else [])
            run = _UpdateRun(manifest, vectors, compare, report, progress, assigner)
            new_refs = run.written
            replaced: list[StoredArticle] = []
            committed_keys = run.committed_keys
            try:
                self._write_changes(planner, plan, run, replaced)
                report.removed = len(plan.removed)
                if compare is not None:
                    report.unchanged = compare.manifest.articles - report.updated - report.removed
                report.errors = plan.known_errors + plan.errors
                if compare is not None and not new_refs and not plan.removed and not replaced:
                    catalog.record(planner.fingerprint, plan.read, plan.gone, reset=False)
                    return report
                if compare is None:
                    manifest.segments = []
                self.generations.apply_deletions(manifest, compare, [*replaced, *plan.removed])
                manifest.segments.extend(r for r in new_refs if r.chunks or r.articles)
                self.generations.commit(manifest)
                catalog.record(planner.fingerprint, plan.read, plan.gone, reset=compare is None)
                if compare is None:  # a rebuild: everything the cache held is committed or stale
                    cache.clear()
                else:
                    cache.delete_many(committed_keys)
                self.generations.sweep()
            finally:
                cache.close()
            report.segments_written = sum(1 for r in new_refs if r.chunks or r.articles)
            self.merger.by_policy(manifest, report)
            return report
        finally:
            catalog.close()
            if live is not None:
                live.close()

    def _write_changes(self, planner: UpdatePlanner, plan: UpdatePlan, run: _UpdateRun, replaced: list[StoredArticle]) -> None:
        """Chunk each new or changed article and write them as segments of at most FLUSH_CHUNKS chunks
        (not committed yet); the articles they replace are collected in `replaced`."""
        pending: list[tuple[ArticleRecord, list[ChunkRecord]]] = []
        pending_chunks = 0
        for change in planner.changes(plan, run.live):
            if change.replaces is None:
                run.report.added += 1
            else:
                run.report.updated += 1
                replaced.append(change.replaces)
            run.report.changed_ids.append(change.article.id)
            record, chunks = self.chunker(change.article)
            pending.append((record, chunks))
            pending_chunks += len(chunks)
            if pending_chunks >= FLUSH_CHUNKS:
                run.written.append(self._flush(pending, run))
                pending, pending_chunks = [], 0
        if pending:
            run.written.append(self._flush(pending, run))

    def _flush(self, pending: list[tuple[ArticleRecord, list[ChunkRecord]]], run: _UpdateRun) -> SegmentRef:
        """Embed what is missing of `pending` and write it as one new segment (not yet committed)."""
        manifest, vectors, report, assigner = run.manifest, run.vectors, run.report, run.assigner
        keys = [c.embed_key for _, chunks in pending for c in chunks]
        texts = [c.raw for _, chunks in pending for c in chunks]
        matrix = vectors.vectors(keys, texts, report, run.progress)
        data = SegmentInput()
        start = 0
        assigner.prefetch([record.id for record, _ in pending], np.stack([record.signature for record, _ in pending]),
                          np.array([day_number(record.meta.date) for record, _ in pending], dtype=np.int64))
        for record, chunks in pending:
            record.meta = replace(record.meta, story=assigner.assign(record.id, day_number(record.meta.date), record.signature))
            data.add(record, chunks, matrix[start : start + len(chunks)])
            start += len(chunks)
        word_vectors = self._term_vectors(data, run)
        number = manifest.next_segment
        manifest.next_segment += 1
        name = f"seg-{number:08d}"
        summary = write_segment(self.index_dir / name, data, self.embedder.dim, word_vectors)
        run.committed_keys.extend(keys)
        # The batch's articles are now a segment: candidates come from its band table from here on.
        assigner.sources.append(SegmentStories(Segment(self.index_dir / name, number, None)))
        assigner.next_batch()
        return SegmentRef(name, number, summary["articles"], summary["chunks"], summary["tokens"], summary["dense"])

    def _term_vectors(self, data: SegmentInput, run: _UpdateRun) -> dict[str, bytes]:
        """Word vectors for the most frequent new terms of a segment, up to its budget."""
        if self.word_encoder is None:
            return {}
        live = run.live
        if run.manifest.word_vectors != self.word_encoder.id:
            run.manifest.word_vectors = self.word_encoder.id
            live = None  # another encoder's vectors: do not count them as present
        found = new_term_vectors(data.terms, data.n_chunks, self.word_encoder, run.terms_with_vectors,
                                 live.vocabulary if live is not None else None)
        run.report.terms_embedded += len(found)
        run.terms_with_vectors.update(found)
        return found

@dataclass
class _UpdateRun:
    """What one update carries from flush to flush: where it writes, what it has written so far."""

    manifest: Manifest
    vectors: VectorSource
    live: IndexStore | None
    report: UpdateReport
    progress: Progress | None
    assigner: stories.StoryAssigner
    written: list[SegmentRef] = field(default_factory=list)
    committed_keys: list[str] = field(default_factory=list)
    terms_with_vectors: set[str] = field(default_factory=set)


class _Writing:
    """One writer command under the lock (see `IndexWriter._locked`)."""

    def __init__(self, lock: FileLock, writer: IndexWriter) -> None:
        self.lock = lock
        self.writer = writer

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        try:
            if exc is not None and is_disk_full(exc):
                self.writer.generations.sweep()  # the half-written segment goes; the live generation was never touched
                # and the vectors computed for it (uncommitted only): a retry embeds again rather than start full
                for leftover in self.writer.index_dir.glob("embeddings.sqlite*"):
                    leftover.unlink(missing_ok=True)
                raise IndexWriteError(disk_full_message(self.writer.index_dir)) from None
        finally:
            self.lock.release()


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC / EDQUOT from a write, or SQLite's "database or disk is full"."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(exc, sqlite3.Error) and "disk is full" in str(exc)


def disk_full_message(index_dir: Path) -> str:
    free = shutil.disk_usage(index_dir).free
    size = sum(f.stat().st_size for f in Path(index_dir).rglob("*") if f.is_file())
    return (f"the disk holding {index_dir} is full ({free / 2**20:.0f} MB free): nothing indexed was lost and the "
            f"partial segment was removed; an update needs room for its new segments and a merge up to the index's "
            f"size ({size / 2**20:.0f} MB) — free that much space and run it again")


__all__ = ["Catalog", "Chunker", "IndexWriter", "UpdatePlanner", "VectorSource", "plan_merge"]
