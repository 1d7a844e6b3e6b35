"""Fit the answerability model (rag/answer/answerability.py) on newsqa-dev's tune split; never reads the test split.

For every tune question (answerable and near misses) the answer engine retrieves and scores each sentence
of the retrieved passages exactly as `rag ask` does; a sentence is labelled 1 when its article is a gold
article and it (with the sentence before it) holds one of the question's answer words
(rag.evaluation.answer_terms), 0 otherwise (every sentence of a near miss is 0). A logistic regression
(rag.answer.answerability.fit_logistic, balanced classes) is fitted on the sentences, by question-grouped
cross-validation to report its held-out behaviour, and then on all of them. The threshold is chosen on the
question level (answer when the best sentence's probability reaches it): the lowest threshold at which at
most NEAR_MISS_LIMIT of the tune near misses are answered.

    python bench/calibrate_answerability.py --index /tmp/dev/index \\
        --questions ../shared/eval/newsqa-dev/questions.jsonl [--write]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag import load_settings  # noqa: E402
from rag.answer.engine import open_answer_engine  # noqa: E402
from rag.answer.answerability import FEATURES, MODEL_FILE, AnswerabilityModel, fit_logistic  # noqa: E402
from rag.evaluation import NEAR_MISS_LIMIT, load_newsqa, sentence_answers, wilson  # noqa: E402
from rag.language import detect_language  # noqa: E402



def features_of(engine, question):
    result = engine.retrieve(question.question, engine.settings.k, None)
    if engine.should_abstain(detect_language(question.question), result.hits):
        return []
    key = engine.key_term.find(question.question, result.hits, result.expansion)
    _, scored = engine.score(question.question, result, key)
    rows = []
    for c in scored.candidates:
        article = result.hits[c.hit].chunk.article_id
        label = int(sentence_answers(question, article, c.sentence, c.previous))
        rows.append({"features": [c.features[f] for f in FEATURES], "label": label, "article": article})
    return rows


def question_rates(per_question, model):
    answered = {"answerable": [], "near_miss": [], "answerable_right": []}
    for q, rows in per_question:
        probs = [model.probability(dict(zip(FEATURES, r["features"]))) for r in rows]
        best = max(probs, default=0.0)
        answers = best >= model.threshold
        answered[q.kind].append(answers)
        if q.kind == "answerable":
            top = rows[probs.index(best)] if rows else None
            answered["answerable_right"].append(answers and bool(top) and top["label"] == 1)
    return {k: (sum(v), len(v)) for k, v in answered.items()}


def choose_threshold(per_question, weights, bias):
    best = None
    for step in range(5, 96):
        threshold = step / 100
        model = AnswerabilityModel(tuple(weights), bias, threshold)
        rates = question_rates(per_question, model)
        near = rates["near_miss"][0] / max(1, rates["near_miss"][1])
        if near <= NEAR_MISS_LIMIT:
            best = (threshold, rates)
            break
    return best


def judge_rows(args, questions, model):
    """[{id, kind, p_yes, label}] for the `model.judged` best sentences of each question (cached)."""
    if args.judge.exists():
        return json.loads(args.judge.read_text())
    from rag.answer.grounded import judge
    from rag.answer.quote_first import QuoteFirst

    engine = open_answer_engine(load_settings(index_dir=args.index), llm="settings")
    engine.answerability = model
    rows = []
    for q in questions:
        result = engine.retrieve(q.question, engine.settings.k, None)
        if engine.should_abstain(detect_language(q.question), result.hits):
            continue
        _, scored = engine.score(q.question, result, engine.key_term.find(q.question, result.hits, result.expansion))
        judged = judge(scored, q.question, model, QuoteFirst(engine).yes_probability)
        for c in judged[0].candidates if judged else []:
            label = int(sentence_answers(q, result.hits[c.hit].chunk.article_id, c.sentence, c.previous))
            rows.append({"id": q.id, "kind": q.kind, "lang": q.lang, "p_yes": c.probability, "label": label,
                         "features": [c.features[f] for f in FEATURES]})
    args.judge.write_text(json.dumps(rows))
    return rows


def choose_judge_threshold(rows):
    """The lowest P(yes) threshold at which at most NEAR_MISS_LIMIT of the tune near misses are answered."""
    by_question = {}
    kinds = {r["id"]: r["kind"] for r in rows}
    for r in rows:
        # the answer-type gate of rag.answer.grounded.judge: only sentences with the kind of thing asked for
        if r["features"][FEATURES.index("answer_type")] >= 1.0:
            by_question.setdefault(r["id"], []).append(r)
    for qid, kind in kinds.items():
        by_question.setdefault(qid, [{"kind": kind, "p_yes": 0.0, "label": 0}])
    for step in range(40, 96):
        threshold = step / 100
        rates = {"answerable": [0, 0], "near_miss": [0, 0], "answerable_right": [0, 0]}
        for rs in by_question.values():
            top = max(rs, key=lambda r: r["p_yes"])
            answers = top["p_yes"] >= threshold
            rates[rs[0]["kind"]][0] += answers
            rates[rs[0]["kind"]][1] += 1
            if rs[0]["kind"] == "answerable":
                rates["answerable_right"][0] += answers and top["label"] == 1
                rates["answerable_right"][1] += 1
        if rates["near_miss"][0] <= NEAR_MISS_LIMIT * rates["near_miss"][1]:
            return threshold, {k: tuple(v) for k, v in rates.items()}
    return 0.95, {}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--write", action="store_true", help=f"write the fitted model to {MODEL_FILE}")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/answerability-features.json"))
    parser.add_argument("--judge", type=Path, default=Path("/tmp/answerability-judge.json"),
                        help="the LLM judge's P(yes) for the best sentences of each tune question (computed with the "
                             "default model when the file is missing: ~10 minutes on 2 cores)")
    args = parser.parse_args()
    questions = [q for q in load_newsqa(args.questions, "tune") if q.kind in ("answerable", "near_miss")]
    started = time.perf_counter()
    if args.cache.exists():
        cached = json.loads(args.cache.read_text())
    else:
        engine = open_answer_engine(load_settings(index_dir=args.index), llm=None)
        cached = {q.id: features_of(engine, q) for q in questions}
        args.cache.write_text(json.dumps(cached))
    per_question = [(q, cached[q.id]) for q in questions]
    rows = [r for _, rs in per_question for r in rs]
    x, y = [r["features"] for r in rows], [r["label"] for r in rows]
    # held-out view: fit on two thirds of the questions, threshold there, rates on the third left out
    folds = []
    for fold in range(3):
        train = [(q, rs) for i, (q, rs) in enumerate(per_question) if i % 3 != fold]
        held = [(q, rs) for i, (q, rs) in enumerate(per_question) if i % 3 == fold]
        w, b = fit_logistic([r["features"] for _, rs in train for r in rs], [r["label"] for _, rs in train for r in rs])
        chosen = choose_threshold(train, w, b)
        if chosen:
            folds.append(question_rates(held, AnswerabilityModel(tuple(w), b, chosen[0])))
    weights, bias = fit_logistic(x, y)
    threshold, rates = choose_threshold(per_question, weights, bias)
    judged = judge_rows(args, questions, AnswerabilityModel(tuple(weights), bias, threshold))
    judge_threshold, judge_rates = choose_judge_threshold(judged)
    model = AnswerabilityModel(tuple(weights), bias, threshold, judge_threshold=judge_threshold)
    cv = {k: (sum(f[k][0] for f in folds), sum(f[k][1] for f in folds)) for k in ("answerable", "near_miss", "answerable_right")}
    report = {
        "fitted_on": f"newsqa-dev tune split: {len(per_question)} questions, {len(rows)} sentences, {sum(y)} positive",
        "tune_answerable_answered": rates["answerable"], "tune_near_misses_answered": rates["near_miss"],
        "tune_top_sentence_right": rates["answerable_right"],
        "cross_validated": {k: {"n": v, "rate": round(v[0] / max(1, v[1]), 3), "ci95": wilson(*v)} for k, v in cv.items()},
        "judge_tune_answerable_answered": judge_rates["answerable"],
        "judge_tune_near_misses_answered": judge_rates["near_miss"],
        "judge_tune_top_sentence_right": judge_rates["answerable_right"],
        "questions_without_a_positive": sum(1 for q, rs in per_question if q.kind == "answerable" and not any(r["label"] for r in rs)),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps({**model.to_dict(), **report}, indent=1))
    if args.write:
        MODEL_FILE.write_text(json.dumps({**model.to_dict(), **report}, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
