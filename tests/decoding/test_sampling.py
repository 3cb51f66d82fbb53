"""decoding/processors.py and sampling.py: hand-made processor cases, argument validation, sampling
equivalences (top_k=1 is greedy), reproducibility, scores = teacher-forced log P(y|x), frequencies."""
from __future__ import annotations

import pytest
import torch
from helpers import KINDS, MAX_LEN, lively_model, random_sources

from seqgap_lab.core.config import ConfigError, DecodeConfig
from seqgap_lab.data.vocab import BOS, EOS, PAD
from seqgap_lab.decoding import (MinLength, NoRepeatNGram, RepetitionPenalty, Temperature, TopK, TopP, apply_processors, build_processors, decode, decode_nbest, greedy, sample)
from seqgap_lab.models.base import DecoderState, Seq2SeqModel

NONE = torch.zeros(1, 0, dtype=torch.long)  # nothing generated yet, one row


def _kept(scores: torch.Tensor) -> list[list[int]]:
    return [row.isfinite().nonzero()[:, 0].tolist() for row in scores]


# ---- processors, by hand -------------------------------------------------------------------------

def test_top_p_keeps_smallest_set_reaching_p():
    probs = torch.tensor([[0.15, 0.5, 0.05, 0.3],  # sorted: 1 (0.5), 3 (0.3), 0 (0.15), 2 (0.05)
                          [0.25, 0.25, 0.25, 0.25]])
    logits = probs.log() + torch.tensor([[1.0], [-2.0]])  # any shift: softmax is what counts
    gen = torch.zeros(2, 0, dtype=torch.long)
    assert _kept(TopP(0.45)(logits, gen)) == [[1], [0, 1]]
    assert _kept(TopP(0.79)(logits, gen)) == [[1, 3], [0, 1, 2, 3]]
    assert _kept(TopP(0.81)(logits, gen)) == [[0, 1, 3], [0, 1, 2, 3]]
    assert _kept(TopP(0.96)(logits, gen)) == [[0, 1, 2, 3]] * 2
    assert _kept(TopP(1.0)(logits, gen)) == [[0, 1, 2, 3]] * 2
    out = TopP(0.79)(logits, gen)
    assert torch.equal(out[0, [1, 3]], logits[0, [1, 3]]), "kept scores are unchanged"


def test_top_k_and_temperature():
    scores = torch.tensor([[0.1, 3.0, -1.0, 2.0, 2.5]])
    assert _kept(TopK(1)(scores, NONE)) == [[1]]
    assert _kept(TopK(3)(scores, NONE)) == [[1, 3, 4]]
    assert torch.equal(TopK(5)(scores, NONE), scores) and torch.equal(TopK(50)(scores, NONE), scores)
    torch.testing.assert_close(Temperature(0.5)(scores, NONE), scores * 2)
    # on log-probs, temperature gives softmax(logits / T)
    got = Temperature(2.0)(scores.log_softmax(-1), NONE).softmax(-1)
    torch.testing.assert_close(got, (scores / 2).softmax(-1))


def test_min_length_is_step_aware():
    proc, scores = MinLength(3, eos=EOS), torch.zeros(2, 6)
    for t, banned in ((0, True), (1, True), (2, False), (5, False)):
        out = proc(scores, torch.full((2, t), 4))
        assert bool(torch.isinf(out[:, EOS]).all()) == banned, t
        assert out[:, [i for i in range(6) if i != EOS]].eq(0).all()
    assert scores.eq(0).all(), "processors do not modify their input"


def test_repetition_penalty_ctrl():
    scores = torch.tensor([[2.0, -1.0, 4.0, -3.0, 1.0]])
    out = RepetitionPenalty(2.0)(scores, torch.tensor([[0, 1, 1, 3]]))
    assert out.tolist() == [[1.0, -2.0, 4.0, -6.0, 1.0]]
    assert torch.equal(RepetitionPenalty(2.0)(scores, NONE), scores)


@pytest.mark.parametrize("n, banned", [(1, [3, 4, 5]), (2, [5]), (3, [5]), (4, []), (6, [])])
def test_no_repeat_ngram(n, banned):
    gen = torch.tensor([[3, 4, 5, 3, 4]])
    assert sorted(set(range(8)) - set(_kept(NoRepeatNGram(n)(torch.zeros(1, 8), gen))[0])) == banned


def test_no_repeat_ngram_several_matches_and_rows():
    gen = torch.tensor([[3, 6, 3, 7, 3], [4, 4, 4, 4, 4]])
    out = NoRepeatNGram(2)(torch.zeros(2, 8), gen)
    assert _kept(out) == [[0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 5, 6, 7]]


def test_build_processors_order_and_no_ops():
    assert build_processors() == []
    chain = build_processors(temperature=0.5, top_k=3, top_p=0.9, min_len=2, repetition_penalty=1.2,
                             no_repeat_ngram=2)
    names = [type(p).__name__ for p in chain]
    assert names == ["RepetitionPenalty", "NoRepeatNGram", "MinLength", "Temperature", "TopK", "TopP"]
    scores = torch.randn(3, 9)
    expect = scores
    for p in chain:
        expect = p(expect, NONE.expand(3, 0))
    assert torch.equal(apply_processors(chain, scores, NONE.expand(3, 0)), expect)


@pytest.mark.parametrize("make, value", [
    (Temperature, 0), (Temperature, -1.0), (Temperature, float("nan")), (Temperature, "1"),
    (TopK, 0), (TopK, 1.5), (TopK, True), (TopP, 0.0), (TopP, 1.1), (TopP, -0.5),
    (MinLength, -1), (MinLength, 2.0), (RepetitionPenalty, 0.9), (RepetitionPenalty, float("inf")),
    (NoRepeatNGram, 0), (NoRepeatNGram, -2),
    (lambda v: build_processors(top_k=v), -1), (lambda v: build_processors(temperature=v), 0.0),
    (lambda v: build_processors(top_p=v), 2.0), (lambda v: build_processors(no_repeat_ngram=v), -1),
    (lambda v: build_processors(min_len=v), -3), (lambda v: build_processors(repetition_penalty=v), 0.5),
])
def test_bad_processor_values_raise_config_error(make, value):
    with pytest.raises(ConfigError) as exc:
        make(value)
    msg = str(exc.value)
    assert repr(value) in msg and "expected" in msg, msg


# ---- sampling -----------------------------------------------------------------------------------

def _teacher_forced_log_probs(model, src, tokens):
    """log_softmax of model(src, [BOS, y_<t]) for every position: (N, T, V)."""
    tgt_in = torch.cat([torch.full((len(tokens), 1), BOS), tokens[:, :-1]], 1)
    with torch.no_grad():
        return model(src, tgt_in).log_softmax(-1)


def _sum_chosen(log_probs, tokens, lengths):
    chosen = log_probs.gather(2, tokens[..., None])[..., 0]  # (N, T)
    real = torch.arange(tokens.shape[1])[None] < lengths[:, None]
    return chosen.where(real, 0.0).sum(1)  # where, not *: a PAD position may hold -inf


@pytest.mark.parametrize("kind", KINDS)
def test_sample_top_k_1_is_greedy(kind):
    model, src = lively_model(kind), random_sources()
    ref = greedy(model, src, src != PAD, MAX_LEN, min_len=2)
    out = sample(model, src, src != PAD, MAX_LEN, num_samples=3, top_k=1, temperature=0.7, min_len=2,
                 generator=torch.Generator().manual_seed(1))
    assert torch.equal(out.tokens, ref.tokens.repeat_interleave(3, 0))
    assert torch.equal(out.lengths, ref.lengths.repeat_interleave(3, 0))
    torch.testing.assert_close(out.scores, ref.scores.repeat_interleave(3, 0))
    assert out.extras["processed_scores"].abs().max() < 1e-6, "top-1 is certain under the processed dist"


@pytest.mark.parametrize("kind", KINDS)
def test_sample_reproducible_and_scores_are_log_p(kind):
    model, src, n = lively_model(kind), random_sources(), 4
    kw = dict(num_samples=n, temperature=1.3, top_k=6, generator=None)
    runs = [sample(model, src, src != PAD, MAX_LEN, **dict(kw, generator=torch.Generator().manual_seed(s)))
            for s in (7, 7, 8)]
    assert torch.equal(runs[0].tokens, runs[1].tokens) and torch.equal(runs[0].scores, runs[1].scores)
    assert not torch.equal(runs[0].tokens, runs[2].tokens)
    out = runs[0]
    assert out.tokens.shape == (len(src) * n, MAX_LEN)
    groups = out.tokens.view(len(src), n, MAX_LEN).tolist()
    assert any(len({tuple(r) for r in g}) > 1 for g in groups), "samples of one source differ"
    # row b*n + j belongs to source b: its score is log P(y | x_b) recomputed teacher-forced
    log_probs = _teacher_forced_log_probs(model, src.repeat_interleave(n, 0), out.tokens)
    torch.testing.assert_close(out.scores, _sum_chosen(log_probs, out.tokens, out.lengths), atol=1e-4, rtol=1e-5)
    chain = build_processors(temperature=1.3, top_k=6)
    processed = torch.stack([apply_processors(chain, log_probs[:, t], NONE.expand(len(out.tokens), 0))
                             for t in range(MAX_LEN)], 1).log_softmax(-1)
    torch.testing.assert_close(out.extras["processed_scores"], _sum_chosen(processed, out.tokens, out.lengths),
                               atol=1e-4, rtol=1e-5)
    assert not torch.allclose(out.scores, out.extras["processed_scores"])


@pytest.mark.parametrize("kind", KINDS)
def test_sample_output_layout_and_min_len(kind):
    model, src = lively_model(kind), random_sources()
    out = sample(model, src, src != PAD, MAX_LEN, num_samples=5, min_len=3, temperature=2.0,
                 generator=torch.Generator().manual_seed(0))
    assert set(out.lengths.tolist()) >= {3, MAX_LEN} and out.lengths.min() >= 3
    for row, length in zip(out.tokens, out.lengths.tolist()):
        eos = (row == EOS).nonzero()[:, 0].tolist()
        assert eos == ([length - 1] if length < MAX_LEN or row[-1] == EOS else [])
        assert (row[length:] == PAD).all() and (row[:length] != PAD).all()


class _ToyModel(Seq2SeqModel):
    """Fixed logits at every step; counts the rows the encoder sees."""

    def __init__(self, logits: torch.Tensor):
        super().__init__(len(logits))
        self.logits, self.encoded_rows = logits, 0

    def encode(self, src, src_mask):
        self.encoded_rows += len(src)
        return torch.zeros(len(src), src.shape[1], 1)

    def init_state(self, memory, src_mask, beam=1):
        return DecoderState({"src_mask": self.repeat_beam(src_mask, beam)}, 0)

    def step(self, prev_tokens, state):
        return self.logits.expand(len(prev_tokens), -1), DecoderState(state.tensors, state.step + 1)


@pytest.mark.parametrize("temperature, top_k, top_p", [(1.0, 0, 1.0), (0.5, 0, 1.0), (2.0, 0, 1.0),
                                                        (1.0, 3, 1.0), (1.5, 0, 0.7)])
def test_sampling_frequencies_match_processed_softmax(temperature, top_k, top_p):
    logits = torch.tensor([0.3, -1.0, 1.2, 0.0, 2.0, -0.5])
    model, n = _ToyModel(logits), 20000
    src = torch.tensor([[3, 4], [5, PAD]])
    out = sample(model, src, src != PAD, 1, num_samples=n, temperature=temperature, top_k=top_k, top_p=top_p,
                 generator=torch.Generator().manual_seed(3))
    assert model.encoded_rows == 2, "the encoder runs once per source, not per sample"
    expect = apply_processors(build_processors(temperature=temperature, top_k=top_k, top_p=top_p),
                              logits[None], NONE)[0].softmax(-1)
    for b in range(2):
        freq = torch.bincount(out.tokens[b * n:(b + 1) * n, 0], minlength=6).float() / n
        torch.testing.assert_close(freq, expect, atol=0.015, rtol=0)  # > 4 sigma at n = 20000
        assert (freq[expect == 0] == 0).all()
    torch.testing.assert_close(out.scores, logits.log_softmax(-1)[out.tokens[:, 0]])


def test_sample_argument_errors():
    model, src = _ToyModel(torch.zeros(5)), torch.tensor([[3]])
    for kw in ({"num_samples": 0}, {"top_k": -1}, {"temperature": 0.0}, {"top_p": 0.0}, {"min_len": -1}):
        with pytest.raises(ConfigError):
            sample(model, src, src != PAD, 3, **kw)


@pytest.mark.parametrize("kind", KINDS)
def test_decode_dispatches_sample_with_seed(kind):
    model, src = lively_model(kind), random_sources(6)
    cfg = DecodeConfig(method="sample", max_len=MAX_LEN, num_samples=3, temperature=1.5, seed=11)
    a, b = decode(model, src, cfg), decode(model, src, cfg)
    assert a.tokens.shape == (18, MAX_LEN) and torch.equal(a.tokens, b.tokens)
    assert not torch.equal(a.tokens, decode(model, src, cfg.replace(seed=12)).tokens)
    sources = [row[row != PAD].tolist() for row in src]
    nbest = decode_nbest(model, sources, cfg.replace(batch_size=4))
    assert [len(h) for h in nbest] == [3] * 6 and all(EOS not in s for h in nbest for s in h)
    assert len({tuple(s) for h in nbest for s in h}) > 6, "one generator for the run: draws differ"
