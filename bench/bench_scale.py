"""The index's own costs at archive scale (not a test): build, add-1 update, no-op update,
search latency, disk and memory, with the model-free `hash:384` embedder so that only the
index's work counts (no model time; no name-index word vectors).

Corpus: ANT Corpus v1.1, Jawhara FM (Chouigui, Ben Khiroun, Elayeb, AICCSA 2017), evaluation data
only, replicated with distinct ids until the target chunk count is reached, in JSONL files of
2,000 articles (like daily feeds). One process per size:

    python bench/bench_scale.py --chunks 10000
    python bench/bench_scale.py --chunks 1000000 --recall 200
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import resource
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.embeddings import load_embedder  # noqa: E402
from rag.indexing import IndexWriter  # noqa: E402
from rag.retrieval import Retriever  # noqa: E402
from rag.store import IndexStore  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "bench" / "jawharafm-10k.jsonl.gz"
RESULTS = ROOT / "bench" / "results" / "scale.jsonl"
FILE_ARTICLES = 2000
# Words per chunk with hash:384 (word count = tokens): measured 2.3 chunks per article.
CHUNKS_PER_ARTICLE = 2.3


def rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def write_corpus(source: Path, target: Path, articles: int) -> None:
    with gzip.open(source, "rt", encoding="utf-8") as handle:
        base = [json.loads(line) for line in handle]
    target.mkdir(parents=True, exist_ok=True)
    written = 0
    copy = 0
    while written < articles:
        for start in range(0, len(base), FILE_ARTICLES):
            if written >= articles:
                break
            part = base[start : start + FILE_ARTICLES][: articles - written]
            with (target / f"c{copy:03d}-{start // FILE_ARTICLES:02d}.jsonl").open("w", encoding="utf-8") as out:
                for record in part:
                    out.write(json.dumps({**record, "id": f"{record.get('id', '')}~{copy}"}, ensure_ascii=False) + "\n")
            written += len(part)
        copy += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, required=True)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--work", type=Path, default=Path("/tmp/rag-scale"))
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--recall", type=int, default=0, help="queries for ANN recall@10 against exact search")
    parser.add_argument("--keep", action="store_true", help="reuse an existing corpus and index of this size")
    args = parser.parse_args()
    work = args.work / str(args.chunks)
    corpus, index = work / "corpus", work / "index"
    embedder = load_embedder("hash:384")
    writer = IndexWriter(index, embedder, 200, 40)
    result: dict = {"target_chunks": args.chunks}
    if not args.keep or not index.exists():
        shutil.rmtree(work, ignore_errors=True)
        write_corpus(args.corpus, corpus, int(args.chunks / CHUNKS_PER_ARTICLE))
        start = time.perf_counter()
        report = writer.update(corpus, rebuild=True)
        result["build_s"] = round(time.perf_counter() - start, 1)
        result["segments_merged_in_build"] = report.segments_merged
    store = IndexStore.open(index)
    status = store.status()
    result.update(chunks=status["chunks"], articles=status["articles"], segments=len(status["segments"]),
                  dense_index=status["dense_index"], disk_mb=round(status["disk_bytes_total"] / 2**20, 1))
    store.close()

    # no-op update: nothing changed (every file listed and stat'ed, none read)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        report = writer.update(corpus)
        times.append(time.perf_counter() - start)
    result["noop_update_s"] = round(statistics.median(times), 3)
    result["noop_files_read"] = report.files_read

    # add-1: a new feed file with one new article, three times
    with gzip.open(args.corpus, "rt", encoding="utf-8") as handle:
        fresh = [json.loads(next(handle)) for _ in range(3)]
    times = []
    for i, record in enumerate(fresh):
        (corpus / f"new-{i}.jsonl").write_text(json.dumps({**record, "id": f"new-{i}"}, ensure_ascii=False) + "\n", encoding="utf-8")
        start = time.perf_counter()
        report = writer.update(corpus)
        times.append(time.perf_counter() - start)
        assert report.added == 1, report
    result["add1_update_s"] = [round(t, 3) for t in times]
    result["add1_update_median_s"] = round(statistics.median(times), 3)

    # search: hybrid, k=5, article titles of the unreplicated corpus as queries
    before = rss_mb()
    store = IndexStore.open(index)
    retriever = Retriever(store, embedder)
    with gzip.open(args.corpus, "rt", encoding="utf-8") as handle:
        queries = [json.loads(line)["title"] for _, line in zip(range(args.queries), handle)]
    retriever.search(queries[0])  # loads the dense indexes
    latencies = []
    for query in queries:
        start = time.perf_counter()
        retriever.search(query, k=5)
        latencies.append(1000 * (time.perf_counter() - start))
    latencies.sort()
    result["search_p50_ms"] = round(statistics.median(latencies), 1)
    result["search_p95_ms"] = round(latencies[int(0.95 * (len(latencies) - 1))], 1)
    result["rss_mb_index"] = round(rss_mb() - before, 1)
    result["rss_bytes_per_chunk"] = round((rss_mb() - before) * 2**20 / max(result["chunks"], 1), 1)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)

    if args.recall:
        import numpy as np

        hits, total = 0, 0
        approx = [s for s in store.segments if s.info["dense"] == "hnsw"]
        for segment in approx:
            vectors = segment.dense.reconstruct_n(0, segment.dense.ntotal)
            queries_v = embedder.embed_queries(queries[: args.recall])
            for q in queries_v:
                exact = vectors @ q
                tenth = np.sort(exact)[-10]
                positions, _ = segment.dense_search(q, 10, None)
                hits += int(np.sum(exact[positions] >= tenth - 1e-6))
                total += 10
        result["ann_recall_at_10"] = round(hits / total, 4) if total else None
    result.update(cpus=os.cpu_count(), python=platform.python_version(), at=time.strftime("%Y-%m-%dT%H:%M:%S"))
    print(json.dumps(result))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
