"""Headline numbers and the generated takeaway of the beam-search study (notebook 06), read from the
decoded grids of lessons/beam/study.py (one row per cell: label, beam_size, penalty, alpha, beta and the metrics)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from seqgap_lab.lessons.beam.study import SHORT, BeamTables
from seqgap_lab.core.stats import sentence
from seqgap_lab.metrics import text as tm


def _row(grid: pd.DataFrame, **match) -> pd.Series:
    """The one row of the grid matching every column=value given (floats compared with a tolerance)."""
    mask = np.ones(len(grid), dtype=bool)
    for col, value in match.items():
        mask &= np.isclose(grid[col], value) if isinstance(value, float) else (grid[col] == value).to_numpy()
    if mask.sum() != 1:
        raise KeyError(f"expected one grid row for {match}, found {int(mask.sum())}")
    return grid[mask].iloc[0]


def _numbers(row: pd.Series, keys=("bleu", "chrf", "length_ratio", "empty", "short")) -> dict:
    return {k: float(row[k]) for k in keys if k in row}


def _best_alpha(grid: pd.DataFrame, kind: str, beam: int, metric: str = "bleu") -> pd.Series:
    """The beta-0 cell of the highest metric among no penalty and the `kind` alphas at this beam size."""
    rows = grid[(grid["beam_size"] == beam) & np.isclose(grid["beta"], 0.0) & grid["penalty"].isin(["none", kind])]
    return rows.sort_values([metric, "alpha"], ascending=[False, True]).iloc[0]


def nmt_headline(tables: BeamTables, bootstrap: int = 1000) -> dict:
    """Headline numbers of the translation grid: greedy, beam sizes without a penalty, the best alpha of each
    length penalty at the largest beam, the coverage weights, the best cell, paired-bootstrap p-values."""
    g = tables.grid
    beams = sorted(int(k) for k in g.loc[g["penalty"] != "greedy", "beam_size"].unique())
    big = beams[-1]
    plain = {k: _row(g, penalty="none", beam_size=k, beta=0.0) for k in beams}
    out = {"sentences": int(tables.info.get("sentences", 0)), "largest_beam": big,
           "greedy": _numbers(_row(g, penalty="greedy")), "no_penalty": {str(k): _numbers(r) for k, r in plain.items()}}
    for kind in ("gnmt", "hf"):
        best = _best_alpha(g, kind, big)
        out[kind] = {"best_alpha": float(best["alpha"]), **_numbers(best), "label": best["label"],
                     "best_alpha_by_beam": {str(k): float(_best_alpha(g, kind, k)["alpha"]) for k in beams}}
    cover = {}
    for alpha in sorted({0.0, out["gnmt"]["best_alpha"]}):
        for beta in sorted(g["beta"].unique()):
            row = _row(g, beam_size=big, alpha=alpha, beta=float(beta), penalty="none" if alpha == 0 else "gnmt")
            cover[f"alpha={alpha:g} beta={beta:g}"] = _numbers(row, ("bleu", "length_ratio"))
    out["coverage"] = cover
    beam_rows = g[g["penalty"] != "greedy"].sort_values(["bleu", "beam_size"], ascending=[False, True])
    out["best_cell"] = {"label": beam_rows.iloc[0]["label"], **_numbers(beam_rows.iloc[0], ("bleu", "length_ratio"))}
    if bootstrap and tables.outputs:
        hyps = {label: list(frame["hypothesis"]) for label, frame in tables.outputs.items()}
        test = tm.paired_bleu_test(hyps["greedy"], hyps[plain[big]["label"]], tables.refs, bootstrap)
        out["p_value_beam_vs_greedy"] = test["p_value"]
        for kind in ("gnmt", "hf"):
            test = tm.paired_bleu_test(hyps[plain[big]["label"]], hyps[out[kind]["label"]], tables.refs, bootstrap)
            out[f"p_value_best_{kind}_vs_no_penalty"] = test["p_value"]
        out["tests"] = _interval_tests(g, hyps, tables.refs, out, plain[big]["label"], bootstrap)
    return out


def _interval_tests(g: pd.DataFrame, hyps: dict, refs: list, out: dict, plain_label: str, draws: int) -> dict:
    """The BLEU difference of each comparison the takeaway makes, with a 95% paired-bootstrap interval
    (metrics.text.paired_bleu): beam vs greedy, best alphas vs no penalty, each coverage weight vs none."""
    pairs = {"beam_vs_greedy": ("greedy", plain_label),
             **{f"best_{kind}_vs_no_penalty": (plain_label, out[kind]["label"]) for kind in ("gnmt", "hf")}}
    for key in out["coverage"]:
        alpha, beta = (float(part.split("=")[1]) for part in key.split())
        if beta:
            pick = lambda b: _row(g, beam_size=out["largest_beam"], alpha=alpha, beta=b,  # noqa: E731
                                  penalty="none" if alpha == 0 else "gnmt")["label"]
            pairs[f"coverage {key} vs beta=0"] = (pick(0.0), pick(beta))
    return {name: tm.paired_bleu(hyps[base], hyps[new], refs, draws=draws).as_dict()
            for name, (base, new) in pairs.items() if base in hyps and new in hyps}


def synthetic_headline(tables: BeamTables) -> dict:
    """Headline numbers of the reverse task: greedy, and per beam size exact match and length ratio per alpha."""
    g = tables.grid
    out = {"sentences": int(tables.info.get("sentences", 0)),
           "greedy": _numbers(_row(g, penalty="greedy"), ("exact_match", "length_ratio", "short", "empty"))}
    for alpha in sorted(g.loc[g["penalty"] != "greedy", "alpha"].unique()):
        rows = g[(g["penalty"] != "greedy") & np.isclose(g["alpha"], alpha)].sort_values("beam_size")
        keys = ("exact_match", "length_ratio", "short", "empty")
        out[f"alpha={alpha:g}"] = {str(int(r["beam_size"])): _numbers(r, keys) for _, r in rows.iterrows()}
    out["largest_beam"] = int(g["beam_size"].max())
    return out


def _trend(start: float, end: float, tol: float = 0.01) -> str:
    if end < start - tol:
        return "falls"
    return "rises" if end > start + tol else f"stays within ±{tol:g}"


def _p_words(p: float | None) -> str:
    if p is None or p != p:
        return ""
    return f" (paired bootstrap p = {p:.3f}: {'significant' if p < 0.05 else 'not significant'} at 0.05)"


def _interval(h: dict, name: str) -> str:
    """'[+0.12, +1.30]' from a test of nmt_headline, or 'not computed' (bootstrap=0)."""
    t = h.get("tests", {}).get(name)
    return f"[{t['low']:+.2f}, {t['high']:+.2f}]" if t else "not computed"


def nmt_takeaway(h: dict) -> str:
    """Markdown lines about the translation grid, every number read from nmt_headline's dict."""
    big, plain, gr = h["largest_beam"], h["no_penalty"], h["greedy"]
    first, last = plain[min(plain, key=int)], plain[str(big)]
    ratios = ", ".join(f"{k}: {v['length_ratio']:.3f}" for k, v in plain.items())
    bleus = ", ".join(f"{k}: {v['bleu']:.2f}" for k, v in plain.items())
    lines = [f"- **es->en** ({h['sentences']} test verses): greedy BLEU {gr['bleu']:.2f}, length ratio "
             f"{gr['length_ratio']:.3f}. Without a length penalty the length ratio by beam size is {ratios}: it "
             f"{_trend(first['length_ratio'], last['length_ratio'])} as the beam grows, and very short outputs "
             f"(under {SHORT:g} x the reference's tokens) go {first['short']:.0f} -> {last['short']:.0f}, empty ones "
             f"{first['empty']:.0f} -> {last['empty']:.0f}. BLEU by beam size: {bleus}; beam {big} vs greedy "
             f"{last['bleu'] - gr['bleu']:+.2f}{_p_words(h.get('p_value_beam_vs_greedy'))}; 95% interval "
             f"{_interval(h, 'beam_vs_greedy')}."]
    for kind, name in (("gnmt", "GNMT ((5+|Y|)/6)^alpha"), ("hf", "HF-style |Y|^alpha")):
        b = h[kind]
        if b["best_alpha"] == 0:
            lines.append(f"- {name} length penalty at beam {big}: no alpha of the grid beats no penalty "
                         f"(BLEU {last['bleu']:.2f}): it does not help here.")
            continue
        closer = abs(b["length_ratio"] - 1) < abs(last["length_ratio"] - 1)
        p = h.get(f"p_value_best_{kind}_vs_no_penalty")
        lines.append(f"- {name} length penalty at beam {big}: the best alpha is {b['best_alpha']:g}, BLEU "
                     f"{b['bleu']:.2f} vs {last['bleu']:.2f} without ({b['bleu'] - last['bleu']:+.2f}, 95% interval "
                     f"{_interval(h, f'best_{kind}_vs_no_penalty')}){_p_words(p)}; "
                     f"length ratio {b['length_ratio']:.3f} vs {last['length_ratio']:.3f}, "
                     f"{'closer to' if closer else 'no closer to'} 1. Best alpha by beam size: "
                     + ", ".join(f"{k}: {a:g}" for k, a in b["best_alpha_by_beam"].items()) + ".")
    base = {k.split()[0]: v for k, v in h["coverage"].items() if k.endswith("beta=0")}
    tests = h.get("tests", {})
    parts = [f"{k}: BLEU {v['bleu']:.2f} ({v['bleu'] - base[k.split()[0]]['bleu']:+.2f} vs beta 0: "
             f"{sentence(tests.get(f'coverage {k} vs beta=0'), 2)}), length ratio {v['length_ratio']:.3f}"
             for k, v in h["coverage"].items() if not k.endswith("beta=0")]
    if parts:
        lines.append(f"- Coverage penalty (GNMT) at beam {big}: " + "; ".join(parts) + ".")
    c = h["best_cell"]
    lines.append(f"- Best cell of the grid: *{c['label']}*, BLEU {c['bleu']:.2f} "
                 f"(length ratio {c['length_ratio']:.3f}).")
    return "\n".join(lines)


def synthetic_takeaway(h: dict) -> str:
    """Markdown lines about the reverse task, every number read from synthetic_headline's dict."""
    big, gr = str(h["largest_beam"]), h["greedy"]
    plain = h["alpha=0"]
    first = plain[min(plain, key=int)]
    trend = _trend(first["length_ratio"], plain[big]["length_ratio"], 0.005)
    parts = [f"alpha {k.split('=')[1]}: exact match {v[big]['exact_match']:.3f}, length ratio "
             f"{v[big]['length_ratio']:.3f}, {v[big]['short']:.0f} outputs shorter than the reference "
             f"({v[big]['empty']:.0f} empty)" for k, v in h.items() if k.startswith("alpha=")]
    bias = "the short-hypothesis bias appears here too" if trend == "falls" else "no short-hypothesis bias here"
    return (f"- **reverse** ({h['sentences']} test sequences, notebook 01's Transformer): greedy exact match "
            f"{gr['exact_match']:.3f}, length ratio {gr['length_ratio']:.3f}. From beam 1 to beam {big} without a "
            f"penalty the length ratio {trend} ({first['length_ratio']:.3f} -> {plain[big]['length_ratio']:.3f}): "
            f"{bias}. At beam {big}: " + "; ".join(parts) + ".")


def takeaway(nmt_head: dict | None, syn_head: dict | None, seeds: list[int]) -> str:
    """The notebook's takeaway as Markdown, generated from the headline dicts."""
    lines = [f"Measured with seed(s) {seeds} (the test subset is fixed with seed 0). The best alpha is picked on the "
             "same verses it is scored on, which flatters it a little; BLEU differences under about 1 point on a few "
             "hundred verses are within noise unless the paired bootstrap says otherwise."]
    if nmt_head:
        lines.append(nmt_takeaway(nmt_head))
    if syn_head:
        lines.append(synthetic_takeaway(syn_head))
    return "\n".join(lines)


def _lines(rows: pd.DataFrame, greedy: pd.DataFrame, line) -> pd.DataFrame:
    """rows with a `line` column (line(row) -> name) plus the greedy row as line 'greedy', for figures.metric_lines."""
    return pd.concat([rows.assign(line=[line(r) for _, r in rows.iterrows()]), greedy.assign(line="greedy")],
                     ignore_index=True)


def by_beam(tables: BeamTables, cells: list[tuple[str, float]]) -> pd.DataFrame:
    """Beta-0 cells over beam size: no penalty and each (kind, alpha) of `cells` (alpha 0 is no penalty)."""
    g = tables.grid
    keep = g["penalty"] == "none"
    for kind, alpha in cells:
        keep |= (g["penalty"] == kind) & np.isclose(g["alpha"], alpha)
    rows = g[keep & np.isclose(g["beta"], 0.0)]
    return _lines(rows, g[g["penalty"] == "greedy"],
                  lambda r: "no penalty" if r["penalty"] == "none" else f"{r['penalty']} alpha={r['alpha']:g}")


def by_alpha(tables: BeamTables, beam: int) -> pd.DataFrame:
    """Beta-0 cells of one beam size over alpha, one line per length-penalty kind (alpha 0 in both)."""
    g = tables.grid
    rows = g[(g["beam_size"] == beam) & np.isclose(g["beta"], 0.0)]
    parts = [rows[rows["penalty"].isin(["none", kind])].assign(kind=kind) for kind in ("gnmt", "hf")]
    return _lines(pd.concat(parts), g[g["penalty"] == "greedy"], lambda r: f"{r['kind']}, beam {beam}")


def by_beta(tables: BeamTables, beam: int) -> pd.DataFrame:
    """GNMT cells of one beam size over the coverage weight beta, one line per alpha."""
    g = tables.grid
    rows = g[(g["beam_size"] == beam) & g["penalty"].isin(["none", "gnmt"])]
    return _lines(rows, g[g["penalty"] == "greedy"], lambda r: f"gnmt alpha={r['alpha']:g}, beam {beam}")


KINDS = ("gnmt", "hf")


def grid_values(tables: BeamTables) -> dict:
    """The values the sliders may take, read from the decoded grid: beams, alphas per kind (0 = no penalty),
    betas per kind (the coverage penalty was decoded with the GNMT penalty only)."""
    g = tables.grid[tables.grid["penalty"] != "greedy"]
    beams = tuple(sorted(int(k) for k in g["beam_size"].unique()))
    alphas = {k: tuple(sorted({0.0} | {float(a) for a in g.loc[g["penalty"] == k, "alpha"]})) for k in KINDS}
    betas = {"gnmt": tuple(sorted(float(b) for b in g["beta"].unique())), "hf": (0.0,)}
    return {"beams": beams, "alphas": alphas, "betas": betas}
