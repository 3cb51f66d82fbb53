"""Plots of the beam-search study (notebook 06) and the static snapshot grid for reports.

Metrics against beam size, alpha or beta, one setting's curve over the beam sizes (the explorer's), and every decoded
cell at once.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from seqgap_lab.core.config import DecodeSetting, beam_setting
from seqgap_lab.lessons.beam.summary import grid_values

if TYPE_CHECKING:  # the table type only: an explorer never trains or decodes
    from seqgap_lab.lessons.beam.study import BeamTables


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


def setting_curve(tables: BeamTables, s: DecodeSetting):
    """The rows of s's (penalty, alpha, beta) over every beam size, by beam size."""
    g = tables.grid
    rows = g[(g["penalty"] == s.penalty) & np.isclose(g["alpha"], s.alpha) & np.isclose(g["beta"], s.beta)]
    return rows.sort_values("beam_size")


def static_grid(tables: BeamTables) -> plt.Figure:
    """Every decoded cell for reports: BLEU (left) and length ratio (right) against beam size; rows: GNMT
    alphas, HF-style alphas (beta 0), coverage weights at alpha 0 and at the best GNMT alpha of the widest beam."""
    g, values = tables.grid, grid_values(tables)
    gr = g[g["penalty"] == "greedy"].iloc[0]
    widest = g[(g["beam_size"] == values["beams"][-1]) & np.isclose(g["beta"], 0) & g["penalty"].isin(["none", "gnmt"])]
    best = float(widest.sort_values(["bleu", "alpha"], ascending=[False, True]).iloc[0]["alpha"])
    alphas = sorted({0.0, best})
    panels = [("GNMT length penalty, beta 0", [beam_setting(0, "gnmt", a) for a in values["alphas"]["gnmt"]]),
              ("HF-style length penalty, beta 0", [beam_setting(0, "hf", a) for a in values["alphas"]["hf"]]),
              ("coverage beta at GNMT alpha " + " and ".join(f"{a:g}" for a in alphas),
               [beam_setting(0, "gnmt", a, b) for a in alphas for b in values["betas"]["gnmt"]])]
    fig, axes = plt.subplots(len(panels), 2, figsize=(10, 3.0 * len(panels)), squeeze=False)
    for (title, cells), (ax_b, ax_r) in zip(panels, axes):
        colors = plt.get_cmap("tab10").colors
        for i, s in enumerate(cells):
            rows = setting_curve(tables, s)
            lab = "no penalty" if s.penalty == "none" else f"alpha {s.alpha:g}"
            lab += f", beta {s.beta:g}" if len(values["betas"]["gnmt"]) > 1 and title.startswith("coverage") else ""
            style = dict(marker="o", ms=3, color="black" if s == DecodeSetting(0, "none") else colors[i % 10], label=lab)
            ax_b.plot(rows["beam_size"], rows["bleu"], **style)
            ax_r.plot(rows["beam_size"], rows["length_ratio"], **style)
        for ax, metric in ((ax_b, "bleu"), (ax_r, "length_ratio")):
            ax.axhline(gr[metric], color="grey", ls="--", lw=1)
            ax.set(xlabel="beam size", ylabel=metric.replace("_", " "), title=title, xticks=values["beams"])
        ax_r.axhline(1.0, color="green", lw=0.8)
        ax_r.legend(fontsize=7)
    fig.suptitle("Every decoded cell (dashed: greedy; green: length ratio 1)")
    fig.tight_layout()
    return fig
