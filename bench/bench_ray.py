"""Real-model embedding throughput: local vs `--engine ray` on the same machine (not a test).

Builds the same articles of the bench corpus (ANT Corpus v1.1, Jawhara FM; evaluation data only)
twice with the default embedder: once locally, once with Ray Data actors. Prints chunks/s of
each whole build; the ratio is the point (one machine: Ray adds workers, not cores).

    python bench/bench_ray.py --articles 150 --workers 2
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_index import DEFAULT_CORPUS, records, write_jsonl  # noqa: E402

from record import record  # noqa: E402

from rag import load_settings, update_index  # noqa: E402
from rag.index.distributed import RayOptions  # noqa: E402



def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=150)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("/tmp/rag-ray-bench"))
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    write_jsonl(records(DEFAULT_CORPUS, 0, args.articles), args.work / "corpus" / "articles.jsonl")
    result = {"articles": args.articles, "cpus": os.cpu_count()}
    for engine in ("local", "ray"):
        settings = load_settings(corpus_dir=args.work / "corpus", index_dir=args.work / engine, cache_dir=args.work / "cache")
        ray = RayOptions(workers=args.workers) if engine == "ray" else None
        start = time.perf_counter()
        report = update_index(settings, rebuild=True, ray=ray)
        seconds = time.perf_counter() - start
        result[f"{engine}_chunks"] = report.chunks_embedded
        result[f"{engine}_s"] = round(seconds, 1)
        result[f"{engine}_chunks_per_s"] = round(report.chunks_embedded / seconds, 2)
    result["ray_over_local"] = round(result["ray_chunks_per_s"] / result["local_chunks_per_s"], 2)
    result["workers"] = args.workers
    record("ray", result)


if __name__ == "__main__":
    main()
