"""Calibrate the standing-question match thresholds (rag.live.alerts) on the newsqa-dev TUNE split.

Every tune question with gold articles (answerable and outlet comparisons) becomes an alert, and the whole
dev index arrives as if it were one burst: an article matches when one of its chunks reaches the similarity
threshold and holds the coverage share of the question's words (with the speaker and date gates the matcher
applies). For each pair of thresholds: recall (gold articles matched) and noise (non-gold articles matched per
question per 1,000 articles). The chosen pair maximises recall with noise ≤ NOISE_BUDGET.

    python bench/calibrate_alerts.py --index /tmp/dev/index --questions ../shared/eval/newsqa-dev/questions.jsonl

Prints a JSON summary (written to bench/results/alerts-calibration.json with --write).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from rag import load_settings, open_retriever
from rag.answer.answerability import CROSS_LANGUAGE_OFFSET, coverage
from rag.evaluation import load_newsqa
from rag.live.alerts import AlertMatcher
from rag.news.questions import mentions

NOISE_BUDGET = 1.0  # non-gold matches per question per 1,000 new articles
SIMILARITIES = [round(float(x), 2) for x in np.arange(0.76, 0.90, 0.01)]
COVERAGES = [0.0, 0.2, 0.25, 0.34, 0.4, 0.5, 0.6]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--split", default="tune", choices=["tune", "test"],
                        help="tune: choose the thresholds; test: report the shipped ones (never used to choose)")
    args = parser.parse_args()
    retriever = open_retriever(load_settings(index_dir=args.index))
    store = retriever.store
    ids = [a.id for a in store.list_articles(None, 0, 1_000_000)[1]]
    started = time.monotonic()
    chunks, vectors = store.article_passages(ids)
    questions = [q for q in load_newsqa(args.questions, split=args.split) if q.gold]
    matcher = AlertMatcher(retriever)
    rows = []  # (question index, article id, similarity, coverage) per chunk that passes the gates
    for qi, q in enumerate(questions):
        asked = matcher._question(q.question)
        sims = vectors @ asked.vector
        for c in np.flatnonzero(sims >= min(SIMILARITIES) - CROSS_LANGUAGE_OFFSET):
            chunk = chunks[c]
            score = float(sims[c]) + (CROSS_LANGUAGE_OFFSET if chunk.lang != asked.language else 0.0)
            if asked.speaker_terms and not mentions(chunk.text, asked.speaker_terms):
                continue
            rows.append((qi, chunk.article_id, score, coverage(asked.terms, chunk.text)))
    grid = []
    for s in SIMILARITIES:
        for cov in COVERAGES:
            matched: dict[int, set[str]] = {}
            for qi, article, score, held in rows:
                if score >= s and held >= cov:
                    matched.setdefault(qi, set()).add(article)
            gold = sum(len(q.gold) for q in questions)
            hit = sum(len(matched.get(i, set()) & set(q.gold)) for i, q in enumerate(questions))
            noise = sum(len(matched.get(i, set()) - set(q.gold)) for i, q in enumerate(questions))
            grid.append({"similarity": s, "coverage": cov, "recall": round(hit / gold, 3),
                         "noise_per_1000": round(noise / len(questions) / len(ids) * 1000, 2),
                         "questions_with_a_match": sum(bool(matched.get(i, set()) & set(q.gold)) for i, q in enumerate(questions))})
    if args.split == "test":
        from rag.live.alerts import MATCH_COVERAGE, MATCH_SIMILARITY

        best = next(g for g in grid if g["similarity"] == MATCH_SIMILARITY and g["coverage"] == MATCH_COVERAGE)
    else:
        fit = [g for g in grid if g["noise_per_1000"] <= NOISE_BUDGET]
        best = max(fit, key=lambda g: (g["recall"], -g["noise_per_1000"])) if fit else None
    summary = {"split": args.split, "questions": len(questions), "articles": len(ids), "chunks": len(chunks),
               "noise_budget_per_1000": NOISE_BUDGET, "chosen": best, "seconds": round(time.monotonic() - started, 1),
               "grid": grid}
    text = json.dumps(summary, ensure_ascii=False, indent=1)
    print(json.dumps({k: v for k, v in summary.items() if k != "grid"}, ensure_ascii=False, indent=1))
    if args.write:
        out = Path(__file__).parent / "results" / f"alerts-{'calibration' if args.split == 'tune' else 'test'}.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
