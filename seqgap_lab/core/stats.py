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
