"""Models on the counter task (y_t = y_{t-1} + x_t mod 10, x_t in {0, 1}) at the lengths of the decision guide:
the configs that notebook 03 (part 2, scheduled sampling in its regime) and notebook 08 (length generalisation)
share, so both load the same cached teacher-forced models.

Notebook 01's recipe (`synthetic.configs`: sizes, steps, learning rate) on the counter's lengths: training sources
of 4-48 tokens in `default` (the guide calls >= 32 long), test sources up to 64 (past the training lengths), 5,000
test examples and 3 seeds.
"""
from __future__ import annotations

import dataclasses

from seqgap_lab.core import seeds
from seqgap_lab.core.config import POSITIONS, ModelConfig, TaskConfig, TrainConfig, check_choice, check_profile
from seqgap_lab.zoo import synthetic

TASK = "counter"
SIZES = {
    "smoke": dict(min_len=4, train_max_len=10, test_max_len=14, num_test=300, seeds=1),
    "default": dict(min_len=4, train_max_len=48, test_max_len=64, num_test=5000, seeds=3),
    "full": dict(min_len=4, train_max_len=64, test_max_len=96, num_test=5000, seeds=3),
}


def configs(profile: str, kind: str, seed: int,
            positions: str = "sinusoidal") -> tuple[TaskConfig, ModelConfig, TrainConfig]:
    """Task, model and teacher-forced train configs; `positions` picks the Transformer's position scheme."""
    s = SIZES[check_profile(profile)]
    check_choice("counter.configs", "positions", positions, POSITIONS)
    task_cfg, model_cfg, train_cfg = synthetic.configs(profile, TASK, kind, seed)
    task_cfg = dataclasses.replace(task_cfg, min_len=s["min_len"], train_max_len=s["train_max_len"],
                                   test_max_len=s["test_max_len"], num_test=s["num_test"])
    if positions != "sinusoidal":
        model_cfg = dataclasses.replace(model_cfg, positions=positions)
    return task_cfg, model_cfg, train_cfg


def seed_list(profile: str, seed: int = 0, num_seeds: int = 0) -> list[int]:
    """Training seeds: `num_seeds` (0 = as SIZES says: 1 smoke, 3 default and full) from `seed`."""
    return seeds.seed_list(profile, seed, num_seeds or SIZES[check_profile(profile)]["seeds"])
