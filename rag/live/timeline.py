"""Following a story or a subject across outlets: timelines and coverage (who carried it, who did not).

- `story_timeline(store, id)`: the story's first report, every copy and update by outlet and date, the
  headline changes, the speakers quoted, and which of the index's outlets carried it (and which did not).
  The id may also be an article's id: its story is shown.
- `subject_timeline(retriever, subject)`: day by day, which outlets reported about the subject. Entity
  first: every chunk that holds the subject's words or the spellings the name matcher finds for them
  (BM25 over the whole index, not the top k of a search), then one count per story per outlet per day,
  the day's leading headline (the story most outlets carried that day) and "not reported by".
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field

from rag.language import lexical_tokens, light_stem
from rag.index.store import IndexStore
from rag.news.filters import Filters

#: A chunk is about the subject when it holds at least this share of the subject's words, each word in
#: any of its spellings (the name matcher's: "Putin" is held by an Arabic article that writes بوتين):
#: a one- or two-word subject needs all of them, a three-word one two.
SUBJECT_COVERAGE = 0.66
MAX_SUBJECT_CHUNKS = 20_000
MAX_SPEAKERS = 8

_SPEECH_AR = r"(?:و?قال|و?قالت|و?أكد|و?أكدت|و?أعلن|و?أعلنت|و?صرح|و?أوضح|و?أضاف|و?اعتبر|و?حذر|و?شدد|و?أشار)"
_SPEAKER_AR = re.compile(_SPEECH_AR + r"\s+((?:[^\s،,.:«\"]+\s+){0,5}?[^\s،,.:«\"]+)\s+(?:إن|أن|ان|إنه|أنه|:|،|«)")
_SPEAKER_EN = re.compile(r"\b((?:[A-Z][\w'’-]+\s+){0,3}[A-Z][\w'’-]+)\s+(?:said|says|told|added|stated|warned|announced|stressed)\b")
_NOT_SPEAKER = re.compile(r"^(?:في|خلال|عبر|له|لها|لهم|إن|أن|ان|مصدر|مصادر|بيان|قائلا|مضيفا|مؤكدا|أيضا|ايضا|the|he|she|it|they|we|officials?|sources?)\b", re.I)


@dataclass
class Entry:
    article_id: str
    outlet: str
    date: str | None
    title: str
    url: str | None


@dataclass
class StoryTimeline:
    story_id: str
    first_report: Entry
    entries: list[Entry]
    headlines: list[Entry]  # each change of headline, in order
    speakers: list[dict[str, object]]  # {name, articles}
    outlets: dict[str, str | None]  # outlet → first date it carried the story
    not_reported_by: list[str]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "StoryTimeline":
        entries = lambda rows: [Entry(**row) for row in rows]  # noqa: E731
        return cls(**{**data, "first_report": Entry(**data["first_report"]), "entries": entries(data["entries"]),
                      "headlines": entries(data["headlines"])})


def story_timeline(store: IndexStore, story_or_article: str) -> StoryTimeline | None:
    story_id = story_or_article
    members = store.story_articles([story_id]).get(story_id)
    if not members:
        article = store.find_articles([story_or_article]).get(story_or_article)
        if article is None:
            return None
        story_id = article.story
        members = store.story_articles([story_id]).get(story_id) or [article]
    entries = [Entry(a.id, a.article.outlet, a.date, a.article.title, a.article.url) for a in members]
    headlines: list[Entry] = []
    for entry in entries:
        if not headlines or entry.title.strip() != headlines[-1].title.strip():
            headlines.append(entry)
    speakers: Counter[str] = Counter()
    for entry in entries:
        speakers.update(set(speakers_in(store.article_text(entry.article_id) or "")))
    outlets: dict[str, str | None] = {}
    for entry in entries:
        outlets.setdefault(entry.outlet, entry.date)
    return StoryTimeline(
        story_id, entries[0], entries, headlines,
        [{"name": name, "articles": n} for name, n in speakers.most_common(MAX_SPEAKERS)],
        outlets, sorted(set(store.outlet_names()) - set(outlets)),
    )


def speakers_in(text: str) -> list[str]:
    """Who is quoted: the words between a speech verb and "إن/أن/:" (Arabic), or a capitalised name before
    "said" (English). A heuristic: it reads attributions as newswires write them."""
    found = [m.strip() for m in _SPEAKER_AR.findall(text)] + [m.strip() for m in _SPEAKER_EN.findall(text)]
    return [s for s in found if not _NOT_SPEAKER.match(s) and 3 <= len(s) <= 80]


@dataclass
class Day:
    date: str
    outlets: dict[str, int]  # outlet → stories it carried about the subject that day
    headline: str
    url: str | None
    article_id: str


@dataclass
class SubjectTimeline:
    subject: str
    terms: list[str]
    days: list[Day] = field(default_factory=list)
    first_by_outlet: dict[str, str] = field(default_factory=dict)
    not_reported_by: list[str] = field(default_factory=list)
    articles: int = 0
    undated: int = 0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "SubjectTimeline":
        return cls(**{**data, "days": [Day(**day) for day in data["days"]]})


def _held(groups: list[set[str]], text: str) -> float:
    words = {light_stem(t) for t in lexical_tokens(text)}
    return sum(bool(g & words) for g in groups) / len(groups)


def subject_timeline(retriever, subject: str, filters: Filters | None = None) -> SubjectTimeline:
    retriever.refresh()
    store = retriever.store
    spellings = [[*lexical_tokens(word), *retriever.name_terms(word)] for word in dict.fromkeys(subject.split())]
    spellings = [s for s in spellings if s]  # a word that is not a search term ("the", "في") is not asked for
    groups = [{light_stem(t) for t in s} for s in spellings]
    terms = list(dict.fromkeys(t for s in spellings for t in s))
    result = SubjectTimeline(subject, terms)
    if not terms:
        return result
    rows, _ = store.lexical_search(terms, MAX_SUBJECT_CHUNKS, filters)
    chunks = store.chunks(rows)
    seen: set[str] = set()
    reported: set[str] = set()
    per_day: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))  # day → outlet → stories
    first_of_story: dict[tuple[str, str], object] = {}
    rank: dict[tuple[str, str], int] = {}  # the story's best BM25 rank that day: ties go to the most on-subject
    for position, row in enumerate(rows):
        chunk = chunks.get(row)
        if chunk is None or chunk.article_id in seen or _held(groups, f"{chunk.title}\n{chunk.text}") < SUBJECT_COVERAGE:
            continue
        seen.add(chunk.article_id)
        reported.add(chunk.outlet)
        if not chunk.date:  # it reported the subject, on a day the archive does not know
            result.undated += 1
            continue
        day = chunk.date[:10]
        per_day[day][chunk.outlet].add(chunk.story or chunk.article_id)
        key = (day, chunk.story or chunk.article_id)
        rank.setdefault(key, position)
        if key not in first_of_story or (chunk.date, chunk.article_id) < (first_of_story[key].date, first_of_story[key].article_id):
            first_of_story[key] = chunk
        if chunk.outlet not in result.first_by_outlet or day < result.first_by_outlet[chunk.outlet]:
            result.first_by_outlet[chunk.outlet] = day
    result.articles = len(seen)
    for day in sorted(per_day):
        outlets = per_day[day]
        reach: Counter[str] = Counter(story for stories in outlets.values() for story in stories)
        leading = min(reach, key=lambda s: (-reach[s], rank[(day, s)]))
        lead = first_of_story[(day, leading)]
        result.days.append(Day(day, {o: len(s) for o, s in sorted(outlets.items())}, lead.title, lead.url, lead.article_id))
    result.not_reported_by = sorted(set(store.outlet_names()) - reported)
    return result
