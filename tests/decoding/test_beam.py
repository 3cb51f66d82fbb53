"""decoding/beam.py: beam size 1 is greedy, a wide beam is exhaustive search, early stopping changes
nothing (against a naive cache-free beam search), batch independence, layout, the coverage hook."""
from __future__ import annotations


import pytest
import torch
from helpers import KINDS, MAX_LEN, TINY_LEN, TINY_V, all_hypotheses, lively_model, lp_value, random_sources, tiny_model

from seqgap_lab.core.config import ConfigError, DecodeConfig
from seqgap_lab.data.vocab import BOS, EOS, PAD
from seqgap_lab.decoding import (BeamScorer, beam_search, decode, decode_nbest, decode_sequences, greedy, length_penalty)

PENALTIES = [("none", 0.0), ("gnmt", 1.0), ("hf", 1.0)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("min_len", [0, 3])
def test_beam_size_1_is_greedy(kind, min_len):
    model, src = lively_model(kind), random_sources()
    ref = greedy(model, src, src != PAD, MAX_LEN, min_len=min_len)
    assert MAX_LEN in ref.lengths and len(set(ref.lengths.tolist())) >= 2
    for penalty in ("none", "gnmt", "hf"):  # alpha = 0 turns every length penalty off
        out = beam_search(model, src, src != PAD, MAX_LEN, beam_size=1, length_penalty=penalty, min_len=min_len)
        assert torch.equal(out.tokens, ref.tokens) and torch.equal(out.lengths, ref.lengths)
        torch.testing.assert_close(out.scores, ref.scores, atol=1e-4, rtol=1e-5)
        torch.testing.assert_close(out.extras["raw_scores"], ref.scores, atol=1e-4, rtol=1e-5)
    cfg = DecodeConfig(method="beam", beam_size=1, max_len=MAX_LEN, min_len=min_len)
    assert torch.equal(decode(model, src, cfg).tokens, ref.tokens)


# ---- exhaustive search on a tiny vocabulary -------------------------------------------------------

@torch.no_grad()
def _exhaustive(model, src_row, kind, alpha):
    """All hypotheses for one source, scored teacher-forced, best first: tokens, lengths, scores."""
    tokens, lengths = all_hypotheses(TINY_V, TINY_LEN)
    tgt_in = torch.cat([torch.full((len(tokens), 1), BOS), tokens[:, :-1]], 1)
    log_probs = model(src_row.expand(len(tokens), -1), tgt_in).log_softmax(-1)
    chosen = log_probs.gather(2, tokens[..., None])[..., 0]
    raw = chosen.where(torch.arange(TINY_LEN)[None] < lengths[:, None], 0.0).sum(1)
    scores = raw / torch.tensor([lp_value(int(n), kind, alpha) for n in lengths])
    best = scores.argsort(descending=True)
    return tokens[best], lengths[best], scores[best]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("penalty, alpha", [("none", 0.0), ("gnmt", 1.5), ("hf", 1.0)])
def test_wide_beam_equals_exhaustive_search(kind, penalty, alpha):
    model = tiny_model(kind)
    src = torch.tensor([[3, 4, 3], [4, PAD, PAD], [3, 3, PAD]])
    k = (TINY_V - 1) ** TINY_LEN  # wide enough to keep every live prefix: the search is exact
    out = beam_search(model, src, src != PAD, TINY_LEN, beam_size=k, alpha=alpha, length_penalty=penalty,
                      num_return=k)
    for b in range(len(src)):
        tokens, lengths, scores = _exhaustive(model, src[b:b + 1], penalty, alpha)
        assert len(set(lengths[:20].tolist())) > 1, "the best list mixes lengths"
        exact = {tuple(t[:n].tolist()): float(sc) for t, n, sc in zip(tokens, lengths, scores)}
        rows = slice(b * k, (b + 1) * k)
        found = [tuple(t[:n].tolist()) for t, n in zip(out.tokens[rows], out.lengths[rows])]
        assert len(set(found)) == k, "k distinct hypotheses"
        # each returned hypothesis is scored right, and they are the k best (tie-robust: by score)
        torch.testing.assert_close(out.scores[rows], torch.tensor([exact[f] for f in found]), atol=1e-4, rtol=1e-5)
        torch.testing.assert_close(out.scores[rows], scores[:k], atol=1e-4, rtol=1e-5)
        gap = (scores[:-1] - scores[1:]).abs()  # a hypothesis is clearly placed when far from both neighbours
        clear = torch.cat([gap[:1], torch.minimum(gap[:-1], gap[1:])])[:k] > 1e-4
        assert clear[:8].sum() >= 4 and torch.equal(out.tokens[rows][clear], tokens[:k][clear]), "order"


# ---- against a naive beam search without cache, pruning or early stopping ------------------------

@torch.no_grad()
def _naive_beam(model, src_row, max_len, k, kind, alpha):
    """Textbook per-sentence beam search (HF's candidate rule), full teacher-forced recompute, run to max_len."""
    live, finished = [([], 0.0)], []
    for t in range(max_len):
        tgt_in = torch.tensor([[BOS] + seq for seq, _ in live])
        log_probs = model(src_row.expand(len(live), -1), tgt_in)[:, -1].log_softmax(-1)
        cands = sorted(((raw + float(log_probs[i, v]), seq + [v]) for i, (seq, raw) in enumerate(live)
                        for v in range(log_probs.shape[1])), key=lambda c: -c[0])[:2 * k]
        for rank, (raw, seq) in enumerate(cands):
            if seq[-1] == EOS and rank < k:
                finished.append((raw / lp_value(t + 1, kind, alpha), raw, seq))
        live = [(seq, raw) for raw, seq in cands if seq[-1] != EOS][:k]
    finished += [(raw / lp_value(max_len, kind, alpha), raw, seq) for seq, raw in live]
    return sorted(finished, key=lambda f: -f[0])[:k]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("penalty, alpha", PENALTIES)
def test_beam_matches_naive_reference(kind, penalty, alpha):
    model, src, k = lively_model(kind), random_sources(), 3
    rows_stepped = []
    step = model.step
    model.step = lambda prev, state, **kw: (rows_stepped.append(len(prev)), step(prev, state, **kw))[1]
    out = beam_search(model, src, src != PAD, MAX_LEN, beam_size=k, alpha=alpha, length_penalty=penalty,
                      num_return=k)
    del model.step
    if penalty == "none":  # early stopping and pruning happened, so the comparison tests them
        assert sum(rows_stepped) < len(src) * k * MAX_LEN
    for b in range(len(src)):
        ref = _naive_beam(model, src[b:b + 1][:, src[b] != PAD], MAX_LEN, k, penalty, alpha)
        for i, (score, raw, seq) in enumerate(ref):
            row = b * k + i
            assert out.tokens[row, : out.lengths[row]].tolist() == seq, (b, i)
            assert abs(float(out.scores[row]) - score) < 1e-4 and abs(float(out.extras["raw_scores"][row]) - raw) < 1e-4


@pytest.mark.parametrize("kind", KINDS)
def test_beam_independent_of_batch_composition(kind):
    model, src = lively_model(kind), random_sources()
    kw = dict(beam_size=4, alpha=0.6, length_penalty="gnmt", num_return=2, min_len=2)
    batch = beam_search(model, src, src != PAD, MAX_LEN, **kw)
    for b in range(len(src)):
        alone = src[b:b + 1][:, src[b] != PAD]  # no padding at all
        one = beam_search(model, alone, alone != PAD, MAX_LEN, **kw)
        assert torch.equal(one.tokens, batch.tokens[2 * b: 2 * b + 2])
        torch.testing.assert_close(one.scores, batch.scores[2 * b: 2 * b + 2], atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_beam_output_layout_and_scores(kind):
    model, src, n = lively_model(kind), random_sources(), 3
    out = beam_search(model, src, src != PAD, MAX_LEN, beam_size=5, alpha=0.8, num_return=n)
    assert out.tokens.shape == (len(src) * n, MAX_LEN) and out.scores.shape == (len(src) * n,)
    assert (out.scores.view(-1, n).diff(dim=1) <= 0).all(), "best first"
    for row, length in zip(out.tokens, out.lengths.tolist()):
        assert (row[length:] == PAD).all() and (row[:length] != PAD).all()
        assert (row[: length - 1] != EOS).all() and (row[length - 1] == EOS or length == MAX_LEN)
    tgt_in = torch.cat([torch.full((len(out.tokens), 1), BOS), out.tokens[:, :-1]], 1)
    with torch.no_grad():
        log_probs = model(src.repeat_interleave(n, 0), tgt_in).log_softmax(-1)
    chosen = log_probs.gather(2, out.tokens[..., None])[..., 0]
    raw = chosen.where(torch.arange(MAX_LEN)[None] < out.lengths[:, None], 0.0).sum(1)
    torch.testing.assert_close(out.extras["raw_scores"], raw, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(out.scores, raw / length_penalty(out.lengths, 0.8, "gnmt"), atol=1e-4, rtol=1e-5)
    assert (out.scores >= raw - 1e-5).all(), "lp >= 1 and raw <= 0"


class _CoverageProbe(BeamScorer):
    """Scores like the default, asks for attention, and records what coverage it was given."""

    needs_attention = True

    def __init__(self):
        super().__init__(alpha=0.5)
        self.seen = []

    def score(self, raw, lengths, coverage=None):
        self.seen.append((coverage.sum(-1), lengths.float()))
        return super().score(raw, lengths, coverage)


@pytest.mark.parametrize("kind", KINDS)
def test_coverage_hook_receives_summed_attention(kind):
    model, src = lively_model(kind), random_sources()
    probe = _CoverageProbe()
    out = beam_search(model, src, src != PAD, MAX_LEN, beam_size=3, num_return=2, scorer=probe)
    ref = beam_search(model, src, src != PAD, MAX_LEN, beam_size=3, num_return=2, alpha=0.5)
    assert torch.equal(out.tokens, ref.tokens)
    assert len(probe.seen) > 1
    for coverage_mass, lengths in probe.seen:  # one attention row (sums to 1) per token fed
        torch.testing.assert_close(coverage_mass, lengths, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("kw", [{"beam_size": 0}, {"beam_size": 1001}, {"beam_size": 2, "num_return": 3},
                                {"alpha": -0.1}, {"length_penalty": "wu"}, {"min_len": -1}])
def test_beam_argument_errors(kw):
    model, src = lively_model("gru"), random_sources(2)
    with pytest.raises(ConfigError):
        beam_search(model, src, src != PAD, MAX_LEN, **kw)


def test_decode_nbest_and_sequences_with_beam():
    model, src = lively_model("transformer"), random_sources(10, seed=4)
    sources = [row[row != PAD].tolist() for row in src]
    cfg = DecodeConfig(method="beam", beam_size=4, num_return=3, max_len=MAX_LEN, batch_size=3)
    nbest = decode_nbest(model, sources, cfg)
    best = decode_sequences(model, sources, cfg)
    assert [len(h) for h in nbest] == [3] * len(sources)
    assert best == [h[0] for h in nbest]
    for s, hyps in zip(sources, nbest):
        out = beam_search(model, torch.tensor([s]), torch.tensor([s]) != PAD, MAX_LEN, beam_size=4, num_return=3)
        expect = [r[:n] for r, n in zip(out.tokens.tolist(), out.lengths.tolist())]
        assert hyps == [e[:-1] if e[-1] == EOS else e for e in expect]
