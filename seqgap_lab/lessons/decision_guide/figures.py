"""The decision guide as a figure (notebook 09): situation, approach and verdict in a coloured table."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

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
