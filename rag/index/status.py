"""What the index holds, how it is laid out and how big it is: `rag index status`, /api/status."""

from __future__ import annotations

from collections import Counter
from typing import Any


def disk_bytes(store: Any) -> dict[str, int]:
    """Bytes on disk by part: dense vectors, BM25 postings, docstore (and the rest)."""
    sizes: Counter[str] = Counter()
    for segment in store.segments:
        for path in segment.path.iterdir():
            kind = "dense" if path.name in ("dense.faiss", "vectors.npy") else "lexical" if path.name.startswith("lex_") else "docstore"
            sizes[kind] += path.stat().st_size
    return dict(sizes)


def index_status(store: Any) -> dict[str, Any]:
    m = store.manifest
    disk = disk_bytes(store)
    resident = sum((s.path / "dense.faiss").stat().st_size for s in store.segments if (s.path / "dense.faiss").exists())
    return {
        "articles": m.articles,
        "chunks": m.chunks,
        "stories": store.story_count(),
        "outlets": store.outlet_counts(),
        "embedder": m.embedder,
        "index_dir": str(store.index_dir),
        "generation": m.generation,
        "updated_at": m.updated_at,
        **dict(zip(("oldest_article", "newest_article"), store.date_range())),
        "segments": [
            {"name": r.name, "chunks": r.chunks, "deleted_chunks": r.deleted_chunks, "dense": r.dense} for r in m.segments
        ],
        "dense_index": sorted({r.dense for r in m.segments}) or ["flat"],
        "vectors": sum(r.chunks for r in m.segments),
        "disk_bytes": disk,
        "disk_bytes_total": sum(disk.values()),
        # Resident once searched: dense.faiss (float vectors, or 8-bit codes in big segments); the float
        # copy of an 8-bit segment, the postings and the docstore are memory-mapped / paged by the OS.
        "memory_bytes_per_chunk": round(resident / max(m.chunks, 1), 1),
    }


def warm_pages(store: Any, skip: set[str] | None = None) -> set[str]:
    """Read the files that searches touch page by page (postings, float vectors, columns, story
    tables, docstore) once, sequentially, and load the dense indexes: a process that starts on a cold
    page cache otherwise faults them in a few KB at a time. 1M chunks, page cache dropped, 200
    searches (bench/bench_scale.py --search-only --cold): p95 72-80 ms unwarmed, 37-39 ms after this
    (9-10 s for 5.7 GB); without the docstore it was 47 ms. Segments named in `skip` are left out;
    returns the names of the segments warmed."""
    warmed: set[str] = set()
    for segment in store.segments:
        if skip is not None and segment.path.name in skip:
            continue
        for path in segment.paged_files():
            with open(path, "rb") as handle:
                while handle.read(1 << 20):
                    pass
        segment.dense  # noqa: B018 - loads the index once, before the first search needs it
        warmed.add(segment.path.name)
    return warmed
