"""views/explorer.py: the slider over cached values, the headless-safe redraw and the CSS hooks."""
from __future__ import annotations

import ipywidgets as W
import matplotlib
import matplotlib.pyplot as plt
import pytest

from seqgap_lab.views.explorer import css_hooks, show_figure, slider_options, value_slider

matplotlib.use("Agg")


def test_slider_offers_exactly_the_cached_values():
    slider = value_slider("beam_size", (1, 3, 5), 4)
    assert [v for _, v in slider.options] == [1, 3, 5] and all(isinstance(v, int) for _, v in slider.options)
    assert slider.value in (3, 5) and abs(slider.value - 4) == 1 and not slider.continuous_update
    assert value_slider("alpha", [0.0, 0.6, 1.5]).value == 0.0  # no start given: the first stop
    assert slider_options([0.25, 2.0]) == [("0.25", 0.25), ("2", 2.0)]
    with pytest.raises(ValueError, match="no cached values"):
        value_slider("w", [])


def test_show_figure_replaces_the_output_and_closes_the_figure():
    out = W.Output()
    for title in ("first", "second"):
        fig, ax = plt.subplots()
        fig.suptitle(title)
        show_figure(out, fig)
        assert not plt.fignum_exists(fig.number)
    # one output, the last figure (outside a kernel with the inline backend its bundle is the text form only)
    assert len(out.outputs) == 1 and out.outputs[0]["data"]["text/plain"].startswith("<Figure")


def test_css_hooks_name_every_part():
    box, slider = W.VBox(), W.IntSlider()
    css_hooks("beam", ((box, "explorer"), (slider, "beam_size")))
    assert box._dom_classes == ("seqgap-beam-explorer",) and slider._dom_classes == ("seqgap-beam-beam-size",)
