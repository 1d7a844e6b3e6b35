"""Multi-outlet news measurements on the development corpus (not a test).

Corpus: ANT Corpus v2.1 multi-source (Chouigui, Ben Khiroun, Elayeb, AJSE 2021), evaluation data only,
`../shared/corpus/dev-multisource/`. Questions: bench/questions/news.jsonl (48 of our own, 30 English,
split tune/test: every third is test, never looked at while choosing thresholds).

Measured on the evidence an answer cites (the retriever's top hits), "before" = relevance ranking with
every copy (`all_copies=True, news=False`, as the product ranked before story clusters and news-aware
ranking), "after" = the defaults:

- duplicates: hits among the top 5 that are another copy of a story already above them;
- entity: a top-3 passage names the entity in Arabic (forms listed per question);
- speaker: the first hit quotes the named speaker directly or in reported speech (rag.news.questions.attribute,
  the speaker's Arabic forms listed per question);
- date: every one of the top 4 hits is dated inside the window;
- compare: the evidence of `--compare-outlets` (one passage per outlet, up to 5) covers ≥ 3 outlets,
  counted over the questions where ≥ 3 outlets published an article naming the event.

    python bench/bench_news.py --index /tmp/dev/index --corpus-file /tmp/dev/corpus/dev.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from record import record  # noqa: E402

from rag import load_settings, open_retriever  # noqa: E402
from rag.evaluation import wilson  # noqa: E402
from rag.language import lexical_tokens, normalize  # noqa: E402
from rag.news.questions import attribute  # noqa: E402

QUESTIONS = ROOT / "bench" / "questions" / "news.jsonl"


def names(text: str, forms: list[str]) -> bool:
    folded = normalize(text)
    return any(normalize(f) in folded for f in forms)


def duplicates(hits) -> int:
    seen, copies = set(), 0
    for hit in hits:
        story = hit.chunk.story or hit.chunk.article_id
        copies += story in seen
        seen.add(story)
    return copies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--corpus-file", type=Path, required=True, help="the JSONL corpus, to count outlets covering an event")
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    parser.add_argument("--rows", type=Path, default=None, help="write one JSON line per question here")
    args = parser.parse_args()
    retriever = open_retriever(load_settings(index_dir=args.index))
    articles = [json.loads(line) for line in args.corpus_file.open(encoding="utf-8")]
    questions = [json.loads(line) for line in args.questions.open(encoding="utf-8")]
    tallies: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    rows = []
    started = time.perf_counter()
    for q in questions:
        row = {"id": q["id"], "kind": q["kind"], "split": q["split"], "question": q["question"]}
        for label, options in (("before", {"all_copies": True, "news": False}), ("after", {})):
            result = retriever.search(q["question"], k=5, **options)
            hits = result.hits
            row[f"{label}_duplicates"] = duplicates(hits)
            tallies[(label, "duplicates", q["split"])].append(duplicates(hits))
            ok = None
            if q["kind"] == "entity":
                ok = any(names(f"{h.chunk.title} {h.chunk.text}", q["forms"]) for h in hits[:3])
            elif q["kind"] == "speaker":
                terms = list({t for f in q["forms"] for t in lexical_tokens(f)})
                ok = bool(hits) and attribute(hits[0].chunk.text, terms).quote_type in ("direct", "reported")
            elif q["kind"] == "date":
                since, until = q["window"]
                ok = bool(hits) and all(h.chunk.date and since <= h.chunk.date[:10] <= until for h in hits[:4])
            elif q["kind"] == "compare":
                covering = {a["outlet"] for a in articles if names(f"{a['title']} {a['text']}", q["forms"])}
                if len(covering) >= 3:
                    evidence = retriever.search(q["question"], k=5, diverse=1, **options).hits if label == "after" else hits
                    ok = len({h.chunk.outlet for h in evidence}) >= 3
                row["outlets_covering"] = len(covering)
            if ok is not None:
                row[f"{label}_ok"] = ok
                tallies[(label, q["kind"], q["split"])].append(int(ok))
            row[f"{label}_hits"] = [[h.chunk.article_id, h.chunk.outlet, h.chunk.date, h.quote_type] for h in hits]
        rows.append(row)
    summary: dict[str, object] = {"questions": len(questions), "seconds": round(time.perf_counter() - started, 1)}
    for (label, metric, split), values in sorted(tallies.items()):
        if metric == "duplicates":
            summary[f"{label}.{metric}.{split}"] = {"mean_per_question": round(sum(values) / len(values), 2),
                                                    "questions_with_copies": sum(v > 0 for v in values), "n": len(values)}
        else:
            low, high = wilson(sum(values), len(values))
            summary[f"{label}.{metric}.{split}"] = {"share": round(sum(values) / len(values), 2), "ci95": [round(low, 2), round(high, 2)],
                                                    "n": len(values)}
    for key, value in summary.items():
        print(f"{key:28s} {json.dumps(value)}")
    record("news", summary, echo=False)
    if args.rows:
        args.rows.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
