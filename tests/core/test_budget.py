"""budget_scale: fewer training steps for any profile, checked where it enters, cached apart from full runs."""
from __future__ import annotations

import json
import math

import pytest

from seqgap_lab.core import budget, session
from seqgap_lab.core.config import ConfigError, TrainConfig
from seqgap_lab.zoo import synthetic


@pytest.mark.parametrize("bad", [0, 0.0, -0.5, 1.5, "x", "", None, True, math.nan, math.inf])
def test_bad_scales_are_named_with_the_allowed_range(bad):
    with pytest.raises(ConfigError, match=r"budget_scale = .* expected a number in \(0, 1\]"):
        budget.check_budget_scale(bad)


def test_scaled_config_keeps_everything_but_the_step_counts():
    cfg = TrainConfig(steps=2000, warmup_steps=200, log_every=50, lr=7e-4, batch_size=128)
    small = budget.scaled(cfg, 0.01)
    assert (small.steps, small.warmup_steps, small.log_every) == (20, 2, 1)
    assert small.replace(steps=2000, warmup_steps=200, log_every=50) == cfg
    assert budget.scaled(cfg, 1.0) is cfg
    assert budget.scaled(TrainConfig(steps=3, warmup_steps=1), 0.01).steps == 1, "never zero steps"


def test_environment_sets_the_scale_and_keys_scaled_runs_apart(monkeypatch, tmp_path):
    monkeypatch.delenv(budget.ENV, raising=False)
    assert budget.budget_scale() == 1.0 and budget.keyed({"a": 1}) == {"a": 1}
    task_cfg, model_cfg, train_cfg = synthetic.configs("smoke", "reverse", "gru", 0)
    train_cfg = train_cfg.replace(steps=8, warmup_steps=2, log_every=2)
    full = synthetic.trained_model(task_cfg, model_cfg, train_cfg, "cpu", progress=False)
    monkeypatch.setenv(budget.ENV, "0.5")
    assert budget.budget_scale() == 0.5 and budget.keyed({"a": 1}) == {"a": 1, "budget_scale": 0.5}
    half = synthetic.trained_model(task_cfg, model_cfg, train_cfg, "cpu", progress=False)
    assert half.checkpoint != full.checkpoint and not half.from_cache, "a scaled run never reuses a full one"
    assert int(half.history["step"].max()) == 4 and int(full.history["step"].max()) == 8
    monkeypatch.setenv(budget.ENV, "3")
    with pytest.raises(ConfigError, match="budget_scale = '3'"):
        budget.budget_scale()


def test_summaries_state_a_scale_that_is_not_one(monkeypatch):
    monkeypatch.setenv(budget.ENV, "0.01")
    sess = session.start("01_x", "smoke", device="cpu")
    assert json.loads(sess.write_summary({"n": 1}).read_text())["budget_scale"] == 0.01
    monkeypatch.delenv(budget.ENV)
    assert "budget_scale" not in json.loads(sess.write_summary({"n": 1}).read_text())
