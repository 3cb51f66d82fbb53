"""Plots of the error-compounding study (notebook 01): by position, conditional, injection, ExAccErr."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from seqgap_lab.views.plots import line_grid, mark_training_range


def per_position_error(frame: pd.DataFrame, train_positions: dict) -> plt.Figure:
    """Teacher-forced vs free-running error by target position; rows task, columns model x example group."""
    data = frame.assign(panel=frame["model"] + " | " + frame["examples"])
    grid = line_grid(data, x="position", y="error_rate", hue="mode", row="task", col="panel")
    grid.set_axis_labels("target position (1 = first token)", "token error rate")
    grid.set_titles("{row_name} | {col_name}", size=8)
    mark_training_range(grid, train_positions, "row")
    grid.figure.suptitle("Teacher-forced vs free-running error by position", y=1.02)
    return grid.figure


def conditional_error(frame: pd.DataFrame) -> plt.Figure:
    """Free-running error at position t after a clean prefix vs after an earlier error."""
    grid = line_grid(frame, x="position", y="error_rate", hue="condition", row="task", col="model")
    grid.set_axis_labels("target position", "free-running error rate")
    grid.figure.suptitle("Errors compound: error rate given the prefix so far", y=1.02)
    return grid.figure


def injection(frame: pd.DataFrame, at: int, k: int) -> plt.Figure:
    """Error after k injected wrong tokens vs a clean prefix, by steps since the injection."""
    grid = line_grid(frame, x="offset", y="error_rate", hue="condition", row="task", col="model")
    grid.set_axis_labels(f"steps after {k} wrong token(s) at position {at + 1}", "error rate")
    grid.figure.suptitle("Error injection: does the model recover or drift?", y=1.02)
    return grid.figure


def exaccerr(frame: pd.DataFrame, train_positions: dict) -> plt.Figure:
    """ExAccErr (%) against sequence length, one panel per task."""
    grid = line_grid(frame, x="length", y="exaccerr_pct", hue="model", col="task")
    grid.set_axis_labels("length l (steps)", "ExAccErr(l) %")
    mark_training_range(grid, train_positions, "col")
    grid.figure.suptitle("Accumulated error due to exposure bias (Arora et al. 2022)", y=1.04)
    return grid.figure


def evidence(frame: pd.DataFrame) -> plt.Figure:
    """Each measure's estimate with its 95% interval, one panel per measure, one row per task/model; the
    shaded band is the smallest effect the verdicts count (delta)."""
    frame = frame.assign(who=frame["task"] + "/" + frame["model"])
    measures = list(dict.fromkeys(frame["measure"]))
    fig, axes = plt.subplots(1, len(measures), figsize=(3.2 * len(measures), 0.45 * frame["who"].nunique() + 1.6),
                             sharey=True, squeeze=False)
    for ax, measure in zip(axes[0], measures):
        part = frame[frame["measure"] == measure].reset_index(drop=True)
        y = range(len(part))
        ax.errorbar(part["estimate"], y, xerr=[(part["estimate"] - part["ci_low"]).clip(lower=0),
                                                (part["ci_high"] - part["estimate"]).clip(lower=0)], fmt="o", ms=4)
        ax.axvspan(-part["delta"].iloc[0], part["delta"].iloc[0], color="0.9", zorder=0)
        ax.axvline(0, color="0.5", lw=0.8)
        ax.set_yticks(list(y), part["who"], fontsize=8)
        ax.set_title(measure, fontsize=8, wrap=True)
    fig.suptitle("Compounding or length? Estimates with 95% paired-bootstrap intervals", y=1.02)
    fig.tight_layout()
    return fig
