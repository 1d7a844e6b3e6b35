"""Comparing outlets (`rag ask --compare-outlets`): one cited section per outlet, in the order they reported.

Each section is the outlet's own best sentence (rendered for the asker when in another language), its
date and, for a "what did X say" question, whose words they are; then where the outlets' figures agree
or differ, who reported first and last, and — when two outlets quote the speaker in different words —
both wordings.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from rag.answer.engine import (ABSTAIN_SIMILARITY, COMPARE_OUTLETS, Answer, AnswerEngine, OutletReport, _source, message)
from rag.language import lexical_tokens, split_sentences
from rag.news.questions import AttributedWords, attribute, compare_figures, different_words, quoted_words
from rag.retrieval import Hit
from rag.news.filters import Filters
from rag.answer.translation import Glossary


def compare_outlets(engine: AnswerEngine, question: str, k: int | None = None, filters: Filters | None = None) -> Answer:
    """How the outlets reported it: one cited section per outlet (up to COMPARE_OUTLETS), each with the
    outlet's own best sentence, its date and, for a speaker question, whose words they are."""
    q = engine._open(question, (), max(k or 0, COMPARE_OUTLETS * 2), filters, diverse=1)
    question, language, result, started, timings = q.question, q.language, q.result, q.started, q.timings
    first_per_outlet: dict[str, Hit] = {}
    for hit in result.hits:
        first_per_outlet.setdefault(hit.chunk.outlet, hit)
    hits = list(first_per_outlet.values())[:COMPARE_OUTLETS]
    sources = [_source(n, h, h.chunk.text[:300]) for n, h in enumerate(hits, 1)]
    time_filter = result.time_filter.to_dict() if result.time_filter else None
    gate = ABSTAIN_SIMILARITY[engine._kind(language, hits)] if hits else 1.0
    hits = [h for h in hits if h.similarity is None or h.similarity >= gate]
    if not hits:
        answer = engine._abstained(question, question, language, sources, timings)
        answer.time_filter, answer.timings["total_s"] = time_filter, round(time.perf_counter() - started, 3)
        return answer
    key = engine.key_term.find(question, hits, result.expansion)
    glossary = Glossary.for_question(result.expansion, engine.curated, question)
    query = engine.retriever.embedder.embed_queries([question])[0]
    hits.sort(key=lambda h: (h.chunk.date or "9999", h.chunk.outlet))  # reports in the order they came out
    citations, reports, lines = [], [], []
    for n, hit in enumerate(hits, 1):
        sentence = best_sentence(engine.retriever.embedder, hit, query, key)
        citation = engine._cite_hit(n, hit, sentence, language, glossary)
        citations.append(citation)
        words = f" ({hit.quote_type} quote of {hit.speaker})" if hit.quote_type in ("direct", "reported") else ""
        reports.append(OutletReport(hit.chunk.outlet, hit.chunk.date, sentence, [n], citation.speaker, citation.quote_type,
                                    citation.translation))
        lines.append(f"{hit.chunk.outlet}, {hit.chunk.date or 'undated'}{words}: “{sentence}” [{n}]")
        if citation.translation is not None:
            lines.append(f"    ({message('translation', language)}) {citation.translation.text}")
    agree, differ = compare_figures([(h.chunk.outlet, n, h.chunk.text) for n, h in enumerate(hits, 1)])
    if agree:
        lines.append(message("figures_agree", language).format(items=" | ".join(agree[:3])))
    if differ:
        lines.append(message("figures_differ", language).format(items=" | ".join(differ[:3])))
    dated = [h for h in hits if h.chunk.date]
    if len(dated) >= 2:
        lines.append(message("compare_span", language).format(
            n=len(hits), first=dated[0].chunk.outlet, first_date=dated[0].chunk.date[:10],
            last=dated[-1].chunk.outlet, last_date=dated[-1].chunk.date[:10]))
    header = message("compare", language).format(n=len(hits))
    timings["total_s"] = round(time.perf_counter() - started, 3)
    answer = Answer(question, "\n".join([header, *lines]), language, False, citations, sources, timings, "compare",
                    question, [], {"outlets_covered": len(hits), "figures_agree": agree, "figures_differ": differ},
                    reports, time_filter)
    if result.news is not None and result.news.speaker:
        note_different_words(answer, hits, result.news)
    return answer

def note_different_words(answer: Answer, hits: list[Hit], news: Any) -> None:
    """When outlets quote the speaker on the same event in different words, the answer says so."""
    quotes = []
    for n, hit in enumerate(hits, 1):
        if hit.quote_type != "direct":
            continue
        attribution = attribute(hit.chunk.text, news.speaker_terms)
        words = quoted_words(attribution.sentence) if attribution.quote_type == "direct" else ""
        if words:
            quotes.append(AttributedWords(hit.chunk.outlet, hit.chunk.date, words, n, f"{hit.chunk.title} {hit.chunk.text}"))
    pairs = different_words(quotes)
    if not pairs:
        return
    a, b = pairs[0]
    note = message("different_words", answer.language).format(
        speaker=news.speaker, a=a.outlet, a_date=a.date or "undated", a_words=a.words, b=b.outlet,
        b_date=b.date or "undated", b_words=b.words)
    answer.answer = f"{answer.answer}\n\n{note}"
    answer.signals["different_words"] = [{"outlet": q.outlet, "date": q.date, "words": q.words} for q in (a, b)]

def best_sentence(embedder: Any, hit: Hit, query: np.ndarray, key: set[str] | None) -> str:
    """The passage's sentence closest to the question, among those holding its key term."""
    sentences = [s for s in split_sentences(hit.chunk.text) if len(s) > 20] or [hit.chunk.text[:300]]
    if key:
        sentences = [s for s in sentences if key & set(lexical_tokens(s))] or sentences
    vectors = embedder.embed_passages(sentences)
    return sentences[int(np.argmax(vectors @ query))]
