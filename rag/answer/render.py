"""How an answer's parts read as text, the same on every text surface (the CLI, the OpenAI-compatible API).

- `evidence_text`: what comes first, before the model is asked — the best matching quote and the passages;
- `REPLACED_NOTICE`: said when the model's claims were dropped and quotes stand in for them.
The sources block under an answer is `Answer.sources_block` (rag.answer.engine).
"""

from __future__ import annotations

from typing import Any

REPLACED_NOTICE = "(Those claims do not answer the question.)"


def source_line(reference: Any) -> str:
    return f"[{reference.n}] {reference.outlet} — {reference.title} ({reference.date or 'undated'}) {reference.url or reference.source_path}".rstrip()


def evidence_text(sources: list[Any], quote: Any | None) -> str:
    """`Best match [n] Outlet: “quote”`, then `Passages:` and a line per passage; empty without passages."""
    if not sources:
        return ""
    lines = []
    if quote is not None:
        lines.append(f"Best match [{quote.n}] {quote.outlet}: “{quote.quote}”")
    lines += ["Passages:", *(source_line(s) for s in sources)]
    return "\n".join(lines) + "\n\n"
