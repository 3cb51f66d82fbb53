"""metrics/exposure.py, checked by hand on a scripted model whose probabilities are known exactly.

The scripted model plays the copy task. At decoder step t (0-based) the gold token is src[t]
(<eos> at t == len(src), <pad> after). A step is either
  good: p(gold) = 0.6, p(W) = 0.2, the other V-2 tokens share 0.2;
  bad:  p(W) = 0.6, p(gold) = 0.1, the other V-2 tokens share 0.3,
with W a symbol no source uses (or `wrong`, e.g. <eos>). A step is good unless t is in `flip_steps`, or (when
`compounding`) the previous token differs from the gold previous token. So a compounding model
that is made to err once keeps erring; a non-compounding ('positional') one recovers at once.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from seqgap_lab.data.batching import collate
from seqgap_lab.data.vocab import BOS, EOS, PAD
from seqgap_lab.probes import exposure
from seqgap_lab.probes.exposure import FREE, injection_errors, rollout, step_errors, stop_after_eos, token_errors
from seqgap_lab.probes.exposure_tables import conditional_error, exaccerr, per_position_error


def injection(model, pairs, **kwargs):
    """The injection table by offset and condition (both steps of probes/exposure.py)."""
    return exposure.injection(injection_errors(model, pairs, **kwargs))
from seqgap_lab.models.base import DecoderState, Seq2SeqModel

V = 10
W = 9  # the scripted wrong token; sources use symbols 3..8 only
P_GOOD, P_GOOD_W = 0.6, 0.2
P_BAD_W, P_BAD_GOLD = 0.6, 0.1
NLL_GOOD, NLL_BAD = -math.log(P_GOOD), -math.log(P_BAD_GOLD)


class ScriptedModel(Seq2SeqModel):
    kind = "scripted"

    def __init__(self, compounding: bool = True, flip_steps: tuple[int, ...] = (), wrong: int = W):
        super().__init__(V)
        self.compounding, self.flip_steps, self.wrong = compounding, set(flip_steps), wrong
        self.anchor = nn.Parameter(torch.zeros(()))  # so the model has a device and parameters

    def encode(self, src, src_mask):
        return src.float()[..., None] + 0.0 * self.anchor  # (B, S, 1): the memory is the source

    def init_state(self, memory, src_mask, beam=1):
        memory, src_mask = self.repeat_beam(memory, beam), self.repeat_beam(src_mask, beam)
        src = memory[..., 0].round().long().masked_fill(~src_mask, PAD)
        gold = torch.cat([src, torch.full_like(src[:, :1], PAD)], 1)
        gold[torch.arange(len(src)), src_mask.sum(1)] = EOS  # (B, S+1): y + <eos> + <pad>...
        return DecoderState({"src_mask": src_mask, "gold": gold, "attention": None}, 0)

    def _gold_at(self, gold, t):
        if t < 0:
            return torch.full_like(gold[:, 0], BOS)
        if t >= gold.shape[1]:
            return torch.full_like(gold[:, 0], PAD)
        return gold[:, t]

    def step(self, prev_tokens, state, need_weights=False):
        t, gold = state.step, state["gold"]
        target = self._gold_at(gold, t)
        good = torch.ones_like(prev_tokens, dtype=torch.bool)
        if self.compounding:
            good &= prev_tokens == self._gold_at(gold, t - 1)
        if t in self.flip_steps:
            good &= False
        rows = torch.arange(len(prev_tokens))
        probs = torch.empty(len(prev_tokens), V)
        probs[good] = (1 - P_GOOD - P_GOOD_W) / (V - 2)
        probs[~good] = (1 - P_BAD_W - P_BAD_GOLD) / (V - 2)
        probs[rows, self.wrong] = torch.where(good, P_GOOD_W, P_BAD_W)
        probs[rows, target] = torch.where(good, P_GOOD, P_BAD_GOLD)
        probs = probs / probs.sum(-1, keepdim=True)  # a no-op unless target == wrong
        return probs.log(), DecoderState(dict(state.tensors), t + 1)

    def decode_forward(self, memory, src_mask, tgt_in):
        state = self.init_state(memory, src_mask)
        out = []
        for t in range(tgt_in.shape[1]):
            logits, state = self.step(tgt_in[:, t], state)
            out.append(logits)
        return torch.stack(out, 1)


def _copy(*sources):
    return [(list(s), list(s)) for s in sources]


PAIRS = _copy([3, 4, 5], [6, 7, 8, 3], [4, 4, 5, 6, 7], [8, 3])


# --------------------------------------------------------------------------- the scripted model


def test_scripted_model_is_consistent():
    """Guards the fixture: probabilities sum to 1, forward equals stepping, argmax follows the script."""
    model = ScriptedModel(flip_steps=(1,))
    batch = collate(PAIRS)
    logits = model(batch.src, batch.tgt_in, batch.src_mask)
    torch.testing.assert_close(logits.exp().sum(-1), torch.ones(logits.shape[:2]))
    pred = logits.argmax(-1)
    assert torch.equal(pred[:, 0], batch.tgt_out[:, 0])
    assert (pred[:, 1] == W).all()
    mask = batch.tgt_mask.clone()
    mask[:, :2] = False
    assert torch.equal(pred[mask], batch.tgt_out[mask])


# ------------------------------------------------------------------------------------ exaccerr


def test_exaccerr_hand_worked():
    eps_model = np.array([[1.0, 2.0, 4.0], [1.0, 3.0, np.nan]])
    eps_oracle = np.array([[1.0, 1.0, 1.0], [1.0, 1.0, np.nan]])
    df = exaccerr(eps_model, eps_oracle, np.array([3, 2]))
    assert list(df.columns) == ["length", "regret", "oracle_sum", "exaccerr_pct", "count"]
    assert df["length"].tolist() == [1, 2, 3]
    assert df["count"].tolist() == [2, 2, 1]
    np.testing.assert_allclose(df["regret"], [1.0, 3.5, 7.0])
    np.testing.assert_allclose(df["oracle_sum"], [1.0, 2.0, 3.0])
    np.testing.assert_allclose(df["exaccerr_pct"], [0.0, 75.0, 400.0 / 3.0])


def test_exaccerr_skips_lengths_nobody_reaches_and_zero_baseline():
    eps_model = np.array([[0.5, np.nan, np.nan], [0.0, 1.0, np.nan]])
    eps_oracle = np.array([[0.0, np.nan, np.nan], [0.0, 2.0, np.nan]])
    df = exaccerr(eps_model, eps_oracle, np.array([1, 2]))
    assert df["length"].tolist() == [1, 2]  # nobody is 3 steps long
    assert math.isnan(df["exaccerr_pct"].iloc[0])  # base 0: undefined, not inf
    assert df["regret"].iloc[1] == pytest.approx(1.0) and df["exaccerr_pct"].iloc[1] == pytest.approx(-50.0)


# ------------------------------------------------------------------------------------- rollout


def test_rollout_free_running_hand_worked():
    model = ScriptedModel(flip_steps=(1,))
    batch = collate(_copy([3, 4, 5], [6, 7]))
    out = rollout(model, batch)
    assert set(out) == {"pred", "written", "gold_nll"}
    # row 0: gold 3 4 5 <eos>; step 1 is flipped to W, and W then keeps every later step bad
    assert out["pred"].tolist() == [[3, W, W, W], [6, W, W, W]]
    assert torch.equal(out["written"], out["pred"])
    torch.testing.assert_close(out["gold_nll"], torch.tensor([[NLL_GOOD, NLL_BAD, NLL_BAD, NLL_BAD]] * 2))


def test_rollout_forcing_hand_worked():
    model = ScriptedModel()
    batch = collate(_copy([3, 4, 5], [6, 7]))
    forced = torch.tensor([[FREE, 8, FREE, FREE],
                           [FREE, FREE, FREE, 5]])
    out = rollout(model, batch, forced)
    # row 0: step 1 predicts 4 but 8 is written -> steps 2, 3 are bad and predict W
    # row 1: free and correct up to <eos>; then 5 is forced after the last step (no effect inside)
    assert out["pred"].tolist() == [[3, 4, W, W], [6, 7, EOS, PAD]]
    assert out["written"].tolist() == [[3, 8, W, W], [6, 7, EOS, 5]]
    torch.testing.assert_close(out["gold_nll"], torch.tensor([[NLL_GOOD, NLL_GOOD, NLL_BAD, NLL_BAD],
                                                              [NLL_GOOD] * 4]))
    # forcing the gold prefix recovers from the scripted flip: only the flipped step is bad
    flipped = ScriptedModel(flip_steps=(1,))
    gold = batch.tgt_out.masked_fill(~batch.tgt_mask, FREE)
    out = rollout(flipped, batch, gold)
    assert out["written"][batch.tgt_mask].tolist() == batch.tgt_out[batch.tgt_mask].tolist()
    assert out["pred"].tolist()[0] == [3, W, 5, EOS]
    torch.testing.assert_close(out["gold_nll"][0], torch.tensor([NLL_GOOD, NLL_BAD, NLL_GOOD, NLL_GOOD]))


def test_rollout_gold_nll_matches_teacher_forced_forward():
    model = ScriptedModel(flip_steps=(2,))
    batch = collate(PAIRS)
    gold = batch.tgt_out.masked_fill(~batch.tgt_mask, FREE)
    nll = rollout(model, batch, gold)["gold_nll"]
    tf = -model(batch.src, batch.tgt_in).log_softmax(-1).gather(2, batch.tgt_out[..., None])[..., 0]
    torch.testing.assert_close(nll[batch.tgt_mask], tf[batch.tgt_mask])


def test_rollout_sampling_is_seeded():
    model = ScriptedModel(compounding=False)
    batch = collate(_copy(*[[3, 4, 5, 6, 7, 8]] * 20))

    def sample(seed):
        return rollout(model, batch, sample=True, generator=torch.Generator().manual_seed(seed))

    a, b, c = sample(0), sample(0), sample(1)
    assert torch.equal(a["written"], b["written"]) and not torch.equal(a["written"], c["written"])
    # samples are not all the argmax, but the argmax is still reported in `pred`
    assert (a["written"] != a["pred"]).any()
    assert torch.equal(a["pred"], batch.tgt_out.masked_fill(~batch.tgt_mask, PAD))


def test_stop_after_eos():
    tokens = torch.tensor([[5, EOS, 6, EOS, 7],
                           [EOS, 3, 3, 3, 3],
                           [4, 5, 6, 7, 8],
                           [4, 5, 6, 7, EOS]])
    assert stop_after_eos(tokens).tolist() == [[5, EOS, PAD, PAD, PAD],
                                               [EOS, PAD, PAD, PAD, PAD],
                                               [4, 5, 6, 7, 8],
                                               [4, 5, 6, 7, EOS]]


# ------------------------------------------------------------------ per-position / conditional


def test_token_errors_compounding_hand_worked():
    # Note: a model whose step and teacher-forced forward agree cannot be right on every
    # teacher-forced position yet wrong free-running (the first free prefix is the gold one), so
    # the single error is scripted at step 2 under *any* prefix: TF errs there only, FR keeps erring.
    model = ScriptedModel(flip_steps=(1,))
    errors = token_errors(model, PAIRS, batch_size=3)
    assert list(errors.columns) == ["example", "length", "position", "tf_error", "fr_substituted", "fr_deleted",
                                    "fr_inserted", "fr_error", "fr_error_positional"]
    assert errors["fr_error"].equals(errors["fr_error_positional"])  # substitutions only: no shift
    assert len(errors) == sum(len(t) + 1 for _, t in PAIRS)
    for i, (_, tgt) in enumerate(PAIRS):
        rows = errors[errors["example"] == i].sort_values("position")
        assert rows["position"].tolist() == list(range(1, len(tgt) + 2))
        assert (rows["length"] == len(tgt)).all()
        assert rows["tf_error"].tolist() == [p == 2 for p in rows["position"]]
        assert rows["fr_error"].tolist() == [p >= 2 for p in rows["position"]]

    ppe = per_position_error(errors)
    assert list(ppe.columns) == ["position", "mode", "error_rate", "count"]
    tf = ppe[ppe["mode"] == "teacher-forced"].set_index("position")
    fr = ppe[ppe["mode"] == "free-running"].set_index("position")
    assert tf.index.tolist() == fr.index.tolist() == [1, 2, 3, 4, 5, 6]
    assert tf["error_rate"].tolist() == [0, 1, 0, 0, 0, 0]
    assert fr["error_rate"].tolist() == [0, 1, 1, 1, 1, 1]
    assert tf["count"].tolist() == [4, 4, 4, 3, 2, 1]  # target lengths 3, 4, 5, 2 (+ eos)

    cond = conditional_error(errors)
    assert list(cond.columns) == ["position", "condition", "error_rate", "count"]
    assert 1 not in cond["position"].tolist()
    at2 = cond[cond["position"] == 2]
    assert at2["condition"].tolist() == ["clean prefix"] and at2["error_rate"].tolist() == [1.0]
    later = cond[cond["position"] >= 3]
    assert (later["condition"] == "after an error").all() and (later["error_rate"] == 1.0).all()
    assert later["count"].tolist() == [4, 3, 2, 1]


def test_token_errors_perfect_model():
    errors = token_errors(ScriptedModel(), PAIRS)
    assert not errors["tf_error"].any() and not errors["fr_error"].any()
    assert sorted(errors["example"].unique().tolist()) == [0, 1, 2, 3]


def test_token_errors_positions_after_an_early_stop_are_errors():
    # positional model that wrongly emits <eos> at step 1: it would be right afterwards, but a
    # decoder that stops never writes those tokens
    model = ScriptedModel(compounding=False, flip_steps=(1,), wrong=EOS)
    errors = token_errors(model, _copy([3, 4, 5, 6])).sort_values("position")
    assert errors["tf_error"].tolist() == [False, True, False, False, False]
    assert errors["fr_error_positional"].tolist() == [False, True, True, True, True]
    # Aligned, the output [3, <eos>] leaves out 4, 5, 6 (three deletions) and its <eos> matches the reference's.
    assert errors["fr_error"].tolist() == [False, True, True, True, False]
    assert errors["fr_deleted"].tolist() == [False, True, True, True, False]


def test_conditional_error_on_a_hand_made_frame():
    errors = pd.DataFrame({
        "example": [0, 0, 0, 0, 1, 1, 1, 1],
        "length": [3] * 8,
        "position": [1, 2, 3, 4, 1, 2, 3, 4],
        "tf_error": [False] * 8,
        "fr_error": [False, True, False, True, False, False, True, False],
    }).sample(frac=1.0, random_state=0)  # row order must not matter
    cond = conditional_error(errors).set_index(["position", "condition"])
    assert cond.loc[(2, "clean prefix"), "error_rate"] == 0.5 and cond.loc[(2, "clean prefix"), "count"] == 2
    assert cond.loc[(3, "after an error"), "error_rate"] == 0.0 and cond.loc[(3, "after an error"), "count"] == 1
    assert cond.loc[(3, "clean prefix"), "error_rate"] == 1.0
    assert cond.loc[(4, "after an error"), "error_rate"] == 0.5 and cond.loc[(4, "after an error"), "count"] == 2
    assert (4, "clean prefix") not in cond.index


# ----------------------------------------------------------------------------------- injection


def test_injection_positional_model_recovers_fully():
    # Wrong ids that occur nowhere in the targets: an injected token that matched a later reference token
    # could be aligned to it (a legitimate shorter alignment), which is not what this test is about.
    pairs = _copy([3, 4, 5, 6], [5, 6, 3, 4, 3], [4, 3, 5])
    df = injection(ScriptedModel(compounding=False), pairs, wrong_ids=[7, 8], at=1, k=2)
    assert list(df.columns) == ["offset", "condition", "error_rate", "count"]
    clean = df[df["condition"] == "clean"].set_index("offset")
    injected = df[df["condition"] == "injected"].set_index("offset")
    assert clean.index.tolist() == injected.index.tolist() == [1, 2, 3]
    assert (clean["error_rate"] == 0).all() and (injected["error_rate"] == 0).all()
    assert clean["count"].tolist() == injected["count"].tolist() == [3, 2, 1]


def test_injection_compounding_model_does_not_recover():
    # the last is too short and is dropped; after the injected positions no target holds 3 or 4, so an injected
    # token cannot align to a later reference token
    pairs = _copy([3, 4, 5, 6], [3, 3, 5], [4, 4, 5, 5, 6], [3])
    # wrong ids include the gold tokens: draws equal to gold must be shifted to a real error
    df = injection(ScriptedModel(), pairs, wrong_ids=[3, 4], at=1, k=1, seed=3)
    clean = df[df["condition"] == "clean"].set_index("offset")
    injected = df[df["condition"] == "injected"].set_index("offset")
    assert clean.index.tolist() == [1, 2, 3, 4]
    assert clean["count"].tolist() == [3, 3, 2, 1]  # targets of 4, 3, 5 tokens + eos, from index 2
    assert (clean["error_rate"] == 0).all()
    assert (injected["error_rate"] == 1).all()
    assert (injected["error_rate"] > clean["error_rate"]).all()
    for seed in range(5):  # whatever the draws, never a 'wrong' token equal to gold
        again = injection(ScriptedModel(), pairs, wrong_ids=[3, 4], at=0, k=2, seed=seed)
        assert (again[again["condition"] == "injected"]["error_rate"] == 1).all()


def test_injection_clean_run_is_fed_gold_through_the_injection():
    # the model errs at step 1 on its own; both runs are forced over steps 0..1 (gold vs wrong), so
    # the clean run recovers (gold prefix) while the injected one compounds
    pairs = _copy([3, 4, 5, 6], [5, 6, 3, 4, 3])
    df = injection(ScriptedModel(flip_steps=(1,)), pairs, wrong_ids=[7, 8], at=1, k=1)
    assert (df[df["condition"] == "clean"]["error_rate"] == 0).all()
    assert (df[df["condition"] == "injected"]["error_rate"] == 1).all()


def test_injection_needs_two_wrong_ids():
    with pytest.raises(ValueError, match="at least 2"):
        injection(ScriptedModel(), PAIRS, wrong_ids=[3, 3], at=1, k=1)


# --------------------------------------------------------------------------------- step errors


def test_step_errors_hand_worked():
    model = ScriptedModel(flip_steps=(1,))
    eps_model, eps_oracle, lengths = step_errors(model, PAIRS, batch_size=3)
    sizes = [len(t) + 1 for _, t in PAIRS]
    assert lengths.tolist() == sizes
    assert eps_model.shape == eps_oracle.shape == (4, 6)
    for i, n in enumerate(sizes):
        np.testing.assert_allclose(eps_oracle[i, :n], [NLL_GOOD, NLL_BAD] + [NLL_GOOD] * (n - 2), rtol=1e-6)
        np.testing.assert_allclose(eps_model[i, :n], [NLL_GOOD] + [NLL_BAD] * (n - 1), rtol=1e-6)
        assert np.isnan(eps_model[i, n:]).all() and np.isnan(eps_oracle[i, n:]).all()
    # eps_oracle is the teacher-forced gold NLL
    batch = collate(PAIRS)
    tf = -model(batch.src, batch.tgt_in).log_softmax(-1).gather(2, batch.tgt_out[..., None])[..., 0]
    np.testing.assert_allclose(eps_oracle[~np.isnan(eps_oracle)], tf[batch.tgt_mask].numpy(), rtol=1e-6)

    df = exaccerr(eps_model, eps_oracle, lengths)
    assert df["count"].tolist() == [4, 4, 4, 3, 2, 1]
    np.testing.assert_allclose(df["exaccerr_pct"].iloc[:2], [0.0, 0.0], atol=1e-9)
    base3 = 2 * NLL_GOOD + NLL_BAD
    assert df["exaccerr_pct"].iloc[2] == pytest.approx((NLL_BAD - NLL_GOOD) / base3 * 100, rel=1e-6)


def test_step_errors_sample_prefix_and_validation():
    model = ScriptedModel()
    a = step_errors(model, PAIRS, prefix="sample", seed=0)
    b = step_errors(model, PAIRS, prefix="sample", seed=0)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[2], [4, 5, 6, 3])
    # greedy on a perfect compounding model: model prefixes are the oracle prefixes
    g = step_errors(model, PAIRS)
    np.testing.assert_allclose(g[0], g[1])
    with pytest.raises(ValueError, match="beam"):
        step_errors(model, PAIRS, prefix="beam")


# ------------------------------------------------------------------------- continuation loss

def test_continuation_loss_k0_equals_gold_and_matches_rollout():
    """At k=0 both prefixes are the gold one; at k>0 the 'model' row equals a hand-forced rollout."""
    import torch

    from seqgap_lab.core.config import ModelConfig
    from seqgap_lab.data.batching import collate
    from seqgap_lab.probes.exposure import FREE, continuation_loss, rollout
    from seqgap_lab.models import build_model

    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="gru", d_model=16, num_heads=1, num_layers=1, ffn_dim=16,
                                    dropout=0.0), 12).eval()
    pairs = [([3, 4, 5, 6], [7, 8, 9, 10, 11]), ([4, 4, 5], [5, 6, 7])]
    df = continuation_loss(model, pairs, ks=[0, 2])
    k0 = df[df["k"] == 0].set_index("prefix")
    assert k0.loc["model", "loss"] == pytest.approx(k0.loc["gold", "loss"])
    assert k0.loc["gold", "tokens"] == 6 + 4  # every target token plus <eos>
    # k=2 by hand: the model writes its first two tokens, then the reference follows
    batch = collate(sorted(pairs, key=lambda p: len(p[1])))
    forced = batch.tgt_out.clone()
    forced[:, :2] = FREE
    nll = rollout(model, batch, forced=forced)["gold_nll"]
    mask = batch.tgt_mask.clone()
    mask[:, :2] = False
    k2 = df[(df["k"] == 2) & (df["prefix"] == "model")].iloc[0]
    assert k2["loss"] == pytest.approx(float(nll[mask].mean()))
    assert k2["tokens"] == 4 + 2 and k2["examples"] == 2
