"""Sentence-aware chunks sized in the embedder's tokens.

Arabic news copy ends sentences with `.` `؟` `!` `؛` and often runs long
clauses joined by `،`; paragraphs are separated by newlines. Chunks are
packed from whole sentences up to `max_tokens`, consecutive chunks share
about `overlap_tokens` of trailing sentences, and an over-long sentence is
split at commas, then at words. Chunk ids are derived from content, so an
unchanged article produces the same ids on every run.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from rag.ingest.corpus import Article
from rag.language import split_sentences

TokenCounter = Callable[[str], int]

_CLAUSE_END = re.compile(r"(?<=[،,;:])\s+")


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    article_id: str
    ordinal: int
    title: str
    text: str

    @property
    def embed_text(self) -> str:
        """What is embedded and lexically indexed: the title travels with every chunk."""
        return f"{self.title}\n{self.text}" if self.title else self.text


def _split_long(sentence: str, max_tokens: int, count: TokenCounter) -> list[str]:
    if count(sentence) <= max_tokens:
        return [sentence]
    pieces: list[str] = []
    clauses = _CLAUSE_END.split(sentence)
    if len(clauses) == 1:
        words = sentence.split()
        if len(words) == 1:  # one enormous "word" (a URL, a table): cut by characters
            step = max(16, max_tokens * 2)
            return [sentence[i : i + step] for i in range(0, len(sentence), step)]
        clauses = words
    current = ""
    for clause in clauses:
        candidate = f"{current} {clause}".strip()
        if current and count(candidate) > max_tokens:
            pieces.extend(_split_long(current, max_tokens, count))
            current = clause
        else:
            current = candidate
    if current:
        pieces.extend(_split_long(current, max_tokens, count) if current != sentence else [current])
    return pieces


def chunk_article(article: Article, count: TokenCounter, max_tokens: int = 200, overlap_tokens: int = 40) -> list[Chunk]:
    """Pack sentences into chunks of at most `max_tokens` (plus the title) with overlap."""
    budget = max(16, max_tokens - count(article.title)) if article.title else max_tokens
    sentences: list[tuple[str, int]] = []
    for sentence in split_sentences(article.text):
        for piece in _split_long(sentence, budget, count):
            sentences.append((piece, count(piece)))
    chunks: list[list[tuple[str, int]]] = []
    current: list[tuple[str, int]] = []
    size = 0
    for sentence, tokens in sentences:
        if current and size + tokens > budget:
            chunks.append(current)
            carried: list[tuple[str, int]] = []
            carried_size = 0
            for prev in reversed(current):
                if carried_size + prev[1] > overlap_tokens or carried_size + prev[1] + tokens > budget:
                    break
                carried.insert(0, prev)
                carried_size += prev[1]
            current, size = carried, carried_size
        current.append((sentence, tokens))
        size += tokens
    if current:
        chunks.append(current)
    result: list[Chunk] = []
    seen: set[str] = set()
    for ordinal, parts in enumerate(chunks):
        text = " ".join(s for s, _ in parts)
        digest = hashlib.sha1(f"{article.id}\x00{article.title}\x00{text}".encode()).hexdigest()[:16]
        while digest in seen:  # the same passage twice in one article
            digest = hashlib.sha1(digest.encode()).hexdigest()[:16]
        seen.add(digest)
        result.append(Chunk(chunk_id=digest, article_id=article.id, ordinal=ordinal, title=article.title, text=text))
    return result
