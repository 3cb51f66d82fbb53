"""Statistics shared by the studies' verdicts: paired comparisons on the same test examples, with intervals.

Every verdict compares a new setting with a baseline **on the same examples** (and the same seeds, pooled):
- accuracy-like outcomes (exact match, parse, hallucination): the exact McNemar test on the discordant pairs
  (scipy's binomial test) and a 95% interval for the paired difference of proportions;
- any per-example score (CER, BLEU's sufficient statistics): a paired bootstrap (`bootstrap_sums`).
A verdict is 'helps' / 'hurts' (p < 0.05), 'makes no clear difference' (not significant, and the interval
rules out any difference as large as the smallest effect the lesson counts), or 'is underpowered' (not
significant, and it could not have ruled that out: the smallest difference it could have detected is stated).
Under MIN_EXAMPLES examples no verdict is given at all.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from scipy.stats import binomtest

MIN_EXAMPLES = 100  # no verdict on fewer examples (e.g. a small length bucket)
SMALLEST_ACCURACY = 0.03  # accuracy differences under 3 points are too small to matter for the lessons
ALPHA = 0.05
Z95, Z_POWER = 1.959964, 0.841621  # two-sided 95%; 80% power (the detectable difference is (Z95 + Z_POWER) * se)


@dataclass(frozen=True)
class Comparison:
    """A paired comparison of a new setting with a baseline: difference, 95% interval, p-value, verdict."""

    delta: float
    low: float
    high: float
    p_value: float
    n: int
    detectable: float
    smallest: float
    test: str
    verdict: str

    def sentence(self, digits: int = 3, unit: str = "") -> str:
        """'helps (+0.031 [+0.012, +0.050], McNemar p = 0.002, n = 600)' and the like."""
        if self.delta != self.delta:
            return self.verdict
        f = f"{{:+.{digits}f}}{unit}"
        if self.verdict.startswith("is not judged"):  # too few examples: the difference alone, no test
            return f"{self.verdict[:-1]}; difference {f.format(self.delta)})"
        detail = (f"{f.format(self.delta)} [{f.format(self.low)}, {f.format(self.high)}], "
                  f"{self.test} p = {self.p_value:.3g}, n = {self.n}")
        return f"{self.verdict} ({detail})"

    def as_dict(self) -> dict:
        """Plain fields, for summary.json."""
        return asdict(self)


def sentence(record: dict | None, digits: int = 3, unit: str = "") -> str:
    """Comparison.sentence of a record written by Comparison.as_dict (summary.json), or 'not compared'."""
    return Comparison(**record).sentence(digits, unit) if record else "could not be compared"


PAIRED_NOTE = ("Verdicts compare the two on the same test examples (seeds pooled): exact McNemar test, 95% interval "
               f"for the difference; 'no clear difference' only when the interval excludes ±{SMALLEST_ACCURACY:g}, "
               f"no verdict under {MIN_EXAMPLES} examples.")


def paired_verdict(delta: float, low: float, high: float, p_value: float, n: int, detectable: float,
                   smallest: float, min_n: int = MIN_EXAMPLES) -> str:
    """The verdict rule of this module (see its docstring)."""
    if n < min_n:
        return f"is not judged (n = {n} < {min_n} examples)"
    if p_value < ALPHA:
        return "helps" if delta > 0 else "hurts"
    if max(abs(low), abs(high)) < smallest:
        return "makes no clear difference"
    return f"is underpowered (it could only have detected a difference of {detectable:.3g} or more)"


def mcnemar(new: Sequence[bool], base: Sequence[bool], smallest: float = SMALLEST_ACCURACY,
            min_n: int = MIN_EXAMPLES) -> Comparison:
    """Paired comparison of two per-example success vectors on the same examples (seeds pooled by
    concatenation): exact McNemar p-value, difference of proportions new - base with a 95% Wald interval."""
    new, base = np.asarray(new, dtype=bool), np.asarray(base, dtype=bool)
    if new.shape != base.shape or new.ndim != 1:
        raise ValueError(f"mcnemar needs two equal-length 1-D vectors, got shapes {new.shape} and {base.shape}")
    n = len(new)
    if n == 0:
        return Comparison(*(float("nan"),) * 4, 0, float("nan"), smallest, "McNemar", "could not be compared (no examples)")
    gained, lost = int((new & ~base).sum()), int((~new & base).sum())
    delta = (gained - lost) / n
    p = binomtest(gained, gained + lost, 0.5).pvalue if gained + lost else 1.0
    se = float(np.sqrt(max(gained + lost - (gained - lost) ** 2 / n, 0.0))) / n
    low, high = delta - Z95 * se, delta + Z95 * se
    detectable = (Z95 + Z_POWER) * max(se, 1.0 / n)
    return Comparison(delta, low, high, float(p), n, detectable, smallest, "McNemar",
                      paired_verdict(delta, low, high, float(p), n, detectable, smallest, min_n))


def paired_bootstrap(columns: dict[str, np.ndarray], statistic, smallest: float, draws: int = 1000, seed: int = 0,
                     min_n: int = MIN_EXAMPLES, test: str = "paired bootstrap") -> Comparison:
    """Comparison from a statistic of column totals giving new - base (see bootstrap_sums): the 95% percentile
    interval, and the two-sided bootstrap p-value (twice the share of resampled differences on the far side of 0)."""
    n = len(next(iter(columns.values())))
    if n == 0:
        return Comparison(*(float("nan"),) * 4, 0, float("nan"), smallest, test, "could not be compared (no examples)")
    estimate, low, high, boot = _bootstrap(columns, statistic, draws, seed)
    if not len(boot):
        return Comparison(estimate, low, high, 1.0, n, float("nan"), smallest, test, "could not be compared")
    far = int((boot <= 0).sum() if estimate > 0 else (boot >= 0).sum())
    p = float(min(1.0, 2 * (far + 1) / (len(boot) + 1))) if estimate != 0 else 1.0  # never 0 from finite draws
    detectable = (Z95 + Z_POWER) * float(boot.std())
    return Comparison(estimate, low, high, p, n, detectable, smallest, test,
                      paired_verdict(estimate, low, high, p, n, detectable, smallest, min_n))


def bootstrap_sums(columns: dict[str, np.ndarray], statistic, draws: int = 1000, seed: int = 0,
                   level: float = 0.95) -> tuple[float, float, float]:
    """(estimate, low, high): statistic(totals) on all units and its percentile interval over `draws` resamples
    of the units (rows of every column, resampled together: a paired bootstrap).

    columns: per-unit values, each (N,) or (N, K); statistic maps a dict of column totals with a leading draw
    axis, (D,) or (D, K), to (D,) values. Totals rather than means keep ratio statistics (errors / tokens) exact.
    """
    if len(next(iter(columns.values()))) == 0:
        return float("nan"), float("nan"), float("nan")
    estimate, low, high, _ = _bootstrap(columns, statistic, draws, seed, level)
    return estimate, low, high


def _bootstrap(columns: dict, statistic, draws: int, seed: int, level: float = 0.95) -> tuple:
    """(estimate, low, high, finite resampled values) of statistic over resampled unit totals."""
    n = len(next(iter(columns.values())))
    rng = np.random.default_rng(seed)
    weights = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(draws)]).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        estimate = float(statistic({k: np.asarray(v, float).sum(0)[None] for k, v in columns.items()})[0])
        boot = statistic({k: np.tensordot(weights, np.asarray(v, float), axes=(1, 0)) for k, v in columns.items()})
    boot = boot[np.isfinite(boot)]
    if not len(boot):
        return estimate, float("nan"), float("nan"), boot
    low, high = np.percentile(boot, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    return estimate, float(low), float(high), boot


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
