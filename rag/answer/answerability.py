"""Does this sentence answer this question? Decided from the evidence, not from the model's `found`.

The 1.5B model says "found" to nearly everything, so the decision to answer,
and which sentences an answer is built from, rests on what can be read from
each candidate sentence of the retrieved passages:

- `similarity`: e5 similarity of question and sentence (a sentence in another
  language than the question gets CROSS_LANGUAGE_OFFSET), and its
  `gap` to the best sentence;
- `coverage`: the share of the question's content words (names through their
  aliases) in the sentence or the one before it; `key`: the question's rarest
  term is in it;
- `answer_type`: the question asks how many / when / who / where / what X said,
  and the sentence holds a new number / a date / a name / a place / X's words;
- `retrieval`: the passage's similarity as the retriever scored it.

With a model that gives token probabilities (llama.cpp, or an OpenAI-compatible
server with `logprobs`), the few best sentences by these features are then put
to the model ("does this sentence state the answer? yes or no",
prompts/judge.md) and its P(yes), read from the logits rather than generated,
decides: on the tune split it separates answerable questions from near misses
better (question-level AUC .64 against .55 for the features; sentence-level
.70 against .57), and adding the features to it made it worse (.60).

A logistic model over these, fitted on the `tune` split of newsqa-dev
(`bench/calibrate_answerability.py`; weights and threshold in
`rag/data/answerability.json`), turns them into the probability that the
sentence states the answer. Logistic rather than isotonic: six features and
a few hundred labelled sentences fit a linear boundary; an isotonic map needs
one score to calibrate and many more points per bin.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from rag.answer.facts import figures, months
from rag.config import PACKAGE_DIR
from rag.news.dates import DIGITS
from rag.language import lexical_tokens, light_stem, normalize

# e5 scores a question against a sentence in its own language higher than against the same content in
# another: ~.07 for matching sentences and ~.03 for unrelated ones on aligned XQuAD en/ar sentences
# (rag/answer/claims.py). Without this an English photo caption inside an Arabic article outranked the Arabic
# sentence that answers an English question.
CROSS_LANGUAGE_OFFSET = 0.05
FEATURES = ("similarity", "gap", "coverage", "key", "answer_type", "retrieval")
MODEL_FILE = PACKAGE_DIR / "data" / "answerability.json"

_TYPES_EN = (
    ("count", re.compile(r"\b(how (many|much|long|old|far)|what (number|percentage|share|proportion|amount|sum|age)|"
                         r"what was the (death )?toll|by how much)\b")),
    ("when", re.compile(r"\b(when|what (date|day|year|month|time)|since when|how long ago)\b")),
    ("where", re.compile(r"\b(where|which (city|country|town|province|region|place|prison|airport|port))\b")),
    ("said", re.compile(r"\b(say|said|says|tell|told|describe[sd]?|called|calls? (it|him|her|them|the|for|on)|warn(ed)?|accuse[sd]?|claim(ed)?|announce[sd]?)\b")),
    ("who", re.compile(r"^(who|whom|whose)\b|\b(who|whom|whose)\b|\bwhat was the name\b|\bwhich (man|woman|person|player|leader|official)\b")),
)
def _arabic(*phrases: str) -> re.Pattern[str]:
    """Question words as they read after rag.language.normalize (ى→ي, أ→ا, ة→ه)."""
    return re.compile(r"(^|\s)(" + "|".join(re.escape(normalize(p)) for p in phrases) + r")(\s|$)")


_TYPES_AR = (
    ("count", _arabic("كم", "ما عدد", "عدد", "ما نسبة", "ما قيمة", "ما حجم")),
    ("when", _arabic("متى", "في أي يوم", "في أي تاريخ", "في أي عام", "في أي شهر", "في أي سنة")),
    ("where", _arabic("أين", "في أي مدينة", "في أي دولة", "في أي بلد", "في أي سجن", "في أي مطار", "في أي منطقة")),
    ("said", _arabic("ماذا قال", "ماذا قالت", "بماذا", "ما الذي قاله", "ما الذي قالته", "قال", "قالت", "وصف", "وصفت",
                     "اتهم", "أعلن", "أعلنت", "حذر")),
    ("who", _arabic("من هو", "من هي", "من الذي", "ما اسم", "مَن")),
)
SPEECH = {normalize(w) for w in (
    "قال", "قالت", "وقال", "وقالت", "أكد", "وأكد", "أكدت", "وأكدت", "أعلن", "وأعلن", "أعلنت", "وأعلنت", "أوضح", "وأوضح",
    "أشار", "وأشار", "صرح", "وصرح", "اعتبر", "واعتبر", "حذر", "وحذر", "أضاف", "وأضاف", "وصف", "ووصف", "اتهم", "واتهم",
    "تابع", "وتابع", "said", "says", "told", "added", "stated", "warned", "announced", "described", "called", "accused")}
_PLACE_CUES = {normalize(w) for w in ("في", "بمدينة", "مدينة", "بلدة", "محافظة", "ولاية", "سجن", "مطار", "إقليم", "منطقة")}
_YEAR = re.compile(r"(?<!\d)(?:19|20)\d\d(?!\d)")
_WEEKDAYS = {normalize(w) for w in ("الاثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت", "الأحد", "أمس", "اليوم")}


def _years(text: str) -> set[str]:
    return set(_YEAR.findall(text.translate(DIGITS)))


def question_type(question: str) -> str:
    """count | when | said | who | where | what — what kind of answer the question asks for."""
    text = normalize(question)
    arabic = bool(re.search(r"[\u0600-\u06ff]", text))
    for kind, pattern in (_TYPES_AR if arabic else _TYPES_EN):
        if pattern.search(text):
            return kind
    if arabic and text.split()[:1] == ["من"]:  # "من" first: who (elsewhere it is "from")
        return "who"
    return "what"


def answer_type_match(kind: str, question: str, sentence: str, previous: str = "") -> float:
    """1.0 when the sentence holds the kind of thing asked for (beyond what the question itself gives)."""
    if kind == "count":
        asked = figures(question).values
        said = figures(sentence)
        return float(bool(said.values - asked) or bool(said.vague))
    if kind == "when":  # a month, year or day the question does not give ("on what date in 2019" is not "in 2019")
        words = set(normalize(sentence).split()) - set(normalize(question).split())
        return float(bool(months(sentence) - months(question)) or bool(_years(sentence) - _years(question))
                     or bool(words & _WEEKDAYS))
    if kind == "said":
        return float(bool(set(normalize(f"{previous} {sentence}").split()) & SPEECH) or any(q in sentence for q in "«\"“"))
    if kind == "where":
        return float(bool(set(normalize(sentence).split()) & _PLACE_CUES))
    return 1.0 if kind in ("who", "what") else 0.0


@dataclass
class Candidate:
    """One sentence of a retrieved passage, with what its answerability is read from."""

    hit: int  # index of its passage in the retrieved hits
    index: int  # its position among the passage's sentences
    sentence: str
    #: the sentence before it (a speaker named there, "he said" here)
    previous: str = ""
    features: dict[str, float] = field(default_factory=dict)
    probability: float = 0.0


def coverage(question_terms: set[str], text: str) -> float:
    """Share of the question's content terms (light-stemmed; aliases included) that `text` holds."""
    if not question_terms:
        return 0.0
    held = {light_stem(t) for t in lexical_tokens(text)}
    return len(question_terms & held) / len(question_terms)


@dataclass(frozen=True)
class AnswerabilityModel:
    """Logistic weights over FEATURES and the probability from which a sentence counts as an answer."""

    weights: tuple[float, ...]
    bias: float
    threshold: float
    #: sentences this close to the best one's probability join the answer (completeness)
    keep_ratio: float = 0.6
    #: with a model that gives token probabilities, the `judged` best sentences are put to it
    #: (prompts/judge.md) and its P(yes) decides instead, from `judge_threshold`
    judge_threshold: float = 0.62
    judged: int = 4

    def probability(self, features: dict[str, float]) -> float:
        z = self.bias + sum(w * features[name] for w, name in zip(self.weights, FEATURES))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def to_dict(self) -> dict[str, object]:
        return {"features": list(FEATURES), "weights": list(self.weights), "bias": self.bias,
                "threshold": self.threshold, "keep_ratio": self.keep_ratio,
                "judge_threshold": self.judge_threshold, "judged": self.judged}

    @classmethod
    def from_dict(cls, data: dict) -> "AnswerabilityModel":
        if list(data.get("features", [])) != list(FEATURES):
            raise ValueError(f"answerability model features {data.get('features')} are not {list(FEATURES)}")
        return cls(tuple(float(w) for w in data["weights"]), float(data["bias"]), float(data["threshold"]),
                   float(data.get("keep_ratio", 0.6)), float(data.get("judge_threshold", 0.62)),
                   int(data.get("judged", 4)))


@lru_cache(maxsize=4)
def load_model(path: Path = MODEL_FILE) -> AnswerabilityModel:
    return AnswerabilityModel.from_dict(json.loads(path.read_text(encoding="utf-8")))


def fit_logistic(rows: list[list[float]], labels: list[int], l2: float = 0.01, steps: int = 3000,
                 rate: float = 0.5) -> tuple[list[float], float]:
    """Weights and bias of an L2-regularised logistic regression (batch gradient descent, numpy only)."""
    import numpy as np

    raw = np.asarray(rows, dtype=np.float64)
    mean, scale = raw.mean(axis=0), raw.std(axis=0)
    scale[scale == 0] = 1.0
    x = (raw - mean) / scale  # standardised: e5 similarities differ by hundredths, flags by one
    y = np.asarray(labels, dtype=np.float64)
    w = np.zeros(x.shape[1])
    b = 0.0
    positive = max(1.0, y.sum())
    weight = np.where(y == 1, len(y) / (2 * positive), len(y) / (2 * max(1.0, len(y) - positive)))  # balanced classes
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
        error = (p - y) * weight
        w -= rate * (x.T @ error / len(y) + l2 * w)
        b -= rate * float(error.mean())
    weights = w / scale  # back to the raw features' scale
    return [float(v) for v in weights], float(b - (weights * mean).sum())
