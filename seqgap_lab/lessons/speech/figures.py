"""Plots of the speech notebook (11): a tidy DataFrame in, a matplotlib Figure out."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from seqgap_lab.lessons.speech.summary import LABELS

BUCKET_ORDER = ["short", "medium", "long"]


def _labelled(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(model=frame["model"].map(LABELS).fillna(frame["model"]))


def cer_by_bucket(table: pd.DataFrame) -> plt.Figure:
    """CER per length bucket, one bar per model, one panel per decoding (columns model, decoding, bucket, cer)."""
    grid = sns.catplot(data=_labelled(table), kind="bar", x="bucket", y="cer", hue="model", col="decoding",
                       order=BUCKET_ORDER, height=3.2, aspect=1.3)
    grid.set_axis_labels("transcript length bucket (long: past training)", "CER")
    grid.figure.suptitle("Character error rate by utterance length", y=1.03)
    return grid.figure


def error_by_position(curves: pd.DataFrame) -> plt.Figure:
    """Error rate per relative position decile: one panel per model, colour by bucket, dashes by mode."""
    grid = sns.relplot(data=_labelled(curves), kind="line", x="decile", y="error_rate", hue="bucket",
                       hue_order=BUCKET_ORDER, style="mode", style_order=["teacher-forced", "free-running"],
                       col="model", marker="o", markersize=4, height=3.0, aspect=1.1)
    grid.set_axis_labels("position (tenths of the reference)", "error rate")
    grid.figure.suptitle("Teacher-forced vs free-running error along the utterance", y=1.03)
    return grid.figure


def training_curves(history: pd.DataFrame) -> plt.Figure:
    """Training loss per step by model (columns model, step, loss), and p_use_gt where logged."""
    has_p = "p_use_gt" in history and history["p_use_gt"].notna().any()
    fig, axes = plt.subplots(1, 2 if has_p else 1, figsize=(10 if has_p else 5, 3.2), squeeze=False)
    sns.lineplot(data=_labelled(history), x="step", y="loss", hue="model", ax=axes[0, 0])
    axes[0, 0].set_yscale("log")
    axes[0, 0].set_title("training loss")
    if has_p:
        sns.lineplot(data=_labelled(history.dropna(subset=["p_use_gt"])), x="step", y="p_use_gt", hue="model",
                     ax=axes[0, 1])
        axes[0, 1].set_title("scheduled sampling: p_use_gt")
    fig.tight_layout()
    return fig


def decode_cost(cost: pd.DataFrame) -> plt.Figure:
    """Seconds per utterance by model and decoding (columns model, decoding, seconds_per_utterance), log scale."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    sns.barplot(data=_labelled(cost), x="model", y="seconds_per_utterance", hue="decoding", ax=ax)
    ax.set_yscale("log")
    ax.set_xlabel("")
    ax.set_ylabel("seconds per utterance")
    ax.set_title("Decoding cost")
    ax.tick_params(axis="x", rotation=15)
    fig.tight_layout()
    return fig
