"""Language handling shared by indexing and querying: script detection,
Arabic orthographic normalisation and the tokens that lexical search uses.

Arabic is written with optional short vowels (diacritics), decorative
elongation (tatweel), several alef forms and attached clitics (و, ب, ل, ال …).
Two spellings of the same word must produce the same token, or BM25 and the
name matcher miss obvious matches.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

ARABIC_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")
TATWEEL = "\u0640"
_ARABIC_LETTER = re.compile("[\u0621-\u064a\u066e-\u06d3\u06fa-\u06ff]")
_LATIN_LETTER = re.compile("[A-Za-z\u00c0-\u024f]")
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)

_ALEF_FORMS = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ى": "ي",
        "ة": "ه",
        "ؤ": "و",
        "ئ": "ي",
        # Persian/Urdu letters that turn up in Arabic news copy (سیرغی).
        "ی": "ي",
        "ک": "ك",
        "ہ": "ه",
        "ۀ": "ه",
        # Arabic-Indic digits to ASCII so dates and numbers match.
        **{chr(0x0660 + i): str(i) for i in range(10)},
        **{chr(0x06F0 + i): str(i) for i in range(10)},
    }
)

# Definite article and the conjunction/preposition clitics that attach to it.
_ARTICLE_PREFIXES = ("وال", "بال", "فال", "كال", "لل", "ال")

_ARABIC_STOPWORDS_WRITTEN = (
    """
    في من على الى إلى عن مع ان أن إن او أو ثم بل لكن لم لن ما لا قد كان كانت يكون
    هذا هذه ذلك تلك هو هي هم هن انه أنه انها أنها التي الذي الذين اللذين اللتين
    كل بعض غير بين حول حتى عند عندما كما ايضا أيضا اي أي وقد وان وأن وفي ومن و
    به بها له لها لهم منه منها فيه فيها عليه عليها اليوم امس أمس قبل بعد خلال
    ضد نحو دون لدى منذ اذا إذا الا إلا وهو وهي كانوا يكن ليس ليست اما أما هل
    """.split()
)

ENGLISH_STOPWORDS = frozenset(
    """
    a an the and or but if of to in on at by for with from as is are was were be been
    being it its this that these those what which who whom whose when where why how
    did do does done have has had having not no nor so than too very can could would
    should will shall may might must about into over under again further then once
    here there all any both each few more most other some such only own same just
    i me my we our you your he him his she her they them their say said says
    """.split()
)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def has_lone_surrogate(text: str) -> bool:
    """A UTF-16 surrogate on its own (JSON allows "\\ud800"): not a character, and not encodable as UTF-8."""
    return _LONE_SURROGATE.search(text) is not None


def strip_marks(text: str) -> str:
    """Text without Arabic diacritics and tatweel (letters and spelling untouched)."""
    return ARABIC_DIACRITICS.sub("", text).replace(TATWEEL, "")


def normalize_arabic(text: str) -> str:
    """Orthographic normalisation: no diacritics/tatweel, one alef, ى→ي, ة→ه."""
    # NFKC first: presentation forms and ligatures (ﻻ, ﷲ) become plain letters.
    return strip_marks(unicodedata.normalize("NFKC", text)).translate(_ALEF_FORMS)


# Compared with normalised tokens, so normalised the same way (على → علي).
ARABIC_STOPWORDS = frozenset(normalize_arabic(w) for w in _ARABIC_STOPWORDS_WRITTEN)


def strip_article(token: str) -> str:
    """Remove a leading definite article (with its clitic) from a normalised token."""
    for prefix in _ARTICLE_PREFIXES:
        if token.startswith(prefix) and len(token) - len(prefix) >= 2:
            return token[len(prefix) :]
    return token


def fold_latin(text: str) -> str:
    """Lower-case and strip Latin diacritics (Çavuşoğlu → cavusoglu)."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.replace("ı", "i").casefold()


def normalize(text: str) -> str:
    return fold_latin(normalize_arabic(text))


def lexical_tokens(text: str) -> list[str]:
    """Tokens for BM25: normalised, article-stripped, stopwords removed.

    A token that starts with و (and) also contributes its bare form when the
    rest is still a plausible word, since وسوريا and سوريا are the same word.
    """
    tokens: list[str] = []
    for raw in _TOKEN.findall(normalize(text)):
        if raw in ARABIC_STOPWORDS or raw in ENGLISH_STOPWORDS:
            continue
        if is_arabic_word(raw):
            token = strip_article(raw)
            if token.startswith("و") and len(token) >= 5 and token[1:] not in ARABIC_STOPWORDS:
                tokens.append(strip_article(token[1:]))
        else:
            token = raw
        if len(token) >= 2 or token.isdigit():
            tokens.append(token)
    return tokens


# Inflectional endings, longest first: plural/nisba/feminine (امريكيين, امريكيه, متحده → امريك, متحد).
_SUFFIXES = ("يين", "يون", "يات", "ين", "ون", "ات", "يه", "ه", "ي")


def light_stem(term: str) -> str:
    """A lexical term without a leading و and one inflectional ending, kept to 3+ letters.

    Groups the inflected forms of one word (سويد / سويديين, عرب / عربيه) so that
    a name's alias brings its variants along; short names (جون) are left whole.
    """
    if term.startswith("و") and len(term) >= 5:
        term = term[1:]
    for suffix in _SUFFIXES:
        if term.endswith(suffix) and len(term) - len(suffix) >= 3:
            return term[: -len(suffix)]
    return term


def written_words(text: str) -> list[str]:
    """The words of `text` as written, without diacritics."""
    return _TOKEN.findall(strip_marks(text))


def lexical_term(word: str) -> str:
    """The lexical term of one Arabic word as written (what `lexical_tokens` indexes it as)."""
    return strip_article(normalize(word))



_PHRASE_TOKEN = re.compile(r"[^\W_]+|[^\w\s]", re.UNICODE)


def arabic_phrases(text: str) -> Iterator[list[str]]:
    """Runs of consecutive Arabic words (without diacritics), broken by punctuation and other scripts."""
    run: list[str] = []
    for token in _PHRASE_TOKEN.findall(strip_marks(text)):
        if is_arabic_word(token):
            run.append(token)
        else:
            if len(run) > 1:
                yield run
            run = []
    if len(run) > 1:
        yield run


def is_arabic_word(token: str) -> bool:
    return bool(_ARABIC_LETTER.match(token))


def script_counts(text: str) -> tuple[int, int]:
    return len(_ARABIC_LETTER.findall(text)), len(_LATIN_LETTER.findall(text))


# Arabic copy ends sentences with . ؟ ! ؛ and … as often as with a full stop; a closing quote or
# bracket stays with its sentence. Chunking and answers (quotes, claim checks) split alike.
_SENTENCE_END = re.compile(r"(?<=[.!?؟؛…])\s+|(?<=[.!?؟؛…][\"'”»)\]])\s+|\n+")


def split_sentences(text: str) -> list[str]:
    """Sentences of a passage or article, in order (newlines always end one)."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def open_quotes(text: str) -> bool:
    """The text opens a quotation it does not close."""
    return text.count("«") > text.count("»") or text.count("“") > text.count("”") or text.count('"') % 2 == 1


def close_quotes(text: str) -> str:
    """The text with the quotations it opens and does not close closed at its end (a sentence whose closing
    mark went with its final punctuation, or a source that never closed it)."""
    closing = "»" * max(0, text.count("«") - text.count("»")) + "”" * max(0, text.count("“") - text.count("”"))
    return text + closing + ('"' if text.count('"') % 2 == 1 else "")


def whole_quotes(sentences: list[str], max_join: int = 3, max_chars: int = 700) -> list[str]:
    """Sentences rejoined where a split fell inside a quotation («…. …», “…. …”): a quote shown or
    rendered from a sentence must not stop inside the speaker's words."""
    out: list[str] = []
    i = 0
    while i < len(sentences):
        sentence, j = sentences[i], i + 1
        while open_quotes(sentence) and j < len(sentences) and j - i < max_join and len(sentence) + len(sentences[j]) < max_chars:
            sentence, j = f"{sentence} {sentences[j]}", j + 1
        out.append(sentence)
        i = j
    return out


def whole_sentence(sentence: str, text: str | None) -> str:
    """`sentence` as `text` (its whole article) has it when it stops inside a quotation: a passage ends at a
    sentence break, and a speaker's words can hold one ("…شأن مدينة الموصل العراقية.. ونحن على قناعة …”")."""
    if not text or not open_quotes(sentence):
        return sentence
    head = sentence[:80]
    return next((s for s in whole_quotes(split_sentences(text)) if head in s and len(s) > len(sentence)), sentence)


_FRENCH_HINTS = frozenset("le la les des est une pour dans qui sur avec du au aux".split())


def detect_language(text: str) -> str:
    """ISO 639-1 code by script (and, for Latin script, common function words).

    Good enough to pick an answer language and to filter a news corpus; it
    returns "und" rather than guessing when there is too little text.
    """
    arabic, latin = script_counts(text)
    if arabic + latin < 2:
        return "und"
    if arabic >= latin:
        return "ar"
    words = [w.casefold() for w in _TOKEN.findall(text)]
    english = sum(w in ENGLISH_STOPWORDS for w in words)
    french = sum(w in _FRENCH_HINTS for w in words)
    return "fr" if french > english else "en"
