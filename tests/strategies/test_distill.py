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
