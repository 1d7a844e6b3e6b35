"""Cross-lingual names: Latin-script names in a question → their Arabic spellings or translations.

The dense model does not reliably map "Raqqa" to الرقة, and a small LLM
transliterates names wrongly (shared/notes/crosslingual-names.md). Instead,
each index keeps its Arabic vocabulary with consonant skeletons and word
vectors (rag.index.store); at query time a Latin name is matched against it by:

- skeleton similarity (rag.names.transliteration): Lavrov ≈ لافروف;
- e5 similarity of the name and the Arabic form (e5 knows many
  transliterations);
- word-encoder similarity (USE multilingual, rag.models.embeddings.WordEncoder),
  for names that Arabic translates: Germany → ألمانيا, Red Guards → الحرس الأحمر;
- corpus frequency: a name that the corpus uses often is a better bet than a
  rare word that happens to share consonants.

Multi-word names are matched as phrases of the corpus. Curated aliases (a
TOML file, see docs/names.md) always apply.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import PACKAGE_DIR, Settings
from rag.names.gazetteer import arabic_names
from rag.models.embeddings import Embedder, WordEncoder, load_word_encoder
from rag.errors import ConfigError
from rag.language import (
    ARABIC_STOPWORDS,
    ENGLISH_STOPWORDS,
    arabic_phrases,
    fold_latin,
    lexical_tokens,
    light_stem,
    normalize,
    strip_article,
)
from rag.retrieval import Expansion
from rag.index.store import EmbeddingCache, IndexStore
from rag.names.transliteration import arabic_skeleton, latin_skeleton, skeleton_similarity

# Capitalised words that start questions or sentences but are not names.
_NOT_NAMES = ENGLISH_STOPWORDS | {
    "tell", "give", "list", "show", "explain", "describe", "summarize", "summarise", "please", "according",
    "mr", "mrs", "ms", "dr", "president", "minister", "foreign", "prime", "king", "general", "news",
}
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f][A-Za-z\u00c0-\u024f'’\-]*")
_QUOTED = re.compile(r"[\"“”«»]([^\"“”«»]{2,60})[\"“”«»]")

SKELETON_FLOOR = 0.5  # skeleton candidates below this are not considered at all
SKELETON_CANDIDATES = 30  # per name, nearest skeletons
TRANSLATION_CANDIDATES = 12  # per name, nearest stored word vectors
# An English word's nearest Arabic terms by word vector (NameExpander.translations). On 15 common news words
# against the dev index the right translation's inflections scored .75-.94 (troops → جنود .80, zones → مناطق
# .85, oil → نفط .94, sanctions → عقوبات .75) and the wrong ones of words without one nearby .66-.75
# (reconstruction → تعميم .75, ceasefire → حرقا .66): a term counts only as a sign a word is there.
WORD_TRANSLATIONS = 6
WORD_TRANSLATION_FLOOR = 0.75
# A candidate scores as the better of two readings. Transliterated (Lavrov → لافروف):
# skeleton, e5 similarity and frequency weighted as WEIGHTS. Translated (Law → القانون,
# Germany → ألمانيا): the word-encoder similarity (TRANSLATION_WEIGHT) plus frequency.
WEIGHTS = (0.55, 0.35, 0.10)
TRANSLATION_WEIGHT = 0.9
# Cosine ranges rescaled to 0–1: unrelated short strings sit near the low end
# (e5 ~0.75–0.8; USE ~0.2–0.4), translations and transliterations near the top.
E5_RANGE = (0.75, 0.95)
WORD_RANGE = (0.4, 0.9)
THRESHOLD = 0.8  # a match below this is shown by --explain but not used
# Multi-word names: phrases scored by the share of the name's words they cover (each
# by its word-match score) and the similarity of the whole name to the phrase.
SPAN_WEIGHTS = (0.2, 0.8)  # translated reading: coverage, word-encoder similarity of the whole name
SPAN_TRANSLITERATION_WEIGHTS = (0.65, 0.35)  # coverage (the words' own sound matches), e5 similarity
SPAN_EXTRA_WORD_PENALTY = 0.05  # per phrase word beyond the name's own count
SPAN_WORD_MATCHES = 3  # word matches per word whose phrases are candidates
SPAN_CANDIDATES = 80  # phrases embedded per name (once per index generation)
SPAN_E5_CANDIDATES = 16  # of which the best-covered are also compared by e5
SPAN_CHUNKS = 300  # chunks read for candidate phrases
SPAN_THRESHOLD = 0.8  # a phrase below this is shown by --explain but not used
MAX_VARIANTS = 6  # inflections of a matched alias also searched (امريكي → امريكيين, امريكيه)


@dataclass(kw_only=True)
class AliasMatch:
    """One Arabic spelling of a Latin name, with the evidence for it — the fields `--explain` prints."""

    name: str  # the name as the question writes it
    alias: str  # the Arabic form as written in the corpus (a word or a phrase)
    term: str  # its lexical form (normalised, article stripped), as BM25 sees it
    score: float  # the match score the aliases are ranked and kept by
    skeleton: float  # consonant-skeleton similarity of name and alias (a transliteration's sound)
    embedding: float  # e5 similarity of name and alias
    freq: int  # how often the index holds the term
    source: str = "corpus"  # corpus | curated | geonames
    translation: float = 0.0  # word-encoder similarity (a translated name: Germany → ألمانيا)
    variants: list[str] = field(default_factory=list)  # other inflections in the corpus (lexical terms)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "alias": self.alias,
            "score": round(self.score, 3),
            "skeleton": round(self.skeleton, 3),
            "embedding": round(self.embedding, 3),
            "translation": round(self.translation, 3),
            "freq": self.freq,
            "source": self.source,
            **({"variants": self.variants} if self.variants else {}),
        }


def latin_names(query: str) -> list[str]:
    """Name candidates in a question: capitalised words (and runs of them), quoted strings.

    Each word of a run is returned on its own (Arabic writes most multi-word
    names word by word), and the run as a whole too, matched as a phrase.
    """
    names: list[str] = []
    for quoted in _QUOTED.findall(query):
        if _LATIN_WORD.search(quoted):
            names.append(quoted.strip())
    run: list[str] = []

    def flush() -> None:
        if len(run) > 1:
            names.append(" ".join(run))
        names.extend(run)
        run.clear()

    for match in _LATIN_WORD.finditer(query):
        word = re.sub(r"['’]s$", "", match.group(0)).strip("'’-")  # Warsaw's → Warsaw
        folded = fold_latin(word)
        is_name = word[:1].isupper() and folded not in _NOT_NAMES and len(folded) >= 2
        if is_name:
            # Arabic writes hyphenated names as separate words (Ki-moon → كي مون) and al- as ال.
            parts = [p for p in re.split(r"[-‐]", word) if p and fold_latin(p) not in ("al", "el")]
            run.extend(parts or [word])
        else:
            flush()
    flush()
    seen: set[str] = set()
    return [n for n in names if not (n.casefold() in seen or seen.add(n.casefold()))]


class CuratedAliases:
    """Name → Arabic forms from TOML files: the shipped defaults, then the user's."""

    def __init__(self, pairs: dict[str, list[str]] | None = None) -> None:
        self.pairs: dict[str, list[str]] = {}
        for name, forms in (pairs or {}).items():
            self.add(name, forms)

    def add(self, name: str, forms: list[str]) -> None:
        self.pairs.setdefault(fold_latin(name), []).extend(forms)

    @classmethod
    def load(cls, *paths: Path) -> "CuratedAliases":
        aliases = cls()
        for path in paths:
            try:
                data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise ConfigError(f"aliases file {path} does not exist; fix 'aliases_file' in rag.toml or RAG_ALIASES_FILE") from None
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{path}: not valid TOML ({exc}); fix the file") from None
            for name, forms in data.get("aliases", {}).items():
                if isinstance(forms, str):
                    forms = [forms]
                if not isinstance(forms, list) or not all(isinstance(f, str) for f in forms):
                    raise ConfigError(f"{path}: aliases.{name} must be a string or a list of strings")
                aliases.add(name, forms)
            for canonical, variants in data.get("variants", {}).items():
                group = [canonical, *([variants] if isinstance(variants, str) else variants)]
                for form in group:
                    aliases.add(f"\x00{normalize(form)}", group)
        return aliases

    def forms_for(self, name: str) -> list[str]:
        return self.pairs.get(fold_latin(name), [])

    def variants_of(self, arabic: str) -> list[str]:
        """Spelling variants unified by the [variants] table (أستانا / أستانة)."""
        return self.pairs.get(f"\x00{normalize(arabic)}", [])


def _rescale(similarities: np.ndarray, low: float, high: float) -> np.ndarray:
    return np.clip((np.asarray(similarities, dtype=np.float32) - low) / (high - low), 0.0, 1.0)


class AliasIndex:
    """The Arabic vocabulary of one index generation: skeletons, and word vectors where stored."""

    def __init__(self, store: IndexStore) -> None:
        self.word_encoder_id = store.manifest.word_vectors  # the stored vectors are this model's
        self.by_skeleton: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
        self.entries: dict[str, tuple[str, int]] = {}
        self.by_stem: dict[str, list[str]] = defaultdict(list)
        for entry in store.vocabulary.arabic_terms():
            term = entry.term
            self.entries[term] = (entry.surface, entry.freq)
            self.by_stem[light_stem(term)].append(term)
            if entry.skeleton and len(term) >= 3:
                self.by_skeleton[entry.skeleton].append((term, entry.surface, entry.freq))
        self.vector_terms, self.matrix = store.vocabulary.vectors()
        self.vector_row = {term: row for row, term in enumerate(self.vector_terms)}
        self._vectors: dict[str, np.ndarray] = {}
        self._word_vectors: dict[str, np.ndarray] = {}
        self._matches: dict[str, list[AliasMatch]] = {}

    @classmethod
    def of(cls, store: IndexStore) -> "AliasIndex":
        """Built once per opened generation and kept on the store."""
        if store.alias_index is None:
            store.alias_index = cls(store)
        return store.alias_index

    def skeleton_candidates(self, name: str, limit: int = SKELETON_CANDIDATES) -> dict[str, float]:
        """Terms whose skeleton is near the name's → skeleton similarity, best `limit`."""
        key = latin_skeleton(name)
        if not key:
            return {}
        if len(key) == 1:  # Gaga → غاغا: one consonant class only matches exactly
            forms = sorted(self.by_skeleton.get(key, []), key=lambda form: -form[2])[:limit]
            return {term: 1.0 for term, _, _ in forms}
        scored = []
        for skeleton, forms in self.by_skeleton.items():
            if abs(len(skeleton) - len(key)) > 2 or len(skeleton) < 2:
                continue
            similarity = skeleton_similarity(key, skeleton)
            if similarity >= SKELETON_FLOOR:
                scored.extend((term, freq, similarity) for term, _, freq in forms)
        scored.sort(key=lambda c: (-c[2], -c[1]))
        return {term: similarity for term, _, similarity in scored[:limit]}

    def translation_candidates(self, name_vector: np.ndarray, limit: int = TRANSLATION_CANDIDATES) -> list[str]:
        """Terms whose stored word vectors are nearest to the name's."""
        if self.matrix is None:
            return []
        similarities = self.matrix @ name_vector
        top = np.argpartition(-similarities, min(limit, len(similarities) - 1))[:limit]
        return [self.vector_terms[i] for i in top]

    def word_vectors(self, encoder: WordEncoder, texts: list[str], cache: EmbeddingCache | None = None) -> np.ndarray:
        """Word-encoder vectors of terms (stored ones read, others encoded once) or of any short text.

        With `cache`, what had to be encoded is kept between processes, so a repeated
        name does not even load the encoder."""
        def stored(text: str) -> bool:
            return self.word_encoder_id == encoder.id and text in self.vector_row

        missing = [t for t in dict.fromkeys(texts) if not stored(t) and t not in self._word_vectors]
        if missing:  # a term is encoded as written in the corpus, anything else as given
            written = {t: self.entries.get(t, (t, 0))[0] for t in missing}
            keys = {t: EmbeddingCache.key(encoder.id, w) for t, w in written.items()}
            found = cache.get_many(list(keys.values()), encoder.dim) if cache is not None else {}
            self._word_vectors.update({t: found[k] for t, k in keys.items() if k in found})
            missing = [t for t in missing if t not in self._word_vectors]
            if missing:
                vectors = encoder.encode([written[t] for t in missing])
                self._word_vectors.update(zip(missing, vectors))
                if cache is not None:
                    cache.put_many((keys[t], v) for t, v in zip(missing, vectors))
        return np.stack([self.matrix[self.vector_row[t]] if stored(t) else self._word_vectors[t] for t in texts])

    def variants(self, term: str, limit: int = MAX_VARIANTS) -> list[str]:
        """Other inflections of `term` in this vocabulary (same light stem), most frequent first."""
        others = [t for t in self.by_stem.get(light_stem(term), []) if t != term]
        return sorted(others, key=lambda t: -self.entries[t][1])[:limit]

    def chunks_with(self, store: IndexStore, terms: list[str], limit: int = SPAN_CHUNKS) -> list[str]:
        """Texts of (at most `limit`) chunks whose lexical tokens include one of `terms`."""
        return store.texts_containing(terms, limit)

    def remembered(self, name: str, compute: Callable[[], list[AliasMatch]]) -> list[AliasMatch]:
        """Learned matches for `name`, computed once per generation."""
        if name not in self._matches:
            self._matches[name] = compute()
        return self._matches[name]

    def embeddings(self, embedder: Embedder, texts: list[str], cache: EmbeddingCache | None = None) -> np.ndarray:
        """Passage embeddings of short strings: remembered for this generation and, with
        `cache`, across processes (a cold `rag search` spent ~2 s embedding name candidates)."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing and cache is not None:
            keys = {t: EmbeddingCache.key(embedder.id, t) for t in missing}
            stored = cache.get_many(list(keys.values()), embedder.dim)
            self._vectors.update({t: stored[k] for t, k in keys.items() if k in stored})
            missing = [t for t in missing if t not in self._vectors]
            if missing:
                vectors = embedder.embed_passages(missing)
                self._vectors.update(zip(missing, vectors))
                cache.put_many((keys[t], v) for t, v in zip(missing, vectors))
        elif missing:
            self._vectors.update(zip(missing, embedder.embed_passages(missing)))
        return np.stack([self._vectors[t] for t in texts])


class NameExpander:
    """A `QueryExpander`: adds the Arabic spellings of Latin-script names."""

    def __init__(
        self,
        embedder: Embedder,
        curated: CuratedAliases | None = None,
        threshold: float = THRESHOLD,
        span_threshold: float = SPAN_THRESHOLD,
        weights: tuple[float, float, float] = WEIGHTS,
        dense_weight: float = 1.0,
        word_encoder: WordEncoder | None = None,
        vector_cache: EmbeddingCache | None = None,
    ) -> None:
        self.embedder = embedder
        self.vector_cache = vector_cache  # candidate vectors kept between processes
        self.word_encoder = word_encoder  # for translated names; without it e5 stands in
        self.curated = curated or CuratedAliases()
        self.threshold = threshold
        self.span_threshold = span_threshold
        self.weights = weights
        self.dense_weight = dense_weight

    @classmethod
    def from_settings(cls, settings: Settings, embedder: Embedder) -> "NameExpander":
        files = [PACKAGE_DIR / "data" / "aliases.toml"]
        if settings.aliases_file:
            files.append(Path(settings.aliases_file))
        return cls(embedder, CuratedAliases.load(*files), word_encoder=load_word_encoder(settings.threads),
                   vector_cache=EmbeddingCache(settings.cache_dir / "name-candidates.sqlite"))

    def translations(self, word: str, store: IndexStore, k: int = WORD_TRANSLATIONS) -> list[str]:
        """Arabic terms of the index whose word vectors are nearest an English word's (troops → جنود,
        قوات; zones → مناطق), at least WORD_TRANSLATION_FLOOR similar; [] without stored word vectors."""
        aliases = AliasIndex.of(store)
        if self.word_encoder is None or aliases.matrix is None or aliases.word_encoder_id != self.word_encoder.id:
            return []
        vector = aliases.word_vectors(self.word_encoder, [word], self.vector_cache)[0]
        nearest = aliases.translation_candidates(vector, limit=k)
        return [t for t in nearest if float(aliases.matrix[aliases.vector_row[t]] @ vector) >= WORD_TRANSLATION_FLOOR]

    def match(self, name: str, store: IndexStore, k: int = 3) -> list[AliasMatch]:
        """The best Arabic forms for one Latin name, best first (curated ones first of all)."""
        matches = [
            AliasMatch(name=name, alias=form, term=" ".join(lexical_tokens(form)), score=1.0, skeleton=1.0, embedding=1.0,
                       freq=0, source="curated")
            for form in self.curated.forms_for(name)
        ]
        if name.isupper() and len(name) <= 5:
            return matches[:k]  # acronyms (UN, AFC) are not written out letter by letter: curated only
        if not matches:
            matches += self._known_place(name, store)
        aliases = AliasIndex.of(store)
        if " " in name.strip():
            matches += aliases.remembered(name, lambda: self._learned_span(name, store, aliases))
        else:
            matches += aliases.remembered(name, lambda: self._learned(name, aliases))
        seen: set[str] = set()  # one alias per word: its inflections come along as variants
        ranked = []
        for match in sorted(matches, key=lambda m: -m.score):
            stem = light_stem(match.term)
            if match.term and stem not in seen:
                seen.add(stem)
                if match.source == "corpus":
                    match = replace(match, variants=aliases.variants(match.term))
                ranked.append(match)
        return ranked[:k]

    def _learned(self, name: str, aliases: AliasIndex) -> list[AliasMatch]:
        """Candidates by skeleton (transliterations) and by word vector (translations), scored together."""
        by_skeleton = aliases.skeleton_candidates(name)
        translated: list[str] = []
        if self.word_encoder is not None and aliases.word_encoder_id == self.word_encoder.id:
            translated = aliases.translation_candidates(aliases.word_vectors(self.word_encoder, [name], self.vector_cache)[0])
        terms = list(dict.fromkeys([*by_skeleton, *translated]))
        if not terms:
            return []
        surfaces = [aliases.entries[t][0] for t in terms]
        e5 = aliases.embeddings(self.embedder, [name, *surfaces], self.vector_cache)  # embedded once per generation
        e5_similarity = _rescale(e5[1:] @ e5[0], *E5_RANGE)
        if self.word_encoder is not None:
            words = aliases.word_vectors(self.word_encoder, [name, *terms], self.vector_cache)
            translation = _rescale(words[1:] @ words[0], *WORD_RANGE)
        else:
            translation = e5_similarity
        key = latin_skeleton(name)
        w_skeleton, w_embedding, w_freq = self.weights
        top_freq = max(aliases.entries[t][1] for t in terms)
        matches: list[AliasMatch] = []
        for term, surface, embedding, translation_similarity in zip(terms, surfaces, e5_similarity, translation):
            freq = aliases.entries[term][1]
            skeleton = by_skeleton.get(term)
            if skeleton is None:
                skeleton = skeleton_similarity(key, arabic_skeleton(term)) if key else 0.0
            frequency = math.log1p(freq) / math.log1p(top_freq)
            transliterated = w_skeleton * skeleton + w_embedding * embedding + w_freq * frequency
            translated_score = TRANSLATION_WEIGHT * translation_similarity + w_freq * frequency  # the sound does not carry over
            score = float(max(transliterated, translated_score))
            matches.append(AliasMatch(name=name, alias=surface, term=term, score=score, skeleton=skeleton, embedding=float(embedding),
                                      freq=freq, translation=float(translation_similarity)))
        return matches

    def _learned_span(self, span: str, store: IndexStore, aliases: AliasIndex) -> list[AliasMatch]:
        """Arabic phrases for a multi-word name (United Nations → الأمم المتحدة, Red Guards → الحرس الأحمر).

        Word by word, a span is often half translated, half transliterated, and
        single words are ambiguous; the phrase is not. Candidates are the
        corpus phrases that contain a match of at least one of the span's words
        (read from the chunks that hold those matches), ranked by how many of
        the words they cover, then scored as transliterated or translated phrases.
        """
        words = span.split()
        word_matches = {w: [m for m in self.match(w, store, k=SPAN_WORD_MATCHES) if m.source == "corpus"] for w in words}
        stems = {w: {light_stem(t): m.score for m in ms for t in (m.term, *m.variants)} for w, ms in word_matches.items()}
        terms = list(dict.fromkeys(m.term for ms in word_matches.values() for m in ms))
        if not terms:
            return []
        counts: dict[str, int] = defaultdict(int)
        coverage: dict[str, float] = {}
        longest = min(len(words) + 1, 4)  # one word more: Arabic adds some (Louis XIV → لويس الرابع عشر)
        for text in aliases.chunks_with(store, terms):
            for run in arabic_phrases(text):
                normalised = [normalize(word) for word in run]
                keys = [light_stem(strip_article(word)) for word in normalised]
                for n in range(2, longest + 1):
                    for i in range(len(run) - n + 1):
                        if normalised[i] in ARABIC_STOPWORDS or normalised[i + n - 1] in ARABIC_STOPWORDS:
                            continue
                        phrase_keys = keys[i : i + n]
                        covered = sum(max((stems[w].get(key, 0.0) for key in phrase_keys), default=0.0) for w in words)
                        if covered:
                            phrase = " ".join(run[i : i + n])
                            counts[phrase] += 1
                            coverage[phrase] = covered / len(words)
        if not counts:
            return []
        ranked = sorted(counts, key=lambda p: (-coverage[p], -counts[p], len(p)))[:SPAN_CANDIDATES]
        # Two readings again. Transliterated (سيرغي لافروف): the words' sound matches (coverage) and
        # e5, asked only about the best-covered phrases since it is ~10x slower. Translated
        # (الحرس الأحمر): the word encoder's similarity of the whole name.
        best_covered = ranked[:SPAN_E5_CANDIDATES] if self.word_encoder is not None else ranked
        vectors = aliases.embeddings(self.embedder, [span, *best_covered], self.vector_cache)
        e5 = np.zeros(len(ranked), dtype=np.float32)
        e5[: len(best_covered)] = _rescale(vectors[1:] @ vectors[0], *E5_RANGE)
        translation = np.zeros(len(ranked), dtype=np.float32)
        if self.word_encoder is not None:
            vectors = aliases.word_vectors(self.word_encoder, [span, *ranked], self.vector_cache)
            translation = _rescale(vectors[1:] @ vectors[0], *WORD_RANGE)
        w_sound, w_e5 = SPAN_TRANSLITERATION_WEIGHTS
        matches = []
        for phrase, e5_similarity, translation_similarity in zip(ranked, e5.tolist(), translation.tolist()):
            extra_words = max(0, phrase.count(" ") + 1 - len(words))  # أعرب سيرغي لافروف < سيرغي لافروف
            transliterated = w_sound * coverage[phrase] + w_e5 * e5_similarity
            translated = SPAN_WEIGHTS[0] * coverage[phrase] + SPAN_WEIGHTS[1] * translation_similarity
            score = max(transliterated, translated) - SPAN_EXTRA_WORD_PENALTY * extra_words
            matches.append(
                AliasMatch(name=span, alias=phrase, term=" ".join(lexical_tokens(phrase)), score=score, skeleton=coverage[phrase],
                           embedding=e5_similarity, freq=counts[phrase], translation=translation_similarity)
            )
        return matches

    @staticmethod
    def _known_place(name: str, store: IndexStore) -> list[AliasMatch]:
        """A GeoNames/ISO spelling of the place that this index uses (the most frequent), if any.

        Preferred over a learned alias: a common word with the same consonants can outscore
        the place's name (Raqqa → رقيه) in the corpus's own words."""
        best: tuple[int, str] | None = None
        for form in arabic_names(name):
            terms = lexical_tokens(form)
            frequencies = store.term_frequencies(terms)
            if terms and all(frequencies.get(t, 0) > 0 for t in terms):
                count = min(frequencies[t] for t in terms)
                if best is None or count > best[0]:
                    best = (count, form)
        if best is None:
            return []
        return [AliasMatch(name=name, alias=best[1], term=" ".join(lexical_tokens(best[1])), score=1.0, skeleton=1.0, embedding=1.0,
                           freq=best[0], source="geonames")]

    def expand(self, query: str, store: IndexStore) -> Expansion:
        expansion = Expansion()
        replacements: dict[str, str] = {}
        covered: set[str] = set()
        for name in latin_names(query):
            if any(part in covered for part in name.split()):
                continue
            threshold = self.span_threshold if " " in name else self.threshold
            best = [m for m in self.match(name, store, k=2) if m.score >= threshold]
            if not best:
                continue
            if " " in name:
                covered.update(name.split())
            for match in best[:1]:
                forms = [match.alias, *self.curated.variants_of(match.alias)]
                for form in forms:
                    expansion.lexical_terms.extend(lexical_tokens(form))
                expansion.lexical_terms.extend(match.variants)
                replacements[name] = match.alias
                expansion.aliases.append(match)
        if replacements:
            rewritten = query
            for name, arabic in sorted(replacements.items(), key=lambda item: -len(item[0])):
                rewritten = re.sub(rf"\b{re.escape(name)}\b", arabic, rewritten)
            expansion.dense_queries.append((rewritten, self.dense_weight))
        return expansion
