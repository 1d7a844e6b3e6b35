"""Quote-first answers: the answer is built from the sentences that answer, rendered, not written.

"The evidence is right; the writing is wrong": a 1.5B model writing claims
freely from Arabic passages states wrong numbers, relations the articles never
make and one clause of several. So by default (`answers = "quotes"`) the model
does not write the answer:

1. every sentence of the retrieved passages is scored for "answers this
   question" (rag.answer.answerability, calibrated on newsqa-dev's tune split); below
   the threshold the answer abstains, whatever a model would have said;
2. the answer is the sentences above the threshold and close to the best
   (for "what did X say about Y": every statement of X's among them, by date
   and outlet), a copy of the same sentence in another outlet cited with it;
3. each claim is its sentence, in the asker's language: the sentence itself
   when the languages agree, else its machine rendering (rag.answer.translation, names
   from the glossary) — shown only when it keeps the sentence's numbers,
   months, names and polarity and ends where the sentence ends (rag.answer.facts).

`answers = "synthesis"` lets a strong model behind `llm = "openai"` write
claims across passages; the same checks (rag.answer.claims.CitationChecker with
rag.answer.facts) decide what is shown.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np

from rag.answer.answerability import (CROSS_LANGUAGE_OFFSET, AnswerabilityModel, Candidate, answer_type_match, coverage,
                               question_type)
from rag.answer.claims import Claim, Evidence
from rag.answer.facts import dropped, unfaithful
from rag.language import detect_language, lexical_tokens, light_stem, normalize, open_quotes
from rag.news.questions import attribute, names_another_speaker
from rag.retrieval import Expansion, Hit
from rag.answer.translation import Glossary, QuoteTranslator

MAX_CLAIMS = 3
#: "what did X say about Y": statements of X's, one claim each
MAX_STATEMENTS = 5
#: a statement of the asked speaker about the asked topic is answered from this probability (the
#: model's P(yes) leaning to yes; not tuned: newsqa-dev's tune split has one such question)
STATEMENT_FLOOR = 0.5
#: ... and one that names every term of the topic, from this one: the structure (X's words, Y named) is the
#: evidence, the model's judgement only vetoes a clear no. Not tuned (no such questions in newsqa-dev);
#: on the sample articles the 1.5B model gave the statements that answer P(yes) .34-.54.
COVERED_STATEMENT_FLOOR = 0.25
MIN_SENTENCE_CHARS = 25
# Two sentences sharing this share of their words (light-stemmed) are one statement: copies of one
# wire sentence in two outlets differ by a conjunction, a title or punctuation.
COPY_OVERLAP = 0.75


@dataclass
class Scored:
    """The candidate sentences of one question, scored, and what the decision read."""

    candidates: list[Candidate]
    kind: str

    @property
    def best(self) -> Candidate | None:
        return max(self.candidates, key=lambda c: c.probability, default=None)


def score_sentences(question: str, hits: Sequence[Hit], evidence: Evidence, query: np.ndarray, key: set[str] | None,
                    aliases: Sequence[str], model: AnswerabilityModel) -> Scored:
    """Every sentence of the retrieved passages with its features and calibrated probability."""
    language = detect_language(question)
    kind = question_type(question)
    asked = {light_stem(t) for t in [*lexical_tokens(question), *aliases]}
    candidates: list[Candidate] = []
    for i, (passage, vectors) in enumerate(zip(evidence.passages, evidence.sentence_vectors())):
        sims = vectors @ query if len(vectors) else np.zeros(0)
        for j, sentence in enumerate(passage.sentences):
            if len(sentence) < MIN_SENTENCE_CHARS or j >= len(sims):
                continue
            previous = passage.sentences[j - 1] if j else ""
            words = passage.sentence_words[j] | (passage.sentence_words[j - 1] if j else set())
            offset = CROSS_LANGUAGE_OFFSET if passage.langs[j] != language else 0.0
            candidates.append(Candidate(i, j, sentence, previous, {
                "similarity": float(sims[j]) + offset,
                "coverage": coverage(asked, f"{previous} {sentence}"),
                "key": float(bool(key and key & words)),
                "answer_type": answer_type_match(kind, question, sentence, previous),
                "retrieval": float(hits[i].similarity or 0.0),
            }))
    top = max((c.features["similarity"] for c in candidates), default=0.0)
    for c in candidates:
        c.features["gap"] = c.features["similarity"] - top
        c.probability = model.probability(c.features)
    return Scored(candidates, kind)


def to_judge(scored: Scored, model: AnswerabilityModel) -> list[Candidate]:
    """The sentences put to the model: the `model.judged` best by the features, less those without the kind
    of thing asked for (no new number for "how many", no date for "when") — on tune this gate let the
    threshold fall from .62 to .60 with the same near misses answered (3 of 34) and 3 more answerable
    questions answered right (16 against 13)."""
    top = sorted(scored.candidates, key=lambda c: -c.probability)[: model.judged]
    return [c for c in top if c.features.get("answer_type", 1.0) >= 1.0]


def judge(scored: Scored, question: str, model: AnswerabilityModel,
          yes_probability: Callable[[str, str], float | None],
          also: Sequence[Candidate] = ()) -> tuple[Scored, AnswerabilityModel] | None:
    """The `model.judged` best sentences (and `also`: every statement of an asked speaker, so that "what
    did X say" can be answered completely), their probability replaced by the LLM's P(yes), and the model
    to decide with; None when the backend gives no probabilities (the features decide then)."""
    top = to_judge(scored, model)
    top += [c for c in also[:MAX_STATEMENTS] if c not in top]
    judged = []
    for c in top:
        p = yes_probability(question, c.sentence)
        if p is None:
            return None
        judged.append(Candidate(c.hit, c.index, c.sentence, c.previous, {**c.features, "judge": p}, p))
    return Scored(judged, scored.kind), replace(model, threshold=model.judge_threshold)


@dataclass
class Judging:
    """What `accepted` saw: the best P(yes), and when the model first answered (perf_counter)."""

    best: float | None = None
    first_at: float | None = None
    asked: int = 0


def accepted(scored: Scored, question: str, model: AnswerabilityModel,
             yes_probability: Callable[[str, str], float | None], seen: Judging,
             fallback: Callable[[], list[list[Candidate]]]) -> Iterator[list[Candidate]]:
    """The judged sentences that answer, one group (the sentence and its copies) at a time, as soon as the
    model accepts each: the first claim can be shown after one judgement rather than after all of them.

    The same sentences are judged as by `judge` (the `model.judged` best with the asked kind of answer) and
    the same threshold decides; claims come in the order of the features' ranking, at most MAX_CLAIMS."""
    taken: list[set[str]] = []
    for c in to_judge(scored, model):
        p = yes_probability(question, c.sentence)
        if p is None:  # the backend gives no probabilities: the features decide (`fallback`)
            yield from fallback()
            return
        seen.asked += 1
        if seen.first_at is None:
            seen.first_at = time.perf_counter()
        seen.best = p if seen.best is None else max(seen.best, p)
        words = _words(c.sentence)
        if p < model.judge_threshold or any(_copies(words, w) for w in taken):
            continue
        taken.append(words)
        copies = [o for o in scored.candidates if o is not c and _copies(words, _words(o.sentence))]
        yield [Candidate(c.hit, c.index, c.sentence, c.previous, {**c.features, "judge": p}, p), *copies]
        if len(taken) >= MAX_CLAIMS:
            return


def _copies(a: set[str], b: set[str]) -> bool:
    return len(a & b) >= COPY_OVERLAP * len(a | b)


# "what did X say about Y": Y follows the first of these (after rag.language.normalize)
_ABOUT = re.compile(r"(?:^|\s)(?:about|regarding|concerning|on|over|عن|حول|بشان|ازاء|تجاه)\s+(.+)$")
_QUESTION_WORDS = {normalize(w) for w in ("ماذا", "بماذا", "الذي", "التي", "شأن", "بشأن", "حول", "إزاء", "تجاه")}


@dataclass(frozen=True)
class TopicTerm:
    """One term of a topic: its spellings (the word, a Latin name's Arabic aliases), light-stemmed, and
    `hints` — an English word's nearest Arabic words by word vector, which show it is there but whose
    absence proves nothing (a translation the article did not use)."""

    forms: frozenset[str]
    hints: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Topic:
    """What "what did X say about Y" asks about: Y's terms, besides X and the speech verb."""

    terms: tuple[TopicTerm, ...] = ()

    @classmethod
    def of(cls, question: str, expansion: Expansion, speaker_terms: Sequence[str],
           translate: Callable[[str], list[str]] | None = None) -> "Topic":
        from rag.answer.answerability import SPEECH

        text = normalize(question)
        about = _ABOUT.search(text)
        speaker = {light_stem(t) for t in speaker_terms}
        aliases = expansion.alias_terms()
        terms = []
        for token in lexical_tokens(about[1] if about else text):
            if normalize(token) in SPEECH or normalize(token) in _QUESTION_WORDS or len(token) <= 2:
                continue
            forms = {light_stem(token)}
            for name, arabic in aliases.items():
                if token in lexical_tokens(name):
                    forms |= {light_stem(t) for t in arabic}
            if forms & speaker:
                continue
            hints = {light_stem(t) for t in translate(token)} if translate and token.isascii() and len(forms) == 1 else set()
            terms.append(TopicTerm(frozenset(forms), frozenset(hints)))
        return cls(tuple(dict.fromkeys(terms)))

    def named(self, text: str) -> bool:
        """`text` names the topic: one of its terms, in any spelling (any text does, for no topic)."""
        words = _loose_words(text)
        return not self.terms or any(_loose(t.forms | t.hints) & words for t in self.terms)

    def missing(self, text: str) -> tuple[list[TopicTerm], list[TopicTerm]]:
        """The topic's terms `text` does not name: those it could (a spelling in its script) and those it
        cannot be checked for (an English word without an Arabic alias, against an Arabic sentence)."""
        words, arabic = _loose_words(text), detect_language(text) == "ar"
        absent = [t for t in self.terms if not _loose(t.forms | t.hints) & words]
        checkable = [t for t in absent if any(not f.isascii() if arabic else f.isascii() for f in t.forms)]
        return checkable, [t for t in absent if t not in checkable]


_ENDING = re.compile(r"(?<=...)(يا|يه|ي|ا|ه)$")


def _loose(forms: frozenset[str] | set[str]) -> set[str]:
    """Light stems less a final ي / ا / ه ending: سوريا and سورية (light-stemmed سوريا, سور), ليبيا and
    ليبي, name one place."""
    return {_ENDING.sub("", f) if len(f) >= 4 and not f.isascii() else f for f in forms}


def _loose_words(text: str) -> set[str]:
    return _loose(_words(text))


def statements(scored: Scored, speaker_terms: Sequence[str], topic: Topic) -> list[Candidate]:
    """For "what did X say about Y": the sentences that give X's words (quoted or reported, X named in
    them or in the sentence before, unless the sentence gives a speaker of its own) and name Y (a term of the
    question besides X and the verb)."""
    if not speaker_terms or scored.kind != "said":
        return []
    return [c for c in scored.candidates
            if attribute(f"{c.previous} {c.sentence}", list(speaker_terms)).quote_type in ("direct", "reported")
            and not names_another_speaker(c.sentence, list(speaker_terms))
            and topic.named(f"{c.previous} {c.sentence}")]


def _statement_floor(c: Candidate, topic: Topic, model: AnswerabilityModel) -> float:
    """The probability a statement of X's needs: COVERED_STATEMENT_FLOOR when it names all of Y;
    STATEMENT_FLOOR when the terms it lacks could not be seen in it (English words, Arabic sentence);
    the general threshold when it lacks a term it would show (Y is "Raqqa's reconstruction", it speaks of
    Raqqa only)."""
    checkable, unknown = topic.missing(f"{c.previous} {c.sentence}")
    if checkable:
        return model.threshold
    return min(model.threshold, STATEMENT_FLOOR if unknown or not topic.terms else COVERED_STATEMENT_FLOOR)


def select(scored: Scored, hits: Sequence[Hit], model: AnswerabilityModel, speaker_terms: Sequence[str] = (),
           topic: Topic = Topic()) -> list[list[Candidate]]:
    """The sentences the answer says, each with its copies in other passages; [] to abstain.

    A statement of the asked speaker about the asked topic is structural evidence that the articles
    answer "what did X say about Y": it needs only STATEMENT_FLOOR (the model leaning to yes) rather
    than the threshold calibrated for questions in general, and one that names all of Y only
    COVERED_STATEMENT_FLOOR (the model not clearly saying no); one that lacks a term of Y it would
    show needs the general threshold (`_statement_floor`).
    """
    said = statements(scored, speaker_terms, topic)
    best = scored.best
    if said:
        chosen = [c for c in said if c.probability >= _statement_floor(c, topic, model)]
        if not chosen:
            return []
        chosen, limit = sorted(chosen, key=lambda c: -c.probability), MAX_STATEMENTS
    elif best is None or best.probability < model.threshold:
        return []
    else:
        floor = max(model.threshold, model.keep_ratio * best.probability)
        chosen, limit = sorted((c for c in scored.candidates if c.probability >= floor), key=lambda c: -c.probability), MAX_CLAIMS
    groups: list[tuple[set[str], list[Candidate]]] = []
    for c in chosen:
        words = _words(c.sentence)
        same = next((g for w, g in groups if _copies(w, words)), None)
        if same is not None:
            same.append(c)
        else:
            groups.append((words, [c]))
    picked = [g for _, g in groups][:limit]
    if said:  # what X said, as it came out: by date, then outlet
        picked.sort(key=lambda g: (hits[g[0].hit].chunk.date or "9999", hits[g[0].hit].chunk.outlet, g[0].index))
    return picked


def _words(sentence: str) -> set[str]:
    """Light-stemmed words, a leading و / ف ("and") dropped: copies differ by it."""
    return {light_stem(t[1:] if t.startswith(("و", "ف")) and len(t) > 3 else t) for t in lexical_tokens(normalize(sentence))}


@dataclass
class Rendered:
    """One claim of a quote-first answer: its text in the asker's language and where it comes from."""

    text: str
    sentence: str
    machine: bool  # the text is a machine rendering of the sentence
    refused: str | None = None  # why a rendering was not shown (rag.answer.facts), when it was not


def render(sentence: str, language: str, question: str, translator: QuoteTranslator | None, glossary: Glossary,
           aliases: Callable[[str], list[str]]) -> Rendered:
    """The sentence in the asker's language: itself, or a rendering that keeps its facts."""
    if language in ("und", detect_language(sentence)):
        return Rendered(_ended(sentence), sentence, False)
    if translator is None:
        return Rendered(sentence, sentence, False, refused="no model to render it")
    translation = translator.translate(sentence, language, glossary)
    if translation is None:
        return Rendered(sentence, sentence, False, refused="no rendering")
    text = translation.text
    if open_quotes(text):
        # a rendering that opens a quotation it does not close (the article's own may run past the
        # sentence; a small model drops closing marks): the marks go, the words are checked as they are
        text = re.sub(r"[\"“”«»]", "", text)
    if not _ends(text) and not _dangling(text):
        text = f"{text}."  # a rendering that lost only its full stop
    reason = unfaithful(text, sentence, question, aliases) or _dropped(text, sentence, glossary.names_in(sentence))
    return Rendered(text, sentence, True, refused=reason)


def _dropped(text: str, sentence: str, names: list[str]) -> str | None:
    reason = dropped(text, sentence, names)
    return {"names": "dropped names", "numbers": "dropped numbers"}.get(reason, reason) if reason else None


def _ends(text: str) -> bool:
    return text.rstrip("\"'”’») ")[-1:] in ".!?؟…"


def _dangling(text: str) -> bool:
    """The text stops on a word that cannot end an English sentence ("… it represents a")."""
    from rag.language import ENGLISH_STOPWORDS

    words = re.findall(r"[A-Za-z']+", text)
    return bool(words) and words[-1].lower() in ENGLISH_STOPWORDS


def _ended(text: str) -> str:
    text = text.strip()
    return text if _ends(text) else f"{text}."


def as_claim(rendered: Rendered, citations: list[int], probability: float) -> Claim:
    note = "machine-rendering" if rendered.machine else "quote"
    return Claim(rendered.text, citations, probability, rendered.refused is None, list(citations),
                 note if rendered.refused is None else f"rendering-refused: {rendered.refused}")
