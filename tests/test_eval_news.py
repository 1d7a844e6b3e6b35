"""newsqa-dev judging (rag.evaluation): the split rule, the answer words, facts in an answer text."""

import json
from types import SimpleNamespace

from rag.evaluation import NewsQuestion, answer_terms, fact_in_text, holds_terms, judge_news, load_newsqa, summarize_news


def test_the_fixed_split_and_the_records(tmp_path):
    rows = [{"id": "dev-ans-003", "lang": "en", "kind": "answerable", "q": "How many?", "gold": ["a"],
             "answer_en": "148.", "answer_ar_terms": ["148"]},
            {"id": "dev-near-004", "lang": "ar", "kind": "near_miss", "q": "كم؟", "near": ["b"]}]
    path = tmp_path / "q.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    assert [q.id for q in load_newsqa(path, "test")] == ["dev-ans-003"]
    assert [q.id for q in load_newsqa(path, "tune")] == ["dev-near-004"]


def question(lang, q, answer_en="", terms=()):
    return NewsQuestion("dev-ans-001", lang, "answerable", q, ["g"], answer_en, list(terms))


def test_the_answer_words_are_those_the_question_does_not_give():
    q = question("ar", "من بين الجنود الـ271 كم منهم لا يزالون في الخدمة؟", terms=["271", "122"])
    assert answer_terms(q) == ["122"]
    assert holds_terms("لا يزال ١٢٢ منهم في الخدمة", ["122"])  # Eastern Arabic digits fold


def test_a_fact_in_an_english_answer_is_read_by_its_numbers_or_its_words():
    votes = question("en", "How many votes did the Maldives receive?", "46 votes (Indonesia got 144).")
    assert fact_in_text(votes, "The Maldives received 46 votes [1].")
    assert not fact_in_text(votes, "The Maldives received 144 votes [1].")
    months = question("en", "What sentence had she received?", "Seven months in prison.")
    assert fact_in_text(months, "She was sentenced to seven months in prison [1].")
    named = question("en", "What was the ISIS leader's name?", "Abu Sayed Orakzai.")
    assert fact_in_text(named, "US forces confirmed the death of Abu Sayed Orakzai [1].")
    assert not fact_in_text(named, "US forces confirmed a death [1].")


def test_judged_rows_and_their_summary():
    q = question("ar", "كم صوتا حصلت عليه المالديف؟", terms=["المالديف", "46"])
    citation = SimpleNamespace(n=1, article_id="g", quote="حصلت المالديف على 46 صوتا")
    answer = SimpleNamespace(abstained=False, mode="generated", answer="حصلت المالديف على 46 صوتا [1].",
                             citations=[citation], claims=[], signals={}, timings={"total_s": 1.0})
    row = judge_news(answer, q, {1: citation.quote})
    assert row["right"] and row["citations_ok"] == [True]
    near = {"id": "dev-near-002", "lang": "ar", "kind": "near_miss", "abstained": True, "citations_ok": [],
            "first_token_s": None, "total_s": 1.0}
    summary = summarize_news([row, near])
    assert summary["ar"]["answerable_answered_right"]["rate"] == 1.0
    assert summary["ar"]["near_misses_answered"]["rate"] == 0.0


def test_newsqa_without_its_corpus_is_a_clear_error(tmp_path):
    import pytest

    from rag.config import Settings
    from rag.errors import RagError
    from rag.evaluation import evaluate_answers

    path = tmp_path / "questions.jsonl"
    path.write_text(json.dumps({"id": "dev-ans-001", "lang": "en", "kind": "answerable", "q": "How many?"}) + "\n")
    with pytest.raises(RagError, match="--corpus"):
        evaluate_answers(Settings(llm="extractive", index_dir=tmp_path / "index"), questions=path)


def test_recorded_runs_replay_the_models_judgements(tmp_path):
    """`rag eval answers --record`: text and P(yes) are both recorded and replayed (a replay decides as the
    product does); a model without judgements stays one without."""
    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    from langchain_core.messages import HumanMessage

    from rag.evaluation import RecordedChat

    class Judging(FakeListChatModel):
        asked: int = 0

        def yes_probability(self, messages):
            self.asked += 1
            return 0.25 if "no" in str(messages[-1].content) else 0.75

    path = tmp_path / "record.json"
    live = Judging(responses=["first", "second"])
    first = RecordedChat(live, path).model
    assert first.invoke([HumanMessage("q")]).content == "first"
    assert [first.yes_probability([HumanMessage(t)]) for t in ("yes?", "no?")] == [0.75, 0.25]
    later = Judging(responses=["never"])
    replay = RecordedChat(later, path).model
    assert replay.invoke([HumanMessage("q")]).content == "first"
    assert [replay.yes_probability([HumanMessage(t)]) for t in ("yes?", "no?")] == [0.75, 0.25]
    assert (live.asked, later.asked) == (2, 0)
    assert replay.yes_probability([HumanMessage("new")]) == 0.75 and later.asked == 1  # a new prompt runs the model
    assert not hasattr(RecordedChat(FakeListChatModel(responses=["x"]), tmp_path / "plain.json").model, "yes_probability")


def test_judge_calibration_picks_the_lowest_threshold_that_keeps_near_misses_rare(tmp_path, monkeypatch):
    """bench/calibrate_judge.py: from an eval run's rows (tune only), the lowest threshold with ≤ 10% of the
    near misses answered; test rows are refused."""
    import importlib.util
    from pathlib import Path
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("calibrate_judge", root / "bench" / "calibrate_judge.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def row(kind, judge, right=False, split="tune"):
        return {"kind": kind, "split": split, "right": right, "signals": {"judge": judge}}

    rows = [row("near_miss", p) for p in (0.70, 0.61, 0.55, 0.50, 0.40, 0.30, 0.20, 0.10, 0.05, 0.01)]
    rows += [row("answerable", 0.9, True), row("answerable", 0.65, True), row("answerable", 0.62), row("answerable", None)]
    at = module.rates_at(rows, 0.62, current=0.60)
    assert at["near_misses_answered"] == [1, 10] and at["answerable_answered"] == [3, 4] and at["answerable_right"] == [2, 4]
    assert module.rates_at(rows, 0.5, current=0.60)["answerable_right"] == [None, 4]  # unknown below the run's threshold
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = subprocess.run([sys.executable, str(root / "bench" / "calibrate_judge.py"), str(path)], capture_output=True, text=True)
    assert json.loads(out.stdout)["chosen"]["threshold"] == 0.62  # .61 would answer 2 of 10 near misses
    path.write_text("".join(json.dumps(r) + "\n" for r in rows + [row("answerable", 0.9, split="test")]))
    out = subprocess.run([sys.executable, str(root / "bench" / "calibrate_judge.py"), str(path)], capture_output=True, text=True)
    assert out.returncode != 0 and "tune split only" in out.stderr
