"""Scheduled sampling: the equivalences the lesson teaches (p_use_gt=1 is teacher forcing, p_use_gt=0
feeds the model's greedy prefix, naive and sequential compute the same thing), the schedules' values,
clear errors for bad values, and training through train()."""
from __future__ import annotations

import math

import pytest
import torch

from seqgap_lab.core.config import ConfigError, ModelConfig, TaskConfig, TrainConfig
from seqgap_lab.data.batching import collate
from seqgap_lab.data.synthetic.tasks import make_task
from seqgap_lab.data.vocab import PAD
from seqgap_lab.models import build_model
from seqgap_lab.core.runtime import seed_everything
from seqgap_lab.strategies import get_strategy
from seqgap_lab.strategies.scheduled_sampling import ScheduledSampling, draw_coins, mix_shifted
from seqgap_lab.strategies.schedules import (constant, default_schedule, exponential, inverse_sigmoid, linear, make_schedule, with_warmup)
from seqgap_lab.strategies.teacher_forcing import TeacherForcing, token_nll
from seqgap_lab.training.loop import train

CPU = torch.device("cpu")
TASK = TaskConfig(name="reverse", min_len=2, train_max_len=7, test_max_len=8, num_symbols=6,
                  num_train=600, num_dev=20, num_test=20)
KINDS = ("gru", "transformer")
MODES = ("sequential", "two_pass", "naive")


@pytest.fixture(scope="module")
def task():
    return make_task(TASK)


@pytest.fixture(scope="module")
def batch(task):
    # Different target lengths, so padding is exercised.
    return collate(task.make_splits().train[:12])


def _model(task, kind, seed=0):
    seed_everything(seed)
    cfg = ModelConfig(kind=kind, d_model=32, num_heads=2, num_layers=2, ffn_dim=64, dropout=0.0)
    return build_model(cfg, len(task.vocab)).train()


def _grads(model):
    return [p.grad.clone() for p in model.parameters()]


def _loss_and_grads(model, fn):
    model.zero_grad(set_to_none=False)
    loss = fn()
    loss.backward()
    return loss.detach(), _grads(model)


def _ss_loss(strategy, model, batch, coins):
    logits, _ = strategy.mixed_logits(model, batch, coins)
    return token_nll(logits, batch.tgt_out)


def _assert_grads_close(a, b, atol=1e-6):
    for ga, gb in zip(a, b):
        torch.testing.assert_close(ga, gb, atol=atol, rtol=1e-4)


# ---- the lesson's equivalences ------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", MODES)
def test_p_use_gt_one_is_teacher_forcing_in_every_mode(task, batch, kind, mode):
    """All coins gold: the mixing machinery itself (not the short-cut) gives TF's loss and gradients."""
    model = _model(task, kind)
    strategy = ScheduledSampling(schedule=constant(1.0), mode=mode, passes=2)
    coins = draw_coins(batch.tgt_in, 1.0)
    assert coins.all()
    tf_loss, tf_grads = _loss_and_grads(model, lambda: TeacherForcing().loss(model, batch, 0)[0])
    ss_loss, ss_grads = _loss_and_grads(model, lambda: _ss_loss(strategy, model, batch, coins))
    assert float(ss_loss) == pytest.approx(float(tf_loss), abs=1e-6)
    _assert_grads_close(ss_grads, tf_grads)
    _, fed = strategy.mixed_logits(model, batch, coins)
    assert torch.equal(fed, batch.tgt_in)


@pytest.mark.parametrize("kind", KINDS)
def test_strategy_at_p_one_equals_teacher_forcing_exactly(task, batch, kind):
    model = _model(task, kind)
    loss, logs = get_strategy("scheduled_sampling", schedule={"name": "constant", "p": 1.0}).loss(model, batch, 7)
    tf_loss, tf_logs = TeacherForcing().loss(model, batch, 7)
    assert float(loss.detach()) == float(tf_loss.detach())
    assert {k: float(v) for k, v in logs.items()} == {"p_use_gt": 1.0, "token_acc": float(tf_logs["token_acc"]),
                                                      "model_token_frac": 0.0, "model_wrong_frac": 0.0}


def _manual_greedy_feed(model, batch):
    """Reference: a plain greedy step loop from BOS, returning the logits and the tokens fed."""
    state = model.init_state(model.encode(batch.src, batch.src_mask), batch.src_mask)
    token, logits, fed = batch.tgt_in[:, 0], [], []
    for _ in range(batch.tgt_in.shape[1]):
        fed.append(token)
        out, state = model.step(token, state)
        logits.append(out)
        token = out.argmax(-1)
    return torch.stack(logits, 1), torch.stack(fed, 1)


@pytest.mark.parametrize("kind", KINDS)
def test_sequential_at_p_zero_feeds_the_greedy_prefix(task, batch, kind):
    model = _model(task, kind)
    coins = draw_coins(batch.tgt_in, 0.0)
    assert torch.equal(coins, (batch.tgt_in == PAD) | (torch.arange(coins.shape[1]) == 0))
    logits, fed = ScheduledSampling(mode="sequential").mixed_logits(model, batch, coins)
    ref_logits, ref_fed = _manual_greedy_feed(model, batch)
    real = batch.tgt_in != PAD  # beyond the target, SS keeps PAD; the loss never looks there
    assert torch.equal(fed[real], ref_fed[real])
    assert (fed[~real] == PAD).all()
    with torch.no_grad():
        loss, ref_loss = token_nll(logits, batch.tgt_out), token_nll(ref_logits, batch.tgt_out)
    assert float(loss) == pytest.approx(float(ref_loss), abs=1e-6)
    # the strategy's own loss at p=0: every real choice was a model token
    _, logs = ScheduledSampling(schedule=constant(0.0), mode="sequential").loss(model, batch, 0)
    assert float(logs["model_token_frac"]) == 1.0 and logs["p_use_gt"] == 0.0
    # ... and the wrong ones among them are exactly the fed tokens that differ from the gold ones
    choices = real[:, 1:]
    wrong = ((ref_fed[:, 1:] != batch.tgt_in[:, 1:]) & choices).sum() / choices.sum()
    assert float(logs["model_wrong_frac"]) == pytest.approx(float(wrong)) and float(wrong) > 0


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("p_use_gt", [0.0, 0.5])
def test_two_pass_feeds_first_pass_argmax(task, batch, kind, p_use_gt):
    model = _model(task, kind)
    torch.manual_seed(3)
    coins = draw_coins(batch.tgt_in, p_use_gt)
    _, fed = ScheduledSampling(mode="two_pass", passes=1).mixed_logits(model, batch, coins)
    with torch.no_grad():
        first = model(batch.src, batch.tgt_in, batch.src_mask).argmax(-1)  # (B, T)
    assert torch.equal(fed[:, 0], batch.tgt_in[:, 0])
    assert torch.equal(fed[:, 1:][~coins[:, 1:]], first[:, :-1][~coins[:, 1:]])  # position t reads pred t-1
    assert torch.equal(fed[coins], batch.tgt_in[coins])
    assert torch.equal(fed, mix_shifted(batch.tgt_in, first, coins))


@pytest.mark.parametrize("kind", KINDS)
def test_two_pass_with_enough_passes_reaches_the_greedy_prefix(task, batch, kind):
    """Each extra pass makes one more position exact, so T-1 passes at p=0 equal sequential decoding."""
    model = _model(task, kind)
    coins = draw_coins(batch.tgt_in, 0.0)
    passes = batch.tgt_in.shape[1] - 1
    _, fed_parallel = ScheduledSampling(mode="two_pass", passes=passes).mixed_logits(model, batch, coins)
    _, fed_sequential = ScheduledSampling(mode="sequential").mixed_logits(model, batch, coins)
    assert torch.equal(fed_parallel, fed_sequential)


@pytest.mark.parametrize("kind", KINDS)
def test_naive_and_sequential_are_the_same_computation(task, batch, kind):
    """Same coin flips: same tokens fed, same loss and gradients. Not bit-identical: the naive loop's
    full-prefix attention (or GRU over the prefix) sums in another order than the incremental step,
    so values agree to float rounding (~1e-7), checked at 1e-6 / 1e-5."""
    model = _model(task, kind)
    torch.manual_seed(1)
    coins = draw_coins(batch.tgt_in, 0.5)
    assert 0 < (~coins).sum() < coins.numel()
    seq, naive = ScheduledSampling(mode="sequential"), ScheduledSampling(mode="naive")
    assert torch.equal(seq.mixed_logits(model, batch, coins)[1], naive.mixed_logits(model, batch, coins)[1])
    seq_loss, seq_grads = _loss_and_grads(model, lambda: _ss_loss(seq, model, batch, coins))
    naive_loss, naive_grads = _loss_and_grads(model, lambda: _ss_loss(naive, model, batch, coins))
    assert float(seq_loss) == pytest.approx(float(naive_loss), abs=1e-6)
    _assert_grads_close(seq_grads, naive_grads, atol=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_sampling_mode_is_repeatable_from_the_seed(task, batch, mode):
    model = _model(task, "transformer")
    strategy = ScheduledSampling(schedule=constant(0.0), mode=mode, sample=True)

    def fed(seed):
        torch.manual_seed(seed)
        return strategy.mixed_logits(model, batch, draw_coins(batch.tgt_in, 0.0))[1]

    a, b, c = fed(0), fed(0), fed(1)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert ((a >= 0) & (a < len(task.vocab))).all()


def test_auto_mode_and_logs(task, batch):
    strategy = ScheduledSampling(schedule=constant(0.5))
    assert strategy.resolve_mode(_model(task, "gru")) == "sequential"
    assert strategy.resolve_mode(_model(task, "transformer")) == "two_pass"
    torch.manual_seed(0)
    loss, logs = strategy.loss(_model(task, "transformer"), batch, 0)
    assert loss.requires_grad and math.isfinite(float(loss.detach()))
    assert set(logs) == {"p_use_gt", "token_acc", "model_token_frac", "model_wrong_frac"}
    assert 0.0 <= float(logs["model_wrong_frac"]) <= float(logs["model_token_frac"])
    assert logs["p_use_gt"] == 0.5 and 0.3 < float(logs["model_token_frac"]) < 0.7
    assert 0.0 <= float(logs["token_acc"]) <= 1.0


# ---- schedules ----------------------------------------------------------------------------------

def test_schedule_values_by_hand():
    assert constant(0.3)(0) == constant(0.3)(10_000) == 0.3
    lin = linear(c=0.1, k=1.0, eps_min=0.2)
    assert [lin(s) for s in (0, 5, 8, 100)] == pytest.approx([1.0, 0.5, 0.2, 0.2])
    assert exponential(0.5)(3) == 0.125 and exponential(0.5)(0) == 1.0
    assert inverse_sigmoid(10)(0) == pytest.approx(10 / 11)
    assert inverse_sigmoid(10)(10) == pytest.approx(10 / (10 + math.e))
    assert inverse_sigmoid(10)(10**7) == 0.0  # no overflow far out
    warm = with_warmup(inverse_sigmoid(10), 100)
    assert [warm(s) for s in (0, 50, 99)] == [1.0, 1.0, 1.0]
    assert warm(100) == pytest.approx(10 / 11) and warm(110) == pytest.approx(10 / (10 + math.e))
    named = make_schedule("linear", warmup_steps=3, c=0.25)
    assert [named(s) for s in (0, 2, 3, 4, 7, 20)] == pytest.approx([1.0, 1.0, 1.0, 0.75, 0.0, 0.0])


def test_default_schedule_is_warmup_then_gradual_inverse_sigmoid():
    sched = default_schedule()
    assert sched(0) == sched(999) == 1.0
    assert sched(1000) == pytest.approx(500 / 501)
    values = [sched(s) for s in range(1000, 9000, 100)]
    assert all(b < a for a, b in zip(values, values[1:]))
    assert 0.85 < sched(3000) < 0.95 and 0.4 < sched(4100) < 0.6 and sched(6000) < 0.1


@pytest.mark.parametrize("build, needles", [
    (lambda: constant(1.5), ("constant.p", "1.5")),
    (lambda: inverse_sigmoid(0.5), ("inverse_sigmoid.k", "0.5")),
    (lambda: exponential(1.0), ("exponential.k", "1.0")),
    (lambda: linear(c=-0.1), ("linear.c", "-0.1")),
    (lambda: with_warmup(constant(0.5), -1), ("warmup_steps", "-1")),
    (lambda: make_schedule("cosine"), ("schedule.name", "'cosine'", "inverse_sigmoid")),
    (lambda: make_schedule("constant", q=0.5), ("'q'", "constant")),
    (lambda: make_schedule("linear"), ("'c'", "missing")),
    (lambda: ScheduledSampling(mode="beam"), ("ScheduledSampling.mode", "'beam'", "two_pass")),
    (lambda: ScheduledSampling(passes=0), ("ScheduledSampling.passes", "0")),
    (lambda: ScheduledSampling(sample="yes"), ("ScheduledSampling.sample", "'yes'")),
    (lambda: ScheduledSampling(schedule={"p": 0.5}), ("ScheduledSampling.schedule", "'name'")),
    (lambda: ScheduledSampling(schedule=0.5), ("ScheduledSampling.schedule", "0.5")),
    (lambda: ScheduledSampling(schedule={"name": "constant", "p": 2}), ("constant.p", "2")),
    (lambda: get_strategy("scheduled_sampling", rate=0.5), ("scheduled_sampling", "'rate'")),
    (lambda: TrainConfig(strategy_args=[1]), ("TrainConfig.strategy_args", "[1]")),
    (lambda: TrainConfig(strategy_args={"x": object()}), ("TrainConfig.strategy_args",)),
    (lambda: TrainConfig(strategy_args={"label_smoothing": 0.1}), ("TrainConfig.strategy_args", "label_smoothing")),
])
def test_bad_values_raise_config_error_naming_them(build, needles):
    with pytest.raises(ConfigError) as exc:
        build()
    msg = str(exc.value)
    assert "\n" not in msg
    for needle in needles:
        assert needle in msg, msg


def test_a_schedule_returning_a_bad_probability_fails_at_the_step(task, batch):
    strategy = ScheduledSampling(schedule=lambda step: 1.5)
    with pytest.raises(ConfigError, match="p_use_gt = 1.5"):
        strategy.loss(_model(task, "gru"), batch, 0)


# ---- through train() ----------------------------------------------------------------------------

def test_strategy_args_are_copied_and_hashable():
    args = {"mode": "two_pass", "schedule": {"name": "constant", "p": 0.5}}
    cfg = TrainConfig(strategy="scheduled_sampling", strategy_args=args)
    args["mode"] = "naive"
    assert cfg.strategy_args["mode"] == "two_pass", "a frozen config must not change with the caller's dict"
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg and hash(TrainConfig.from_dict(cfg.to_dict())) == hash(cfg)
    assert TrainConfig().strategy_args == {} and cfg.to_dict() != TrainConfig(strategy="scheduled_sampling").to_dict()


@pytest.mark.parametrize("kind", KINDS)
def test_training_with_scheduled_sampling_learns_and_repeats(task, kind):
    splits = task.make_splits()
    cfg = TrainConfig(strategy="scheduled_sampling", steps=120, batch_size=32, lr=3e-3, warmup_steps=10,
                      log_every=40, strategy_args={"schedule": {"name": "linear", "c": 0.01, "eps_min": 0.5,
                                                                "warmup_steps": 20}})

    def run():
        return train(_model(task, kind), splits.train, cfg, CPU, progress=False)

    first, again = run(), run()
    assert first["loss"].tolist() == again["loss"].tolist()
    # p_use_gt means per window: warmup (1.0) then linear decay to the 0.5 floor
    assert first["p_use_gt"].iloc[0] > first["p_use_gt"].iloc[-1] == pytest.approx(0.5)
    assert first["model_token_frac"].iloc[-1] > 0.3
    # measured (GRU / Transformer): loss 1.81 -> 1.00 / 2.31 -> 1.18 over 120 steps
    assert first["loss"].iloc[-1] < 0.7 * first["loss"].iloc[0]
