"""Distillation in its regime (notebook 05, part 2): the settings fixed from the papers, the outcome measure on
hand-made outputs whose answer is known, and the paired verdicts, headline and takeaway on hand-made tables."""
from __future__ import annotations

import dataclasses
import json

import matplotlib
import numpy as np
import pandas as pd
import pytest

from seqgap_lab.core.config import ConfigError, TaskConfig
from seqgap_lab.data.synthetic.tasks import make_task
from seqgap_lab.lessons import common
from seqgap_lab.lessons.distillation import figures, regime, regime_summary
from seqgap_lab.zoo import counter, dialects, synthetic

matplotlib.use("Agg")


def test_default_runs_long_sequences_three_seeds_a_larger_teacher_and_the_papers_recipes():
    task_cfg, teacher, train = dialects.teacher_configs("default", 0)
    assert task_cfg.name == "dialects" and task_cfg.train_max_len >= 48 and task_cfg.num_test >= 5000
    assert (task_cfg.train_max_len, task_cfg.test_max_len) == (counter.SIZES["default"]["train_max_len"],
                                                               counter.SIZES["default"]["test_max_len"])
    recipe = synthetic.configs("default", "dialects", "transformer", 0)[1:]  # notebook 01's, without dropout
    assert (teacher, train) == (dataclasses.replace(recipe[0], dropout=0.0), recipe[1])
    assert dialects.seed_list("default") == [0, 1, 2] and dialects.seed_list("smoke") == [0]
    for recipe in dialects.RECIPES:
        student, cfg = dialects.student_configs("default", recipe, 0)
        assert student.d_model * 2 == teacher.d_model and student.num_layers * 2 == teacher.num_layers
        assert student.dropout == teacher.dropout == dialects.DROPOUT == 0.0
        assert (cfg.steps, cfg.lr, cfg.batch_size) == (train.steps, train.lr, train.batch_size)
    strategies = {r: dialects.student_configs("default", r, 0)[1] for r in dialects.RECIPES}
    assert strategies[dialects.TF].strategy == "teacher_forcing"
    assert strategies["word-KD (T 1)"].strategy_args == {"temperature": 1.0}
    assert strategies["on-policy KD"].strategy == "on_policy_kd"
    assert strategies["on-policy KD"].strategy_args["student_share"] == 1.0  # GKD lambda = 1: fully on-policy
    beam = dialects.target_config("default", "seq-KD (beam 5)", 0)
    sample = dialects.target_config("default", "self-distillation (top-p 0.9, T 2)", 1)
    assert (beam.method, beam.beam_size) == ("beam", 5)
    assert (sample.method, sample.top_p, sample.seed) == ("sample", 0.9, 1)
    assert dialects.target_config("default", dialects.TF, 0) is None
    assert beam.max_len > task_cfg.train_max_len + 1  # room for the tag and the whole copy
    with pytest.raises(ConfigError, match="recipe"):
        dialects.student_configs("default", "nope", 0)


def test_outcome_tells_valid_mixed_and_wrong_apart():
    task = make_task(TaskConfig(name="dialects", num_symbols=10, min_len=2, train_max_len=6, test_max_len=6,
                                num_train=10, num_dev=5, num_test=5))
    enc = task.vocab.encode
    src = enc(list("acej"))
    assert regime.outcome(task, src, enc(list("Aacej"))) == "valid"
    assert regime.outcome(task, src, enc(list("Bbdej"))) == "valid"
    assert regime.outcome(task, src, enc(list("Badej"))) == "mixed"  # B's tag and b, then A's c
    assert regime.outcome(task, src, enc(list("Abdej"))) == "mixed"  # A's tag, B's symbols
    assert regime.outcome(task, src, enc(list("Aacef"))) == "wrong"  # a symbol of neither dialect
    assert regime.outcome(task, src, enc(list("Aace"))) == "wrong"  # too short
    assert regime.outcome(task, src, []) == "wrong"


def _rows(label, decoding, valid, seed=0, examples=common.EXAMPLES[0]):
    """Hand-made per-example rows: valid is a list of booleans, one per example."""
    return pd.DataFrame({"example": range(len(valid)), "decoding": decoding, "valid": valid,
                         "mixed": [not v for v in valid], "outcome": ["valid" if v else "mixed" for v in valid],
                         "tag": "A", "src_length": 10, "label": label, "baseline": label == dialects.TF,
                         "params": 100, "examples": examples, "seed": seed})


def _tables(n=1000):
    rng = np.random.default_rng(0)
    tf_greedy = rng.random(n) < 0.5
    tf_beam = tf_greedy | (rng.random(n) < 0.2)  # beam adds about 0.1
    kd = rng.random(n) < 0.9  # seq-KD: 0.9 with either decoding
    parts = [_rows(dialects.TF, "greedy", tf_greedy), _rows(dialects.TF, "beam", tf_beam),
             _rows("seq-KD (beam 5)", "greedy", kd), _rows("seq-KD (beam 5)", "beam", kd),
             _rows("word-KD (T 1)", "greedy", tf_greedy), _rows("word-KD (T 1)", "beam", tf_beam),
             _rows(regime.TEACHER, "greedy", np.ones(n, bool)), _rows(regime.TEACHER, "beam", np.ones(n, bool))]
    return regime.DialectTables(pd.concat(parts, ignore_index=True), pd.DataFrame(), 12)


def test_verdicts_pair_each_student_with_the_teacher_forced_one():
    v = regime.verdicts(_tables()).set_index(["label", "measure"])
    assert regime.TEACHER not in v.index.get_level_values("label")
    kd = v.loc["seq-KD (beam 5)"]
    assert kd.loc["valid, greedy", "verdict"] == "helps" and kd.loc["valid, greedy", "delta"] == pytest.approx(0.4, abs=0.05)
    assert kd.loc["beam-greedy gap (narrower)", "verdict"] == "helps"
    assert kd.loc["beam-greedy gap (narrower)", "delta"] == pytest.approx(0.1, abs=0.03)
    same = v.loc["word-KD (T 1)"]  # the same outputs as teacher forcing: nothing to tell
    assert set(same["verdict"]) == {"makes no clear difference"} and (same["delta"] == 0).all()


def test_rates_headline_and_takeaway_read_the_tables():
    tables = _tables()
    rates = regime.rates(tables).set_index(["label", "decoding"])
    assert rates.loc[(regime.TEACHER, "greedy"), "valid"] == 1.0
    assert rates.loc[(dialects.TF, "greedy"), "mixed"] == pytest.approx(1 - rates.loc[(dialects.TF, "greedy"), "valid"])
    head = regime_summary.headline(tables, regime.verdicts(tables))
    json.dumps(head)  # summary.json-ready
    assert head["seq-KD (beam 5)"]["vs_teacher_forcing"]["valid, greedy"]["verdict"] == "helps"
    assert head[dialects.TF]["beam_minus_greedy_within"] == pytest.approx(0.1, abs=0.03)
    text = regime_summary.takeaway(head, [0], 48)
    assert f"{head['seq-KD (beam 5)']['greedy_valid_within']:.3f}" in text and "helps" in text
    assert "48 tokens" in text
    fig = figures.regime_outcomes(tables.per_example)
    assert [ax.get_title() for ax in fig.axes] == ["greedy", "beam"]
