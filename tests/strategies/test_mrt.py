"""strategies/mrt.py: the candidate distribution Q, the risks, the reference-only reduction to risk 0,
log P(y|x) against step-by-step decoding, bad arguments, and that the loss backpropagates."""
from __future__ import annotations

import math

import numpy as np
import pytest
import sacrebleu
import torch

from seqgap_lab.core.config import ConfigError, ModelConfig
from seqgap_lab.data.batching import collate
from seqgap_lab.data.vocab import BOS, EOS
from seqgap_lab.models import build_model
from seqgap_lab.strategies import get_strategy
from seqgap_lab.strategies.mrt import MinimumRiskTraining, group_q, sequence_log_probs, token_error

V = 9
KINDS = ["gru", "transformer"]


def _model(kind: str):
    torch.manual_seed(0)
    return build_model(ModelConfig(kind=kind, d_model=16, num_heads=2, num_layers=1, ffn_dim=32, dropout=0.0), V)


def _batch():
    g = torch.Generator().manual_seed(1)
    pairs = [(torch.randint(3, V, (n,), generator=g).tolist(), torch.randint(3, V, (n + 1,), generator=g).tolist())
             for n in (3, 5, 2, 4)]
    return collate(pairs)


def test_token_error_hand_cases():
    assert token_error([[1, 2, 3]], [[1, 2, 3]])[0] == 0.0
    assert token_error([[1, 9, 3]], [[1, 2, 3]])[0] == pytest.approx(1 / 3)
    assert token_error([[1, 2]], [[1, 2, 3, 4]])[0] == pytest.approx(2 / 4)  # missing tokens count
    assert token_error([[1, 2, 3, 4, 5, 6]], [[1, 2, 3]])[0] == pytest.approx(3 / 6)  # extra tokens count
    assert token_error([[]], [[]])[0] == 0.0


def test_q_sums_to_one_per_source_and_alpha_one_is_renormalised_probability():
    lp = torch.tensor([-1.0, -2.0, -4.0, -0.5, -3.0])
    owner = torch.tensor([0, 0, 0, 1, 1])
    q = group_q(lp, owner, 2, alpha=1.0)
    sums = torch.zeros(2).index_add(0, owner, q)
    assert torch.allclose(sums, torch.ones(2))
    p = lp.exp()
    assert torch.allclose(q[:3], p[:3] / p[:3].sum())
    assert torch.allclose(q[3:], p[3:] / p[3:].sum())


def test_q_sharpens_as_alpha_grows_and_stays_finite_for_long_sequences():
    lp = torch.tensor([-300.0, -310.0, -330.0, -360.0])
    owner = torch.zeros(4, dtype=torch.long)
    entropies = []
    for alpha in (5e-3, 0.05, 0.5, 1.0, 5.0):
        q = group_q(lp, owner, 1, alpha)
        assert torch.isfinite(q).all() and float(q.sum()) == pytest.approx(1.0)
        entropies.append(float(-(q * q.clamp_min(1e-30).log()).sum()))
    assert all(a > b for a, b in zip(entropies, entropies[1:])), entropies
    assert entropies[0] > 0.99 * math.log(4)  # alpha = 5e-3: nearly uniform
    assert entropies[-1] < 1e-6  # alpha = 5: all mass on the most probable candidate


@pytest.mark.parametrize("kind", KINDS)
def test_reference_only_candidate_set_has_risk_zero(kind):
    model, batch = _model(kind), _batch()
    strategy = get_strategy("mrt", num_samples=0, include_reference=True, risk="token_error")
    loss, logs = strategy.loss(model, batch, 0)
    assert float(loss.detach()) == 0.0 and logs["candidates"] == 1.0 and logs["q_max"] == 1.0
    for risk in ("bleu",):  # BLEU of the reference against itself is 100
        loss, _ = get_strategy("mrt", num_samples=0, include_reference=True, risk=risk).loss(model, batch, 0)
        assert float(loss.detach()) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("kind", KINDS)
def test_sequence_log_probs_equal_step_by_step(kind):
    model, batch = _model(kind).eval(), _batch()
    cands = batch.tgt_out  # (B, T) gold + EOS, PAD after
    owner = torch.arange(len(cands))
    with torch.no_grad():
        got = sequence_log_probs(model, batch.src, batch.src_mask, owner, cands)
        state = model.init_state(model.encode(batch.src, batch.src_mask), batch.src_mask)
        prev, want = torch.full((len(cands),), BOS), torch.zeros(len(cands))
        for t in range(cands.shape[1]):
            logits, state = model.step(prev, state)
            lp = logits.log_softmax(-1).gather(1, cands[:, t:t + 1])[:, 0]
            want += lp * (cands[:, t] != 0)
            prev = cands[:, t]
    assert torch.allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("risk", ["token_error", "bleu"])
def test_loss_is_finite_and_backpropagates(kind, risk):
    model, batch = _model(kind).train(), _batch()
    strategy = get_strategy("mrt", num_samples=4, alpha=1.0, risk=risk, include_reference=True)
    loss, logs = strategy.loss(model, batch, 0)
    assert torch.isfinite(loss) and 0.0 <= float(loss.detach()) <= 1.0
    assert model.training, "sampling leaves the model in its training mode"
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    assert 1.0 <= logs["candidates"] <= 5.0


def test_candidates_are_deduplicated_and_grouped_by_source():
    model, batch = _model("transformer"), _batch()
    strategy = MinimumRiskTraining(num_samples=16, include_reference=True, temperature=0.3)
    cands, owner = strategy.candidates(model, batch)
    assert owner == sorted(owner) or set(owner) == set(range(len(batch)))
    per_source = {}
    for seq, b in zip(cands, owner):
        per_source.setdefault(b, []).append(tuple(seq))
    assert set(per_source) == set(range(len(batch)))
    for b, seqs in per_source.items():
        assert len(seqs) == len(set(seqs)) <= 17
    # temperature 0.3 makes repeats likely: fewer unique than drawn
    assert len(cands) < len(batch) * 17


def test_bleu_risk_with_detokenizer_equals_sacrebleu():
    words = {i: w for i, w in enumerate(["<pad>", "<bos>", "<eos>", "the", "cat", "sat", "on", "a", "mat"])}
    detok = lambda ids: " ".join(words[i] for i in ids)  # noqa: E731
    strategy = MinimumRiskTraining(risk="bleu", detokenize=detok)
    cands = [[3, 4, 5, 6, 3, 8, EOS], [3, 4, 6, EOS], [7, 8, EOS]]
    ref = [3, 4, 5, 6, 7, 8, EOS]
    got = strategy.risks(cands, [ref] * 3)
    want = [1 - sacrebleu.sentence_bleu(detok(c[:-1]), [detok(ref[:-1])]).score / 100 for c in cands]
    assert np.allclose(got, want, atol=1e-9)


@pytest.mark.parametrize("kwargs", [
    dict(num_samples=-1), dict(num_samples=1.5), dict(num_samples=2000), dict(alpha=0.0), dict(alpha=-1.0),
    dict(alpha=float("nan")), dict(risk="bleurt"), dict(temperature=0.0), dict(max_len_ratio=0.5),
    dict(mle_weight=-1.0), dict(num_samples=0), dict(risk="chrf"), dict(include_reference="yes"),
])
def test_bad_arguments_raise_config_error_naming_the_value(kwargs):
    with pytest.raises(ConfigError) as err:
        get_strategy("mrt", **kwargs)
    name = next(iter(kwargs))
    assert name in str(err.value) or "detokenize" in str(err.value)


@pytest.mark.parametrize("kind", KINDS)
def test_beam_candidates_join_the_set(kind):
    from seqgap_lab.decoding import beam_search
    model, batch = _model(kind).eval(), _batch()
    strategy = MinimumRiskTraining(num_samples=0, beam_candidates=3)
    cands, owner = strategy.candidates(model, batch)
    max_len = math.ceil(1.5 * batch.tgt_out.shape[1])  # the strategy's default max_len_ratio
    out = beam_search(model, batch.src, batch.src_mask, max_len, beam_size=3, num_return=3)
    for b in range(len(batch)):
        mine = {tuple(c) for c, o in zip(cands, owner) if o == b}
        best = out.tokens[3 * b, : int(out.lengths[3 * b])].tolist()
        assert tuple(best) in mine and 1 <= len(mine) <= 3
    loss, _ = strategy.loss(model.train(), batch, 0)
    assert torch.isfinite(loss)
    with pytest.raises(ConfigError, match="beam_candidates"):
        MinimumRiskTraining(beam_candidates=-1)
