"""What a news question asks for, and how passages answer it: speakers, quotes, entities, recency.

- "What did X say about Y?" / "ماذا قال X عن Y؟": passages where X speaks rank first —
  a direct quote (quotation marks and a speech verb), then reported speech
  (a speech verb with X: "قال لافروف إن …"), then a mere mention. Each
  candidate gets `speaker` and `quote_type`.
- "What is the latest news about X?": passages that name X (in any spelling the
  name matcher found) rank above those that do not, and are ordered by date.
- Time expressions become a date filter (rag.news.dates).

Re-ranking only reorders the best RERANK_DEPTH candidates of the fused ranking,
so a weakly related quote cannot jump over the whole result list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from rag.news.dates import DIGITS, TimeFilter, asks_for_latest, day_number, time_filter
from rag.language import detect_language, lexical_tokens, light_stem, normalize, split_sentences

QuoteType = Literal["direct", "reported", "mention"]
RERANK_DEPTH = 20

_SPEECH_VERBS_AR = (
    "قال", "قالت", "يقول", "تقول", "اكد", "اكدت", "يؤكد", "تؤكد", "اضاف", "اضافت", "يضيف", "اعلن", "اعلنت", "يعلن",
    "صرح", "صرحت", "اعتبر", "اعتبرت", "يعتبر", "شدد", "شددت", "يشدد", "اوضح", "اوضحت", "تابع", "تابعت", "اشار", "اشارت",
    "لفت", "نفي", "نفت", "دعا", "دعت", "حذر", "حذرت", "راي", "رات", "ذكر", "ذكرت", "افاد", "افادت", "كشف", "كشفت",
    "وصف", "وصفت", "اعرب", "اعربت", "قائلا", "قائله", "مضيفا", "مضيفه", "مؤكدا", "مؤكده", "معتبرا", "معتبره", "بحسب", "وفق", "وفقا",
)
_SPEECH_VERBS_EN = (
    "said", "says", "say", "told", "tells", "stated", "states", "announced", "added", "stressed", "warned", "declared",
    "according", "insisted", "claimed", "argued", "noted", "urged", "denied", "described", "called",
)
_SPEECH = {normalize(v) for v in _SPEECH_VERBS_AR} | set(_SPEECH_VERBS_EN)
_QUOTES = re.compile(r"[\"“”«»„]")
_WORD = re.compile(r"\w+", re.UNICODE)

# "what did X say about Y", "what has X said on Y", "ماذا قال X عن Y", "بماذا صرح X", "تصريحات X حول Y"
_SPEAKER_PATTERNS = (
    re.compile(r"\bwhat\s+(?:did|has|have|does|do)\s+(.+?)\s+(?:say|said|tell|told|stated|claim|claimed|announce|announced)\b", re.I),
    re.compile(r"\bhow\s+did\s+(.+?)\s+(?:react|respond|comment)\b", re.I),
    re.compile(r"\b(.+?)'s\s+(?:statement|statements|remarks|comments|words)\b", re.I),
    re.compile(r"(?:ماذا|بماذا|ما الذي|ما ذا)\s+(?:قال|قالت|صرح|صرحت|اكد|اكدت|اعلن|اعلنت)\s+(.+?)(?:\s+(?:عن|بشان|حول|في|ازاء|تجاه)\s|[؟?]|$)"),
    re.compile(r"(?:تصريحات|اقوال|كلام)\s+(.+?)(?:\s+(?:عن|بشان|حول|في|ازاء)\s|[؟?]|$)"),
)
_ENTITY_PATTERNS = (
    re.compile(r"\b(?:latest|recent|newest)\s+(?:news|reports?|developments?|updates?)\s+(?:about|on|from|in)\s+(.+?)[?.!]?$", re.I),
    re.compile(r"\bwhat(?:'s| is)\s+(?:new|happening)\s+(?:with|in|about)\s+(.+?)[?.!]?$", re.I),
    re.compile(r"(?:اخر|احدث)\s+(?:اخبار|مستجدات|تطورات)\s+(.+?)[؟?.!]?$"),
    re.compile(r"(?:ما|ماهي|ما هي)\s+(?:اخر|احدث)\s+(?:الاخبار|المستجدات|التطورات)\s+(?:عن|حول|في|بشان)\s+(.+?)[؟?.!]?$"),
)
_LEADING = re.compile(r"^(?:the|president|minister|foreign minister|prime minister|secretary|king|mr\.?|ms\.?)\s+", re.I)


@dataclass
class NewsQuestion:
    """What one question asks for beyond its words."""

    speaker: str | None = None  # as written in the question
    speaker_terms: list[str] = field(default_factory=list)  # lexical terms that name the speaker
    entity: str | None = None
    entity_terms: list[str] = field(default_factory=list)
    latest: bool = False
    time_filter: TimeFilter | None = None


def analyse(question: str) -> NewsQuestion:
    """Speaker, entity, recency and date range named by the question (terms are filled by the retriever)."""
    text = normalize(question).strip()
    result = NewsQuestion(latest=asks_for_latest(question), time_filter=time_filter(question))
    for pattern in _SPEAKER_PATTERNS:
        match = pattern.search(text)
        if match:
            speaker = _LEADING.sub("", match[1].strip(" ?؟"))
            if 0 < len(speaker) <= 60:
                result.speaker = speaker.title() if speaker.isascii() else speaker  # matched folded, shown as a name
                break
    for pattern in _ENTITY_PATTERNS:
        match = pattern.search(text)
        if match:
            entity = match[1].strip(" ?؟.")
            if 0 < len(entity) <= 60:
                result.entity = entity.title() if entity.isascii() else entity
                break
    return result


def terms_for(name: str, alias_terms: dict[str, list[str]]) -> list[str]:
    """Lexical terms that name `name`: its own (Arabic) tokens, or the aliases found for its Latin words."""
    terms = [t for t in lexical_tokens(name) if not t.isascii()]
    for latin, aliases in alias_terms.items():
        if normalize(latin) in normalize(name) or normalize(name) in normalize(latin):
            terms.extend(aliases)
    if not terms:  # an English text: the name as written
        terms = [t for t in lexical_tokens(name) if len(t) > 2]
    return list(dict.fromkeys(terms))


@dataclass(frozen=True)
class Attribution:
    quote_type: QuoteType | None  # None: the speaker is not in the passage
    sentence: str = ""


def attribute(text: str, speaker_terms: list[str]) -> Attribution:
    """How a passage gives the speaker's words: direct quote, reported speech, or a mention."""
    if not speaker_terms:
        return Attribution(None)
    wanted = set(speaker_terms)
    best: Attribution = Attribution(None)
    sentences = split_sentences(text)
    for index, sentence in enumerate(sentences):
        tokens = lexical_tokens(sentence)
        if not wanted & set(tokens):
            continue
        words = [normalize(w) for w in _WORD.findall(sentence)]
        positions = [i for i, w in enumerate(lexical_tokens(" ".join(words))) if w in wanted]
        speech = any(_strip_waw(w) in _SPEECH for w in words)
        # a quote in this sentence or the next one ("قال لافروف: «…»" often breaks the sentence)
        quoted = bool(_QUOTES.search(sentence)) or (index + 1 < len(sentences) and bool(_QUOTES.search(sentences[index + 1])) and speech)
        if speech and quoted:
            return Attribution("direct", sentence)
        if speech and positions:
            best = Attribution("reported", sentence)
        elif best.quote_type is None:
            best = Attribution("mention", sentence)
    return best


# after a speech verb, words that leave its subject to the sentence before ("وأضاف أن …"), and titles that may
# name the same speaker another way ("وقال الوزير …")
_NO_SUBJECT = {normalize(w) for w in ("أن", "إن", "أنه", "إنه", "أنها", "إنها", "بأن", "بأنه", "بأنها", "انهم", "أنهم")}
_TITLES = {normalize(w) for w in ("الوزير", "وزير", "الرئيس", "رئيس", "المتحدث", "الناطق", "السفير", "المسؤول",
                                  "الدبلوماسي", "نظيره", "الأمين", "المبعوث")}
_HEADLINE = re.compile(r"^\s*[^\s:]+(?:\s+[^\s:]+)?\s*:")  # "لافروف: واشنطن ترفض …"
_MARKS = "\"'“”«»„:.,،؛"


def names_another_speaker(sentence: str, speaker_terms: list[str]) -> bool:
    """An Arabic sentence that gives its own speaker, not the asked one: a headline's "Name: …", or a speech verb
    with a subject of its own ("وأشارت الخارجية …", "وفقا لرويترز"), and the asked speaker not named in it.
    A verb without a subject of its own ("وأضاف أن …", "وقال: «…»") or with a title ("وقال الوزير …") may
    continue the speaker of the sentence before."""
    if set(speaker_terms) & set(lexical_tokens(sentence)) or detect_language(sentence) != "ar":
        return False
    text = normalize(sentence)
    headline = _HEADLINE.match(text)
    if headline and not any(_strip_waw(w) in _SPEECH for w in headline[0].strip(" :").split()):
        return True
    tokens = text.split()
    for verb, following in zip(tokens, tokens[1:]):
        if verb.endswith(":") or following[:1] in _MARKS or _strip_waw(verb.strip(_MARKS)) not in _SPEECH:
            continue
        subject = following.strip(_MARKS)
        if subject not in _NO_SUBJECT and subject not in _TITLES:
            return True
    return False


def _strip_waw(word: str) -> str:
    return word[1:] if word.startswith(("و", "ف")) and len(word) > 3 and word[1:] in _SPEECH else word


_RANK: dict[QuoteType | None, int] = {"direct": 3, "reported": 2, "mention": 1, None: 0}


def quote_rank(quote_type: QuoteType | None) -> int:
    return _RANK[quote_type]


def mentions(text: str, terms: list[str]) -> bool:
    return bool(set(terms) & set(lexical_tokens(text)))


_QUOTED = re.compile(r"[\"“«„]([^\"”»“«]{12,400})[\"”»]")


@dataclass(frozen=True)
class AttributedWords:
    """The words one outlet puts in the speaker's mouth."""

    outlet: str
    date: str | None
    words: str
    n: int  # the source's number in the answer
    passage: str = ""  # the whole passage: two reports of one event share much of their vocabulary


def quoted_words(sentence: str) -> str:
    """The text inside quotation marks in a sentence ("" when there is none)."""
    return " ".join(m.group(1).strip() for m in _QUOTED.finditer(sentence))


def different_words(quotes: list[AttributedWords], max_days: int = 1) -> list[tuple[AttributedWords, AttributedWords]]:
    """Pairs of outlets that quote the speaker on the same event — both dated within `max_days`, passages
    sharing at least a fifth of their content words — in words that share less than half of theirs."""
    pairs = []
    for i, a in enumerate(quotes):
        for b in quotes[i + 1 :]:
            if a.outlet == b.outlet:
                continue
            da, db = day_number(a.date), day_number(b.date)
            if da < 0 or db < 0 or abs(da - db) > max_days:
                continue  # undated, or days apart: not known to be one event
            pa, pb = set(lexical_tokens(a.passage)), set(lexical_tokens(b.passage))
            if not pa or not pb or len(pa & pb) / min(len(pa), len(pb)) < 0.2:
                continue
            wa, wb = set(lexical_tokens(a.words)), set(lexical_tokens(b.words))
            if wa and wb and len(wa & wb) / min(len(wa), len(wb)) < 0.5:
                pairs.append((a, b))
    return pairs


_FIGURE = re.compile(r"(?<![\w.])(\d+(?:[.,]\d+)?)\s+(\w+)")


def figures(text: str) -> dict[str, str]:
    """Counts a passage gives ("10 قتلى" → {stem of قتلى: "10 قتلى"}), years left out."""
    found: dict[str, str] = {}
    for match in _FIGURE.finditer(text.translate(DIGITS)):
        number, word = match.group(1), match.group(2)
        if len(number) == 4 and number.startswith(("19", "20")):
            continue  # a year, not a count
        stems = lexical_tokens(word)
        if stems and not stems[0].isdigit():
            found.setdefault(light_stem(stems[0]), f"{number} {word}")
    return found


def compare_figures(sections: list[tuple[str, int, str]]) -> tuple[list[str], list[str]]:
    """From (outlet, n, passage) sections: counts two or more outlets give alike, and counts they give differently."""
    by_stem: dict[str, dict[str, tuple[str, int]]] = {}
    for outlet, n, text in sections:
        for stem, figure in figures(text).items():
            by_stem.setdefault(stem, {}).setdefault(outlet, (figure, n))
    agree, differ = [], []
    for given in by_stem.values():
        if len(given) < 2:
            continue
        numbers = {figure.split()[0] for figure, _ in given.values()}
        cited = "; ".join(f"{outlet}: {figure} [{n}]" for outlet, (figure, n) in given.items())
        (agree if len(numbers) == 1 else differ).append(cited)
    return agree, differ
