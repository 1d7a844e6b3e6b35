from hypothesis import given, settings, strategies as st

from rag.ingest.chunking import chunk_article, split_sentences
from rag.ingest.corpus import Article


def words(text: str) -> int:
    return len(text.split())


def test_split_sentences_arabic_punctuation():
    text = "هل انتهت الحرب؟ قال الوزير: لا! وأضاف؛ سنرى. سطر جديد\nسطر آخر"
    assert split_sentences(text) == ["هل انتهت الحرب؟", "قال الوزير: لا!", "وأضاف؛", "سنرى.", "سطر جديد", "سطر آخر"]


def test_chunks_respect_budget_overlap_and_carry_title():
    sentences = [f"الجملة رقم {i} فيها بعض الكلمات الإضافية هنا." for i in range(40)]
    article = Article(id="a", title="عنوان", text=" ".join(sentences))
    chunks = chunk_article(article, words, max_tokens=30, overlap_tokens=10)
    assert len(chunks) > 5
    assert all(words(c.text) <= 30 - words("عنوان") for c in chunks)
    assert all(c.embed_text.startswith("عنوان\n") for c in chunks)
    # consecutive chunks overlap by whole trailing sentences
    for first, second in zip(chunks, chunks[1:]):
        last_sentence = split_sentences(first.text)[-1]
        assert second.text.startswith(last_sentence)
    # every sentence is somewhere
    joined = " ".join(c.text for c in chunks)
    assert all(s in joined for s in sentences)


def test_chunk_ids_are_stable_and_content_derived():
    article = Article(id="a", title="T", text="One. Two. Three.")
    first = [c.chunk_id for c in chunk_article(article, words, 4, 0)]
    assert first == [c.chunk_id for c in chunk_article(article, words, 4, 0)]
    changed = Article(id="a", title="T", text="One. Two. Four.")
    assert first != [c.chunk_id for c in chunk_article(changed, words, 4, 0)]


def test_long_sentence_without_punctuation_is_split():
    article = Article(id="a", title="", text=" ".join(["كلمة"] * 100))
    chunks = chunk_article(article, words, max_tokens=20, overlap_tokens=0)
    assert all(words(c.text) <= 20 for c in chunks)
    assert sum(words(c.text) for c in chunks) == 100


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(alphabet="ابتثجحخد هوزر.؟،\n", min_size=1, max_size=80), min_size=1, max_size=30))
def test_chunking_never_exceeds_budget(parts):
    text = " ".join(parts)
    if not text.strip():
        return
    chunks = chunk_article(Article(id="x", title="", text=text), words, max_tokens=15, overlap_tokens=5)
    assert all(words(c.text) <= 15 for c in chunks)
    assert len({c.chunk_id for c in chunks}) == len(chunks)
