"""Answer latency with the configured LLM on the bundled sample corpus (not a test).

Reports per question: time to first token, total time, generated tokens/s, and the
mode the guardrails chose (generated / extractive / abstained). Appends JSON lines
to bench/results/answers.jsonl.

    python bench/bench_answer.py [--llm llama] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag import load_settings, update_index  # noqa: E402
from rag.answer import open_answer_engine  # noqa: E402

QUESTIONS = [
    "What did Lavrov say about Raqqa?",
    "ماذا قال لافروف عن الرقة؟",
    "What did Lavrov and Kerry discuss by phone?",
    "ما الذي اتفقت عليه روسيا وتركيا بشأن سوريا؟",
    "Who won the 2018 football World Cup final?",
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--llm", default=None)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    try:
        settings = load_settings(corpus_dir=ROOT / "examples" / "corpus", index_dir=work / "index", llm=args.llm)
        update_index(settings)
        engine = open_answer_engine(settings)
        engine.ask("warm-up: what did Lavrov say?")  # model load and the system-prompt KV cache
        rows = []
        for _ in range(args.repeat):
            for question in QUESTIONS:
                start = time.perf_counter()
                first = None
                tokens = 0
                final = None
                for event in engine.stream(question):
                    if event.kind == "token":
                        first = first or time.perf_counter() - start
                        tokens += 1
                    else:
                        final = event.answer
                total = time.perf_counter() - start
                generation = total - first if first else None
                rows.append({"question": question, "mode": final.mode, "first_token_s": round(first, 2) if first else None,
                             "total_s": round(total, 2),
                             "tokens_per_s": round(tokens / generation, 1) if generation and tokens > 1 else None,
                             "cited": sorted({c.outlet for c in final.citations})})
                print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
        firsts = [r["first_token_s"] for r in rows if r["first_token_s"]]
        summary = {"phase": "answers", "llm": settings.llm, "questions": len(rows), "threads": settings.threads,
                   "passage_chars": settings.passage_chars, "k": settings.k,
                   "first_token_p50_s": round(statistics.median(firsts), 2) if firsts else None,
                   "first_token_max_s": max(firsts) if firsts else None,
                   "total_p50_s": round(statistics.median(r["total_s"] for r in rows), 2),
                   "tokens_per_s_p50": statistics.median([r["tokens_per_s"] for r in rows if r["tokens_per_s"]] or [0]),
                   "modes": {m: sum(r["mode"] == m for r in rows) for m in ("generated", "extractive", "abstained")},
                   "at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        print(json.dumps(summary))
        out = ROOT / "bench" / "results" / "answers.jsonl"
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(summary, ensure_ascii=False) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
