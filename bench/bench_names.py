"""What name expansion costs at query time (not a test).

XQuAD English questions against the 240 Arabic paragraphs (the `rag eval` index, built once in the
cache): `Retriever.search` latency with and without name expansion. Each name's matches are computed
once per index generation and then remembered, so the first pass ("cold") pays for embedding
candidates and the second ("warm") does not. Appends one JSON line to bench/results/names.jsonl.

    python bench/bench_names.py --limit 300
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from record import record  # noqa: E402

from rag import load_settings, open_retriever, update_index  # noqa: E402
from rag.evaluation import eval_index_settings, load_xquad  # noqa: E402
from rag.names.expansion import latin_names  # noqa: E402



def latencies(retriever, questions: list[str]) -> dict[str, float]:
    values = []
    for question in questions:
        start = time.perf_counter()
        retriever.search(question, k=10, per_article=True)
        values.append(1000 * (time.perf_counter() - start))
    values.sort()
    return {"p50_ms": round(statistics.median(values), 1), "p95_ms": round(values[int(0.95 * (len(values) - 1))], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=300)
    args = parser.parse_args()
    data = load_xquad(None, "en")
    settings = eval_index_settings(load_settings(), "xquad-ar", data.paragraphs)
    update_index(settings)
    questions = [q.question for q in data.questions[: args.limit]]
    plain = open_retriever(settings, expand_names=False)
    plain.search(questions[0])  # warm-up: model and index loaded
    result = {"questions": len(questions), "with_names": sum(bool(latin_names(q)) for q in questions)}
    result["without_expansion"] = latencies(plain, questions)
    named = open_retriever(settings)
    result["with_expansion_cold"] = latencies(named, questions)
    result["with_expansion_warm"] = latencies(named, questions)
    record("names", result)


if __name__ == "__main__":
    main()
