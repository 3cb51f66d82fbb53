"""The beam-search explorer (notebook 06): length-penalty kind, alpha, beta and beam size over the cached
grid, showing a few translations with their scores and the BLEU / length-ratio curves; and the static
snapshot grid drawn for reports (a headless run keeps no live widget)."""
from __future__ import annotations

import html
from typing import TYPE_CHECKING

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np

from seqgap_lab.core.config import ConfigError, DecodeSetting, beam_setting
from seqgap_lab.lessons.beam.figures import setting_curve
from seqgap_lab.lessons.beam.summary import KINDS, grid_values
from seqgap_lab.views.explorer import css_hooks, show_figure, slider_options, value_slider

if TYPE_CHECKING:  # the table type only: an explorer never trains or decodes
    from seqgap_lab.lessons.beam.study import BeamTables


def _allowed(name: str, value, choices: tuple) -> None:
    # 4.0 == 4: without the type check a float beam size would pass as the grid's integer one.
    if isinstance(value, bool) or value not in choices or (isinstance(value, float) and name == "beam_size"):
        raise ConfigError(f"beam_explorer.{name} = {value!r} is not allowed: expected one of "
                          f"{' | '.join(f'{c:g}' if isinstance(c, float) else str(c) for c in choices)} "
                          "(the decoded grid)")


def check_setting(tables: BeamTables, penalty: str, alpha: float, beta: float, beam_size: int) -> DecodeSetting:
    """The grid cell of these values; ConfigError naming any value the decoded grid does not hold."""
    values = grid_values(tables)
    _allowed("penalty", penalty, KINDS)
    _allowed("beam_size", beam_size, values["beams"])
    _allowed("alpha", alpha, values["alphas"][penalty])
    _allowed("beta", beta, values["betas"][penalty])
    return beam_setting(beam_size, penalty, alpha, beta)


def example_indices(tables: BeamTables, k: int = 4) -> list[int]:
    """The rule: the k sentences whose output loses the most tokens from greedy to the widest beam without a
    penalty (ties: corpus order), the ones where the short-hypothesis bias shows."""
    widest = setting_curve(tables, DecodeSetting(0, "none")).iloc[-1]["label"]
    drop = tables.outputs["greedy"]["tokens"] - tables.outputs[widest]["tokens"]
    return [int(i) for i in np.argsort(-drop.to_numpy(), kind="stable")[:k]]


def examples_html(tables: BeamTables, s: DecodeSetting, idx: list[int]) -> str:
    """A small HTML table of the chosen sentences under setting s (and greedy), with lengths and scores."""
    out, greedy = tables.outputs[s.label], tables.outputs["greedy"]
    rows = []
    for i in idx:
        rows.append(f"<tr><td>{html.escape(tables.sources[i])}</td><td>{html.escape(tables.refs[i])}</td>"
                    f"<td>{html.escape(greedy.at[i, 'hypothesis'])} <i>({greedy.at[i, 'tokens']} tok)</i></td>"
                    f"<td>{html.escape(out.at[i, 'hypothesis'])}</td><td>{out.at[i, 'tokens']}</td>"
                    f"<td>{out.at[i, 'raw']:.2f}</td><td>{out.at[i, 'score']:.3f}</td></tr>")
    head = ("<tr><th>source</th><th>reference</th><th>greedy</th><th>this setting</th><th>tokens</th>"
            "<th>log P</th><th>score</th></tr>")
    return f"<table style='font-size:11px'>{head}{''.join(rows)}</table>"


def numbers_html(tables: BeamTables, s: DecodeSetting) -> str:
    """One line of the current cell's corpus numbers against greedy."""
    row = tables.grid.set_index("label").loc[s.label]
    gr = tables.grid.set_index("label").loc["greedy"]
    return (f"<b>{s.label}</b>: BLEU {row['bleu']:.2f} (greedy {gr['bleu']:.2f}), chrF {row['chrf']:.1f}, "
            f"length ratio {row['length_ratio']:.3f} (greedy {gr['length_ratio']:.3f}), very short outputs "
            f"{row['short']:.0f}, empty {row['empty']:.0f}")


def draw_setting(tables: BeamTables, s: DecodeSetting) -> plt.Figure:
    """BLEU and length ratio against beam size (this penalty vs none, greedy dashed) and BLEU against alpha
    at this beam size, with the current cell highlighted."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    g, gr = tables.grid, tables.grid[tables.grid["penalty"] == "greedy"].iloc[0]
    here, plain = setting_curve(tables, s), setting_curve(tables, DecodeSetting(0, "none"))
    for ax, metric in zip(axes[:2], ("bleu", "length_ratio")):
        ax.plot(plain["beam_size"], plain[metric], marker="o", color="grey", label="no penalty, beta 0")
        ax.plot(here["beam_size"], here[metric], marker="o", color="tab:blue", label=s.label.split(", ", 1)[-1])
        ax.axhline(gr[metric], color="black", ls="--", lw=1, label="greedy")
        ax.plot([s.beam_size], [here.loc[here["beam_size"] == s.beam_size, metric].iloc[0]], "o", ms=12,
                mfc="none", mec="red", mew=2)
        ax.set(xlabel="beam size", ylabel=metric.replace("_", " "), xticks=sorted(plain["beam_size"]))
    axes[1].axhline(1.0, color="green", lw=0.8)
    axes[0].legend(fontsize=7)
    kind = s.penalty if s.penalty != "none" else "gnmt"
    rows = g[(g["beam_size"] == s.beam_size) & np.isclose(g["beta"], s.beta) & g["penalty"].isin(["none", kind])]
    rows = rows.sort_values("alpha")
    axes[2].plot(rows["alpha"], rows["bleu"], marker="o", color="tab:blue")
    axes[2].plot([s.alpha], [rows.loc[np.isclose(rows["alpha"], s.alpha), "bleu"].iloc[0]], "o", ms=12, mfc="none",
                 mec="red", mew=2)
    axes[2].set(xlabel=f"alpha ({kind})", ylabel="bleu", title=f"beam {s.beam_size}, beta {s.beta:g}")
    fig.suptitle(f"{s.label}: BLEU {here.loc[here['beam_size'] == s.beam_size, 'bleu'].iloc[0]:.2f}")
    fig.tight_layout()
    return fig


class _Explorer:
    """The explorer's controls and callbacks; beam_explorer returns its VBox."""

    def __init__(self, tables: BeamTables, start: tuple, num_examples: int):
        self.tables, self.values = tables, grid_values(tables)
        penalty, alpha, beta, beam_size = start
        self.dropdown = W.Dropdown(options=list(KINDS), value=penalty, description="penalty")
        self.sliders = {name: value_slider(name, opts, val)
                        for name, opts, val in (("alpha", self.values["alphas"][penalty], alpha),
                                                ("beta", self.values["betas"][penalty], beta),
                                                ("beam_size", self.values["beams"], beam_size))}
        self.numbers, self.examples, self.output = W.HTML(), W.HTML(), W.Output()
        self.box = W.VBox([W.HBox([self.dropdown, *self.sliders.values()]), self.numbers, self.output, self.examples])
        css_hooks("beam", ((self.box, "explorer"), (self.dropdown, "penalty"), (self.numbers, "numbers"),
                           (self.examples, "examples"), (self.output, "figure"),
                           *((s, n) for n, s in self.sliders.items())))
        self.idx = example_indices(tables, num_examples)
        self.busy = False  # True while select() rewires the sliders, so observers skip half-set values
        self.dropdown.observe(self.on_kind, names="value")
        for slider in self.sliders.values():
            slider.observe(self.redraw, names="value")

    def current(self) -> tuple:
        """(penalty, alpha, beta, beam_size) as the controls show them."""
        return (self.dropdown.value, *(self.sliders[n].value for n in ("alpha", "beta", "beam_size")))

    def redraw(self, _=None) -> None:
        """Numbers, curves and translations of the current cell."""
        if self.busy:
            return
        s = check_setting(self.tables, *self.current())
        self.sliders["beta"].disabled = s.penalty == "hf"  # the coverage penalty was decoded with GNMT only
        self.numbers.value = numbers_html(self.tables, s)
        self.examples.value = examples_html(self.tables, s, self.idx)
        fig = draw_setting(self.tables, s)
        self.box.setting, self.box.figure_title = s, fig.get_suptitle()
        show_figure(self.output, fig)

    def select(self, penalty: str | None = None, alpha: float | None = None, beta: float | None = None,
               beam_size: int | None = None) -> DecodeSetting:
        """Set the controls (None keeps a value) after checking the values against the grid."""
        new = tuple(old if v is None else v for old, v in zip(self.current(), (penalty, alpha, beta, beam_size)))
        check_setting(self.tables, *new)
        self.busy = True
        try:
            self.dropdown.value = new[0]
            self.sliders["alpha"].options = slider_options(self.values["alphas"][new[0]])
            self.sliders["beta"].options = slider_options(self.values["betas"][new[0]])
            for name, v in zip(("alpha", "beta", "beam_size"), new[1:]):
                self.sliders[name].value = v
        finally:
            self.busy = False
        self.redraw()
        return self.box.setting

    def on_kind(self, change) -> None:
        """A new penalty kind: keep alpha if that kind has it (else 0); beta only with GNMT."""
        if self.busy:
            return
        kind, alpha, beta = change["new"], self.sliders["alpha"].value, self.sliders["beta"].value
        self.select(kind, alpha if alpha in self.values["alphas"][kind] else 0.0, beta if kind == "gnmt" else 0.0)


def beam_explorer(tables: BeamTables, penalty: str = "gnmt", alpha: float = 0.0, beta: float = 0.0,
                  beam_size: int | None = None, num_examples: int = 4) -> W.VBox:
    """Penalty dropdown and alpha / beta / beam-size sliders (decoded values only) redrawing instantly from
    the cached grid; box.select(penalty=, alpha=, beta=, beam_size=) sets them programmatically (checked)."""
    beam_size = grid_values(tables)["beams"][-1] if beam_size is None else beam_size
    check_setting(tables, penalty, alpha, beta, beam_size)
    ex = _Explorer(tables, (penalty, alpha, beta, beam_size), num_examples)
    box = ex.box
    box.dropdown, box.sliders, box.numbers, box.examples, box.output, box.select = (
        ex.dropdown, ex.sliders, ex.numbers, ex.examples, ex.output, ex.select)
    ex.redraw()
    return box


