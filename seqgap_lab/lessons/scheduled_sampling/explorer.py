"""Live explorers over precomputed tables (no training in callbacks) and their static snapshot grids.

A headless papermill run keeps no live widget in the HTML report, so every explorer has a static figure
drawing all its settings (see docs/design.md).
"""
from __future__ import annotations

import ipywidgets as W
import matplotlib.pyplot as plt

from seqgap_lab.lessons.common import EXAMPLES, LengthTables, cell_numbers
from seqgap_lab.views.explorer import css_hooks, show_figure, value_slider

_COLORS = {"teacher-forced": "tab:blue", "free-running": "tab:red"}


def _cell_label(tables: LengthTables, schedule: str, p_use_gt: float) -> str:
    """The label of the grid cell with this schedule (and this p_use_gt for the constant schedule)."""
    cells = tables.by_length.drop_duplicates("label")
    rows = cells[cells["schedule"] == schedule]
    if schedule == "constant":
        rows = rows[(rows["p_use_gt"] - p_use_gt).abs() < 1e-9]
    if not len(rows):
        raise KeyError(f"no trained cell for schedule={schedule!r}, p_use_gt={p_use_gt!r}")
    return str(rows["label"].iloc[0])


def draw_cell(tables: LengthTables, label: str) -> plt.Figure:
    """One cell: per-position error (both modes, both example groups) and exact match by source length, per model."""
    models = list(tables.by_length["model"].drop_duplicates())
    fig, axes = plt.subplots(len(models), 2, figsize=(9, 2.8 * len(models)), squeeze=False)
    for (ax_err, ax_acc), model in zip(axes, models):
        pp = tables.per_position[(tables.per_position["model"] == model) & (tables.per_position["label"] == label)]
        for (mode, group), part in pp.groupby(["mode", "examples"]):
            ax_err.plot(part["position"], part["error_rate"], marker="o", ms=3, color=_COLORS.get(mode),
                        ls="-" if group == EXAMPLES[0] else ":", label=f"{mode}, {group}")
        ax_err.axvline(tables.train_positions + 0.5, color="grey", ls="--", lw=1)
        ax_err.set(ylim=(-0.02, 1.02), xlabel="target position", ylabel="token error rate", title=model)
        bl = tables.by_length[(tables.by_length["model"] == model) & (tables.by_length["label"] == label)]
        ax_acc.plot(bl["src_length"], bl["exact_match"], marker="o", ms=3, color="tab:green")
        ax_acc.axvline(tables.train_positions - 0.5, color="grey", ls="--", lw=1)
        ax_acc.set(ylim=(-0.02, 1.02), xlabel="source length", ylabel="exact match (free-running)", title=model)
    axes[0][0].legend(fontsize=6)
    fig.suptitle(f"{label}: error by position and accuracy by length")
    fig.tight_layout()
    return fig


def _numbers_html(tables: LengthTables, label: str) -> str:
    rows = []
    for model in tables.by_length["model"].drop_duplicates():
        n = cell_numbers(tables, model, label, min_count=1)
        rows.append(f"<b>{model}</b>: exact match {n['exact_match']:.3f} (within {n['exact_match_within']:.3f}, "
                    f"beyond {n['exact_match_beyond']:.3f})")
    return f"<b>{label}</b><br>" + "<br>".join(rows)


def ss_explorer(tables: LengthTables) -> W.VBox:
    """p_use_gt slider (trained grid values only) and schedule dropdown redrawing a cell's curves instantly."""
    cells = tables.by_length.drop_duplicates("label")
    grid = sorted(cells.loc[cells["schedule"] == "constant", "p_use_gt"].unique(), reverse=True)
    slider = value_slider("p_use_gt", [float(p) for p in grid])
    dropdown = W.Dropdown(options=list(cells["schedule"].drop_duplicates()), value="constant", description="schedule")
    numbers, output = W.HTML(), W.Output()
    box = W.VBox([W.HBox([dropdown, slider]), numbers, output])
    box.slider, box.dropdown, box.numbers, box.output = slider, dropdown, numbers, output
    css_hooks("ss", ((box, "explorer"), (slider, "p_use_gt"), (dropdown, "schedule"), (numbers, "numbers"),
                     (output, "figure")))

    def redraw(_=None) -> None:
        slider.disabled = dropdown.value != "constant"  # a decaying schedule is one trained cell
        label = _cell_label(tables, dropdown.value, slider.value)
        numbers.value = _numbers_html(tables, label)
        fig = draw_cell(tables, label)
        box.label, box.figure_title = label, fig.get_suptitle()
        show_figure(output, fig)

    slider.observe(redraw, names="value")
    dropdown.observe(redraw, names="value")
    redraw()
    return box


