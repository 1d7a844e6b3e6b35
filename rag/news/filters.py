"""What a search may return: `Filters` (outlet, dates, language), parsed and validated the same way on every
surface, and `date_bound`, the day number a YYYY / YYYY-MM / YYYY-MM-DD bound stands for."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

from rag.errors import FilterError


@dataclass(frozen=True)
class Filters:
    """Restrictions on what a search may return (all optional, combined with AND)."""

    outlet: str | None = None
    since: str | None = None
    until: str | None = None
    lang: str | None = None
    #: The window was read from the question ("in June 2018"), a guess: it rules out only articles
    #: whose publication date the corpus gave, never undated ones or ones dated from their text.
    #: A window the caller gives (--since/--until) rules out everything outside it.
    soft_dates: bool = False

    def active(self) -> bool:
        return any((self.outlet, self.since, self.until, self.lang))

    @classmethod
    def parse(cls, outlet: str | None = None, since: str | None = None, until: str | None = None, lang: str | None = None) -> "Filters":
        """Filters as typed on any surface (CLI, API, LangChain), validated the same way everywhere:
        dates are YYYY-MM-DD (or YYYY-MM, YYYY); a bad one is an error, never ignored."""
        from rag.ingest.corpus import parse_date

        bounds: list[str | None] = []
        for name, given in (("since", since), ("until", until)):
            value = (given or "").strip() or None
            if value and not _PARTIAL_DATE.match(value):
                value = parse_date(value) or value
            if value and not _valid_bound(value):
                raise FilterError(f"{name} {given!r} is not a date; use YYYY-MM-DD (or YYYY-MM, YYYY) with years 1-9999", name)
            bounds.append(value)
        if bounds[0] and bounds[1] and date_bound(bounds[0], end=False) > date_bound(bounds[1], end=True):
            raise FilterError(f"since {bounds[0]} is after until {bounds[1]}; swap them", "since")
        return cls(outlet=(outlet or "").strip() or None, since=bounds[0], until=bounds[1], lang=(lang or "").strip() or None)


_PARTIAL_DATE = re.compile(r"^\d{4}(?:-\d{2})?$")


def _valid_bound(value: str) -> bool:
    try:
        date_bound(value, end=False), date_bound(value, end=True)
    except ValueError:
        return False
    return True


def date_bound(value: str, end: bool) -> int:
    """Day number of a filter bound: YYYY, YYYY-MM or YYYY-MM-DD (a partial `until` means its last day)."""
    parts = value.strip()[:10].split("-")
    year = int(parts[0])
    if len(parts) == 1:
        day = dt.date(year, 12, 31) if end else dt.date(year, 1, 1)
    elif len(parts) == 2:
        month = int(parts[1])
        day = dt.date(year, month, 1)
        if end:
            day = day.replace(day=calendar.monthrange(year, month)[1])
    else:
        day = dt.date(year, int(parts[1]), int(parts[2]))
    return day.toordinal()
