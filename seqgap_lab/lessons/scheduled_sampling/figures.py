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
