"""Headline numbers, verdicts and the takeaway of the comparison across lengths (notebook 08).

Every remedy against teacher forcing with greedy decoding, read from the sweep tables.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from seqgap_lab.core.stats import bleu_verdict, verdict
from seqgap_lab.sweeps.cells import BASE


def _pooled(table: pd.DataFrame, metric: str, beyond: bool | None) -> pd.DataFrame:
    """Count-weighted mean of a metric over the length buckets (all buckets, within or beyond) per cell and seed."""
    sel = table[(table["metric"] == metric) & (table["bucket"] != "all")]
    if beyond is not None:
        sel = sel[sel["beyond_training"] == beyond]
    keys = ["task", "model", "strategy", "decoding", "seed"]
    w = sel.assign(wv=sel["value"] * sel["count"]).groupby(keys)[["wv", "count"]].sum()
    return (w["wv"] / w["count"]).rename("value").reset_index().assign(count=w["count"].values)


def _overall(table: pd.DataFrame, metric: str, bucket: str = "all") -> pd.DataFrame:
    sel = table[(table["metric"] == metric) & (table["bucket"] == bucket)]
    return sel[["task", "model", "strategy", "decoding", "seed", "value", "count"]]


def _cell_stats(frame: pd.DataFrame, task: str, model: str, strategy: str, decoding: str) -> dict:
    """Mean, per-seed values and examples per seed of one cell in a (cell, seed) frame."""
    part = frame[(frame["task"] == task) & (frame["model"] == model) & (frame["strategy"] == strategy)
                 & (frame["decoding"] == decoding)].sort_values("seed")
    vals = [float(v) for v in part["value"]]
    return {"mean": float(np.mean(vals)) if vals else float("nan"), "per_seed": vals,
            "n": float(part["count"].sum()) if len(part) else 0.0}


def synthetic_headline(table: pd.DataFrame) -> dict:
    """Per task/model: every remedy's exact match (all, within, beyond), ExAccErr, cost, and its verdict vs TF greedy."""
    frames = {"exact_match": _pooled(table, "exact_match", None),
              "exact_match_within": _pooled(table, "exact_match", False),
              "exact_match_beyond": _pooled(table, "exact_match", True),
              "exaccerr_within": _exaccerr(table, False), "exaccerr_beyond": _exaccerr(table, True),
              "train_seconds": _overall(table, "train_seconds"), "decode_seconds": _overall(table, "decode_seconds")}
    out: dict = {}
    for (task, model), cells in table.groupby(["task", "model"], sort=False):
        row: dict = {}
        for strategy, decoding in cells[["strategy", "decoding"]].drop_duplicates().itertuples(index=False):
            stats = {k: _cell_stats(f, task, model, strategy, decoding) for k, f in frames.items()}
            row[f"{strategy}/{decoding}"] = {**{k: s["mean"] for k, s in stats.items()},
                                            **{f"{k}_per_seed": s["per_seed"] for k, s in stats.items()
                                               if k.startswith("exact")},
                                            "num_examples_within": stats["exact_match_within"]["n"],
                                            "num_examples_beyond": stats["exact_match_beyond"]["n"]}
        base = row.get("/".join(BASE))
        for cell in row.values():
            if base is not None:
                for part, key in (("within", "exact_match_within"), ("beyond", "exact_match_beyond"),
                                  ("all", "exact_match")):
                    n = base["num_examples_within"] + base["num_examples_beyond"] if part == "all" else \
                        base[f"num_examples_{part}"]
                    cell[f"verdict_{part}"] = verdict(cell[key], base[key], n, new_seeds=cell[f"{key}_per_seed"],
                                                      base_seeds=base[f"{key}_per_seed"])
        out[f"{task}/{model}"] = row
    return out


def _exaccerr(table: pd.DataFrame, beyond: bool) -> pd.DataFrame:
    sel = table[(table["metric"] == "exaccerr_pct") & (table["beyond_training"] == beyond)]
    return sel[["task", "model", "strategy", "decoding", "seed", "value", "count"]]


def translation_headline(table: pd.DataFrame) -> dict:
    """{longest_bucket, shortest_bucket, models: {model: {remedy: numbers}}}: BLEU / chrF overall and BLEU in the
    shortest and longest source buckets of every remedy, with its verdicts against TF greedy."""
    buckets = table[table["bucket"] != "all"].sort_values("bucket_lo")["bucket"]
    shortest, longest = buckets.iloc[0], buckets.iloc[-1]
    out: dict = {"longest_bucket": str(longest), "shortest_bucket": str(shortest), "models": {}}
    for model, cells in table.groupby("model", sort=False):
        row: dict = {}
        for strategy, decoding in cells[["strategy", "decoding"]].drop_duplicates().itertuples(index=False):
            stats = {name: _cell_stats(_overall(cells, metric, bucket), "es-en", model, strategy, decoding)
                     for name, metric, bucket in (("bleu", "bleu", "all"), ("chrf", "chrf", "all"),
                                                  ("length_ratio", "length_ratio", "all"),
                                                  ("bleu_longest", "bleu", longest),
                                                  ("bleu_shortest", "bleu", shortest),
                                                  ("train_seconds", "train_seconds", "all"),
                                                  ("decode_seconds", "decode_seconds", "all"))}
            row[f"{strategy}/{decoding}"] = {**{k: s["mean"] for k, s in stats.items()},
                                            "bleu_per_seed": stats["bleu"]["per_seed"],
                                            "bleu_longest_per_seed": stats["bleu_longest"]["per_seed"],
                                            "bleu_shortest_per_seed": stats["bleu_shortest"]["per_seed"]}
        base = row.get("/".join(BASE))
        for cell in row.values():
            if base is not None:
                for key in ("bleu", "bleu_longest", "bleu_shortest"):
                    cell[f"verdict_{key}"] = bleu_verdict(cell[f"{key}_per_seed"], base[f"{key}_per_seed"])
        out["models"][model] = row
    return out


def _grouped(row: dict, key: str) -> str:
    """'helps: a (+0.1), b (+0.2); hurts: ...; no clear difference: ...' for one verdict key of a row."""
    groups: dict[str, list[str]] = {"helps": [], "hurts": [], "makes": [], "could": []}
    for name, cell in row.items():
        if name == "/".join(BASE) or key not in cell:
            continue
        word = cell[key].split()[0]
        detail = cell[key][cell[key].find("("):].split(",")[0].rstrip(")") + ")" if "(" in cell[key] else ""
        groups[word].append(f"{name} {detail}".strip())
    names = {"helps": "helps", "hurts": "hurts", "makes": "no clear difference", "could": "not compared"}
    return "; ".join(f"{names[w]}: {', '.join(v)}" for w, v in groups.items() if v) or "nothing to compare"


def takeaway(synthetic: dict | None, translation: dict | None, seeds: list[int]) -> str:
    """Notebook 08's takeaway as Markdown, every number and verdict read from the headlines."""
    lines = [f"Seeds {seeds}" + (" (one seed: verdicts use the binomial error over test examples only; the `full` "
                                 "profile runs 3 seeds)." if len(seeds) == 1 else
                                 " (verdicts also weigh the spread between seeds)."),
             "Every remedy is a (training strategy / decoding) pair compared with teacher forcing + greedy decoding."]
    base = "/".join(BASE)
    for name, row in (synthetic or {}).items():
        b = row.get(base)
        if b is None:
            lines.append(f"- **{name}**: no teacher-forcing + greedy cell to compare with.")
            continue
        lines.append(f"- **{name}**: teacher forcing + greedy reaches exact match {b['exact_match_within']:.3f} within "
                     f"the training lengths and {b['exact_match_beyond']:.3f} beyond them (ExAccErr "
                     f"{b['exaccerr_within']:.0f}% / {b['exaccerr_beyond']:.0f}% at the longest length within / beyond).")
        lines.append(f"  - beyond the training lengths: {_grouped(row, 'verdict_beyond')}.")
        lines.append(f"  - within them: {_grouped(row, 'verdict_within')}.")
        cost = ", ".join(f"{k} {v['train_seconds'] / b['train_seconds']:.1f}x" for k, v in row.items()
                         if k.endswith("/greedy") and k != base and b["train_seconds"] > 0)
        dec = ", ".join(f"{k.split('/')[1]} {v['decode_seconds'] / b['decode_seconds']:.1f}x" for k, v in row.items()
                        if k.startswith("tf/") and k != base and b["decode_seconds"] > 0)
        lines.append(f"  - cost: training time (incl. parent/teacher) vs teacher forcing: {cost}; decoding time vs "
                     f"greedy: {dec}.")
    if translation:
        longest = translation.get("longest_bucket", "?")
        for model, row in translation["models"].items():
            b = row.get(base)
            if b is None:
                continue
            lines.append(f"- **es-en/{model}**: teacher forcing continued + greedy: BLEU {b['bleu']:.2f}, chrF "
                         f"{b['chrf']:.1f}, {b['bleu_longest']:.2f} BLEU on sources of {longest} words.")
            lines.append(f"  - overall: {_grouped(row, 'verdict_bleu')}.")
            lines.append(f"  - sources of {longest} words: {_grouped(row, 'verdict_bleu_longest')}.")
    return "\n".join(lines)
