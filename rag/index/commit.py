"""The index directory's generations: commit a manifest, record deletions, sweep what is no longer used.

A commit writes the next `manifest-<generation>.json` and swaps `CURRENT` to it atomically (rag.index.store.write_manifest):
readers keep the generation they opened. Deletions are new immutable `del-<generation>.npy` files beside the
segments that lose articles. The sweep removes what neither the live nor the previous manifest uses (unfinished
segments too), so a reader of the previous generation is never left without its files.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from rag.index.segments import StoredArticle
from rag.index.store import IndexStore, Manifest, SegmentRef, current_generation, now, write_manifest


class Generations:
    def __init__(self, index_dir: Path) -> None:
        self.index_dir = Path(index_dir)

    def commit(self, manifest: Manifest) -> None:
        manifest.generation += 1
        manifest.updated_at = now()
        manifest.recount()
        write_manifest(self.index_dir, manifest)

    def apply_deletions(self, manifest: Manifest, live: IndexStore | None, articles: Sequence[StoredArticle]) -> None:
        """Write new deletion files for the segments that lose articles (immutable, one per generation)."""
        if live is None or not articles:
            return
        by_segment: dict[int, list[StoredArticle]] = {}
        for article in articles:
            by_segment.setdefault(article.segment, []).append(article)
        segments = {s.number: s for s in live.segments}
        kept = []
        for ref in manifest.segments:
            lost = by_segment.get(ref.number)
            if lost:
                segment = segments[ref.number]
                ords = np.union1d(segment.deleted_articles, np.array([a.ord for a in lost], dtype=np.int64)).astype(np.int64)
                chunk_lost = int(np.isin(segment.chunk_article, ords).sum())
                if len(ords) >= ref.articles:
                    continue  # every article of the segment is gone: drop the segment
                name = f"del-{manifest.generation + 1:08d}.npy"
                np.save(self.index_dir / ref.name / name, ords)
                ref = replace(ref, deleted=name, deleted_articles=len(ords), deleted_chunks=chunk_lost)
            kept.append(ref)
        manifest.segments = kept

    def sweep(self) -> None:
        """Remove what neither the live nor the previous manifest uses (unfinished segments too)."""
        keep_manifests = set()
        live = current_generation(self.index_dir)
        if live is not None and live.name.startswith("manifest-"):
            keep_manifests.add(live.name)
            previous = sorted(p for p in self.index_dir.glob("manifest-*.json") if p.name < live.name)
            if previous:
                keep_manifests.add(previous[-1].name)
        used: dict[str, set[str]] = {}
        for name in keep_manifests:
            for ref in Manifest.read(self.index_dir / name).segments:
                used.setdefault(ref.name, set()).add(ref.deleted or "")
        for path in self.index_dir.iterdir():
            if path.name.startswith("manifest-") and path.name not in keep_manifests:
                path.unlink(missing_ok=True)
            elif path.name.startswith(("seg-", "gen-", "tmp-")) and path.name not in used:
                shutil.rmtree(path, ignore_errors=True)
            elif path.name in used:
                for file in path.glob("del-*.npy"):
                    if file.name not in used[path.name]:
                        file.unlink(missing_ok=True)



def copy_manifest(manifest: Manifest) -> Manifest:
    data = json.loads(manifest.to_json())
    segments = data.pop("segments")
    clone = Manifest(**data)
    clone.segments = [SegmentRef(**s) for s in segments]
    return clone
