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

from rag.language import detect_language, lexical_tokens, normalize, strip_article
from rag.models.prompts import load_prompt

if TYPE_CHECKING:
    from rag.retrieval import Expansion
    from rag.index.store import IndexStore

LANGUAGE_NAMES = {"ar": "Arabic", "en": "English", "fr": "French", "und": "the language of the question"}
_CLITICS = ("و", "ب", "ل", "ف", "ك")


@dataclass(frozen=True)
class Translation:
    """A machine rendering of a quote in the asker's language."""

    text: str
    lang: str
    machine: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "lang": self.lang, "machine": self.machine}


class Glossary:
    """Arabic word → Latin name, from the question's aliases and the curated alias file."""

    def __init__(self, pairs: dict[str, str] | None = None) -> None:
        self.names: dict[str, str] = {}
        for arabic, latin in (pairs or {}).items():
            self.add(arabic, latin)

    def add(self, arabic: str, latin: str) -> None:
        for token in lexical_tokens(arabic):
            self.names.setdefault(token, latin)

    @classmethod
    def for_question(cls, expansion: "Expansion", curated: dict[str, list[str]] | None = None) -> "Glossary":
        glossary = cls()
        for match in expansion.aliases:  # the question's spelling wins: the user wrote "Raqqa"
            glossary.add(match.alias, match.name)
            for variant in match.variants:
                glossary.names.setdefault(variant, match.name)
        for name, forms in (curated or {}).items():
            if name.startswith("\x00"):
                continue
            for form in forms:
                glossary.add(form, name.title())
        return glossary

    def apply(self, text: str) -> str:
        """`text` with every known Arabic name replaced by its Latin spelling (clitics kept apart)."""
        out = []
        for word in text.split(" "):
            core = word.strip(".,،؛:!?؟\"'«»“”()")
            folded = normalize(core) if core else ""
            key = strip_article(folded)
            latin = self.names.get(key)
            clitic = ""
            if latin is None and len(key) > 3 and key[0] in _CLITICS:  # ولافروف: "and Lavrov"
                key = strip_article(key[1:])
                latin = self.names.get(key)
            if latin and folded[:1] in _CLITICS and strip_article(folded[1:]) == key:
                clitic = core[0]  # والرقة, بالرقة: keep "and"/"in" for the translator
            out.append(word.replace(core, f"{clitic} {latin}".strip()) if latin and core else word)
        return " ".join(out)


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
        source = glossary.apply(text) if glossary else text
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
