"""When and how segments are merged (tiered, as tantivy's log merge policy): `plan_merge` picks the run,
`Merger` rewrites it as one segment (dropping deleted rows) and commits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from rag.index.commit import Generations, copy_manifest
from rag.index.segments import Segment, SegmentInput, read_for_merge, write_segment
from rag.index.store import Manifest, SegmentRef, UpdateReport

# Tiered merges: segments are grouped in levels of MERGE_FACTOR× size above LEVEL_BASE chunks;
# MERGE_FACTOR adjacent segments of one level become one. The count stays ~MERGE_FACTOR per
# level (≈ 30 at 1M chunks); merges past AUTO_MERGE_MAX chunks wait for `rag index optimize`.
MERGE_FACTOR = 8
LEVEL_BASE = 1_000
AUTO_MERGE_MAX = 1_000_000
# A segment with more than this share of deleted chunks is rewritten on its own.
EXPUNGE_SHARE = 0.5


def level(chunks: int) -> int:
    return 0 if chunks < LEVEL_BASE else 1 + int(math.log(chunks / LEVEL_BASE, MERGE_FACTOR))


def plan_merge(segments: Sequence[SegmentRef]) -> list[int] | None:
    """Positions of adjacent segments to merge next (tiers of MERGE_FACTOR), or None."""
    levels = [level(s.live_chunks) for s in segments]
    for start in range(0, len(segments) - MERGE_FACTOR + 1):
        run = list(range(start, start + MERGE_FACTOR))
        if len({levels[i] for i in run}) == 1 and sum(segments[i].live_chunks for i in run) <= AUTO_MERGE_MAX:
            return run
    for i, ref in enumerate(segments):
        if ref.chunks and ref.deleted_chunks / ref.chunks > EXPUNGE_SHARE and ref.live_chunks <= AUTO_MERGE_MAX:
            return [i]
    return None


class Merger:
    def __init__(self, index_dir: Path, generations: Generations) -> None:
        self.index_dir = Path(index_dir)
        self.generations = generations

    def by_policy(self, manifest: Manifest, report: UpdateReport) -> None:
        while True:
            run = plan_merge(manifest.segments)
            if run is None:
                return
            manifest = self.merge(manifest, run, report)

    def merge(self, manifest: Manifest, run: list[int], report: UpdateReport) -> Manifest:
        """Rewrite the segments at positions `run` (adjacent) as one, and commit that."""
        data = SegmentInput()
        sources = [manifest.segments[i] for i in run]
        for ref in sources:
            segment = Segment(self.index_dir / ref.name, ref.number, ref.deleted)
            try:
                read_for_merge(segment, data)
            finally:
                segment.close()
        number = manifest.next_segment
        manifest = copy_manifest(manifest)
        manifest.next_segment += 1
        name = f"seg-{number:08d}"
        summary = write_segment(self.index_dir / name, data, manifest.dim)
        merged = SegmentRef(name, number, summary["articles"], summary["chunks"], summary["tokens"], summary["dense"])
        segments = manifest.segments
        manifest.segments = segments[: run[0]] + ([merged] if merged.articles else []) + segments[run[-1] + 1 :]
        self.generations.commit(manifest)
        report.segments_merged += len(run)
        self.generations.sweep()
        return manifest
