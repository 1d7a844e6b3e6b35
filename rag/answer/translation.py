"""Machine renderings of quotes and questions, with names fixed by the alias index.

A quote stays verbatim in its own language; when the asker's language differs,
a rendering follows it, labelled as a machine translation. The 1.5B default
model garbles names (shared/notes/crosslingual-names.md: الرقة → "yellow
beach"), so names are not left to it: every word of the quote that the alias
index knows (the question's own names, then the curated aliases) is replaced by
its Latin spelling *before* the model sees the sentence, and the model is told
to keep Latin words as they are.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel
from langchain_core.output_parsers import StrOutputParser

from rag.answer.facts import with_digits
from rag.language import detect_language, is_arabic_word, lexical_tokens, normalize, strip_article
from rag.models.prompts import load_prompt

if TYPE_CHECKING:
    from rag.retrieval import Expansion
    from rag.index.store import IndexStore

LANGUAGE_NAMES = {"ar": "Arabic", "en": "English", "fr": "French", "und": "the language of the question"}
_CLITICS = ("و", "ب", "ل", "ف", "ك")
_PUNCTUATION = ".,،؛:!?؟\"'«»“”()"
#: a question's Latin name is matched by its skeleton from this many consonant classes (measured on the
#: dev corpus's vocabulary: see docs/answers.md)
MIN_SKELETON = 4


@dataclass(frozen=True)
class Translation:
    """A machine rendering of a quote in the asker's language."""

    text: str
    lang: str
    machine: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "lang": self.lang, "machine": self.machine}


class Glossary:
    """Arabic word or phrase → Latin name, from the question's aliases, its own Latin names and the curated
    alias file.

    A multi-word alias (سيرغي لافروف → Sergei Lavrov) is replaced as a phrase: word by word it would come out
    twice ("Sergei Lavrov Sergei Lavrov"). A word of the sentence that the alias index does not know but that
    is spelled as one of the question's own Latin names (the same consonant skeleton, rag.names.transliteration:
    هورازن for "Horizon") takes the question's spelling: the asker's name, not the model's guess ("Huaraz").
    """

    def __init__(self, pairs: dict[str, str] | None = None, question: str = "") -> None:
        self.names: dict[str, str] = {}
        self.phrases: dict[tuple[str, ...], str] = {}
        self.skeletons: dict[str, str] = {}
        for arabic, latin in (pairs or {}).items():
            self.add(arabic, latin)
        self.add_question_names(question)

    def add(self, arabic: str, latin: str) -> None:
        tokens = tuple(t for t in (strip_article(normalize(w.strip(_PUNCTUATION))) for w in arabic.split()) if t)
        if len(tokens) == 1:
            self.names.setdefault(tokens[0], latin)
        elif tokens:
            self.phrases.setdefault(tokens, latin)

    def add_question_names(self, question: str) -> None:
        """The question's Latin names, word by word, by their skeletons (MIN_SKELETON consonants or more:
        shorter ones are spelled by common Arabic words too)."""
        from rag.names.expansion import latin_names
        from rag.names.transliteration import latin_skeleton

        for name in latin_names(question):
            if " " not in name and len(skeleton := latin_skeleton(name)) >= MIN_SKELETON:
                self.skeletons.setdefault(skeleton, name)

    @classmethod
    def for_question(cls, expansion: "Expansion", curated: dict[str, list[str]] | None = None,
                     question: str = "") -> "Glossary":
        glossary = cls()
        for match in expansion.aliases:  # the question's spelling wins: the user wrote "Raqqa"
            glossary.add(match.alias, match.name)
            for variant in match.variants:
                glossary.names.setdefault(variant, match.name)
        for name, forms in (curated or {}).items():
            if name.startswith("\x00"):
                continue
            spelled = name.upper() if len(name) <= 3 else name.title()  # the file's keys are folded: us → US, not "Us"
            for form in forms:
                glossary.add(form, spelled)
        glossary.add_question_names(question)
        return glossary

    def apply(self, text: str) -> str:
        """`text` with every known Arabic name replaced by its Latin spelling (clitics kept apart)."""
        return self._substitute(text)[0]

    def names_in(self, text: str) -> list[str]:
        """The Latin names `apply` writes into `text`, each once."""
        return list(dict.fromkeys(self._substitute(text)[1]))

    def _substitute(self, text: str) -> tuple[str, list[str]]:
        words = text.split(" ")
        folded = [normalize(w.strip(_PUNCTUATION)) for w in words]
        keys = [strip_article(f) for f in folded]
        lengths = sorted({len(p) for p in self.phrases}, reverse=True)
        out: list[str] = []
        names: list[str] = []
        i = 0
        while i < len(words):
            length = next((n for n in lengths if tuple(keys[i : i + n]) in self.phrases), 0)
            latin = self.phrases[tuple(keys[i : i + length])] if length else None
            if not latin:
                word, latin = self._word(words[i], folded[i])
                if not latin and i and _is_place_cue(folded[i - 1]):  # a city the glossary does not know
                    length, latin = _place(words, keys, i)
                if not length:
                    out.append(word)
                    names += [latin] if latin else []
                    i += 1
                    continue
            # a multi-word name (the longest known one starting here) or a city after its cue
            last = words[i + length - 1]
            names.append(latin)
            first = words[i].lstrip(_PUNCTUATION)
            clitic = first[0] if folded[i][:1] in _CLITICS and strip_article(folded[i][1:]) == keys[i] else ""
            out.append(f"{clitic} {latin}".strip() + last[len(last.rstrip(_PUNCTUATION)):])
            i += length
        return " ".join(out), names

    def _word(self, word: str, folded: str) -> tuple[str, str | None]:
        core = word.strip(_PUNCTUATION)
        if not core:
            return word, None
        key = strip_article(folded)
        latin = self.names.get(key)
        if latin is None and len(key) > 3 and key[0] in _CLITICS:  # ولافروف: "and Lavrov"
            key = strip_article(key[1:])
            latin = self.names.get(key)
        if latin is None:
            key, latin = self._spelled_as_asked(folded)
        clitic = ""
        if latin and folded[:1] in _CLITICS and strip_article(folded[1:]) == key:
            clitic = core[0]  # والرقة, بالرقة: keep "and"/"in" for the translator
        return (word.replace(core, f"{clitic} {latin}".strip()), latin) if latin else (word, None)

    def _spelled_as_asked(self, folded: str) -> tuple[str, str | None]:
        """A word spelled as one of the question's Latin names (with or without a clitic): (its key, the name)."""
        if not self.skeletons or not is_arabic_word(folded):
            return folded, None
        from rag.names.transliteration import arabic_skeleton

        bare = strip_article(folded)
        forms = ([strip_article(folded[1:])] if folded[:1] in _CLITICS and len(folded) > 4 else []) + [bare]
        for form in forms:
            latin = self.skeletons.get(arabic_skeleton(form))
            if latin and _same_ends(latin, form):
                return form, latin
        return folded, None


#: words after which a city's name follows ("the city of", "the province of", "the capital" …): only there does
#: a word become a city by its spelling (rag.names.gazetteer.place_name), because many places are also words
#: (مشهد "scene" / Mashhad, صور "pictures" / Tyre). Written without the article ("المدينة الجديدة" is "the new
#: city", not El Jadida), except "the capital", which stands beside its name.
_PLACE_CUES = frozenset(normalize(w) for w in "مدينة مدينتي محافظة بلدة قرية عاصمة العاصمة".split())


def _is_place_cue(folded: str) -> bool:
    forms = {folded, "ال" + folded[2:] if folded.startswith("لل") else folded}  # للعاصمة
    for _ in range(2):  # بمدينة, وبمدينة, والعاصمة
        folded = folded[1:] if folded[:1] in _CLITICS else folded
        forms.add(folded)
    return not forms.isdisjoint(_PLACE_CUES)


def _place(words: list[str], keys: list[str], i: int) -> tuple[int, str | None]:
    """(how many words, the Latin name) of the city named at `words[i]` (two words or one), or (0, None)."""
    from rag.names.gazetteer import place_name

    for length in (2, 1):
        name = " ".join(w.strip(_PUNCTUATION) for w in words[i : i + length])
        if i + length <= len(keys) and len(keys[i]) >= 3 and (latin := place_name(name)):
            return length, latin
    return 0, None


def _same_ends(latin: str, arabic: str) -> bool:
    """A transliteration starts with a vowel when the name does (Erdogan اردوغان, not Horizon احرزنا) and ends
    with one when the name does (Mauritania موريتانيا, not مرتين "twice"; a final e may be silent).

    Measured on the tune questions' Latin names of 4+ skeleton classes against the words of 2,000 dev
    articles: the skeleton alone matched a word that is not the name for 7 of 24 names (مرتين "twice" for
    Mauritania, احرزنا for Horizon, يبذلها for Abdullah); with these checks for 2 (Council, National)."""
    name = latin.lower()
    if arabic.endswith(("يين", "يون", "يه")):  # a plural or adjective of the name (بريطانيين "Britons"), not the name
        return False
    starts = arabic[:1] in "اأإآع"
    ends = arabic[-1:] in "اىهةيو"
    return starts == (name[:1] in "aeiou") and (name.endswith("e") or ends == (name[-1:] in "aeiouy"))


class QuoteTranslator:
    """Renders quotes in the asker's language with the LLM; remembers what it rendered."""

    def __init__(self, llm: BaseChatModel, max_tokens: int = 160) -> None:
        self.chain = load_prompt("translate_quote") | llm | StrOutputParser()
        self.max_tokens = max_tokens
        self._cache: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def translate(self, text: str, target: str, glossary: Glossary | None = None) -> Translation | None:
        if target == "und" or detect_language(text) == target:
            return None
        source = with_digits(glossary.apply(text) if glossary else text)  # names and numbers it must not guess
        key = (source, target)
        with self._lock:
            cached = self._cache.get(key)
        if cached is None:
            reply = self.chain.invoke({"text": source, "language": LANGUAGE_NAMES.get(target, target)},
                                      max_tokens=self.max_tokens)
            cached = " ".join(reply.strip().strip('"“”«»').split())
            if not cached:
                return None
            with self._lock:
                self._cache[key] = cached
        return Translation(cached, target)


class QueryTranslator:
    """A `QueryExpander` that asks the LLM for the question in Arabic (the corpus language).

    Off by default (`query_translation = true` turns it on): measured on XQuAD
    it made retrieval worse with the default 1.5B model, which garbles names
    (docs/answers.md). The translation is searched alongside the original,
    at a low weight.
    """

    #: asks the LLM: never run inside the model's own stream (Retriever.name_terms leaves it out)
    uses_model = True

    def __init__(self, llm: BaseChatModel, weight: float = 0.1) -> None:
        self.chain = load_prompt("translate") | llm | StrOutputParser()
        self.weight = weight

    def expand(self, query: str, store: "IndexStore") -> "Expansion":
        from rag.retrieval import Expansion

        if detect_language(query) == "ar":
            return Expansion()
        arabic = self.chain.invoke({"question": query}, max_tokens=64).strip().splitlines()
        if not arabic or not arabic[0].strip():
            return Expansion()
        text = arabic[0].strip()
        return Expansion(lexical_terms=lexical_tokens(text), dense_queries=[(text, self.weight)],
                         translations=[text])
