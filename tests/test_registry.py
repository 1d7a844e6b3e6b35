"""Embedders, LLM backends and corpus readers are looked up in registries that plugins extend."""

import numpy as np
import pytest

from rag.ingest.corpus import Article, iter_corpus
from rag.config import Settings
from rag.models.embeddings import load_embedder
from rag.errors import ModelError
from rag.models.llms import load_llm
from rag.registry import EMBEDDERS, LLMS, READERS


class Constant:
    id = "const:8"
    dim = 8

    def embed_passages(self, texts):
        return np.ones((len(texts), 8), np.float32) / np.sqrt(8)

    embed_queries = embed_passages

    def count_tokens(self, text):
        return len(text.split())


def test_a_registered_embedder_is_loaded_by_name():
    EMBEDDERS.register("const", lambda argument, threads, device: Constant())
    try:
        assert isinstance(load_embedder("const:8"), Constant)
    finally:
        EMBEDDERS.unregister("const")
    with pytest.raises(ModelError, match="unknown embedder 'nothing'.*hash"):
        load_embedder("nothing")


def test_a_registered_llm_backend_is_loaded_by_name():
    sentinel = object()
    LLMS.register("fake", lambda settings: sentinel)
    try:
        assert load_llm(Settings(llm="fake")) is sentinel
        assert load_llm(Settings(llm="extractive")) is None
    finally:
        LLMS.unregister("fake")
    with pytest.raises(ModelError, match="unknown llm 'gpt-9'"):
        load_llm(Settings(llm="gpt-9"))


def test_a_registered_reader_reads_its_files(tmp_path):
    (tmp_path / "page.xyz").write_text("TITLE|نص المقال هنا", encoding="utf-8")
    (tmp_path / "a.txt").write_text("عنوان\n\nنص", encoding="utf-8")

    def read_xyz(base, path, detector):
        title, text = path.read_text(encoding="utf-8").split("|")
        return [Article(id=path.stem, title=title, text=text, source_path=path.name)]

    assert [a.id for a in iter_corpus(tmp_path) if isinstance(a, Article)] == ["a"]
    READERS.register(".xyz", read_xyz)
    try:
        assert sorted(a.id for a in iter_corpus(tmp_path) if isinstance(a, Article)) == ["a", "page"]
    finally:
        READERS.unregister(".xyz")
