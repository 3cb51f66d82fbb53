"""Tables of the compounding probes (probes/exposure.py), from its per-example frames: error by position,
error given an earlier error, and ExAccErr (Arora et al. 2022)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

MODES = {"teacher-forced": "tf_error", "free-running": "fr_error", "free-running, scored by position": "fr_error_positional"}


def per_position_error(errors: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """Tidy error rate by position (and any `by` columns) in each mode whose column `errors` has.

    Columns: *by, position, mode ('teacher-forced' | 'free-running' (aligned) | 'free-running, scored by
    position'), error_rate, count.
    """
    keys = [*by, "position"]
    g = errors.groupby(keys)
    out = []
    for mode, col in MODES.items():
        if col in errors:
            part = pd.DataFrame({"error_rate": g[col].mean(), "count": g[col].size()}).reset_index()
            part.insert(len(keys), "mode", mode)
            out.append(part)
    return pd.concat(out, ignore_index=True)


OPERATIONS = {"substitution": "fr_substituted", "deletion": "fr_deleted", "insertion": "fr_inserted"}


def operations_by_position(errors: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """Free-running edit operations by reference position (and any `by` columns): the share of positions
    substituted, deleted, and preceded by inserted tokens. Columns: *by, position, operation, rate, count."""
    keys = [*by, "position"]
    g = errors.groupby(keys)
    out = []
    for name, col in OPERATIONS.items():
        part = pd.DataFrame({"rate": g[col].apply(lambda v: (v > 0).mean()), "count": g[col].size()}).reset_index()
        part.insert(len(keys), "operation", name)
        out.append(part)
    return pd.concat(out, ignore_index=True)


def earlier_error(errors: pd.DataFrame, column: str = "fr_error") -> pd.Series:
    """Per row: whether an earlier position of the same example (and seed, if any) was wrong in `column`."""
    keys = [k for k in ("seed", "example") if k in errors]
    e = errors.sort_values([*keys, "position"])
    earlier = e.groupby(keys)[column].cumsum() - e[column]
    return (earlier > 0).reindex(errors.index)


def conditional_error(errors: pd.DataFrame, column: str = "fr_error") -> pd.DataFrame:
    """Free-running error at position t given whether an earlier position was already wrong (aligned errors by
    default; column='fr_error_positional' gives what positional scoring would show).

    Columns: position, condition ('clean prefix' | 'after an error'), error_rate, count. Compare the two at the
    same position: pooling positions would mix early (mostly clean) with late (mostly after an error) ones.
    """
    e = errors.assign(condition=np.where(earlier_error(errors, column), "after an error", "clean prefix"))
    e = e[e["position"] > 1]
    g = e.groupby(["position", "condition"])[column]
    out = pd.DataFrame({"error_rate": g.mean(), "count": g.size()}).reset_index()
    return out[["position", "condition", "error_rate", "count"]]


def exaccerr(eps_model: np.ndarray, eps_oracle: np.ndarray, lengths: np.ndarray) -> pd.DataFrame:
    """ExAccErr(l) = (R(l) - l*eps_bar(l)) / (l*eps_bar(l)) * 100% (Arora et al. 2022).

    R(l): expected sum of eps over the first l steps of model-generated prefixes; l*eps_bar(l): the
    same sum over oracle prefixes. At each l only examples at least l steps long are averaged.
    Columns: length, regret (R), oracle_sum (l*eps_bar), exaccerr_pct, count.
    """
    rows = []
    cum_model, cum_oracle = np.nancumsum(eps_model, 1), np.nancumsum(eps_oracle, 1)
    for l in range(1, eps_model.shape[1] + 1):
        sel = lengths >= l
        if not sel.any():
            continue
        r, base = cum_model[sel, l - 1].mean(), cum_oracle[sel, l - 1].mean()
        pct = (r - base) / base * 100.0 if base > 0 else float("nan")
        rows.append((l, r, base, pct, int(sel.sum())))
    return pd.DataFrame(rows, columns=["length", "regret", "oracle_sum", "exaccerr_pct", "count"])


def exaccerr_units(eps_model: np.ndarray, eps_oracle: np.ndarray, lengths: np.ndarray, length: int) -> pd.DataFrame:
    """Per example at least `length` steps long: its summed eps over the first `length` steps under its own
    prefix (regret) and under the oracle prefix (oracle_sum), for the interval on ExAccErr. Columns: example,
    regret, oracle_sum."""
    sel = np.flatnonzero(lengths >= length)
    return pd.DataFrame({"example": sel, "regret": np.nansum(eps_model[sel, :length], 1),
                         "oracle_sum": np.nansum(eps_oracle[sel, :length], 1)})
