"""Headline numbers and the generated takeaway of the scheduled-sampling study (notebook 03).

Teacher forcing vs the best scheduled-sampling cell per model, with the seed spread.
"""
from __future__ import annotations

import numpy as np

from seqgap_lab.core import seeds
from seqgap_lab.core.seeds import seeds_note, spread_text
from seqgap_lab.core.stats import PAIRED_NOTE, sentence
from seqgap_lab.lessons import common
from seqgap_lab.lessons.common import LengthTables, cell_numbers


def headline(tables: LengthTables, min_count: int = 20, per_seed: dict | None = None) -> dict:
    """Per model: teacher forcing vs the best scheduled-sampling cell (highest exact match over the test set).

    `tables` pooled over seeds: pass `per_seed` ({seed: tables}) for the per-seed values and spread of every
    number (the best cell is picked once, on the pooled tables). The test split is the same for every seed,
    so pooled counts are len(per_seed) times a seed's and `min_count` scales with them."""
    k = max(1, len(per_seed or {}))
    out = _headline(tables, min_count * k, best=None)
    if k > 1:
        best = {model: h.get("best_ss") for model, h in out.items()}
        out = seeds.add_spread(out, [_headline(t, min_count, best) for t in per_seed.values()],
                               maps=("exact_match_by_cell",))
    reference = set(common.baseline_labels(tables))
    for model, h in out.items():
        tf_label = next((lab for lab in h["exact_match_by_cell"] if lab in reference), None)
        if "best_ss" in h and tf_label is not None and len(tables.per_example):
            new, base = {"model": model, "label": h["best_ss"]}, {"model": model, "label": tf_label}
            h["best_ss_vs_tf"] = common.paired_parts(tables.per_example, new, base, ("all", "beyond"))
    return out


def _headline(tables: LengthTables, min_count: int, best: dict | None) -> dict:
    out = {}
    labels = tables.by_length.drop_duplicates("label").set_index("label")["schedule"]
    reference = set(common.baseline_labels(tables))
    for model in tables.by_length["model"].drop_duplicates():
        nums = {label: cell_numbers(tables, model, label, min_count) for label in labels.index}
        tf_label = next((lab for lab in nums if lab in reference), None)
        ss = {lab: v for lab, v in nums.items() if lab != tf_label}
        row = {"train_positions": tables.train_positions,
               "exact_match_by_cell": {lab: v["exact_match"] for lab, v in nums.items()}}
        if tf_label is not None:
            row.update({f"tf_{k}": v for k, v in nums[tf_label].items()})
        if ss:
            pick = (best or {}).get(model) or max(
                ss, key=lambda lab: (np.nan_to_num(ss[lab]["exact_match"], nan=-1.0), lab))
            row["best_ss"] = pick
            row.update({f"best_ss_{k}": v for k, v in ss[pick].items()})
        out[model] = row
    return out


def takeaway(head: dict, seeds: list[int]) -> str:
    """The notebook's takeaway as Markdown, every number read from `head` (see headline())."""
    lines = [seeds_note(seeds) + ".",
             "The best cell is picked on the test set itself, which flatters it. " + PAIRED_NOTE]
    for model, h in head.items():
        if "best_ss" not in h or "tf_exact_match" not in h:
            lines.append(f"- **{model}**: the grid lacks teacher forcing or a scheduled-sampling cell.")
            continue

        def num(key: str) -> str:
            return f"{h[key]:.3f}{spread_text(h, key)}"

        tests = h.get("best_ss_vs_tf", {})
        parts = [f"**{model}**: the best scheduled-sampling cell is *{h['best_ss']}*; against teacher forcing it "
                 f"{sentence(tests.get('all'))} in exact match over the test set ({num('best_ss_exact_match')} vs "
                 f"{num('tf_exact_match')});",
                 f"on sources longer than training: {num('best_ss_exact_match_beyond')} vs "
                 f"{num('tf_exact_match_beyond')}, {sentence(tests.get('beyond'))};"]
        if "tf_fr_error_last_in_range" in h and "best_ss_fr_error_last_in_range" in h:
            parts.append(f"free-running error at position {h['tf_last_in_range_position']:.0f} of in-range examples "
                         f"{num('best_ss_fr_error_last_in_range')} vs {num('tf_fr_error_last_in_range')};")
        parts.append(f"free-running minus teacher-forced gap beyond the training lengths "
                     f"{num('best_ss_gap_beyond_range')} vs {num('tf_gap_beyond_range')}.")
        lines.append("- " + " ".join(parts))
    return "\n".join(lines)
