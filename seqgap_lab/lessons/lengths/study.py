"""The strategy comparison across sequence lengths (notebook 08): the sweep specs of a profile, and the
headline and takeaway read from the sweep tables (never typed), which notebook 09's decision guide reuses.

Synthetic part: every remedy (training strategy x decoding) against teacher forcing with greedy decoding,
exact match within and beyond the training lengths, ExAccErr, and cost. Translation part (es-en): BLEU and
chrF overall and in the longest source bucket, against teacher forcing continued for the same steps.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from seqgap_lab.core.config import check_profile
from seqgap_lab.core.seeds import seed_list
from seqgap_lab.sweeps import nmt as sweep_nmt
from seqgap_lab.sweeps.cells import BASE, DECODINGS, STRATEGIES
from seqgap_lab.sweeps.runner import SweepSpec
from seqgap_lab.zoo import synthetic

# Seeds per profile: at least 3 in full (issue: error bars over seeds).
SEEDS = {"smoke": 1, "default": 1, "full": 3}


def specs(profile: str, seed: int = 0, num_seeds: int = 0, models=("gru", "transformer"), tasks=("reverse",),
          translation: bool = True) -> dict[str, SweepSpec]:
    """The synthetic and (optionally) translation sweeps of a profile, with their seeds."""
    seeds = seed_list(check_profile(profile), seed, num_seeds or SEEDS[profile])
    out = {"synthetic": SweepSpec(name=f"08-synthetic-{profile}", profile=profile, tasks=tuple(tasks),
                                  models=tuple(models), strategies=STRATEGIES, decodings=DECODINGS, seeds=tuple(seeds))}
    if translation:
        out["translation"] = SweepSpec(name=f"08-translation-{profile}", profile=profile, tasks=(sweep_nmt.TASK,),
                                       models=("transformer",), strategies=sweep_nmt.STRATEGIES,
                                       decodings=sweep_nmt.DECODINGS, seeds=tuple(seeds))
    return out


def cost_frame(synthetic: dict) -> pd.DataFrame:
    """One row per remedy and task/model: training and decoding time relative to TF greedy, and the change in
    exact match beyond the training lengths (for figures.cost_benefit)."""
    rows = []
    for panel, row in synthetic.items():
        b = row.get("/".join(BASE))
        if b is None:
            continue
        for label, cell in row.items():
            total, base_total = cell["train_seconds"] + cell["decode_seconds"], b["train_seconds"] + b["decode_seconds"]
            rows.append({"panel": panel, "label": label, "cost_over_tf_greedy": total / base_total if base_total else np.nan,
                         "gain_beyond": cell["exact_match_beyond"] - b["exact_match_beyond"],
                         "gain_within": cell["exact_match_within"] - b["exact_match_within"]})
    return pd.DataFrame(rows)


def train_max(spec: SweepSpec) -> dict:
    """The longest training source of each synthetic task of a sweep (the dashed line of the plots)."""

    return {t: synthetic.configs(spec.profile, t, "gru", 0)[0].train_max_len for t in spec.tasks
            if t != sweep_nmt.TASK}
