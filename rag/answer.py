"""Cited answers: retrieve → prompt (from prompts/) → LLM → guardrails.

An answer the sources do not support is worse than no answer, so the model's
text is checked outside the model:

- citations to passage numbers that were not given are removed;
- every cited sentence must be supported by a passage it cites (shared words,
  or, across languages, e5 similarity between the sentence and the passage);
- an answer with no valid citation, or mostly unsupported, is replaced by an
  extractive answer: the most relevant sentences of the best passages,
  quoted verbatim with their citations;
- when retrieval finds nothing close enough to the question, the answer says
  the corpus does not cover it, in the question's language (`abstained`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from langchain_core.language_models import BaseChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from rag.config import Settings, resource_path
from rag.errors import RagError
from rag.language import detect_language, lexical_tokens
from rag.retrieval import Expansion, Hit, Retriever, SearchResult
from rag.store import Filters

NOT_FOUND = "NOT_FOUND"
LANGUAGE_NAMES = {"ar": "Arabic", "en": "English", "fr": "French", "und": "the language of the question"}
_CITATION = re.compile(r"\[(\d{1,3}(?:\s*[,،]\s*\d{1,3})*)\]")
_SENTENCE = re.compile(r"(?<=[.!?؟。])\s+|\n+")

# Calibrated on XQuAD (docs/answers.md) to keep ~97% of answerable questions: below this
# cosine similarity between the
# question and the best passage the corpus rarely holds the answer (e5 scores are compressed,
# so this is a coarse first gate; the model's NOT_FOUND and the support check do the rest).
ABSTAIN_SIMILARITY = {"same": 0.815, "cross": 0.755}
# When the model refuses but the best passage is this close to the question (about the
# median for answerable XQuAD questions, above 90% of off-topic ones), quote it instead.
CONFIDENT_SIMILARITY = {"same": 0.86, "cross": 0.78}
# A cited sentence counts as supported by its passage at this e5 similarity (e5 scores
# of unrelated text reach 0.82, so only a high score is trusted alone), or when half of
# its content words (and at least three) occur in the passage.
SUPPORT_SIMILARITY = 0.86
SUPPORT_OVERLAP = 0.5
# Across languages (English answer, Arabic passage) words cannot be compared, but names
# and numbers can: two of them shared (names through their Arabic aliases) plus this
# e5 similarity count as support.
SUPPORT_CROSS_SIMILARITY = 0.76

MESSAGES = {
    "abstain": {
        "en": "The indexed articles do not cover this question.",
        "ar": "لا تغطي المقالات المفهرسة هذا السؤال.",
        "fr": "Les articles indexés ne traitent pas cette question.",
    },
    "extractive": {
        "en": "The sources say:",
        "ar": "ورد في المصادر:",
        "fr": "Les sources indiquent :",
    },
}


def message(kind: str, language: str) -> str:
    return MESSAGES[kind].get(language, MESSAGES[kind]["en"])


@lru_cache(maxsize=16)
def load_prompt(name: str) -> ChatPromptTemplate:
    """A chat prompt from `prompts/<name>.md`: a `[system]` section and a `[user]` section."""
    path = resource_path("prompts") / f"{name}.md"
    if not path.exists():
        raise RagError(f"prompt file {path} is missing; reinstall rag or restore prompts/")
    text = path.read_text(encoding="utf-8")
    system, _, user = text.partition("[user]")
    return ChatPromptTemplate.from_messages(
        [("system", system.replace("[system]", "", 1).strip()), ("human", user.strip())]
    )


@dataclass
class Citation:
    n: int
    article_id: str
    title: str
    outlet: str
    date: str | None
    url: str | None
    source_path: str
    quote: str


@dataclass
class Source(Citation):
    score: float = 0.0


@dataclass
class Answer:
    question: str
    answer: str
    language: str
    abstained: bool
    citations: list[Citation]
    sources: list[Source]
    timings: dict[str, float | None]
    #: generated | extractive | abstained (how the text was produced)
    mode: str = "generated"
    standalone_question: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.answer,
            "language": self.language,
            "abstained": self.abstained,
            "citations": [asdict(c) for c in self.citations],
            "sources": [asdict(s) for s in self.sources],
            "timings": self.timings,
        }

    def sources_block(self) -> str:
        """`[n] Outlet — Title (date) URL` lines for the citations used."""
        lines = []
        for c in self.citations or self.sources:
            where = c.url or c.source_path
            lines.append(f"[{c.n}] {c.outlet} — {c.title} ({c.date or 'undated'}) {where}".rstrip())
        return "\n".join(lines)


@dataclass
class Event:
    """What `AnswerEngine.stream` yields: text as it is generated, then the final answer."""

    kind: str  # "token" | "answer"
    text: str = ""
    answer: Answer | None = None
    #: True when the final answer is not the streamed text (guardrail fallback).
    replaced: bool = False


def sentences(text: str) -> list[str]:
    """Sentences, with a citation that follows the full stop ("… end. [2]") kept on its sentence."""
    out: list[str] = []
    for part in _SENTENCE.split(text):
        part = part.strip() if part else ""
        if not part:
            continue
        if out and not _CITATION.sub("", part).strip(" .،,"):
            out[-1] = f"{out[-1]} {part}"
        else:
            out.append(part)
    return out


def cited_numbers(text: str) -> list[int]:
    return [int(n) for group in _CITATION.findall(text) for n in re.split(r"\s*[,،]\s*", group)]


def strip_invalid_citations(text: str, valid: int) -> str:
    """Drop citation numbers outside 1..valid (and brackets left empty)."""

    def fix(match: re.Match[str]) -> str:
        numbers = [n for n in re.split(r"\s*[,،]\s*", match.group(1)) if 1 <= int(n) <= valid]
        return "".join(f"[{n}]" for n in numbers)

    return re.sub(r"[ \t]+([.؟?!،,])", r"\1", _CITATION.sub(fix, text)).strip()


def _short(title: str, limit: int = 60) -> str:
    return title if len(title) <= limit else title[:limit].rsplit(" ", 1)[0] + "…"


def best_window(text: str, keywords: set[str], max_chars: int = 420) -> str:
    """The run of sentences around the best keyword match, at most `max_chars`."""
    parts = sentences(text)
    if len(text) <= max_chars or not parts:
        return text
    scores = [len(keywords & set(lexical_tokens(p))) for p in parts]
    best = int(np.argmax(scores)) if any(scores) else 0
    start = end = best
    window = parts[best]
    while True:
        grew = False
        if end + 1 < len(parts) and len(window) + len(parts[end + 1]) + 1 <= max_chars:
            end += 1
            window = " ".join(parts[start : end + 1])
            grew = True
        if start > 0 and len(window) + len(parts[start - 1]) + 1 <= max_chars:
            start -= 1
            window = " ".join(parts[start : end + 1])
            grew = True
        if not grew:
            break
    return window[:max_chars]


class AnswerEngine:
    """Question → cited `Answer`, with any LangChain chat model (or none: extractive)."""

    def __init__(self, retriever: Retriever, llm: BaseChatModel | None, settings: Settings) -> None:
        self.retriever = retriever
        self.llm = llm
        self.settings = settings

    # -- the chain -------------------------------------------------------------

    def _chain(self, language: str) -> Any:
        prompt = load_prompt("answer.ar" if language == "ar" else "answer.en")
        return prompt | self.llm | StrOutputParser()

    def condense(self, question: str, history: Sequence[tuple[str, str]]) -> str:
        """A follow-up ("and what about Mosul?") rewritten as a standalone question."""
        if not history:
            return question
        if self.llm is None:
            return f"{history[-1][0]} {question}"
        lines = "\n".join(f"User: {q}\nAssistant: {a[:300]}" for q, a in history[-3:])
        rewritten = (load_prompt("condense") | self.llm | StrOutputParser()).invoke({"history": lines, "question": question})
        rewritten = rewritten.strip().splitlines()[0].strip() if rewritten.strip() else ""
        return rewritten or question

    def retrieve(self, question: str, k: int, filters: Filters | None) -> SearchResult:
        """Passages for the question, with the name expansion the search used (reused by the checks)."""
        self.retriever.refresh()
        return self.retriever.search(question, k=k, filters=filters, per_article=False)

    @staticmethod
    def _best_similarity(question_language: str, hits: list[Hit]) -> tuple[float | None, str]:
        """The best passage's cosine similarity, and whether question and passages share a language."""
        best = max((h.similarity for h in hits if h.similarity is not None), default=None)
        return best, "same" if question_language in {h.chunk.lang for h in hits} else "cross"

    def should_abstain(self, question_language: str, hits: list[Hit]) -> bool:
        if not hits:
            return True
        best, kind = self._best_similarity(question_language, hits)
        return best is not None and best < ABSTAIN_SIMILARITY[kind]

    # -- answering -------------------------------------------------------------

    def ask(self, question: str, history: Sequence[tuple[str, str]] = (), k: int | None = None,
            filters: Filters | None = None) -> Answer:
        final = None
        for event in self.stream(question, history, k, filters):
            if event.kind == "answer":
                final = event.answer
        assert final is not None
        return final

    def stream(self, question: str, history: Sequence[tuple[str, str]] = (), k: int | None = None,
               filters: Filters | None = None) -> Iterator[Event]:
        """Tokens as the model writes them, then the checked `Answer`."""
        started = time.perf_counter()
        question = question.strip()
        if not question:
            raise RagError("the question is empty; ask something")
        language = detect_language(question)
        standalone = self.condense(question, history)
        result = self.retrieve(standalone, k or self.settings.k, filters)
        hits, expansion = result.hits, result.expansion
        timings: dict[str, float | None] = {"retrieve_s": round(time.perf_counter() - started, 3), "first_token_s": None}
        sources = [self._source(n, hit, hit.chunk.text) for n, hit in enumerate(hits, 1)]
        if self.should_abstain(language, hits):
            text = message("abstain", language)
            timings["total_s"] = round(time.perf_counter() - started, 3)
            yield Event("answer", answer=Answer(question, text, language, True, [], sources, timings, "abstained", standalone))
            return
        keywords = set(lexical_tokens(standalone)) | set(expansion.lexical_terms)
        passages = [best_window(h.chunk.text, keywords, self.settings.passage_chars) for h in hits]
        streamed = ""
        if self.llm is not None:
            context = "\n\n".join(
                f"[{n}] {h.chunk.outlet}, {h.chunk.date or 'undated'}: {_short(h.chunk.title)}\n{p}"
                for n, (h, p) in enumerate(zip(hits, passages), 1)
            )
            inputs = {"sources": context, "question": standalone, "language": LANGUAGE_NAMES.get(language, language)}
            held = ""
            for token in self._chain(language).stream(inputs):
                if timings["first_token_s"] is None:
                    timings["first_token_s"] = round(time.perf_counter() - started, 3)
                streamed += token
                held += token
                if NOT_FOUND.startswith(held.strip()) and held.strip():
                    continue  # may be the refusal sentinel: do not show it
                yield Event("token", held)
                held = ""
        answer = self._checked(question, standalone, language, streamed, hits, expansion, passages, sources, timings)
        answer.timings["total_s"] = round(time.perf_counter() - started, 3)
        yield Event("answer", answer=answer, replaced=answer.answer != streamed.strip())

    # -- guardrails ------------------------------------------------------------

    def _checked(self, question: str, standalone: str, language: str, text: str, hits: list[Hit], expansion: Expansion,
                 passages: list[str], sources: list[Source], timings: dict[str, float | None]) -> Answer:
        text = text.strip()
        key = self._key_term(standalone, hits, expansion)
        if text.startswith(NOT_FOUND) or (NOT_FOUND in text and not cited_numbers(text)):
            best, kind = self._best_similarity(language, hits)
            if key is None and (best is None or best < CONFIDENT_SIMILARITY[kind]):
                return Answer(question, message("abstain", language), language, True, [], sources, timings, "abstained", standalone)
            text = ""  # the passages name what was asked about, or match it closely: quote them rather than refuse
        cleaned = strip_invalid_citations(text, len(hits)) if text else ""
        citations = self._supported_citations(cleaned, hits, passages) if cleaned else None
        if citations is not None and key is not None and not key & set(lexical_tokens(cleaned)):
            citations = None  # supported, but about something else than what was asked
        if citations is None:
            cleaned, citations = self._extractive(standalone, language, hits, expansion, key)
            mode = "extractive"
        else:
            mode = "generated"
        return Answer(question, cleaned, language, False, citations, sources, timings, mode, standalone)

    def _key_term(self, question: str, hits: list[Hit], expansion: Expansion) -> set[str] | None:
        """Spellings of the question's most specific term that the passages contain, if any.

        A small model sometimes answers a neighbouring question from the same
        passages, or refuses when the passages do hold the answer; the rarest
        question term (a name, usually) is the cheapest test of both.
        """
        aliases = {fold: set(lexical_tokens(n["alias"])) for n in expansion.notes for fold in lexical_tokens(n["name"])}
        passage_words = set().union(*(lexical_tokens(h.chunk.text) for h in hits))
        frequencies = self.retriever.store.term_frequencies(lexical_tokens(question) + expansion.lexical_terms)
        candidates = []
        for token in dict.fromkeys(lexical_tokens(question)):
            spellings = {token} | aliases.get(token, set())
            present = [t for t in spellings if t in passage_words and t in frequencies]
            if present:
                candidates.append((min(frequencies[t] for t in present), spellings))
        if not candidates:
            return None  # no corpus statistics for these terms: nothing to judge by
        return min(candidates, key=lambda c: c[0])[1]

    def _supported_citations(self, text: str, hits: list[Hit], passages: list[str]) -> list[Citation] | None:
        """Citations of a generated answer, or None when the sources do not support it."""
        claims = [(s, cited_numbers(s)) for s in sentences(text)]
        claims = [(s, ns) for s, ns in claims if len(lexical_tokens(_CITATION.sub("", s))) >= 2]
        cited = [(s, ns) for s, ns in claims if ns]
        if not cited:
            return None
        supported: dict[int, str] = {}
        ok = 0
        vectors = self._sentence_vectors([_CITATION.sub("", s) for s, _ in cited])
        for (sentence, numbers), vector in zip(cited, vectors):
            plain = _CITATION.sub("", sentence)
            words = set(lexical_tokens(plain))
            # Names in an English sentence also count in their Arabic spelling (rag.names).
            spelled = words | set(self.retriever.expand(plain).lexical_terms)
            good = False
            for n in numbers:
                passage_words = set(lexical_tokens(hits[n - 1].chunk.text))
                similarity = float(vector @ self._passage_vector(hits[n - 1]))
                same_script = len(words & passage_words)
                across = len(spelled & passage_words)
                if (
                    similarity >= SUPPORT_SIMILARITY
                    or (same_script >= 3 and same_script / max(1, len(words)) >= SUPPORT_OVERLAP)
                    or (across >= 2 and similarity >= SUPPORT_CROSS_SIMILARITY)
                ):
                    good = True
                    supported.setdefault(n, self._quote(sentence, hits[n - 1].chunk.text, passages[n - 1]))
            ok += good
        if ok * 2 < len(cited) or len(cited) * 2 < len(claims):
            return None
        return [self._citation(n, hits[n - 1], quote) for n, quote in sorted(supported.items())]

    def _extractive(self, question: str, language: str, hits: list[Hit], expansion: Expansion,
                    key: set[str] | None = None) -> tuple[str, list[Citation]]:
        """The sentences of the best passages closest to the question, quoted verbatim.

        When the question has a specific term that the passages contain, only
        sentences that mention it are quoted.
        """
        candidates = [(n, s) for n, h in enumerate(hits[:3], 1) for s in sentences(h.chunk.text) if len(s) > 20]
        if key:
            about = [(n, s) for n, s in candidates if key & set(lexical_tokens(s))]
            candidates = about or candidates
        if not candidates:
            return message("abstain", language), []
        vectors = self.retriever.embedder.embed_passages([s for _, s in candidates])
        query = self.retriever.embedder.embed_queries([question])[0]
        words = set(lexical_tokens(question)) | set(expansion.lexical_terms)
        scores = vectors @ query + 0.02 * np.array([len(words & set(lexical_tokens(s))) for _, s in candidates])
        chosen = sorted(np.argsort(-scores)[:2], key=lambda i: (candidates[i][0], i))
        lines = [message("extractive", language)]
        citations: dict[int, Citation] = {}
        for i in chosen:
            n, sentence = candidates[i]
            lines.append(f"{hits[n - 1].chunk.outlet}: “{sentence}” [{n}]")
            citations.setdefault(n, self._citation(n, hits[n - 1], sentence))
        return "\n".join(lines), [citations[n] for n in sorted(citations)]

    def _sentence_vectors(self, texts: list[str]) -> np.ndarray:
        return self.retriever.embedder.embed_queries(texts)

    def _passage_vector(self, hit: Hit) -> np.ndarray:
        return self.retriever.store.dense.reconstruct(int(hit.chunk.row))

    @staticmethod
    def _quote(sentence: str, passage: str, window: str) -> str:
        """The passage sentence that shares most words with the answer sentence."""
        words = set(lexical_tokens(sentence))
        parts = sentences(passage) or [window]
        return max(parts, key=lambda p: len(words & set(lexical_tokens(p))))

    @staticmethod
    def _citation(n: int, hit: Hit, quote: str) -> Citation:
        c = hit.chunk
        return Citation(n, c.article_id, c.title, c.outlet, c.date, c.url, c.source_path, quote)

    @staticmethod
    def _source(n: int, hit: Hit, text: str) -> Source:
        c = hit.chunk
        return Source(n, c.article_id, c.title, c.outlet, c.date, c.url, c.source_path, text, round(float(hit.score), 6))


def open_answer_engine(settings: Settings, llm: BaseChatModel | None | str = "settings") -> AnswerEngine:
    """Retriever + configured LLM (or the one given) for `settings`."""
    from rag import open_retriever
    from rag.llms import load_llm

    model = load_llm(settings) if llm == "settings" else llm
    retriever = open_retriever(settings)
    if settings.query_translation and model is not None:
        retriever.expanders.append(QueryTranslator(model))  # type: ignore[arg-type]
    return AnswerEngine(retriever, model, settings)  # type: ignore[arg-type]


class QueryTranslator:
    """A `QueryExpander` that asks the LLM for the question in Arabic (the corpus language).

    Off by default (`query_translation = true` turns it on): measured on XQuAD
    it made retrieval worse with the default 1.5B model, which garbles names
    (docs/answers.md). The translation is searched alongside the original,
    at a low weight.
    """

    def __init__(self, llm: BaseChatModel, weight: float = 0.1) -> None:
        self.chain = load_prompt("translate") | llm | StrOutputParser()
        self.weight = weight

    def expand(self, query: str, store: Any) -> Expansion:
        if detect_language(query) == "ar":
            return Expansion()
        arabic = self.chain.invoke({"question": query}, max_tokens=64).strip().splitlines()
        if not arabic or not arabic[0].strip():
            return Expansion()
        text = arabic[0].strip()
        return Expansion(lexical_terms=lexical_tokens(text), dense_queries=[(text, self.weight)],
                         notes=[{"translation": text, "weight": self.weight}])
