"""The live archive on the native HTTP API: sources, alerts (with a stream of new matches), stories, timelines.

The same operations as `rag sources/alerts/story/timeline`, with the same validation and shapes; the app
includes `router` behind its key (rag.surfaces.server.create_app) and turns the errors into 4xx (InputError and
FilterError: 422 naming the field; NotFoundError: 404).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from rag.errors import NotFoundError
from rag.live.alerts import AlertBook
from rag.live.sources import SourceBook, parse_duration

#: how often the alert stream looks for new matches, and sends a keep-alive comment
STREAM_POLL_S = 1.0

router = APIRouter(tags=["live"])


class SourceRequest(BaseModel):
    url: str = Field(..., max_length=2000)
    outlet: str | None = Field(None, max_length=200)
    every: str = Field("10m", max_length=20)


class AlertRequest(BaseModel):
    question: str = Field(..., min_length=1, max_length=2000)
    outlet: str | None = Field(None, max_length=200)
    since: str | None = Field(None, max_length=40)
    webhook: str | None = Field(None, max_length=2000)


def _book(kind: type, request: Request) -> Any:
    """The sources' or alerts' tables of this server's index, for one request (a context manager)."""
    return kind(request.app.state.settings.index_dir)


@router.get("/api/sources")
def list_sources(request: Request) -> list[dict[str, Any]]:
    with _book(SourceBook, request) as book:
        return [s.to_dict() for s in book.all()]


@router.post("/api/sources")
def add_source(body: SourceRequest, request: Request) -> dict[str, Any]:
    with _book(SourceBook, request) as book:
        return book.add(body.url, body.outlet, parse_duration(body.every)).to_dict()


@router.get("/api/alerts")
def list_alerts(request: Request) -> list[dict[str, Any]]:
    with _book(AlertBook, request) as book:
        counts = book.counts()
        return [{**a.to_dict(), "matches": counts.get(a.id, (0, None))[0]} for a in book.all()]


@router.post("/api/alerts")
def add_alert(body: AlertRequest, request: Request) -> dict[str, Any]:
    with _book(AlertBook, request) as book:
        return book.add(body.question, body.outlet, body.since, body.webhook).to_dict()


@router.get("/api/alerts/matches")
def alert_matches(request: Request, after: int = Query(0, ge=0), alert_id: int | None = Query(None, ge=1),
                  limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
    """Matches after the cursor `after` (a match's `seq`); `cursor` is the value to send next time."""
    with _book(AlertBook, request) as book:
        matches = [m.to_dict() for m in book.matches(alert_id, after, limit)]
    return {"matches": matches, "cursor": matches[-1]["seq"] if matches else after}


@router.get("/api/alerts/stream")
async def alert_stream(request: Request, after: int = Query(0, ge=0), alert_id: int | None = Query(None, ge=1)) -> StreamingResponse:
    """Server-sent events: each new match as `event: match` (its `seq` as the event id, so a client
    reconnects with Last-Event-ID), a keep-alive comment otherwise."""
    start = _last_event_id(request.headers.get("last-event-id"), after)

    async def events() -> AsyncIterator[str]:
        cursor = start
        while not await request.is_disconnected():
            with _book(AlertBook, request) as book:
                found = book.matches(alert_id, cursor, 100)
            for m in found:
                cursor = m.seq
                yield f"id: {m.seq}\nevent: match\ndata: {json.dumps(m.to_dict(), ensure_ascii=False)}\n\n"
            if not found:
                yield ": keep-alive\n\n"
                await asyncio.sleep(STREAM_POLL_S)

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.get("/api/alerts/{alert_id}")
def show_alert(alert_id: int, request: Request, after: int = Query(0, ge=0)) -> dict[str, Any]:
    with _book(AlertBook, request) as book:
        alert = book.get(alert_id)
        if alert is None:
            raise NotFoundError(f"no alert {alert_id}; GET /api/alerts lists them")
        return {**alert.to_dict(), "matches": [m.to_dict() for m in book.matches(alert_id, after, 1000)]}


@router.delete("/api/alerts/{alert_id}")
def remove_alert(alert_id: int, request: Request) -> dict[str, Any]:
    with _book(AlertBook, request) as book:
        if not book.remove(alert_id):
            raise NotFoundError(f"no alert {alert_id}; GET /api/alerts lists them")
    return {"removed": alert_id}


@router.get("/api/stories/{story_id:path}")
def story(story_id: str, request: Request) -> dict[str, Any]:
    return request.app.state.archive.story(story_id)


@router.get("/api/timeline")
def timeline(request: Request, subject: str = Query(..., min_length=1, max_length=200), since: str | None = None,
             until: str | None = None, outlet: str | None = None) -> dict[str, Any]:
    archive = request.app.state.archive
    return archive.timeline(subject, archive.filters(outlet, since, until))


def _last_event_id(header: str | None, default: int) -> int:
    try:
        return max(default, int(header)) if header else default
    except ValueError:
        return default
