"""Headline numbers and the generated takeaway of the contrastive-decoding study (notebook 07).

Also the explorer grid's knobs: their cached values, the check of a setting against them, and its rows.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from seqgap_lab.core.config import ConfigError
from seqgap_lab.core.stats import mcnemar, sentence
from seqgap_lab.lessons.contrastive.study import ContrastiveTables
from seqgap_lab.lessons.generation import (
    CONTRASTIVE,
    ORDER,
    PAIRED_PROMPTS_NOTE,
    SAMPLED,
    group_metrics,
    paired_comparison,
)


def _prompt_differences(generations: pd.DataFrame, corpus: str, max_len: int, a: str, b: str,
                        column: str) -> np.ndarray:
    """Per prompt, (a - b) in a per-generation column (each decoding's first seed), prompts both have."""
    g = generations[(generations["corpus"] == corpus) & (generations["max_len"] == max_len)]
    pick = lambda label: g[(g["decoding"] == label) & (g["seed"] == g[g["decoding"] == label]["seed"].min())]
    diff = (pick(a).set_index("prompt_index")[column].astype(float)
            - pick(b).set_index("prompt_index")[column].astype(float)).dropna()
    return diff.to_numpy()


def _parse_tests(generations: pd.DataFrame, corpus: str, max_len: int) -> dict:
    """McNemar of contrastive vs greedy parse success over the same prompts: all completions, and only prompts
    whose two completions both hold a full line (parses() can judge them); empty when not code."""
    g = generations[(generations["corpus"] == corpus) & (generations["max_len"] == max_len)]
    if g["parses"].isna().all():
        return {}
    pick = lambda label: g[(g["decoding"] == label) & (g["seed"] == g[g["decoding"] == label]["seed"].min())] \
        .set_index("prompt_index")  # noqa: E731
    both = pd.concat({"c": pick(CONTRASTIVE), "g": pick("greedy")}, axis=1, join="inner")
    checked = both[("c", "completion")].str.contains("\n", regex=False) & \
        both[("g", "completion")].str.contains("\n", regex=False)
    test = lambda rows: mcnemar(rows[("c", "parses")].astype(bool).to_numpy(),  # noqa: E731
                                rows[("g", "parses")].astype(bool).to_numpy()).as_dict()
    return {"parse_test": test(both), "parse_checked_test": test(both[checked])}


def headline(tables: ContrastiveTables, weight_effects: dict | None = None) -> dict:
    """Per corpus: every decoding at the longest budget (top-p: mean and sd over seeds), curves vs budget,
    contrastive li2022 vs greedy paired over prompts, and the effect of w per corpus if given
    (weight_effect below, on the explorer grid)."""
    m, out = tables.metrics, {}
    for corpus in m["corpus"].drop_duplicates():
        mc = m[m["corpus"] == corpus]
        longest = int(mc["max_len"].max())
        at = mc[mc["max_len"] == longest].groupby(["decoding", "metric"])["value"]
        stats = at.mean().unstack("metric")
        spread = at.std(ddof=1).unstack("metric")
        decodings = {}
        for label in [d for d in ORDER if d in stats.index]:
            row = stats.loc[label].dropna().to_dict()
            if label == SAMPLED:
                row.update({f"{k}_sd": v for k, v in spread.loc[label].dropna().items()})
            decodings[label] = row
        by_length = {}
        for k in ("rep_4", "parse_rate", "parse_rate_checked", "unchecked_share", "coherent_words"):
            part = mc[mc["metric"] == k]
            curves = part.groupby(["decoding", "max_len"])["value"].mean()
            by_length[k] = {d: {str(L): v for L, v in curves[d].items()} for d in ORDER if d in curves.index}
        per_prompt = _prompt_differences(tables.generations, corpus, longest, CONTRASTIVE, "greedy", "rep_4")
        row = {"longest": longest, "num_prompts": tables.info.get("corpora", {}).get(corpus, {}).get("num_prompts"),
               "decodings": decodings, "by_length": by_length,
               "contrastive_vs_greedy_rep_4": paired_comparison(per_prompt, better="lower")}
        row.update(_parse_tests(tables.generations, corpus, longest))
        if weight_effects and corpus in weight_effects:
            row["weight_effect"] = weight_effects[corpus]
        out[corpus] = row
    return out


def _listing(d: dict, key: str) -> str:
    """'label value[ ± sd]; ...' over the decodings of a headline row."""
    out = []
    for label, r in ((label, r) for label, r in d.items() if key in r):
        sd = r.get(f"{key}_sd")
        out.append(f"{label} {r[key]:.3f}" + (f" ± {sd:.3f}" if sd is not None and sd == sd else ""))
    return "; ".join(out)


def _corpus_lines(corpus: str, h: dict) -> list[str]:
    """The takeaway bullets of one corpus, every number read from its headline row."""
    d, L = h["decodings"], h["longest"]
    lines = [f"- **{corpus}**, {L}-token budget, rep-4: {_listing(d, 'rep_4')}. Diversity: "
             f"{_listing(d, 'diversity')}. Coherent words: {_listing(d, 'coherent_words')}."]
    c, g = d.get(CONTRASTIVE), d.get("greedy")
    if c and g:
        said = sentence(h.get("contrastive_vs_greedy_rep_4"))
        lines.append(f"- {corpus}: {CONTRASTIVE} (w = 1, a = 0.1, tau = 1) against greedy, rep-4 per "
                     f"prompt: {said}; expert NLL {c['expert_nll']:.2f} vs {g['expert_nll']:.2f} nats/token.")
    plain = d.get("contrastive plain")
    if plain and c:
        lines.append(f"- {corpus}: the plain form (no plausibility mask) has rep-4 {plain['rep_4']:.3f}, distinct-1 "
                     f"{plain['distinct_1']:.3f} and expert NLL {plain['expert_nll']:.2f} nats/token "
                     f"(li2022: {c['rep_4']:.3f}, {c['distinct_1']:.3f}, {c['expert_nll']:.2f}).")
    empty = {label: r["empty_share"] for label, r in d.items() if r.get("empty_share", 0) >= 0.05}
    if empty:
        lines.append(f"- {corpus}: empty continuations (<eos> first): "
                     + "; ".join(f"{k} {v:.0%}" for k, v in empty.items()) + ".")
    return lines + _parse_lines(corpus, h) + _weight_lines(corpus, h)


def _parse_lines(corpus: str, h: dict) -> list[str]:
    curves = h["by_length"].get("parse_rate") or {}
    if not curves:
        return []
    series = lambda c: "/".join(f"{v:.2f}" for v in c.values())
    listing = lambda k: "; ".join(f"{label} {series(c)}" for label, c in h["by_length"].get(k, {}).items())
    out = [f"- {corpus}: parse rate at {'/'.join(next(iter(curves.values())))} tokens: {listing('parse_rate')}. "
           "The check drops the cut last line, so a completion without a newline (empty included) is judged by the "
           f"prompt alone; share of those: {listing('unchecked_share')}; parse rate over the completions with at "
           f"least one complete line: {listing('parse_rate_checked')}."]
    d, n = h["decodings"], h.get("num_prompts") or 0
    if CONTRASTIVE in d and "greedy" in d:
        c, g = d[CONTRASTIVE], d["greedy"]
        out.append(f"- {corpus}: at {h['longest']} tokens contrastive vs greedy parse rate {c['parse_rate']:.3f} vs "
                   f"{g['parse_rate']:.3f}: contrastive {sentence(h.get('parse_test'))} ({n} prompts, McNemar on "
                   f"the same prompts); over checked completions {c['parse_rate_checked']:.3f} vs "
                   f"{g['parse_rate_checked']:.3f}: on the prompts where both are checked, contrastive "
                   f"{sentence(h.get('parse_checked_test'))}.")
    return out


def _weight_lines(corpus: str, h: dict) -> list[str]:
    w = h.get("weight_effect")
    if not w or not w["weights"]:
        return []
    series = lambda k: " -> ".join(f"{v:.3f}" for v in w[k])
    text = (f"- {corpus}, explorer grid ({w['num_prompts']} prompts, a = {w['plausibility']:g}, tau = "
            f"{w['amateur_temperature']:g}), w = {' -> '.join(f'{x:g}' for x in w['weights'])}: rep-4 "
            f"{series('rep_4')}, diversity {series('diversity')}, expert NLL {series('expert_nll')}")
    if "parse_rate" in w:
        text += f", parse rate {series('parse_rate')}"
    if "parse_rate_checked" in w:
        text += f" (over checked completions {series('parse_rate_checked')})"
    return [text + "."]


def takeaway(head: dict, info: dict, profile: str) -> str:
    """The notebook's takeaway as Markdown, every number read from `head` (see headline())."""
    seeds, lengths = info.get("seeds", []), info.get("lengths", {})
    budgets = ", ".join(f"{c} {v}" for c, v in lengths.items())
    lines = [f"Profile `{profile}`; generation budgets (LM tokens) {budgets}; top-p sample seeds {seeds} "
             "(top-p numbers are the mean ± sd over those seeds; the other decodings are deterministic). "
             "rep-4 = share of a continuation's word 4-grams that repeat one of its own; coherent words = the "
             "longest prefix with no repeated word 4-gram (a proxy for where the first loop starts); the "
             "`reference` row is the human continuation cut at the same budget. "
             f"{PAIRED_PROMPTS_NOTE}"]
    for corpus, h in head.items():
        lines += _corpus_lines(corpus, h)
    return "\n".join(lines)


KNOBS = {"weight": "w", "plausibility": "a", "amateur_temperature": "tau"}


SHOWN = ("rep_2", "rep_4", "diversity", "coherent_words", "expert_nll", "parse_rate", "parse_rate_checked")


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
