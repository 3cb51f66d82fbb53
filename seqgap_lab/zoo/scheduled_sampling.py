"""The scheduled-sampling recipe on the synthetic task (notebook 03, reused by the sweeps).

The constant p_use_gt grid and the decaying schedules per profile.
"""
from __future__ import annotations

from seqgap_lab.core.config import check_profile
from seqgap_lab.strategies.schedules import DEFAULT_INVERSE_SIGMOID_K, DEFAULT_WARMUP_STEPS
from seqgap_lab.zoo import synthetic

# Per profile: the constant p_use_gt grid (1.0 = teacher forcing) and the decaying schedules' shape.
# Steps and sizes are notebook 01's (synthetic.PROFILE_SIZES), so the TF baseline is the same cached
# checkpoint. The library default (1,000 TF steps, then inverse sigmoid k=500) would never decay within
# the smoke (80) or default (1,500) budgets, so those profiles shrink warmup and k: default warms up 300
# steps and k=200 takes p_use_gt from 1 to about 0.33 by step 1,500 (0.5 near step 1,360).
# full (8,000 steps) uses the library default itself. Linear falls from 1 to `linear_floor` after warmup.
GRIDS = {
    "smoke": dict(p_grid=(1.0, 0.5), warmup=16, k=15.0, linear_floor=0.5),
    "default": dict(p_grid=(1.0, 0.9, 0.75, 0.5), warmup=300, k=200.0, linear_floor=0.5),
    "full": dict(p_grid=(1.0, 0.9, 0.75, 0.5, 0.25), warmup=DEFAULT_WARMUP_STEPS, k=DEFAULT_INVERSE_SIGMOID_K,
                 linear_floor=0.5),
}


def schedule_args(profile: str) -> dict[str, dict]:
    """The strategy_args 'schedule' dict of each decaying schedule in a profile."""
    g, steps = GRIDS[check_profile(profile)], synthetic.PROFILE_SIZES[profile]["steps"]
    decay_steps = max(1, steps - 1 - g["warmup"])  # reaches the floor at the last step
    return {"inverse_sigmoid": {"name": "inverse_sigmoid", "warmup_steps": g["warmup"], "k": g["k"]},
            "linear": {"name": "linear", "warmup_steps": g["warmup"], "k": 1.0, "eps_min": g["linear_floor"],
                       "c": (1.0 - g["linear_floor"]) / decay_steps}}
