"""The MRT fine-tuning recipe on the synthetic task (notebook 04, reused by the sweeps).

The budget and the (alpha, n) grid per profile, and the fine-tuning TrainConfig.
"""
from __future__ import annotations

import dataclasses

from seqgap_lab.core.config import TrainConfig, check_profile

# Fine-tuning budgets per profile, from notebook 01's checkpoint (synthetic.PROFILE_SIZES). `grid` holds
# (alpha, n) cells; `main` is the cell the headline compares (the paper's alpha = 5e-3 and the largest n).
FINETUNE = {
    "smoke": dict(steps=8, batch_size=16, lr=3e-4, log_every=4, grid=((5e-3, 2), (1.0, 2)), main=(5e-3, 2)),
    "default": dict(steps=300, batch_size=32, lr=3e-4, log_every=30,
                    grid=((5e-3, 4), (5e-3, 8), (1.0, 4), (1.0, 8)), main=(5e-3, 8)),
    "full": dict(steps=2000, batch_size=64, lr=2e-4, log_every=100,
                 grid=((5e-3, 4), (5e-3, 8), (5e-3, 16), (0.1, 8), (1.0, 8)), main=(5e-3, 16)),
}


def finetune_config(profile: str, seed: int, alpha: float | None = None, n: int | None = None) -> TrainConfig:
    """The fine-tuning TrainConfig: MRT with (alpha, n) and token-error risk, or teacher forcing if alpha is None."""
    f = FINETUNE[check_profile(profile)]
    base = TrainConfig(steps=f["steps"], batch_size=f["batch_size"], lr=f["lr"], warmup_steps=max(1, f["steps"] // 10),
                       seed=seed, log_every=f["log_every"])
    if alpha is None:
        return base
    return dataclasses.replace(base, strategy="mrt", strategy_args={"num_samples": n, "alpha": alpha,
                                                                    "risk": "token_error"})
