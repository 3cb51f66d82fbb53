"""lessons/common.py: length tables pooled over seeds keep their baseline column; run_seeded pools once."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import ss_tables

from seqgap_lab.lessons import common
from seqgap_lab.lessons.generation import paired_comparison


def _per_seed(seed: int) -> common.LengthTables:
    tables = ss_tables(("gru",))
    by_length = tables.by_length.assign(exact_match=tables.by_length["exact_match"] + 0.1 * seed)
    return common.LengthTables(tables.per_position, by_length, pd.DataFrame([{"final_loss": 1.0 + seed}]),
                               tables.train_positions)


def _pool(tables: common.LengthTables) -> common.LengthTables:
    cell = ["model", "schedule", "p_use_gt", "label"]
    return common.pool_tables(tables, {"per_position": [*cell, "examples", "position", "mode"],
                                       "by_length": [*cell, "src_length", "examples"]})


def test_run_seeded_pools_and_keeps_each_seed():
    pooled, per_seed = common.run_seeded(_per_seed, [0, 1], _pool)
    assert sorted(per_seed) == [0, 1]
    one = per_seed[0].by_length
    assert len(pooled.by_length) == len(one) and "seed" not in pooled.by_length
    mean = pooled.by_length["exact_match"].to_numpy()
    assert abs(mean - (one["exact_match"].to_numpy() + 0.05)).max() < 1e-12  # the mean of +0.0 and +0.1
    # the reference survives pooling as a column of its own, so summaries and figures still find it
    assert pooled.by_length["baseline"].dtype == bool
    assert common.baseline_labels(pooled) == ["teacher forcing (p=1)"] == common.baseline_labels(per_seed[1])


def test_tables_without_a_baseline_column_have_no_reference():
    tables = ss_tables(("gru",))
    bare = common.LengthTables(tables.per_position, tables.by_length.drop(columns="baseline"), tables.training,
                               tables.train_positions)
    assert common.baseline_labels(bare) == []


def _prompts(mean: float, sd: float, n: int = 200) -> np.ndarray:
    """n per-prompt differences with exactly this mean."""
    d = np.random.default_rng(0).normal(0, sd, n)
    return d - d.mean() + mean


def test_paired_comparison_over_prompts_words_the_verdict_in_the_metrics_good_direction():
    """rep-4 falls: helps; rises: hurts; parse rate or topic similarity rises: helps; against a reference the
    verdict says higher / lower; a tight interval at 0 is no clear difference, a loose one underpowered."""
    assert paired_comparison(_prompts(-0.1, 0.2), better="lower")["verdict"] == "helps"
    assert paired_comparison(_prompts(+0.1, 0.2), better="lower")["verdict"] == "hurts"
    assert paired_comparison(_prompts(+0.1, 0.2), better="higher")["verdict"] == "helps"
    assert paired_comparison(_prompts(-0.1, 0.2), better=None)["verdict"] == "lower"
    assert paired_comparison(_prompts(0.0, 0.01), better="lower")["verdict"] == "makes no clear difference"
    loose = paired_comparison(_prompts(0.0, 0.3), better="lower")
    assert loose["verdict"].startswith("is underpowered (it could only have detected a difference of")
    assert loose["low"] < 0 < loose["high"] and loose["test"] == "paired bootstrap" and loose["n"] == 200
    few = paired_comparison(_prompts(-0.5, 0.1, n=40), better="lower")
    assert few["verdict"] == "is not judged (n = 40 < 100 examples)" and few["delta"] == pytest.approx(-0.5)
    assert paired_comparison([float("nan")], better="lower")["verdict"] == "could not be compared (no examples)"
