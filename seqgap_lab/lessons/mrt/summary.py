"""Headline numbers and the generated takeaway of notebook 04's synthetic part (MRT).

Every (alpha, n) cell against teacher forcing continued from the same checkpoint, with the seed spread.
"""
from __future__ import annotations

from seqgap_lab.core import seeds
from seqgap_lab.core.config import check_profile
from seqgap_lab.core.seeds import seeds_note, spread_text
from seqgap_lab.core.stats import PAIRED_NOTE, sentence
from seqgap_lab.lessons.common import paired_parts
from seqgap_lab.lessons.mrt.study import BASELINE, MRTTables, cell_numbers, mrt_label
from seqgap_lab.zoo.mrt import FINETUNE


def headline(tables: MRTTables, profile: str, min_count: int = 20, per_seed: dict | None = None) -> dict:
    """Per model: every cell's numbers, the main cell vs the baseline, and the best cell on dev.

    `tables` pooled over seeds: pass `per_seed` ({seed: tables}) for per-seed values and the spread of every
    number (pooled counts are len(per_seed) times a seed's, so `min_count` scales with them)."""
    k = max(1, len(per_seed or {}))
    out = _headline(tables, profile, min_count * k)
    if k > 1:
        out = seeds.add_spread(out, [_headline(t, profile, min_count) for t in per_seed.values()])
    for model, h in out.items():
        if h["main"] and BASELINE in h["cells"] and len(tables.per_example):
            new, base = {"model": model, "label": h["main"]}, {"model": model, "label": BASELINE}
            h["main_vs_baseline"] = paired_parts(tables.per_example, new, base)
    return out


def _headline(tables: MRTTables, profile: str, min_count: int) -> dict:
    out = {}
    main = mrt_label(*FINETUNE[check_profile(profile)]["main"])
    for model in tables.by_length["model"].drop_duplicates():
        labels = tables.by_length[tables.by_length["model"] == model]["label"].drop_duplicates()
        nums = {label: cell_numbers(tables, model, label, min_count) for label in labels}
        mrt = {k: v for k, v in nums.items() if k != BASELINE}
        best = max(mrt, key=lambda k: (mrt[k]["dev_exact_match"], k)) if mrt else None
        out[model] = {"cells": nums, "main": main if main in nums else best, "best_on_dev": best}
    return out


def takeaway(head: dict, seeds: list[int], steps: int) -> str:
    """The synthetic part's takeaway as Markdown, every number read from `head`."""
    lines = [seeds_note(seeds) + f"; every cell fine-tunes the same teacher-forced checkpoint for {steps} "
             "steps. " + PAIRED_NOTE]
    for model, h in head.items():
        cells = h["cells"]
        if BASELINE not in cells or not h["main"]:
            lines.append(f"- **{model}**: the grid lacks the baseline or an MRT cell.")
            continue
        b, m = cells[BASELINE], cells[h["main"]]

        tests = h.get("main_vs_baseline", {})

        def pair(key: str, part: str, who: str = "") -> str:
            return (f"{m[key]:.3f}{spread_text(m, key)} vs {b[key]:.3f}{spread_text(b, key)} "
                    f"({who}{sentence(tests.get(part))}")

        lines.append(
            f"- **{model}, {h['main']}**, against teacher forcing continued for the same steps: test exact match "
            f"{pair('exact_match', 'all', 'MRT ')}); within the training lengths "
            f"{pair('exact_match_within', 'within')}); "
            f"beyond them {pair('exact_match_beyond', 'beyond')}). Greedy dev token error went {m['dev_token_error_start']:.3f} -> "
            f"{m['dev_token_error']:.3f} (baseline -> {b['dev_token_error']:.3f}).")
        if "train_risk_first" in m:
            lines.append(f"  The expected risk on training batches moved {m['train_risk_first']:.3f} -> "
                         f"{m['train_risk_last']:.3f} (first and last log point).")
        grid = ", ".join(f"{k.removeprefix('MRT ')}: {v['exact_match']:.3f}{spread_text(v, 'exact_match')}"
                         for k, v in cells.items() if k != BASELINE)
        lines.append(f"  Exact match by cell: {grid}; best on dev: *{h['best_on_dev']}*.")
    return "\n".join(lines)
