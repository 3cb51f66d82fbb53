"""mrt_study, mrt_nmt and distill_study read their numbers from the tables (hand-made here), the takeaways
say what the numbers say, monitors land in the cached history, and the paired BLEU test behaves."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seqgap_lab.lessons.distillation import study as distill_study
from seqgap_lab.lessons.mrt import translation as mrt_nmt, study as mrt_study
from seqgap_lab.core.config import ModelConfig, TaskConfig, TrainConfig
from seqgap_lab.metrics.text import paired_bleu_test
from seqgap_lab.lessons.common import EXAMPLES
from seqgap_lab.zoo import distillation
from seqgap_lab.lessons.distillation import summary as distillation_summary
from seqgap_lab.zoo import mrt
from seqgap_lab.lessons.mrt import summary as mrt_summary
from seqgap_lab.zoo import synthetic

MAIN = mrt_study.mrt_label(*mrt.FINETUNE["smoke"]["main"])


def _mrt_tables() -> mrt_study.MRTTables:
    rows_pp, rows_bl, rows_curve = [], [], []
    # baseline: 0.5 within, 0.0 beyond; MRT: 0.9 within, 0.1 beyond; 100 examples in each group
    for label, within, beyond in ((mrt_study.BASELINE, 0.5, 0.0), (MAIN, 0.9, 0.1)):
        for group, em in ((EXAMPLES[0], within), (EXAMPLES[1], beyond)):
            rows_bl.append({"model": "gru", "label": label, "src_length": 3 if group == EXAMPLES[0] else 9,
                            "examples": group, "exact_match": em, "count": 100})
            for pos in (1, 2, 3, 9):
                for mode, err in (("teacher-forced", 0.1), ("free-running", 0.2 if label == MAIN else 0.4)):
                    rows_pp.append({"model": "gru", "label": label, "examples": group, "position": pos,
                                    "mode": mode, "error_rate": err, "count": 50})
        for step, dev, risk in ((0, 0.40, np.nan), (4, 0.45, 0.30), (8, 0.60 if label == MAIN else 0.42, 0.20)):
            rows_curve.append({"model": "gru", "label": label, "step": step, "dev_exact_match": dev,
                               "dev_token_error": 1 - dev, "risk": risk if label == MAIN else np.nan})
    return mrt_study.MRTTables(pd.DataFrame(rows_curve), pd.DataFrame(rows_pp), pd.DataFrame(rows_bl),
                               pd.DataFrame(), train_positions=5)


def test_mrt_headline_and_takeaway_read_the_tables():
    head = mrt_summary.headline(_mrt_tables(), "smoke")["gru"]
    m, b = head["cells"][MAIN], head["cells"][mrt_study.BASELINE]
    assert m["exact_match"] == pytest.approx(0.5) and b["exact_match"] == pytest.approx(0.25)
    assert m["exact_match_within"] == pytest.approx(0.9) and m["num_examples_within"] == 100
    assert m["dev_exact_match"] == pytest.approx(0.6) and m["dev_exact_match_start"] == pytest.approx(0.4)
    assert m["train_risk_first"] == pytest.approx(0.3) and m["train_risk_last"] == pytest.approx(0.2)
    assert "train_risk_first" not in b
    assert head["main"] == MAIN and head["best_on_dev"] == MAIN
    text = mrt_summary.takeaway({"gru": head}, [0], 8)
    assert "0.500 vs 0.250 (MRT helps (+0.250)" in text
    assert "within the training lengths 0.900 vs 0.500 (helps (+0.400), 100 examples)" in text
    assert "beyond them 0.100 vs 0.000" in text and "0.300 -> 0.200" in text


def test_mrt_takeaway_says_no_difference_within_noise():
    head = mrt_summary.headline(_mrt_tables(), "smoke")
    cells = head["gru"]["cells"]
    cells[MAIN] = dict(cells[mrt_study.BASELINE], exact_match=0.26)
    assert "makes no clear difference (+0.010" in mrt_summary.takeaway(head, [0], 8)


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


def test_paired_bleu_test_on_identical_and_different_systems():
    refs = ["the cat sat on the mat", "a dog barked at night", "we went home early"] * 10
    same = paired_bleu_test(refs, refs, refs, n_samples=100)
    assert same["p_value"] == 1.0 and same["system_bleu"] == same["baseline_bleu"] == pytest.approx(100.0)
    worse = ["the cat", "a dog", "we went"] * 10
    test = paired_bleu_test(worse, refs, refs, n_samples=100)
    assert test["system_bleu"] > test["baseline_bleu"] and test["p_value"] < 0.05


def _distill_tables() -> distill_study.DistillTables:
    rows = []
    # TF: greedy 0.5, beam 0.7; seq-KD: greedy 0.68, beam 0.70 (the gap narrows); 200 examples per decoding
    for label, greedy, beam in ((distillation.TF, 0.5, 0.7), ("seq-KD (beam 5)", 0.68, 0.70)):
        for dec, em in (("greedy", greedy), ("beam", beam)):
            for group in EXAMPLES:
                rows.append({"size": "small", "label": label, "decoding": dec, "src_length": 4, "examples": group,
                             "exact_match": em, "greedy_equals_beam": 0.8, "count": 100, "params": 1000})
    return distill_study.DistillTables(pd.DataFrame(rows), pd.DataFrame(), pd.DataFrame(), 5)


def test_distill_headline_and_takeaway_read_the_tables():
    head = distillation_summary.headline(_distill_tables())
    c = head["small"]["seq-KD (beam 5)"]
    assert c["greedy_exact_match"] == pytest.approx(0.68) and c["beam_minus_greedy"] == pytest.approx(0.02)
    assert head["small"][distillation.TF]["beam_minus_greedy"] == pytest.approx(0.2)
    text = distillation_summary.takeaway(head, [0])
    assert "a smaller student" in text and "1000 parameters" in text
    assert "greedy helps (+0.180) (0.680)" in text and "beam - greedy +0.020 vs +0.200" in text


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
