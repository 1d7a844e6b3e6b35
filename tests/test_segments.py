"""Segments, deletions, merges, the file catalog and BM25 with global statistics."""

import json

import faiss
import numpy as np
import pytest

import rag.index.writer as indexing
import rag.index.commit as generations
import rag.index.merge as merging
import rag.index.segments as segments
from rag.models.embeddings import HashEmbedder as ModelFreeEmbedder
from rag.models.embeddings import load_embedder
from rag.errors import FilterError, ModelError
from rag.index.writer import IndexWriter, plan_merge
from rag.retrieval import Retriever
from rag.index.store import IndexStore, SegmentRef
from rag.news.filters import Filters

from helpers import HashEmbedder, write_article


def writer(idx, embedder=None):
    return IndexWriter(idx, embedder or HashEmbedder(), chunk_tokens=60, chunk_overlap_tokens=10)


def count_reads(monkeypatch):
    reads: list[str] = []
    original = indexing.read_corpus_file

    def spy(base, file, detector):
        reads.append(file.rel)
        return original(base, file, detector)

    monkeypatch.setattr(indexing, "read_corpus_file", spy)
    return reads


def test_unchanged_files_are_not_read(news_corpus, tmp_path, monkeypatch):
    idx = tmp_path / "idx"
    writer(idx).update(news_corpus)
    reads = count_reads(monkeypatch)
    report = writer(idx).update(news_corpus)
    assert reads == [] and report.files_skipped == 3 and report.unchanged == 3
    write_article(news_corpus, "new.md", "الموصل", "معركة الموصل بدأت.", outlet="SANA")
    report = writer(idx).update(news_corpus)
    assert reads == ["new.md"] and report.added == 1 and report.unchanged == 3
    # a JSONL file that grew is read again; only its new line is indexed
    feed = news_corpus / "feed.jsonl"
    feed.write_text(json.dumps({"id": "f1", "title": "تونس", "text": "انتخابات في تونس."}, ensure_ascii=False) + "\n", encoding="utf-8")
    writer(idx).update(news_corpus)
    reads.clear()
    with feed.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"id": "f2", "title": "ليبيا", "text": "اجتماع في طرابلس."}, ensure_ascii=False) + "\n")
    embedder = HashEmbedder()
    report = writer(idx, embedder).update(news_corpus)
    assert reads == ["feed.jsonl"] and (report.added, report.updated, report.unchanged) == (1, 0, 5)
    assert embedder.embedded == report.chunks_embedded == 1
    # a removed file's articles leave without reading anything
    reads.clear()
    (news_corpus / "new.md").unlink()
    report = writer(idx).update(news_corpus)
    assert reads == [] and report.removed == 1
    assert IndexStore.open(idx).find_articles(["new"]) == {}


def test_errors_of_skipped_files_are_still_reported(news_corpus, tmp_path):
    (news_corpus / "bad.jsonl").write_text('{"id": "ok", "title": "t", "text": "نص صالح"}\n{oops\n', encoding="utf-8")
    first = writer(tmp_path / "idx").update(news_corpus)
    again = writer(tmp_path / "idx").update(news_corpus)
    assert [e["path"].rsplit("/", 1)[-1] for e in first.errors] == ["bad.jsonl:2"]
    assert again.errors == first.errors and again.files_skipped == 4


def test_duplicate_id_in_a_new_file_is_an_error_not_a_move(news_corpus, tmp_path):
    idx = tmp_path / "idx"
    writer(idx).update(news_corpus)
    write_article(news_corpus, "copy.md", "نسخة", "نص آخر تماما.", outlet="SANA", id="a")
    report = writer(idx).update(news_corpus)
    assert report.added == 0 and any("duplicate article id 'a'" in e["error"] for e in report.errors)
    assert IndexStore.open(idx).find_articles(["a"])["a"].source_file == "a.md"


def test_updates_add_segments_with_tombstones_and_optimize_merges(news_corpus, tmp_path):
    idx = tmp_path / "idx"
    writer(idx).update(news_corpus)
    for i in range(3):
        write_article(news_corpus, f"n{i}.md", f"خبر {i}", f"نص الخبر رقم {i} عن الموصل والرقة.", outlet="SANA", date=f"2016-07-0{i + 1}")
        writer(idx).update(news_corpus)
    write_article(news_corpus, "b.md", "كيري في جنيف", "نص جديد عن محادثات جنيف.", outlet="Al Jazeera", date="2016-05-11")
    writer(idx).update(news_corpus)
    store = IndexStore.open(idx)
    assert len(store.segments) == 5
    first = store.manifest.segments[0]
    assert first.deleted_articles == 1 and first.deleted_chunks >= 1
    before = Retriever(store, HashEmbedder()).search("الموصل الرقة جنيف", k=6)
    report = writer(idx).optimize()
    assert report.segments_merged == 5
    merged = IndexStore.open(idx)
    assert len(merged.segments) == 1 and merged.manifest.segments[0].deleted_chunks == 0
    assert merged.manifest.chunks == store.manifest.chunks and merged.manifest.articles == 6
    after = Retriever(merged, HashEmbedder()).search("الموصل الرقة جنيف", k=6)
    assert [h.chunk.chunk_id for h in after.hits] == [h.chunk.chunk_id for h in before.hits]
    assert [round(h.score, 6) for h in after.hits] == [round(h.score, 6) for h in before.hits]
    # the old reader still works: its generation's files are kept until the next commit
    assert before.hits[0].chunk.chunk_id in {c.chunk_id for c in store.chunks([h.chunk.row for h in before.hits]).values()}


def test_incremental_index_equals_fresh_build(news_corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(merging, "MERGE_FACTOR", 3)  # the merge policy's own module
    idx, fresh = tmp_path / "idx", tmp_path / "fresh"
    writer(idx).update(news_corpus)
    for i in range(7):
        write_article(news_corpus, f"n{i}.md", f"خبر {i}", f"قال الوزير في اليوم {i} إن المحادثات في جنيف مستمرة حول حلب.", outlet="SANA")
        writer(idx).update(news_corpus)
    (news_corpus / "n3.md").unlink()
    writer(idx).update(news_corpus)
    writer(fresh).update(news_corpus)
    a, b = IndexStore.open(idx), IndexStore.open(fresh)
    assert len(a.segments) < 9  # tiered merges kept the count down
    assert (a.manifest.articles, a.manifest.chunks) == (b.manifest.articles, b.manifest.chunks)
    for query in ["جنيف حلب", "الوزير المحادثات", "أسعار النفط"]:
        for mode in ("dense", "bm25"):
            ha = Retriever(a, HashEmbedder()).search(query, k=5, mode=mode).hits
            hb = Retriever(b, HashEmbedder()).search(query, k=5, mode=mode).hits
            assert [round(h.score, 5) for h in ha] == [round(h.score, 5) for h in hb]
            assert {h.chunk.chunk_id for h in ha} == {h.chunk.chunk_id for h in hb} or mode == "dense"


def test_bm25_over_segments_equals_bm25s(tmp_path):
    import bm25s

    from rag.language import lexical_tokens

    rng = np.random.default_rng(7)
    words = ["سوريا", "لافروف", "الرقة", "موسكو", "جنيف", "النفط", "اوبك", "حلب", "ادلب", "تونس", "مصر", "ليبيا"]
    texts = [" ".join(rng.choice(words, size=rng.integers(3, 30))) for _ in range(60)]
    corpus = tmp_path / "corpus"
    for i, text in enumerate(texts):
        write_article(corpus, f"{i:02d}.md", "خبر", text, outlet="X", id=f"d{i}")
    idx = tmp_path / "idx"
    for i in range(3):  # three segments
        for path in sorted(corpus.glob("*.md"))[i * 20 + 20 :]:
            path.rename(path.with_suffix(".hold"))
        writer(idx).update(corpus)
        for path in corpus.glob("*.hold"):
            path.rename(path.with_suffix(".md"))
    store = IndexStore.open(idx)
    assert len(store.segments) == 3
    docs = {}
    for segment in store.segments:
        for text in [r[0] for r in segment.db.execute("SELECT tokens FROM chunks ORDER BY pos")]:
            docs[len(docs)] = text.split()
    reference = bm25s.BM25()
    reference.index(list(docs.values()), show_progress=False)
    for query in ["لافروف الرقة", "النفط اوبك مصر", "حلب حلب ادلب"]:
        tokens = lexical_tokens(query)
        rows, _ = store.lexical_search(tokens, depth=10)
        chunks = store.chunks(rows)
        got = [chunks[r].text for r in rows]
        ids, scores = reference.retrieve([tokens], k=10, show_progress=False)
        texts_by_doc = list(docs.values())
        want_scores = sorted(scores[0], reverse=True)
        ours = _scores(store, tokens, rows)
        assert np.allclose(sorted(ours, reverse=True), want_scores, atol=1e-4)
        assert len(got) == 10 and texts_by_doc  # both rank ten documents


def _scores(store, tokens, rows):
    from rag.index import lexical

    frequencies = store.vocabulary.document_frequencies(tokens)
    idf = {t: store.statistics.idf(df) for t, df in frequencies.items()}
    values = {}
    for segment in store.segments:
        columns = store.vocabulary.columns(segment.db, list(frequencies))
        positions, scores = lexical.score(segment.postings, [(columns[t][0], idf[t]) for t in tokens if t in columns], store.statistics)
        for p, s in zip(positions, scores):
            values[(segment.number << 32) | int(p)] = float(s)
    return [values[r] for r in rows]


def test_filters_are_masks_across_segments(news_corpus, tmp_path):
    idx = tmp_path / "idx"
    writer(idx).update(news_corpus)
    write_article(news_corpus, "d.md", "وزير الخارجية", "وزير الخارجية في حلب.", outlet="SANA", date="2016-06-01T10:00:00")
    writer(idx).update(news_corpus)
    retriever = Retriever(IndexStore.open(idx), HashEmbedder())
    june = retriever.search("وزير الخارجية", k=10, filters=Filters(since="2016-06", until="2016-06")).hits
    assert {h.chunk.article_id for h in june} == {"d"}  # a date-time on the last day counts
    sana = retriever.search("وزير الخارجية", k=10, filters=Filters(outlet="sana")).hits
    assert {h.chunk.outlet for h in sana} == {"SANA"} and "d" in {h.chunk.article_id for h in sana}


def test_big_segments_are_scanned_in_8_bits_and_rescored_exactly(tmp_path, monkeypatch):
    monkeypatch.setattr(segments, "QUANTIZED_MIN_VECTORS", 500)
    corpus = tmp_path / "corpus"
    rng = np.random.default_rng(3)
    vocabulary = [f"كلمة{i}" for i in range(400)]
    lines = [json.dumps({"id": f"a{i}", "title": "", "text": " ".join(rng.choice(vocabulary, 12))}, ensure_ascii=False) for i in range(900)]
    corpus.mkdir()
    (corpus / "feed.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    idx = tmp_path / "idx"
    embedder = ModelFreeEmbedder(64)
    writer(idx, embedder).update(corpus)
    store = IndexStore.open(idx)
    assert store.status()["dense_index"] == ["sq8r"] and store.status()["vectors"] == 900
    assert store.status()["memory_bytes_per_chunk"] < 64 * 4 / 2  # 8-bit codes resident, floats memory-mapped
    segment = store.segments[0]
    assert isinstance(segment.dense, faiss.IndexPreTransform)
    exact = np.load(segment.path / "vectors.npy")
    assert np.array_equal(segment.vectors(np.arange(900)), exact)  # merges and reuse get the float vectors
    assert not np.array_equal(segment.dense.reconstruct_n(0, 900), exact)  # not the 8-bit ones
    recalls = []
    for q in exact[rng.choice(900, 50, replace=False)]:
        tenth = np.sort(exact @ q)[-10]  # hashed words tie often: any vector as close as the 10th counts
        positions, scores = segment.dense_search(q, 10, None)
        recalls.append(float(np.mean(exact[positions] @ q >= tenth - 1e-6)))
        assert np.allclose(scores, exact[positions] @ q, atol=1e-6)  # similarities are exact, not 8-bit
    assert np.mean(recalls) >= 0.98
    # a merge carries the float vectors over, not their 8-bit approximations
    (corpus / "more.jsonl").write_text(json.dumps({"id": "b", "title": "", "text": "كلمة1 كلمة2 كلمة3"}, ensure_ascii=False) + "\n", encoding="utf-8")
    writer(idx, embedder).update(corpus)
    writer(idx, embedder).optimize()
    merged = IndexStore.open(idx).segments
    assert len(merged) == 1 and merged[0].info["dense"] == "sq8r"
    by_id = {row[0]: row[1] for row in merged[0].db.execute("SELECT a.id, c.pos FROM chunks c JOIN articles a ON a.ord = c.article_ord")}
    assert np.allclose(merged[0].vectors(np.array([by_id["a5"]])), exact[5:6], atol=1e-7)
    # a narrow filter is scored exactly over the rows it leaves
    mask = np.zeros(900, dtype=bool)
    mask[rng.choice(900, 40, replace=False)] = True
    q = exact[0]
    positions, scores = segment.dense_search(q, 5, mask)
    allowed = np.flatnonzero(mask)
    assert set(positions) <= set(allowed)
    assert np.allclose(scores, np.sort(exact[allowed] @ q)[::-1][:5], atol=1e-5)
    with pytest.raises(FilterError, match="unknown outlet 'nobody'"):
        Retriever(store, embedder).search("كلمة1", k=3, filters=Filters(outlet="nobody"))


def test_merge_policy_merges_adjacent_tiers():
    small = [SegmentRef(f"s{i}", i, 1, 5, 50, "flat") for i in range(8)]
    assert plan_merge(small) == list(range(8))
    big = SegmentRef("b", 99, 1000, 50_000, 1, "flat")
    assert plan_merge([big, *small[:7]]) is None
    doomed = SegmentRef("d", 98, 10, 100, 1, "flat", deleted="del.npy", deleted_articles=6, deleted_chunks=60)
    assert plan_merge([big, doomed]) == [1]


def test_hash_embedder_from_settings():
    embedder = load_embedder("hash:384")
    assert embedder.id == "hash:384" and embedder.embed_passages(["a b"]).shape == (1, 384)
    with pytest.raises(ModelError, match="hash:384"):
        load_embedder("hash:big")


def test_crash_before_the_swap_loses_nothing(news_corpus, tmp_path, monkeypatch):
    """Segments written but never committed: the old generation stays live, the next run finishes."""
    idx = tmp_path / "idx"
    writer(idx).update(news_corpus)
    before = IndexStore.open(idx)
    write_article(news_corpus, "d.md", "حلب", "معارك في حلب.", outlet="SANA")
    (news_corpus / "b.md").unlink()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(generations, "write_manifest", crash)  # the commit step's own module
    with pytest.raises(KeyboardInterrupt):
        writer(idx).update(news_corpus)
    monkeypatch.undo()
    live = IndexStore.open(idx)
    assert live.path == before.path and live.manifest.articles == 3 and live.find_articles(["b"])
    embedder = HashEmbedder()
    report = writer(idx, embedder).update(news_corpus)
    assert (report.added, report.removed, report.chunks_embedded) == (1, 1, 0)  # its vector was kept
    after = IndexStore.open(idx)
    assert after.manifest.articles == 3 and not after.find_articles(["b"]) and after.find_articles(["d"])
    assert sorted(p.name for p in idx.glob("seg-*")) == sorted({r.name for r in after.manifest.segments} | {r.name for r in before.manifest.segments})


def test_articles_list_show_remove_and_restore(news_corpus, tmp_path):
    from rag.index.store import Filters

    idx = tmp_path / "idx"
    writer(idx).update(news_corpus)
    store = IndexStore.open(idx)
    total, listed = store.list_articles(Filters.parse(outlet="al jazeera"), 0, 10)
    assert total == 2 and [a.id for a in listed] == ["sub/c", "b"]  # newest first
    assert IndexStore.open(idx).list_articles(None, 1, 1)[1][0].id == "b"
    assert "معركة الرقة" in store.article_text("a")
    report = writer(idx).remove(["a", "nope"])
    assert report.removed == 1 and report.errors[0]["error"] == "no article 'nope' in the index"
    assert IndexStore.open(idx).find_articles(["a"]) == {}
    # it stays out when the corpus is updated, even when its file changes
    write_article(news_corpus, "a.md", "لافروف", "نص معدل عن الرقة.", outlet="SANA")
    again = writer(idx).update(news_corpus)
    assert again.added == 0 and IndexStore.open(idx).find_articles(["a"]) == {}
    writer(idx).restore(["a"])
    back = writer(idx).update(news_corpus)
    assert back.added == 1 and "a" in IndexStore.open(idx).find_articles(["a"])


def test_rebuild_of_an_older_format_reuses_its_vectors(news_corpus, tmp_path):
    from rag.index.store import current_generation
    from rag.errors import IndexMismatchError

    idx = tmp_path / "idx"
    writer(idx).update(news_corpus)
    path = current_generation(idx)
    data = json.loads(path.read_text())
    data["format_version"] -= 1  # as if written by the previous release
    path.write_text(json.dumps(data))
    with pytest.raises(IndexMismatchError, match="rag index build"):
        writer(idx).update(news_corpus)
    embedder = HashEmbedder()
    report = writer(idx, embedder).update(news_corpus, rebuild=True)
    assert report.added == 3 and report.chunks_embedded == 0 and report.chunks_reused >= 3 and embedder.calls == 0
    assert IndexStore.open(idx).manifest.articles == 3


def test_bm25_sums_and_depth_cut_do_not_change_the_ranking(tmp_path, monkeypatch):
    """Scores summed densely or by sorting, and each segment cut to the depth, rank the same."""
    from rag.index import lexical
    from rag.language import lexical_tokens

    rng = np.random.default_rng(3)
    words = ["سوريا", "لافروف", "الرقة", "موسكو", "جنيف", "النفط", "اوبك", "حلب", "ادلب", "تونس"]
    corpus = tmp_path / "corpus"
    for i in range(80):
        write_article(corpus, f"{i:02d}.md", "خبر", " ".join(rng.choice(words, size=rng.integers(3, 20))), outlet="X", id=f"d{i}")
    writer(tmp_path / "idx").update(corpus)
    store = IndexStore.open(tmp_path / "idx")
    tokens = lexical_tokens("لافروف الرقة النفط")
    everything = len(store.segments[0].postings.doclen)
    ranked = {}
    for ratio in (0, 10**9):  # never / always summed densely
        monkeypatch.setattr(lexical, "DENSE_ACCUMULATE_RATIO", ratio)
        full, _ = store.lexical_search(tokens, depth=everything)
        cut, _ = store.lexical_search(tokens, depth=7)
        assert cut == full[:7]
        ranked[ratio] = full
    assert ranked[0] == ranked[10**9] and len(ranked[0]) > 7


def _quantized_index(tmp_path, monkeypatch, n=900, build=None):
    monkeypatch.setattr(segments, "QUANTIZED_MIN_VECTORS", 500)
    if build is not None:
        monkeypatch.setattr(segments, "build_dense", build)
    corpus = tmp_path / "corpus"
    rng = np.random.default_rng(5)
    vocabulary = [f"كلمة{i}" for i in range(300)]
    corpus.mkdir()
    lines = [json.dumps({"id": f"a{i}", "title": "", "text": " ".join(rng.choice(vocabulary, 10))}, ensure_ascii=False) for i in range(n)]
    (corpus / "feed.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    idx = tmp_path / "idx"
    writer(idx, ModelFreeEmbedder(64)).update(corpus)
    return IndexStore.open(idx)


def test_one_large_segment_is_split_over_threads_with_the_same_results(tmp_path, monkeypatch):
    import rag.index.store as store_module

    store = _quantized_index(tmp_path, monkeypatch)
    assert len(store.segments) == 1
    segment = store.segments[0]
    exact = segment.vectors(np.arange(segment.n_chunks))
    queries = exact[:20] + 0.01
    monkeypatch.setattr(store_module, "PARALLEL_DENSE_MIN", 10**9)
    whole = [store.dense_search(q, 12) for q in queries]
    monkeypatch.setattr(store_module, "PARALLEL_DENSE_MIN", 1)
    pieces = store_module._pieces([(segment, None)], segment.n_chunks, 3)
    assert [p[2] for p in pieces] == [(0, 300), (300, 600), (600, 900)]
    split = [store.dense_search(q, 12) for q in queries]
    for (rows_a, sims_a), (rows_b, sims_b) in zip(whole, split):
        assert np.allclose(sims_a, sims_b, atol=1e-6)
        above_last = [r for r, sim in zip(rows_a, sims_a) if sim > sims_a[-1] + 1e-6]  # hashed words tie at the cut
        assert rows_b[: len(above_last)] == above_last or set(rows_b[: len(above_last)]) == set(above_last)
    # a span with a filter keeps both
    mask = np.zeros(900, dtype=bool)
    mask[::7] = True
    positions, _ = segment.dense_search(queries[0], 5, mask, (300, 600))
    assert len(positions) == 5 and all(300 <= p < 600 and p % 7 == 0 for p in positions)
    positions, _ = segment.dense_search(queries[0], 5, None, (300, 600))
    assert all(300 <= p < 600 for p in positions)


def test_segments_of_the_earlier_8bit_format_are_still_searched_exactly(tmp_path, monkeypatch):
    def per_dimension_8bit(vectors):  # how format 8 wrote large segments
        index = faiss.IndexScalarQuantizer(vectors.shape[1], faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        index.add(vectors)
        return index

    store = _quantized_index(tmp_path, monkeypatch, build=per_dimension_8bit)
    segment = store.segments[0]
    assert segment.info["dense"] == "sq8"
    exact = np.load(segment.path / "vectors.npy")
    q = exact[3]
    positions, scores = segment.dense_search(q, 5, None)
    assert positions[0] == 3 and np.allclose(scores, np.sort(exact @ q)[::-1][:5], atol=1e-5)


def test_rotated_codes_are_reproducible_and_keep_inner_products(monkeypatch):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(600, 32)).astype(np.float32)
    vectors[:, 0] *= 40  # an outlier dimension: the rotation spreads it
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    import gc

    monkeypatch.setattr(segments, "QUANTIZED_MIN_VECTORS", 100)
    a, b = segments.build_dense(vectors), segments.build_dense(vectors)
    gc.collect()  # the rotation and the codes must be owned by the index, not by Python locals
    assert segments.dense_kind(a) == "sq8r"
    assert np.array_equal(faiss.serialize_index(a), faiss.serialize_index(b))
    scores, ids = a.search(vectors[:50], 1)
    assert np.mean(ids[:, 0] == np.arange(50)) >= 0.9
    assert np.allclose(scores[:, 0], 1.0, atol=0.05)


def test_a_process_that_writes_and_reads_lets_go_of_merged_segments_at_once(tmp_path):
    """Retired generations' docstores are closed when their last reader goes, not at the next GC."""
    import gc
    import os

    import pytest

    from helpers import HashEmbedder, write_article
    from rag.index.writer import IndexWriter
    from rag.retrieval import Retriever
    from rag.index.store import IndexStore

    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc/self/fd (Linux) to list open files")

    def deleted_open() -> list[str]:
        found = []
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if target.startswith(str(tmp_path)) and target.endswith("(deleted)"):
                found.append(target)
        return found

    corpus = tmp_path / "corpus"
    write_article(corpus, "a.txt", "الرقة", "الرقة هدف للتحالف " * 20)
    embedder = HashEmbedder()
    writer = IndexWriter(tmp_path / "index", embedder, 200, 40)
    writer.update(corpus)
    retriever = Retriever(IndexStore.open(tmp_path / "index"), embedder)
    gc.disable()  # what is released must be released without the collector
    try:
        for i in range(3):
            write_article(corpus, f"b{i}.txt", f"خبر {i}", f"خبر رقم {i} عن الموصل " * 20)
            writer.update(corpus)
            writer.optimize()
            retriever.refresh()
            assert retriever.search("الموصل", k=2).hits
        assert deleted_open() == []
    finally:
        gc.enable()
