"""Several training seeds for a study (notebooks 03-05): how many a profile runs, the tables pooled over
seeds for the plots and widgets, and the per-seed values and spread of every headline number.

A study runs once per seed and returns a tables dataclass (SSTables, MRTTables, DistillTables). `run_seeds`
concatenates each DataFrame field with a `seed` column; `pool` then averages over seeds so that the plots
and widgets draw one line per cell (count-weighted where the rows carry a `count`, so the pooled rate is
the rate over every test example of every seed). The headline is computed on the pooled tables (means over
seeds) and, with more than one seed, `add_spread` adds `<number>_per_seed` lists and `<number>_seed_sd`.
Verdicts do not use those lists: they pair the per-example outcomes of every seed (stats.mcnemar), and the
spread is reported beside them.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, TypeVar

import numpy as np
import pandas as pd

from seqgap_lab.core.config import ConfigError, check_int, check_profile

# Seeds per profile: one where a notebook must be quick, three in `full` (the spread over seeds).
PROFILE_SEEDS = {"smoke": 1, "default": 1, "full": 3}
T = TypeVar("T")


def seed_list(profile: str, seed: int = 0, num_seeds: int = 0) -> list[int]:
    """The training seeds of a run: `num_seeds` (0 = as the profile says) consecutive seeds from `seed`."""
    check_int("seed_list", "seed", seed, 0)
    check_int("seed_list", "num_seeds", num_seeds, 0, 20)
    n = num_seeds or PROFILE_SEEDS[check_profile(profile)]
    return list(range(seed, seed + n))


def run_seeds(run_one: Callable[[int], T], seeds: list[int]) -> tuple[T, dict[int, T]]:
    """Run a study once per seed: (every DataFrame field concatenated with a `seed` column, {seed: tables})."""
    if not seeds:
        raise ConfigError("run_seeds needs at least one seed")
    per_seed = {s: run_one(s) for s in seeds}
    first = per_seed[seeds[0]]
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(first):
        value = getattr(first, f.name)
        if isinstance(value, pd.DataFrame):
            changes[f.name] = pd.concat([getattr(t, f.name).assign(seed=s) for s, t in per_seed.items()],
                                        ignore_index=True)
        elif f.name == "runs":
            changes[f.name] = {(s, *(k if isinstance(k, tuple) else (k,))): r
                               for s, t in per_seed.items() for k, r in t.runs.items()}
    return dataclasses.replace(first, **changes), per_seed


def pool_frame(frame: pd.DataFrame, keys: list[str], weight: str | None = "count") -> pd.DataFrame:
    """Average the numeric non-key columns over seeds within each `keys` group (count-weighted when `weight`
    is a column; the weight column itself is summed). Keys missing from `frame` are skipped (a study's
    optional tags); columns neither key nor numeric are dropped."""
    if "seed" not in frame or frame["seed"].nunique() <= 1:
        return frame.drop(columns=["seed"], errors="ignore")
    keys = [k for k in keys if k in frame]
    values = [c for c in frame.columns if c not in (*keys, "seed", weight) and pd.api.types.is_numeric_dtype(frame[c])]
    if weight and weight in frame:
        weighted = frame[values].mul(frame[weight], axis=0).assign(**{weight: frame[weight]})
        sums = weighted.groupby([frame[k] for k in keys], dropna=False, sort=False).sum(min_count=1)
        out = sums[values].div(sums[weight], axis=0).assign(**{weight: sums[weight]})
    else:
        out = frame.groupby(keys, dropna=False, sort=False)[values].mean()
    return out.reset_index()


def add_spread(pooled: dict, per_seed: list[dict], maps: tuple[str, ...] = ()) -> dict:
    """`pooled` with `<key>_per_seed` and `<key>_seed_sd` next to every number that each per-seed head also
    has at the same place (nested dicts walked); unchanged with fewer than two seeds. A key in `maps` holds a
    name -> number map: its spread goes to sibling maps `<key>_per_seed` / `<key>_seed_sd`, keeping the map
    itself free of extra keys."""
    if len(per_seed) < 2:
        return pooled
    out: dict = {}
    for key, value in pooled.items():
        others = [h.get(key) if isinstance(h, dict) else None for h in per_seed]
        out[key] = value
        if isinstance(value, dict) and key in maps:
            spread = add_spread(value, [o if isinstance(o, dict) else {} for o in others])
            out[f"{key}_per_seed"] = {k: spread[f"{k}_per_seed"] for k in value if f"{k}_per_seed" in spread}
            out[f"{key}_seed_sd"] = {k: spread[f"{k}_seed_sd"] for k in value if f"{k}_seed_sd" in spread}
        elif isinstance(value, dict):
            out[key] = add_spread(value, [o if isinstance(o, dict) else {} for o in others], maps)
        elif _is_number(value) and all(_is_number(o) for o in others):
            vals = [float(o) for o in others]
            out[f"{key}_per_seed"] = vals
            out[f"{key}_seed_sd"] = float(np.std(vals, ddof=1))
    return out


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def spread_text(h: dict, key: str, fmt: str = ".3f") -> str:
    """' ± sd' for a headline number that has a seed spread, else ''."""
    sd = h.get(f"{key}_seed_sd")
    return f" ± {sd:{fmt}}" if sd is not None and sd == sd else ""


def with_spread(h: dict, key: str) -> str:
    """A headline number to 3 decimals, with ' ± sd' when it has a nonzero seed spread ('nan' when missing)."""
    value, sd = h.get(key, float("nan")), h.get(f"{key}_seed_sd", 0.0)
    return f"{value:.3f}" + (f" ± {sd:.3f}" if sd else "")


def seeds_note(seeds: list[int]) -> str:
    """The takeaway's first words on seeds."""
    if len(seeds) > 1:
        return (f"Measured with seeds {seeds}: numbers are means over the seeds, ± the standard deviation between "
                "seeds; verdicts pair the test examples of every seed")
    return f"Measured with seed {seeds} (one seed; the `full` profile runs {PROFILE_SEEDS['full']})"
