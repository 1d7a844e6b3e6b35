"""The index on disk: `writer` (updates) → `commit` (generations) → `merge` (policy); `segments` (one
immutable segment: docstore, columns, dense, `lexical`, `vocabulary`); `store` (one opened generation over its
segments); `status`; `distributed` (Ray embedding); `sql` helpers."""
