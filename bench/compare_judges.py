"""Compare judge prompts on newsqa-dev's tune split (never the test split): which prompt's P(yes) separates the
sentences that answer from those that do not, and answerable questions from near misses?

The sentences are those the product judges (rag.answer.grounded.to_judge: the 4 best by the features that hold
the kind of thing asked for), collected once with their labels (1: a gold article's sentence that, with the one
before it, holds an answer word). Each prompt file (same format as prompts/judge.md; a `[example]` section of
`question || sentence || yes|no` lines adds worked examples as earlier chat turns) is then run over them with the
default model, and the script prints per language: the sentence-level AUC, the question-level AUC (best P(yes):
answerable vs near misses), and at the lowest threshold with at most 10% of near misses answered, how many
answerable questions have a right best sentence.

    python bench/compare_judges.py --index /tmp/dev/index --questions ../shared/eval/newsqa-dev/questions.jsonl \\
        prompts/judge.md other.md
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage  # noqa: E402

from rag import load_settings  # noqa: E402
from rag.answer.engine import open_answer_engine  # noqa: E402
from rag.answer.grounded import to_judge  # noqa: E402
from rag.evaluation import NEAR_MISS_LIMIT, load_newsqa, sentence_answers  # noqa: E402
from rag.language import detect_language  # noqa: E402



def collect(engine, questions):
    rows = []
    for q in questions:
        result = engine.retrieve(q.question, engine.settings.k, None)
        if engine.should_abstain(detect_language(q.question), result.hits):
            rows.append({"id": q.id, "kind": q.kind, "lang": q.lang, "question": q.question, "sentence": None, "label": 0})
            continue
        _, scored = engine.score(q.question, result, engine.key_term.find(q.question, result.hits, result.expansion))
        for c in to_judge(scored, engine.answerability):
            label = int(sentence_answers(q, result.hits[c.hit].chunk.article_id, c.sentence, c.previous))
            rows.append({"id": q.id, "kind": q.kind, "lang": q.lang, "question": q.question, "sentence": c.sentence,
                         "previous": c.previous, "title": result.hits[c.hit].chunk.title, "label": label})
    return rows


def read_prompt(path: Path):
    text = path.read_text(encoding="utf-8")
    head, _, examples = text.partition("[example]")
    system, _, user = head.partition("[user]")
    shots = [line.split("||") for line in examples.strip().splitlines() if line.strip()]
    return system.replace("[system]", "", 1).strip(), user.strip(), [(a.strip(), b.strip(), c.strip()) for a, b, c in shots]


def messages(prompt, row):
    system, user, shots = prompt
    out = [SystemMessage(system)]
    for question, sentence, reply in shots:
        out += [HumanMessage(user.format(question=question, sentence=sentence, previous="", title="")), AIMessage(reply)]
    out.append(HumanMessage(user.format(question=row["question"], sentence=row["sentence"],
                                        previous=row.get("previous", ""), title=row.get("title", ""))))
    return out


def auc(pos, neg):
    if not pos or not neg:
        return None
    return round(sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg) / len(pos) / len(neg), 3)


def report(rows, key):
    out = {}
    for lang in ("en", "ar", "all"):
        mine = [r for r in rows if lang == "all" or r["lang"] == lang]
        judged = [r for r in mine if r["sentence"]]
        best = {}
        for r in mine:
            top = best.get(r["id"])
            p = r.get(key, 0.0) if r["sentence"] else 0.0
            if top is None or p > top[0]:
                best[r["id"]] = (p, r["label"], r["kind"])
        near = sorted((p for p, _, k in best.values() if k == "near_miss"), reverse=True)
        answerable = [(p, label) for p, label, k in best.values() if k == "answerable"]
        allowed = int(NEAR_MISS_LIMIT * len(near))
        threshold = near[allowed] + 1e-9 if len(near) > allowed else 0.0
        out[lang] = {
            "sentence_auc": auc([r[key] for r in judged if r["label"]], [r[key] for r in judged if not r["label"]]),
            "question_auc": auc([p for p, _ in answerable], near),
            "threshold": round(threshold, 3),
            "answered_right": f"{sum(1 for p, label in answerable if p >= threshold and label)}/{len(answerable)}",
            "answered": sum(1 for p, _ in answerable if p >= threshold),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/judge-sentences.json"))
    parser.add_argument("prompts", type=Path, nargs="+")
    args = parser.parse_args()
    questions = [q for q in load_newsqa(args.questions, "tune") if q.kind in ("answerable", "near_miss")]
    engine = open_answer_engine(load_settings(index_dir=args.index), llm="settings")
    if args.cache.exists():
        rows = json.loads(args.cache.read_text())
    else:
        rows = collect(engine, questions)
        args.cache.write_text(json.dumps(rows, ensure_ascii=False))
    results = {}
    for path in args.prompts:
        key = f"p:{path.stem}"
        prompt = read_prompt(path)
        started = time.perf_counter()
        for r in rows:
            if r["sentence"] and key not in r:
                r[key] = engine.llm.yes_probability(messages(prompt, r))
        args.cache.write_text(json.dumps(rows, ensure_ascii=False))
        results[str(path)] = {"seconds": round(time.perf_counter() - started, 1), **report(rows, key)}
        print(json.dumps({str(path): results[str(path)]}, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
