"""The command line's shared options, declared once: every command that takes a corpus, an index, a
settings file, JSON output or the article filters takes them with the same name and help (`rag` and the
live commands of rag.live.cli alike)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

CorpusOpt = Annotated[Optional[Path], typer.Option("--corpus", help="Corpus directory (default: RAG_CORPUS_DIR or the sample corpus); `rag watch` saves fetched articles under its feeds/.")]
IndexOpt = Annotated[Optional[Path], typer.Option("--index", help="Index directory (default: RAG_INDEX_DIR or ./index).")]
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="TOML settings file (default: RAG_CONFIG or ./rag.toml).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
OutletOpt = Annotated[Optional[str], typer.Option(help="Only this outlet, in either script or as a domain (al jazeera, الجزيرة, aljazeera.net).")]
SinceOpt = Annotated[Optional[str], typer.Option(help="Only articles dated on/after YYYY-MM-DD (or YYYY-MM, YYYY).")]
UntilOpt = Annotated[Optional[str], typer.Option(help="Only articles dated on/before YYYY-MM-DD (or YYYY-MM, YYYY).")]
LangOpt = Annotated[Optional[str], typer.Option(help="Only articles in this language (ar, en, …).")]
LlmOpt = Annotated[Optional[str], typer.Option("--llm", help="llama (default, local), openai or extractive.")]
InsecureOpt = Annotated[bool, typer.Option("--insecure", envvar="RAG_INSECURE", help="Allow a non-loopback --host without RAG_API_KEY (anyone on the network can read the archive).")]
EngineOpt = Annotated[str, typer.Option("--engine", help="Where chunks are embedded: local, or ray (the ray extra).")]
AddressOpt = Annotated[Optional[str], typer.Option("--address", help="Ray cluster: auto or ray://HOST:PORT (default: start a local one).")]
WorkersOpt = Annotated[int, typer.Option("--workers", min=1, help="Ray embedding workers.")]
GpusOpt = Annotated[float, typer.Option("--gpus-per-worker", min=0.0, help="GPUs per Ray worker (0: CPU).")]


def print_json(data: Any) -> None:
    """`--json` output: indented, non-ASCII kept (Arabic stays readable)."""
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
