"""Headline numbers and the generated takeaway of distillation in its regime (notebook 05, part 2).

Every number is read from the run's tables (regime.DialectTables) and its paired verdicts (regime.verdicts).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from seqgap_lab.core.seeds import seeds_note, with_spread
from seqgap_lab.core.stats import PAIRED_NOTE, sentence
from seqgap_lab.lessons.common import EXAMPLES
from seqgap_lab.lessons.distillation.regime import TEACHER, DialectTables
from seqgap_lab.zoo.dialects import TF


def headline(tables: DialectTables, verdicts: pd.DataFrame) -> dict:
    """Per label (teacher and students): valid and mixed shares within the training lengths and valid beyond,
    greedy and beam (means over seeds, with the seed sd), the dialect-B share of greedy outputs, parameters; for
    every student but the reference, its paired verdicts against the teacher-forced student."""
    pe = tables.per_example
    out: dict = {}
    for label, rows in pe.groupby("label", sort=False):
        cell = out.setdefault(label, {"params": int(rows["params"].iloc[0])})
        for part, name in (("within", EXAMPLES[0]), ("beyond", EXAMPLES[1])):
            for decoding, part_rows in rows[rows["examples"] == name].groupby("decoding", sort=False):
                for column in ("valid", "mixed"):
                    per_seed = part_rows.groupby("seed")[column].mean()
                    cell[f"{decoding}_{column}_{part}"] = float(per_seed.mean())
                    sd = float(per_seed.std(ddof=1)) if len(per_seed) > 1 else 0.0
                    cell[f"{decoding}_{column}_{part}_seed_sd"] = sd
        greedy = rows[(rows["decoding"] == "greedy") & (rows["examples"] == EXAMPLES[0])]
        cell["greedy_tag_b_within"] = float((greedy["tag"] == "B").mean())
        if {"greedy_valid_within", "beam_valid_within"} <= set(cell):
            cell["beam_minus_greedy_within"] = cell["beam_valid_within"] - cell["greedy_valid_within"]
    for label, part in verdicts.groupby("label", sort=False):
        out[label]["vs_teacher_forcing"] = {r.measure: r.drop(["label", "measure"]).to_dict()
                                            for _, r in part.iterrows()}
    return out


def takeaway(head: dict, seeds: list[int], train_max_len: int) -> str:
    """The part-2 takeaway as Markdown, every number read from `head` (see headline())."""
    teacher, ref = head.get(TEACHER, {}), head.get(TF, {})
    num = with_spread
    lines = [f"Dialects task, training sources up to {train_max_len} tokens. {seeds_note(seeds)}. Every student "
             f"is compared with the *{TF}* student (same size, steps and data). {PAIRED_NOTE}",
             f"- **The teacher** ({teacher.get('params', 0):,} parameters): valid "
             f"{num(teacher, 'greedy_valid_within')} greedy and {num(teacher, 'beam_valid_within')} with beam "
             f"within the training lengths "
             f"(mixed {teacher.get('greedy_mixed_within', np.nan):.3f}), {num(teacher, 'greedy_valid_beyond')} "
             f"greedy beyond them.",
             f"- **The {TF} student** ({ref.get('params', 0):,} parameters): valid {num(ref, 'greedy_valid_within')} "
             f"greedy, {num(ref, 'beam_valid_within')} with beam "
             f"(gap {ref.get('beam_minus_greedy_within', np.nan):+.3f}); "
             f"mixed outputs {ref.get('greedy_mixed_within', np.nan):.3f} greedy."]
    for label, cell in head.items():
        if label in (TEACHER, TF):
            continue
        tests = cell.get("vs_teacher_forcing", {})
        lines.append(f"- *{label}*: valid {num(cell, 'greedy_valid_within')} greedy, "
                     f"{sentence(tests.get('valid, greedy'))}; {num(cell, 'beam_valid_within')} with beam, "
                     f"{sentence(tests.get('valid, beam'))}; mixed {cell.get('greedy_mixed_within', np.nan):.3f}; "
                     f"beam-greedy gap {cell.get('beam_minus_greedy_within', np.nan):+.3f}, its narrowing "
                     f"{sentence(tests.get('beam-greedy gap (narrower)'))}; dialect B in "
                     f"{cell.get('greedy_tag_b_within', np.nan):.2f} of greedy outputs.")
    return "\n".join(lines)
