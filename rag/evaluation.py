"""Measuring the product on XQuAD (Artetxe et al., 2020; CC BY-SA 4.0).

XQuAD has 240 paragraphs with 1,190 questions, professionally translated;
the same question ids exist in every language, so English questions can be
asked against the Arabic paragraphs: a real cross-lingual test.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.config import PACKAGE_DIR, Settings
from rag.errors import RagError
from rag.store import FORMAT_VERSION


def default_xquad_dir() -> Path:
    env = os.environ.get("RAG_XQUAD_DIR")
    return Path(env) if env else PACKAGE_DIR.parent.parent / "shared" / "eval" / "xquad"


@dataclass
class XQuADQuestion:
    id: str
    question: str
    answers: list[str]
    paragraph_id: str


@dataclass
class XQuAD:
    paragraphs: dict[str, str]  # paragraph id → Arabic text
    questions: list[XQuADQuestion]


def load_xquad(data_dir: Path | None = None, query_lang: str = "ar") -> XQuAD:
    """Arabic paragraphs with the questions (and gold answers) of `query_lang`."""
    data_dir = Path(data_dir or default_xquad_dir())
    ar_path, q_path = data_dir / "xquad.ar.json", data_dir / f"xquad.{query_lang}.json"
    for path in (ar_path, q_path):
        if not path.exists():
            raise RagError(f"{path} not found; pass --data DIR with the XQuAD files or set RAG_XQUAD_DIR")
    paragraphs: dict[str, str] = {}
    gold: dict[str, str] = {}
    for a, article in enumerate(json.loads(ar_path.read_text(encoding="utf-8"))["data"]):
        for p, para in enumerate(article["paragraphs"]):
            pid = f"xquad-{a:02d}-{p:02d}"
            paragraphs[pid] = para["context"].strip()
            gold.update({qa["id"]: pid for qa in para["qas"]})
    questions = []
    for article in json.loads(q_path.read_text(encoding="utf-8"))["data"]:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                if qa["id"] in gold:
                    questions.append(
                        XQuADQuestion(qa["id"], qa["question"], [x["text"] for x in qa["answers"]], gold[qa["id"]])
                    )
    return XQuAD(paragraphs, questions)


def write_corpus(paragraphs: dict[str, str], corpus_dir: Path) -> Path:
    """The paragraphs as a JSONL corpus (no titles, outlet unknown)."""
    corpus_dir.mkdir(parents=True, exist_ok=True)
    path = corpus_dir / "xquad.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for pid, text in paragraphs.items():
            handle.write(json.dumps({"id": pid, "title": "", "text": text, "lang": "ar"}, ensure_ascii=False) + "\n")
    return path


def eval_index_settings(settings: Settings, name: str, paragraphs: dict[str, str]) -> Settings:
    """Settings whose corpus/index live in the cache, keyed by content and embedder, built once."""
    digest = hashlib.sha1(
        json.dumps([FORMAT_VERSION, settings.embedder, settings.chunk_tokens, settings.chunk_overlap_tokens, sorted(paragraphs)]).encode()
    ).hexdigest()[:10]
    base = settings.cache_dir / "eval" / f"{name}-{digest}"
    write_corpus(paragraphs, base / "corpus")
    return settings.replace(corpus_dir=base / "corpus", index_dir=base / "index")


@dataclass
class RankingMetrics:
    recall_at_1: float
    recall_at_5: float
    recall_at_10: float
    mrr_at_10: float
    n: int

    def to_dict(self) -> dict[str, float]:
        return {
            "recall@1": round(self.recall_at_1, 4),
            "recall@5": round(self.recall_at_5, 4),
            "recall@10": round(self.recall_at_10, 4),
            "mrr@10": round(self.mrr_at_10, 4),
            "n": self.n,
        }


def ranking_metrics(ranks: Iterable[int | None]) -> RankingMetrics:
    """Metrics from the 1-based rank of the gold item per question (None if not in the top 10)."""
    ranks = list(ranks)
    n = len(ranks) or 1

    def recall(k: int) -> float:
        return sum(r is not None and r <= k for r in ranks) / n

    mrr = sum(1 / r for r in ranks if r is not None and r <= 10) / n
    return RankingMetrics(recall(1), recall(5), recall(10), mrr, len(ranks))


def gold_rank(article_ids: list[str], gold: str) -> int | None:
    return article_ids.index(gold) + 1 if gold in article_ids else None


def evaluate_retrieval(
    settings: Settings,
    query_lang: str = "en",
    data_dir: Path | None = None,
    limit: int | None = None,
    modes: tuple[str, ...] = ("dense", "bm25", "hybrid"),
    expand_names: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Recall@1/5/10 and MRR@10 per retrieval mode over the Arabic XQuAD paragraphs."""
    from rag import open_retriever, update_index

    data = load_xquad(data_dir, query_lang)
    eval_settings = eval_index_settings(settings, "xquad-ar", data.paragraphs)
    update_index(eval_settings, progress=progress)
    retriever = open_retriever(eval_settings, expand_names=expand_names)
    questions = data.questions[:limit] if limit else data.questions
    ranks: dict[str, list[int | None]] = {mode: [] for mode in modes}
    latencies: list[float] = []
    import time

    for question in questions:
        for mode in modes:
            start = time.perf_counter()
            result = retriever.search(question.question, k=10, mode=mode, per_article=True)  # type: ignore[arg-type]
            latencies.append(time.perf_counter() - start)
            ranks[mode].append(gold_rank([h.chunk.article_id for h in result.hits], question.paragraph_id))
    return {
        "dataset": "xquad",
        "query_lang": query_lang,
        "paragraphs": len(data.paragraphs),
        "questions": len(questions),
        "embedder": settings.embedder,
        "name_expansion": expand_names,
        "metrics": {mode: ranking_metrics(r).to_dict() for mode, r in ranks.items()},
        "mean_search_ms": round(1000 * statistics.fmean(latencies), 1) if latencies else None,
    }


_NAME_WORD = re.compile(r"^[A-Z][A-Za-z\u00c0-\u024f'’.\-]*$")
_ARABIC_WORDS = re.compile(r"^[\u0621-\u064a\u0670\u06c0-\u06d3\s]+$")


def xquad_name_pairs(data_dir: Path | None = None) -> list[tuple[str, str]]:
    """(English name, Arabic name) from answers that are capitalised names in both languages.

    Built from the gold answers of the same question id; noisy on purpose
    (some Arabic answers are translations, not transliterations).
    """
    en = load_xquad(data_dir, "en")
    ar = {q.id: q for q in load_xquad(data_dir, "ar").questions}
    pairs: list[tuple[str, str]] = []
    for question in en.questions:
        english = question.answers[0].strip()
        arabic = ar[question.id].answers[0].strip() if question.id in ar else ""
        words = english.split()
        if not (1 <= len(words) <= 4 and all(_NAME_WORD.match(w) for w in words)):
            continue
        if not arabic or len(arabic.split()) > 4 or not _ARABIC_WORDS.match(arabic):
            continue
        if (english, arabic) not in pairs:
            pairs.append((english, arabic))
    return pairs


def evaluate_names(
    settings: Settings,
    data_dir: Path | None = None,
    limit: int | None = None,
    retrieval: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Alias recall@1/@3 on XQuAD name pairs (learned index only), and EN→AR retrieval with/without names."""
    from rag import open_retriever, update_index
    from rag.embeddings import load_word_encoder
    from rag.language import lexical_tokens
    from rag.names import CuratedAliases, NameExpander, latin_names

    data = load_xquad(data_dir, "en")
    eval_settings = eval_index_settings(settings, "xquad-ar", data.paragraphs)
    update_index(eval_settings, progress=progress)
    retriever = open_retriever(eval_settings, expand_names=False)
    expander = NameExpander(retriever.embedder, CuratedAliases(), word_encoder=load_word_encoder(settings.threads))  # learned, not curated
    pairs = xquad_name_pairs(data_dir)
    vocabulary = {t for (t,) in retriever.store.db.execute("SELECT term FROM vocabulary")}
    hits = {1: 0, 3: 0}
    in_vocabulary = 0
    examples = []
    for english, arabic in pairs:
        # One target per Arabic word, as any of its lexical forms (الولايات → ولايات / لايات).
        targets = [forms for forms in (set(lexical_tokens(word)) for word in arabic.split()) if forms]
        if not targets or not all(forms & vocabulary for forms in targets):
            continue  # the Arabic form never occurs in the paragraphs: no index could find it
        in_vocabulary += 1
        names = latin_names(english)  # as a question's names are found: words, and runs of them
        ranked = {name: expander.match(name, retriever.store, k=3) for name in names}
        for k in hits:
            predicted = {t for matches in ranked.values() for m in matches[:k] for t in (m.term, *m.variants, *lexical_tokens(m.surface))}
            hits[k] += all(forms & predicted for forms in targets)
        if len(examples) < 12:
            examples.append({"english": english, "arabic": arabic, "top3": {w: [m.surface for m in ms] for w, ms in ranked.items()}})
    n = in_vocabulary or 1
    result: dict[str, Any] = {
        "pairs": len(pairs),
        "pairs_in_vocabulary": in_vocabulary,
        "alias_recall@1": round(hits[1] / n, 4),
        "alias_recall@3": round(hits[3] / n, 4),
        "examples": examples,
    }
    if retrieval:
        questions = data.questions[:limit] if limit else data.questions
        with_names = NameExpander.from_settings(settings, retriever.embedder)
        named_ids = {q.id for q in questions if latin_names(q.question)}
        for label, expanders in (("without_names", []), ("with_names", [with_names])):
            retriever.expanders = expanders
            ranks = {
                q.id: gold_rank([h.chunk.article_id for h in retriever.search(q.question, k=10, per_article=True).hits], q.paragraph_id)
                for q in questions
            }
            for subset_label, ids in (("all", ranks.keys()), ("questions_with_names", named_ids)):
                metrics = ranking_metrics([ranks[i] for i in ids]).to_dict()
                result.setdefault("retrieval_en_ar_hybrid", {}).setdefault(subset_label, {})[label] = metrics
    return result


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD-style token F1 over normalised lexical tokens (Arabic or English)."""
    from rag.language import lexical_tokens

    pred, ref = lexical_tokens(prediction), lexical_tokens(gold)
    if not pred or not ref:
        return float(pred == ref)
    common = sum(min(pred.count(t), ref.count(t)) for t in set(ref))
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def contains_answer(prediction: str, golds: list[str]) -> bool:
    from rag.language import lexical_tokens

    words = set(lexical_tokens(prediction))
    return any(set(lexical_tokens(g)) <= words for g in golds if lexical_tokens(g))


def evaluate_answers(
    settings: Settings,
    query_lang: str = "en",
    data_dir: Path | None = None,
    limit: int = 20,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Answer quality on XQuAD: F1/contains vs gold, citation precision, abstention, false answers.

    Unanswerable questions are asked against an index of the other half of the
    articles (their paragraph is absent), so every non-abstaining answer is false.
    """
    from rag import update_index
    from rag.answer import open_answer_engine
    from rag.llms import load_llm

    data = load_xquad(data_dir, query_lang)
    llm = load_llm(settings)
    answerable = eval_index_settings(settings, "xquad-ar", data.paragraphs)
    update_index(answerable, progress=progress)
    half = {pid: text for pid, text in data.paragraphs.items() if int(pid.split("-")[1]) % 2 == 0}
    unanswerable = eval_index_settings(settings, "xquad-ar-half", half)
    update_index(unanswerable, progress=progress)

    engine = open_answer_engine(answerable, llm=llm)
    stride = max(1, len(data.questions) // limit)
    picked = data.questions[::stride][:limit]
    rows = []
    for question in picked:
        answer = engine.ask(question.question)
        rows.append({
            "f1": max(token_f1(answer.answer, g) for g in question.answers),
            "contains": contains_answer(answer.answer, question.answers),
            "cites_gold": any(c.article_id == question.paragraph_id for c in answer.citations),
            "abstained": answer.abstained,
            "mode": answer.mode,
            "first_token_s": answer.timings.get("first_token_s"),
            "total_s": answer.timings.get("total_s"),
        })
    engine = open_answer_engine(unanswerable, llm=llm)
    missing = [q for q in data.questions if q.paragraph_id not in half]
    false_answers = []
    for question in missing[:: max(1, len(missing) // limit)][:limit]:
        false_answers.append(not engine.ask(question.question).abstained)
    answered = [r for r in rows if not r["abstained"]]
    modes = {m: sum(r["mode"] == m for r in rows) for m in ("generated", "extractive", "abstained")}
    firsts = [r["first_token_s"] for r in rows if r["first_token_s"] is not None]

    def mean(values: list[float]) -> float | None:
        return round(statistics.fmean(values), 4) if values else None

    return {
        "dataset": "xquad",
        "query_lang": query_lang,
        "llm": settings.llm,
        "questions": len(rows),
        "token_f1": mean([r["f1"] for r in rows]),
        "contains_answer": mean([float(r["contains"]) for r in rows]),
        "citation_precision": mean([float(r["cites_gold"]) for r in answered]),
        "abstention_rate": mean([float(r["abstained"]) for r in rows]),
        "modes": modes,
        "unanswerable_questions": len(false_answers),
        "false_answer_rate": mean([float(x) for x in false_answers]),
        "mean_first_token_s": mean(firsts),
        "mean_total_s": mean([r["total_s"] for r in rows]),
    }
