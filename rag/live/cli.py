"""The live archive's commands: `rag sources …`, `rag watch`, `rag alerts …`, `rag story`, `rag timeline`."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from rag import load_settings
from rag.config import resource_path
from rag.errors import RagError
from rag.surfaces.options import ConfigOpt, CorpusOpt, IndexOpt, JsonOpt, OutletOpt, SinceOpt, UntilOpt, print_json

sources_app = typer.Typer(help="Feeds and sitemaps the archive pulls from (polled by `rag watch`).", no_args_is_help=True)
alerts_app = typer.Typer(help="Standing questions: matched against every update's new articles.", no_args_is_help=True)



# --- sources -------------------------------------------------------------------------------


@sources_app.command("add")
def sources_add(
    url: str,
    outlet: Annotated[Optional[str], typer.Option(help="The outlet's name for its articles (default: the page's site name).")] = None,
    every: Annotated[str, typer.Option(help="How often to poll it: 30s, 10m, 1h, 1d.")] = "10m",
    index: IndexOpt = None, config: ConfigOpt = None, as_json: JsonOpt = False,
) -> None:
    """Add (or change) an RSS/Atom feed or a (news) sitemap."""
    from rag.live.sources import SourceBook, parse_duration

    settings = load_settings(config, index_dir=index)
    with SourceBook(settings.index_dir) as book:
        source = book.add(url, outlet, parse_duration(every))
    if as_json:
        print_json(source.to_dict())
        return
    typer.echo(f"source {source.url} added: polled every {source.every_s} s by `rag watch`" + (f", outlet {source.outlet}" if source.outlet else ""))


@sources_app.command("list")
def sources_list(index: IndexOpt = None, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Each source: schedule, last success, last error, articles added, newest item, lag."""
    from rag.live.sources import SourceBook

    settings = load_settings(config, index_dir=index)
    with SourceBook(settings.index_dir) as book:
        sources = [s.to_dict() for s in book.all()]
    if as_json:
        print_json(sources)
        return
    if not sources:
        typer.echo("no sources; add one with `rag sources add URL`")
    for s in sources:
        lag = f"{s['lag_s']:.0f} s ago" if s["lag_s"] is not None else "never"
        typer.echo(f"{s['url']}  every {s['every_s']} s  last success {lag}  {s['articles_added']} articles"
                   + (f"  newest {s['newest']}" if s["newest"] else "") + (f"  outlet {s['outlet']}" if s["outlet"] else ""))
        if s["last_error"]:
            typer.echo(f"  last error: {s['last_error']}")


@sources_app.command("remove")
def sources_remove(url: str, index: IndexOpt = None, config: ConfigOpt = None) -> None:
    """Stop polling a source (its articles stay in the corpus and the index)."""
    from rag.live.sources import SourceBook

    settings = load_settings(config, index_dir=index)
    with SourceBook(settings.index_dir) as book:
        if not book.remove(url):
            raise RagError(f"no source {url!r}; `rag sources list` shows them")
    typer.echo(f"source {url} removed (its articles stay indexed)")


# --- watch ---------------------------------------------------------------------------------


def corpus_for_watch(settings: Any) -> Path:
    corpus = Path(settings.corpus_dir)
    if corpus.resolve() == resource_path("examples/corpus").resolve():
        raise RagError("rag watch needs a corpus folder of your own (fetched articles are saved in it): "
                       "pass --corpus DIR or set RAG_CORPUS_DIR")
    corpus.mkdir(parents=True, exist_ok=True)
    return corpus


def watch(corpus: CorpusOpt = None, index: IndexOpt = None, config: ConfigOpt = None,
          once: Annotated[bool, typer.Option("--once", help="Poll due sources and update once, then exit (for cron).")] = False,
          as_json: JsonOpt = False) -> None:
    """Keep the index current: watch the corpus folder, poll the sources on their schedules, run the alerts.
    Runs until SIGTERM or Ctrl-C; safe to kill and restart (nothing is lost or indexed twice)."""
    from rag.live.alerts import AlertRunner
    from rag.live.watch import Watcher

    settings = load_settings(config, corpus_dir=corpus, index_dir=index)
    watcher = Watcher(settings, corpus_for_watch(settings), on_event=_print_event(as_json),
                      after_update=AlertRunner(settings), watch_folders=not once)
    if once:
        watcher.run_once()
        return
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: watcher.stop.set())
    typer.echo(f"watching {watcher.corpus_dir} into {watcher.index_dir} (Ctrl-C or SIGTERM stops)", err=True)
    watcher.run()
    typer.echo("stopped", err=True)


def _print_event(as_json: bool):
    def show(event: Any) -> None:
        if as_json:
            data = {"kind": event.kind, "at": event.at, "seconds": round(event.seconds, 3), "message": event.message, **event.extra}
            if event.poll is not None:
                data["poll"] = event.poll.to_dict()
            if event.report is not None:
                data["update"] = event.report.to_dict()
            typer.echo(json.dumps(data, ensure_ascii=False))
        elif event.kind == "poll":
            p = event.poll
            typer.echo(f"{event.at} poll {p.source}: {p.added} new, {p.updated} updated, {p.duplicates} duplicates"
                       + (f", {len(p.errors)} errors (first: {p.errors[0]})" if p.errors else ""))
        elif event.kind == "update":
            r = event.report
            typer.echo(f"{event.at} index: {r.added} added, {r.updated} updated, {r.removed} removed in {event.seconds:.1f} s"
                       + (f"; {event.extra.get('alert_matches')} alert matches" if event.extra.get("alert_matches") else ""))
            for error in r.errors:
                typer.echo(f"problem: {error['path']}: {error['error']}", err=True)
        else:
            typer.echo(f"{event.at} {event.message}", err=True)
        sys.stdout.flush()

    return show


# --- alerts --------------------------------------------------------------------------------


@alerts_app.command("add")
def alerts_add(
    question: str,
    outlet: OutletOpt = None,
    since: SinceOpt = None,
    webhook: Annotated[Optional[str], typer.Option(help="POST each match here as JSON (retried with backoff).")] = None,
    index: IndexOpt = None, config: ConfigOpt = None, as_json: JsonOpt = False,
) -> None:
    """Follow a question: new articles that answer it are kept as matches (prints the alert's id)."""
    from rag.live.alerts import AlertBook

    settings = load_settings(config, index_dir=index)
    with AlertBook(settings.index_dir) as book:
        alert = book.add(question, outlet, since, webhook)
    if as_json:
        print_json(alert.to_dict())
        return
    typer.echo(alert.id)


@alerts_app.command("list")
def alerts_list(index: IndexOpt = None, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """The standing questions, with how many matches each has."""
    from rag.live.alerts import AlertBook

    settings = load_settings(config, index_dir=index)
    with AlertBook(settings.index_dir) as book:
        counts = book.counts()
        alerts = [{**a.to_dict(), "matches": counts.get(a.id, (0, None))[0], "last_match": counts.get(a.id, (0, None))[1]}
                  for a in book.all()]
    if as_json:
        print_json(alerts)
        return
    if not alerts:
        typer.echo("no alerts; add one with `rag alerts add QUESTION`")
    for a in alerts:
        extra = "".join(f"  {k} {a[k]}" for k in ("outlet", "since", "webhook") if a[k])
        typer.echo(f"{a['id']:4d}  {a['question']}  ({a['matches']} matches){extra}")


@alerts_app.command("show")
def alerts_show(alert_id: int, after: Annotated[int, typer.Option(help="Only matches after this cursor (seq).")] = 0,
                index: IndexOpt = None, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """An alert's matches: article id, outlet, date, URL and the matching passage."""
    from rag.live.alerts import AlertBook

    settings = load_settings(config, index_dir=index)
    with AlertBook(settings.index_dir) as book:
        alert = book.get(alert_id)
        if alert is None:
            raise RagError(f"no alert {alert_id}; `rag alerts list` shows them")
        matches = book.matches(alert_id, after=after, limit=1000)
    if as_json:
        print_json({**alert.to_dict(), "matches": [m.to_dict() for m in matches]})
        return
    typer.echo(f"{alert.id}: {alert.question} — {len(matches)} matches")
    for m in matches:
        typer.echo(f"  [{m.seq}] {m.date or 'undated'} {m.outlet}: {m.title}  {m.url or m.article_id}")
        typer.echo(f"      {m.passage[:200]}")


@alerts_app.command("remove")
def alerts_remove(alert_id: int, index: IndexOpt = None, config: ConfigOpt = None) -> None:
    """Stop following a question (its matches go too)."""
    from rag.live.alerts import AlertBook

    settings = load_settings(config, index_dir=index)
    with AlertBook(settings.index_dir) as book:
        if not book.remove(alert_id):
            raise RagError(f"no alert {alert_id}; `rag alerts list` shows them")
    typer.echo(f"alert {alert_id} removed")


# --- stories and timelines -----------------------------------------------------------------


def story(story_id: str, index: IndexOpt = None, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """A story's timeline (STORY_ID or any of its articles' ids): first report, copies and updates by outlet,
    headline changes, speakers quoted, and the outlets that did not carry it."""
    from rag.live.timeline import StoryTimeline
    from rag.service import Archive

    data = Archive.open(load_settings(config, index_dir=index)).story(story_id)
    if as_json:
        print_json(data)
        return
    found = StoryTimeline.from_dict(data)
    typer.echo(f"story {found.story_id}: {len(found.entries)} articles from {len(found.outlets)} outlets")
    typer.echo(f"first report: {found.first_report.date or 'undated'} {found.first_report.outlet}: {found.first_report.title}")
    for e in found.entries:
        typer.echo(f"  {e.date or 'undated':10}  {e.outlet:20}  {e.title}  {e.url or e.article_id}")
    if len(found.headlines) > 1:
        typer.echo("headline changes:")
        for e in found.headlines:
            typer.echo(f"  {e.date or 'undated':10}  {e.outlet}: {e.title}")
    if found.speakers:
        typer.echo("quoted: " + "; ".join(f"{s['name']} ({s['articles']})" for s in found.speakers))
    if found.not_reported_by:
        typer.echo("not reported by: " + ", ".join(found.not_reported_by))


def timeline(subject: str, since: SinceOpt = None, until: UntilOpt = None, outlet: OutletOpt = None,
             index: IndexOpt = None, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Day by day, which outlets reported about SUBJECT (one count per story), the day's leading headline,
    and which outlets did not report it."""
    from rag.live.timeline import SubjectTimeline
    from rag.service import Archive

    archive = Archive.open(load_settings(config, index_dir=index))
    data = archive.timeline(subject, archive.filters(outlet, since, until))
    if as_json:
        print_json(data)
        return
    found = SubjectTimeline.from_dict(data)
    if not found.days:
        typer.echo(f"no dated article about {subject!r}" + (f" (searched: {', '.join(found.terms)})" if found.terms else ""))
    outlets = sorted({o for d in found.days for o in d.outlets})
    short = {o: o[:10] for o in outlets}
    if found.days:
        typer.echo(f"{'date':10}  " + "  ".join(f"{short[o]:>10}" for o in outlets) + "  leading headline")
    for d in found.days:
        typer.echo(f"{d.date:10}  " + "  ".join(f"{d.outlets.get(o, 0) or '·':>10}" for o in outlets) + f"  {d.headline[:70]}")
    typer.echo(f"{found.articles} articles" + (f", {found.undated} undated (not in the table)" if found.undated else ""))
    for o, first in sorted(found.first_by_outlet.items(), key=lambda x: x[1]):
        typer.echo(f"  first in {o}: {first}")
    if found.not_reported_by:
        typer.echo("not reported by: " + ", ".join(found.not_reported_by))


def register(app: typer.Typer) -> None:
    app.add_typer(sources_app, name="sources")
    app.add_typer(alerts_app, name="alerts")
    app.command()(watch)
    app.command()(story)
    app.command()(timeline)
