"""The explorer kit every live widget of the lessons is built from: a slider over cached values, the figure
redraw that works in headless runs, and the CSS hooks the browser tests find the parts by.

Explorers never train or decode: a slider offers exactly the values a study computed and cached, so moving it
only reads a table and redraws (instant, and the same numbers as the report's static snapshot).
"""
from __future__ import annotations

from typing import Iterable

import ipywidgets as W
import matplotlib.pyplot as plt


def slider_options(values) -> list[tuple[str, object]]:
    """(label, value) stops of a selection slider: each value as is, labelled '%g'."""
    return [(f"{v:g}", v) for v in values]


def value_slider(description: str, values, value=None) -> W.SelectionSlider:
    """A slider whose only stops are `values` (the cached ones, types kept); starts at the stop nearest `value`
    (the first stop when None). continuous_update is off: one redraw per release, not one per pixel dragged."""
    values = list(values)
    if not values:
        raise ValueError(f"value_slider {description!r}: no cached values to offer")
    start = values[0] if value is None else min(values, key=lambda v: abs(v - value))
    return W.SelectionSlider(options=slider_options(values), value=start, description=description,
                             continuous_update=False)


def show_figure(output: W.Output, fig: plt.Figure) -> None:
    """Replace what `output` shows with `fig`, then close fig (pyplot keeps every open figure otherwise).

    Why not `with output: display(fig)`: capturing with `with output:` / clear_output(wait=True) hung headless
    nbclient runs at random (seen here); a stored mimebundle is the same to the front end."""
    output.outputs = ()
    output.append_display_data(fig)
    plt.close(fig)


def css_hooks(prefix: str, parts: Iterable[tuple[W.DOMWidget, str]]) -> None:
    """Give each widget the CSS class `seqgap-<prefix>-<name>` (underscores as dashes), which the browser tests
    (tests/browser) look the parts up by."""
    for widget, name in parts:
        widget.add_class(f"seqgap-{prefix}-{name.replace('_', '-')}")
