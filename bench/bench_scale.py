"""The index's own costs at archive scale (not a test): build, add-1 update, no-op update,
search latency, disk and memory, with the model-free `hash:384` embedder so that only the
index's work counts (no model time; no name-index word vectors).

Corpus: ANT Corpus v1.1, Jawhara FM (Chouigui, Ben Khiroun, Elayeb, AICCSA 2017), evaluation data
only, replicated with distinct ids (and dates 35 days apart per copy) until the target chunk count is
reached, in JSONL files of 2,000 articles (like daily feeds). One process per size:

    python bench/bench_scale.py --chunks 10000
    python bench/bench_scale.py --chunks 1000000 --recall 200
    python bench/bench_scale.py --chunks 1000000 --search-only [--cold] [--warm]   # an index built before

`--cold` drops the OS page cache first (needs root), as after a reboot; `--warm` reads the index ahead
(`IndexStore.warm`, what `rag serve` does at start) before the first search.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from record import record  # noqa: E402

from rag.models.embeddings import load_embedder  # noqa: E402
from rag.index.writer import IndexWriter  # noqa: E402
from rag.retrieval import Retriever  # noqa: E402
from rag.index.store import IndexStore  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "bench" / "jawharafm-10k.jsonl.gz"
FILE_ARTICLES = 2000
# Chunks per article with hash:384 (words counted as tokens): measured 1.2 on this corpus.
CHUNKS_PER_ARTICLE = 1.2


def rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def shifted(date: str | None, copy: int) -> str | None:
    """Each copy of the corpus 35 days later than the last: an archive that spans years, not one whose
    every article is published 80 times the same day (that would be one story, rightly, rag.news.stories)."""
    if not date:
        return date
    import datetime as dt

    return (dt.date.fromisoformat(date[:10]) + dt.timedelta(days=35 * copy)).isoformat()


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
                for article in part:
                    out.write(json.dumps({**article, "id": f"{article.get('id', '')}~{copy}", "date": shifted(article.get("date"), copy)},
                                         ensure_ascii=False) + "\n")
            written += len(part)
        copy += 1


def child(phase: str, work: Path, args: argparse.Namespace) -> dict:
    """One measurement in a fresh process, as a user's next `rag index update` or `rag search` runs."""
    corpus, index = work / "corpus", work / "index"
    embedder = load_embedder("hash:384")
    writer = IndexWriter(index, embedder, 200, 40)
    if phase == "noop":
        start = time.perf_counter()
        report = writer.update(corpus)
        return {"seconds": time.perf_counter() - start, "files_read": report.files_read}
    if phase == "add1":
        with gzip.open(args.corpus, "rt", encoding="utf-8") as handle:
            record = json.loads(next(handle))
        name = f"new-{time.time_ns()}"
        (corpus / f"{name}.jsonl").write_text(json.dumps({**record, "id": name}, ensure_ascii=False) + "\n", encoding="utf-8")
        start = time.perf_counter()
        report = writer.update(corpus)
        assert report.added == 1, report
        return {"seconds": time.perf_counter() - start, "segments_merged": report.segments_merged}
    # search: hybrid, k=5, article titles of the unreplicated corpus as queries
    before = rss_mb()
    store = IndexStore.open(index)
    retriever = Retriever(store, embedder)
    warm_s = None
    if args.warm:
        start = time.perf_counter()
        store.warm()
        warm_s = round(time.perf_counter() - start, 1)
    with gzip.open(args.corpus, "rt", encoding="utf-8") as handle:
        queries = [json.loads(line)["title"] for _, line in zip(range(args.queries), handle)]
    start = time.perf_counter()
    retriever.search(queries[0])  # loads the dense indexes
    first = time.perf_counter() - start
    latencies = []
    for query in queries:
        start = time.perf_counter()
        retriever.search(query, k=5)
        latencies.append(1000 * (time.perf_counter() - start))
    latencies.sort()
    out = {
        "first_search_s": round(first, 2),
        "search_p50_ms": round(statistics.median(latencies), 1),
        "search_p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 1),
        "rss_mb_index": round(rss_mb() - before, 1),
        "warm_s": warm_s,
    }
    if args.recall:
        import numpy as np

        hits, total = 0, 0
        for segment in [s for s in store.segments if s.info["dense"] != "flat"]:
            vectors = segment.vectors(np.arange(segment.dense.ntotal))
            for q in embedder.embed_queries(queries[: args.recall]):
                exact = vectors @ q
                tenth = np.sort(exact)[-10]  # ties count as hits: hashed words tie often
                positions, _ = segment.dense_search(q, 10, None)
                hits += int(np.sum(exact[positions] >= tenth - 1e-6))
                total += 10
        out["ann_recall_at_10"] = round(hits / total, 4) if total else None
    return out


def drop_page_cache() -> None:
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("1\n")


def run_child(phase: str, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--chunks", str(args.chunks), "--work", str(args.work), "--child", phase,
               "--queries", str(args.queries), "--recall", str(args.recall), "--corpus", str(args.corpus)]
    if phase == "search" and args.warm:
        command.append("--warm")
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, required=True)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--work", type=Path, default=Path("/tmp/rag-scale"))
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--recall", type=int, default=0, help="queries for ANN recall@10 against exact search")
    parser.add_argument("--keep", action="store_true", help="reuse an existing corpus and index of this size")
    parser.add_argument("--optimize", action="store_true", help="merge into one segment before measuring search")
    parser.add_argument("--search-only", action="store_true", help="only the search measurement, on an index built before")
    parser.add_argument("--cold", action="store_true", help="drop the OS page cache before searching (root)")
    parser.add_argument("--warm", action="store_true", help="read the index ahead before searching, as rag serve does")
    parser.add_argument("--child", choices=["noop", "add1", "search"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    work = args.work / str(args.chunks)
    if args.child:
        print(json.dumps(child(args.child, work, args)))
        return
    if args.search_only:
        if args.cold:
            drop_page_cache()
        result = run_child("search", args)
        segments = IndexStore.open(work / "index").status()["segments"]
        record("scale-search-repeats", {**result, "chunks": sum(s["chunks"] for s in segments), "segments": len(segments),
                                        "dense_index": sorted({s["dense"] for s in segments}), "cold_page_cache": args.cold,
                                        "phase": "search only, fresh process"})
        return
    corpus, index = work / "corpus", work / "index"
    writer = IndexWriter(index, load_embedder("hash:384"), 200, 40)
    result: dict = {"target_chunks": args.chunks}
    if not args.keep or not index.exists():
        shutil.rmtree(work, ignore_errors=True)
        write_corpus(args.corpus, corpus, int(args.chunks / CHUNKS_PER_ARTICLE))
        start = time.perf_counter()
        report = writer.update(corpus, rebuild=True)
        result["build_s"] = round(time.perf_counter() - start, 1)
        result["build_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        result["segments_merged_in_build"] = report.segments_merged
    if args.optimize:
        start = time.perf_counter()
        writer.optimize()
        result["optimize_s"] = round(time.perf_counter() - start, 1)
    noop = [run_child("noop", args) for _ in range(3)]
    result["noop_update_s"] = round(statistics.median(r["seconds"] for r in noop), 3)
    result["noop_files_read"] = noop[-1]["files_read"]
    add1 = [run_child("add1", args) for _ in range(3)]
    result["add1_update_s"] = [round(r["seconds"], 3) for r in add1]
    result["add1_update_median_s"] = round(statistics.median(r["seconds"] for r in add1), 3)
    store = IndexStore.open(index)
    status = store.status()
    result.update(chunks=status["chunks"], articles=status["articles"], segments=len(status["segments"]),
                  dense_index=status["dense_index"], disk_mb=round(status["disk_bytes_total"] / 2**20, 1),
                  dense_bytes_per_chunk=status["memory_bytes_per_chunk"])
    store.close()
    result.update(run_child("search", args))
    result["rss_bytes_per_chunk"] = round(result["rss_mb_index"] * 2**20 / max(result["chunks"], 1), 1)
    record("scale", result)


if __name__ == "__main__":
    main()
