"""Answer latency with the configured LLM on the bundled sample corpus (not a test).

Reports per question, in a warm process: when the evidence (sources and best quote)
was out (for passages read the first time, and again for a follow-up over the same ones), the model's first token, the first checked claim shown, the total, and the
mode (generated / extractive / abstained). Then, in fresh processes as a terminal
user runs them: `rag search` with names (first time and again), and how long a cold
`rag ask` takes to print its sources. Appends JSON lines to bench/results/answers.jsonl.

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

from record import record  # noqa: E402

from rag import load_settings, update_index  # noqa: E402
from rag.answer.engine import open_answer_engine  # noqa: E402

QUESTIONS = [
    "What did Lavrov say about Raqqa?",
    "ماذا قال لافروف عن الرقة؟",
    "What did Lavrov and Kerry discuss by phone?",
    "ما الذي اتفقت عليه روسيا وتركيا بشأن سوريا؟",
    "Who won the 2018 football World Cup final?",
]


def cold(settings) -> dict[str, float]:
    """Fresh processes, as a terminal user runs them (name-candidate cache emptied first)."""
    import os
    import subprocess

    from rag.models.llms import default_model_path

    env = {**os.environ, "RAG_INDEX_DIR": str(settings.index_dir), "XDG_CACHE_HOME": str(settings.index_dir.parent / "xdg"),
           "RAG_LLM_MODEL_PATH": str(default_model_path(settings))}
    rag = [sys.executable, "-m", "rag"]

    def timed(args: list[str], until: str | None = None) -> float:
        start = time.perf_counter()
        proc = subprocess.Popen(rag + args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if until:
            for line in proc.stdout:  # type: ignore[union-attr]
                if until in line:
                    elapsed = time.perf_counter() - start
                    proc.kill()
                    proc.wait()
                    return round(elapsed, 2)
        proc.communicate()
        return round(time.perf_counter() - start, 2)

    return {"cold_search_first_s": timed(["search", "Lavrov Raqqa", "-k", "3"]),
            "cold_search_again_s": timed(["search", "Lavrov Raqqa", "-k", "3"]),
            "cold_ask_sources_s": timed(["ask", "What did Lavrov say about Raqqa?"], until="Passages:")}


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
                engine.sentences.forget()  # the evidence as for passages read the first time
                start = time.perf_counter()
                shown = None
                final = None
                for event in engine.stream(question):
                    if event.kind == "token" and shown is None:
                        shown = time.perf_counter() - start
                    elif event.kind == "answer":
                        final = event.answer
                reread = time.perf_counter()  # a follow-up over the same passages (their sentences remembered)
                stream = engine.stream(question)
                next(e for e in stream if e.kind == "sources")
                stream.close()
                reread = time.perf_counter() - reread
                rows.append({"question": question, "mode": final.mode, "sources_s": final.timings["sources_s"],
                             "sources_reread_s": round(reread, 3),
                             "first_token_s": final.timings["first_token_s"],
                             "first_claim_s": round(shown, 2) if shown else None, "total_s": final.timings["total_s"],
                             "cited": sorted({c.outlet for c in final.citations})})
                print(json.dumps(rows[-1], ensure_ascii=False), flush=True)

        def p50(key: str) -> float | None:
            values = [r[key] for r in rows if r[key] is not None]
            return round(statistics.median(values), 2) if values else None

        summary = {"phase": "answers", "llm": settings.llm, "questions": len(rows), "threads": settings.threads,
                   "passage_chars": settings.passage_chars, "k": settings.k, "answer_passages": settings.answer_passages,
                   "sources_p50_s": p50("sources_s"), "sources_reread_p50_s": p50("sources_reread_s"),
                   "first_token_p50_s": p50("first_token_s"),
                   "first_claim_p50_s": p50("first_claim_s"), "total_p50_s": p50("total_s"),
                   "modes": {m: sum(r["mode"] == m for r in rows) for m in ("generated", "extractive", "abstained")},
                   **cold(settings)}
        record("answers", summary)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
