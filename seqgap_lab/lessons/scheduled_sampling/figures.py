"""Plots of the scheduled-sampling study (notebook 03): the schedules, the step costs.

p_use_gt against the training step for every grid cell, and the step time of each scheduled-sampling mode over a
teacher-forcing step.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns


def schedules(curves: pd.DataFrame) -> plt.Figure:
    """p_use_gt against training step, one line per grid cell (from study.schedule_curves)."""
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


def regime_exact_match(by_length: pd.DataFrame, train_max_len: int) -> plt.Figure:
    """Counter task: free-running exact match by source-length bucket, one panel per model, a line per cell
    (from regime.exact_match_by_length); the dashed line is the longest training source."""
    grid = sns.relplot(data=by_length, kind="line", x="bucket", y="exact_match", hue="label", col="model",
                       marker="o", height=3.0, aspect=1.3, facet_kws={"sharey": True})
    for ax in grid.axes.flat:
        ax.axvline(train_max_len, color="grey", ls="--", lw=1)
        ax.set_ylim(-0.02, 1.02)
    grid.set_axis_labels("source length (bucket start)", "exact match (free-running)")
    grid.figure.suptitle("Counter task: exact match by length (all seeds)", y=1.04)
    return grid.figure


def regime_injection(injection: pd.DataFrame) -> plt.Figure:
    """Counter task: share of examples whose next token is right after one injected wrong token, against the
    same examples fed only gold (clean), per model and cell."""
    rates = injection.groupby(["model", "label", "condition"], sort=False)["next_right"].mean().reset_index()
    grid = sns.catplot(data=rates, kind="bar", x="next_right", y="label", hue="condition", col="model",
                       height=3.0, aspect=1.4, hue_order=["clean", "injected"])
    grid.set_axis_labels("next token right", "")
    grid.set(xlim=(0, 1))
    grid.figure.suptitle("After one wrong token in the prefix: recompute or follow it?", y=1.04)
    return grid.figure


def regime_wrong_inputs(training: pd.DataFrame) -> plt.Figure:
    """Counter task: the share of decoder inputs that were the model's own and wrong, by fine-tuning step (mean
    over seeds), for the scheduled-sampling cells, with p_use_gt on the same axis."""
    ss = training[training["label"].str.startswith("SS")]
    fig, axes = plt.subplots(1, max(1, ss["model"].nunique()), figsize=(9, 3), squeeze=False, sharey=True)
    for ax, (model, part) in zip(axes[0], ss.groupby("model", sort=False)):
        mean = part.groupby(["label", "step"], sort=False)[["model_wrong_frac", "p_use_gt"]].mean().reset_index()
        for label, rows in mean.groupby("label", sort=False):
            ax.plot(rows["step"], rows["model_wrong_frac"], label=f"{label}: own and wrong")
        first = mean[mean["label"] == mean["label"].iloc[0]]
        ax.plot(first["step"], 1 - first["p_use_gt"], color="grey", ls=":", label="1 - p_use_gt")
        ax.set(title=model, xlabel="fine-tuning step", ylabel="share of decoder inputs")
    axes[0][-1].legend(fontsize=7)
    return fig
