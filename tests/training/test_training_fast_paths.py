"""The training fast paths (issue 21) compute what the paths they replace computed: the CPU dropout mask
(models/dropout.py) has torch's rate, scaling and gradient; the explicit attention equals SDPA; the speech encoder
layer equals torch's; fused AdamW gives the same update; the training window reads device values once; batches
by the longer side waste less padding."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from seqgap_lab.core.config import ModelConfig, TrainConfig
from seqgap_lab.data import batching
from seqgap_lab.data.batching import bucketed_batches
from seqgap_lab.models import build_model
from seqgap_lab.models import dropout as drop
from seqgap_lab.models.speech.encoder import EncoderLayer, SpeechModelConfig
from seqgap_lab.models.transformer import explicit_probs
from seqgap_lab.strategies import get_strategy
from seqgap_lab.training.loop import Window, adamw
from seqgap_lab.training.step_cost import random_batch

N = 1_000_000


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_keep_mask_drops_at_the_rate_asked(p):
    torch.manual_seed(0)
    dropped = 1.0 - drop.keep_mask((N,), p).float().mean().item()
    q = drop.quantized_rate(p)
    assert abs(q - p) <= 0.5 / drop.LEVELS
    assert abs(dropped - q) < 5 * math.sqrt(q * (1 - q) / N), (dropped, q)


def test_dropout_scales_kept_values_and_keeps_the_mean():
    torch.manual_seed(1)
    x = torch.ones(N)
    y = drop.dropout(x, 0.1)
    scale = 1 / (1 - drop.quantized_rate(0.1))
    assert torch.unique(y).tolist() == [0.0, pytest.approx(scale)]
    assert y.mean().item() == pytest.approx(1.0, abs=5 * math.sqrt(0.1 / 0.9 / N))


def test_dropout_gradient_is_the_mask_times_the_scale():
    torch.manual_seed(2)
    x = torch.randn(64, 33, requires_grad=True)
    y = drop.dropout(x, 0.25)
    y.sum().backward()
    kept = y.detach() != 0
    assert torch.equal(x.grad != 0, kept)
    assert torch.allclose(x.grad[kept], torch.full_like(x.grad[kept], 1 / (1 - drop.quantized_rate(0.25))))


def test_dropout_is_identity_off_training_repeatable_from_the_seed_and_torch_at_p_one():
    x = torch.randn(10, 10)
    assert drop.dropout(x, 0.5, training=False) is x and drop.dropout(x, 0.0) is x
    torch.manual_seed(3)
    a = drop.dropout(x, 0.5)
    torch.manual_seed(3)
    assert torch.equal(a, drop.dropout(x, 0.5))
    assert torch.equal(drop.dropout(x, 1.0), torch.zeros_like(x))
    with pytest.raises(ValueError, match=r"Dropout p = 1.5 .*\[0, 1\]"):
        drop.Dropout(1.5)


def test_torch_dropout_switch_is_the_baseline_and_restores():
    x = torch.randn(50, 50)
    with drop.torch_dropout():
        torch.manual_seed(4)
        ours = drop.dropout(x, 0.2)
        assert drop.attention_dropout_fused(x)
    torch.manual_seed(4)
    assert torch.equal(ours, F.dropout(x, 0.2, True))
    assert drop.fast_path(x) and not drop.attention_dropout_fused(x)
    assert not drop.fast_path(torch.empty(3, device="meta")), "other devices keep torch's fused kernels"


@pytest.mark.parametrize("masked, causal", [(False, False), (True, False), (False, True), (True, True)])
def test_explicit_attention_equals_sdpa(masked, causal):
    torch.manual_seed(5)
    q, k, v = torch.randn(3, 2, 7, 8), torch.randn(3, 2, 7, 8), torch.randn(3, 2, 7, 8)
    mask = (torch.rand(3, 1, 1, 7) > 0.3) | (torch.arange(7) == 0) if masked else None
    got = explicit_probs(q, k, mask, causal) @ v
    if masked and causal:  # SDPA takes one or the other: the same combined mask by hand
        mask, causal = mask & torch.ones(7, 7, dtype=torch.bool).tril(), False
    want = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
    assert torch.allclose(got, want, atol=1e-6)


def _mean_loss_and_grad(model, batch, draws: int):
    """Mean teacher-forced loss and gradient of the output embedding over `draws` dropout draws."""
    tf, losses, grads = get_strategy("teacher_forcing"), [], 0
    for _ in range(draws):
        model.zero_grad()
        loss, _ = tf.loss(model, batch, 0)
        loss.backward()
        losses.append(float(loss.detach()))
        grads = grads + model.embed.weight.grad
    return torch.tensor(losses), grads / draws


def test_fast_dropout_training_loss_and_gradient_match_torch_dropout_in_expectation():
    """Different draws, same distribution: over 150 draws each, the mean loss agrees within 4 standard errors and
    the mean gradient is close; the no-dropout loss lies elsewhere, so the check can fail."""
    size = dict(vocab=20, batch=16, src_len=9, tgt_len=9)
    torch.manual_seed(6)
    model = build_model(ModelConfig(kind="transformer", d_model=32, num_heads=2, num_layers=1, ffn_dim=64,
                                    dropout=0.3), size["vocab"]).train()
    batch = random_batch(size, torch.device("cpu"))
    fast, g_fast = _mean_loss_and_grad(model, batch, 150)
    with drop.torch_dropout():
        ref, g_ref = _mean_loss_and_grad(model, batch, 150)
    se = math.sqrt(fast.var() / len(fast) + ref.var() / len(ref))
    assert abs(fast.mean() - ref.mean()) < 4 * se, (fast.mean(), ref.mean(), se)
    model.eval()
    plain = float(get_strategy("teacher_forcing").loss(model, batch, 0)[0])
    assert abs(fast.mean() - plain) > 4 * se, "dropout changes the loss: the comparison has power"
    assert torch.linalg.norm(g_fast - g_ref) < 0.2 * torch.linalg.norm(g_ref)


def test_speech_encoder_layer_is_torchs_layer(monkeypatch):
    """Same parameters and state-dict keys as nn.TransformerEncoderLayer; its explicit self-attention equals
    torch's (dropout set aside on both sides), with torch's float padding mask."""
    c = SpeechModelConfig(d_model=16, num_heads=2, ffn_dim=32, dropout=0.2)
    ours = EncoderLayer(c)
    plain = torch.nn.TransformerEncoderLayer(16, 2, 32, 0.2, batch_first=True, norm_first=True)
    assert set(ours.state_dict()) == set(plain.state_dict())
    torch.manual_seed(7)
    x = torch.randn(3, 5, 16)
    pad = torch.tensor([[False] * 5, [False] * 3 + [True] * 2, [False] + [True] * 4])
    float_pad = torch.zeros(3, 5).masked_fill(pad, float("-inf"))
    monkeypatch.setattr("seqgap_lab.models.speech.encoder.dropout", lambda y, p, training=True: y)
    ours.train()
    ours.dropout1.p = 0.0
    got = ours._sa_block(x, None, float_pad)
    ours.self_attn.dropout = 0.0  # torch's own path, no dropout
    want = ours._sa_block(x, None, pad)
    assert torch.allclose(got, want, atol=1e-5)


def test_fused_adamw_makes_the_same_update_as_the_loop_version():
    torch.manual_seed(8)
    a = build_model(ModelConfig(kind="transformer", d_model=16, num_heads=2, num_layers=1, ffn_dim=32), 11)
    b = build_model(ModelConfig(kind="transformer", d_model=16, num_heads=2, num_layers=1, ffn_dim=32), 11)
    b.load_state_dict(a.state_dict())
    fused, plain = adamw(a, lr=1e-2), torch.optim.AdamW(b.parameters(), lr=1e-2, weight_decay=0.01, foreach=False)
    assert fused.defaults["fused"]
    for step in range(5):
        grads = [torch.randn_like(p) for p in a.parameters()]
        for model, opt in ((a, fused), (b, plain)):
            for p, g in zip(model.parameters(), grads):
                p.grad = g.clone()
            opt.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.allclose(pa, pb, atol=1e-6), "fused and loop AdamW agree to float rounding"


def test_window_reads_device_values_at_flush_and_names_the_steps_of_a_bad_loss():
    window, config = Window(), TrainConfig(steps=10, warmup_steps=0)
    for loss in (1.0, 3.0):
        window.add(torch.tensor(loss), 5, {"token_acc": torch.tensor(0.5), "p_use_gt": 1.0})
    row = window.flush(2, 0.1, torch.tensor(2.0), config)
    assert row["loss"] == 2.0 and row["token_acc"] == 0.5 and row["grad_norm"] == 2.0
    assert all(isinstance(v, float) for k, v in row.items() if k != "step")
    window.add(torch.tensor(float("nan")), 5, {})
    window.add(torch.tensor(1.0), 5, {})
    with pytest.raises(FloatingPointError, match="at step 3-4; lower TrainConfig.lr"):
        window.flush(4, 0.1, 1.0, config)
    quiet = Window(throughput=False)  # a loop that counts no tokens (speech) gets no throughput column
    for _ in range(2):  # the flag survives a flush
        quiet.add(torch.tensor(1.0), 0, {})
        assert list(quiet.flush(1, 0.1, 1.0, config)) == ["step", "lr", "grad_norm", "loss"]


def _fill(batches, side: str = "tgt_out"):
    """Real cells over all cells of one side of the batches."""
    return sum(int((getattr(b, side) != 0).sum()) for b in batches) / sum(getattr(b, side).numel() for b in batches)


def test_batches_by_the_longer_side_pad_less_and_keep_equal_length_tasks_as_they_were(monkeypatch):
    rng = np.random.default_rng(9)
    lengths = rng.integers(2, 40, size=3000)  # translation-like: target length follows the source, with noise
    pairs = [([3] * int(n), [4] * max(1, int(round(1.3 * n + rng.normal(0, 4))))) for n in lengths]
    same = [(s, s[::-1]) for s, _ in pairs]
    new, new_same = bucketed_batches(pairs, 32, np.random.default_rng(0)), bucketed_batches(same, 32)
    monkeypatch.setattr(batching, "_length_key", lambda pair: (len(pair[0]), len(pair[1])))  # the old order
    old, old_same = bucketed_batches(pairs, 32, np.random.default_rng(0)), bucketed_batches(same, 32)
    assert _fill(old, "src") > 0.95 and _fill(old) < 0.85, "by source alone, targets carry the padding"
    assert _fill(new) > _fill(old) + 0.05, "targets waste less"
    assert _fill(new) + _fill(new, "src") > _fill(old) + _fill(old, "src"), "and both sides together less"
    assert all(torch.equal(a.src, b.src) and torch.equal(a.tgt_out, b.tgt_out) for a, b in zip(new_same, old_same))
