"""Plots of notebook 10's LM studies (code.py, longform.py): a tidy DataFrame in, a Figure out, no computation
beyond selecting rows for display."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from seqgap_lab.lessons.applications.runs import REFERENCE


def _by_budget(metrics: pd.DataFrame, metric: str, ylabel: str, title: str, ylim=None) -> plt.Figure:
    """One metric against the budget: hue = decoding, style = strategy (the reference a black dashed line)."""
    data = metrics[metrics["metric"] == metric]
    fig, ax = plt.subplots(figsize=(6.8, 3.4))
    model_rows = data[data["strategy"] != REFERENCE]
    sns.lineplot(data=model_rows, x="max_len", y="value", hue="decoding", style="strategy", marker="o",
                 errorbar="sd" if model_rows["seed"].nunique() > 1 else None, ax=ax)
    ref = data[data["strategy"] == REFERENCE].sort_values("max_len")
    if len(ref):
        ax.plot(ref["max_len"], ref["value"], color="black", ls="--", lw=1, label="human reference")
    ax.set(xlabel="generation budget (LM tokens)", ylabel=ylabel, title=title)
    if ylim:
        ax.set_ylim(*ylim)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


def parse_rate_by_budget(metrics: pd.DataFrame, metric: str = "parse_rate") -> plt.Figure:
    """Code: share of prompt + completion that still parses vs the budget, per decoding and strategy."""
    return _by_budget(metrics, metric, "parse rate", "Code completion: does it still parse?", (-0.02, 1.02))


def rep_by_budget(metrics: pd.DataFrame, metric: str = "rep_4") -> plt.Figure:
    """Repetition (rep-4 by default) vs the budget, per decoding and strategy."""
    return _by_budget(metrics, metric, metric.replace("_", "-"), f"{metric.replace('_', '-')} vs generation length")


def drift_curve(curve: pd.DataFrame, window_words: int | None = None) -> plt.Figure:
    """Topic similarity to the prompt per window index at one budget (longform.curve_table)."""
    data, max_len = curve, int(curve["max_len"].max())
    fig, ax = plt.subplots(figsize=(6.8, 3.4))
    sns.lineplot(data=data[data["strategy"] != REFERENCE], x="window", y="similarity", hue="decoding",
                 style="strategy", marker="o", errorbar=None, ax=ax)
    ref = data[data["strategy"] == REFERENCE].groupby("window")["similarity"].mean()
    if len(ref):
        ax.plot(ref.index, ref.values, color="black", ls="--", lw=1, label="human reference")
    unit = f" ({window_words} words each)" if window_words else ""
    ax.set(xlabel=f"window of the continuation{unit}", ylabel="TF-IDF cosine to the prompt",
           title=f"Topic drift at {max_len} tokens")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


def longform_panels(metrics: pd.DataFrame, curve: pd.DataFrame, window_words: int | None = None) -> list[plt.Figure]:
    """The long-form study's two figures: the drift curve (longform.curve_table) and rep-4 vs budget."""
    return [drift_curve(curve, window_words=window_words), rep_by_budget(metrics, "rep_4")]


def hallucination_by_beam(scores: pd.DataFrame) -> plt.Figure:
    """BLEU and hallucination rate against beam size (1 = greedy), one line per model and domain."""
    long = scores.melt(id_vars=["model", "domain", "beam"], value_vars=["bleu", "hallucination_rate"],
                       var_name="metric", value_name="value")
    grid = sns.relplot(data=long, kind="line", x="beam", y="value", hue="model", style="domain", col="metric",
                       marker="o", height=3.0, aspect=1.3, facet_kws={"sharey": False})
    grid.set_axis_labels("beam size (1 = greedy; no length penalty)", "")
    grid.figure.suptitle("Translation in and out of domain: BLEU and hallucination rate by beam size", y=1.04)
    return grid.figure
