"""Multi-outlet news: story clusters, outlet names, dates, time expressions, speakers."""

import json

import numpy as np
import pytest

from rag.ingest.corpus import clean_text
from rag.news.dates import asks_for_latest, date_in_text, day_number, time_filter
from rag.errors import FilterError
from rag.index.writer import IndexWriter
from rag.news.questions import analyse, attribute
from rag.news.outlets import resolve_outlet
from rag.retrieval import Retriever
from rag.index.segments import SegmentStories
from rag.news.stories import signature, similarity
from rag.index.store import Filters, IndexStore

from helpers import HashEmbedder

WIRE = (
    "أعلنت وزارة الخارجية الروسية أن الوزير سيرغي لافروف سيزور دمشق الأسبوع المقبل لبحث الوضع في الرقة ودير الزور. "
    "وقال لافروف في مؤتمر صحفي إن «معركة الرقة ستبدأ قريبا وإن التنسيق مع واشنطن ضروري». "
    "وأضاف أن موسكو تدعم الحل السياسي في سوريا وأن محادثات جنيف يجب أن تستأنف في أقرب وقت ممكن. "
    "وكانت القوات الحكومية قد تقدمت في ريف حلب الشرقي خلال الأيام الماضية وسط غارات مكثفة."
)


def _feed(root, name, records):
    root.mkdir(parents=True, exist_ok=True)
    (root / name).write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")


def _index(tmp_path, records, name="feed.jsonl"):
    corpus = tmp_path / "corpus"
    _feed(corpus, name, records)
    IndexWriter(tmp_path / "idx", HashEmbedder(), chunk_tokens=200, chunk_overlap_tokens=20).update(corpus)
    return corpus, IndexStore.open(tmp_path / "idx")


NEWS = [
    {"id": "sana-1", "title": "لافروف: معركة الرقة قريبة", "text": WIRE, "outlet": "SANA", "date": "2018-06-02", "url": "https://sana.sy/1"},
    {"id": "jaz-1", "title": "لافروف يتحدث عن الرقة", "text": WIRE + " وتابع الوزير حديثه.", "outlet": "Al Jazeera", "date": "2018-06-03"},
    {"id": "jaz-2", "title": "النفط", "text": "ارتفعت أسعار النفط بعد قرار أوبك خفض الإنتاج، وقال محللون إن الأسعار ستواصل الصعود.", "outlet": "Al Jazeera", "date": "2018-07-10"},
    {"id": "bbc-1", "title": "الرقة", "text": "تحدث مسؤولون في الرقة عن نقص المياه والكهرباء في المدينة بعد المعارك، وذكر لافروف في سياق آخر.", "outlet": "BBC Arabic", "date": "2018-07-20"},
]


def test_copies_are_one_story_and_search_shows_one_hit_per_story(tmp_path):
    corpus, store = _index(tmp_path, NEWS)
    assert similarity(signature(WIRE), signature(WIRE + " وتابع الوزير حديثه.")) >= 0.6
    assert store.status()["stories"] == 3
    retriever = Retriever(store, HashEmbedder())
    hits = retriever.search("معركة الرقة لافروف", k=5).hits
    stories = [h.chunk.story for h in hits]
    assert len(stories) == len(set(stories))
    wire = next(h for h in hits if h.chunk.story == "sana-1")
    assert wire.chunk.article_id == "sana-1" and wire.first_report  # the earliest report is cited
    assert [a.id for a in wire.also_reported_by] == ["jaz-1"]
    data = wire.to_dict()
    assert data["story_id"] == "sana-1" and data["also_reported_by"][0] == {"article_id": "jaz-1", "outlet": "Al Jazeera", "date": "2018-06-03", "url": None}
    every = retriever.search("معركة الرقة لافروف", k=5, all_copies=True).hits
    assert {"sana-1", "jaz-1"} <= {h.chunk.article_id for h in every}
    # incremental: a later copy joins the story without re-reading anything else
    _feed(corpus, "later.jsonl", [{"id": "sky-1", "title": "لافروف والرقة", "text": WIRE, "outlet": "Sky News Arabia", "date": "2018-06-04"}])
    IndexWriter(tmp_path / "idx", HashEmbedder(), chunk_tokens=200, chunk_overlap_tokens=20).update(corpus)
    store = IndexStore.open(tmp_path / "idx")
    assert store.find_articles(["sky-1"])["sky-1"].story == "sana-1" and store.status()["stories"] == 3


def test_a_copy_months_later_is_another_story(tmp_path):
    late = dict(NEWS[1], id="late", date="2018-09-30")
    _, store = _index(tmp_path, [NEWS[0], late])
    assert store.find_articles(["late"])["late"].story == "late"


def test_facets_and_diverse(tmp_path):
    _, store = _index(tmp_path, NEWS)
    retriever = Retriever(store, HashEmbedder())
    result = retriever.search("الرقة", k=3, all_copies=True)
    assert result.facets["outlets"]["Al Jazeera"] == 2 and set(result.facets["months"]) == {"2018-06", "2018-07"}
    diverse = retriever.search("الرقة لافروف النفط", k=3, all_copies=True, diverse=1).hits
    assert len({h.chunk.outlet for h in diverse}) == 3


def test_outlet_names_in_either_script(tmp_path):
    _, store = _index(tmp_path, NEWS)
    retriever = Retriever(store, HashEmbedder())
    for typed in ("الجزيرة", "al jazeera", "aljazeera.net", "AL-JAZEERA"):
        hits = retriever.search("الرقة", k=5, filters=Filters(outlet=typed)).hits
        assert hits and {h.chunk.outlet for h in hits} == {"Al Jazeera"}, typed
    with pytest.raises(FilterError, match="this index has: .*SANA"):
        retriever.search("الرقة", filters=Filters(outlet="Le Monde"))
    assert resolve_outlet("bbc", ["BBC Arabic", "SANA"]) == ["BBC Arabic"]


def test_time_expression_becomes_a_filter_unless_overridden(tmp_path):
    _, store = _index(tmp_path, NEWS)
    retriever = Retriever(store, HashEmbedder())
    result = retriever.search("ماذا حدث في الرقة في تموز 2018؟", k=5)
    assert result.time_filter.to_dict() == {"since": "2018-07-01", "until": "2018-07-31", "from_question": True, "text": "تموز 2018"}
    assert result.hits and all(h.chunk.date.startswith("2018-07") for h in result.hits)
    given = retriever.search("What happened in Raqqa in July 2018?", k=5, filters=Filters.parse(since="2018-06-01", until="2018-06-30"))
    assert given.time_filter.from_question is False and all(h.chunk.date.startswith("2018-06") for h in given.hits)
    empty = retriever.search("الرقة في أيار 2017", k=5)  # nothing then: searched all dates, and said so
    assert empty.hits and empty.time_filter.matched is False


@pytest.mark.parametrize(
    "question, window",
    [
        ("What happened in Hodeidah in May 2018?", ("2018-05-01", "2018-05-31")),
        ("What did Trump say in the last week of June 2018?", ("2018-06-24", "2018-06-30")),
        ("ماذا حدث في أيار 2018؟", ("2018-05-01", "2018-05-31")),
        ("early July 2018", ("2018-07-01", "2018-07-10")),
        ("between June and August 2018", ("2018-06-01", "2018-08-31")),
        ("أواخر حزيران 2018", ("2018-06-21", "2018-06-30")),
        ("ماذا قال لافروف في 12 يونيو 2018", ("2018-06-12", "2018-06-12")),
        ("news in 2017", ("2017-01-01", "2017-12-31")),
    ],
)
def test_time_filters(question, window):
    found = time_filter(question)
    assert found is not None and (found.since, found.until) == window


def test_no_time_filter_without_a_date():
    assert time_filter("What did Lavrov say about Raqqa?") is None
    assert time_filter("كتاب 2018 الجديد") is None


@pytest.mark.parametrize(
    "text, date",
    [
        ("موسكو - 12 حزيران/يونيو 2018 (سانا) - قال الوزير", "2018-06-12"),
        ("تونس في 3 جانفي 2017 - أعلنت الحكومة", "2017-01-03"),
        ("دمشق في 5 كانون الثاني 2018", "2018-01-05"),
        ("الرياض 15 رمضان 1439 هـ - أعلنت", "2018-05-30"),
        ("Published 2018-06-03T10:00 by", "2018-06-03"),
        ("١٢/٠٦/٢٠١٨ القاهرة", "2018-06-12"),
        ("Posted June 5, 2018", "2018-06-05"),
        ("لا تاريخ هنا", None),
    ],
)
def test_dates_in_text(text, date):
    assert date_in_text(text) == date


def test_a_window_read_from_the_question_rules_out_only_dates_the_corpus_gave(tmp_path):
    records = [
        {"id": "given", "title": "الرقة", "text": WIRE, "outlet": "SANA", "date": "2016-02-07"},
        {"id": "dateline", "title": "الرقة", "text": "دمشق في 7 شباط 2016 - " + WIRE + " وقال مسؤول آخر.", "outlet": "BBC Arabic"},
        {"id": "undated", "title": "الرقة", "text": WIRE + " وتابع الوزير حديثه عن المياه والكهرباء والمدارس.", "outlet": "CNN"},
        {"id": "in-2015", "title": "الرقة", "text": WIRE + " وعاد الحديث عن النفط.", "outlet": "SANA", "date": "2015-05-01"},
    ]
    _, store = _index(tmp_path, records)
    retriever = Retriever(store, HashEmbedder())
    asked = {h.chunk.article_id for h in retriever.search("ماذا قال لافروف عن الرقة في عام 2015؟", k=10, all_copies=True).hits}
    assert asked == {"dateline", "undated", "in-2015"}  # a guess from the question never drops an undated article
    given = retriever.search("ماذا قال لافروف عن الرقة؟", k=10, all_copies=True, filters=Filters.parse(since="2015", until="2015"))
    assert {h.chunk.article_id for h in given.hits} == {"in-2015"}  # a window the user gives is strict


def test_state_is_a_noun_in_a_speaker_question():
    assert analyse("What did the Islamic State proclaim itself in 2014?").speaker is None
    assert analyse("What did the Secretary of State say about Idlib?").speaker == "Secretary Of State"


def test_a_date_deep_in_the_body_is_not_the_publication_date():
    body = "افتتح الملعب بحضور الآلاف من المشجعين. " * 12 + "وأقيمت المباراة النهائية في 7 شباط 2016."
    assert date_in_text(body) is None
    assert date_in_text("دمشق في 7 شباط 2016 - " + body) == "2016-02-07"


@pytest.mark.parametrize(
    "question, latest",
    [
        ("What is the latest news about Idlib?", True),
        ("ما آخر الأخبار عن إدلب؟", True),
        ("ما أحدث تصريحات لافروف؟", True),
        ("ما آخر ما قاله لافروف عن الرقة؟", True),
        ("من كان آخر رئيس وزراء لألمانيا الشرقية؟", False),  # "last", not "latest"
        ("إعادة فرز الأصوات في الانتخابات العراقية", False),  # "الان" inside another word
        ("ماذا حدث في السويداء في أواخر تموز 2018؟", False),
        ("What is the city now called?", False),
        ("ما هو الموقع الآخر الذي اختبرته أبولو؟", False),  # "the other"
        ("What is the name of the latest epoch?", False),
        ("Whose wall is visible around Newcastle even today?", False),
        ("What did Lavrov say recently about Raqqa?", True),
        ("What is Lavrov's latest statement on Idlib?", True),
    ],
)
def test_questions_that_ask_for_the_latest(question, latest):
    assert asks_for_latest(question) is latest


def test_undated_article_takes_its_dateline_date(tmp_path):
    _, store = _index(tmp_path, [{"id": "x", "title": "خبر", "text": "دمشق في 5 كانون الثاني 2018 - " + WIRE}])
    article = store.find_articles(["x"])["x"]
    assert (article.article.date, article.article.date_source) == ("2018-01-05", "text")


def test_speakers_and_quote_types():
    lavrov = ["لافروف"]
    assert attribute("وقال لافروف في مؤتمر صحفي إن «معركة الرقة ستبدأ قريبا».", lavrov).quote_type == "direct"
    assert attribute("وأكد لافروف أن التنسيق مع واشنطن ضروري.", lavrov).quote_type == "reported"
    assert attribute("التقى لافروف نظيره الأمريكي في جنيف.", lavrov).quote_type == "mention"
    assert attribute("لا ذكر للوزير هنا.", lavrov).quote_type is None
    assert analyse("What did Lavrov say about Raqqa?").speaker == "Lavrov"
    assert analyse("ماذا قال لافروف عن الرقة؟").speaker == "لافروف"
    assert analyse("What is the latest news about Hodeidah?").entity == "Hodeidah"
    assert analyse("What is the latest news about Hodeidah?").latest


def test_speaker_questions_put_the_speakers_words_first(tmp_path):
    _, store = _index(tmp_path, NEWS)
    hits = Retriever(store, HashEmbedder()).search("ماذا قال لافروف عن الرقة؟", k=3).hits
    assert hits[0].quote_type == "direct" and hits[0].speaker == "لافروف"
    assert hits[0].to_dict()["quote_type"] == "direct"


def test_page_furniture_of_the_development_outlets_is_removed():
    body, removed = clean_text(
        "نص الخبر الأول.\nللمزيد - الشرق الأوسط: إيران تطغى\nفرانس 24/ أ ف ب/ رويترز\n"
        "يمكنكم استلام إشعارات بأهم الموضوعات بعد تحميل أحدث نسخة من تطبيق بي بي سي عربي على هاتفكم المحمول.\n------\nنص ثان."
    )
    assert body == "نص الخبر الأول.\nنص ثان." and len(removed) == 4


def test_filters_are_validated_the_same_everywhere():
    with pytest.raises(FilterError, match="since 'june' is not a date"):
        Filters.parse(since="june")
    with pytest.raises(FilterError, match="after until"):
        Filters.parse(since="2018-07-01", until="2018-06-01")
    assert Filters.parse(since="2018-06", until="2018").since == "2018-06"


def test_signatures_are_stable():
    assert np.array_equal(signature("نص واحد هنا للتجربة فقط لا غير"), signature("نص واحد هنا للتجربة فقط لا غير"))


def test_compare_outlets_gives_one_cited_section_per_outlet(tmp_path, monkeypatch):
    import rag.answer.engine as answer_module
    from rag.answer.engine import AnswerEngine
    from rag.config import Settings

    monkeypatch.setitem(answer_module.ABSTAIN_SIMILARITY, "same", 0.0)
    monkeypatch.setitem(answer_module.ABSTAIN_SIMILARITY, "cross", 0.0)
    extra = dict(NEWS[0], id="bbc-2", outlet="BBC Arabic", date="2018-06-05", title="روسيا والرقة",
                 text="نقلت وكالات عن وزير الخارجية الروسي سيرغي لافروف قوله إن معركة الرقة قريبة، داعيا إلى التنسيق مع واشنطن.")
    _, store = _index(tmp_path, [*NEWS, extra])
    engine = AnswerEngine(Retriever(store, HashEmbedder()), None, Settings(index_dir=tmp_path / "idx"), curated_aliases={})
    answer = engine.compare("كيف نقلت وسائل الإعلام تصريحات لافروف عن معركة الرقة؟")
    data = answer.to_dict()
    assert answer.mode == "compare" and not answer.abstained
    outlets = [o["outlet"] for o in data["outlets"]]
    assert len(outlets) == len(set(outlets)) >= 3
    assert [o["date"] for o in data["outlets"]] == sorted(o["date"] for o in data["outlets"])  # earliest first
    for section in data["outlets"]:
        cited = data["citations"][section["citations"][0] - 1]
        assert cited["outlet"] == section["outlet"] and section["summary"] in cited["quote"]
    wire = next(c for c in data["citations"] if c["article_id"] == "sana-1")
    assert wire["also_reported_by"][0]["article_id"] == "jaz-1"


def test_known_place_names_beat_a_common_word_with_the_same_consonants(tmp_path):
    from rag.names.expansion import CuratedAliases, NameExpander

    records = [
        {"id": f"c{i}", "title": "رقية", "text": f"قرأت رقية على المريض رقم {i}، والرقية الشرعية معروفة.", "outlet": "X"} for i in range(6)
    ] + [{"id": "r", "title": "الرقة", "text": "تقدمت القوات في مدينة الرقة شمال سوريا.", "outlet": "X"}]
    _, store = _index(tmp_path, records)
    match = NameExpander(HashEmbedder(), CuratedAliases()).match("Raqqa", store)[0]
    assert (match.alias, match.source) == ("الرقة", "geonames")


def test_outlets_quoting_the_speaker_in_different_words_are_pointed_out(tmp_path, monkeypatch):
    import rag.answer.engine as answer_module
    from rag.answer.engine import AnswerEngine
    from rag.config import Settings

    monkeypatch.setitem(answer_module.ABSTAIN_SIMILARITY, "same", 0.0)
    monkeypatch.setitem(answer_module.ABSTAIN_SIMILARITY, "cross", 0.0)
    records = [
        {"id": "x1", "title": "لافروف والرقة", "outlet": "SANA", "date": "2018-06-02",
         "text": "قال وزير الخارجية الروسي لافروف في مؤتمر صحفي في موسكو عن معركة الرقة: «ستبدأ قريبا بالتنسيق مع الحلفاء». وتابع الوزير حديثه عن جنيف."},
        {"id": "x2", "title": "لافروف يحذر", "outlet": "Al Jazeera", "date": "2018-06-03",
         "text": "وقال وزير الخارجية الروسي لافروف في مؤتمر صحفي في موسكو عن معركة الرقة: «لن نسمح بأي هجوم دون موافقة دمشق». وأضاف أن الوضع معقد."},
    ]
    _, store = _index(tmp_path, records)
    engine = AnswerEngine(Retriever(store, HashEmbedder()), None, Settings(index_dir=tmp_path / "idx"), curated_aliases={})
    answer = engine.compare("ماذا قال لافروف عن الرقة؟")
    words = answer.signals["different_words"]
    assert {w["outlet"] for w in words} == {"SANA", "Al Jazeera"} and "كلمات مختلفة" in answer.answer
    undated = [dict(records[0], date=None), dict(records[1], date=None)]
    _, store = _index(tmp_path / "undated", undated)
    engine = AnswerEngine(Retriever(store, HashEmbedder()), None, Settings(index_dir=tmp_path / "undated" / "idx"), curated_aliases={})
    assert "different_words" not in engine.compare("ماذا قال لافروف عن الرقة؟").signals  # not known to be one event
    same = [dict(records[0]), dict(records[1], text=records[0]["text"].replace("قال", "وأكد"), title="خبر")]
    _, store = _index(tmp_path / "same", same)
    engine = AnswerEngine(Retriever(store, HashEmbedder()), None, Settings(index_dir=tmp_path / "same" / "idx"), curated_aliases={})
    assert "different_words" not in engine.compare("ماذا قال لافروف عن الرقة؟").signals


def test_compare_sets_figures_side_by_side():
    from rag.news.questions import compare_figures

    agree, differ = compare_figures([
        ("SANA", 1, "قتل 10 أشخاص وأصيب 25 آخرون في انفجار عام 2018"),
        ("BBC Arabic", 2, "أسفر الانفجار عن مقتل 12 أشخاص وإصابة 25 آخرين"),
    ])
    assert agree == ["SANA: 25 آخرون [1]; BBC Arabic: 25 آخرين [2]"]
    assert differ == ["SANA: 10 أشخاص [1]; BBC Arabic: 12 أشخاص [2]"]  # the year is not a count


def test_stories_across_an_updates_segments_equal_article_by_article_lookup(tmp_path, monkeypatch):
    """A batch's candidates are fetched from every segment at once; the stories must be the same as
    when each article asks each segment in turn."""
    import rag.index.writer as indexing
    import rag.news.stories as stories_module

    rng = np.random.default_rng(4)
    sentences = [s.strip() for s in WIRE.split(".") if s.strip()]
    records = []
    for i in range(60):  # copies of a few reports, edited, over a few days, deleted ones among them
        base = sentences[i % 4]
        text = f"{base}. {sentences[(i + 1) % 4]}. " + ("خبر إضافي. " if rng.random() < 0.3 else "")
        records.append({"id": f"n{i}", "title": f"خبر {i % 4}", "text": text * 2, "outlet": "SANA", "date": f"2018-06-{1 + i % 9:02d}"})
    monkeypatch.setattr(indexing, "FLUSH_CHUNKS", 7)  # many segments within one update

    def build(name):
        corpus = tmp_path / name / "corpus"
        _feed(corpus, "feed.jsonl", records)
        report = IndexWriter(tmp_path / name / "idx", HashEmbedder(), chunk_tokens=200, chunk_overlap_tokens=20).update(corpus)
        store = IndexStore.open(tmp_path / name / "idx")
        return {r["id"]: a.story for r in records for a in [store.find_articles([r["id"]])[r["id"]]]}, report.segments_written

    batched, segments = build("batched")
    store = IndexStore.open(tmp_path / "batched" / "idx")
    keys = stories_module.band_keys(np.stack([signature(f"{r['title']}\n{r['text']}") for r in records] + [signature("نص آخر تماما لا يشبه شيئا")]))
    for segment in (SegmentStories(s) for s in store.segments):
        many = segment.members_many(keys)
        assert [sorted(m.article_id for m in row) for row in many] == [sorted(m.article_id for m in segment.members(k)) for k in keys]
        assert many[-1] == [] and any(many)
        days = np.array([day_number(r["date"]) for r in records] + [-1])
        near = segment.members_many(keys, days)
        within = [sorted(m.article_id for m in segment.members(k) if d < 0 or m.day < 0 or abs(d - m.day) <= stories_module.MAX_DAYS)
                  for k, d in zip(keys, days)]
        assert [sorted(m.article_id for m in row) for row in near] == within
        assert sum(map(len, near)) < sum(map(len, many))  # some copies were too far apart in time
    monkeypatch.setattr(stories_module.StoryAssigner, "prefetch", lambda self, ids, sigs, days: None)
    one_by_one, _ = build("one")
    assert batched == one_by_one
    assert segments > 3 and len(set(batched.values())) < len(records) / 2  # copies did join stories across segments


def test_a_story_is_represented_by_its_chunk_that_names_what_a_speaker_question_asks_about():
    # an English "what did Lavrov say about Aleppo?" ranked the article's chunk about Lavrov alone first; the
    # answer then had no sentence about Aleppo and abstained, where the Arabic question found it
    from rag.article import ArticleMeta
    from rag.index.docstore import StoredChunk
    from rag.retrieval import _one_per_story

    article = ArticleMeta(id="a1", outlet="Al-Rai", story="a1")
    other = ArticleMeta(id="b1", outlet="SANA", story="b1")
    chunks = {1: StoredChunk(row=1, chunk_id="a1#0", ordinal=0, text="وقال لافروف إن التعاون مع واشنطن مستمر.", article=article),
              2: StoredChunk(row=2, chunk_id="b1#0", ordinal=0, text="قال لافروف إن الرقة هدف.", article=other),
              3: StoredChunk(row=3, chunk_id="a1#1", ordinal=1, text="وقال لافروف إن واشنطن لم تنفذ وعدها في حلب.", article=article)}
    scores = {1: 0.9, 2: 0.8, 3: 0.7}
    plain = _one_per_story([1, 2, 3], chunks, scores, {}, all_copies=False, per_article=False)
    assert [h.chunk.row for h in plain] == [1, 2]
    named = _one_per_story([1, 2, 3], chunks, scores, {}, all_copies=False, per_article=False, prefer=["لافروف", "حلب"])
    assert [h.chunk.row for h in named] == [3, 2]  # the story keeps its place, shown by the chunk about Aleppo
    every = _one_per_story([1, 2, 3], chunks, scores, {}, all_copies=True, per_article=False, prefer=["حلب"])
    assert [h.chunk.row for h in every] == [1, 2, 3]  # every chunk asked for: nothing to choose
