"""Scheduled sampling in its regime (notebook 03, part 2): the settings fixed from the papers, the injection measure
proved on hand-made counter models whose answer is known, and the paired verdicts, headline and takeaway on
hand-made tables."""
from __future__ import annotations

import json
from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

from seqgap_lab.core.config import TaskConfig
from seqgap_lab.data.synthetic.tasks import make_task
from seqgap_lab.lessons.common import EXAMPLES
from seqgap_lab.lessons.scheduled_sampling import figures, regime, regime_summary
from seqgap_lab.models.counter_reference import CounterReference
from seqgap_lab.strategies.scheduled_sampling import ScheduledSampling
from seqgap_lab.strategies.schedules import make_schedule
from seqgap_lab.zoo import synthetic

matplotlib.use("Agg")


def test_default_runs_long_sequences_three_seeds_and_five_thousand_test_examples():
    task_cfg, _, base = regime.configs("default", "transformer", 0)
    assert task_cfg.name == "counter" and task_cfg.train_max_len >= 48 and task_cfg.test_max_len > 48
    assert task_cfg.num_test >= 5000 and regime.seed_list("default") == [0, 1, 2]
    assert base == synthetic.configs("default", "counter", "transformer", 0)[2]  # notebook 01's recipe
    assert regime.seed_list("smoke") == [0] and regime.seed_list("default", 4, 2) == [4, 5]


@pytest.mark.parametrize("profile", ["smoke", "default", "full"])
def test_cells_are_the_settings_fixed_from_the_papers(profile):
    cells = {c.label: c for c in regime.cells(profile)}
    assert [c.label for c in cells.values() if c.baseline] == [regime.REFERENCE]
    base = regime.configs(profile, "gru", 0)[2]
    ft = regime.finetune_config(profile, 0, "gru")
    assert ft.steps == max(2, base.steps // 3) and ft.lr == pytest.approx(base.lr / 2)
    for label in ("SS fine-tune, argmax", "SS fine-tune, sampled"):
        cell = cells[label]
        assert cell.finetune and regime.cell_config(profile, "gru", cell, 0).steps == ft.steps
        args = dict(cell.strategy_args["schedule"])
        schedule = make_schedule(args.pop("name"), **args)
        assert schedule(0) == 1.0 and schedule(ft.steps - 1) == pytest.approx(regime.SS_FLOOR)
        assert ScheduledSampling(**cell.strategy_args).sample is (label.endswith("sampled"))
    assert regime.cell_config(profile, "gru", cells[regime.REFERENCE], 0).strategy == "teacher_forcing"
    scratch = [c for c in cells.values() if not c.finetune and c.strategy == "scheduled_sampling"]
    assert len(scratch) == (profile == "full")
    if scratch:  # the library's default recipe: 1,000 teacher-forced steps, then inverse sigmoid
        strategy = ScheduledSampling(**scratch[0].strategy_args)
        assert strategy.schedule(999) == 1.0 and strategy.schedule(7999) < 0.5


def _counter_run(follows_prefix: bool) -> SimpleNamespace:
    task = make_task(TaskConfig(name="counter", min_len=4, train_max_len=12, test_max_len=12, num_train=50,
                                num_dev=10, num_test=300))
    model = CounterReference(len(task.vocab), task.vocab.first_symbol_id(), follows_prefix=follows_prefix)
    return SimpleNamespace(model=model, splits=task.make_splits(), task=task)


@pytest.mark.parametrize("follows", [True, False])
def test_the_injection_measure_tells_a_prefix_follower_from_a_recounter(follows):
    """Yardsticks with a known answer: both are perfect on gold prefixes; after one wrong digit the follower gets
    every later digit wrong, the recounter none."""
    run = _counter_run(follows)
    out = regime._injected(run, at=3, train_positions=13)
    clean, injected = out[out["condition"] == "clean"], out[out["condition"] == "injected"]
    assert len(injected) == len(clean) > 200
    assert clean["next_right"].all() and clean["recovered"].all()
    assert injected["next_right"].mean() == (0.0 if follows else 1.0)
    assert injected["recovered"].mean() == (0.0 if follows else 1.0)
    tables = regime.RegimeTables(pd.DataFrame(), out.assign(seed=0, model="m", label=regime_summary.BASE),
                                 pd.DataFrame(), pd.DataFrame(), 13)
    verdict = regime_summary.reads_prefix(tables, "m")["verdict"]
    assert verdict == ("hurts" if follows else "makes no clear difference")


def _tables(n: int = 300) -> regime.RegimeTables:
    """Two seeds x n examples (half beyond the training lengths). Reference right on the first 60% of each part,
    SS argmax right on the first 80% (it helps), SS sampled as the reference (no difference)."""
    rng = np.arange(n)
    rows, inj, log = [], [], []
    share = {regime.REFERENCE: 0.6, "SS fine-tune, argmax": 0.8, "SS fine-tune, sampled": 0.6,
             regime_summary.BASE: 0.6}
    for seed in (0, 1):
        for label, p in share.items():
            for part, name in enumerate(EXAMPLES):
                ids = rng + part * n
                right = rng < round(p * n)
                rows.append(pd.DataFrame({"seed": seed, "model": "gru", "label": label, "example": ids,
                                          "examples": name, "src_length": 10 + 40 * part, "correct": right,
                                          "fr_errors": np.where(right, 0, 2), "tokens": 10}))
            for cond, ok in (("clean", rng >= 0), ("injected", rng < round((p - 0.5) * n))):
                inj.append(pd.DataFrame({"seed": seed, "model": "gru", "label": label, "example": rng,
                                         "condition": cond, "next_right": ok, "recovered": ok}))
            ss = label.startswith("SS")
            log.append(pd.DataFrame({"seed": seed, "model": "gru", "label": label, "step": [5, 10],
                                     "loss": 1.0, "p_use_gt": [0.9, 0.5] if ss else 1.0,
                                     "model_token_frac": [0.1, 0.5] if ss else 0.0,
                                     "model_wrong_frac": [0.02, 0.1] if ss else 0.0}))
    per_example = pd.concat(rows, ignore_index=True)
    by_length = per_example.groupby(["seed", "model", "label", "src_length", "examples"])["correct"].mean()
    # token error: 0.1 / 0.3 (gold / own prefix) at 100 in-range tokens, 0.2 / 0.6 at 300; beyond range ignored
    per_position = pd.DataFrame([{"model": "gru", "label": label, "examples": examples, "position": pos,
                                  "mode": mode, "error_rate": rate * (1 + (pos == 2)), "count": 100 * (1 + 2 * (pos == 2))}
                                 for label in share for examples in EXAMPLES for pos in (1, 2)
                                 for mode, rate in (("teacher-forced", 0.1), ("free-running", 0.3))
                                 if examples == EXAMPLES[0] or pos == 2])
    per_position.loc[per_position["examples"] == EXAMPLES[1], "error_rate"] = 0.9
    return regime.RegimeTables(per_example, pd.concat(inj, ignore_index=True), pd.concat(log, ignore_index=True),
                               by_length.reset_index(), 49, per_position=per_position)


def test_verdicts_pair_every_cell_with_teacher_forcing_continued():
    v = regime.verdicts(_tables()).set_index(["label", "measure"])
    assert regime.REFERENCE not in v.index.get_level_values(0)
    argmax = v.loc["SS fine-tune, argmax"]
    assert argmax.loc["exact match, within", "verdict"] == "helps"
    assert argmax.loc["exact match, within", "delta"] == pytest.approx(0.2)
    assert argmax.loc["exact match, within", "n"] == 600  # both seeds, paired per (seed, example)
    assert argmax.loc["next token right after an injected error", "verdict"] == "helps"
    token = argmax.loc["free-running token error, within"]  # 2 errors in 10 tokens on 40% vs 20% of examples
    assert token["verdict"] == "helps" and token["delta"] == pytest.approx(0.04) and token["n"] == 600
    sampled = v.loc["SS fine-tune, sampled"]
    assert set(sampled["verdict"]) == {"makes no clear difference"}


def test_headline_and_takeaway_read_the_tables():
    tables = _tables()
    head = regime_summary.headline(tables, regime.verdicts(tables))
    json.dumps(head)  # summary.json
    cells = head["gru"]["cells"]
    assert cells["SS fine-tune, argmax"]["exact_match_within"] == pytest.approx(0.8)
    assert cells[regime.REFERENCE]["exact_match_beyond"] == pytest.approx(0.6)
    assert cells[regime.REFERENCE]["exact_match_within_seed_sd"] == 0.0
    assert cells["SS fine-tune, argmax"]["injected_next_right"] == pytest.approx(0.3)
    assert cells["SS fine-tune, argmax"]["clean_next_right"] == 1.0
    assert cells["SS fine-tune, argmax"]["model_wrong_frac"] == pytest.approx(0.06)
    assert cells["SS fine-tune, argmax"]["final_p_use_gt"] == pytest.approx(0.5)
    assert head["gru"]["reads_prefix"]["verdict"] == "hurts"
    assert cells[regime.REFERENCE]["tf_token_error_within"] == pytest.approx((0.1 * 100 + 0.2 * 300) / 400)
    assert cells[regime.REFERENCE]["fr_token_error_within"] == pytest.approx((0.3 * 100 + 0.6 * 300) / 400)
    text = regime_summary.takeaway(head, [0, 1], 48)
    assert "training sources up to 48 tokens" in text and "the model follows its own prefix" in text
    assert "*SS fine-tune, argmax*" in text and "helps (+0.200" in text
    assert "token error within them is 0.175 with the gold prefix and 0.525 free-running" in text
    figures.regime_exact_match(regime.exact_match_by_length(tables), 48)
    figures.regime_injection(tables.injection)
    figures.regime_wrong_inputs(tables.training)


def test_exact_match_by_length_buckets_every_seed():
    frame = regime.exact_match_by_length(_tables(), width=8)
    ref = frame[frame["label"] == regime.REFERENCE].set_index("bucket")
    assert ref.loc[8, "count"] == 600 and ref.loc[48, "exact_match"] == pytest.approx(0.6)


@pytest.mark.parametrize("follows", [True, False])
def test_counter_references_teacher_forced_equal_their_step_rule_and_the_oracle(follows):
    from seqgap_lab.data.batching import collate

    run = _counter_run(follows)
    batch = collate(run.splits.test[:32])
    memory = run.model.encode(batch.src, batch.src_mask)
    logits = run.model.decode_forward(memory, batch.src_mask, batch.tgt_in)  # (B, T, V)
    real = batch.tgt_out != 0
    assert torch.equal(logits.argmax(-1)[real], batch.tgt_out[real])  # gold prefix: both write the oracle
    state = run.model.init_state(memory, batch.src_mask)
    for t in range(batch.tgt_in.shape[1]):
        step, state = run.model.step(batch.tgt_in[:, t], state)
        assert torch.allclose(step[real[:, t]], logits[:, t][real[:, t]])
