"""Small statistics shared by the studies' takeaways: when is a difference in a proportion real."""
from __future__ import annotations

import numpy as np


def verdict(new: float, base: float, n: float, min_delta: float = 0.01) -> str:
    """'helps' / 'hurts' only past two standard errors of the difference of two proportions on n examples."""
    delta = new - base
    se = float(np.sqrt((new * (1 - new) + base * (1 - base)) / n)) if n and n == n else float("nan")
    tol = max(min_delta, 2 * se) if se == se else min_delta
    if delta != delta:
        return "could not be compared (no examples)"
    if delta > tol:
        return f"helps (+{delta:.3f})"
    if delta < -tol:
        return f"hurts ({delta:.3f})"
    return f"makes no clear difference ({delta:+.3f}, within ±{tol:.3f})"
