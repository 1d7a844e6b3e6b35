"""The Ray engine builds the same index as the local one (a local 2-CPU Ray cluster)."""

import numpy as np
import pytest

pytest.importorskip("ray.data", reason="the ray extra is not installed: pip install '.[ray]'")

from rag import load_settings, update_index  # noqa: E402
from rag.index.distributed import RayOptions  # noqa: E402
from rag.retrieval import Retriever  # noqa: E402
from rag.models.embeddings import load_embedder  # noqa: E402
from rag.index.store import IndexStore  # noqa: E402

from helpers import write_article  # noqa: E402

pytestmark = pytest.mark.ray

QUESTIONS = ["لافروف الرقة", "جنيف وقف إطلاق النار", "أسعار النفط أوبك", "حلب", "الموصل العراق"]


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _settings(corpus, index):
    return load_settings(corpus_dir=corpus, index_dir=index, embedder="hash:96", chunk_tokens=40, chunk_overlap_tokens=8, threads=1)


def _dump(index):
    store = IndexStore.open(index)
    rows = []
    for segment in store.segments:
        for chunk_id, article_ord, pos in segment.db.execute("SELECT chunk_id, article_ord, pos FROM chunks ORDER BY pos"):
            rows.append((chunk_id, segment.dense.reconstruct(int(pos))))
    return store, dict(rows)


def test_ray_build_equals_local_build(news_corpus, tmp_path, ray_cluster):
    for i in range(12):
        write_article(news_corpus, f"more/{i:02d}.md", f"خبر {i}", f"قال المتحدث في اليوم {i} إن الوضع في حلب والموصل يتحسن. " * 3, outlet="SANA", date=f"2016-08-{i + 1:02d}")
    local = update_index(_settings(news_corpus, tmp_path / "local"))
    distributed = update_index(_settings(news_corpus, tmp_path / "ray"), ray=RayOptions(workers=2, batch_rows=4))
    assert distributed.chunks_embedded == local.chunks_embedded > 10
    a, vectors_a = _dump(tmp_path / "local")
    b, vectors_b = _dump(tmp_path / "ray")
    assert set(vectors_a) == set(vectors_b)
    assert all(np.allclose(vectors_a[k], vectors_b[k], atol=1e-6) for k in vectors_a)
    assert (a.manifest.articles, a.manifest.chunks) == (b.manifest.articles, b.manifest.chunks)
    embedder = load_embedder("hash:96", 1)
    for question in QUESTIONS:
        hits_a = [h.chunk.chunk_id for h in Retriever(a, embedder).search(question, k=5).hits]
        hits_b = [h.chunk.chunk_id for h in Retriever(b, embedder).search(question, k=5).hits]
        assert hits_a == hits_b
    # an update through Ray embeds only the changed article
    write_article(news_corpus, "more/new.md", "جديد", "خبر جديد عن تونس.", outlet="SANA")
    report = update_index(_settings(news_corpus, tmp_path / "ray"), ray=RayOptions(workers=2))
    assert (report.added, report.chunks_embedded) == (1, 1)
