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
