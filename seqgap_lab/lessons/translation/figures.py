"""Plots of the long-sentence NMT study (notebook 02): teacher-forced accuracy, compounding curve."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns


def tf_accuracy(frame: pd.DataFrame, min_count: int = 20) -> plt.Figure:
    """Teacher-forced next-token accuracy by target position (positions with >= min_count sentences)."""
    fig, ax = plt.subplots(figsize=(6, 3))
    sns.lineplot(data=frame[frame["count"] >= min_count], x="position", y="tf_accuracy", hue="model", ax=ax)
    ax.set_xlabel("target position (subword tokens)")
    ax.set_ylabel("teacher-forced accuracy")
    ax.set_title("Next-token accuracy given the gold prefix")
    return fig


def continuation_loss(frame: pd.DataFrame) -> plt.Figure:
    """Loss on the reference continuation after k own vs k gold tokens."""
    grid = sns.relplot(data=frame, kind="line", marker="o", x="k", y="loss", hue="prefix", col="model",
                       height=3.0, aspect=1.3)
    grid.set_axis_labels("k = prefix tokens before the continuation", "loss on reference continuation (nats/token)")
    grid.figure.suptitle("Real-data compounding: the model's own prefix vs the gold prefix", y=1.04)
    return grid.figure
