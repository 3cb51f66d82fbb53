"""What the lessons on synthetic tasks share (notebooks 03, 04, 05): length tables, their numbers, their pooling
over seeds and the figure that draws every cell of a grid.

Length tables are tidy frames with one row per (cell, position or source length): the per-position error of
free-running and teacher-forced decoding, exact match by source length, and the training facts. Every row
carries the column `baseline` (True on the study's reference cell, teacher forcing), so that summaries and
figures find the reference by that column, never by matching label text.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Callable, TypeVar

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from seqgap_lab.core import seeds
from seqgap_lab.core.stats import Comparison, mcnemar
from seqgap_lab.probes import exposure as ex
from seqgap_lab.probes import exposure_tables
from seqgap_lab.zoo.synthetic import TrainedModel

EXAMPLES = ("within training lengths", "longer than training")
BASELINE = "baseline"  # the column marking the reference cell's rows
T = TypeVar("T")


@dataclass
class LengthTables:
    """Tidy results of the grid plus the trained runs (kept for follow-up cells)."""

    per_position: pd.DataFrame
    by_length: pd.DataFrame
    training: pd.DataFrame
    train_positions: int
    runs: dict = field(default_factory=dict)
    per_example: pd.DataFrame = field(default_factory=pd.DataFrame)  # stacked over seeds, never pooled


def measure(run: TrainedModel, train_positions: int) -> dict[str, pd.DataFrame]:
    """Per-position error (both modes, by example group), exact match by source length, training facts, and
    per example (example, examples, src_length, fr_errors, tf_errors, tokens, correct) for the paired verdicts:
    aligned free-running and teacher-forced token errors over the reference's tokens, and exact match."""
    start = time.perf_counter()
    test = run.splits.test
    errors = ex.token_errors(run.model, test)
    errors["examples"] = np.where(errors["length"] + 1 > train_positions, EXAMPLES[1], EXAMPLES[0])
    per_example = errors.groupby("example").agg(wrong=("fr_error", "any"), examples=("examples", "first"),
                                                fr_errors=("fr_error", "sum"), tf_errors=("tf_error", "sum"),
                                                tokens=("fr_error", "size"))
    per_example["src_length"] = [len(test[i][0]) for i in per_example.index]
    exact = per_example.reset_index()[["example", "examples", "src_length", "fr_errors", "tf_errors", "tokens"]]
    exact["correct"] = ~per_example["wrong"].to_numpy()
    by_length = (per_example.groupby(["src_length", "examples"])["wrong"]
                 .agg(exact_match=lambda w: 1.0 - w.mean(), count="size").reset_index())
    last = run.history.iloc[-1] if len(run.history) else {}
    training = pd.DataFrame([{"train_seconds": run.train_seconds, "from_cache": run.from_cache,
                              "final_loss": float(last.get("loss", np.nan)),
                              "dev_token_acc": float(last.get("dev_token_acc", np.nan)),
                              "measure_seconds": time.perf_counter() - start}])
    # The aligned free-running error (probes/exposure.py); the positional contrast belongs to notebook 01.
    per_position = exposure_tables.per_position_error(errors.drop(columns="fr_error_positional"), by=["examples"])
    return {"per_position": per_position, "by_length": by_length, "training": training, "per_example": exact}


def cell_rows(frame: pd.DataFrame, cell: dict, columns):
    """The rows of one cell ({column: value}) indexed by (seed, example) where the frame has them, `columns` only."""
    sel = np.ones(len(frame), dtype=bool)
    for col, value in cell.items():
        sel &= (frame[col] == value).to_numpy()
    return frame[sel].set_index([k for k in ("seed", "example") if k in frame])[columns]


def paired_cells(per_example: pd.DataFrame, new: dict, base: dict, examples: str | None = None,
                 column: str = "correct") -> Comparison:
    """McNemar comparison of a per-example success column (exact match by default) between two cells on the same
    test examples, seeds pooled: `new` and `base` select the cells ({column: value}), `examples` one group of
    EXAMPLES (None: all)."""
    frame = per_example if examples is None else per_example[per_example["examples"] == examples]
    joined = pd.concat({"new": cell_rows(frame, new, column), "base": cell_rows(frame, base, column)}, axis=1,
                       join="inner")
    return mcnemar(joined["new"].to_numpy(bool), joined["base"].to_numpy(bool))


PARTS = {"all": None, "within": EXAMPLES[0], "beyond": EXAMPLES[1]}


def paired_parts(per_example: pd.DataFrame, new: dict, base: dict, parts=("all", "within", "beyond")) -> dict:
    """paired_cells over several example groups of PARTS, as summary.json records: {part: Comparison fields}."""
    return {part: paired_cells(per_example, new, base, PARTS[part]).as_dict() for part in parts}


def cell_numbers(tables: LengthTables, model: str, label: str, min_count: int = 20) -> dict:
    """The numbers of one cell: FR/TF error at the last in-range position, gaps, exact match in/beyond range."""
    pp = tables.per_position
    pp = pp[(pp["model"] == model) & (pp["label"] == label) & (pp["count"] >= min_count)]
    wide = pp.pivot_table(index=["examples", "position"], columns="mode", values="error_rate")
    out = {}
    if EXAMPLES[0] in wide.index.get_level_values(0):
        within = wide.loc[EXAMPLES[0]]
        pos = within.index.max()
        out.update(last_in_range_position=int(pos), fr_error_last_in_range=within.loc[pos, "free-running"],
                   tf_error_last_in_range=within.loc[pos, "teacher-forced"])
    gap = (wide["free-running"] - wide["teacher-forced"]).reset_index(name="gap")
    beyond = gap[gap["position"] > tables.train_positions]["gap"]
    out["gap_beyond_range"] = beyond.mean() if len(beyond) else float("nan")
    bl = tables.by_length
    bl = bl[(bl["model"] == model) & (bl["label"] == label)]
    out["num_examples"] = bl["count"].sum()
    for key, rows in (("exact_match", bl), ("exact_match_within", bl[bl["examples"] == EXAMPLES[0]]),
                      ("exact_match_beyond", bl[bl["examples"] == EXAMPLES[1]])):
        n = rows["count"].sum()
        out[key] = float((rows["exact_match"] * rows["count"]).sum() / n) if n else float("nan")
    return {k: float(v) for k, v in out.items()}


def baseline_labels(tables) -> list[str]:
    """The labels of the reference cells (rows with baseline True), in table order."""
    bl = tables.by_length
    if BASELINE not in bl:
        return []
    return list(bl.loc[bl[BASELINE].astype(bool), "label"].drop_duplicates())


def pool_tables(tables: T, keys: dict[str, list[str]], weights: dict[str, str | None] | None = None) -> T:
    """Tables stacked over seeds (see seeds.run_seeds) averaged within each group of `keys[attribute]`, one
    frame attribute at a time (count-weighted unless `weights` says otherwise); the baseline column is kept."""
    weights = weights or {}
    return dataclasses.replace(tables, **{
        name: seeds.pool_frame(getattr(tables, name), [*cols, BASELINE], weight=weights.get(name, "count"))
        for name, cols in keys.items()})


def run_seeded(run_one: Callable[[int], T], seed_list, pool: Callable[[T], T]) -> tuple[T, dict[int, T]]:
    """run_one(seed) once per seed: (the tables pooled over seeds, {seed: that seed's tables})."""
    stacked, per_seed = seeds.run_seeds(run_one, list(seed_list))
    return pool(stacked), per_seed


def length_grid(tables, title: str = "Every trained p_use_gt / schedule") -> plt.Figure:
    """Every cell of a grid at once, for reports: free-running error by position (top) and exact match by
    source length (bottom), one column per model; the baseline cell in black."""
    models = list(tables.by_length["model"].drop_duplicates())
    labels = list(tables.by_length["label"].drop_duplicates())
    reference = set(baseline_labels(tables))
    fig, axes = plt.subplots(2, len(models), figsize=(5 * len(models), 6.5), squeeze=False)
    cmap = plt.get_cmap("viridis", max(2, len(labels)))
    pp = tables.per_position[tables.per_position["mode"] == "free-running"]
    for col, model in enumerate(models):
        for i, label in enumerate(labels):
            style = dict(color="black" if label in reference else cmap(i), marker="o", ms=2, label=label)
            part = pp[(pp["model"] == model) & (pp["label"] == label)]
            # Both example groups on one line: the per-position rate over all test examples.
            merged = part.assign(w=part["error_rate"] * part["count"]).groupby("position")[["w", "count"]].sum()
            axes[0][col].plot(merged.index, merged["w"] / merged["count"], **style)
            bl = tables.by_length[(tables.by_length["model"] == model) & (tables.by_length["label"] == label)]
            axes[1][col].plot(bl["src_length"], bl["exact_match"], **style)
        axes[0][col].axvline(tables.train_positions + 0.5, color="grey", ls="--", lw=1)
        axes[1][col].axvline(tables.train_positions - 0.5, color="grey", ls="--", lw=1)
        axes[0][col].set(title=f"{model}: free-running error", xlabel="target position", ylabel="token error rate")
        axes[1][col].set(title=f"{model}: exact match", xlabel="source length", ylabel="exact match")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle(f"{title} (dashed: end of training lengths)")
    fig.tight_layout()
    return fig
