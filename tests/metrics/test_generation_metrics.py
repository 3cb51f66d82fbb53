"""Generation metrics on hand-worked examples: rep-n pooled as in SimCTG / contrastive decoding, distinct-n,
diversity, length ratio, and the tolerant `parses` rule for code completions."""
from __future__ import annotations

import pytest

from seqgap_lab.core.config import ConfigError
from seqgap_lab.metrics.generation import (distinct_n, diversity, generation_metrics, length_ratio, ngrams, parse_rate, parses, rep_n)


def test_ngrams_count_every_window():
    assert ngrams("a b c".split(), 2) == [("a", "b"), ("b", "c")]  # the last one counts too
    assert ngrams([1, 2], 3) == []
    with pytest.raises(ConfigError, match="n = 0"):
        ngrams([1, 2], 0)


def test_rep_n_by_hand():
    text = ["a b a b a b"]
    # bigrams ab ba ab ba ab: 2 unique of 5; trigrams aba bab aba bab: 2 of 4; 4-grams abab baba abab: 2 of 3
    assert rep_n(text, 2) == pytest.approx(1 - 2 / 5)
    assert rep_n(text, 3) == pytest.approx(1 - 2 / 4)
    assert rep_n(text, 4) == pytest.approx(1 - 2 / 3)
    assert rep_n([[7, 7, 7, 7]], 1) == pytest.approx(0.75)  # token ids work as well as words
    assert rep_n(["one two three four"], 2) == 0.0
    assert rep_n([""], 2) == 0.0 and rep_n([], 2) == 0.0  # no n-gram: nothing repeats


def test_rep_n_pools_counts_over_texts_and_ignores_repeats_across_texts():
    # text 1: ab ba ab (2 unique of 3); text 2: cd de (2 of 2) -> 1 - 4/5, not the mean of ratios (1/6)
    assert rep_n(["a b a b", "c d e"], 2) == pytest.approx(0.2)
    assert rep_n(["a b", "a b"], 2) == 0.0  # the same text twice repeats nothing inside either
    assert distinct_n(["a b", "a b"], 2) == 0.5  # distinct-n does see it


def test_distinct_n_by_hand():
    texts = ["a b c", "a b d"]
    assert distinct_n(texts, 2) == pytest.approx(3 / 4)  # ab bc ab bd
    assert distinct_n(texts, 1) == pytest.approx(4 / 6)
    assert distinct_n([], 1) == 0.0


def test_diversity_is_the_product_over_orders_2_to_4():
    assert diversity(["a b a b a b"]) == pytest.approx((1 - 3 / 5) * (1 - 1 / 2) * (1 - 1 / 3))
    assert diversity(["the cat sat on a mat"]) == 1.0
    assert diversity(["x x x x x x x x"]) == pytest.approx((1 / 7) * (1 / 6) * (1 / 5))
    assert diversity(["a b a b a b"], orders=(2,)) == pytest.approx(0.4)


def test_length_ratio_by_hand():
    assert length_ratio(["a b c", "d"], ["a b", "c d"]) == 1.0
    assert length_ratio(["a"], ["a b"]) == 0.5
    assert length_ratio([[1, 2, 3]], [[4]]) == 3.0
    with pytest.raises(ValueError, match="1 hypotheses vs 2 references"):
        length_ratio(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="no token"):
        length_ratio(["a"], [""])


def test_a_bare_string_is_refused():
    with pytest.raises(TypeError, match="wrap it in a list"):
        rep_n("a b a b", 2)
    with pytest.raises(TypeError, match="wrap it in a list"):
        parse_rate("x = 1")


PROMPT = "def f(x):\n"


@pytest.mark.parametrize("completion, tolerant, strict", [
    ("    return x\n", True, True),  # complete
    ("    return x", True, True),  # complete without the final newline
    ("    return x\n    y = (", True, True),  # a trailing partial line is dropped
    ("    if x:\n", True, False),  # an open block: unfinished, not wrong
    ("    y = g(x,\n          1", True, False),  # an open bracket across lines
    ('    """Doc\n    more', True, False),  # an open docstring
    ("    y = )\n    return y\n", False, False),  # a syntax error in a complete line
    ("    return x\n  z = 1\n", False, False),  # a bad dedent
    ("    return x +\n", False, False),  # the last line is complete and wrong
])
def test_parses_rule(completion, tolerant, strict):
    assert parses(PROMPT + completion) is tolerant
    assert parses(PROMPT + completion, allow_unfinished=False) is strict


def test_parses_single_line_and_rate():
    assert parses("x = 1") and not parses("x = )")
    codes = [PROMPT + "    return x\n", PROMPT + "    y = )\n", PROMPT + "    if x:\n"]
    assert parse_rate(codes) == pytest.approx(2 / 3)
    assert parse_rate(codes, allow_unfinished=False) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="at least one"):
        parse_rate([])


def test_generation_metrics_row():
    row = generation_metrics(["a b a b a b", "c d e f"], references=["a b c", "d e f"],
                             code_texts=[PROMPT + "    return x\n", "x = )"])
    # pooled: bigrams 2 of 5 unique + 3 of 3 unique -> 1 - 5/8
    assert row["rep_2"] == pytest.approx(1 - 5 / 8)
    assert row["diversity"] == pytest.approx((1 - row["rep_2"]) * (1 - row["rep_3"]) * (1 - row["rep_4"]))
    assert row["length_ratio"] == pytest.approx(10 / 6) and row["mean_length"] == 5.0
    assert row["parse_rate"] == 0.5 and row["distinct_1"] == pytest.approx(6 / 10)
    assert "length_ratio" not in generation_metrics(["a b"])
