"""The contrastive-decoding explorer (notebook 07): a grid over the weight w, plausibility a and amateur
temperature tau, decoded once and cached, a live widget reading it, its static snapshot grid, and `examples`
(one prompt's continuations by every decoding, side by side).

The sliders offer exactly the cached values, so the widget cannot ask for a setting that was not decoded;
`show()` with a value outside the grid raises ConfigError naming it and the allowed values.
"""
from __future__ import annotations

import dataclasses
import html

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from seqgap_lab.config import ConfigError, DecodeConfig, check_choice, check_profile
from seqgap_lab.contrastive_study import (CONTRASTIVE, ORDER, PROFILES, ContrastiveTables, LMPair, cached_rows,
                                          generation_rows, group_metrics, pair_key)
from seqgap_lab.decoding import decode_sequences

KNOBS = {"weight": "w", "plausibility": "a", "amateur_temperature": "tau"}
SHOWN = ("rep_2", "rep_4", "diversity", "coherent_words", "expert_nll", "parse_rate", "parse_rate_checked")


def grid_runs(pair: LMPair, max_len: int, weights, plausibilities, temperatures, num_prompts: int) -> list[dict]:
    """li2022 contrastive greedy on the first num_prompts prompts for every (w, a, tau) of the grid."""
    sub = dataclasses.replace(pair, prompts=pair.prompts[:num_prompts], prompt_ids=pair.prompt_ids[:num_prompts])
    rows = []
    for w in weights:
        for a in plausibilities:
            for tau in temperatures:
                config = DecodeConfig(method="contrastive", max_len=max_len, contrastive_weight=w, plausibility=a,
                                      amateur_temperature=tau)
                outs = decode_sequences(sub.expert.model, sub.prompt_ids, config, amateur=sub.amateur.model)
                tag = {"decoding": CONTRASTIVE, "seed": 0, "weight": w, "plausibility": a, "amateur_temperature": tau}
                rows += [dict(r, prompt=p.prompt, source=p.source)
                         for r, p in zip(generation_rows(sub, outs, tag, max_len), sub.prompts)]
    return rows


def explorer_grid(pairs: dict, profile: str) -> pd.DataFrame:
    """The (w, a, tau) grid of every corpus at the profile's longest budget, decoded or read from the cache."""
    spec = PROFILES[check_profile(profile)]
    knobs, frames = ("weights", "plausibilities", "temperatures", "grid_prompts"), []
    for corpus, pair in pairs.items():
        max_len = max(spec["lengths"][corpus])
        key = dict(pair_key(pair), max_len=max_len, **{k: spec[k] for k in knobs})
        rows, _ = cached_rows(f"07-{corpus}-grid", key, lambda: grid_runs(
            pair, max_len, spec["weights"], spec["plausibilities"], spec["temperatures"], spec["grid_prompts"]))
        frames.append(pd.DataFrame(rows).assign(corpus=corpus))
    return pd.concat(frames, ignore_index=True)


def grid_values(grid: pd.DataFrame) -> dict[str, tuple[float, ...]]:
    """The cached values of each knob, sorted."""
    return {k: tuple(sorted(float(v) for v in grid[k].unique())) for k in KNOBS}


def check_setting(grid: pd.DataFrame, weight, plausibility, amateur_temperature) -> dict:
    """The setting as floats, or ConfigError naming the first value that is not in the cached grid."""
    allowed, out = grid_values(grid), {}
    for name, value in zip(KNOBS, (weight, plausibility, amateur_temperature)):
        ok = (not isinstance(value, bool) and isinstance(value, (int, float, np.floating))
              and any(np.isclose(float(value), v) for v in allowed[name]))
        if not ok:
            raise ConfigError(f"contrastive_explorer.{name} = {value!r} is not allowed: expected one of "
                              f"{' | '.join(f'{v:g}' for v in allowed[name])} (the cached grid)")
        out[name] = next(v for v in allowed[name] if np.isclose(float(value), v))
    return out


def setting_rows(grid: pd.DataFrame, corpus: str, setting: dict) -> pd.DataFrame:
    """Rows of one corpus at one (w, a, tau), in prompt order."""
    g = grid[grid["corpus"] == corpus]
    for name, value in setting.items():
        g = g[np.isclose(g[name], value)]
    return g.sort_values("prompt_index")


def weight_effect(grid: pd.DataFrame, corpus: str, plausibility: float = 0.1, temperature: float = 1.0) -> dict:
    """Pooled grid metrics against w at one (a, tau): lists aligned with "weights" (for summary.json)."""
    g = grid[(grid["corpus"] == corpus) & np.isclose(grid["plausibility"], plausibility)
             & np.isclose(grid["amateur_temperature"], temperature)]
    out: dict = {"plausibility": plausibility, "amateur_temperature": temperature,
                 "num_prompts": int(g["prompt_index"].nunique()), "weights": []}
    for w, rows in g.groupby("weight"):
        out["weights"].append(float(w))
        for k, v in group_metrics(rows.sort_values("prompt_index")).items():
            if k in SHOWN + ("mean_length", "unchecked_share"):
                out.setdefault(k, []).append(v)
    return out


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


def _slider(name: str, values: tuple[float, ...], default: float) -> W.SelectionSlider:
    value = min(values, key=lambda v: abs(v - default))
    return W.SelectionSlider(options=[(f"{v:g}", v) for v in values], value=value, description=KNOBS[name],
                             continuous_update=False)


def contrastive_explorer(grid: pd.DataFrame) -> W.VBox:
    """Sliders for w, a, tau (the cached values only), a corpus and a prompt: the continuation and its numbers."""
    values = grid_values(grid)
    corpus = W.Dropdown(options=list(grid["corpus"].drop_duplicates()), description="corpus")
    prompt = W.Dropdown(description="prompt")
    sliders = {k: _slider(k, values[k], d) for k, d in zip(KNOBS, (1.0, 0.1, 1.0))}
    text, output = W.HTML(), W.Output()
    box = W.VBox([W.HBox([corpus, prompt]), W.HBox(list(sliders.values())), text, output])
    box.sliders, box.corpus, box.prompt, box.text, box.output = sliders, corpus, prompt, text, output
    # CSS classes so a browser test (tests/browser) can find the parts.
    for part, name in ((box, "explorer"), (corpus, "corpus"), (prompt, "prompt"), (text, "text"),
                       (output, "figure"), *((s, n.replace("_", "-")) for n, s in sliders.items())):
        part.add_class(f"seqgap-contrastive-{name}")

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
        fig = weight_curve(grid, corpus.value, setting)
        # Set the outputs directly: capturing with `with output:` / clear_output(wait=True) once hung headless runs.
        output.outputs = ()
        output.append_display_data(fig)
        plt.close(fig)
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


def weight_curve(grid: pd.DataFrame, corpus: str, setting: dict) -> plt.Figure:
    """Pooled rep-4, diversity (and checked parse rate) against w at the setting's (a, tau), the current w marked."""
    fixed = {k: v for k, v in setting.items() if k != "weight"}
    effect = weight_effect(grid, corpus, fixed["plausibility"], fixed["amateur_temperature"])
    keys = [k for k in ("rep_4", "diversity", "parse_rate_checked") if k in effect]
    fig, ax = plt.subplots(figsize=(5, 2.6))
    for k in keys:
        ax.plot(effect["weights"], effect[k], marker="o", ms=3, label=k.replace("_", "-"))
    ax.axvline(setting["weight"], color="grey", ls="--", lw=1)
    ax.set(xlabel="contrastive weight w", ylim=(-0.02, 1.02),
           title=f"{corpus}: a = {fixed['plausibility']:g}, tau = {fixed['amateur_temperature']:g}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def static_grid(grid: pd.DataFrame) -> plt.Figure:
    """Every cached setting at once for reports: pooled metrics against w, one line per (a, tau), rows corpora."""
    corpora = list(grid["corpus"].drop_duplicates())
    metrics = [k for k in ("rep_4", "diversity", "coherent_words", "expert_nll", "parse_rate_checked")
               if k != "parse_rate_checked" or grid["parses"].notna().any()]
    fig, axes = plt.subplots(len(corpora), len(metrics), figsize=(3.2 * len(metrics), 2.8 * len(corpora)),
                             squeeze=False)
    values = grid_values(grid)
    cmap = plt.get_cmap("viridis", max(2, len(values["plausibility"])))
    others = iter(("--", ":", "-.", (0, (1, 4))))
    styles = {tau: "-" if tau == 1.0 else next(others, "--") for tau in values["amateur_temperature"]}
    for r, corpus in enumerate(corpora):
        for i, a in enumerate(values["plausibility"]):
            for tau in values["amateur_temperature"]:
                effect = weight_effect(grid, corpus, a, tau)
                for c, k in enumerate(metrics):
                    if k in effect:
                        axes[r][c].plot(effect["weights"], effect[k], marker="o", ms=2, color=cmap(i),
                                        ls=styles.get(tau, "-"), label=f"a={a:g}, tau={tau:g}")
        for c, k in enumerate(metrics):
            axes[r][c].set(title=f"{corpus}: {k.replace('_', '-')}", xlabel="contrastive weight w")
            axes[r][c].set_visible(bool(axes[r][c].lines))
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="center right", fontsize=7)
    fig.suptitle("Explorer grid: li2022 contrastive greedy, pooled over the grid prompts (w = 0 is greedy)")
    fig.tight_layout(rect=(0, 0, 0.88, 1))
    return fig
