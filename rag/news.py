"""What a news question asks for, and how passages answer it: speakers, quotes, entities, recency.

- "What did X say about Y?" / "ماذا قال X عن Y؟": passages where X speaks rank first —
  a direct quote (quotation marks and a speech verb), then reported speech
  (a speech verb with X: "قال لافروف إن …"), then a mere mention. Each
  candidate gets `speaker` and `quote_type`.
- "What is the latest news about X?": passages that name X (in any spelling the
  name matcher found) rank above those that do not, and are ordered by date.
- Time expressions become a date filter (rag.dates).

Re-ranking only reorders the best RERANK_DEPTH candidates of the fused ranking,
so a weakly related quote cannot jump over the whole result list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from rag.dates import TimeFilter, asks_for_latest, time_filter
from rag.language import lexical_tokens, normalize, split_sentences

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
    re.compile(r"\bwhat\s+(?:did|has|have|does|do)\s+(.+?)\s+(?:say|said|tell|told|state|stated|claim|claimed|announce|announced)\b", re.I),
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


def _strip_waw(word: str) -> str:
    return word[1:] if word.startswith(("و", "ف")) and len(word) > 3 and word[1:] in _SPEECH else word


_RANK: dict[QuoteType | None, int] = {"direct": 3, "reported": 2, "mention": 1, None: 0}


def quote_rank(quote_type: QuoteType | None) -> int:
    return _RANK[quote_type]


def mentions(text: str, terms: list[str]) -> bool:
    return bool(set(terms) & set(lexical_tokens(text)))
