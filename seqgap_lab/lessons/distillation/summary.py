"""Headline numbers and the generated takeaway of the distillation study (notebook 05).

Greedy and beam exact match of every student recipe and size, with the seed spread.
"""
from __future__ import annotations

import numpy as np

from seqgap_lab.core import seeds
from seqgap_lab.core.seeds import seeds_note, spread_text
from seqgap_lab.core.stats import PAIRED_NOTE, sentence
from seqgap_lab.lessons import common
from seqgap_lab.lessons.distillation.study import DistillTables
from seqgap_lab.zoo.distillation import TF


def cell_numbers(tables: DistillTables, size: str, label: str) -> dict:
    """Greedy and beam exact match (all, within, beyond), their gap and agreement for one student."""
    bl = tables.by_length
    bl = bl[(bl["size"] == size) & (bl["label"] == label)]
    out = {}
    for dec in ("greedy", "beam"):
        for key, rows in (("", bl), ("_within", bl[bl["examples"] == common.EXAMPLES[0]]),
                          ("_beyond", bl[bl["examples"] == common.EXAMPLES[1]])):
            rows = rows[rows["decoding"] == dec]
            n = rows["count"].sum()
            out[f"{dec}_exact_match{key}"] = float((rows["exact_match"] * rows["count"]).sum() / n) if n else np.nan
    greedy = bl[bl["decoding"] == "greedy"]
    n = greedy["count"].sum()
    out["num_examples"] = float(n)
    out["beam_minus_greedy"] = out["beam_exact_match"] - out["greedy_exact_match"]
    out["greedy_equals_beam"] = float((greedy["greedy_equals_beam"] * greedy["count"]).sum() / n) if n else np.nan
    out["params"] = float(bl["params"].iloc[0]) if len(bl) else np.nan
    return out


def headline(tables: DistillTables, per_seed: dict | None = None) -> dict:
    """Per student size: every recipe's numbers (see cell_numbers); with `per_seed` ({seed: tables}, `tables`
    pooled over them) also each number's per-seed values and spread."""
    out = _headline(tables)
    if per_seed and len(per_seed) > 1:
        out = seeds.add_spread(out, [_headline(t) for t in per_seed.values()])
    for size, cells in out.items():
        for label, c in cells.items():
            if label != TF and TF in cells and len(tables.per_example):
                new, base = {"size": size, "label": label}, {"size": size, "label": TF}
                greedy = tables.per_example[tables.per_example["decoding"] == "greedy"]
                c["greedy_vs_tf"] = common.paired_parts(greedy, new, base, ("all", "beyond"))
    return out


def _headline(tables: DistillTables) -> dict:
    out = {}
    for size in tables.by_length["size"].drop_duplicates():
        labels = tables.by_length[tables.by_length["size"] == size]["label"].drop_duplicates()
        out[size] = {label: cell_numbers(tables, size, label) for label in labels}
    return out


def takeaway(head: dict, seeds: list[int]) -> str:
    """The notebook's takeaway as Markdown, every number read from `head`."""
    lines = [seeds_note(seeds) + "; every student trains for the teacher's number of steps. " + PAIRED_NOTE]
    for size, cells in head.items():
        if TF not in cells:
            lines.append(f"- **{size}-size student**: no teacher-forcing baseline in the table.")
            continue
        b = cells[TF]
        who = "self-distillation (student = teacher's architecture)" if size == "same" else "a smaller student"
        lines.append(f"- **{who}**, {b['params']:.0f} parameters; teacher forcing: greedy exact match "
                     f"{b['greedy_exact_match']:.3f}{spread_text(b, 'greedy_exact_match')}, beam "
                     f"{b['beam_exact_match']:.3f} (beam - greedy {b['beam_minus_greedy']:+.3f}; greedy = beam on "
                     f"{b['greedy_equals_beam']:.1%}).")
        for label, c in cells.items():
            if label == TF:
                continue
            tests = c.get("greedy_vs_tf", {})
            lines.append(f"  - *{label}*: greedy {sentence(tests.get('all'))}"
                         f" ({c['greedy_exact_match']:.3f}{spread_text(c, 'greedy_exact_match')}); beam - greedy "
                         f"{c['beam_minus_greedy']:+.3f} vs {b['beam_minus_greedy']:+.3f} with teacher forcing; "
                         f"greedy = beam on {c['greedy_equals_beam']:.1%}; beyond the training lengths greedy "
                         f"{c['greedy_exact_match_beyond']:.3f} vs {b['greedy_exact_match_beyond']:.3f}, "
                         f"{sentence(tests.get('beyond'))}.")
    return "\n".join(lines)
