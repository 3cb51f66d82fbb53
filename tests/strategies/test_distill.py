"""strategies/distill.py and experiments lineage: the KD loss (zero for teacher = student at T=1, the
T^2 scaling, against a hand-written KL), teacher outputs as targets, fine-tuning from a parent."""
from __future__ import annotations

import copy

import pytest
import torch

from seqgap_lab.training import runs as experiments
from seqgap_lab.core.config import ConfigError, DecodeConfig, ModelConfig, TaskConfig, TrainConfig
from seqgap_lab.data.batching import collate
from seqgap_lab.decoding import decode_sequences
from seqgap_lab.models import build_model
from seqgap_lab.strategies import get_strategy
from seqgap_lab.strategies.distill import kd_kl, teacher_targets
from seqgap_lab.zoo import synthetic

V = 9
TASK = TaskConfig(name="reverse", min_len=2, train_max_len=5, test_max_len=6, num_symbols=5,
                  num_train=200, num_dev=20, num_test=20)
MODEL = ModelConfig(kind="transformer", d_model=16, num_heads=2, num_layers=1, ffn_dim=32, dropout=0.0)
TRAIN = TrainConfig(steps=20, batch_size=16, lr=3e-3, warmup_steps=2, log_every=10)


def _model(kind="transformer", seed=0):
    torch.manual_seed(seed)
    return build_model(ModelConfig(kind=kind, d_model=16, num_heads=2, num_layers=1, ffn_dim=32, dropout=0.0), V)


def _batch():
    g = torch.Generator().manual_seed(1)
    return collate([(torch.randint(3, V, (n,), generator=g).tolist(), torch.randint(3, V, (n,), generator=g).tolist())
                    for n in (3, 5, 2)])


def test_kl_zero_for_identical_distributions_at_any_temperature():
    logits = torch.randn(2, 4, V)
    tgt = torch.randint(3, V, (2, 4))
    for t in (0.5, 1.0, 2.0):
        assert float(kd_kl(logits, logits, tgt, t)) == pytest.approx(0.0, abs=1e-6)


def test_kl_matches_hand_formula_with_t_squared_and_padding():
    torch.manual_seed(0)
    s, t = torch.randn(2, 3, V), torch.randn(2, 3, V)
    tgt = torch.tensor([[4, 5, 0], [3, 0, 0]])  # 3 real tokens
    temp = 2.0
    ps, pt = (s / temp).softmax(-1), (t / temp).softmax(-1)
    kl = (pt * (pt.log() - ps.log())).sum(-1)
    want = temp ** 2 * (kl[0, 0] + kl[0, 1] + kl[1, 0]) / 3
    assert float(kd_kl(s, t, tgt, temp)) == pytest.approx(float(want), rel=1e-5)


@pytest.mark.parametrize("kind", ["gru", "transformer"])
def test_word_kd_with_teacher_equal_to_student_is_zero_and_backpropagates(kind):
    student, batch = _model(kind), _batch()
    teacher = copy.deepcopy(student)
    loss, logs = get_strategy("word_kd", teacher=teacher, temperature=1.0).loss(student, batch, 0)
    assert float(loss.detach()) == pytest.approx(0.0, abs=1e-6) and float(logs["kl"]) == pytest.approx(0.0, abs=1e-6)
    other = _model(kind, seed=1)
    loss, logs = get_strategy("word_kd", teacher=other, temperature=2.0, kd_weight=0.5).loss(student, batch, 0)
    assert float(loss.detach()) > 0 and "nll" in logs
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in student.parameters() if p.grad is not None)
    assert all(p.grad is None for p in other.parameters()), "the teacher stays frozen"


@pytest.mark.parametrize("kwargs", [dict(), dict(temperature=0.0), dict(temperature=-1.0), dict(kd_weight=1.5),
                                    dict(kd_weight="a")])
def test_word_kd_bad_arguments(kwargs):
    if kwargs:
        kwargs["teacher"] = _model()
    with pytest.raises(ConfigError):
        get_strategy("word_kd", **kwargs)


def test_teacher_targets_are_the_teachers_decoded_outputs():
    teacher = _model().eval()
    sources = [[3, 4, 5], [6, 7], [8, 3, 4, 5]]
    cfg = DecodeConfig(max_len=6)
    got = teacher_targets(teacher, sources, cfg, chunk=2, progress=False)
    assert got == decode_sequences(teacher, sources, cfg)


def test_fine_tuning_starts_from_the_parent_and_has_its_own_cache_key():
    parent = synthetic.trained_model(TASK, MODEL, TRAIN, "cpu", progress=False)
    tiny = TrainConfig(steps=1, batch_size=16, lr=1e-9, warmup_steps=0, log_every=1)
    child = synthetic.trained_model(TASK, MODEL, tiny, "cpu", progress=False, init=TRAIN)
    assert child.checkpoint != parent.checkpoint and "-ft-" in child.checkpoint.name
    for a, b in zip(parent.model.parameters(), child.model.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    fresh = synthetic.trained_model(TASK, MODEL, tiny, "cpu", progress=False)
    assert fresh.checkpoint != child.checkpoint
    assert any(not torch.allclose(a, b, atol=1e-3) for a, b in zip(fresh.model.parameters(), child.model.parameters()))


def test_sequence_kd_trains_on_teacher_outputs_and_word_kd_gets_the_teacher(monkeypatch):
    seen = {}
    real_train = experiments.train

    def spy(model, pairs, cfg, device, **kwargs):
        seen["pairs"], seen["strategy"] = list(pairs), kwargs.get("strategy")
        return real_train(model, pairs, cfg, device, **kwargs)

    teacher = synthetic.trained_model(TASK, MODEL, TRAIN, "cpu", progress=False)
    monkeypatch.setattr(experiments, "train", spy)
    cfg = DecodeConfig(max_len=8)
    student = synthetic.trained_model(TASK, MODEL, TrainConfig(steps=2, batch_size=8, warmup_steps=0, seed=1),
                                        "cpu", progress=False, teacher=(MODEL, TRAIN), targets=cfg)
    want = decode_sequences(teacher.model, [s for s, _ in teacher.splits.train], cfg)
    assert [y for _, y in seen["pairs"]] == want and "-seqkd-" in student.checkpoint.name
    kd_cfg = TrainConfig(strategy="word_kd", steps=2, batch_size=8, warmup_steps=0, strategy_args={"temperature": 2.0})
    synthetic.trained_model(TASK, MODEL, kd_cfg, "cpu", progress=False, teacher=(MODEL, TRAIN))
    assert seen["strategy"].name == "word_kd" and seen["strategy"].temperature == 2.0
    with pytest.raises(ConfigError, match="teacher"):
        synthetic.trained_model(TASK, MODEL, TRAIN, "cpu", progress=False, targets=cfg)


def test_on_policy_kd_with_no_student_share_is_word_kd_on_the_gold_batch():
    teacher, student, batch = _model(seed=1), _model(seed=2), _batch()
    on = get_strategy("on_policy_kd", teacher=teacher, student_share=0.0, temperature=2.0)
    word = get_strategy("word_kd", teacher=teacher, temperature=2.0)
    (a, logs), (b, _) = on.loss(student, batch, 0), word.loss(student, batch, 0)
    assert float(a.detach()) == pytest.approx(float(b.detach()), rel=1e-6) and logs["on_policy"] == 0.0


def test_on_policy_kd_trains_on_the_students_own_samples_labelled_by_the_teacher():
    teacher, student, batch = _model(seed=1), _model(seed=2), _batch()
    strategy = get_strategy("on_policy_kd", teacher=teacher, sample_temperature=1e-4)  # ~ the student's argmax
    own = strategy.student_batch(student, batch)
    longest = -(-3 * batch.tgt_out.shape[1] // 2)  # max_len_ratio 1.5 x the gold width, rounded up
    greedy = decode_sequences(student, [[t for t in row if t] for row in batch.src.tolist()],
                              DecodeConfig(method="greedy", max_len=longest))
    for row, want in zip(own.tgt_out.tolist(), greedy):  # the student's own outputs, <eos> included where it ended
        assert row[: len(want)] == want and (len(want) == len(row) or row[len(want)] in (2, 0))
    assert (own.tgt_in[:, 0] == 1).all() and torch.equal(own.tgt_in[:, 1:][own.tgt_out[:, 1:] != 0],
                                                         own.tgt_out[:, :-1][own.tgt_out[:, 1:] != 0])
    before = [p.clone() for p in teacher.parameters()]
    loss, logs = strategy.loss(student, batch, 0)
    loss.backward()
    assert logs["on_policy"] == 1.0 and float(loss.detach()) > 0
    assert all(p.grad is not None for p in student.parameters() if p.requires_grad)
    assert all(p.grad is None for p in teacher.parameters()) and all(
        torch.equal(a, b) for a, b in zip(before, teacher.parameters()))
    # A teacher equal to the student has nothing to teach on any prefix: the loss is zero
    assert float(get_strategy("on_policy_kd", teacher=copy.deepcopy(student)).loss(student, batch, 0)[0].detach()) == \
        pytest.approx(0.0, abs=1e-6)


def test_on_policy_kd_share_draws_a_seeded_coin_per_step():
    teacher, student, batch = _model(seed=1), _model(seed=2), _batch()
    strategy = get_strategy("on_policy_kd", teacher=teacher, student_share=0.5)
    torch.manual_seed(0)
    draws = [strategy.loss(student, batch, s)[1]["on_policy"] for s in range(40)]
    assert 8 <= sum(draws) <= 32  # both kinds of step occur (p = 0.5, 40 steps)
    with pytest.raises(ConfigError, match="on_policy_kd needs teacher="):
        get_strategy("on_policy_kd")


def test_on_policy_kd_runs_through_trained_model_with_a_teacher(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQGAP_DATA_DIR", str(tmp_path))
    teacher_train = TRAIN
    student = TRAIN.replace(strategy="on_policy_kd", strategy_args={"student_share": 0.5})
    run = synthetic.trained_model(TASK, MODEL, student, progress=False, teacher=(MODEL, teacher_train))
    assert "kl" in run.history and "on_policy" in run.history and run.history["kl"].notna().all()
    assert 0.0 < run.history["on_policy"].mean() < 1.0
