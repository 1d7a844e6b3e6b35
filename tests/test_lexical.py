"""BM25 top-k with MaxScore pruning equals scoring every posting and cutting."""

import numpy as np
import pytest

from rag.index import lexical


def _reference(postings, query, stats, depth, mask):
    positions, scores = lexical.score(postings, query, stats)
    if mask is not None:
        keep = mask[positions]
        positions, scores = positions[keep], scores[keep]
    if len(scores) > depth:
        keep = scores >= np.partition(scores, len(scores) - depth)[len(scores) - depth]
        positions, scores = positions[keep], scores[keep]
    return positions, scores


@pytest.fixture(scope="module")
def zipf_postings(tmp_path_factory):
    rng = np.random.default_rng(11)
    vocabulary = [f"w{i}" for i in range(3000)]
    weights = 1 / np.arange(1, len(vocabulary) + 1)  # a few words in most documents, most in few
    weights /= weights.sum()
    documents = [list(rng.choice(vocabulary, rng.integers(3, 40), p=weights)) for _ in range(20_000)]
    directory = tmp_path_factory.mktemp("postings")
    terms = lexical.write_postings(directory, documents)
    postings = lexical.Postings(directory)
    stats = lexical.Statistics(postings.n_docs, postings.total_length / postings.n_docs)
    return postings, stats, terms, vocabulary, rng


@pytest.mark.parametrize("masked", [False, True])
def test_pruned_top_equals_full_scoring(zipf_postings, masked, monkeypatch):
    monkeypatch.setattr(lexical, "PRUNE_MIN_POSTINGS", 0)  # prune at any size
    postings, stats, terms, vocabulary, rng = zipf_postings
    pruned = 0
    for trial in range(300):
        n_words = rng.integers(1, 9)
        # mixes of common words (low ranks) and rare ones; sometimes a word twice
        words = [vocabulary[int(min(rng.zipf(1.3), 2999))] for _ in range(n_words)]
        if trial % 5 == 0:
            words.append(words[0])
        query = [(terms[w][0], stats.idf(terms[w][1])) for w in words if w in terms]
        depth = int(rng.choice([1, 5, 40]))
        mask = rng.random(postings.n_docs) < 0.5 if masked else None
        got_positions, got_scores = lexical.top(postings, query, stats, depth, mask)
        want_positions, want_scores = _reference(postings, query, stats, depth, mask)
        assert np.array_equal(np.sort(got_positions), np.sort(want_positions)), (words, depth)
        got = dict(zip(got_positions.tolist(), got_scores.tolist()))
        assert all(got[p] == s for p, s in zip(want_positions.tolist(), want_scores.tolist()))  # to the bit
        pruned += int(len(query) > 1)
    assert pruned > 100


def test_pruning_skips_common_words(zipf_postings, monkeypatch):
    """The point of it: a rare word with a common one never scores the common word's postings."""
    monkeypatch.setattr(lexical, "PRUNE_MIN_POSTINGS", 0)
    postings, stats, terms, vocabulary, _ = zipf_postings
    common, rare = vocabulary[0], next(w for w in vocabulary[200:] if w in terms and 50 <= terms[w][1] <= 400)
    query = [(terms[common][0], stats.idf(terms[common][1])), (terms[rare][0], stats.idf(terms[rare][1]))]
    scored = []
    real_score = lexical.score

    def recording(postings_, query_, stats_):
        scored.extend(column for column, _ in query_)
        return real_score(postings_, query_, stats_)

    monkeypatch.setattr(lexical, "score", recording)
    positions, _ = lexical.top(postings, query, stats, 5)
    assert scored and terms[common][0] not in scored and len(positions) >= 5
