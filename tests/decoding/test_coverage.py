"""GNMT coverage penalty in beam search: hand-worked values, the stopping bound, beta = 0 is plain beam,
a wide beam equals exhaustive search under the same scoring, padding never counts."""
from __future__ import annotations

import math

import pytest
import torch
from helpers import KINDS, MAX_LEN, TINY_LEN, all_hypotheses, lively_model, lp_value, random_sources, tiny_model

from seqgap_lab.core.config import ConfigError, DecodeConfig
from seqgap_lab.data.vocab import BOS, PAD
from seqgap_lab.decoding import CoveragePenalty, beam_search, best_coverage_penalty, coverage_penalty, decode


def test_coverage_penalty_hand_worked():
    coverage = torch.tensor([[0.5, 1.5, 0.25, 0.0], [1.0, 2.0, 0.1, 0.3]])
    mask = torch.tensor([[True, True, False, False], [True, True, True, True]])
    # row 0: log 0.5 + log 1 (1.5 capped), padding ignored; row 1: log 1 + log 1 + log 0.1 + log 0.3
    expect = torch.tensor([0.2 * math.log(0.5), 0.2 * (math.log(0.1) + math.log(0.3))])
    torch.testing.assert_close(coverage_penalty(coverage, mask, 0.2), expect)
    assert coverage_penalty(coverage, mask, 0.0).eq(0).all()
    # a real position never attended gives a large finite penalty, not -inf
    assert coverage_penalty(torch.tensor([0.0, 1.0]), torch.tensor([True, True]), 1.0).isfinite()


def test_best_coverage_penalty_is_water_filling():
    # capped [0.2, 0.6, 1.0]; 0.4 lifts 0.2 to 0.6, the other 0.2 lifts both to 0.7
    cov, mask = torch.tensor([0.2, 0.6, 1.3]), torch.ones(3, dtype=torch.bool)
    torch.testing.assert_close(best_coverage_penalty(cov, mask, torch.tensor(0.6), 1.0),
                               torch.tensor(2 * math.log(0.7)))
    assert best_coverage_penalty(cov, mask, torch.tensor(5.0), 1.0) == 0.0, "enough mass covers everything"
    # padding needs no mass: [0.5, pad] with 0.5 to add reaches 0
    assert best_coverage_penalty(torch.tensor([0.5, 0.0]), torch.tensor([True, False]), torch.tensor(0.5), 1.0) == 0


def test_best_coverage_penalty_bounds_every_addition():
    g = torch.Generator().manual_seed(0)
    cov = torch.rand(200, 6, generator=g) * 1.5
    mask = torch.rand(200, 6, generator=g) > 0.2
    budget = torch.rand(200, generator=g) * 3
    best = best_coverage_penalty(cov, mask, budget, 0.7)
    assert (best >= coverage_penalty(cov, mask, 0.7) - 1e-6).all() and (best <= 0).all()
    for _ in range(50):  # random ways to spend at most the budget, on real and padded positions alike
        share = torch.rand(200, 6, generator=g)
        share = share / share.sum(-1, keepdim=True) * budget[:, None] * torch.rand(200, 1, generator=g)
        assert (coverage_penalty(cov + share, mask, 0.7) <= best + 1e-5).all()


class _NoEarlyStop(CoveragePenalty):
    """The same scoring with a useless bound: every sentence runs to max_len."""

    def bound(self, raw, max_len, coverage=None, src_mask=None):
        return torch.full_like(raw, math.inf)


def _counting(model):
    rows = []
    step = model.step
    model.step = lambda prev, state, **kw: (rows.append(len(prev)), step(prev, state, **kw))[1]
    return rows


@pytest.mark.parametrize("kind", KINDS)
def test_beta_zero_is_plain_beam_and_bound_changes_nothing(kind):
    model, src = lively_model(kind), random_sources()
    kw = dict(beam_size=4, num_return=3, min_len=2)
    for alpha in (0.6, 0.0):  # the last, alpha = 0, is the reference below
        plain = beam_search(model, src, src != PAD, MAX_LEN, alpha=alpha, **kw)
        zero = beam_search(model, src, src != PAD, MAX_LEN, scorer=CoveragePenalty(alpha, "gnmt", 0.0), **kw)
        assert torch.equal(zero.tokens, plain.tokens)
        torch.testing.assert_close(zero.scores, plain.scores)
    rows = _counting(model)  # alpha = 0: without a length penalty early stops are common
    fast = beam_search(model, src, src != PAD, MAX_LEN, scorer=CoveragePenalty(0.0, "gnmt", 0.5), **kw)
    stepped = sum(rows)
    full = beam_search(model, src, src != PAD, MAX_LEN, scorer=_NoEarlyStop(0.0, "gnmt", 0.5), **kw)
    assert stepped < sum(rows) - stepped, "the bound stopped some sentences early"
    assert torch.equal(fast.tokens, full.tokens) and not torch.equal(fast.tokens, plain.tokens)
    torch.testing.assert_close(fast.scores, full.scores)


@torch.no_grad()
def _exhaustive(model, src_row, penalty, alpha, beta):
    """Every hypothesis for one source (1, S), scored raw / lp + cp from its own step-by-step attention."""
    tokens, lengths = all_hypotheses(model.vocab_size, TINY_LEN)
    n, mask = len(tokens), src_row != PAD
    state = model.init_state(model.encode(src_row, mask), mask, beam=n)
    prev, raw, cov = torch.full((n,), BOS), torch.zeros(n), torch.zeros(n, src_row.shape[1])
    for t in range(TINY_LEN):
        logits, state = model.step(prev, state, need_weights=True)
        alive = t < lengths
        raw += torch.where(alive, logits.log_softmax(-1).gather(1, tokens[:, t:t + 1])[:, 0], 0.0)
        cov += state["attention"] * alive[:, None]
        prev = tokens[:, t]
    cp = beta * torch.where(mask, cov.clamp(max=1.0).log(), 0.0).sum(-1)
    scores = raw / torch.tensor([lp_value(int(m), penalty, alpha) for m in lengths]) + cp
    return {tuple(t[:m].tolist()): float(s) for t, m, s in zip(tokens, lengths, scores)}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("penalty, alpha", [("none", 0.0), ("gnmt", 1.0)])
def test_wide_beam_equals_exhaustive_search_with_coverage(kind, penalty, alpha):
    model, beta = tiny_model(kind), 1.0
    src = torch.tensor([[3, 4, 3], [4, PAD, PAD], [3, 3, PAD]])
    k = len(all_hypotheses(model.vocab_size, TINY_LEN)[0])  # every candidate ranks < k: the search is exact
    out = beam_search(model, src, src != PAD, TINY_LEN, beam_size=k, num_return=k,
                      scorer=CoveragePenalty(alpha, penalty, beta))
    changed = 0
    for b in range(len(src)):
        exact = _exhaustive(model, src[b:b + 1], penalty, alpha, beta)
        rows = slice(b * k, (b + 1) * k)
        found = [tuple(t[:m].tolist()) for t, m in zip(out.tokens[rows], out.lengths[rows])]
        assert set(found) == set(exact), "every hypothesis, once"
        torch.testing.assert_close(out.scores[rows], torch.tensor([exact[f] for f in found]), atol=1e-4, rtol=1e-5)
        ranked = sorted(exact.values(), reverse=True)
        torch.testing.assert_close(out.scores[rows], torch.tensor(ranked), atol=1e-4, rtol=1e-5)
        plain = _exhaustive(model, src[b:b + 1], penalty, alpha, 0.0)
        changed += sorted(plain, key=plain.get)[-5:] != sorted(exact, key=exact.get)[-5:]
    assert changed, "the coverage penalty changes the 5 best hypotheses of some source"


@pytest.mark.parametrize("kind", KINDS)
def test_coverage_ignores_source_padding(kind):
    model, src = lively_model(kind), random_sources()
    scorer = CoveragePenalty(0.6, "gnmt", 0.5)
    batch = beam_search(model, src, src != PAD, MAX_LEN, beam_size=4, num_return=2, scorer=scorer)
    wider = torch.cat([src, torch.full((len(src), 3), PAD)], 1)  # more padding columns for every row
    more = beam_search(model, wider, wider != PAD, MAX_LEN, beam_size=4, num_return=2, scorer=scorer)
    assert torch.equal(more.tokens, batch.tokens)
    torch.testing.assert_close(more.scores, batch.scores, atol=1e-4, rtol=1e-5)
    for b in range(len(src)):
        alone = src[b:b + 1][:, src[b] != PAD]  # no padding at all
        one = beam_search(model, alone, alone != PAD, MAX_LEN, beam_size=4, num_return=2, scorer=scorer)
        assert torch.equal(one.tokens, batch.tokens[2 * b: 2 * b + 2])
        torch.testing.assert_close(one.scores, batch.scores[2 * b: 2 * b + 2], atol=1e-4, rtol=1e-5)


def test_decode_config_beta():
    model, src = lively_model("transformer"), random_sources()
    cfg = DecodeConfig(method="beam", beam_size=3, alpha=0.6, beta=0.4, max_len=MAX_LEN)
    ref = beam_search(model, src, src != PAD, MAX_LEN, beam_size=3, scorer=CoveragePenalty(0.6, "gnmt", 0.4))
    out = decode(model, src, cfg)
    assert torch.equal(out.tokens, ref.tokens) and torch.equal(out.scores, ref.scores)
    for bad in (-0.1, math.inf, "0.2"):
        with pytest.raises(ConfigError, match="DecodeConfig.beta"):
            DecodeConfig(beta=bad)
    with pytest.raises(ConfigError, match="CoveragePenalty.beta"):
        CoveragePenalty(beta=-1.0)


def test_coverage_needs_attention_weights():
    model, src = lively_model("gru"), random_sources(2)
    step = model.step

    def blind(prev, state, **kw):  # a model whose step reports no attention (a decoder-only LM)
        logits, state = step(prev, state, **kw)
        state.tensors["attention"] = None
        return logits, state
    model.step = blind
    with pytest.raises(ConfigError, match="beam_search.scorer"):
        beam_search(model, src, src != PAD, MAX_LEN, scorer=CoveragePenalty(beta=0.3))
