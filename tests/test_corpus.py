import json
from pathlib import Path

import pytest

from rag.ingest.corpus import clean_text, iter_corpus, parse_date, read_corpus
from rag.errors import CorpusError
from rag.news.outlets import UNKNOWN, OutletDetector

from helpers import SAMPLE_CORPUS


def test_sample_corpus_is_attributed_honestly():
    articles, errors = read_corpus(SAMPLE_CORPUS)
    assert errors == []
    by_id = {a.id: a for a in articles}
    assert set(by_id) == {p.stem for p in SAMPLE_CORPUS.glob("*.txt")}
    assert by_id["002_c1a0b6a97d918df4"].outlet == "SANA"  # dateline موسكو-سانا
    assert by_id["001_9881ad367b76134a"].outlet == "Al Jazeera"  # المصدر : الجزيرة
    assert by_id["000_209437f2db8e6cc2"].outlet == "Tasnim News Agency"  # its own subscribe line
    assert by_id["004_553f9cf3cf777886"].outlet == UNKNOWN  # names no publisher
    assert all(a.lang == "ar" for a in articles)
    assert by_id["002_c1a0b6a97d918df4"].title.startswith("لافروف:الطيران الروسي")
    # page furniture is gone, the body is not
    sana = by_id["002_c1a0b6a97d918df4"].text
    assert "تابعونا" not in sana and "vk.com" not in sana
    assert "حميميم" in sana


def test_text_front_matter_and_records(tmp_path):
    (tmp_path / "a.txt").write_text("Title line\n\nBody text here.", encoding="utf-8")
    (tmp_path / "b.md").write_text("---\ntitle: B\noutlet: Reuters\ndate: 2020-01-02\nurl: https://x/b\nid: custom-b\n---\nBody of b.", encoding="utf-8")
    (tmp_path / "c.jsonl").write_text(
        json.dumps({"id": "c1", "title": "C1", "text": "نص الخبر الأول.", "outlet": "سانا", "date": "2019-05-06T10:00:00Z"}, ensure_ascii=False)
        + "\n\n"
        + json.dumps({"title": "C2", "text": "Second record."})
        + "\n",
        encoding="utf-8",
    )
    (tmp_path / "d.json").write_text(json.dumps({"articles": [{"id": "d1", "title": "D", "text": "Dee."}]}), encoding="utf-8")
    (tmp_path / "notes.csv").write_text("ignored", encoding="utf-8")
    articles, errors = read_corpus(tmp_path)
    assert errors == []
    by_id = {a.id: a for a in articles}
    assert by_id["a"].title == "Title line" and by_id["a"].text == "Body text here."
    assert by_id["custom-b"].outlet == "Reuters" and by_id["custom-b"].date == "2020-01-02" and by_id["custom-b"].url == "https://x/b"
    assert by_id["c1"].outlet == "SANA" and by_id["c1"].date == "2019-05-06" and by_id["c1"].lang == "ar"
    assert by_id["d1"].title == "D"
    assert any(i.startswith("c#") for i in by_id)  # record without id: content-derived id
    assert by_id["c1"].source_path == "c.jsonl:1"


def test_cleaning_removes_furniture_but_keeps_body():
    text = "\n".join(
        [
            "قال الوزير إن المفاوضات ستستمر وإن على الجميع أن يتابعوا التطورات عن كثب.",
            "تابعونا على فيسبوك",
            "https://t.me/somechannel",
            "طباعة الخبر ارسال الخبر الى صديق",
            "وأضاف أن الاجتماع المقبل سيعقد في جنيف.",
            "أخبار متعلقة",
            "عنوان خبر آخر لا علاقة له",
        ]
    )
    body, removed = clean_text(text)
    assert "يتابعوا التطورات" in body  # a body sentence with a similar word stays
    assert "جنيف" in body
    assert "فيسبوك" not in body and "t.me" not in body and "طباعة" not in body
    assert "عنوان خبر آخر" not in body  # the related-news tail is cut
    assert "تابعونا على فيسبوك" in removed


def test_outlet_detection_positions():
    detector = OutletDetector()
    assert detector.detect("عنوان\nدمشق-سانا\nنص الخبر") == "SANA"
    assert detector.detect("نص الخبر.\nالمصدر: رويترز") == "Reuters"
    assert detector.detect("نص\nالمصدر : صحيفة محلية صغيرة") == "صحيفة محلية صغيرة"  # named, though unknown to the table
    # a quoted source in the body is not the publisher
    assert detector.detect("ونقلت قناة روسيا اليوم عن لافروف قوله إن الحرب مستمرة.") == UNKNOWN
    assert detector.detect("خبر\nنص", promo_lines=["اشترك في وكالة تسنيم واستلم أهم الأخبار"]) == "Tasnim News Agency"
    user = OutletDetector({"Daily Example": [r"^Daily Example staff$"]})
    assert user.detect("Body\nDaily Example staff") == "Daily Example"


def test_parse_date():
    assert parse_date("2016-03-01") == "2016-03-01"
    assert parse_date("01/03/2016") == "2016-03-01"
    assert parse_date("2016-03-01T12:00:00+03:00") == "2016-03-01"
    assert parse_date("last week") is None


@pytest.mark.parametrize(
    "name,content,expected",
    [
        ("empty.txt", b"", "empty file"),
        ("binary.txt", b"\x00\x01\x02PNG\x00", "binary"),
        ("latin1.txt", "Café crème brûlée à la française".encode("latin-1"), "not UTF-8"),
        ("notext.md", "---\ntitle: Only a title\n---\n".encode(), "no text"),
        ("open.md", "---\ntitle: x\nbody".encode(), "never closed"),
    ],
)
def test_bad_files_are_reported_and_skipped(tmp_path, name, content, expected):
    (tmp_path / name).write_bytes(content)
    (tmp_path / "good.txt").write_text("Good\n\nA good article.", encoding="utf-8")
    articles, errors = read_corpus(tmp_path)
    assert [a.id for a in articles] == ["good"]
    assert len(errors) == 1 and errors[0].path.endswith(name) and expected in errors[0].message
    assert "\n" not in str(errors[0])


def test_windows_1256_arabic_is_decoded(tmp_path):
    (tmp_path / "cp.txt").write_bytes("عنوان الخبر\n\nقال لافروف إن الرقة محررة.".encode("cp1256"))
    articles, errors = read_corpus(tmp_path)
    assert errors == [] and "لافروف" in articles[0].text


def test_malformed_jsonl_line_names_file_and_line(tmp_path):
    lines = [json.dumps({"id": "1", "title": "t", "text": "one"}), "{not json", json.dumps({"id": "3", "title": "t", "text": ""}), json.dumps([1, 2])]
    (tmp_path / "recs.jsonl").write_text("\n".join(lines), encoding="utf-8")
    articles, errors = read_corpus(tmp_path)
    assert [a.id for a in articles] == ["1"]
    wheres = sorted(e.path for e in errors)
    assert wheres == [f"{tmp_path / 'recs.jsonl'}:{n}" for n in (2, 3, 4)]
    assert "malformed JSON" in errors[0].message


def test_huge_file_is_refused_without_reading_it(tmp_path):
    big = tmp_path / "big.txt"
    with big.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    articles, errors = read_corpus(tmp_path)
    assert articles == [] and "MB" in errors[0].message and "split" in errors[0].message


def test_missing_corpus_dir(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        list(iter_corpus(tmp_path / "nope"))


def test_duplicate_ids_are_reported(tmp_path):
    (tmp_path / "a.jsonl").write_text(json.dumps({"id": "x", "title": "t", "text": "one"}) + "\n" + json.dumps({"id": "x", "title": "t", "text": "two"}), encoding="utf-8")
    articles, errors = read_corpus(tmp_path)
    assert len(articles) == 1 and "duplicate article id" in errors[0].message


def test_bad_date_is_a_warning_not_a_skip(tmp_path):
    (tmp_path / "a.md").write_text("---\ntitle: A\ndate: someday\n---\nBody.", encoding="utf-8")
    articles, errors = read_corpus(tmp_path)
    assert errors == [] and articles[0].date is None and "date" in articles[0].warnings[0]


def test_saved_html_pages_of_two_outlets(tmp_path):
    pytest.importorskip("trafilatura", reason="the html extra is not installed: pip install '.[html]'")
    import shutil

    from rag.ingest.corpus import read_corpus

    for name in ("skynews.html", "bbc.html"):
        shutil.copy(Path(__file__).parent / "data" / "html" / name, tmp_path / name)
    articles, errors = read_corpus(tmp_path)
    assert errors == []
    by_id = {a.id: a for a in articles}
    sky, bbc = by_id["skynews"], by_id["bbc"]
    assert sky.title == "لافروف: معركة الرقة قريبة" and sky.outlet == "Sky News Arabia" and sky.date == "2018-06-12"
    assert "معركة الرقة ستبدأ قريبا" in sky.text and "الأكثر قراءة" not in sky.text and "الرئيسية" not in sky.text
    assert bbc.date == "2018-08-06" and "السفير الكندي" in bbc.text
    assert "إشعارات" not in bbc.text  # page furniture removed like in any article
