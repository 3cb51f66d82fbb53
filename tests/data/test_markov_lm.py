"""data/synthetic/markov_lm.py: the known-oracle language's probabilities are proper, exact and what it samples."""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from seqgap_lab.data.synthetic.markov_lm import FIRST, MarkovLM
from seqgap_lab.data.vocab import EOS


def test_next_distributions_are_proper_and_depend_on_the_last_order_symbols_only():
    lm = MarkovLM(num_symbols=5, order=2, seed=1)
    a, b, c = FIRST, FIRST + 1, FIRST + 2
    for prefix in ([], [a], [a, b], [c, a, b]):
        p = lm.next_distribution(prefix)
        assert p.shape == (len(lm.vocab),) and p.min() >= 0 and p.sum() == pytest.approx(1.0)
        assert p[:FIRST].sum() == p[EOS]  # only <eos> among the specials
    assert np.array_equal(lm.next_distribution([a, b]), lm.next_distribution([c, a, b]))
    assert not np.array_equal(lm.next_distribution([a, b]), lm.next_distribution([b, b]))
    assert not np.array_equal(lm.next_distribution([]), lm.next_distribution([a]))  # BOS is a context too


def test_log_prob_is_the_sum_of_the_steps_and_texts_sum_to_one():
    lm = MarkovLM(num_symbols=3, order=1, eos_weight=0.3, seed=2)
    text = [FIRST + 2, FIRST, FIRST]
    steps = [lm.next_distribution(text[:t])[tok] for t, tok in enumerate(text + [EOS])]
    assert lm.log_prob(text) == pytest.approx(sum(math.log(p) for p in steps))
    # every text of up to 8 symbols: their probabilities (with <eos>) sum to 1 minus the mass of longer ones
    total, frontier = 0.0, [([], 1.0)]
    for _ in range(8):
        nxt = []
        for prefix, mass in frontier:
            total += math.exp(lm.log_prob(prefix))
            nxt += [(prefix + [s], mass * lm.next_distribution(prefix)[s]) for s in range(FIRST, FIRST + 3)]
        frontier = nxt
    assert total + sum(m for _, m in frontier) == pytest.approx(1.0)


def test_samples_follow_the_distributions_and_repeat_from_the_seed():
    lm = MarkovLM(num_symbols=4, order=1, alpha=0.5, seed=3)
    texts = lm.corpus(3000, seed=7, max_len=30)
    assert texts == lm.corpus(3000, seed=7, max_len=30) and texts != lm.corpus(3000, seed=8, max_len=30)
    first = Counter(t[0] if t else EOS for t in texts)
    p = lm.next_distribution([])
    for token, count in first.items():  # within 5 standard errors of the chain's own probability
        assert abs(count / len(texts) - p[token]) < 5 * math.sqrt(p[token] * (1 - p[token]) / len(texts))
    assert all(len(t) >= 1 for t in lm.corpus(200, seed=1, min_len=1))
    assert max(len(t) for t in lm.corpus(200, seed=1, max_len=5)) <= 5


def test_peaked_languages_have_lower_entropy_and_bad_input_is_named():
    sharp, flat = MarkovLM(alpha=0.05, seed=0), MarkovLM(alpha=50.0, seed=0)
    assert sharp.context_entropy([]) < flat.context_entropy([]) <= math.log(len(flat.vocab) - FIRST + 1) + 1e-9
    with pytest.raises(ValueError, match=r"order = 5 .*1, 2 or 3"):
        MarkovLM(order=5)
    with pytest.raises(ValueError, match=r"prefix \[0\] holds ids outside"):
        sharp.next_distribution([0])
