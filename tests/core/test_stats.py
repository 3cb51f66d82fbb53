"""core/stats.py: the paired comparisons every verdict uses, checked by hand and against their definitions."""
import numpy as np
import pytest
from scipy.stats import binomtest

from seqgap_lab.core.stats import (MIN_EXAMPLES, Comparison, bootstrap_sums, effect_verdict, mcnemar, paired_bootstrap,
                                   paired_verdict, sentence)


def test_mcnemar_by_hand():
    # 200 examples: 30 gained (new right, base wrong), 10 lost, the rest agree
    base = np.array([False] * 30 + [True] * 10 + [True] * 100 + [False] * 60)
    new = np.array([True] * 30 + [False] * 10 + [True] * 100 + [False] * 60)
    c = mcnemar(new, base)
    assert c.n == 200 and c.delta == pytest.approx(0.1)
    assert c.p_value == pytest.approx(binomtest(30, 40, 0.5).pvalue)  # the exact test on the discordant pairs
    se = np.sqrt(40 - 20 ** 2 / 200) / 200
    assert (c.low, c.high) == pytest.approx((0.1 - 1.959964 * se, 0.1 + 1.959964 * se))
    assert c.verdict == "helps" and c.sentence() == "helps (+0.100 [+0.040, +0.160], McNemar p = 0.00222, n = 200)"
    assert mcnemar(base, new).verdict == "hurts"


def test_only_paired_disagreements_count():
    """The same two rates decided by pairing: many swaps (noisy) vs a clean superset (certain)."""
    base = np.arange(1000) < 500
    superset = np.arange(1000) < 540  # every base success kept, 40 gained
    assert mcnemar(superset, base).verdict == "helps"
    swapped = np.roll(np.arange(1000) < 540, 300)  # 540 successes again, but shuffled against base
    assert mcnemar(swapped, base).verdict.startswith(("is underpowered", "makes no clear"))


def test_no_clear_difference_needs_a_narrow_interval():
    same = np.arange(1000) < 700
    assert mcnemar(same, same).verdict == "makes no clear difference"  # identical: interval [0, 0]
    few_swaps = same.copy()
    few_swaps[[0, 999]] = ~few_swaps[[0, 999]]  # one gained, one lost in 1,000: interval about ±0.003
    assert mcnemar(few_swaps, same).verdict == "makes no clear difference"
    base = np.arange(300) < 150
    noisy = np.roll(base, 20)  # 20 gained, 20 lost of 300: interval about ±0.04, wider than 0.03
    c = mcnemar(noisy, base)
    assert c.verdict.startswith("is underpowered (it could only have detected a difference of")
    assert c.detectable == pytest.approx((1.959964 + 0.841621) * np.sqrt(40) / 300, rel=1e-3)


def test_too_few_examples_get_no_verdict():
    c = mcnemar([True] * 50, [False] * 50)
    assert c.verdict == f"is not judged (n = 50 < {MIN_EXAMPLES} examples)"
    assert c.sentence() == f"is not judged (n = 50 < {MIN_EXAMPLES} examples; difference +1.000)"
    assert mcnemar([], []).verdict.startswith("could not be compared")
    with pytest.raises(ValueError, match="equal-length"):
        mcnemar([True, False], [True])


def test_paired_bootstrap_of_a_ratio_difference():
    rng = np.random.default_rng(0)
    chars = rng.integers(20, 60, 400).astype(float)
    base = rng.binomial(chars.astype(int), 0.20).astype(float)
    new = np.maximum(base - rng.binomial(chars.astype(int), 0.05), 0)  # about 5 points fewer errors
    c = paired_bootstrap({"b": base, "n": new, "c": chars}, lambda t: (t["b"] - t["n"]) / t["c"], 0.01)
    assert c.delta == pytest.approx((base.sum() - new.sum()) / chars.sum())
    assert c.low < c.delta < c.high and c.verdict == "helps" and c.p_value < 0.01
    flat = paired_bootstrap({"b": base, "n": base, "c": chars}, lambda t: (t["b"] - t["n"]) / t["c"], 0.01)
    assert flat.delta == 0 and flat.p_value == 1.0 and flat.verdict == "makes no clear difference"


def test_verdict_rule_and_records():
    assert paired_verdict(0.05, 0.01, 0.09, 0.01, 500, 0.03, 0.03) == "helps"
    assert paired_verdict(0.001, -0.01, 0.012, 0.8, 500, 0.02, 0.03) == "makes no clear difference"
    assert paired_verdict(0.01, -0.04, 0.06, 0.7, 500, 0.07, 0.03).startswith("is underpowered")
    c = mcnemar(np.arange(200) < 120, np.arange(200) < 100)
    assert sentence(c.as_dict()) == c.sentence() and Comparison(**c.as_dict()) == c
    assert sentence(None) == "could not be compared"


def test_effect_verdict_three_ways():
    assert effect_verdict(0.001, -0.004, 0.006, 0.02, "yes", "no") == "no"
    assert effect_verdict(0.10, 0.05, 0.15, 0.02, "yes", "no") == "yes"
    assert effect_verdict(0.01, -0.01, 0.03, 0.02, "yes", "no").startswith("underpowered")
    assert effect_verdict(float("nan"), float("nan"), float("nan"), 0.02, "yes", "no") == "no (nothing to compare)"


def test_bootstrap_sums_ratio_and_pairing():
    rng = np.random.default_rng(1)
    errors, tokens = rng.binomial(10, 0.2, 500).astype(float), np.full(500, 10.0)
    est, lo, hi = bootstrap_sums({"e": errors, "n": tokens}, lambda t: t["e"] / t["n"], draws=500)
    assert est == pytest.approx(errors.sum() / tokens.sum()) and lo < est < hi
    assert hi - lo == pytest.approx(2 * 1.96 * np.sqrt(0.2 * 0.8 / 5000), rel=0.25)
    # Paired: the same units resampled on both sides, so a constant shift has a zero-width interval.
    est, lo, hi = bootstrap_sums({"a": errors, "b": errors + 1}, lambda t: (t["b"] - t["a"]) / 500, draws=200)
    assert est == lo == hi == pytest.approx(1.0)
