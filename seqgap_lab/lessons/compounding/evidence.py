"""Does the model compound its errors, or fail on length? Each headline measure of notebook 01 as an estimate
with a 95% interval from a paired bootstrap over test examples (and seeds), and a verdict.

Settings fixed before any measurement: an excess error rate under DELTA_RATE (2 points) or an ExAccErr under
DELTA_PCT (10%) is too small to call compounding; injection is scored over the INJECT_STEPS steps after the
injected tokens. Every compounding measure is taken on examples within the training lengths, so that a failure
on longer inputs cannot pass for compounding; the length measure compares, on longer-than-training examples,
teacher-forced error past the training lengths with the error before them (gold prefixes: no exposure bias).
A second length measure compares, position by position up to the training lengths, the aligned error of
longer-than-training examples with that of in-range ones: a longer input that hurts even the early positions.
The positional rows score token t against gold token t, for contrast: they are what the old curves measured.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from seqgap_lab.core.stats import bootstrap_sums, effect_verdict
from seqgap_lab.probes.exposure_tables import earlier_error

DELTA_RATE = 0.02
DELTA_PCT = 10.0
INJECT_STEPS = 5
COMPOUNDING = ("compounding", "no compounding")
LENGTH = ("fails past the training lengths", "no length failure")
COLUMNS = ["measure", "question", "estimate", "ci_low", "ci_high", "delta", "verdict", "units"]


def _units(frame: pd.DataFrame) -> np.ndarray:
    """A unit id per row: the (seed, example) pair, or the example alone."""
    keys = [k for k in ("seed", "example") if k in frame]
    return frame.groupby(keys, sort=False).ngroup().to_numpy()


def _per_unit(frame: pd.DataFrame, values: dict[str, pd.Series]) -> dict[str, np.ndarray]:
    """Sum each value per unit: {name: (N,)}."""
    units = _units(frame)
    return {name: np.bincount(units, weights=v.to_numpy(float), minlength=units.max() + 1 if len(units) else 0)
            for name, v in values.items()}


def _row(name: str, question: tuple, columns: dict, statistic, delta: float, draws: int, seed: int) -> list:
    est, lo, hi = bootstrap_sums(columns, statistic, draws, seed) if columns else (np.nan,) * 3
    n = len(next(iter(columns.values()))) if columns else 0
    return [name, question[0] if question is COMPOUNDING else "length", est, lo, hi, delta,
            effect_verdict(est, lo, hi, delta, *question), n]


def _excess(errors: pd.DataFrame, column: str) -> dict:
    """Free-running minus teacher-forced errors, and positions, per unit."""
    return _per_unit(errors, {"diff": errors[column].astype(float) - errors["tf_error"], "n": errors["tf_error"] * 0 + 1})


def _strata(errors: pd.DataFrame, group: np.ndarray, column: str, width: int) -> dict:
    """Per unit and position (the strata of a Mantel-Haenszel comparison): tokens and errors of rows in the
    group (n1, e1) and out of it (n0, e0), each (units, width)."""
    err, pos, units = errors[column].to_numpy(bool), errors["position"].to_numpy() - 1, _units(errors)
    out = {}
    for name, sel in (("n1", group), ("e1", group & err), ("n0", ~group), ("e0", ~group & err)):
        grid = np.zeros((units.max() + 1 if len(units) else 0, width))
        np.add.at(grid, (units, pos), sel.astype(float))
        out[name] = grid
    return out


def _matched_after_error(errors: pd.DataFrame, column: str) -> dict:
    """Strata of tokens after an earlier error (1) vs after a clean prefix (0)."""
    width = int(errors["position"].max()) if len(errors) else 1
    return _strata(errors, earlier_error(errors, column).to_numpy(), column, width)


def _mantel_haenszel(t: dict) -> np.ndarray:
    """Risk difference after-error minus clean, pooled over positions with Mantel-Haenszel weights."""
    w = t["n1"] * t["n0"] / (t["n1"] + t["n0"])
    diff = t["e1"] / t["n1"] - t["e0"] / t["n0"]
    ok = (t["n1"] > 0) & (t["n0"] > 0)
    return np.where(ok, w * diff, 0).sum(-1) / np.where(ok, w, 0).sum(-1)


def _matched_groups(errors: pd.DataFrame, train_positions: int) -> dict:
    """Strata of longer-than-training examples (1) vs in-range ones (0) at positions up to train_positions, aligned
    errors. Target tokens only: an in-range example's <eos> slot would otherwise face a longer example's token."""
    errors = errors[(errors["position"] <= train_positions) & (errors["position"] <= errors["length"])]
    return _strata(errors, (errors["length"] + 1 > train_positions).to_numpy(), "fr_error", train_positions)


def evidence(errors: pd.DataFrame, injection: pd.DataFrame, exacc: pd.DataFrame, train_positions: int,
             draws: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The verdict table of one task x model (seeds pooled): one row per measure, COLUMNS."""
    within = errors[errors["length"] + 1 <= train_positions]
    inj = injection[injection["offset"] <= INJECT_STEPS]
    inj_cols = _per_unit(inj, {"diff": inj["error"].astype(float) * np.where(inj["condition"] == "injected", 1, -1),
                               "n": (inj["condition"] == "injected").astype(float)})
    longer = errors[errors["length"] + 1 > train_positions]
    past = longer["position"] > train_positions
    length_cols = _per_unit(longer, {"e_past": longer["tf_error"] * past, "n_past": past.astype(float),
                                     "e_before": longer["tf_error"] * ~past, "n_before": (~past).astype(float)})
    exacc_cols = _per_unit(exacc, {"r": exacc["regret"], "o": exacc["oracle_sum"]}) if len(exacc) else {}
    ratio = lambda t: t["diff"] / t["n"]  # noqa: E731
    rows = [
        _row("free-running excess (aligned)", COMPOUNDING, _excess(within, "fr_error"), ratio, DELTA_RATE, draws, seed),
        _row("error after an earlier error, position-matched (aligned)", COMPOUNDING,
             _matched_after_error(within, "fr_error"), _mantel_haenszel, DELTA_RATE, draws, seed),
        _row(f"error in the {INJECT_STEPS} steps after an injected token (aligned)", COMPOUNDING, inj_cols, ratio,
             DELTA_RATE, draws, seed),
        _row("ExAccErr (%) at the longest training length", COMPOUNDING, exacc_cols,
             lambda t: (t["r"] - t["o"]) / t["o"] * 100, DELTA_PCT, draws, seed),
        _row("teacher-forced error past the training lengths minus before", LENGTH, length_cols,
             lambda t: t["e_past"] / t["n_past"] - t["e_before"] / t["n_before"], DELTA_RATE, draws, seed),
        _row("aligned error at the same positions, longer-than-training minus in-range examples", LENGTH,
             _matched_groups(errors, train_positions), _mantel_haenszel, DELTA_RATE, draws, seed),
        _row("free-running excess, scored by position", COMPOUNDING, _excess(within, "fr_error_positional"), ratio,
             DELTA_RATE, draws, seed),
    ]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame.loc[frame["measure"].str.contains("scored by position"), "question"] = "positional scoring (for contrast)"
    return frame
