"""Figures of notebook 05's part 2 (distillation in its regime): what each model's outputs are."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from seqgap_lab.lessons.common import EXAMPLES

OUTCOMES = (("valid", "tab:green"), ("mixed", "tab:orange"), ("wrong", "tab:red"))


def regime_outcomes(per_example: pd.DataFrame) -> plt.Figure:
    """Dialects task: the share of valid, mixed and wrong outputs within the training lengths, a stacked bar per
    model (teacher and students), one panel per decoding, all seeds."""
    within = per_example[per_example["examples"] == EXAMPLES[0]]
    shares = (within.groupby(["decoding", "label"], sort=False)["outcome"].value_counts(normalize=True)
              .unstack("outcome").reindex(columns=[o for o, _ in OUTCOMES]).fillna(0.0))
    decodings = list(within["decoding"].drop_duplicates())
    fig, axes = plt.subplots(1, len(decodings), figsize=(5 * len(decodings), 3.2), squeeze=False, sharey=True)
    for ax, decoding in zip(axes[0], decodings):
        part = shares.loc[decoding]
        left = pd.Series(0.0, index=part.index)
        for outcome, color in OUTCOMES:
            ax.barh(part.index, part[outcome], left=left, color=color, label=outcome)
            left += part[outcome]
        ax.set_xlim(0, 1)
        ax.set_title(decoding)
        ax.set_xlabel("share of test outputs (within the training lengths)")
        ax.invert_yaxis()
    axes[0][-1].legend(loc="lower right", fontsize=8)
    fig.suptitle("Dialects task: valid, mixed (both dialects in one output) or wrong", y=1.02)
    fig.tight_layout()
    return fig
