"""Cited answers, evidence first: retrieve → choose passages → claims → checks → quotes.

An answer the sources do not support is worse than no answer, so trust is
built around the model rather than expected from it:

1. the passages and the best matching quote go out before the model starts;
2. the model writes claims, each naming its passages, in a parseable form
   (rag.answer.claims); each claim is checked against those passages and kept,
   re-attributed or dropped, so a sentence without a supporting citation never
   reaches the user;
3. if the model says the passages do not answer, the answer abstains; if it
   answers but no claim survives, verbatim quotes take over
   (`ExtractiveAnswerer`) when the evidence is strong enough, else it abstains;
4. quotes stay verbatim; when their language is not the asker's, a machine
   rendering with names from the alias index follows them (rag.answer.translation).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from langchain_core.language_models import BaseChatModel
from langchain_core.output_parsers import StrOutputParser

from rag.answer.answerability import CROSS_LANGUAGE_OFFSET, AnswerabilityModel, load_model
from rag.article import ArticleFields, ArticleMeta
from rag.answer.claims import Claim, ClaimReader, CitationChecker, Evidence
from rag.answer.grounded import score_sentences
from rag.config import Settings
from rag.models.embeddings import RecentSentences
from rag.errors import RagError
from rag.language import close_quotes, detect_language, lexical_tokens, light_stem, open_quotes
from rag.models.prompts import load_prompt
from rag.retrieval import Expansion, Hit, Retriever, SearchResult
from rag.news.filters import Filters
from rag.answer.translation import Glossary, QueryTranslator, QuoteTranslator, Translation

# Calibrated on XQuAD (docs/answers.md) to keep ~97% of answerable questions: below this cosine
# similarity between the question and the best passage the corpus rarely holds the answer (e5
# scores are compressed, so this is a coarse first gate; the model's "found" and the claim
# checks do the rest).
ABSTAIN_SIMILARITY = {"same": 0.815, "cross": 0.755}
# Quotes stand in for an answer (no model, or no claim of the model survived) only when one
# sentence is close to the question, on the language-calibrated scale below, and the passages
# name the question's key term: at QUOTE_RELEVANCE, or at QUOTE_RELEVANCE_COVERED when that
# sentence also holds two of the question's terms (or their aliases). Chosen on the XQuAD
# "tune" split, 40 + 40 questions a language, default model (docs/answers.md, "Abstention"):
# Arabic 20% abstained / 20% of near misses answered; English 62% / 5%. Lower thresholds
# answered 25–30% of near misses; higher ones abstained more without fewer false answers.
QUOTE_RELEVANCE = 0.89
QUOTE_RELEVANCE_COVERED = 0.86
# --compare-outlets: sections for at most this many outlets (the "up to 5").
COMPARE_OUTLETS = 5
# A sentence that contains the question's key term (rag.answer.engine.KeyTerm) is preferred by this much.
KEY_TERM_BONUS = 0.02

from rag.answer.messages import message  # noqa: E402  (user-facing sentences, en/ar/fr)


@dataclass(kw_only=True)
class Reference(ArticleFields):
    """A numbered passage as the user sees it: its article (the record, whole) and a quote."""

    n: int
    article: ArticleMeta
    quote: str
    #: for "what did X say" questions: X, and whether the passage quotes X directly, reports X's words or mentions X
    speaker: str | None = None
    quote_type: str | None = None
    #: other copies of the same story (rag.news.stories): ArticleMeta.copy_ref() of each
    also_reported_by: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """`n`, the article's fields (ArticleMeta.to_dict), `quote`, and what the kind of passage adds."""
        data: dict[str, Any] = {"n": self.n, **self.article.to_dict(), "quote": self.quote, "speaker": self.speaker,
                                "quote_type": self.quote_type, "also_reported_by": self.also_reported_by}
        return data


@dataclass(kw_only=True)
class Citation(Reference):
    """A passage that a kept claim (or a quote) uses."""

    #: the quote rendered in the asker's language when it is in another one (machine translation)
    translation: Translation | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "translation": self.translation.to_dict() if self.translation else None}


@dataclass(kw_only=True)
class Source(Reference):
    """A passage given to the model, with its retrieval score."""

    score: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "score": self.score}


@dataclass
class OutletReport:
    """One outlet's section of a `--compare-outlets` answer."""

    outlet: str
    date: str | None
    summary: str  # the outlet's own sentence, verbatim
    citations: list[int]
    speaker: str | None = None
    quote_type: str | None = None
    translation: Translation | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["translation"] = self.translation.to_dict() if self.translation else None
        return data


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
    claims: list[Claim] = field(default_factory=list)
    #: what the decision to answer, quote or abstain was based on (shown by --json)
    signals: dict[str, Any] = field(default_factory=dict)
    #: --compare-outlets: one section per outlet
    outlets: list[OutletReport] = field(default_factory=list)
    #: the date range searched, when the question named one (rag.news.dates)
    time_filter: dict[str, Any] | None = None
    #: tokens the answer's model call used, as the backend counted them (zero without a model)
    usage: dict[str, int] = field(default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0})

    @property
    def as_of(self) -> str | None:
        """The newest report cited: an answer about a developing story holds as of that date."""
        return max((c.date[:10] for c in self.citations if c.date), default=None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.answer,
            "language": self.language,
            "abstained": self.abstained,
            "mode": self.mode,
            "claims": [c.to_dict() for c in self.claims],
            "citations": [citation_dict(c) for c in self.citations],
            "sources": [s.to_dict() for s in self.sources],
            "timings": self.timings,
            "signals": self.signals,
            "as_of": self.as_of,
            "usage": self.usage,
            **({"outlets": [o.to_dict() for o in self.outlets]} if self.mode == "compare" else {}),
            **({"time_filter": self.time_filter} if self.time_filter else {}),
        }

    def sources_block(self) -> str:
        """`[n] Outlet — Title (date) URL` lines for the citations used; under a generated answer each
        with its verbatim quote and, in another language than the question, its machine rendering."""
        lines = []
        for c in self.citations:
            lines.append(source_line(c))
            if c.also_reported_by:
                copies = ", ".join(f"{a['outlet']} ({a['date'] or 'undated'})" for a in c.also_reported_by[:5])
                lines.append(f"    also reported by: {copies}")
            said = {claim.text.rstrip(".!?؟… ") for claim in self.claims if claim.kept}
            if self.mode == "generated" and not any(t and t in c.quote for t in said):
                lines.append(f"    “{c.quote}”")  # not when the claim is the quote itself (quote-first, same language)
            if c.translation is not None and self.mode == "generated":
                lines.append(f"    ({message('translation', self.language)}) {c.translation.text}")
        return "\n".join(lines)


def citation_dict(citation: Citation) -> dict[str, Any]:
    return citation.to_dict()


def history_pairs(turns: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """(question, answer) pairs from alternating (role, content) turns; unpaired turns are left out."""
    pairs: list[tuple[str, str]] = []
    pending: str | None = None
    for role, content in turns:
        if role == "user":
            pending = content
        elif role == "assistant" and pending is not None:
            pairs.append((pending, content))
            pending = None
    return pairs


from rag.answer.render import source_line  # noqa: E402  (re-exported: one renderer for passages)


@dataclass
class Event:
    """What `AnswerEngine.stream` yields, in this order:

    - `sources` (once, before the model starts): the passages and the best quote;
    - `token` (zero or more): checked claims as they are accepted, `[n]` markers included;
    - `answer` (once): the final checked `Answer`.
    """

    kind: str  # "sources" | "token" | "answer"
    text: str = ""
    answer: Answer | None = None
    sources: list[Source] = field(default_factory=list)
    quote: Citation | None = None
    #: True when the final answer text is not the concatenated tokens (quotes replaced the claims)
    replaced: bool = False


# -- steps -------------------------------------------------------------------------------


@dataclass
class Chosen:
    """The passages given to the model (numbered 1..n) and what the checks need of them."""

    hits: list[Hit]
    evidence: Evidence
    windows: list[str]
    #: best sentence similarity to the question, per passage
    relevance: list[float]
    #: (passage number, sentence) of the sentence closest to the question
    best: tuple[int, str] | None
    #: question terms (or their aliases) that the best sentence contains
    coverage: int = 0


class PassageChooser:
    """Rescores retrieved passages sentence by sentence and keeps the few that matter.

    Fewer, tighter passages make a shorter prompt (the 1.5B model's time to
    first token is mostly prompt evaluation) and a better best quote.
    """

    def __init__(self, embedder: Any, passages: int, window_chars: int) -> None:
        self.embedder = embedder
        self.passages = passages
        self.window_chars = window_chars

    def choose(self, question: str, hits: list[Hit], key: set[str] | None, aliases: Sequence[str] = ()) -> Chosen:
        evidence = Evidence([(h.chunk.text, h.chunk.lang) for h in hits], self.embedder)
        query = self.embedder.embed_queries([question])[0]
        language = detect_language(question)
        per_passage = []
        for passage, vectors in zip(evidence.passages, evidence.sentence_vectors()):
            sims = vectors @ query if len(vectors) else np.zeros(1)
            bonus = np.array([(KEY_TERM_BONUS if key and key & words else 0.0)
                              + (CROSS_LANGUAGE_OFFSET if lang != language else 0.0)
                              for words, lang in zip(passage.sentence_words, passage.langs)])
            per_passage.append(sims + bonus[: len(sims)])
        order = sorted(range(len(hits)), key=lambda i: -float(per_passage[i].max()))[: self.passages]
        evidence = evidence.subset(order)
        windows, relevance = [], []
        best: tuple[int, str] | None = None
        for n, i in enumerate(order, 1):
            scores = per_passage[i]
            top = int(np.argmax(scores))
            sentences = evidence.passages[n - 1].sentences
            windows.append(_window(sentences, top, self.window_chars))
            relevance.append(float(scores[top]))
            if best is None or scores[top] > max(relevance[:-1]):
                best = (n, sentences[top])
        coverage = 0
        if best is not None:
            asked = {light_stem(t) for t in [*lexical_tokens(question), *aliases]}
            coverage = len(asked & {light_stem(t) for t in lexical_tokens(best[1])})
        return Chosen([hits[i] for i in order], evidence, windows, relevance, best, coverage)


def _window(sentences: list[str], center: int, max_chars: int) -> str:
    """The run of sentences around `center`, at most `max_chars` (the centre sentence, cut if longer)."""
    start = end = center
    text = sentences[center]
    while True:
        grew = False
        if end + 1 < len(sentences) and len(text) + len(sentences[end + 1]) + 1 <= max_chars:
            end += 1
            grew = True
        if start > 0 and len(" ".join(sentences[start - 1 : end + 1])) <= max_chars:
            start -= 1
            grew = True
        text = " ".join(sentences[start : end + 1])
        if not grew:
            break
    return text[: max(max_chars, 1)]


class ExtractiveAnswerer:
    """Verbatim quotes: the sentences of the chosen passages closest to the question.

    When the question has a specific term the passages contain, only sentences
    that mention it are quoted.
    """

    def __init__(self, embedder: Any, quotes: int = 2) -> None:
        self.embedder = embedder
        self.quotes = quotes

    def answer(self, question: str, chosen: Chosen, key: set[str] | None,
               expansion: Expansion) -> list[tuple[int, str]]:
        candidates = [(p.n, s) for p in chosen.evidence.passages for s in p.sentences if len(s) > 20]
        if key:
            about = [(n, s) for n, s in candidates if key & set(lexical_tokens(s))]
            candidates = about or candidates
        if not candidates:
            return []
        vectors = chosen.evidence.sentence_vectors()
        index = {(p.n, s): vectors[p.n - 1][j] for p in chosen.evidence.passages for j, s in enumerate(p.sentences)}
        query = self.embedder.embed_queries([question])[0]
        words = set(lexical_tokens(question)) | set(expansion.lexical_terms)
        scores = np.array([float(index[c] @ query) + 0.02 * len(words & set(lexical_tokens(c[1]))) for c in candidates])
        picked = sorted(np.argsort(-scores)[: self.quotes], key=lambda i: (candidates[i][0], i))
        return [candidates[i] for i in picked]


class KeyTerm:
    """The question's most specific term that the passages contain, in all its spellings.

    A small model sometimes answers a neighbouring question from the same
    passages; the rarest question term (a name, usually) is the cheapest test.
    """

    def __init__(self, retriever: Retriever) -> None:
        self.retriever = retriever

    def find(self, question: str, hits: list[Hit], expansion: Expansion) -> set[str] | None:
        aliases: dict[str, set[str]] = {}
        for match in expansion.aliases:
            for fold in lexical_tokens(match.name):
                aliases.setdefault(fold, set()).update(lexical_tokens(match.alias), match.variants)
        passage_words = set().union(*(lexical_tokens(h.chunk.text) for h in hits)) if hits else set()
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


# -- the engine ----------------------------------------------------------------------------


class AnswerEngine:
    """Question → cited `Answer`, with any LangChain chat model (or none: quotes only)."""

    def __init__(self, retriever: Retriever, llm: BaseChatModel | None, settings: Settings,
                 curated_aliases: dict[str, list[str]] | None = None,
                 answerability: AnswerabilityModel | None = None) -> None:
        self.retriever = retriever
        self.llm = llm
        self.settings = settings
        #: the passages' sentences, embedded once while they keep being asked about
        self.sentences = RecentSentences(retriever.embedder)
        self.chooser = PassageChooser(self.sentences, settings.answer_passages, settings.passage_chars)
        self.checker = CitationChecker(retriever.embedder, retriever.name_terms)
        self.extractive = ExtractiveAnswerer(retriever.embedder)
        self.key_term = KeyTerm(retriever)
        self.translator = QuoteTranslator(llm) if llm is not None else None
        self.curated = curated_aliases if curated_aliases is not None else _curated_pairs(retriever)
        self.answerability = answerability or load_model()

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

    def retrieve(self, question: str, k: int, filters: Filters | None, diverse: int | None = None) -> SearchResult:
        """Passages for the question, with the name expansion the search used (reused by the checks)."""
        self.retriever.refresh()
        return self.retriever.search(question, k=k, filters=filters, per_article=False, diverse=diverse)

    @staticmethod
    def _kind(question_language: str, hits: list[Hit]) -> str:
        return "same" if question_language in {h.chunk.lang for h in hits} else "cross"

    def should_abstain(self, question_language: str, hits: list[Hit]) -> bool:
        if not hits:
            return True
        best = max((h.similarity for h in hits if h.similarity is not None), default=None)
        return best is not None and best < ABSTAIN_SIMILARITY[self._kind(question_language, hits)]

    def as_runnable(self) -> Any:
        """This engine as a LangChain `Runnable` (question or messages in, the answer dict out)."""
        from rag.surfaces.langchain import AnswerRunnable

        return AnswerRunnable(self)

    def ask(self, question: str, history: Sequence[tuple[str, str]] = (), k: int | None = None,
            filters: Filters | None = None, generation: dict[str, Any] | None = None) -> Answer:
        final = None
        for event in self.stream(question, history, k, filters, generation=generation):
            if event.kind == "answer":
                final = event.answer
        assert final is not None
        return final

    def stream(self, question: str, history: Sequence[tuple[str, str]] = (), k: int | None = None,
               filters: Filters | None = None, cancel: threading.Event | None = None,
               generation: dict[str, Any] | None = None) -> Iterator[Event]:
        """The evidence, then checked claims as the model writes them, then the final `Answer`.

        Setting `cancel` (a client went away) stops the model at its next token
        and releases it; the stream then ends without an answer. `generation` passes
        `temperature` and `max_tokens` to the model (the OpenAI API's request fields).
        """
        q = self._open(question, history, k, filters)
        if self.should_abstain(q.language, q.hits):  # nothing close enough to the question
            sources = [_source(n, h, h.chunk.text[:300]) for n, h in enumerate(q.hits, 1)]
            q.mark("sources_s")
            yield Event("sources", sources=sources)
            yield self._done(q, self._abstained(q.question, q.standalone, q.language, sources, q.timings))
            return
        key = self.key_term.find(q.standalone, q.hits, q.expansion)
        if self.settings.answers == "quotes":  # the sentences that answer, in the asker's language
            from rag.answer.quote_first import QuoteFirst

            yield from QuoteFirst(self).answer(q, key)
        else:  # the model writes claims across the passages
            from rag.answer.synthesis import Synthesis

            yield from Synthesis(self).answer(q, key, cancel, generation)

    def _open(self, question: str, history: Sequence[tuple[str, str]], k: int | None, filters: Filters | None,
              diverse: int | None = None) -> "_Asking":
        """One question's state (what `stream` and `compare` both start from): made standalone (follow-ups),
        retrieved (`diverse`: at most that many passages per outlet), timed."""
        started = time.perf_counter()
        question = question.strip()
        if not question:
            raise RagError("the question is empty; ask something")
        language = detect_language(question)
        standalone = self.condense(question, history)
        result = self.retrieve(standalone, k or self.settings.k, filters, diverse)
        best = max((round(float(h.similarity), 4) for h in result.hits if h.similarity is not None), default=None)
        q = _Asking(question, language, standalone, result, started, signals={"best_similarity": best})
        q.mark("retrieve_s")
        return q

    def _done(self, q: "_Asking", answer: Answer, replaced: bool = False) -> Event:
        """Every exit of `stream`: the answer with its timings, signals, token usage and time filter."""
        answer.timings["total_s"] = round(time.perf_counter() - q.started, 3)
        if not answer.abstained and q.result.news is not None and q.result.news.speaker:
            from rag.answer.comparison import note_different_words

            note_different_words(answer, q.hits, q.result.news)
        answer.signals = q.signals
        answer.usage = {**q.usage, "total_tokens": q.usage["prompt_tokens"] + q.usage["completion_tokens"]}
        answer.time_filter = q.result.time_filter.to_dict() if q.result.time_filter else None
        return Event("answer", answer=answer, replaced=replaced)

    def compare(self, question: str, k: int | None = None, filters: Filters | None = None) -> Answer:
        """How the outlets reported it: one cited section per outlet (rag.answer.comparison)."""
        from rag.answer.comparison import compare_outlets

        return compare_outlets(self, question, k, filters)

    def _cite_hit(self, n: int, hit: Hit, quote: str, language: str, glossary: Glossary) -> Citation:
        citation = _citation(n, hit, quote)
        if self.translator is not None and detect_language(quote) != language:
            translation = self.translator.translate(quote, language, glossary)
            if translation is not None and open_quotes(translation.text):  # a small model drops closing marks
                translation = replace(translation, text=close_quotes(translation.text))
            citation.translation = translation
        return citation

    def score(self, question: str, result: SearchResult, key: set[str] | None) -> tuple[Evidence, Any]:
        """Every sentence of the retrieved passages scored for answering the question (rag.answer.grounded)."""
        evidence = Evidence([(h.chunk.text, h.chunk.lang) for h in result.hits], self.sentences)
        query = self.sentences.embed_queries([question])[0]
        return evidence, score_sentences(question, result.hits, evidence, query, key, result.expansion.lexical_terms,
                                         self.answerability)

    # -- steps -------------------------------------------------------------------------------

    def _quotes(self, question: str, standalone: str, language: str, hits: Sequence[Hit], picked: list[tuple[int, str]],
                sources: list[Source], timings: dict[str, float | None], glossary: Glossary,
                claims: list[Claim] | None = None, header: str | None = None) -> Answer:
        """Verbatim sentences `(passage n, sentence)` as the answer, each with its outlet and, in another
        language than the question's, its labelled machine rendering."""
        citations: dict[int, Citation] = {}
        lines = []
        foreign = False
        for n, sentence in picked:
            citation = self._cite_hit(n, hits[n - 1], sentence, language, glossary)
            citations.setdefault(n, citation)
            lines.append(f"{hits[n - 1].chunk.outlet}: “{sentence}” [{n}]")
            if detect_language(sentence) != language and language != "und":
                foreign = True
                if citation.translation is not None and header != "unrendered":
                    lines.append(f"    ({message('translation', language)}) {citation.translation.text}")
        if header == "unrendered":
            for c in citations.values():
                c.translation = None  # it changed a fact: not shown anywhere
        header = header or ("untranslated" if foreign and self.translator is None else "extractive")
        return Answer(question, "\n".join([message(header, language), *lines]), language, False,
                      [citations[n] for n in sorted(citations)], sources, timings, "extractive", standalone, claims or [])

    @staticmethod
    def _abstained(question: str, standalone: str, language: str, sources: list[Source],
                   timings: dict[str, float | None], claims: list[Claim] | None = None) -> Answer:
        return Answer(question, message("abstain", language), language, True, [], sources, timings, "abstained",
                      standalone, claims or [])


def _best_index(scored: Any, hit: int) -> int:
    """Position of the best-scored sentence of passage `hit` (0 when none was scored)."""
    mine = [c for c in scored.candidates if c.hit == hit]
    return max(mine, key=lambda c: c.probability).index if mine else 0


def _aliased(text: str, key: set[str], checker: CitationChecker) -> set[str]:
    """Key-term spellings reached through the names of an English claim."""
    return key & set(checker.aliases(text)) if detect_language(text) != "ar" else set()


def _context(chosen: Chosen) -> str:
    return "\n\n".join(
        f"[{n}] {h.chunk.outlet}, {h.chunk.date or 'undated'}: {_short(h.chunk.title)}\n{w}"
        for n, (h, w) in enumerate(zip(chosen.hits, chosen.windows), 1)
    )


def _short(title: str, limit: int = 60) -> str:
    return title if len(title) <= limit else title[:limit].rsplit(" ", 1)[0] + "…"


def _news_fields(hit: Hit) -> dict[str, Any]:
    return {
        "speaker": hit.speaker if hit.quote_type in ("direct", "reported", "mention") else None,
        "quote_type": hit.quote_type if hit.quote_type in ("direct", "reported", "mention") else None,
        "also_reported_by": [a.copy_ref() for a in hit.also_reported_by],
    }


@dataclass
class _Asking:
    """One question on its way to an answer: opened by `AnswerEngine._open`, closed by `_done` at every exit."""

    question: str
    language: str
    standalone: str  # the question made standalone (a follow-up rewritten with the conversation)
    result: SearchResult
    started: float
    timings: dict[str, float | None] = field(default_factory=lambda: {"retrieve_s": None, "sources_s": None,
                                                                       "first_token_s": None})
    signals: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0})

    @property
    def hits(self) -> list[Hit]:
        return self.result.hits

    @property
    def expansion(self) -> Any:
        return self.result.expansion

    def mark(self, name: str) -> None:
        """Record the time since the question came in as `timings[name]`."""
        self.timings[name] = round(time.perf_counter() - self.started, 3)


@dataclass
class _ModelRun:
    """What the model has written so far: its claims (kept or dropped), the quotes they cite, the text shown."""

    claims: list[Claim] = field(default_factory=list)
    quotes: dict[int, str] = field(default_factory=dict)
    streamed: str = ""
    reader: ClaimReader = field(default_factory=ClaimReader)


def _citation(n: int, hit: Hit, quote: str) -> Citation:
    c = hit.chunk
    return Citation(n=n, article=c.article, quote=quote, **_news_fields(hit))


def _source(n: int, hit: Hit, text: str) -> Source:
    c = hit.chunk
    return Source(n=n, article=c.article, quote=text, score=round(float(hit.score), 6), **_news_fields(hit))


def _curated_pairs(retriever: Retriever) -> dict[str, list[str]]:
    from rag.names.expansion import NameExpander

    for expander in retriever.expanders:
        if isinstance(expander, NameExpander):
            return expander.curated.pairs
    return {}


def open_answer_engine(settings: Settings, llm: BaseChatModel | None | str = "settings", retriever: Retriever | None = None) -> AnswerEngine:
    """Retriever (the one given, or a new one) + configured LLM (or the one given) for `settings`."""
    from rag import open_retriever
    from rag.models.llms import load_llm

    model = load_llm(settings) if llm == "settings" else llm
    retriever = retriever if retriever is not None else open_retriever(settings)
    if settings.query_translation and model is not None:
        retriever.expanders.append(QueryTranslator(model))  # type: ignore[arg-type]
    return AnswerEngine(retriever, model, settings)  # type: ignore[arg-type]


__all__ = ["Answer", "AnswerEngine", "Citation", "Event", "Source", "open_answer_engine"]
