"""budget_scale: every profile's training steps times a factor, so a big profile can be exercised end to end.

`full` keeps its models, data and grids but, with `budget_scale = 0.01`, trains one hundredth of the steps: the
whole `full` report then runs on a laptop CPU or a local Ray cluster to check the pipeline, not the results. The
scale comes from $SEQGAP_BUDGET_SCALE (set by `--budget-scale` of `seqgap-lab report | sweep | train` and by
`make report BUDGET_SCALE=...`; kernels and Ray workers inherit it). A scaled model is cached under its own key
(`budget_scale` joins the config), so it is never taken for a fully trained one; at 1 nothing changes.
"""
from __future__ import annotations

import os

from seqgap_lab.core.config import ConfigError, TrainConfig

ENV = "SEQGAP_BUDGET_SCALE"


def check_budget_scale(value) -> float:
    """value as a float in (0, 1], else ConfigError naming it (a budget cannot grow a profile, nor vanish)."""
    try:
        scale = float(value)
    except (TypeError, ValueError):
        scale = float("nan")
    if isinstance(value, bool) or not 0.0 < scale <= 1.0:
        raise ConfigError(f"budget_scale = {value!r} is not allowed: expected a number in (0, 1] "
                          f"(e.g. 0.01 trains a hundredth of every profile's steps)")
    return scale


def budget_scale() -> float:
    """The scale in force: $SEQGAP_BUDGET_SCALE (checked), else 1."""
    raw = os.environ.get(ENV)
    return 1.0 if raw in (None, "") else check_budget_scale(raw)


def scaled(train_cfg: TrainConfig, scale: float | None = None) -> TrainConfig:
    """train_cfg with steps, warm-up and logging interval times scale (at least 1 step); unchanged at 1."""
    scale = budget_scale() if scale is None else check_budget_scale(scale)
    if scale == 1.0:
        return train_cfg
    steps = max(1, round(train_cfg.steps * scale))
    return train_cfg.replace(steps=steps, warmup_steps=min(steps, round(train_cfg.warmup_steps * scale)),
                             log_every=max(1, min(steps, round(train_cfg.log_every * scale))))


def keyed(config: dict, scale: float | None = None) -> dict:
    """A cache key with the scale added when it is not 1 (keys of unscaled runs stay as they were)."""
    scale = budget_scale() if scale is None else scale
    return config if scale == 1.0 else {**config, "budget_scale": scale}
