"""Headline numbers and the generated takeaway of scheduled sampling in its regime (notebook 03, part 2).

Every number is read from the run's tables (regime.RegimeTables) and its paired verdicts (regime.verdicts).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from seqgap_lab.core.seeds import seeds_note, with_spread
from seqgap_lab.core.stats import PAIRED_NOTE, mcnemar, sentence
from seqgap_lab.lessons.common import EXAMPLES
from seqgap_lab.lessons.scheduled_sampling.regime import REFERENCE, RegimeTables, token_error_within

BASE = "teacher forcing (base)"


def reads_prefix(tables: RegimeTables, model: str, label: str = BASE) -> dict:
    """Does the model read its own prefix? Next token right after an injected wrong token vs the same examples
    fed gold (McNemar, injected - clean; 'hurts' means the wrong prefix was followed)."""
    inj = tables.injection[(tables.injection["model"] == model) & (tables.injection["label"] == label)]
    wide = inj.pivot_table(index=["seed", "example"], columns="condition", values="next_right", aggfunc="first")
    wide = wide.dropna()
    if not {"clean", "injected"} <= set(wide.columns):
        return {}
    return mcnemar(wide["injected"].to_numpy(bool), wide["clean"].to_numpy(bool)).as_dict()


def _per_seed(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Mean of `column` per (label, seed): rows label, columns seed."""
    return frame.groupby(["label", "seed"], sort=False)[column].mean().unstack("seed")


def headline(tables: RegimeTables, verdicts: pd.DataFrame) -> dict:
    """Per model: exact match within / beyond training lengths per cell (mean over seeds, seed sd), next token
    right after an injected error, the share of own-and-wrong inputs in training, and the paired verdicts."""
    out = {}
    for model in tables.per_example["model"].drop_duplicates():
        pe = tables.per_example[tables.per_example["model"] == model]
        log = tables.training[tables.training["model"] == model]
        row: dict = {"cells": {}}
        for part, name in (("within", EXAMPLES[0]), ("beyond", EXAMPLES[1])):
            seeds = _per_seed(pe[pe["examples"] == name], "correct")
            for label, values in seeds.iterrows():
                cell = row["cells"].setdefault(label, {})
                cell[f"exact_match_{part}"] = float(values.mean())
                cell[f"exact_match_{part}_seed_sd"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        both = tables.injection[tables.injection["model"] == model]
        rates = both.groupby(["label", "condition"], sort=False)["next_right"].mean()
        for (label, condition), rate in rates.items():
            row["cells"][label][f"{condition}_next_right"] = float(rate)
        for label, part in log.groupby("label", sort=False):
            row["cells"][label]["model_wrong_frac"] = float(part["model_wrong_frac"].mean())
            row["cells"][label]["final_p_use_gt"] = float(part.groupby("seed")["p_use_gt"].last().mean())
        if len(tables.per_position):
            errors = token_error_within(tables)
            for r in errors[errors["model"] == model].itertuples():
                row["cells"][r.label][f"{'tf' if r.mode == 'teacher-forced' else 'fr'}_token_error_within"] = float(
                    r.token_error)
        row["reads_prefix"] = reads_prefix(tables, model)
        mine = verdicts[verdicts["model"] == model]
        row["vs_reference"] = {label: {m: r.drop(["model", "label", "measure"]).to_dict()
                                       for m, r in part.set_index("measure", drop=False).iterrows()}
                               for label, part in mine.groupby("label", sort=False)}
        out[model] = row
    return out


def takeaway(head: dict, seeds: list[int], train_max_len: int) -> str:
    """The part-2 takeaway as Markdown, every number read from `head` (see headline())."""
    lines = [f"Counter task, training sources up to {train_max_len} tokens. {seeds_note(seeds)}. Every "
             f"scheduled-sampling cell is compared with *{REFERENCE}* (same start, same steps). {PAIRED_NOTE}"]
    for model, h in head.items():
        cells = h["cells"]
        ref = cells.get(REFERENCE, {})
        prefix = h.get("reads_prefix")
        base = cells.get(BASE, {})
        parts = [f"**{model}**: teacher forcing reaches exact match {with_spread(ref, 'exact_match_within')} "
                 f"within the training lengths and {with_spread(ref, 'exact_match_beyond')} beyond them."]
        if "tf_token_error_within" in ref:
            parts.append(f"Its token error within them is {ref['tf_token_error_within']:.3f} with the gold prefix "
                         f"and {ref['fr_token_error_within']:.3f} free-running.")
        if prefix:
            follows = prefix["verdict"] == "hurts"
            parts.append(f"Next token right after one injected wrong token: {base.get('injected_next_right', np.nan):.3f}, "
                         f"against {base.get('clean_next_right', np.nan):.3f} with the gold prefix; the injection "
                         f"{sentence(prefix)}: " + ("the model follows its own prefix." if follows
                                                   else "no sign that it follows its own prefix."))
        for label, tests in h["vs_reference"].items():
            if label == BASE:
                continue
            c = cells.get(label, {})
            parts.append(f"*{label}* (own and wrong inputs {c.get('model_wrong_frac', np.nan):.3f} of the fine-tuning, "
                         f"p_use_gt down to {c.get('final_p_use_gt', np.nan):.2f}): exact match within "
                         f"{with_spread(c, 'exact_match_within')}, {sentence(tests.get('exact match, within'))}; "
                         f"free-running token error within {c.get('fr_token_error_within', np.nan):.3f} (gold prefix "
                         f"{c.get('tf_token_error_within', np.nan):.3f}), its reduction "
                         f"{sentence(tests.get('free-running token error, within'))}; beyond "
                         f"{sentence(tests.get('exact match, beyond'))}; next token right after an injected error "
                         f"{c.get('injected_next_right', np.nan):.3f}, "
                         f"{sentence(tests.get('next token right after an injected error'))}.")
        lines.append("- " + " ".join(parts))
    return "\n".join(lines)
