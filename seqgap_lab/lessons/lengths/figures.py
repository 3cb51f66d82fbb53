"""Plots of the strategy comparison across lengths (notebook 08): metrics by bucket, cost-benefit."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns


def sweep_by_length(table: pd.DataFrame, metric: str, ylabel: str, train_max: dict | None = None) -> plt.Figure:
    """A sweep metric against the source-length bucket (its lower edge): one line per training strategy,
    one panel per decoding (columns) and task/model (rows); bands are the sd over seeds when there are several."""
    data = table[(table["metric"] == metric) & (table["bucket"] != "all")].assign(
        cell=lambda f: f["task"] + "/" + f["model"])
    grid = sns.relplot(data=data, kind="line", x="bucket_lo", y="value", hue="strategy", col="decoding", row="cell",
                       marker="o", markersize=4, height=2.8, aspect=1.3, facet_kws={"sharey": True},
                       errorbar="sd" if data["seed"].nunique() > 1 else None)
    for (cell, _), ax in grid.axes_dict.items():
        limit = (train_max or {}).get(cell.split("/")[0])
        if limit:
            ax.axvline(limit + 0.5, color="grey", ls="--", lw=1)
    grid.set_axis_labels("source length (bucket's shortest)", ylabel)
    grid.figure.suptitle(f"{ylabel} by source length (dashed: longest training source)", y=1.02)
    return grid.figure


def cost_benefit(frame: pd.DataFrame, x: str, y: str, xlabel: str, ylabel: str, title: str) -> plt.Figure:
    """One point per remedy (label column) and panel (panel column): its cost (x) against its gain (y)."""
    grid = sns.relplot(data=frame, x=x, y=y, hue="label", col="panel", height=3.2, aspect=1.2, s=60,
                       facet_kws={"sharex": False, "sharey": False})
    for ax in grid.axes.flat:
        ax.axhline(0.0, color="grey", lw=0.8)
        ax.axvline(1.0, color="grey", lw=0.8, ls=":")
    grid.set_axis_labels(xlabel, ylabel)
    grid.figure.suptitle(title, y=1.04)
    return grid.figure
