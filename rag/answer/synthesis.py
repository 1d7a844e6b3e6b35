"""Synthesis answers (`answers = "synthesis"`, for a strong model behind `llm = "openai"`): the passages chosen
sentence by sentence, the model's claims read as they stream and each checked against the passage it cites
(kept, re-attributed or dropped: rag.answer.claims, rag.answer.facts); the best quotes or "not in these articles" when the
claims do not answer the question.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterator
from typing import Any

from rag.answer.engine import (QUOTE_RELEVANCE, QUOTE_RELEVANCE_COVERED, Answer, AnswerEngine, Chosen, Citation, Event, Source,
                        _aliased, _Asking, _citation, _context, _ModelRun, _source)
from rag.answer.claims import Claim, claims_schema
from rag.language import detect_language, lexical_tokens
from rag.models.prompts import load_prompt
from rag.retrieval import Expansion
from rag.answer.translation import LANGUAGE_NAMES, Glossary


class Synthesis:
    """One synthesis answer, over the engine's parts (passage chooser, model, checks, translator)."""

    def __init__(self, engine: AnswerEngine) -> None:
        self.engine = engine

    def answer(self, q: _Asking, key: set[str] | None, cancel: threading.Event | None,
                   generation: dict[str, Any] | None) -> Iterator[Event]:
        """`answers = "synthesis"`: passages chosen sentence by sentence, the model's claims checked as they
        stream; quotes or "not in these articles" when the claims do not answer."""
        chosen = self.engine.chooser.choose(q.standalone, q.hits, key, q.expansion.lexical_terms)
        sources = [_source(n, h, w) for n, (h, w) in enumerate(zip(chosen.hits, chosen.windows), 1)]
        best_quote = _citation(chosen.best[0], chosen.hits[chosen.best[0] - 1], chosen.best[1]) if chosen.best else None
        q.mark("sources_s")
        yield Event("sources", sources=sources, quote=best_quote)
        strong = self._strength(q, chosen, key)
        glossary = Glossary.for_question(q.expansion, self.engine.curated, q.standalone)
        if self.engine.llm is None:  # no model: the best quotes when the evidence is strong, else abstain
            extractive = key is not None and strong
            yield self.engine._done(q, self._quoted(q.question, q.standalone, q.language, chosen, key, q.expansion, sources,
                                             q.timings, glossary) if extractive
                             else self.engine._abstained(q.question, q.standalone, q.language, sources, q.timings))
            return
        run = _ModelRun()
        if not (yield from self._model_claims(q, chosen, run, cancel, generation)):
            return  # the client left: no answer
        yield self.engine._done(q, *self._decide(q, chosen, run, key, strong, sources, glossary))

    def _strength(self, q: _Asking, chosen: Chosen, key: set[str] | None) -> bool:
        """Whether the evidence is strong enough to quote; what it was read from goes into the signals."""
        kind = self.engine._kind(q.language, chosen.hits)
        relevance = max(chosen.relevance, default=0.0)
        strong = relevance >= QUOTE_RELEVANCE or (relevance >= QUOTE_RELEVANCE_COVERED and chosen.coverage >= 2)
        q.signals.update(key_term=sorted(key) if key else None, relevance=round(relevance, 4),
                         kind=kind, strong_evidence=strong, coverage=chosen.coverage)
        return strong

    def _model_claims(self, q: _Asking, chosen: Chosen, run: _ModelRun, cancel: threading.Event | None,
                      generation: dict[str, Any] | None) -> Generator[Event, None, bool]:
        """The model's claims, each checked as it completes and yielded when kept; False if cancelled."""
        prompt, options = self._prompt(len(chosen.hits))
        messages = prompt.format_messages(
            sources=_context(chosen), question=q.standalone, language=LANGUAGE_NAMES.get(q.language, q.language))
        # The model's own stream, not a LangChain chain's: closing a chain's stream drains the
        # model to the end, while closing this one stops it and releases its lock at once.
        options.update(generation or {})
        pieces = self.engine.llm.stream(messages, **options)
        try:
            for piece in pieces:
                if cancel is not None and cancel.is_set():
                    return False
                if piece.usage_metadata:
                    q.usage["prompt_tokens"] += piece.usage_metadata.get("input_tokens", 0)
                    q.usage["completion_tokens"] += piece.usage_metadata.get("output_tokens", 0)
                    continue
                if q.timings["first_token_s"] is None:
                    q.mark("first_token_s")
                for draft in run.reader.feed(str(piece.content)):
                    yield from self._kept(draft, chosen, run, q)
        finally:
            pieces.close()
        for draft in run.reader.finish():
            yield from self._kept(draft, chosen, run, q)
        return True

    def _kept(self, draft: Any, chosen: Chosen, run: _ModelRun, q: _Asking) -> Iterator[Event]:
        text = self._accept(draft, chosen, run.claims, run.quotes, q.standalone, q.language)
        if text:
            run.streamed += text
            yield Event("token", text)

    def _decide(self, q: _Asking, chosen: Chosen, run: _ModelRun, key: set[str] | None, strong: bool,
                sources: list[Source], glossary: Glossary) -> tuple[Answer, bool]:
        """The answer from what the model wrote: its kept claims when they answer the question, else the
        best quotes (strong evidence) or "not in these articles" — and whether that replaced what was shown."""
        kept = [c for c in run.claims if c.kept]
        q.signals["model_found"] = run.reader.found
        on_topic = key is None or any(key & set(lexical_tokens(c.text)) | _aliased(c.text, key, self.engine.checker) for c in kept)
        if run.reader.found is False and not kept:
            return self.engine._abstained(q.question, q.standalone, q.language, sources, q.timings, run.claims), False
        if kept and on_topic:
            citations = [self._cite(n, chosen, run.quotes[n], q.language, glossary) for n in sorted(run.quotes)]
            return Answer(q.question, run.streamed.strip(), q.language, False, citations, sources, q.timings, "generated",
                          q.standalone, run.claims), False
        if strong and key is not None:
            return self._quoted(q.question, q.standalone, q.language, chosen, key, q.expansion, sources, q.timings,
                                glossary, run.claims), bool(run.streamed)
        return self.engine._abstained(q.question, q.standalone, q.language, sources, q.timings, run.claims), bool(run.streamed)

    def _prompt(self, passages: int) -> tuple[Any, dict[str, Any]]:
        """The prompt and model options for the configured claims format (JSON schema or lines)."""
        if self.engine.settings.claims_format == "lines":
            return load_prompt("answer.lines"), {}
        return load_prompt("answer"), {"response_format": {"type": "json_object", "schema": claims_schema(passages)}}

    def _accept(self, draft: Any, chosen: Chosen, claims: list[Claim], quotes: dict[int, str], question: str,
                language: str) -> str:
        """Check one claim; the text to show if it is kept."""
        claim, claim_quotes = self.engine.checker.check(draft, chosen.evidence, question)
        if claim.kept and any(claim.text == c.text for c in claims if c.kept):
            claim.kept, claim.note = False, "duplicate"
        written = detect_language(claim.text)
        if claim.kept and language != "und" and written not in (language, "und"):
            # the answer is in the asker's language; the quotes carry the original words
            claim.kept, claim.citations, claim.note = False, [], "wrong-language"
        claims.append(claim)
        if not claim.kept:
            return ""
        for n, quote in claim_quotes.items():
            quotes.setdefault(n, quote)
        return claim.marked() + " "

    def _cite(self, n: int, chosen: Chosen, quote: str, language: str, glossary: Glossary) -> Citation:
        return self.engine._cite_hit(n, chosen.hits[n - 1], quote, language, glossary)

    def _quoted(self, question: str, standalone: str, language: str, chosen: Chosen, key: set[str] | None,
                expansion: Expansion, sources: list[Source], timings: dict[str, float | None], glossary: Glossary,
                claims: list[Claim] | None = None) -> Answer:
        picked = self.engine.extractive.answer(standalone, chosen, key, expansion)
        if not picked:
            return self.engine._abstained(question, standalone, language, sources, timings, claims)
        return self.engine._quotes(question, standalone, language, chosen.hits, picked, sources, timings, glossary, claims)
