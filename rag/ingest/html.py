"""Saved web pages (.html, .htm) as articles: main text, title, date and site name by trafilatura.

An optional extra (`pip install '.[html]'`); without it an HTML file is reported as an error that says
so, and the rest of the corpus is indexed. The site name becomes the outlet when the page has no outlet
the outlet table knows better (rag.news.outlets).
"""

from __future__ import annotations

from pathlib import Path

from rag.ingest.corpus import MAX_ARTICLE_BYTES, Article, build_article, decode_bytes
from rag.errors import CorpusError
from rag.news.outlets import OutletDetector


def page_record(html: str, detector: OutletDetector) -> dict[str, str | None] | None:
    """An article page's fields as a corpus record (title, text, date, url, outlet), or None when the
    page holds no article text. Needs trafilatura (ImportError otherwise)."""
    import trafilatura

    extracted = trafilatura.bare_extraction(html, with_metadata=True, include_comments=False)
    if extracted is None:
        return None
    page = extracted.as_dict() if hasattr(extracted, "as_dict") else dict(extracted)
    title = (page.get("title") or "").strip()
    text = (page.get("text") or "").strip()
    first, _, rest = text.partition("\n")
    if title and first.strip() == title:  # the headline again at the top of the text
        text = rest.strip()
    site = (page.get("sitename") or "").strip()
    record: dict[str, str | None] = {"title": title, "text": text, "date": page.get("date"), "url": page.get("url"),
                                     "author": page.get("author"), "section": page.get("categories") or None}
    if site:
        record["outlet"] = detector.canonical(site) or site
    return record


def read_html(base: Path, path: Path, detector: OutletDetector) -> list[Article | CorpusError]:
    where = str(path)
    data = path.read_bytes()
    if len(data) > 4 * MAX_ARTICLE_BYTES:
        return [CorpusError(where, "page is too large to be one article; save the article alone")]
    try:
        record = page_record(decode_bytes(data, where), detector)
    except ImportError:
        return [CorpusError(where, "HTML pages need the html extra: pip install '.[html]' (or remove the file)")]
    if record is None:
        return [CorpusError(where, "no article text found in the page; save the article page itself")]
    rel = path.relative_to(base)
    return [build_article(record, default_id=rel.with_suffix("").as_posix(), source_path=str(rel), detector=detector, where=where)]

