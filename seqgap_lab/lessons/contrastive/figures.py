"""Plots of the contrastive-decoding study (notebook 07) and the static snapshot grid.

Generation metrics and code parse rate against the budget, the explorer's curve against w, and every cached (w, a, tau)
at once for reports.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from seqgap_lab.lessons.contrastive.summary import grid_values, weight_effect
from seqgap_lab.views.plots import decoding_palette


def generation_by_length(metrics: pd.DataFrame,
                         names=("rep_4", "diversity", "coherent_words", "expert_nll")) -> plt.Figure:
    """Generation metrics against the budget (max_len tokens), one line per decoding; rows corpus, columns
    metric; top-p's band is the sd over its sample seeds (notebook 07)."""
    data = metrics[metrics["metric"].isin(names)]
    grid = sns.relplot(data=data, kind="line", x="max_len", y="value", hue="decoding", row="corpus", col="metric",
                       col_order=list(names), palette=decoding_palette(data), marker="o", markersize=4, height=2.6,
                       aspect=1.15, errorbar="sd", facet_kws={"sharey": False})
    grid.set_axis_labels("generation budget (tokens)", "")
    grid.set_titles("{row_name} | {col_name}", size=8)
    grid.figure.suptitle("Repetition, diversity, coherent length and expert NLL against the budget", y=1.02)
    return grid.figure


def parse_rate_by_length(metrics: pd.DataFrame) -> plt.Figure:
    """Code parse rate (prompt + completion still valid Python) against the budget, one line per decoding."""
    data = metrics[metrics["metric"] == "parse_rate"]
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    sns.lineplot(data=data, x="max_len", y="value", hue="decoding", palette=decoding_palette(data), marker="o",
                 errorbar="sd", ax=ax)
    ax.set(xlabel="generation budget (tokens)", ylabel="parse rate", ylim=(-0.02, 1.02),
           title="Code: does prompt + completion still parse?")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


def weight_curve(grid: pd.DataFrame, corpus: str, setting: dict) -> plt.Figure:
    """Pooled rep-4, diversity (and checked parse rate) against w at the setting's (a, tau), the current w marked."""
    fixed = {k: v for k, v in setting.items() if k != "weight"}
    effect = weight_effect(grid, corpus, fixed["plausibility"], fixed["amateur_temperature"])
    keys = [k for k in ("rep_4", "diversity", "parse_rate_checked") if k in effect]
    fig, ax = plt.subplots(figsize=(5, 2.6))
    for k in keys:
        ax.plot(effect["weights"], effect[k], marker="o", ms=3, label=k.replace("_", "-"))
    ax.axvline(setting["weight"], color="grey", ls="--", lw=1)
    ax.set(xlabel="contrastive weight w", ylim=(-0.02, 1.02),
           title=f"{corpus}: a = {fixed['plausibility']:g}, tau = {fixed['amateur_temperature']:g}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def static_grid(grid: pd.DataFrame) -> plt.Figure:
    """Every cached setting at once for reports: pooled metrics against w, one line per (a, tau), rows corpora."""
    corpora = list(grid["corpus"].drop_duplicates())
    metrics = [k for k in ("rep_4", "diversity", "coherent_words", "expert_nll", "parse_rate_checked")
               if k != "parse_rate_checked" or grid["parses"].notna().any()]
    fig, axes = plt.subplots(len(corpora), len(metrics), figsize=(3.2 * len(metrics), 2.8 * len(corpora)),
                             squeeze=False)
    values = grid_values(grid)
    cmap = plt.get_cmap("viridis", max(2, len(values["plausibility"])))
    others = iter(("--", ":", "-.", (0, (1, 4))))
    styles = {tau: "-" if tau == 1.0 else next(others, "--") for tau in values["amateur_temperature"]}
    for r, corpus in enumerate(corpora):
        for i, a in enumerate(values["plausibility"]):
            for tau in values["amateur_temperature"]:
                effect = weight_effect(grid, corpus, a, tau)
                for c, k in enumerate(metrics):
                    if k in effect:
                        axes[r][c].plot(effect["weights"], effect[k], marker="o", ms=2, color=cmap(i),
                                        ls=styles.get(tau, "-"), label=f"a={a:g}, tau={tau:g}")
        for c, k in enumerate(metrics):
            axes[r][c].set(title=f"{corpus}: {k.replace('_', '-')}", xlabel="contrastive weight w")
            axes[r][c].set_visible(bool(axes[r][c].lines))
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="center right", fontsize=7)
    fig.suptitle("Explorer grid: li2022 contrastive greedy, pooled over the grid prompts (w = 0 is greedy)")
    fig.tight_layout(rect=(0, 0, 0.88, 1))
    return fig
