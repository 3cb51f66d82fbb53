"""TODO docstring."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from seqgap_lab.probes import exposure as ex
from seqgap_lab.zoo.synthetic import TrainedModel

EXAMPLES = ("within training lengths", "longer than training")


@dataclass
class LengthTables:
    """Tidy results of the grid plus the trained runs (kept for follow-up cells)."""

    per_position: pd.DataFrame
    by_length: pd.DataFrame
    training: pd.DataFrame
    train_positions: int
    runs: dict = field(default_factory=dict)


def measure(run: TrainedModel, train_positions: int) -> dict[str, pd.DataFrame]:
    """Per-position error (both modes, by example group), exact match by source length, training facts."""
    start = time.perf_counter()
    test = run.splits.test
    errors = ex.token_errors(run.model, test)
    errors["examples"] = np.where(errors["length"] + 1 > train_positions, EXAMPLES[1], EXAMPLES[0])
    per_example = errors.groupby("example").agg(wrong=("fr_error", "any"), examples=("examples", "first"))
    per_example["src_length"] = [len(test[i][0]) for i in per_example.index]
    by_length = (per_example.groupby(["src_length", "examples"])["wrong"]
                 .agg(exact_match=lambda w: 1.0 - w.mean(), count="size").reset_index())
    last = run.history.iloc[-1] if len(run.history) else {}
    training = pd.DataFrame([{"train_seconds": run.train_seconds, "from_cache": run.from_cache,
                              "final_loss": float(last.get("loss", np.nan)),
                              "dev_token_acc": float(last.get("dev_token_acc", np.nan)),
                              "measure_seconds": time.perf_counter() - start}])
    return {"per_position": ex.per_position_error(errors, by=["examples"]), "by_length": by_length,
            "training": training}


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
