"""Headline numbers, verdicts and the takeaway of the comparison across lengths (notebook 08).

Every remedy against teacher forcing with greedy decoding, read from the sweep tables.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from seqgap_lab.core.stats import Comparison, sentence
from seqgap_lab.lessons.common import EXAMPLES, paired_parts
from seqgap_lab.metrics.text import paired_stats
from seqgap_lab.sweeps.cells import BASE, EXAMPLE

PAIRED_NOTE = ("Verdicts compare each remedy with teacher forcing + greedy on the same test examples (seeds pooled): "
               "exact McNemar test for exact match, paired bootstrap of corpus BLEU over sentences, 95% intervals; "
               "'no clear difference' only when the interval excludes the smallest effect counted (3 points of exact "
               "match, 1 BLEU), no verdict under 100 examples.")


def _examples(table: pd.DataFrame) -> pd.DataFrame:
    """The per-example rows of a sweep table (bucket 'example:<length bucket>')."""
    return table[table["bucket"].astype(str).str.startswith(EXAMPLE + ":")]


def _cell(frame: pd.DataFrame, strategy: str, decoding: str) -> pd.DataFrame:
    return frame[(frame["strategy"] == strategy) & (frame["decoding"] == decoding)]


def _exact_tests(examples: pd.DataFrame, cell: tuple) -> dict:
    """McNemar of per-example exact match, cell vs BASE on the same (seed, example): within / beyond / all."""
    rows = examples[examples["metric"] == "correct"]
    rows = pd.DataFrame({"seed": rows["seed"], "example": rows["bucket_lo"], "correct": rows["value"] > 0.5,
                         "examples": np.where(rows["beyond_training"], EXAMPLES[1], EXAMPLES[0]),
                         "strategy": rows["strategy"], "decoding": rows["decoding"]})
    pick = lambda c: {"strategy": c[0], "decoding": c[1]}  # noqa: E731
    return paired_parts(rows, pick(cell), pick(BASE), ("within", "beyond", "all"))


def _bleu_test(examples: pd.DataFrame, cell: tuple, bucket: str | None) -> Comparison:
    """Paired bootstrap of corpus BLEU: cell vs BASE over the same (seed, sentence), in one bucket or all."""
    rows = examples[examples["metric"].str.startswith("bleu_stat_")]
    if bucket is not None:
        rows = rows[rows["bucket"] == f"{EXAMPLE}:{bucket}"]

    def stats(c: tuple) -> pd.DataFrame:  # (seed, sentence) x statistic
        return _cell(rows, *c).pivot_table(index=["seed", "bucket_lo"], columns="metric", values="value")

    new, base = stats(cell), stats(BASE)
    both = new.index.intersection(base.index)
    order = sorted(new.columns, key=lambda m: int(m.rsplit("_", 1)[1]))
    return paired_stats(base.loc[both, order].to_numpy(), new.loc[both, order].to_numpy(), "bleu")


def _pooled(table: pd.DataFrame, metric: str, beyond: bool | None) -> pd.DataFrame:
    """Count-weighted mean of a metric over the length buckets (all buckets, within or beyond) per cell and seed."""
    sel = table[(table["metric"] == metric) & (table["bucket"] != "all")]  # per-example rows have other metrics
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
        examples = _examples(cells)
        if "/".join(BASE) in row:
            for name, cell in row.items():
                for part, test in _exact_tests(examples, tuple(name.split("/"))).items():
                    cell[f"test_{part}"], cell[f"verdict_{part}"] = test, sentence(test)
        out[f"{task}/{model}"] = row
    return out


def _exaccerr(table: pd.DataFrame, beyond: bool) -> pd.DataFrame:
    sel = table[(table["metric"] == "exaccerr_pct") & (table["beyond_training"] == beyond)]
    return sel[["task", "model", "strategy", "decoding", "seed", "value", "count"]]


def translation_headline(table: pd.DataFrame) -> dict:
    """{longest_bucket, shortest_bucket, models: {model: {remedy: numbers}}}: BLEU / chrF overall and BLEU in the
    shortest and longest source buckets of every remedy, with its verdicts against TF greedy."""
    buckets = table[(table["bucket"] != "all") & ~table["bucket"].astype(str).str.startswith(EXAMPLE + ":")]
    buckets = buckets.sort_values("bucket_lo")["bucket"]
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
        examples = _examples(cells)
        if "/".join(BASE) in row:
            for name, cell in row.items():
                for key, bucket in (("bleu", None), ("bleu_longest", longest), ("bleu_shortest", shortest)):
                    test = _bleu_test(examples, tuple(name.split("/")), bucket)
                    cell[f"test_{key}"], cell[f"verdict_{key}"] = test.as_dict(), test.sentence(2)
        out["models"][model] = row
    return out


def _grouped(row: dict, key: str) -> str:
    """'helps: a (+0.1 [..]), ...; hurts: ...; no clear difference: ...' for one verdict key of a row."""
    names = {"helps": "helps", "hurts": "hurts", "makes": "no clear difference", "is underpowered": "underpowered",
             "is not": "not judged (too few examples)", "could": "not compared"}
    groups: dict[str, list[str]] = {name: [] for name in names}
    for name, cell in row.items():
        if name == "/".join(BASE) or key not in cell:
            continue
        text = cell[key]
        word = next(w for w in names if text.startswith(w))
        detail = text[text.find("("):].split(",")[0].rstrip(")") + ")" if "(" in text and word != "is underpowered" \
            else ""
        groups[word].append(f"{name} {detail}".strip())
    return "; ".join(f"{names[w]}: {', '.join(v)}" for w, v in groups.items() if v) or "nothing to compare"


def takeaway(synthetic: dict | None, translation: dict | None, seeds: list[int]) -> str:
    """Notebook 08's takeaway as Markdown, every number and verdict read from the headlines."""
    lines = [f"Seeds {seeds}" + (" (one seed; the `full` profile runs 3)." if len(seeds) == 1 else "."),
             PAIRED_NOTE,
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
