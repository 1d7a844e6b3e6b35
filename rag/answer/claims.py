"""Claims: what an answer is made of, and what is checked.

The model writes claims, each naming the passage numbers it comes from, in a
form read without guessing: JSON constrained by a schema (a llama.cpp
grammar, or `response_format` on OpenAI-compatible servers), or a strict
line format (`claim text [1][2]`, one claim a line) where a server supports
neither. `ClaimReader` reads that output as it streams, so each claim can be
checked and shown the moment it is complete.

`CitationChecker` then checks every claim against the passages it names. A
claim the named passages do not support is re-attributed to a passage that
does, or dropped; a claim without a passage number is dropped. Nothing the
checker did not keep reaches the user.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rag.models.embeddings import Embedder
from rag.answer.facts import cut_reason, unfaithful
from rag.language import close_quotes, detect_language, lexical_tokens, light_stem, split_sentences, whole_quotes

NOT_FOUND = "NOT_FOUND"
MAX_CLAIMS = 4
_MARKER = re.compile(r"\[(\d{1,3}(?:\s*[,،]\s*\d{1,3})*)\]")

# Support thresholds on e5-small similarity (query prefix for the claim, passage prefix for the
# sentence), by whether claim and sentence share a language. Measured on 307 sentence-aligned
# XQuAD en/ar paragraph pairs (claims = a sentence, or its first 60% of words; negatives = the
# other sentences of the same paragraph; docs/answers.md "Claim checks"):
#   same language: a claim scores .87–.93 with its sentence (5th pct/median), negatives .83/.90 (median/99th)
#   across:        a partial claim scores .81–.85, negatives .78/.85; a full sentence .82–.86
# so a similarity alone supports only above the negatives' 99th percentile, and a lower one
# needs a shared name or number (names of an English claim through their Arabic aliases).
SUPPORT_ALONE = {"same": 0.90, "cross": 0.86}
SUPPORT_WITH_TERMS = {"same": 1.0, "cross": 0.83}  # same language: not used (see `support`)
# Two shared names or numbers are rarer in a sentence that says something else; a claim that
# restates part of a long sentence scores low (.80–.83) against the whole of it.
SUPPORT_WITH_TWO_TERMS = {"same": 1.0, "cross": 0.80}
SUPPORT_OVERLAP = 0.5  # … or half the claim's content words (at least three) in the passage


@dataclass
class DraftClaim:
    """A claim as the model wrote it."""

    text: str
    sources: list[int]
    #: the claim was seen to end (a line its newline closed); otherwise it must end a sentence
    ended: bool = False


@dataclass
class Claim:
    """A checked claim: `citations` are the passages that support it (possibly not the ones named)."""

    text: str
    citations: list[int]
    support: float
    kept: bool
    #: the passage numbers the model named
    cited: list[int] = field(default_factory=list)
    #: why it was dropped or changed: uncited, invalid-citation, unsupported, reattributed
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "citations": self.citations, "support": round(self.support, 3), "kept": self.kept,
                "cited": self.cited, **({"note": self.note} if self.note else {})}

    def marked(self) -> str:
        """The claim with its `[n]` markers, as the answer text shows it."""
        body = self.text.rstrip()
        end = body[-1] if body and body[-1] in ".!?؟。" else ""
        body = close_quotes(body.rstrip(".!?؟。… ") if end else body)  # a shown claim never leaves a quotation open
        return f"{body} {''.join(f'[{n}]' for n in self.citations)}{end or '.'}"


def claims_schema(passages: int) -> dict[str, Any]:
    """The JSON schema the model's output must follow (a grammar for llama.cpp)."""
    return {
        "type": "object",
        "properties": {
            "found": {"type": "boolean"},
            "claims": {
                "type": "array",
                "maxItems": MAX_CLAIMS,
                "items": {
                    "type": "object",
                    "properties": {
                        # a claim ends a sentence and holds no straight quote: a small model that opens
                        # a quotation with `"` would otherwise end the string there, cutting the claim
                        # inside the quoted words (it writes « » or “ ” instead)
                        "text": {"type": "string", "pattern": CLAIM_PATTERN},
                        "sources": {"type": "array", "items": {"type": "integer", "enum": list(range(1, passages + 1))},
                                    "minItems": 1, "maxItems": 3},
                    },
                    "required": ["text", "sources"],
                    "additionalProperties": False,
                },
            },
        },
        "required": ["found", "claims"],
        "additionalProperties": False,
    }


CLAIM_PATTERN = '^[^"\\\\]+[.!?؟][»”)]?$'


def cited_numbers(text: str) -> list[int]:
    return [int(n) for group in _MARKER.findall(text) for n in re.split(r"\s*[,،]\s*", group)]


def strip_markers(text: str) -> str:
    return re.sub(r"\s+([.؟?!،,])", r"\1", _MARKER.sub("", text)).strip()


_JSON_CLAIM = (
    re.compile(r'\{\s*"text"\s*:\s*("(?:[^"\\]|\\.)*")\s*,\s*"sources"\s*:\s*\[([\d\s,]*)\]\s*\}'),
    re.compile(r'\{\s*"sources"\s*:\s*\[([\d\s,]*)\]\s*,\s*"text"\s*:\s*("(?:[^"\\]|\\.)*")\s*\}'),
)
_JSON_FOUND = re.compile(r'"found"\s*:\s*(true|false)')


class ClaimReader:
    """Reads the model's output as it streams: JSON claims or the line format.

    `feed` returns the claims completed by the new text; `finish` those left at
    the end. `found` is False when the model said the passages do not answer.
    """

    def __init__(self) -> None:
        self.buffer = ""
        self.found: bool | None = None
        self._json: bool | None = None
        self._seen = 0  # JSON: claims already returned; lines: characters consumed

    def feed(self, text: str) -> list[DraftClaim]:
        self.buffer += text
        stripped = self.buffer.lstrip()
        if self._json is None and stripped:
            self._json = stripped.startswith(("{", "```"))
        if self._json:
            return self._json_claims()
        return self._line_claims(final=False)

    def finish(self) -> list[DraftClaim]:
        if not self._json:
            return self._line_claims(final=True)
        try:  # a complete document is read whole (the patterns may miss unusual spacing)
            data = json.loads(self.buffer.strip().strip("`").removeprefix("json"))
        except ValueError:
            return self._json_claims()
        if not isinstance(data, dict):
            return []
        if isinstance(data.get("found"), bool):
            self.found = data["found"]
        items = [c for c in data.get("claims") or [] if isinstance(c, dict)]
        parsed = [DraftClaim(str(c.get("text", "")).strip(), _numbers(c.get("sources"))) for c in items]
        fresh, self._seen = parsed[self._seen :], max(self._seen, len(parsed))
        return fresh

    def _json_claims(self) -> list[DraftClaim]:
        if self.found is None and (match := _JSON_FOUND.search(self.buffer)):
            self.found = match.group(1) == "true"
        found: list[tuple[int, DraftClaim]] = []
        for number, pattern in enumerate(_JSON_CLAIM):
            for match in pattern.finditer(self.buffer):
                raw_text, raw_sources = (match.group(1), match.group(2)) if number == 0 else (match.group(2), match.group(1))
                try:
                    text = json.loads(raw_text)
                except ValueError:
                    continue
                found.append((match.start(), DraftClaim(str(text).strip(), _numbers(raw_sources))))
        ordered = [claim for _, claim in sorted(found, key=lambda item: item[0])]
        fresh = ordered[self._seen :]
        self._seen = len(ordered)
        return fresh

    def _line_claims(self, final: bool) -> list[DraftClaim]:
        rest = self.buffer[self._seen :]
        lines = rest.split("\n")
        complete = lines if final else lines[:-1]
        self._seen += sum(len(line) + 1 for line in complete)
        claims = []
        closed = len(complete) if not final or rest.endswith("\n") else len(complete) - 1
        for number, line in enumerate(complete):
            line = line.strip().lstrip("-•*").strip()
            if not line:
                continue
            if line.startswith(NOT_FOUND) or (NOT_FOUND in line and not cited_numbers(line)):
                self.found = False
                continue
            self.found = True if self.found is None else self.found
            claims.append(DraftClaim(strip_markers(line), cited_numbers(line), ended=number < closed))
        return claims


def _numbers(value: Any) -> list[int]:
    if isinstance(value, str):
        value = re.findall(r"\d+", value)
    numbers = []
    for item in value or []:
        try:
            numbers.append(int(item))
        except (TypeError, ValueError):
            continue
    return list(dict.fromkeys(numbers))


@dataclass
class Passage:
    """One numbered passage given to the model, with what the checks need of it."""

    n: int
    text: str
    lang: str
    sentences: list[str]
    words: set[str]
    #: language of each sentence (an English caption inside an Arabic article is "en")
    langs: list[str] = field(default_factory=list)
    #: lexical tokens of each sentence (tokenised once: every claim is checked against them)
    sentence_words: list[set[str]] = field(default_factory=list)

    def sentence_pairs(self) -> list[set[str]]:
        """Lexical tokens of each sentence together with the next one."""
        return [a | b for a, b in zip(self.sentence_words, self.sentence_words[1:] + [set()])]


class Evidence:
    """The passages of one answer; sentence vectors are embedded once, when first needed."""

    def __init__(self, texts: Sequence[tuple[str, str]], embedder: Embedder) -> None:
        self.passages = []
        for n, (text, lang) in enumerate(texts, 1):
            tokenised = [(s, lexical_tokens(s)) for s in whole_quotes(split_sentences(text))]
            kept = [(s, tokens) for s, tokens in tokenised if len(tokens) >= 2] or [(text, lexical_tokens(text))]
            sentences = [s for s, _ in kept]
            langs = [detect_language(s) for s in sentences]
            self.passages.append(Passage(n, text, lang, sentences, set(lexical_tokens(text)), langs,
                                         [set(tokens) for _, tokens in kept]))
        self.embedder = embedder
        self._vectors: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.passages)

    def subset(self, order: list[int]) -> "Evidence":
        """These passages renumbered 1..len(order), sharing the vectors already embedded."""
        vectors = self.sentence_vectors()
        chosen = Evidence([], self.embedder)
        for n, i in enumerate(order, 1):
            p = self.passages[i]
            chosen.passages.append(Passage(n, p.text, p.lang, p.sentences, p.words, p.langs, p.sentence_words))
        chosen._vectors = [vectors[i] for i in order]
        return chosen

    def sentence_vectors(self) -> list[np.ndarray]:
        if self._vectors is None:
            flat = [s for p in self.passages for s in p.sentences]
            vectors = self.embedder.embed_passages(flat) if flat else np.zeros((0, 1), np.float32)
            self._vectors, start = [], 0
            for p in self.passages:
                self._vectors.append(vectors[start : start + len(p.sentences)])
                start += len(p.sentences)
        return self._vectors


@dataclass
class Support:
    """How well one passage supports one claim."""

    score: float  # best e5 similarity between the claim and one sentence of the passage
    sentence: str  # that sentence: the verbatim quote for the citation
    supported: bool


class CitationChecker:
    """Checks each claim against the passages it names; re-attributes or drops it.

    `aliases` gives the Arabic spellings of the Latin-script names in a text
    (rag.names.expansion), so an English claim about لافروف can share a name with its
    Arabic passage.
    """

    def __init__(self, embedder: Embedder, aliases: Callable[[str], list[str]] | None = None) -> None:
        self.embedder = embedder
        self.aliases = aliases or (lambda text: [])

    def support(self, claim: str, evidence: Evidence, question: str = "") -> list[Support]:
        """Support of `claim` by every passage (index n-1 for passage n).

        What a claim adds to the question must be in the passage: a small model
        restates the question around words of a neighbouring passage ("the X that
        was Y is Z"), and those shared question words alone looked like support.
        """
        words = set(lexical_tokens(claim))
        asked = {light_stem(w) for w in lexical_tokens(question)}
        new = {w for w in words if light_stem(w) not in asked}
        language = detect_language(claim)
        spelled = words | set(self.aliases(claim)) if language != "ar" else words
        anchors = {w for w in spelled if w.isdigit() or w not in words or len(w) >= 4}
        vector = self.embedder.embed_queries([claim])[0]
        results = []
        for passage, sentence_vectors in zip(evidence.passages, evidence.sentence_vectors()):
            similarities = sentence_vectors @ vector if len(sentence_vectors) else np.zeros(1)
            kinds = ["same" if lang == language else "cross" for lang in passage.langs] or ["cross"]
            alone = max(float(s) - SUPPORT_ALONE[k] for s, k in zip(similarities, kinds))
            shared = len(anchors & passage.words)
            table = SUPPORT_WITH_TWO_TERMS if shared >= 2 else SUPPORT_WITH_TERMS
            # shared names and numbers lower the bar only across languages, where words cannot be
            # compared; within one, every long word would count as one (a sibling passage on the
            # same topic shares many)
            with_terms = max((float(s) - table[k] for s, k in zip(similarities, kinds) if k == "cross"), default=-1.0)
            # words are shared with one sentence (or two adjacent ones), not gathered from
            # across the passage: a sibling passage on the same topic has them all somewhere
            same = max((len(words & w) for w in passage.sentence_pairs()), default=0)
            # the claim's own information, checked where it can be read: words in the same
            # language, numbers in any
            readable = {w for w in new if w.isdigit()} if passage.lang != language else new
            adds = not readable or len(readable & passage.words) * 2 >= len(readable)
            supported = adds and (
                alone >= 0
                or (same >= 3 and same / max(1, len(words)) >= SUPPORT_OVERLAP)
                or (shared >= 1 and with_terms >= 0)
            )
            quote = _best_sentence(passage, words | spelled, similarities)
            results.append(Support(float(similarities.max()), quote, supported))
        return results

    def check(self, draft: DraftClaim, evidence: Evidence, question: str = "") -> tuple[Claim, dict[int, str]]:
        """The checked claim and, for each passage it keeps, the sentence to quote."""
        text = strip_markers(draft.text)
        valid = [n for n in draft.sources if 1 <= n <= len(evidence)]
        if len(lexical_tokens(text)) < 2:
            return Claim(text, [], 0.0, False, draft.sources, "empty"), {}
        if not draft.sources:
            return Claim(text, [], 0.0, False, draft.sources, "uncited"), {}
        if cut_reason(text, draft.ended):
            return Claim(text, [], 0.0, False, draft.sources, "cut"), {}
        asked = {light_stem(w) for w in lexical_tokens(question)}
        if question and detect_language(question) == detect_language(text) and \
                all(light_stem(w) in asked for w in lexical_tokens(text)):
            return Claim(text, [], 0.0, False, draft.sources, "restates-question"), {}
        supports = self.support(text, evidence, question)
        unfaithful_to = {n: self.unfaithful(text, evidence.passages[n - 1], supports[n - 1].sentence, question, draft.ended)
                         for n in range(1, len(evidence) + 1) if supports[n - 1].supported}
        for n, reason in unfaithful_to.items():
            if reason:
                supports[n - 1].supported = False
        kept = [n for n in valid if supports[n - 1].supported]
        note = None if len(kept) == len(draft.sources) else ("invalid-citation" if kept and not set(draft.sources) <= set(valid) else None)
        if not kept:
            # re-attribute to the passage that supports it best, if any does
            best = max(range(len(supports)), key=lambda i: supports[i].score)
            if supports[best].supported:
                kept, note = [best + 1], "reattributed"
            else:
                score = max((supports[n - 1].score for n in valid), default=0.0)
                reason = next((unfaithful_to[n] for n in valid if unfaithful_to.get(n)), None)
                return Claim(text, [], score, False, draft.sources, reason or "unsupported"), {}
        elif note is None and len(kept) < len(valid):
            note = "unsupported-citation-removed"
        score = max(supports[n - 1].score for n in kept)
        return Claim(text, kept, score, True, draft.sources, note), {n: supports[n - 1].sentence for n in kept}


    def unfaithful(self, claim: str, passage: Passage, sentence: str, question: str, ended: bool = False) -> str | None:
        """Why the claim does not state what `sentence` says: cut, numbers, months, names or polarity
        changed (rag.answer.facts; names and numbers may come from its neighbours); None when it keeps them."""
        i = passage.sentences.index(sentence) if sentence in passage.sentences else 0
        around = " ".join(passage.sentences[max(0, i - 1) : i + 2])
        aliases = self.aliases if detect_language(claim) != "ar" else None
        return unfaithful(claim, sentence, question, aliases, context=around, ended=ended)


def _best_sentence(passage: Passage, words: set[str], similarities: np.ndarray) -> str:
    """The sentence to quote: most similar, with shared words as a tie-breaker."""
    scores = [float(s) + 0.01 * len(words & sentence_words)
              for sentence_words, s in zip(passage.sentence_words, similarities.tolist())]
    return passage.sentences[int(np.argmax(scores))] if scores else passage.text
