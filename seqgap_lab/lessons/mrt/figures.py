"""Plots of the minimum-risk-training study (notebook 04): metrics against the fine-tuning step."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd


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
