"""Decoder-only LM (models/lm.py): step-by-step equals forward with and without prompts, padded prompt batches
decode as each prompt alone, beam reorder, every decoder and training strategy runs on it. The LM zoo's data and
cached smoke-profile LMs (zoo/lms.py): zoo/test_lms.py."""
from __future__ import annotations


import pytest
import torch

from seqgap_lab.core.config import ConfigError, DecodeConfig, ModelConfig, TrainConfig
from seqgap_lab.data.batching import collate, pad
from seqgap_lab.data.vocab import BOS, EOS, PAD
from seqgap_lab.decoding import decode, decode_sequences
from seqgap_lab.models import TransformerLM, build_model
from seqgap_lab.strategies import get_strategy
from seqgap_lab.training.loop import train

V = 13
ATOL = 1e-5
PROMPTS = [[3, 4, 5, 6, 7], [8, 9], [], [10, 3, 5, 4]]  # different lengths, one empty


def _lm(max_positions: int = 64, dropout: float = 0.1, seed: int = 0, d_model: int = 16) -> TransformerLM:
    torch.manual_seed(seed)
    cfg = ModelConfig(kind="lm", d_model=d_model, num_heads=2, num_layers=2, ffn_dim=32, dropout=dropout,
                      max_positions=max_positions)
    return build_model(cfg, V).eval()


def _tgt_in(rows: int = 4, length: int = 6) -> torch.Tensor:
    t = torch.randint(3, V, (rows, length), generator=torch.Generator().manual_seed(1))
    t[:, 0] = BOS
    return t


def _step_all(model, src, tgt_in):
    mask = src != PAD
    state = model.init_state(model.encode(src, mask), mask)
    out = []
    for t in range(tgt_in.shape[1]):
        logits, state = model.step(tgt_in[:, t], state)
        out.append(logits)
    return torch.stack(out, 1), state  # (B, T, V)


def test_build_model_and_config_kind():
    model = _lm()
    assert isinstance(model, TransformerLM) and model.kind == "lm" and model.num_parameters() > 0
    with pytest.raises(ConfigError, match="kind = 'gpt'.*gru \\| transformer \\| lm"):
        ModelConfig(kind="gpt")


@pytest.mark.parametrize("prompts", [PROMPTS, [[]] * 3, [[5, 6, 7]] * 2], ids=["mixed", "no-prompt", "same"])
def test_incremental_steps_match_forward(prompts):
    model, src = _lm(), pad(prompts)
    tgt_in = _tgt_in(len(prompts))
    full = model(src, tgt_in)  # (B, T, V)
    assert full.shape == (len(prompts), tgt_in.shape[1], V)
    stepped, state = _step_all(model, src, tgt_in)
    torch.testing.assert_close(stepped, full, atol=ATOL, rtol=0)
    assert state.step == tgt_in.shape[1]


def test_padded_prompt_batch_equals_each_prompt_alone():
    model, tgt_in = _lm(), _tgt_in()
    batch = model(pad(PROMPTS), tgt_in)
    for i, prompt in enumerate(PROMPTS):
        alone = model(pad([prompt]), tgt_in[i:i + 1])
        torch.testing.assert_close(batch[i:i + 1], alone, atol=ATOL, rtol=0)


def test_prompt_is_running_text_not_a_separate_segment():
    """The design choice: continuing prompt p with y is the plain LM over p + y (BOS of tgt_in is not fed)."""
    model = _lm()
    p, y = [3, 4, 5, 6], [7, 8, 9]
    with_prompt = model(pad([p]), torch.tensor([[BOS] + y]))  # predicts y_1.., EOS
    plain = model(pad([[]]), torch.tensor([[BOS] + p + y]))  # predicts p_1.., y_1.., EOS
    torch.testing.assert_close(with_prompt, plain[:, len(p):], atol=ATOL, rtol=0)
    first, _ = model.step(torch.tensor([EOS]), model.init_state(model.encode(pad([p]), pad([p]) != PAD),
                                                                pad([p]) != PAD))
    torch.testing.assert_close(first, with_prompt[:, 0], atol=ATOL, rtol=0)  # step 0 ignores its input


def test_reorder_then_step_equals_reordered_batch():
    model, src, tgt_in = _lm(), pad(PROMPTS), _tgt_in()
    mask = src != PAD
    state = model.init_state(model.encode(src, mask), mask)
    for t in range(3):
        _, state = model.step(tgt_in[:, t], state)
    idx = torch.tensor([3, 0, 0, 2, 1])
    moved, _ = model.step(tgt_in[idx, 3], state.reorder(idx))
    direct, _ = model.step(tgt_in[:, 3], state)
    torch.testing.assert_close(moved, direct[idx], atol=ATOL, rtol=0)
    assert state.reorder(idx).batch_size == 5


def test_init_state_beam_repeats_rows():
    model, src = _lm(), pad(PROMPTS)
    mask = src != PAD
    state = model.init_state(model.encode(src, mask), mask, beam=3)
    logits, _ = model.step(torch.full((12,), BOS), state)
    single, _ = model.step(torch.full((4,), BOS), model.init_state(model.encode(src, mask), mask))
    torch.testing.assert_close(logits, single.repeat_interleave(3, 0))


@pytest.mark.parametrize("method", ["greedy", "beam", "sample"])
def test_decoding_a_padded_batch_equals_each_prompt_alone(method):
    model = _lm(dropout=0.0, seed=3)
    config = DecodeConfig(method=method, max_len=12, beam_size=3, seed=5)
    batch = decode(model, pad(PROMPTS), config)
    for i, prompt in enumerate(PROMPTS):
        alone = decode(model, pad([prompt]), config)
        if method == "sample":  # one generator over the batch: draws differ, only the shape is comparable
            assert alone.tokens.shape == (1, 12)
            continue
        assert batch.tokens[i].tolist() == alone.tokens[0].tolist(), (method, prompt)
        assert batch.lengths[i] == alone.lengths[0]


def test_beam_size_one_is_greedy_and_coverage_is_refused():
    model = _lm(dropout=0.0, seed=3)
    greedy = decode(model, pad(PROMPTS), DecodeConfig(method="greedy", max_len=10))
    beam = decode(model, pad(PROMPTS), DecodeConfig(method="beam", beam_size=1, max_len=10))
    assert greedy.tokens.tolist() == beam.tokens.tolist()
    with pytest.raises(NotImplementedError, match="coverage"):
        state = model.init_state(model.encode(pad(PROMPTS), pad(PROMPTS) != PAD), pad(PROMPTS) != PAD)
        model.step(torch.full((4,), BOS), state, need_weights=True)


def test_positions_beyond_max_positions_raise():
    model = _lm(max_positions=16)
    model(pad([[3] * 10]), torch.full((1, 6), 4))  # BOS + 10 + 5 fed = 16 positions: fits
    with pytest.raises(ValueError, match="max_positions=16"):
        model(pad([[3] * 10]), torch.full((1, 7), 4))
    state = model.init_state(model.encode(pad([[3] * 14]), pad([[3] * 14]) != PAD), pad([[3] * 14]) != PAD)
    for t in range(2):  # step 0 feeds nothing; step 1 is position 15, the last one
        _, state = model.step(torch.tensor([4]), state)
    with pytest.raises(ValueError, match="max_positions"):
        model.step(torch.tensor([4]), state)


@pytest.mark.parametrize("name, args", [
    ("teacher_forcing", {}),
    ("scheduled_sampling", {"mode": "two_pass", "schedule": {"name": "constant", "p": 0.5}}),
    ("scheduled_sampling", {"mode": "sequential", "schedule": {"name": "constant", "p": 0.5}}),
    ("word_kd", {"kd_weight": 0.5}),
    ("mrt", {"num_samples": 2}),
], ids=["tf", "ss-two-pass", "ss-sequential", "word-kd", "mrt"])
def test_every_strategy_trains_the_lm(name, args):
    model = _lm().train()
    if name == "word_kd":
        args = dict(args, teacher=_lm(seed=1))
    strategy = get_strategy(name, **args)
    batch = collate([([3, 4, 5], [6, 7, 8, 9]), ([], [5, 6]), ([4], [7, 7, 7])])
    loss, _ = strategy.loss(model, batch, 0)
    loss.backward()
    assert torch.isfinite(loss) and model.embed.weight.grad is not None


def test_scheduled_sampling_always_gold_is_teacher_forcing_on_the_lm():
    model = _lm(dropout=0.0)
    batch = collate([([3, 4, 5], [6, 7, 8, 9]), ([], [5, 6])])
    ss = get_strategy("scheduled_sampling", mode="two_pass", schedule={"name": "constant", "p": 1.0})
    tf = get_strategy("teacher_forcing")
    with torch.no_grad():
        assert float(ss.loss(model, batch, 0)[0]) == pytest.approx(float(tf.loss(model, batch, 0)[0]), abs=1e-6)


def test_training_learns_a_pattern_and_greedy_continues_it():
    model = _lm(dropout=0.0, d_model=32)
    cycle = [3, 4, 5, 6, 7]
    pairs = [([], (cycle * 6)[i:i + 16]) for i in range(5)]
    history = train(model, pairs, TrainConfig(steps=120, batch_size=5, lr=1e-2, warmup_steps=10, log_every=40),
                    torch.device("cpu"), progress=False)
    assert history["loss"].iloc[-1] < 0.2 * history["loss"].iloc[0]
    out = decode_sequences(model, [[5, 6, 7], [4]], DecodeConfig(max_len=6))
    assert out == [[3, 4, 5, 6, 7, 3], [5, 6, 7, 3, 4, 5]]
