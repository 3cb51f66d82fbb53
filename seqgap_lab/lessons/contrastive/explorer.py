"""The contrastive-decoding explorer (notebook 07): a grid over the weight w, plausibility a and amateur
temperature tau, decoded once and cached, a live widget reading it, its static snapshot grid, and `examples`
(one prompt's continuations by every decoding, side by side).

The sliders offer exactly the cached values, so the widget cannot ask for a setting that was not decoded;
`show()` with a value outside the grid raises ConfigError naming it and the allowed values.
"""
from __future__ import annotations

import html
from typing import TYPE_CHECKING

import ipywidgets as W
import pandas as pd

from seqgap_lab.core.config import ConfigError, check_choice
from seqgap_lab.lessons.contrastive.figures import weight_curve
from seqgap_lab.lessons.contrastive.summary import KNOBS, SHOWN, check_setting, grid_values, setting_rows
from seqgap_lab.lessons.generation import ORDER, group_metrics
from seqgap_lab.views.explorer import css_hooks, show_figure, value_slider

if TYPE_CHECKING:  # the table type only: an explorer never trains or decodes
    from seqgap_lab.lessons.contrastive.study import ContrastiveTables


def examples(tables: ContrastiveTables, corpus: str, prompt_index: int = 0) -> pd.DataFrame:
    """One prompt's continuations at the corpus's longest budget, one row per decoding (top-p: its first seed)."""
    g = tables.generations[tables.generations["corpus"] == corpus]
    g = g[(g["prompt_index"] == prompt_index) & (g["max_len"] == g["max_len"].max())]
    g = g.sort_values("seed").drop_duplicates("decoding").set_index("decoding")
    order = [d for d in ORDER if d in g.index]
    return g.loc[order, ["completion", "tokens", "coherent_words", "rep_4"]
                 + (["parses"] if corpus == "code" else [])]


def _numbers(metrics: dict) -> str:
    return ", ".join(f"{k.replace('_', '-')} {metrics[k]:.3f}" for k in SHOWN
                     if k in metrics and metrics[k] == metrics[k])  # nan: not measured (no complete line)


def describe(grid: pd.DataFrame, corpus: str, prompt_index: int, setting: dict) -> str:
    """HTML: the prompt, its continuation at this setting, its numbers and the grid prompts' pooled numbers."""
    rows = setting_rows(grid, corpus, setting)
    row = rows[rows["prompt_index"] == prompt_index].iloc[0]
    mine = group_metrics(rows[rows["prompt_index"] == prompt_index])
    knobs = ", ".join(f"{short} = {setting[name]:g}" for name, short in KNOBS.items())
    return (f"<b>{html.escape(corpus)}</b>, {knobs}, {int(row['max_len'])}-token budget<br>"
            f"<pre style='white-space:pre-wrap'>{html.escape(row['prompt'])}<b style='color:#1f5fa8'>"
            f"{html.escape(row['completion'])}</b></pre>"
            f"this continuation: {_numbers(mine)}, {int(row['tokens'])} tokens<br>"
            f"all {len(rows)} grid prompts: {_numbers(group_metrics(rows))}")


def contrastive_explorer(grid: pd.DataFrame) -> W.VBox:
    """Sliders for w, a, tau (the cached values only), a corpus and a prompt: the continuation and its numbers."""
    values = grid_values(grid)
    corpus = W.Dropdown(options=list(grid["corpus"].drop_duplicates()), description="corpus")
    prompt = W.Dropdown(description="prompt")
    sliders = {k: value_slider(KNOBS[k], values[k], d) for k, d in zip(KNOBS, (1.0, 0.1, 1.0))}
    text, output = W.HTML(), W.Output()
    box = W.VBox([W.HBox([corpus, prompt]), W.HBox(list(sliders.values())), text, output])
    box.sliders, box.corpus, box.prompt, box.text, box.output = sliders, corpus, prompt, text, output
    css_hooks("contrastive", ((box, "explorer"), (corpus, "corpus"), (prompt, "prompt"), (text, "text"),
                              (output, "figure"), *((s, n) for n, s in sliders.items())))

    def prompts(_=None) -> None:
        g = grid[grid["corpus"] == corpus.value].drop_duplicates("prompt_index").sort_values("prompt_index")
        keep = prompt.value
        prompt.options = [(f"{i}: {s[:40]}", int(i)) for i, s in zip(g["prompt_index"], g["source"])]
        prompt.value = keep if keep in set(g["prompt_index"]) else int(g["prompt_index"].iloc[0])

    def redraw(_=None) -> None:
        if prompt.value is None:
            return
        setting = check_setting(grid, *(s.value for s in sliders.values()))
        text.value = describe(grid, corpus.value, prompt.value, setting)
        show_figure(output, weight_curve(grid, corpus.value, setting))
        box.setting = setting

    def show(weight, plausibility, amateur_temperature, corpus_name=None, prompt_index=None) -> dict:
        """Move the widget to a setting (ConfigError for a value outside the cached grid); returns it."""
        setting = check_setting(grid, weight, plausibility, amateur_temperature)
        if corpus_name is not None:
            check_choice("contrastive_explorer", "corpus", corpus_name, tuple(corpus.options))
            corpus.value = corpus_name
        if prompt_index is not None:
            indexes = [v for _, v in prompt.options]
            if prompt_index not in indexes or isinstance(prompt_index, bool):
                raise ConfigError(f"contrastive_explorer.prompt_index = {prompt_index!r} is not allowed: expected "
                                  f"one of {' | '.join(map(str, indexes))}")
            prompt.value = prompt_index
        for name, s in sliders.items():
            s.value = setting[name]
        redraw()
        return setting

    corpus.observe(lambda _: (prompts(), redraw()), names="value")  # the prompt index may stay the same
    for w in (prompt, *sliders.values()):
        w.observe(redraw, names="value")
    box.show = show
    prompts()
    redraw()
    return box


