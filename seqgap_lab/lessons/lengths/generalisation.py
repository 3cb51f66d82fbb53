"""Length generalisation as its own lesson (notebook 08, section 5): is the failure past the training lengths a
length failure or compounding?

On the counter task (zoo/counter.py) two Transformers with the same recipe and seeds differ only in positions:
absolute sinusoidal (the library default) and rotary (relative: attention scores depend only on position
differences). Teacher-forced error by position separates the two failures. Fed the gold prefix, a model that fails on
length still errs past the positions it was trained on; a model that compounds errs only once it reads its own
outputs, so its free-running error rises above the teacher-forced one. Past the training lengths:
- `tf_error_beyond`: error with the gold prefix (the length failure);
- `fr_error_beyond`: error free-running;
- `length_share`: tf / fr, the share of the free-running error already there with the gold prefix.
Exact match per variant, and rotary against sinusoidal paired on the same seeds and examples (McNemar).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from seqgap_lab.core import seeds
from seqgap_lab.core.stats import sentence
from seqgap_lab.lessons import common
from seqgap_lab.lessons.common import EXAMPLES
from seqgap_lab.zoo import counter
from seqgap_lab.zoo.synthetic import trained_model

KIND = "transformer"
LEARNED = 0.9  # exact match within the training lengths below which a variant did not learn the task (fixed rule)


@dataclass
class GeneralisationTables:
    """Per-position error (both modes) and per-example exact match of each position scheme, every seed."""

    per_position: pd.DataFrame
    per_example: pd.DataFrame
    train_positions: int
    runs: dict = field(default_factory=dict)


def run_one(profile: str, seed: int, device=None, progress: bool = True) -> GeneralisationTables:
    """Train (or load) the sinusoidal and the rotary Transformer of one seed and measure both on the test split."""
    per_position, per_example, runs, limit = [], [], {}, 0
    for positions in counter.POSITIONS:
        task_cfg, model_cfg, train_cfg = counter.configs(profile, KIND, seed, positions)
        run = trained_model(task_cfg, model_cfg, train_cfg, device=device, progress=progress)
        limit = task_cfg.train_max_len + 1  # target positions seen in training, <eos> included
        measured = common.measure(run, limit)
        per_position.append(measured["per_position"].assign(positions=positions))
        per_example.append(measured["per_example"].assign(positions=positions))
        runs[positions] = run
    return GeneralisationTables(pd.concat(per_position, ignore_index=True),
                                pd.concat(per_example, ignore_index=True), limit, runs)


def run(profile: str, seed_list=(0, 1, 2), device=None, progress: bool = True) -> GeneralisationTables:
    """run_one for every seed, stacked with a `seed` column."""
    stacked, _ = seeds.run_seeds(lambda s: run_one(profile, s, device, progress), list(seed_list))
    return stacked


def _error_beyond(per_position: pd.DataFrame, mode: str, train_positions: int) -> float:
    """Count-weighted error of `mode` at positions past the training ones, on the examples longer than training."""
    rows = per_position[(per_position["mode"] == mode) & (per_position["examples"] == EXAMPLES[1])
                        & (per_position["position"] > train_positions)]
    n = rows["count"].sum()
    return float((rows["error_rate"] * rows["count"]).sum() / n) if n else float("nan")


def headline(tables: GeneralisationTables) -> dict:
    """Per position scheme: exact match within / beyond, teacher-forced and free-running error past the training
    positions and the length share; rotary vs sinusoidal, paired, within and beyond."""
    out: dict = {"train_positions": tables.train_positions, "positions": {}}
    for positions in counter.POSITIONS:
        pp = tables.per_position[tables.per_position["positions"] == positions]
        pe = tables.per_example[tables.per_example["positions"] == positions]
        tf = _error_beyond(pp, "teacher-forced", tables.train_positions)
        fr = _error_beyond(pp, "free-running", tables.train_positions)
        out["positions"][positions] = {
            "exact_match_within": float(pe.loc[pe["examples"] == EXAMPLES[0], "correct"].mean()),
            "exact_match_beyond": float(pe.loc[pe["examples"] == EXAMPLES[1], "correct"].mean()),
            "tf_error_beyond": tf, "fr_error_beyond": fr,
            "length_share": tf / fr if fr > 0 else float("nan")}
    out["rotary_vs_sinusoidal"] = common.paired_parts(
        tables.per_example.rename(columns={"positions": "label"}), {"label": "rotary"}, {"label": "sinusoidal"},
        ("within", "beyond"))
    return out


def takeaway(head: dict, seed_list: list[int]) -> str:
    """Markdown lines of the section, every number read from `head`."""
    lines = ["Length generalisation on the counter: the same recipe with two position schemes; errors past the "
             f"training positions, on the examples longer than training. {seeds.seeds_note(seed_list)}."]
    for name, h in head["positions"].items():
        lines.append(f"- **{name}**: exact match {h['exact_match_within']:.3f} within the training lengths, "
                     f"{h['exact_match_beyond']:.3f} beyond; past the training positions the error is "
                     f"{h['tf_error_beyond']:.3f} with the gold prefix and {h['fr_error_beyond']:.3f} free-running"
                     f"{_diagnosis(h['length_share'])}"
                     + ("" if h["exact_match_within"] >= LEARNED else
                        f" It did not learn the task within the training lengths (exact match under {LEARNED:g}), "
                        "so its errors past them say nothing about length generalisation."))
    tests = head["rotary_vs_sinusoidal"]
    lines.append(f"- rotary against sinusoidal, exact match: within the training lengths {sentence(tests['within'])}; "
                 f"beyond them {sentence(tests['beyond'])}.")
    return "\n".join(lines)


def _diagnosis(share: float) -> str:
    """The split of the free-running error past the training positions, in words (share = tf / fr)."""
    if share != share:
        return " (no free-running error to split)."
    kind = "mostly a length failure, not compounding" if share >= 0.5 else "mostly compounding from its own outputs"
    return f": {share:.0%} of the free-running error is there with the gold prefix too, {kind}."


def figure(tables: GeneralisationTables) -> plt.Figure:
    """Error by target position on the longer-than-training examples: free-running (solid) and teacher-forced
    (dashed) for each position scheme; the grey line is the last training position."""
    pp = tables.per_position[(tables.per_position["examples"] == EXAMPLES[1])
                             & tables.per_position["mode"].isin(["teacher-forced", "free-running"])]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for (positions, mode), part in pp.groupby(["positions", "mode"], sort=False):
        g = part.groupby("position")
        rate = g.apply(lambda d: np.average(d["error_rate"], weights=d["count"]), include_groups=False)
        ax.plot(rate.index, rate.to_numpy(), ls="-" if mode == "free-running" else "--",
                color="C0" if positions == "sinusoidal" else "C1", label=f"{positions}, {mode}")
    ax.axvline(tables.train_positions, color="grey", lw=1)
    ax.set(xlabel="target position", ylabel="token error", ylim=(-0.02, 1.02),
           title="Past the training lengths: with the gold prefix (dashed) and free-running (solid)")
    ax.legend(fontsize=7)
    return fig
