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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.config import PACKAGE_DIR, Settings
from rag.errors import RagError
from rag.index.store import FORMAT_VERSION


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
    from rag.models.embeddings import load_word_encoder
    from rag.language import lexical_tokens
    from rag.names.expansion import CuratedAliases, NameExpander, latin_names

    data = load_xquad(data_dir, "en")
    eval_settings = eval_index_settings(settings, "xquad-ar", data.paragraphs)
    update_index(eval_settings, progress=progress)
    retriever = open_retriever(eval_settings, expand_names=False)
    expander = NameExpander(retriever.embedder, CuratedAliases(), word_encoder=load_word_encoder(settings.threads))  # learned, not curated
    pairs = xquad_name_pairs(data_dir)
    vocabulary = {t.term for t in retriever.store.vocabulary.arabic_terms()}
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
            predicted = {t for matches in ranked.values() for m in matches[:k] for t in (m.term, *m.variants, *lexical_tokens(m.alias))}
            hits[k] += all(forms & predicted for forms in targets)
        if len(examples) < 12:
            examples.append({"english": english, "arabic": arabic, "top3": {w: [m.alias for m in ms] for w, ms in ranked.items()}})
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


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """95% Wilson score interval of a proportion (sound near 0 and 1, unlike the normal one)."""
    if n == 0:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)


def rate(flags: list[bool]) -> dict[str, Any]:
    """A proportion with its count and 95% interval."""
    hits = sum(flags)
    return {"rate": round(hits / len(flags), 4) if flags else None, "n": len(flags), "ci95": wilson(hits, len(flags))}


# XQuAD's 48 articles: every fourth one (index % 4 == 3) is held out; thresholds are never
# chosen on it. "tune" is the rest.
def xquad_split(paragraph_id: str) -> str:
    return "test" if int(paragraph_id.split("-")[1]) % 4 == 3 else "tune"


class RecordedChat:
    """Replays the model's output for a prompt it has already answered (a JSON file per run).

    Evaluation only: the checks after the model can be changed and re-measured in
    seconds; a changed prompt is a new key, so the model runs again for it. A model that judges
    (`yes_probability`, the quote-first answers' P(yes)) has its judgements recorded and replayed too: without
    them a recorded run would decide by the features alone, not as the product does.
    """

    def __init__(self, llm: Any, path: Path) -> None:
        from langchain_core.language_models import BaseChatModel
        from langchain_core.messages import AIMessageChunk
        from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

        self.path = path
        self.records: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        records, save = self.records, self.save

        class _Replay(BaseChatModel):
            @property
            def _llm_type(self) -> str:
                return "recorded"

            def _key(self, messages: Any, kwargs: dict[str, Any]) -> str:
                payload = json.dumps([[m.type, str(m.content)] for m in messages] + [sorted(kwargs)], ensure_ascii=False)
                return hashlib.sha1(payload.encode()).hexdigest()

            def _stream(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
                key = self._key(messages, kwargs)
                if key not in records:
                    records[key] = "".join(str(c.content) for c in llm.stream(messages, stop=stop, **kwargs))
                    save()
                yield ChatGenerationChunk(message=AIMessageChunk(content=records[key]))

            def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
                from langchain_core.messages import AIMessage

                text = "".join(str(c.message.content) for c in self._stream(messages, stop, run_manager, **kwargs))
                return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

        class _JudgingReplay(_Replay):
            def yes_probability(self, messages: Any) -> float | None:
                key = "p:" + self._key(messages, {})
                if key not in records:
                    records[key] = llm.yes_probability(messages)
                    save()
                return records[key]

        self.model = _JudgingReplay() if hasattr(llm, "yes_probability") else _Replay()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.records, ensure_ascii=False), encoding="utf-8")


@dataclass
class AnswerCase:
    """One question of an answer evaluation, with what counts as right."""

    question: str
    answerable: bool
    golds: list[str]  # answer strings (XQuAD) — may be empty
    articles: list[str]  # article ids that hold the answer
    source: str  # "xquad" | a question file


def _judge(answer: Any, case: AnswerCase, chunk_texts: dict[int, str]) -> dict[str, Any]:
    from rag.language import lexical_tokens

    cited_ok = []
    for c in answer.citations:
        text = chunk_texts.get(c.n, c.quote)
        holds = c.article_id in case.articles or (
            bool(case.golds) and any(set(lexical_tokens(g)) <= set(lexical_tokens(text)) for g in case.golds if lexical_tokens(g)))
        cited_ok.append(holds)
    return {
        "question": case.question,
        "answerable": case.answerable,
        "abstained": answer.abstained,
        "mode": answer.mode,
        "citations_ok": cited_ok,
        "contains": contains_answer(answer.answer, case.golds) if case.golds else None,
        "f1": max((token_f1(answer.answer, g) for g in case.golds), default=None) if case.golds else None,
        "answer": answer.answer[:300],
        "claims": [c.to_dict() for c in answer.claims],
        "signals": answer.signals,
        "sources_s": answer.timings.get("sources_s"),
        "first_token_s": answer.timings.get("first_token_s"),
        "total_s": answer.timings.get("total_s"),
    }


def summarize_answers(rows: list[dict[str, Any]]) -> dict[str, Any]:
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    answered = [r for r in answerable if not r["abstained"]]
    citations = [ok for r in answered for ok in r["citations_ok"]]

    return {
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "abstained_on_answerable": rate([r["abstained"] for r in answerable]),
        "false_answers_on_unanswerable": rate([not r["abstained"] for r in unanswerable]),
        "citation_precision": rate(citations),
        "answers_with_a_right_citation": rate([any(r["citations_ok"]) for r in answered]),
        "contains_answer": rate([bool(r["contains"]) for r in answered if r["contains"] is not None]),
        "modes": {m: sum(r["mode"] == m for r in rows) for m in ("generated", "extractive", "abstained")},
        "p50_sources_s": _median([r.get("sources_s") for r in rows]),
        "p50_first_token_s": _median([r.get("first_token_s") for r in rows]),
        "p50_total_s": _median([r.get("total_s") for r in rows]),
    }


def xquad_answer_cases(query_lang: str, split: str, limit: int, data_dir: Path | None = None
                       ) -> tuple[XQuAD, dict[str, str], list[AnswerCase], list[AnswerCase]]:
    """Answerable cases (all paragraphs indexed) and unanswerable ones (their paragraph left out)."""
    data = load_xquad(data_dir, query_lang)
    half = {pid: text for pid, text in data.paragraphs.items() if int(pid.split("-")[2]) % 2 == 0}
    pool = [q for q in data.questions if split == "all" or xquad_split(q.paragraph_id) == split]

    def spread(questions: list[XQuADQuestion]) -> list[XQuADQuestion]:
        return questions[:: max(1, len(questions) // limit)][:limit] if limit else questions

    answerable = [AnswerCase(q.question, True, q.answers, [q.paragraph_id], "xquad") for q in spread(pool)]
    missing = [q for q in pool if q.paragraph_id not in half]
    unanswerable = [AnswerCase(q.question, False, [], [], "xquad") for q in spread(missing)]
    return data, half, answerable, unanswerable


def _jsonl(path: Path, what: str, needs: str, build: Callable[[dict[str, Any]], Any]) -> list[Any]:
    """`build` applied to each record of a JSONL file (None: left out); a bad line is one clear error."""
    built = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = build(json.loads(line))
        except (ValueError, KeyError, TypeError) as exc:
            raise RagError(f"{path}:{number}: bad {what} record ({exc}); each line needs {needs}") from None
        if item is not None:
            built.append(item)
    return built


def load_question_file(path: Path, split: str = "all") -> list[AnswerCase]:
    """Questions in JSONL: {question, answerable, articles: [...], answers: [...], split: tune|test}."""
    def case(row: dict[str, Any]) -> AnswerCase | None:
        if split != "all" and row.get("split", "tune") != split:
            return None
        return AnswerCase(row["question"], bool(row["answerable"]), list(row.get("answers", [])),
                          list(row.get("articles", [])), path.name)

    return _jsonl(path, "question", "question and answerable", case)


def run_answer_cases(engine: Any, cases: list[AnswerCase], progress: Callable[[int, int], None] | None = None
                     ) -> list[dict[str, Any]]:
    rows = []
    for case in cases:
        answer = engine.ask(case.question)
        chunk_texts = {s.n: s.quote for s in answer.sources}
        rows.append(_judge(answer, case, chunk_texts))
        if progress:
            progress(1, len(cases))
    return rows


def evaluate_answers(
    settings: Settings,
    query_lang: str = "en",
    data_dir: Path | None = None,
    limit: int = 100,
    split: str = "test",
    questions: Path | None = None,
    record: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Abstention, false answers and citation precision, with 95% intervals.

    XQuAD: `limit` answerable questions (every paragraph indexed) and `limit`
    unanswerable ones (asked of an index without their paragraph: the other
    paragraphs of the same article stay, so these are near misses). With
    `questions`, a question file over the configured corpus instead.
    `record` replays the model's earlier outputs for identical prompts.
    """
    from rag import update_index
    from rag.answer.engine import open_answer_engine
    from rag.models.llms import load_llm

    if questions is not None and is_newsqa(questions) and "corpus_dir" not in settings.origins:
        raise RagError(f"{questions.name} asks about the dev-multisource corpus: pass --corpus with a folder holding "
                       "its JSONL (e.g. ant-multisource-dev-2018q3.jsonl) and --index for the index to build there")
    llm = load_llm(settings)
    recorder = RecordedChat(llm, record) if record is not None and llm is not None else None
    model = recorder.model if recorder else llm
    if questions is not None and is_newsqa(questions):
        update_index(settings, progress=None)
        return evaluate_newsqa(settings, questions, split, progress=progress, llm=model)
    if questions is not None:
        cases = load_question_file(questions, split)
        update_index(settings, progress=progress)
        rows = run_answer_cases(open_answer_engine(settings, llm=model), cases, progress)
        return {"dataset": questions.name, "split": split, "llm": settings.llm, **summarize_answers(rows), "rows": rows}
    data, half, answerable, unanswerable = xquad_answer_cases(query_lang, split, limit, data_dir)
    full_index = eval_index_settings(settings, "xquad-ar", data.paragraphs)
    update_index(full_index, progress=progress)
    half_index = eval_index_settings(settings, "xquad-ar-half", half)
    update_index(half_index, progress=progress)
    rows = run_answer_cases(open_answer_engine(full_index, llm=model), answerable, progress)
    rows += run_answer_cases(open_answer_engine(half_index, llm=model), unanswerable, progress)
    return {"dataset": "xquad", "query_lang": query_lang, "split": split, "llm": settings.llm,
            **summarize_answers(rows), "rows": rows}


# -- newsqa-dev: answers over multi-outlet news ------------------------------------------------------


@dataclass
class NewsQuestion:
    """One newsqa-dev question (`../shared/eval/newsqa-dev/README.md`)."""

    id: str
    lang: str
    kind: str  # answerable | near_miss | compare
    question: str
    gold: list[str] = field(default_factory=list)
    answer_en: str = ""
    answer_terms: list[str] = field(default_factory=list)
    gold_by_outlet: dict[str, list[str]] = field(default_factory=dict)

    @property
    def split(self) -> str:
        """The set's fixed split: ids whose number divides by 3 are `test`."""
        return "test" if int(self.id.rsplit("-", 1)[1]) % 3 == 0 else "tune"


def load_newsqa(path: Path, split: str = "all") -> list[NewsQuestion]:
    def question(row: dict[str, Any]) -> NewsQuestion | None:
        q = NewsQuestion(row["id"], row["lang"], row["kind"], row["q"], list(row.get("gold", [])),
                         row.get("answer_en", ""), list(row.get("answer_ar_terms", [])), dict(row.get("gold_by_outlet", {})))
        return q if split in ("all", q.split) else None

    return _jsonl(path, "newsqa", "id, lang, kind and q", question)


def is_newsqa(path: Path) -> bool:
    first = next((line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()), "{}")
    try:
        return "kind" in json.loads(first) and "q" in json.loads(first)
    except ValueError:
        return False


def answer_terms(q: NewsQuestion) -> list[str]:
    """The Arabic answer words the question does not already give (all of them when it gives every one)."""
    from rag.language import normalize

    asked = normalize(q.question)
    new = [t for t in q.answer_terms if normalize(t) not in asked]
    return new or q.answer_terms


def holds_terms(text: str, terms: list[str]) -> bool:
    """Any of `terms` in `text`, both folded (diacritics, hamza forms, digits, spaces)."""
    from rag.news.dates import DIGITS
    from rag.language import normalize

    folded = " ".join(normalize(text.translate(DIGITS)).split())
    return any(" ".join(normalize(t.translate(DIGITS)).split()) in folded for t in terms)


#: the issue's goal for near misses answered: the calibration scripts (bench/) choose thresholds to keep it on tune
NEAR_MISS_LIMIT = 0.10


def sentence_answers(q: NewsQuestion, article_id: str, sentence: str, previous: str = "") -> bool:
    """The label the calibration scripts learn from: a sentence of a gold article that, with the sentence before
    it, holds one of the answer words (every sentence of a near miss is a non-answer)."""
    return q.kind == "answerable" and article_id in q.gold and holds_terms(f"{previous} {sentence}", answer_terms(q))


def fact_in_text(q: NewsQuestion, text: str) -> bool:
    """The asked fact is stated in the answer text: Arabic by its answer words; English by the reference
    answer's numbers (digits or words), else half of its content words."""
    from rag.answer.facts import figures
    from rag.language import lexical_tokens, light_stem

    if q.lang == "ar":
        return holds_terms(text, answer_terms(q))
    reference = re.sub(r"\([^)]*\)", "", q.answer_en)
    numbers = figures(reference).values
    if numbers:
        return numbers <= (figures(text).values | {float(n) for n in re.findall(r"\d+", text.replace(",", ""))})
    asked = {light_stem(t) for t in lexical_tokens(q.question)}
    wanted = {light_stem(t) for t in lexical_tokens(reference)} - asked
    have = {light_stem(t) for t in lexical_tokens(text)}
    return bool(wanted) and len(wanted & have) * 2 >= len(wanted)


def judge_news(answer: Any, q: NewsQuestion, passages: dict[int, str]) -> dict[str, Any]:
    """One row: what the answer did, judged as newsqa-dev's README suggests."""
    from rag.language import detect_language

    row: dict[str, Any] = {"id": q.id, "lang": q.lang, "kind": q.kind, "split": q.split, "question": q.question,
                           "abstained": answer.abstained, "mode": answer.mode, "answer": answer.answer[:600],
                           "cited": [c.article_id for c in answer.citations],
                           "claims": [c.to_dict() for c in answer.claims], "signals": answer.signals,
                           "first_token_s": answer.timings.get("first_token_s"),
                           "first_claim_s": answer.timings.get("first_claim_s"), "total_s": answer.timings.get("total_s")}
    if q.kind == "compare":
        covered = {outlet for outlet, ids in q.gold_by_outlet.items() if set(ids) & set(row["cited"])}
        row.update(outlets=len(q.gold_by_outlet), outlets_cited=len(covered), covered=len(covered) >= 3)
        return row
    gold_cited = [c for c in answer.citations if c.article_id in q.gold]
    terms = answer_terms(q)
    row["citations_ok"] = [c.article_id in q.gold or holds_terms(passages.get(c.n, c.quote), terms) for c in answer.citations]
    if q.kind == "answerable":
        claims_text = " ".join(c.text for c in answer.claims if c.kept) or answer.answer
        row.update(
            gold_cited=bool(gold_cited),
            passage_holds=any(holds_terms(passages.get(c.n, c.quote), terms) for c in gold_cited),
            fact_in_text=fact_in_text(q, answer.answer),
            asker_language=detect_language(claims_text) == q.lang,
        )
        row["right"] = (not answer.abstained and row["gold_cited"] and row["passage_holds"] and row["fact_in_text"]
                        and row["asker_language"])
    return row


def summarize_news(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Every measure of the issue's table, per language and in all, with 95% intervals."""
    out: dict[str, Any] = {}
    for lang in ("en", "ar", "all"):
        mine = [r for r in rows if lang == "all" or r["lang"] == lang]
        answerable = [r for r in mine if r["kind"] == "answerable"]
        near = [r for r in mine if r["kind"] == "near_miss"]
        compare = [r for r in mine if r["kind"] == "compare"]
        answered = [r for r in mine if r["kind"] != "compare" and not r["abstained"]]
        out[lang] = {
            "answerable_answered_right": rate([r["right"] for r in answerable]),
            "near_misses_answered": rate([not r["abstained"] for r in near]),
            "abstained_on_answerable": rate([r["abstained"] for r in answerable]),
            "citation_precision": rate([ok for r in answered for ok in r.get("citations_ok", [])]),
            "compare_cites_3_outlets": rate([r["covered"] for r in compare]),
            "gold_cited_when_answered": rate([r["gold_cited"] for r in answerable if not r["abstained"]]),
            "fact_in_text_when_answered": rate([r["fact_in_text"] for r in answerable if not r["abstained"]]),
            "p50_first_token_s": _median([r["first_token_s"] for r in mine]),
            "p50_first_claim_s": _median([r.get("first_claim_s") for r in mine]),
            "p50_total_s": _median([r["total_s"] for r in mine]),
        }
    return out


def _median(values: list[Any]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 3) if present else None


def evaluate_newsqa(settings: Settings, questions: Path, split: str = "test", kinds: tuple[str, ...] = (),
                    progress: Callable[[int, int], None] | None = None, llm: Any = "settings") -> dict[str, Any]:
    """newsqa-dev over the configured index (built from corpus/dev-multisource)."""
    from rag.answer.engine import open_answer_engine

    cases = [q for q in load_newsqa(questions, split) if not kinds or q.kind in kinds]
    engine = open_answer_engine(settings, llm=llm)
    rows = []
    for q in cases:
        answer = engine.compare(q.question) if q.kind == "compare" else engine.ask(q.question)
        windows = {s.n: s.quote for s in answer.sources}
        for c in answer.citations:  # the cited passage: its window and the sentence quoted from it
            windows[c.n] = f"{windows.get(c.n, '')} {c.quote}"
        rows.append(judge_news(answer, q, windows))
        if progress:
            progress(1, len(cases))
    return {"dataset": questions.name, "split": split, "llm": settings.llm, "answers": settings.answers,
            "questions": len(rows), **summarize_news(rows), "rows": rows}
