"""Small statistics shared by the studies' takeaways: when is a difference in a proportion real."""
from __future__ import annotations

from typing import Sequence

import numpy as np


def verdict(new: float, base: float, n: float, min_delta: float = 0.01,
            new_seeds: Sequence[float] | None = None, base_seeds: Sequence[float] | None = None) -> str:
    """'helps' / 'hurts' only past two standard errors of the difference of two proportions on n examples.

    With per-seed values of both sides (two seeds or more, paired by seed), the standard error is the larger
    of that binomial one and the standard error of the mean paired per-seed difference, so a difference that
    flips sign between training seeds is not called a help on the strength of many test examples.
    """
    delta = new - base
    se = float(np.sqrt((new * (1 - new) + base * (1 - base)) / n)) if n and n == n else float("nan")
    if new_seeds is not None and base_seeds is not None and len(new_seeds) == len(base_seeds) >= 2:
        diffs = np.asarray(new_seeds, dtype=float) - np.asarray(base_seeds, dtype=float)
        seed_se = float(diffs.std(ddof=1) / np.sqrt(len(diffs)))
        se = max(se, seed_se) if se == se else seed_se
    tol = max(min_delta, 2 * se) if se == se else min_delta
    if delta != delta:
        return "could not be compared (no examples)"
    if delta > tol:
        return f"helps (+{delta:.3f})"
    if delta < -tol:
        return f"hurts ({delta:.3f})"
    return f"makes no clear difference ({delta:+.3f}, within ±{tol:.3f})"


def seeded_verdict(new: dict, base: dict, key: str, n: float, new_key: str | None = None) -> str:
    """verdict() of new[new_key or key] against base[key], with their `<key>_per_seed` lists where present."""
    nk = new_key or key
    return verdict(new[nk], base[key], n, new_seeds=new.get(f"{nk}_per_seed"), base_seeds=base.get(f"{key}_per_seed"))


BLEU_TOLERANCE = 1.0  # with one seed and no per-sentence test, a BLEU difference under this is "no clear difference"


def bleu_verdict(new: list[float], base: list[float]) -> str:
    """'helps' / 'hurts' for BLEU: past two standard errors of the paired per-seed differences with several
    seeds, past BLEU_TOLERANCE with one (no significance claimed)."""
    if not new or not base:
        return "could not be compared (no scores)"
    diffs = np.asarray(new) - np.asarray(base)
    delta = float(diffs.mean())
    tol = max(BLEU_TOLERANCE, 2 * float(diffs.std(ddof=1)) / np.sqrt(len(diffs))) if len(diffs) > 1 else BLEU_TOLERANCE
    if delta > tol:
        return f"helps (+{delta:.2f} BLEU)"
    if delta < -tol:
        return f"hurts ({delta:.2f} BLEU)"
    return f"makes no clear difference ({delta:+.2f} BLEU, within ±{tol:.2f})"


def bootstrap_sums(columns: dict[str, np.ndarray], statistic, draws: int = 1000, seed: int = 0,
                   level: float = 0.95) -> tuple[float, float, float]:
    """(estimate, low, high): statistic(totals) on all units and its percentile interval over `draws` resamples
    of the units (rows of every column, resampled together: a paired bootstrap).

    columns: per-unit values, each (N,) or (N, K); statistic maps a dict of column totals with a leading draw
    axis, (D,) or (D, K), to (D,) values. Totals rather than means keep ratio statistics (errors / tokens) exact.
    """
    n = len(next(iter(columns.values())))
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    weights = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(draws)]).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        estimate = float(statistic({k: np.asarray(v, float).sum(0)[None] for k, v in columns.items()})[0])
        boot = statistic({k: np.tensordot(weights, np.asarray(v, float), axes=(1, 0)) for k, v in columns.items()})
    boot = boot[np.isfinite(boot)]
    if not len(boot):
        return estimate, float("nan"), float("nan")
    low, high = np.percentile(boot, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    return estimate, float(low), float(high)


def effect_verdict(estimate: float, low: float, high: float, delta: float, yes: str, no: str) -> str:
    """Three-way verdict on an effect with a 95% interval and a smallest effect of interest delta (stated before
    measuring): `no` when the interval lies below delta, `yes` when it lies above 0, otherwise 'underpowered'."""
    if estimate != estimate:
        return f"{no} (nothing to compare)"
    if high == high and high < delta:
        return no
    if low == low and low > 0:
        return yes
    return f"underpowered (the interval [{low:.3g}, {high:.3g}] includes both 0 and {delta:g})"
