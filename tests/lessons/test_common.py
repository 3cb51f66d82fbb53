"""lessons/common.py: length tables pooled over seeds keep their baseline column; run_seeded pools once."""
from __future__ import annotations

import pandas as pd
from helpers import ss_tables

from seqgap_lab.lessons import common


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
