from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import HashEmbedder, write_article  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch, tmp_path):
    """No test reads the developer's rag.toml, RAG_* variables or ~/.cache."""
    import os

    for name in list(os.environ):
        if name.startswith("RAG_") and name not in {"RAG_XQUAD_DIR", "RAG_REQUIRE_BROWSER"}:  # test-harness switches stay
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture
def news_corpus(tmp_path) -> Path:
    """Three small articles from two outlets with dates."""
    root = tmp_path / "corpus"
    write_article(root, "a.md", "لافروف يتحدث عن الرقة", "قال وزير الخارجية الروسي سيرغي لافروف إن معركة الرقة ستبدأ قريبا. وأضاف أن التنسيق مع واشنطن ضروري.", outlet="SANA", date="2016-03-01", url="https://example.org/a")
    write_article(root, "b.md", "كيري في جنيف", "التقى وزير الخارجية الأمريكي جون كيري نظيره في جنيف لبحث وقف إطلاق النار في سوريا.", outlet="Al Jazeera", date="2016-05-10")
    write_article(root, "sub/c.md", "أسعار النفط", "ارتفعت أسعار النفط في الأسواق العالمية اليوم بعد قرار أوبك خفض الإنتاج.", outlet="Al Jazeera", date="2017-01-02")
    return root
