"""Index-time cost of story signatures and date extraction on the development corpus (not a test).

Compared with the embedding time of the same articles (measured chunks/s of the default embedder in
bench/results/ray.jsonl, local engine). Quote types are computed at query time, not at index time.

    python bench/bench_news_cost.py --corpus-file /tmp/dev/corpus/dev.jsonl --chunks-per-s 9.5 --chunks 12000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.news.dates import date_in_text  # noqa: E402
from rag.news.stories import band_keys, signature  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus-file", type=Path, required=True)
    parser.add_argument("--chunks-per-s", type=float, required=True, help="embedding throughput of the default model here")
    parser.add_argument("--chunks", type=int, required=True, help="chunks of this corpus in the index")
    args = parser.parse_args()
    articles = [json.loads(line) for line in args.corpus_file.open(encoding="utf-8")]
    start = time.perf_counter()
    for a in articles:
        band_keys(signature(f"{a['title']}\n{a['text']}")[None, :])
    stories = time.perf_counter() - start
    start = time.perf_counter()
    for a in articles:
        date_in_text(a["text"])
    dates = time.perf_counter() - start
    embedding = args.chunks / args.chunks_per_s
    print(json.dumps({"articles": len(articles), "story_signatures_s": round(stories, 2), "date_extraction_s": round(dates, 2),
                      "embedding_s_estimate": round(embedding), "share_of_embedding": round((stories + dates) / embedding, 4)}))


if __name__ == "__main__":
    main()
