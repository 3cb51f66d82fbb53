"""Plots: a tidy DataFrame in, a matplotlib Figure out. No computation beyond grouping for display."""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from seqgap_lab.core import paths
from seqgap_lab.core.cache import atomic_write_bytes

matplotlib.rcParams.setdefault("figure.dpi", 100)


def save_figure(fig: plt.Figure, stem: str, name: str) -> Path:
    """Write fig as figures/<stem>/<name>.png atomically and return the path."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", dpi=120)
    return atomic_write_bytes(paths.figures_dir(stem) / f"{name}.png", buf.getvalue())


def line_grid(frame: pd.DataFrame, **kw) -> sns.FacetGrid:
    return sns.relplot(data=frame, kind="line", marker="o", markersize=4, height=3.0, aspect=1.3,
                       facet_kws={"sharey": True}, errorbar=("sd") if frame["seed"].nunique() > 1 else None, **kw)


def mark_training_range(grid: sns.FacetGrid, limits: dict, task_axis: str) -> None:
    """Dashed line after the last target position seen in training (task on the 'row' or 'col' facet)."""
    for key, ax in grid.axes_dict.items():
        task = key if not isinstance(key, tuple) else key[0] if task_axis == "row" else key[1]
        if limits.get(task):
            ax.axvline(limits[task] + 0.5, color="grey", ls="--", lw=1)
            ax.text(limits[task] + 0.6, 0.98, "beyond training", color="grey", fontsize=7, va="top",
                    transform=ax.get_xaxis_transform())


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


def decoding_palette(data: pd.DataFrame) -> dict:
    """One colour per decoding in order of appearance; the human reference in black."""
    order = list(data["decoding"].drop_duplicates())
    colours = sns.color_palette(n_colors=len(order))
    return {d: "black" if d == "reference" else c for d, c in zip(order, colours)}


