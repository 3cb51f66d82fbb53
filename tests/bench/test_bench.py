"""Benchmark rows: scheduled sampling over teacher forcing at longer target lengths (names, fields, notes)."""
from __future__ import annotations

import pytest
import torch

from seqgap_lab.bench import run as bench
from seqgap_lab.core.config import ModelConfig
from seqgap_lab.models import build_model
from seqgap_lab.training import step_cost

CPU = torch.device("cpu")
TINY = step_cost.SIZES["tiny"]


def _model(kind: str):
    cfg = ModelConfig(kind=kind, d_model=TINY["d_model"], num_heads=TINY["num_heads"],
                      num_layers=TINY["num_layers"], ffn_dim=TINY["ffn_dim"], dropout=0.0)
    return build_model(cfg, TINY["vocab"]).train()


@pytest.mark.parametrize("kind", ["transformer", "gru"])
def test_length_rows_names_and_fields(kind, monkeypatch):
    monkeypatch.setattr(step_cost, "NAIVE_MAX_TOKENS", 10)  # naive on 10 // T sentences
    rows = step_cost.ss_length_rows(kind, _model(kind), TINY, CPU, repeats=2, lengths=(5, 7))
    modes = step_cost.SS_LENGTH_MODES[kind]
    assert [r["metric"] for r in rows] == [f"ss_{m}_over_tf_t{t}" for t in (5, 7) for m in modes]
    for r in rows:
        assert set(r) == {"model", "metric", "value", "unit", "note"}
        assert r["model"] == kind and r["unit"] == "x" and r["value"] > 0
        t = int(r["metric"].rsplit("_t", 1)[1])
        assert f"T={t} " in r["note"] and f"d_model {TINY['d_model']}" in r["note"]
        if "naive" in r["metric"]:  # smaller batch and fewer repeats, said in the note
            assert f"batch {10 // t}," in r["note"]
            assert f"{min(2, step_cost.NAIVE_MAX_REPEATS)} repeats" in r["note"] and "between 2 TF steps" in r["note"]
        else:
            assert f"batch {TINY['batch']}," in r["note"] and "2 repeats" in r["note"]


def test_length_rows_default_to_the_size_lengths():
    assert step_cost.SIZES["small"]["ss_lengths"] == (40, 100)  # the lengths, default size
    rows = step_cost.ss_length_rows("gru", _model("gru"), TINY, CPU, repeats=1)
    assert [r["metric"] for r in rows] == [f"ss_sequential_over_tf_t{t}" for t in TINY["ss_lengths"]]


def test_scheduled_sampling_rows_keep_their_names():
    """The size's own length rows (used by ss_study.cost_table) are unchanged: ss_<mode>_over_tf."""
    batch = step_cost.random_batch(TINY, CPU)
    rows = step_cost.scheduled_sampling_rows("transformer", _model("transformer"), batch, CPU, 1)
    assert [r["metric"] for r in rows] == [f"ss_{m}_over_tf" for m in step_cost.SS_MODES]
    assert all(r["note"].endswith(f"target length {TINY['tgt_len']}") for r in rows)


def test_mrt_rows_cost_more_than_a_tf_step():
    from seqgap_lab.bench.mrt import mrt_rows
    rows = mrt_rows("transformer", TINY, CPU, repeats=2, samples=(2,))
    assert [r["metric"] for r in rows] == ["mrt_n2_over_tf"]
    assert rows[0]["value"] > 1.0 and "target length" in rows[0]["note"]


def test_run_bench_tiny_has_every_row_family(monkeypatch):
    monkeypatch.setattr(step_cost, "NAIVE_MAX_TOKENS", 10)
    result = bench.run_bench("tiny", "cpu", repeats=1, progress=False)
    metrics = {r["metric"] for r in result["rows"]}
    for expected in ("mrt_n4_over_tf", "ss_two_pass_over_tf_t8", "contrastive_over_greedy", "greedy_cache_speedup"):
        assert expected in metrics, expected
    assert any(m.startswith("beam5") or m == "hf_rows_skipped" for m in metrics)
    assert "train_step_speedup" in metrics or "hf_train_rows_skipped" in metrics
    assert "train_fast_over_baseline_speedup" in metrics
    assert {"train_dropout_all_sites_tokens_per_s", "train_residual_only_dropout_speedup"} <= metrics
    assert any("sentence_bleu" in m or "bleu" in m for m in metrics)
