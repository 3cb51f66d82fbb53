"""CTC: the loss against enumeration of alignments, greedy collapse, and prefix beam search."""
from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from seqgap_lab.decoding.ctc import collapse, ctc_greedy, ctc_prefix_beam

BLANK, A, B = 0, 1, 2


def _brute_force(log_probs: torch.Tensor) -> dict[tuple, float]:
    """log p(y) for every label sequence y, by summing over all V^T frame paths."""
    t, v = log_probs.shape
    totals: dict[tuple, float] = {}
    for path in itertools.product(range(v), repeat=t):
        y = tuple(collapse(path, BLANK))
        score = sum(float(log_probs[i, c]) for i, c in enumerate(path))
        prev = totals.get(y, -math.inf)
        hi, lo = max(prev, score), min(prev, score)
        totals[y] = hi + math.log1p(math.exp(lo - hi))
    return totals


def test_collapse_merges_repeats_then_drops_blanks():
    assert collapse([A, A, BLANK, B]) == [A, B]
    assert collapse([A, BLANK, A, A, BLANK]) == [A, A]
    assert collapse([BLANK, BLANK]) == []


def test_greedy_on_a_peaked_posterior():
    path = [A, A, BLANK, B]
    log_probs = torch.full((1, 4, 3), math.log(0.05))
    log_probs[0, torch.arange(4), torch.tensor(path)] = math.log(0.9)
    assert ctc_greedy(log_probs) == [[A, B]]
    assert ctc_greedy(log_probs, torch.tensor([2])) == [[A]]  # frames past the length are ignored


def test_prefix_beam_beats_the_best_path_on_the_classic_example():
    # two frames, p(blank) = 0.6, p(a) = 0.4: the best path "--" gives "" (0.36), but "a" has three
    # alignments (aa, a-, -a) worth 0.16 + 0.24 + 0.24 = 0.64
    log_probs = torch.tensor([[0.6, 0.4], [0.6, 0.4]]).log()
    assert ctc_greedy(log_probs[None]) == [[]]
    best, score = ctc_prefix_beam(log_probs, beam_size=4)[0]
    assert best == [A] and score == pytest.approx(math.log(0.64))
    assert score > math.log(0.36)


@pytest.mark.parametrize("seed", range(3))
def test_prefix_beam_scores_and_ctc_loss_equal_enumeration(seed):
    gen = torch.Generator().manual_seed(seed)
    log_probs = torch.randn(4, 3, generator=gen, dtype=torch.float64).log_softmax(-1)  # (T, V)
    totals = _brute_force(log_probs)
    nbest = ctc_prefix_beam(log_probs, beam_size=1000)  # unpruned: every prefix survives
    assert {tuple(y) for y, _ in nbest} == set(totals)
    for y, score in nbest:
        assert score == pytest.approx(totals[tuple(y)], abs=1e-9)
    for y in ([A], [A, B], [B, B, A]):
        nll = F.ctc_loss(log_probs[:, None], torch.tensor([y]), torch.tensor([4]), torch.tensor([len(y)]),
                         blank=BLANK, reduction="sum")
        assert -float(nll) == pytest.approx(totals[tuple(y)], abs=1e-6)
    best = max(totals, key=totals.get)
    assert tuple(nbest[0][0]) == best


def test_prefix_beam_rejects_a_bad_beam_size():
    with pytest.raises(ValueError, match="beam_size = 0"):
        ctc_prefix_beam(torch.zeros(2, 3), beam_size=0)
