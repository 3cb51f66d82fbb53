"""TODO docstring."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from seqgap_lab.lessons.common import LengthTables


def schedules(curves: pd.DataFrame) -> plt.Figure:
    """p_use_gt against training step, one line per grid cell (from ss_study.schedule_curves)."""
    fig, ax = plt.subplots(figsize=(6, 3))
    for label, part in curves.groupby("label", sort=False):
        ax.plot(part["step"], part["p_use_gt"], label=label)
    ax.set(xlabel="training step", ylabel="p_use_gt", ylim=(-0.02, 1.05), title="Schedules trained in this grid")
    ax.legend(fontsize=7)
    return fig


def ss_cost(frame: pd.DataFrame) -> plt.Figure:
    """Step time of each scheduled-sampling mode over a teacher-forcing step, per model."""
    grid = sns.catplot(data=frame, kind="bar", x="mode", y="step_time_over_tf", hue="model", height=3.0, aspect=1.5)
    for ax in grid.axes.flat:
        ax.axhline(1.0, color="grey", ls="--", lw=1)
    grid.set_axis_labels("scheduled-sampling mode", "step time / teacher-forcing step")
    grid.figure.suptitle("Cost of scheduled sampling (median paired ratio)", y=1.04)
    return grid.figure


def static_grid(tables: LengthTables) -> plt.Figure:
    """Every grid cell at once for reports: free-running error by position (top) and exact match by length."""
    models = list(tables.by_length["model"].drop_duplicates())
    labels = list(tables.by_length["label"].drop_duplicates())
    fig, axes = plt.subplots(2, len(models), figsize=(5 * len(models), 6.5), squeeze=False)
    cmap = plt.get_cmap("viridis", max(2, len(labels)))
    pp = tables.per_position[tables.per_position["mode"] == "free-running"]
    for col, model in enumerate(models):
        for i, label in enumerate(labels):
            style = dict(color="black" if label.startswith("teacher forcing") else cmap(i), marker="o", ms=2,
                         label=label)
            part = pp[(pp["model"] == model) & (pp["label"] == label)]
            # Both example groups on one line: the per-position rate over all test examples.
            merged = part.assign(w=part["error_rate"] * part["count"]).groupby("position")[["w", "count"]].sum()
            axes[0][col].plot(merged.index, merged["w"] / merged["count"], **style)
            bl = tables.by_length[(tables.by_length["model"] == model) & (tables.by_length["label"] == label)]
            axes[1][col].plot(bl["src_length"], bl["exact_match"], **style)
        axes[0][col].axvline(tables.train_positions + 0.5, color="grey", ls="--", lw=1)
        axes[1][col].axvline(tables.train_positions - 0.5, color="grey", ls="--", lw=1)
        axes[0][col].set(title=f"{model}: free-running error", xlabel="target position", ylabel="token error rate")
        axes[1][col].set(title=f"{model}: exact match", xlabel="source length", ylabel="exact match")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle("Every trained p_use_gt / schedule (dashed: end of training lengths)")
    fig.tight_layout()
    return fig
