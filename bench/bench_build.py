"""Build time of one checkout of rag on a corpus, with the model-free `hash:384` embedder so that only
the index's own work counts (reading, chunking, terms, stories, segments, merges). Not a test.

To compare two versions, check the older one out beside this one and run both on the same corpus:

    git worktree add /tmp/rag-old <commit>
    python bench/bench_build.py --code /tmp/rag-old --corpus /tmp/corpus --flush-chunks 4000 --label old
    python bench/bench_build.py --code .            --corpus /tmp/corpus --flush-chunks 4000 --label new

A small `--flush-chunks` writes many segments in one build, as a long build does.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from record import record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--code", type=Path, required=True, help="a checkout of rag (its rag/ package is imported)")
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--flush-chunks", type=int, default=0, help="chunks per new segment (default: the code's own)")
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    sys.path.insert(0, str(args.code.resolve()))
    import rag.index.writer as indexing
    from rag.models.embeddings import load_embedder

    if args.flush_chunks:
        indexing.FLUSH_CHUNKS = args.flush_chunks
    work = Path(tempfile.mkdtemp(prefix="rag-build-"))
    try:
        writer = indexing.IndexWriter(work / "index", load_embedder("hash:384"), 200, 40)
        start = time.perf_counter()
        report = writer.update(args.corpus, rebuild=True)
        seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(work, ignore_errors=True)
    record("build", {"label": args.label, "code": str(args.code), "corpus": str(args.corpus), "flush_chunks": indexing.FLUSH_CHUNKS,
                     "articles": report.added, "build_s": round(seconds, 1), "articles_per_s": round(report.added / seconds, 1),
                     "segments_written": report.segments_written, "segments_merged": report.segments_merged})


if __name__ == "__main__":
    main()
