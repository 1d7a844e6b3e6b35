import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from rag.errors import IndexLockedError, IndexMismatchError, IndexMissingError
from rag.retrieval import Retriever, rrf
from rag.index.writer import IndexWriter
from rag.index.store import Filters, IndexStore, current_generation

from helpers import ROOT, TESTS
from helpers import HashEmbedder, write_article


def build(corpus, index_dir, embedder=None, **kw):
    return IndexWriter(index_dir, embedder or HashEmbedder(), chunk_tokens=60, chunk_overlap_tokens=10).update(corpus, **kw)


def test_build_then_search_with_metadata(news_corpus, tmp_path):
    report = build(news_corpus, tmp_path / "idx")
    assert (report.added, report.updated, report.removed, report.unchanged) == (3, 0, 0, 0)
    assert report.chunks_embedded >= 3
    store = IndexStore.open(tmp_path / "idx")
    assert store.status()["articles"] == 3
    assert store.status()["outlets"] == {"Al Jazeera": 2, "SANA": 1}
    retriever = Retriever(store, HashEmbedder())
    hit = retriever.search("الرقة لافروف", k=1).hits[0]
    assert hit.chunk.article_id == "a" and hit.chunk.outlet == "SANA" and hit.chunk.date == "2016-03-01"
    assert hit.chunk.url == "https://example.org/a" and hit.chunk.source_path == "a.md"


def test_update_is_incremental_and_idempotent(news_corpus, tmp_path):
    idx = tmp_path / "idx"
    build(news_corpus, idx)
    embedder = HashEmbedder()
    again = build(news_corpus, idx, embedder)
    assert (again.unchanged, again.chunks_embedded, embedder.calls) == (3, 0, 0)
    # change one, delete one, add one
    write_article(news_corpus, "b.md", "كيري في جنيف", "نص جديد تماما عن محادثات السلام في جنيف.", outlet="Al Jazeera", date="2016-05-11")
    (news_corpus / "sub" / "c.md").unlink()
    write_article(news_corpus, "d.md", "حلب", "معارك في حلب.", outlet="SANA", date="2016-06-01")
    embedder = HashEmbedder()
    report = build(news_corpus, idx, embedder)
    assert (report.added, report.updated, report.removed, report.unchanged) == (1, 1, 1, 1)
    store = IndexStore.open(idx)
    assert embedder.embedded - report.terms_embedded == report.chunks_embedded == store.manifest.chunks - len(store.article_chunks("a"))
    assert store.article_chunks("sub/c") == []
    assert sum(s.live_chunks for s in store.segments) == store.manifest.chunks
    assert sum(s.dense.ntotal for s in store.segments) == sum(s.postings.n_docs for s in store.segments) == sum(r.chunks for r in store.manifest.segments)
    hits = Retriever(store, HashEmbedder()).search("أسعار النفط أوبك", k=10).hits
    assert all(h.chunk.article_id != "sub/c" for h in hits)


def test_filters_and_per_article(news_corpus, tmp_path):
    build(news_corpus, tmp_path / "idx")
    retriever = Retriever(IndexStore.open(tmp_path / "idx"), HashEmbedder())
    only = retriever.search("وزير الخارجية", k=10, filters=Filters(outlet="al jazeera")).hits
    assert only and {h.chunk.outlet for h in only} == {"Al Jazeera"}
    dated = retriever.search("وزير الخارجية", k=10, filters=Filters(since="2016-04-01", until="2016-12-31")).hits
    assert {h.chunk.article_id for h in dated} == {"b"}
    assert retriever.search("وزير", k=10, filters=Filters(lang="en")).hits == []
    for mode in ("dense", "bm25", "hybrid"):
        hits = retriever.search("وزير الخارجية", k=10, mode=mode, per_article=True).hits
        ids = [h.chunk.article_id for h in hits]
        assert len(ids) == len(set(ids))
        assert [h.rank for h in hits] == list(range(1, len(hits) + 1))


def test_rrf_prefers_agreement():
    fused = dict(rrf([([1, 2, 3], 1.0), ([3, 2, 4], 1.0)]))
    assert max(fused, key=fused.get) in (2, 3)
    assert fused[2] > fused[1] and fused[3] > fused[4]


def test_bad_input_never_damages_index(news_corpus, tmp_path):
    idx = tmp_path / "idx"
    build(news_corpus, idx)
    gen = current_generation(idx)
    (news_corpus / "broken.txt").write_bytes(b"\x00\xff\x00")
    (news_corpus / "bad.jsonl").write_text('{"id": "ok", "title": "t", "text": "نص صالح"}\n{oops\n', encoding="utf-8")
    report = build(news_corpus, idx)
    assert report.added == 1 and report.unchanged == 3
    assert sorted(e["path"].rsplit("/", 1)[-1] for e in report.errors) == ["bad.jsonl:2", "broken.txt"]
    assert IndexStore.open(idx).manifest.articles == 4
    assert gen.exists()  # the previous generation is kept for readers that still hold it


def test_embedder_mismatch_is_a_clear_error(news_corpus, tmp_path):
    build(news_corpus, tmp_path / "idx")

    class Other(HashEmbedder):
        id = "test:other"

    with pytest.raises(IndexMismatchError, match="rag index build"):
        build(news_corpus, tmp_path / "idx", Other())
    with pytest.raises(IndexMismatchError, match="embedder"):
        Retriever(IndexStore.open(tmp_path / "idx"), Other())
    report = build(news_corpus, tmp_path / "idx", Other(), rebuild=True)
    assert report.added == 3 and IndexStore.open(tmp_path / "idx").manifest.embedder == "test:other"


def test_missing_index(tmp_path):
    with pytest.raises(IndexMissingError, match="rag index build"):
        IndexStore.open(tmp_path / "nothing")


def test_second_writer_gets_locked_error(news_corpus, tmp_path):
    from filelock import FileLock

    idx = tmp_path / "idx"
    idx.mkdir()
    with FileLock(str(idx / ".lock")):
        with pytest.raises(IndexLockedError, match="locked"):
            build(news_corpus, idx)


def test_reader_sees_updates_after_refresh(news_corpus, tmp_path):
    idx = tmp_path / "idx"
    build(news_corpus, idx)
    retriever = Retriever(IndexStore.open(idx), HashEmbedder())
    assert retriever.refresh() is False
    write_article(news_corpus, "e.md", "الموصل", "معركة الموصل بدأت.", outlet="SANA")
    build(news_corpus, idx)
    assert retriever.refresh() is True
    assert retriever.search("الموصل", k=1).hits[0].chunk.article_id == "e"


KILL_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r}); sys.path.insert(0, {root!r})
    from helpers import HashEmbedder
    from rag.index.writer import IndexWriter
    IndexWriter({idx!r}, HashEmbedder(delay=0.2), chunk_tokens=60, chunk_overlap_tokens=10).update({corpus!r})
    """
)


def test_killed_update_leaves_previous_index_and_next_run_finishes(news_corpus, tmp_path):
    idx = tmp_path / "idx"
    build(news_corpus, idx)
    before = current_generation(idx)
    for i in range(40):
        write_article(news_corpus, f"new/{i:02d}.md", f"خبر {i}", f"نص الخبر رقم {i} عن موضوع مختلف {i * 7}.", outlet="SANA")
    script = KILL_SCRIPT.format(tests=str(TESTS), root=str(ROOT), idx=str(idx), corpus=str(news_corpus))
    proc = subprocess.Popen([sys.executable, "-c", script])
    cache = idx / "embeddings.sqlite"
    deadline = time.time() + 60
    cached = 0
    while time.time() < deadline and proc.poll() is None:
        if cache.exists():
            try:
                cached = sqlite3.connect(cache).execute("SELECT count(*) FROM vectors").fetchone()[0]
            except sqlite3.OperationalError:
                cached = 0
            if cached > 3 + 16:  # the first build's vectors plus at least one new batch
                break
        time.sleep(0.05)
    assert proc.poll() is None, "the update finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # the previous index is intact and live
    assert current_generation(idx) == before
    store = IndexStore.open(idx)
    assert store.manifest.articles == 3
    # the next run completes the work, reusing what was embedded before the kill
    embedder = HashEmbedder()
    report = build(news_corpus, idx, embedder)
    assert report.added == 40
    assert 0 < report.chunks_embedded < 40
    assert IndexStore.open(idx).manifest.articles == 43
    assert not list(idx.glob("tmp-*"))


def test_warming_reads_the_paged_files_and_follows_updates(news_corpus, tmp_path, monkeypatch):
    import builtins

    build(news_corpus, tmp_path / "idx")
    store = IndexStore.open(tmp_path / "idx")
    opened = []
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda path, *a, **k: opened.append(os.path.basename(str(path))) or real_open(path, *a, **k))
    names = store.warm()
    monkeypatch.setattr(builtins, "open", real_open)
    assert names == {s.path.name for s in store.segments}
    assert "vectors.npy" not in opened  # float vectors are paged only in 8-bit segments
    assert {"lex_docs.npy", "lex_tfs.npy", "columns.npz", "story_band_keys.npy", "docstore.sqlite"} <= set(opened)
    assert all(s._dense is not None for s in store.segments)  # the dense index is loaded before the first search
    assert store.warm(skip=names) == set()
    # a long-lived retriever warms what each update adds, not the segments it already read
    retriever = Retriever(store, HashEmbedder())
    retriever.warm_in_background().join(10)
    assert retriever.warmed == names
    write_article(news_corpus, "new.md", "خبر جديد", "نص خبر جديد عن الرقة.", outlet="SANA")
    build(news_corpus, tmp_path / "idx")
    assert retriever.refresh()
    deadline = time.time() + 10
    while retriever.warmed != names | {s.path.name for s in retriever.store.segments} and time.time() < deadline:
        time.sleep(0.05)
    assert retriever.warmed >= {s.path.name for s in retriever.store.segments} and len(retriever.warmed) > len(names)
