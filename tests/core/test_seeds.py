"""Several training seeds (notebooks 03-05): seed lists per profile, tables pooled over seeds, per-seed values
and spread in the headline, and a verdict that weighs the seed-to-seed spread."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import SS_CELLS, mrt_tables, ss_tables

from seqgap_lab.lessons.distillation import study as distill_study
from seqgap_lab.lessons.mrt import study as mrt_study
from seqgap_lab.core import seeds
from seqgap_lab.lessons.scheduled_sampling import study as ss_study
from seqgap_lab.core.config import ConfigError
from seqgap_lab.lessons import common
from seqgap_lab.zoo import distillation
from seqgap_lab.lessons.distillation import summary as distillation_summary
from seqgap_lab.lessons.mrt import summary as mrt_summary
from seqgap_lab.lessons.scheduled_sampling import summary as scheduled_sampling_summary


def test_seed_list_follows_the_profile_and_checks_its_arguments():
    assert seeds.seed_list("smoke") == [0] and seeds.seed_list("default", 4) == [4]
    assert seeds.seed_list("full", 2) == [2, 3, 4]
    assert seeds.seed_list("smoke", 1, num_seeds=2) == [1, 2]
    for bad in (dict(profile="huge"), dict(profile="full", num_seeds=-1), dict(profile="full", seed=-3),
                dict(profile="full", num_seeds=21), dict(profile="full", num_seeds=1.5)):
        with pytest.raises(ConfigError):
            seeds.seed_list(**bad)


def test_pool_frame_is_the_count_weighted_rate_over_every_seed():
    frame = pd.DataFrame({"label": ["a", "a", "b", "b"], "position": [1, 1, 1, 1], "error_rate": [0.2, 0.4, 0.0, 1.0],
                          "count": [10, 30, 5, 5], "seed": [0, 1, 0, 1]})
    pooled = seeds.pool_frame(frame, ["label", "position"]).set_index("label")
    assert pooled.loc["a", "error_rate"] == pytest.approx((0.2 * 10 + 0.4 * 30) / 40)
    assert pooled.loc["a", "count"] == 40 and pooled.loc["b", "error_rate"] == pytest.approx(0.5)
    curves = pd.DataFrame({"label": ["x", "x"], "alpha": [np.nan, np.nan], "step": [3, 3], "dev": [0.1, 0.3],
                           "seed": [0, 1]})
    mean = seeds.pool_frame(curves, ["label", "alpha", "step"], weight=None)  # NaN keys stay one group
    assert len(mean) == 1 and mean["dev"].iloc[0] == pytest.approx(0.2)
    single = frame[frame["seed"] == 0]
    assert seeds.pool_frame(single, ["label", "position"]).equals(single.drop(columns="seed"))


def test_add_spread_adds_per_seed_values_and_sd_only_where_every_seed_has_the_number():
    pooled = {"m": {"x": 0.5, "name": "best", "only_pooled": 1.0, "cells": {"c": 0.2}}}
    per_seed = [{"m": {"x": 0.4, "name": "best", "cells": {"c": 0.1}}}, {"m": {"x": 0.6, "name": "b2", "cells": {"c": 0.3}}}]
    out = seeds.add_spread(pooled, per_seed)["m"]
    assert out["x_per_seed"] == [0.4, 0.6] and out["x_seed_sd"] == pytest.approx(np.std([0.4, 0.6], ddof=1))
    assert out["cells"]["c_per_seed"] == [0.1, 0.3] and "only_pooled_per_seed" not in out and "name_per_seed" not in out
    assert seeds.add_spread(pooled, per_seed[:1]) == pooled
    mapped = seeds.add_spread(pooled, per_seed, maps=("cells",))["m"]
    assert mapped["cells"] == {"c": 0.2} and mapped["cells_per_seed"] == {"c": [0.1, 0.3]}
    assert seeds.spread_text(out, "x") == " ± 0.141" and seeds.spread_text(out, "only_pooled") == ""


def _stack(tables_by_seed: dict, pool):
    stacked, per_seed = seeds.run_seeds(lambda s: tables_by_seed[s], list(tables_by_seed))
    return pool(stacked), per_seed


def test_ss_headline_over_seeds_is_the_mean_with_the_spread_and_one_best_cell():
    # Seed 1 alone would pick the inverse-sigmoid cell; pooled over both seeds p=0.75 stays the best cell.
    by_seed = {0: ss_tables(), 1: ss_tables(shift={("gru", "constant p=0.75"): -0.5})}
    pooled, per_seed = _stack(by_seed, ss_study.pool)
    assert pooled.by_length["count"].max() == 200 and "seed" not in pooled.by_length
    h = scheduled_sampling_summary.headline(pooled, min_count=20, per_seed=per_seed)["gru"]
    assert scheduled_sampling_summary.headline(by_seed[1], min_count=20)["gru"]["best_ss"] == "inverse sigmoid (to 0.33)"
    assert h["best_ss"] == "constant p=0.75" and h["best_ss_exact_match"] == pytest.approx(0.375)
    assert h["best_ss_exact_match_per_seed"] == [pytest.approx(0.5), pytest.approx(0.25)]
    assert h["exact_match_by_cell_per_seed"]["constant p=0.5"] == [pytest.approx(0.25), pytest.approx(0.25)]
    assert set(h["exact_match_by_cell"]) == set(h["exact_match_by_cell_seed_sd"]) == set(SS_CELLS)
    assert h["tf_fr_error_last_in_range_seed_sd"] == pytest.approx(0.0)
    text = scheduled_sampling_summary.takeaway({"gru": h}, [0, 1])
    assert "Measured with seeds [0, 1]" in text and "(0.375 ± 0.177 vs 0.350 ± 0.000)" in text
    # the verdict pairs both seeds' examples (400 pairs): +0.10 on seed 0, -0.10 within range on seed 1
    assert h["best_ss_vs_tf"]["all"]["n"] == 400 and "n = 400)" in text


def test_mrt_and_distill_pool_over_seeds():
    a, b = mrt_tables(), mrt_tables()
    b.by_length["exact_match"] = b.by_length["exact_match"] / 2
    pooled, per_seed = _stack({0: a, 1: b}, mrt_study.pool)
    main = mrt_summary.headline(pooled, "smoke", per_seed=per_seed)["gru"]["cells"][mrt_study.mrt_label(5e-3, 2)]
    assert main["exact_match"] == pytest.approx(0.375) and main["exact_match_per_seed"] == [0.5, 0.25]
    assert main["dev_exact_match"] == pytest.approx(0.6) and main["num_examples"] == 400
    assert "± 0.177" in mrt_summary.takeaway({"gru": mrt_summary.headline(pooled, "smoke", per_seed=per_seed)["gru"]},
                                          [0, 1], 8)
    rows = [{"size": "same", "label": lab, "params": 10, "decoding": dec, "src_length": 3, "examples": common.EXAMPLES[0],
             "exact_match": em, "greedy_equals_beam": 1.0, "count": 100}
            for lab, em in ((distillation.TF, 0.5), ("word-KD", 0.6)) for dec in ("greedy", "beam")]
    d0 = distill_study.DistillTables(pd.DataFrame(rows), pd.DataFrame(), pd.DataFrame(), 5)
    d1 = distill_study.DistillTables(pd.DataFrame(rows).assign(exact_match=lambda f: f["exact_match"] - 0.2),
                                     pd.DataFrame(), pd.DataFrame(), 5)
    pooled, per_seed = _stack({0: d0, 1: d1}, distill_study.pool)
    head = distillation_summary.headline(pooled, per_seed)["same"]
    assert head["word-KD"]["greedy_exact_match"] == pytest.approx(0.5)
    assert head["word-KD"]["greedy_exact_match_per_seed"] == [pytest.approx(0.6), pytest.approx(0.4)]
    assert "Measured with seeds [0, 1]" in distillation_summary.takeaway({"same": head}, [0, 1])
