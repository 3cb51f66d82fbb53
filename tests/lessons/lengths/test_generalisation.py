"""Length generalisation (notebook 08, section 5): the split of the error past the training positions into what the
gold prefix already shows (length) and what only the model's own outputs add (compounding), on hand-made tables."""
from __future__ import annotations

import json

import matplotlib
import pandas as pd
import pytest

from seqgap_lab.lessons.common import EXAMPLES
from seqgap_lab.lessons.lengths import generalisation
from seqgap_lab.lessons.scheduled_sampling import regime
from seqgap_lab.zoo import counter

matplotlib.use("Agg")
LIMIT = 10


def test_the_variants_differ_only_in_positions_and_share_notebook_03s_base_models():
    for profile in ("smoke", "default", "full"):
        sin, rot = (counter.configs(profile, "transformer", 1, p) for p in counter.POSITIONS)
        assert sin[0] == rot[0] and sin[2] == rot[2]
        assert rot[1] == sin[1].replace(positions="rotary") and sin[1].positions == "sinusoidal"
        assert sin == regime.configs(profile, "transformer", 1)  # the same cache entries as notebook 03's base
    task = counter.configs("default", "transformer", 0)[0]
    assert task.train_max_len >= 48 and task.test_max_len > task.train_max_len


def _tables(tf_beyond: dict, fr_beyond: dict) -> generalisation.GeneralisationTables:
    """Per position scheme: error 0 within the training positions, the given rates past them; 200 examples per
    group and seed, rotary right on 150 more longer examples than sinusoidal."""
    pp, pe = [], []
    for positions in counter.POSITIONS:
        for mode, rates in (("teacher-forced", tf_beyond), ("free-running", fr_beyond)):
            for pos in range(1, 2 * LIMIT):
                for examples in EXAMPLES:
                    rate = rates[positions] if pos > LIMIT and examples == EXAMPLES[1] else 0.0
                    pp.append({"positions": positions, "mode": mode, "position": pos, "examples": examples,
                               "error_rate": rate, "count": 100, "seed": 0})
        for examples in EXAMPLES:
            right = 180 if examples == EXAMPLES[0] else (170 if positions == "rotary" else 20)
            pe += [{"positions": positions, "seed": 0, "example": i + 1000 * (examples == EXAMPLES[1]),
                    "examples": examples, "correct": i < right} for i in range(200)]
    return generalisation.GeneralisationTables(pd.DataFrame(pp), pd.DataFrame(pe), LIMIT)


def test_a_length_failure_and_compounding_are_told_apart():
    tables = _tables(tf_beyond={"sinusoidal": 0.8, "rotary": 0.05}, fr_beyond={"sinusoidal": 0.9, "rotary": 0.4})
    head = generalisation.headline(tables)
    json.dumps(head)
    sin, rot = head["positions"]["sinusoidal"], head["positions"]["rotary"]
    assert sin["tf_error_beyond"] == pytest.approx(0.8) and sin["fr_error_beyond"] == pytest.approx(0.9)
    assert sin["length_share"] == pytest.approx(0.8 / 0.9) and rot["length_share"] == pytest.approx(0.125)
    assert sin["exact_match_within"] == pytest.approx(0.9) and rot["exact_match_beyond"] == pytest.approx(0.85)
    beyond = head["rotary_vs_sinusoidal"]["beyond"]
    assert beyond["verdict"] == "helps" and beyond["delta"] == pytest.approx(0.75) and beyond["n"] == 200
    assert head["rotary_vs_sinusoidal"]["within"]["verdict"] == "makes no clear difference"
    text = generalisation.takeaway(head, [0])
    assert "89% of the free-running error is there with the gold prefix too, mostly a length failure" in text
    assert "12% of the free-running error is there with the gold prefix too, mostly compounding" in text
    assert "did not learn the task" not in text  # both at 0.9 within the training lengths
    tables.per_example.loc[(tables.per_example["positions"] == "rotary") & ~tables.per_example["correct"].isna()
                           & (tables.per_example["examples"] == EXAMPLES[0]), "correct"] = False
    text = generalisation.takeaway(generalisation.headline(tables), [0])
    assert text.count("did not learn the task within the training lengths") == 1
    generalisation.figure(tables)


def test_no_error_past_the_training_positions_is_said_so():
    head = generalisation.headline(_tables({"sinusoidal": 0.0, "rotary": 0.0}, {"sinusoidal": 0.0, "rotary": 0.0}))
    assert "(no free-running error to split)" in generalisation.takeaway(head, [0, 1, 2])
