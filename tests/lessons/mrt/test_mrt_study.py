"""Notebook 04: mrt_study and mrt_nmt read their numbers from the tables (hand-made here, helpers.mrt_tables), the
takeaways say what the numbers say, and monitors land in the cached history."""
from __future__ import annotations

import pytest
from helpers import MRT_MAIN, mrt_tables

from seqgap_lab.core.config import ModelConfig, TaskConfig, TrainConfig
from seqgap_lab.lessons.mrt import study as mrt_study
from seqgap_lab.lessons.mrt import summary as mrt_summary
from seqgap_lab.lessons.mrt import translation as mrt_nmt
from seqgap_lab.zoo import synthetic


def test_mrt_headline_and_takeaway_read_the_tables():
    head = mrt_summary.headline(mrt_tables(), "smoke")["gru"]
    m, b = head["cells"][MRT_MAIN], head["cells"][mrt_study.BASELINE]
    assert m["exact_match"] == pytest.approx(0.5) and b["exact_match"] == pytest.approx(0.25)
    assert m["exact_match_within"] == pytest.approx(0.9) and m["num_examples_within"] == 100
    assert m["dev_exact_match"] == pytest.approx(0.6) and m["dev_exact_match_start"] == pytest.approx(0.4)
    assert m["train_risk_first"] == pytest.approx(0.3) and m["train_risk_last"] == pytest.approx(0.2)
    assert "train_risk_first" not in b
    assert head["main"] == MRT_MAIN and head["best_on_dev"] == MRT_MAIN
    text = mrt_summary.takeaway({"gru": head}, [0], 8)
    # per example (helpers.mrt_tables): MRT right on a superset of the baseline's examples
    assert "0.500 vs 0.250 (MRT helps (+0.250 [" in text and "McNemar p = " in text and "n = 200)" in text
    assert "within the training lengths 0.900 vs 0.500 (helps (+0.400 [" in text
    assert "beyond them 0.100 vs 0.000 (helps (+0.100 [" in text and "0.300 -> 0.200" in text


def test_mrt_takeaway_says_no_difference_within_noise():
    tables = mrt_tables()
    ex = tables.per_example
    main = ex["label"] == MRT_MAIN
    base = ex[~main].set_index("example")["correct"]
    # MRT now right on exactly the baseline's examples but one extra: +0.005 with an interval inside ±0.03
    ex.loc[main, "correct"] = base.reindex(ex.loc[main, "example"]).to_numpy()
    ex.loc[main & (ex["example"] == 199), "correct"] = True
    assert "makes no clear difference (+0.005" in mrt_summary.takeaway(mrt_summary.headline(tables, "smoke"), [0], 8)


def test_nmt_takeaway_reports_the_paired_test():
    row = {"bleu": 10.0, "chrf": 30.0, "length_ratio": 1.0, "bleu_shortest_bucket": 12.0, "bleu_longest_bucket": 6.0,
           "shortest_bucket": "1-10", "longest_bucket": "41+", "bleu_ci95": 0.4, "p_value_vs_baseline": float("nan")}
    head = {"teacher forcing (start)": dict(row, bleu=9.5), mrt_nmt.BASELINE: row,
            "MRT (1 - BLEU) alpha=0.005 n=4": dict(row, bleu=10.8, p_value_vs_baseline=0.01)}
    text = mrt_nmt.takeaway(head, 150)
    assert "10.80 ± 0.40 vs 10.00 ± 0.40" in text and "+0.80" in text and "p = 0.010: a significant" in text
    assert "longer" not in text
    head["MRT (1 - BLEU) alpha=0.005 n=4"].update(p_value_vs_baseline=0.3, length_ratio=1.2)
    text = mrt_nmt.takeaway(head, 150)
    assert "not a significant difference" in text and "length ratio 1.20 vs 1.00" in text and "longer" in text


def test_monitor_numbers_join_the_cached_history():
    task = TaskConfig(name="copy", min_len=2, train_max_len=4, test_max_len=5, num_symbols=4, num_train=100,
                      num_dev=10, num_test=10)
    model = ModelConfig(kind="gru", d_model=16, num_heads=2, num_layers=1, ffn_dim=32, dropout=0.0)
    cfg = TrainConfig(steps=4, batch_size=8, warmup_steps=0, log_every=2)
    calls = []

    def monitor(m, splits):
        calls.append(m.training)
        return {"dev_probe": float(len(splits.dev))}
    run = synthetic.trained_model(task, model, cfg, "cpu", progress=False, monitor=monitor)
    assert list(run.history["dev_probe"]) == [10.0, 10.0] and calls == [True, True]
    again = synthetic.trained_model(task, model, cfg, "cpu", progress=False, monitor=monitor)
    assert again.from_cache and list(again.history["dev_probe"]) == [10.0, 10.0] and len(calls) == 2
