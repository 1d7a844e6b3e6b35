"""Quote-first answers (`answers = "quotes"`, the default): the sentences of the retrieved passages that answer,
each rendered in the asker's language and shown only when its facts survive (rag.answer.grounded, rag.answer.facts), or
"not in these articles". With a model that gives token probabilities, its yes/no judgement on the best
sentences is read as P(yes) and the claims stream as it accepts them.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Iterator

from rag.answer.engine import Answer, AnswerEngine, Event, _Asking, _best_index, _citation, _ModelRun, _source, _window
from rag.answer.answerability import Candidate
from rag.answer.grounded import Judging, Topic, accepted, as_claim, judge, render, select, statements
from rag.answer.messages import message
from rag.language import open_quotes, whole_sentence
from rag.models.prompts import load_prompt
from rag.answer.translation import Glossary


class QuoteFirst:
    """One quote-first answer, over the engine's parts (retriever, model, translator, checks)."""

    def __init__(self, engine: AnswerEngine) -> None:
        self.engine = engine

    @property
    def judges(self) -> bool:
        """Whether the model gives token probabilities (its yes/no judgement is read, not generated)."""
        return self.engine.llm is not None and hasattr(self.engine.llm, "yes_probability")

    def yes_probability(self, question: str, sentence: str) -> float | None:
        """The model's P(yes) that `sentence` states the answer (prompts/judge.md), or None."""
        return self.engine.llm.yes_probability(load_prompt("judge").format_messages(question=question, sentence=sentence))  # type: ignore[union-attr]

    def answer(self, q: _Asking, key: set[str] | None) -> Iterator[Event]:
        """Quote-first (rag.answer.grounded): the sentences that answer, each in the asker's language, or abstain."""
        question, standalone, language, result = q.question, q.standalone, q.language, q.result
        timings, signals, started = q.timings, q.signals, q.started
        done = functools.partial(self.engine._done, q)
        hits, expansion = result.hits, result.expansion
        evidence, scored = self.engine.score(standalone, result, key)
        sources = [_source(n, h, _window(evidence.passages[n - 1].sentences, _best_index(scored, n - 1),
                                          self.engine.settings.passage_chars)) for n, h in enumerate(hits, 1)]
        best = scored.best
        quote = _citation(best.hit + 1, hits[best.hit], best.sentence) if best else None
        timings["sources_s"] = round(time.perf_counter() - started, 3)
        yield Event("sources", sources=sources, quote=quote)  # evidence first, before the model is asked
        speaker_terms = result.news.speaker_terms if result.news is not None and result.news.speaker else ()
        topic = Topic.of(standalone, expansion, speaker_terms, self.engine.retriever.translations) if speaker_terms else Topic()
        deciding, model = scored, self.engine.answerability
        said = sorted(statements(scored, speaker_terms, topic), key=lambda c: -c.probability)
        seen = Judging()
        groups: Iterable[list[Candidate]]
        if self.judges and not said:  # claims as the model accepts them, one judgement at a time
            groups = accepted(scored, standalone, model, self.yes_probability, seen,
                              fallback=lambda: select(scored, hits, model, speaker_terms, topic))
        else:  # every statement of X's is judged first: they are shown in date order
            judged = judge(scored, standalone, model, self.yes_probability, also=said) if self.judges else None
            if judged is not None:
                deciding, model = judged
                seen.best, seen.first_at = (deciding.best.probability if deciding.best else None), time.perf_counter()
            groups = select(deciding, hits, model, speaker_terms, topic)
        glossary = Glossary.for_question(expansion, self.engine.curated, standalone)
        run, answered = _ModelRun(), []
        for group in groups:
            whole = [self._whole(q, c) for c in group]  # a quotation the passage's end cut, as the article has it
            answered.append((group, whole))
            yield from self._quote_claim(q, group, whole, seen, glossary, run)
        claims, quotes, streamed = run.claims, run.quotes, run.streamed
        if seen.first_at is not None and timings["first_token_s"] is None:
            timings["first_token_s"] = round(seen.first_at - started, 3)
        signals.update(answers="quotes", question_type=scored.kind, key_term=sorted(key) if key else None,
                       answerability=round(best.probability, 4) if best else None,
                       judge=round(seen.best, 4) if seen.best is not None else None,
                       threshold=model.judge_threshold if seen.first_at is not None else model.threshold)
        if not answered:
            yield done(self.engine._abstained(question, standalone, language, sources, timings))
            return
        if not streamed:  # no rendering kept its facts: the sentences themselves, labelled
            picked = [(group[0].hit + 1, whole[0]) for group, whole in answered]
            header = "unrendered" if self.engine.translator is not None else "untranslated"
            yield done(self.engine._quotes(question, standalone, language, hits, picked, sources, timings, glossary, claims, header))
            return
        citations = [self.engine._cite_hit(n, hits[n - 1], quotes[n], language, glossary) for n in sorted(quotes)]
        yield done(Answer(question, streamed.strip(), language, False, citations, sources, timings, "generated",
                          standalone, claims))

    def _whole(self, q: _Asking, c: Candidate) -> str:
        """The candidate's sentence, completed from its article when its passage ends inside a quotation."""
        if not open_quotes(c.sentence):
            return c.sentence
        return whole_sentence(c.sentence, self.engine.retriever.store.article_text(q.result.hits[c.hit].chunk.article_id))

    def _quote_claim(self, q: _Asking, group: list[Candidate], whole: list[str], seen: Judging, glossary: Glossary,
                     run: _ModelRun) -> Iterator[Event]:
        """One accepted sentence (and its copies) as a claim: rendered in the asker's language, shown when
        its facts survive (rag.answer.facts), timed (the model's first judgement, the first claim shown)."""
        timings = q.timings
        if seen.first_at is not None and timings["first_token_s"] is None:
            timings["first_token_s"] = round(seen.first_at - q.started, 3)  # the model's first judgement
        rendered = render(whole[0], q.language, q.standalone, self.engine.translator, glossary, self.engine.checker.aliases)
        if timings["first_token_s"] is None and rendered.machine:
            q.mark("first_token_s")
        if rendered.refused is None and "first_claim_s" not in timings:
            q.mark("first_claim_s")
        claim = as_claim(rendered, sorted({c.hit + 1 for c in group}), group[0].probability)
        run.claims.append(claim)
        if not claim.kept:
            return
        for c, sentence in zip(group, whole):
            run.quotes.setdefault(c.hit + 1, sentence)
        if rendered.machine and not run.streamed:  # say first that these are renderings
            run.streamed = message("rendered", q.language) + "\n"
            yield Event("token", run.streamed)
        run.streamed += claim.marked() + " "
        yield Event("token", claim.marked() + " ")
