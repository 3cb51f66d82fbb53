"""Plots: a tidy DataFrame in, a matplotlib Figure out. No computation beyond grouping for display."""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from seqgap_lab import paths
from seqgap_lab.cache import atomic_write_bytes

matplotlib.rcParams.setdefault("figure.dpi", 100)


def save_figure(fig: plt.Figure, stem: str, name: str) -> Path:
    """Write fig as figures/<stem>/<name>.png atomically and return the path."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", dpi=120)
    return atomic_write_bytes(paths.figures_dir(stem) / f"{name}.png", buf.getvalue())


def _grid(frame: pd.DataFrame, **kw) -> sns.FacetGrid:
    return sns.relplot(data=frame, kind="line", marker="o", markersize=4, height=3.0, aspect=1.3,
                       facet_kws={"sharey": True}, errorbar=("sd") if frame["seed"].nunique() > 1 else None, **kw)


def _mark_training_range(grid: sns.FacetGrid, limits: dict, task_axis: str) -> None:
    """Dashed line after the last target position seen in training (task on the 'row' or 'col' facet)."""
    for key, ax in grid.axes_dict.items():
        task = key if not isinstance(key, tuple) else key[0] if task_axis == "row" else key[1]
        if limits.get(task):
            ax.axvline(limits[task] + 0.5, color="grey", ls="--", lw=1)
            ax.text(limits[task] + 0.6, 0.98, "beyond training", color="grey", fontsize=7, va="top",
                    transform=ax.get_xaxis_transform())


def per_position_error(frame: pd.DataFrame, train_positions: dict) -> plt.Figure:
    """Teacher-forced vs free-running error by target position; rows task, columns model x example group."""
    data = frame.assign(panel=frame["model"] + " | " + frame["examples"])
    grid = _grid(data, x="position", y="error_rate", hue="mode", row="task", col="panel")
    grid.set_axis_labels("target position (1 = first token)", "token error rate")
    grid.set_titles("{row_name} | {col_name}", size=8)
    _mark_training_range(grid, train_positions, "row")
    grid.figure.suptitle("Teacher-forced vs free-running error by position", y=1.02)
    return grid.figure


def conditional_error(frame: pd.DataFrame) -> plt.Figure:
    """Free-running error at position t after a clean prefix vs after an earlier error."""
    grid = _grid(frame, x="position", y="error_rate", hue="condition", row="task", col="model")
    grid.set_axis_labels("target position", "free-running error rate")
    grid.figure.suptitle("Errors compound: error rate given the prefix so far", y=1.02)
    return grid.figure


def injection(frame: pd.DataFrame, at: int, k: int) -> plt.Figure:
    """Error after k injected wrong tokens vs a clean prefix, by steps since the injection."""
    grid = _grid(frame, x="offset", y="error_rate", hue="condition", row="task", col="model")
    grid.set_axis_labels(f"steps after {k} wrong token(s) at position {at + 1}", "error rate")
    grid.figure.suptitle("Error injection: does the model recover or drift?", y=1.02)
    return grid.figure


def exaccerr(frame: pd.DataFrame, train_positions: dict) -> plt.Figure:
    """ExAccErr (%) against sequence length, one panel per task."""
    grid = _grid(frame, x="length", y="exaccerr_pct", hue="model", col="task")
    grid.set_axis_labels("length l (steps)", "ExAccErr(l) %")
    _mark_training_range(grid, train_positions, "col")
    grid.figure.suptitle("Accumulated error due to exposure bias (Arora et al. 2022)", y=1.04)
    return grid.figure


def training_curves(history: pd.DataFrame) -> plt.Figure:
    """Training loss against step, one line per run."""
    fig, ax = plt.subplots(figsize=(5, 3))
    sns.lineplot(data=history, x="step", y="loss", hue="run", ax=ax)
    ax.set_yscale("log")
    ax.set_title("Teacher-forced training loss")
    return fig


def scores_by_bucket(frame: pd.DataFrame) -> plt.Figure:
    """BLEU and chrF by source-length bucket, one line per model."""
    long = frame.melt(id_vars=["model", "bucket", "n"], value_vars=["bleu", "chrf"], var_name="metric")
    grid = sns.catplot(data=long, kind="point", x="bucket", y="value", hue="model", col="metric",
                       sharey=False, height=3.0, aspect=1.3)
    grid.set_axis_labels("source length (words)", "score")
    grid.figure.suptitle("Translation quality by source length (sacrebleu)", y=1.04)
    return grid.figure


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


def finetune_curves(curves: pd.DataFrame, metrics: dict) -> plt.Figure:
    """Metrics against fine-tuning step (step 0 = the starting checkpoint), one line per label, one panel per
    metric; `metrics` maps a column of `curves` to its axis label (columns missing or all-NaN are skipped)."""
    metrics = {k: v for k, v in metrics.items() if k in curves and curves[k].notna().any()}
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics), 3.2), squeeze=False)
    group = ["model", "label"] if "model" in curves and curves["model"].nunique() > 1 else ["label"]
    for ax, (col, name) in zip(axes[0], metrics.items()):
        for key, part in curves.dropna(subset=[col]).groupby(group, sort=False):
            label = " | ".join(key) if isinstance(key, tuple) else key
            ax.plot(part["step"], part[col], marker="o", ms=3, label=label,
                    color="black" if str(label).endswith("teacher forcing (continued)") else None)
        ax.set(xlabel="fine-tuning step", ylabel=name, title=name)
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def exact_match_by_group(frame: pd.DataFrame, x: str = "label", hue: str = "examples", col: str | None = None,
                         title: str = "") -> plt.Figure:
    """Count-weighted exact match per x and hue (e.g. cell x within/beyond training lengths) as bars."""
    keys = [k for k in (col, x, hue) if k]
    agg = (frame.assign(correct=frame["exact_match"] * frame["count"]).groupby(keys, sort=False)[["correct", "count"]]
           .sum().reset_index())
    agg["exact_match"] = agg["correct"] / agg["count"]
    grid = sns.catplot(data=agg, kind="bar", x=x, y="exact_match", hue=hue, col=col, height=3.4, aspect=1.6)
    grid.set_axis_labels("", "exact match")
    for ax in grid.axes.flat:
        ax.tick_params(axis="x", labelrotation=20, labelsize=7)
    grid.figure.suptitle(title, y=1.04)
    return grid.figure


def _decoding_palette(data: pd.DataFrame) -> dict:
    """One colour per decoding in order of appearance; the human reference in black."""
    order = list(data["decoding"].drop_duplicates())
    colours = sns.color_palette(n_colors=len(order))
    return {d: "black" if d == "reference" else c for d, c in zip(order, colours)}


def generation_by_length(metrics: pd.DataFrame,
                         names=("rep_4", "diversity", "coherent_words", "expert_nll")) -> plt.Figure:
    """Generation metrics against the budget (max_len tokens), one line per decoding; rows corpus, columns
    metric; top-p's band is the sd over its sample seeds (notebook 07)."""
    data = metrics[metrics["metric"].isin(names)]
    grid = sns.relplot(data=data, kind="line", x="max_len", y="value", hue="decoding", row="corpus", col="metric",
                       col_order=list(names), palette=_decoding_palette(data), marker="o", markersize=4, height=2.6,
                       aspect=1.15, errorbar="sd", facet_kws={"sharey": False})
    grid.set_axis_labels("generation budget (tokens)", "")
    grid.set_titles("{row_name} | {col_name}", size=8)
    grid.figure.suptitle("Repetition, diversity, coherent length and expert NLL against the budget", y=1.02)
    return grid.figure


def parse_rate_by_length(metrics: pd.DataFrame) -> plt.Figure:
    """Code parse rate (prompt + completion still valid Python) against the budget, one line per decoding."""
    data = metrics[metrics["metric"] == "parse_rate"]
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    sns.lineplot(data=data, x="max_len", y="value", hue="decoding", palette=_decoding_palette(data), marker="o",
                 errorbar="sd", ax=ax)
    ax.set(xlabel="generation budget (tokens)", ylabel="parse rate", ylim=(-0.02, 1.02),
           title="Code: does prompt + completion still parse?")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


def metric_lines(frame: pd.DataFrame, x: str, metrics: dict, title: str, xlabel: str = "") -> plt.Figure:
    """One panel per metric (column -> axis label) against x, one line per `line` value; the rows whose line
    is "greedy" are drawn as a dashed horizontal line, and a length-ratio panel gets a green line at 1."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.4 * len(metrics), 3.2), squeeze=False)
    greedy = frame[frame["line"] == "greedy"]
    for ax, (col, name) in zip(axes[0], metrics.items()):
        for label, part in frame[frame["line"] != "greedy"].groupby("line", sort=False):
            part = part.sort_values(x)
            ax.plot(part[x], part[col], marker="o", ms=3, label=label,
                    color="black" if label == "no penalty" else None)
        if len(greedy):
            ax.axhline(greedy[col].iloc[0], color="grey", ls="--", lw=1, label="greedy")
        if col == "length_ratio":
            ax.axhline(1.0, color="green", lw=0.8)
        ax.set(xlabel=xlabel or x, ylabel=name, title=name, xticks=sorted(frame[x].unique()))
    axes[0][-1].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


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


VERDICT_COLOURS = {"supported": "#b7e1b0", "partly supported": "#fbe3a1", "not supported": "#f4b6b0",
                   "not measured": "#dddddd"}


def decision_table(frame: pd.DataFrame) -> plt.Figure:
    """The decision guide as a coloured table: situation, approach, verdict (colour = verdict)."""
    fig, ax = plt.subplots(figsize=(10, 0.5 + 0.45 * len(frame)))
    ax.axis("off")
    cells = frame[["situation", "approach", "verdict"]].values.tolist()
    table = ax.table(cellText=cells, colLabels=["situation", "approach", "our measurements"], loc="center",
                     cellLoc="left", colWidths=[0.27, 0.5, 0.23])
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    for i, verdict in enumerate(frame["verdict"], start=1):
        for j in range(3):
            table[i, j].set_facecolor(VERDICT_COLOURS.get(verdict, "white"))
    ax.set_title("The decision guide, judged by this run's measurements", fontsize=10)
    return fig


def hallucination_by_beam(scores: pd.DataFrame) -> plt.Figure:
    """BLEU and hallucination rate against beam size (1 = greedy), one line per model and domain."""
    long = scores.melt(id_vars=["model", "domain", "beam"], value_vars=["bleu", "hallucination_rate"],
                       var_name="metric", value_name="value")
    grid = sns.relplot(data=long, kind="line", x="beam", y="value", hue="model", style="domain", col="metric",
                       marker="o", height=3.0, aspect=1.3, facet_kws={"sharey": False})
    grid.set_axis_labels("beam size (1 = greedy; no length penalty)", "")
    grid.figure.suptitle("Translation in and out of domain: BLEU and hallucination rate by beam size", y=1.04)
    return grid.figure
