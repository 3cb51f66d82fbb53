"""The NMT study's rules and headline, on hand-made inputs (the corpus-backed run is the notebook test)."""
from __future__ import annotations

import pandas as pd
import pytest

from seqgap_lab.lessons.translation import study as nmt
from seqgap_lab.core.config import ConfigError
from seqgap_lab.zoo import translation
from seqgap_lab.lessons.translation import summary as translation_summary


def test_repeated_ngram_rate():
    assert nmt.repeated_ngram_rate("a b c d") == 0.0
    # 3-grams of "a b c a b c": abc bca cab abc -> 1 of 4 repeats
    assert nmt.repeated_ngram_rate("a b c a b c") == pytest.approx(0.25)
    assert nmt.repeated_ngram_rate("too short") == 0.0


def test_worst_long_examples_follow_the_rule():
    sources = [" ".join(["w"] * n) for n in (3, 4, 5, 30, 31, 32)]
    refs = ["the cat sat on the mat"] * 6
    # the longest half: indices 3, 4, 5; hypothesis 4 is the worst, then 5
    hyps = ["x", "x", "x", "the cat sat on the mat", "dog dog dog dog dog", "the cat"]
    table = nmt.worst_long_examples(sources, refs, hyps, k=2, longest_fraction=0.5)
    assert table["source_words"].tolist() == [31, 32]
    assert table["chrf"].is_monotonic_increasing
    assert table["repeated_3gram_rate"].iloc[0] > 0.5
    with pytest.raises(ConfigError, match="longest_fraction = 0"):
        nmt.worst_long_examples(sources, refs, hyps, longest_fraction=0)


def _result() -> nmt.StudyResult:
    overall = pd.DataFrame([{"model": "gru", "bleu": 20.0, "chrf": 45.0, "length_ratio": 0.9,
                             "bleu_signature": "sig", "chrf_signature": "sig2"}])
    buckets = pd.DataFrame({"model": "gru", "bucket": ["1-10", "11-20", "41+"], "n": [5, 5, 5],
                            "bleu": [30.0, 20.0, 10.0], "chrf": [50.0, 45.0, 40.0], "length_ratio": [1, 1, 1]})
    comp = pd.DataFrame({"model": "gru", "k": [0, 0, 8, 8], "prefix": ["gold", "model", "gold", "model"],
                         "loss": [2.0, 2.0, 1.5, 2.5], "tokens": 10, "examples": 5})
    empty = pd.DataFrame()
    return nmt.StudyResult(overall, buckets, empty, comp, empty, empty)


def test_headline_and_takeaway_read_the_numbers():
    head = translation_summary.headline(_result())["gru"]
    assert head["bleu_shortest_bucket"] == 30.0 and head["bleu_longest_bucket"] == 10.0
    assert head["longest_bucket"] == "41+" and head["compounding_k"] == 8
    assert head["continuation_loss_model_prefix"] == 2.5 and head["continuation_loss_gold_prefix"] == 1.5
    text = translation_summary.takeaway(translation_summary.headline(_result()), "sig")
    assert "30.0 -> 10.0" in text and "scores fall with length" in text and "2.50 nats/token vs 1.50" in text


def test_profiles_build_valid_configs():
    for profile in translation.PROFILE_SIZES:
        for kind in ("gru", "transformer"):
            sub, model, train = translation.configs(profile, kind, seed=2)
            assert train.seed == 2 and model.kind == kind and sub.vocab_size >= 100
    with pytest.raises(ConfigError, match="'fast'"):
        translation.configs("fast", "gru", 0)


def test_takeaway_flags_a_weak_model():
    result = _result()
    result.overall.loc[0, "bleu"] = 3.0
    assert "too weak" in translation_summary.takeaway(translation_summary.headline(result), "sig")
    assert "too weak" not in translation_summary.takeaway(translation_summary.headline(_result()), "sig")
