"""Index and search benchmark on a real Arabic news corpus (not a test).

Corpus: ANT Corpus v1.1, Jawhara FM (Chouigui, Ben Khiroun, Elayeb, AICCSA 2017),
`../shared/corpus/bench/jawharafm-10k.jsonl.gz`; evaluation data only.

Phases (each prints one JSON line and appends it to bench/results/index.jsonl):
  throughput  fresh build of the first N articles: chunks/s of the whole build
  big         fresh build of the first --big-articles articles (kept for the next phases)
  grow        `update_index` adding --grow-articles more (4,800 + 1,000 articles give 10,378 chunks)
  update      one new article into a copy of the grown index
  query       `Retriever.search` latency p50/p95 (hybrid, k=5) over unseen article titles
  names       fresh build of the first N articles, timing chunk embedding and the name index's word
              vectors separately (the issue's budget: words under 10% of the embedding time)

    python bench/bench_index.py throughput --articles 300
    python bench/bench_index.py big grow update query --work /tmp/rag-bench
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from record import record  # noqa: E402

from rag import load_settings, open_retriever, update_index  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "bench" / "jawharafm-10k.jsonl.gz"


def records(path: Path, start: int, count: int) -> list[dict]:
    out = []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            if number < start:
                continue
            if len(out) == count:
                break
            out.append(json.loads(line))
    return out


def write_jsonl(rows: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def emit(result: dict) -> None:
    record("index", result)


def build(corpus_dir: Path, index_dir: Path, threads: int) -> tuple[float, dict]:
    settings = load_settings(corpus_dir=corpus_dir, index_dir=index_dir, threads=threads, cache_dir=index_dir / "cache")
    start = time.perf_counter()
    report = update_index(settings, rebuild=True)
    return time.perf_counter() - start, report.to_dict()


def _fresh_build(args: argparse.Namespace, phase: str, articles: int) -> None:
    work = args.work / phase
    shutil.rmtree(work, ignore_errors=True)
    write_jsonl(records(args.corpus, 0, articles), work / "corpus" / "articles.jsonl")
    seconds, report = build(work / "corpus", work / "index", args.threads)
    emit({"phase": phase, "articles": articles, "chunks": report["chunks_embedded"], "seconds": round(seconds, 1),
          "chunks_per_s": round(report["chunks_embedded"] / seconds, 2), "threads": args.threads})


def phase_throughput(args: argparse.Namespace) -> None:
    _fresh_build(args, "throughput", args.articles)


def phase_big(args: argparse.Namespace) -> None:
    _fresh_build(args, "big", args.big_articles)


def phase_grow(args: argparse.Namespace) -> None:
    """`rag index update` adding --grow-articles more articles to the big index."""
    work = args.work / "big"
    write_jsonl(records(args.corpus, 0, args.big_articles + args.grow_articles), work / "corpus" / "articles.jsonl")
    settings = load_settings(corpus_dir=work / "corpus", index_dir=work / "index", threads=args.threads, cache_dir=work / "index" / "cache")
    start = time.perf_counter()
    report = update_index(settings)
    seconds = time.perf_counter() - start
    emit({"phase": "grow", "added": report.added, "chunks_embedded": report.chunks_embedded, "seconds": round(seconds, 1),
          "chunks_per_s": round(report.chunks_embedded / seconds, 2)})


def phase_update(args: argparse.Namespace) -> None:
    big = args.work / "big"
    work = args.work / "update"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(big, work)
    new = records(args.corpus, args.big_articles + args.grow_articles, 1)
    write_jsonl(new, work / "corpus" / "new.jsonl")
    settings = load_settings(corpus_dir=work / "corpus", index_dir=work / "index", threads=args.threads, cache_dir=work / "index" / "cache")
    start = time.perf_counter()
    report = update_index(settings)
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    again = update_index(settings)
    noop = time.perf_counter() - start
    from rag.index.store import IndexStore

    chunks = IndexStore.open(work / "index").manifest.chunks
    emit({"phase": "update", "index_chunks": chunks, "added": report.added, "chunks_embedded": report.chunks_embedded,
          "seconds": round(seconds, 2), "noop_seconds": round(noop, 2), "noop_embedded": again.chunks_embedded})


def phase_query(args: argparse.Namespace) -> None:
    settings = load_settings(index_dir=args.work / "big" / "index", threads=args.threads)
    retriever = open_retriever(settings)
    queries = [r["title"] for r in records(args.corpus, args.big_articles + args.grow_articles + 10, args.queries)]
    retriever.search(queries[0])  # warm-up
    latencies = []
    for query in queries:
        start = time.perf_counter()
        retriever.search(query, k=5)
        latencies.append(1000 * (time.perf_counter() - start))
    latencies.sort()
    emit({"phase": "query", "index_chunks": retriever.store.manifest.chunks, "queries": len(queries),
          "p50_ms": round(statistics.median(latencies), 1), "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 1)})


class _Timed:
    """Wraps an embedder or the word encoder; counts the seconds spent in it."""

    def __init__(self, inner) -> None:
        self.inner, self.id, self.dim = inner, inner.id, inner.dim
        self.seconds = 0.0

    def _timed(self, method, texts):
        start = time.perf_counter()
        try:
            return method(texts)
        finally:
            self.seconds += time.perf_counter() - start

    def embed_passages(self, texts: list[str]):
        return self._timed(self.inner.embed_passages, texts)

    def embed_queries(self, texts: list[str]):
        return self.inner.embed_queries(texts)

    def encode(self, texts: list[str]):
        return self._timed(self.inner.encode, texts)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)


def phase_names(args: argparse.Namespace) -> None:
    from rag.models.embeddings import load_embedder, load_word_encoder
    from rag.index.writer import IndexWriter

    work = args.work / "names"
    shutil.rmtree(work, ignore_errors=True)
    write_jsonl(records(args.corpus, 0, args.articles), work / "corpus" / "articles.jsonl")
    settings = load_settings(threads=args.threads)
    embedder = _Timed(load_embedder(settings.embedder, args.threads))
    words = _Timed(load_word_encoder(args.threads))
    writer = IndexWriter(work / "index", embedder, settings.chunk_tokens, settings.chunk_overlap_tokens, word_encoder=words)
    start = time.perf_counter()
    report = writer.update(work / "corpus", rebuild=True)
    seconds = time.perf_counter() - start
    emit({"phase": "names", "articles": args.articles, "chunks": report.chunks_embedded, "words": report.terms_embedded,
          "seconds": round(seconds, 1), "chunk_embedding_s": round(embedder.seconds, 1), "word_vectors_s": round(words.seconds, 1),
          "word_share_of_embedding": round(words.seconds / embedder.seconds, 3) if embedder.seconds else None})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("phases", nargs="+", choices=["throughput", "big", "grow", "update", "query", "names"])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--work", type=Path, default=Path("/tmp/rag-bench"))
    parser.add_argument("--articles", type=int, default=300)
    parser.add_argument("--big-articles", type=int, default=4800)
    parser.add_argument("--grow-articles", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    for phase in args.phases:
        globals()[f"phase_{phase}"](args)


if __name__ == "__main__":
    main()
