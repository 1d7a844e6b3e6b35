"""Reading the model's claims (JSON or lines) as they stream, and checking them (fast, no model)."""

import json

import pytest

from hypothesis import given
from hypothesis import strategies as st

from rag.answer.claims import ClaimReader, CitationChecker, DraftClaim, Evidence, claims_schema, cited_numbers, strip_markers

from helpers import HashEmbedder


def feed_all(text, step=3):
    reader = ClaimReader()
    out = []
    for i in range(0, len(text), step):
        out += reader.feed(text[i : i + step])
    out += reader.finish()
    return reader, out


def test_json_claims_are_read_as_they_complete():
    doc = json.dumps({"found": True, "claims": [{"text": "Lavrov said Raqqa is a target.", "sources": [2]},
                                                {"text": "He named Mosul too.", "sources": [2, 3]}]})
    reader = ClaimReader()
    first_complete = None
    seen = []
    for i in range(1, len(doc) + 1):
        fresh = reader.feed(doc[i - 1])
        if fresh and first_complete is None:
            first_complete = i
        seen += fresh
    seen += reader.finish()
    assert [c.text for c in seen] == ["Lavrov said Raqqa is a target.", "He named Mosul too."]
    assert [c.sources for c in seen] == [[2], [2, 3]]
    assert first_complete < doc.index("He named")  # the first claim came before the second was written
    assert reader.found is True


def test_json_not_found_and_escaped_text():
    reader, claims = feed_all('{"found": false, "claims": []}')
    assert reader.found is False and claims == []
    reader, claims = feed_all('{"found": true, "claims": [{"text": "He said \\"no\\" [1]", "sources": [1]}]}')
    assert claims[0].text == 'He said "no" [1]' and claims[0].sources == [1]


def test_line_format():
    reader, claims = feed_all("Lavrov spoke in Moscow [1].\nHe mentioned Raqqa [2][3]\nAn uncited sentence.\n")
    assert [(c.text, c.sources) for c in claims] == [("Lavrov spoke in Moscow.", [1]), ("He mentioned Raqqa", [2, 3]),
                                                      ("An uncited sentence.", [])]
    reader, claims = feed_all("NOT_FOUND")
    assert reader.found is False and claims == []


@given(st.lists(st.tuples(st.text(min_size=1, max_size=40), st.lists(st.integers(1, 5), min_size=1, max_size=3)), max_size=4),
       st.integers(1, 7))
def test_json_reader_round_trips_any_text(items, step):
    doc = json.dumps({"found": bool(items), "claims": [{"text": t, "sources": s} for t, s in items]}, ensure_ascii=False)
    _, claims = feed_all(doc, step)
    assert [c.text for c in claims] == [t.strip() for t, _ in items]
    assert [c.sources for c in claims] == [list(dict.fromkeys(s)) for _, s in items]


def test_schema_limits_passage_numbers():
    schema = claims_schema(3)
    assert schema["properties"]["claims"]["items"]["properties"]["sources"]["items"]["enum"] == [1, 2, 3]


def test_markers():
    assert cited_numbers("a [1] b [2, 3] c [4،5]") == [1, 2, 3, 4, 5]
    assert strip_markers("Claim [1][7]. Other [9].") == "Claim. Other."


PASSAGES = [
    ("أسعار النفط ارتفعت في الأسواق العالمية اليوم بعد قرار أوبك.", "ar"),
    ("قال لافروف إن مدينة الرقة هدف للتحالف المضاد للإرهاب. وأضاف أن الموصل هدف أيضا.", "ar"),
]


def checker():
    return CitationChecker(HashEmbedder())


def test_supported_claim_is_kept_with_its_quote():
    evidence = Evidence(PASSAGES, HashEmbedder())
    claim, quotes = checker().check(DraftClaim("قال لافروف إن مدينة الرقة هدف للتحالف.", [2]), evidence)
    assert claim.kept and claim.citations == [2] and claim.note is None
    assert "الرقة" in quotes[2]


def test_wrong_citation_is_reattributed():
    evidence = Evidence(PASSAGES, HashEmbedder())
    claim, quotes = checker().check(DraftClaim("قال لافروف إن مدينة الرقة هدف للتحالف.", [1]), evidence)
    assert claim.kept and claim.citations == [2] and claim.note == "reattributed" and claim.cited == [1]


def test_unsupported_and_uncited_claims_are_dropped():
    evidence = Evidence(PASSAGES, HashEmbedder())
    claim, _ = checker().check(DraftClaim("The moon is made of green cheese.", [2]), evidence)
    assert not claim.kept and claim.note == "unsupported" and claim.citations == []
    claim, _ = checker().check(DraftClaim("قال لافروف إن مدينة الرقة هدف للتحالف.", []), evidence)
    assert not claim.kept and claim.note == "uncited"
    claim, _ = checker().check(DraftClaim("قال لافروف إن مدينة الرقة هدف للتحالف.", [9]), evidence)
    assert claim.kept and claim.citations == [2]  # an invalid number is re-attributed, never kept


def test_marked_text():
    from rag.answer.claims import Claim

    assert Claim("Lavrov spoke.", [1, 2], 0.9, True).marked() == "Lavrov spoke [1][2]."
    assert Claim("قال لافروف", [2], 0.9, True).marked() == "قال لافروف [2]."


@pytest.mark.parametrize("text, shown", [
    ("قال لافروف إن “مدينة الرقة هي أحد أهداف التحالف شأنها شأن مدينة الموصل العراقية..", "قال لافروف إن “مدينة الرقة هي أحد أهداف التحالف شأنها شأن مدينة الموصل العراقية” [1]."),
    ("وقال «إن الرقة هدف.", "وقال «إن الرقة هدف» [1]."),
    ('Lavrov said "Raqqa is a target.', 'Lavrov said "Raqqa is a target" [1].'),
    ("Lavrov said “Raqqa is a target”.", "Lavrov said “Raqqa is a target” [1]."),
])
def test_a_shown_claim_never_leaves_a_quotation_open(text, shown):
    from rag.answer.claims import Claim

    assert Claim(text, [1], 0.9, True).marked() == shown
