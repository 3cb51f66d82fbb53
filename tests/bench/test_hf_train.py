"""bench/hf_train.py: the training-step rows against HF MarianMT (tiny size, CPU; the peer numbers are in README)."""
from __future__ import annotations

import pytest
import torch

pytest.importorskip("transformers")

from seqgap_lab.bench import hf_train  # noqa: E402
from seqgap_lab.bench.hf_adapter import build_marian  # noqa: E402
from seqgap_lab.core.config import ConfigError, ModelConfig  # noqa: E402
from seqgap_lab.models import build_model  # noqa: E402
from seqgap_lab.training.step_cost import SIZES, random_batch, train_step_fn  # noqa: E402

CPU = torch.device("cpu")


def test_rows_cover_every_step_and_the_speedup():
    rows = hf_train.hf_train_rows(CPU, repeats=1, size="tiny")
    metrics = {(r["model"], r["metric"]) for r in rows}
    assert metrics == {("transformer", "train_tf_tokens_per_s"), ("hf_marian", "train_tf_tokens_per_s"),
                       ("transformer", "train_ss_two_pass_tokens_per_s"), ("transformer", "train_mrt_tokens_per_s"),
                       ("transformer_vs_hf_marian", "train_step_speedup"),
                       ("transformer", "train_tf_dropout_tokens_per_s"), ("hf_marian", "train_tf_dropout_tokens_per_s"),
                       ("transformer_vs_hf_marian", "train_step_dropout_speedup")}
    assert all(r["value"] > 0 for r in rows)
    assert "no dropout" in rows[0]["note"] and "dropout 0.1 on both" in rows[-1]["note"]


def test_compiled_rows_time_a_compiled_step_or_say_why(monkeypatch):
    """The compiled variants (on by default on CUDA only) give a row each, or a row naming the failure."""
    monkeypatch.setattr(hf_train, "COMPILE_MODES", {"compiled": None})
    monkeypatch.setattr(hf_train.torch, "compile", lambda fn, mode=None: fn)  # eager stand-in: no minute of compiling
    rows = hf_train.hf_train_rows(CPU, repeats=1, size="tiny", with_compile=True)
    metrics = {r["metric"] for r in rows}
    assert {"train_tf_compiled_tokens_per_s", "train_step_compiled_speedup"} <= metrics

    def broken(fn, mode=None):
        def call(*args, **kwargs):
            raise RuntimeError("backend exploded\nmore")
        return call
    monkeypatch.setattr(hf_train.torch, "compile", broken)
    rows = hf_train.hf_train_rows(CPU, repeats=1, size="tiny", with_compile=True)
    failed = [r for r in rows if r["metric"] == "train_compile_failed"]
    assert len(failed) == 1 and "RuntimeError: backend exploded" in failed[0]["note"]
    assert "train_step_compiled_speedup" not in {r["metric"] for r in rows}


def test_each_step_trains_its_model():
    """Every timed call is a whole step: the weights of ours and of HF's Marian move, on the same batch."""
    size = SIZES["tiny"]
    batch = random_batch(size, CPU)
    ours = build_model(ModelConfig(kind="transformer", d_model=size["d_model"], num_heads=size["num_heads"],
                                   num_layers=size["num_layers"], ffn_dim=size["ffn_dim"], dropout=0.0),
                       size["vocab"]).train()
    hf = build_marian(size["vocab"], size["d_model"], size["num_layers"], size["num_heads"], size["ffn_dim"]).train()
    for model, step in ((ours, train_step_fn(ours, batch, CPU)), (hf, hf_train.hf_train_step_fn(hf, batch, CPU))):
        before = [p.detach().clone() for p in model.parameters()]
        step()
        assert any(not torch.equal(a, b) for a, b in zip(model.parameters(), before)), type(model).__name__


def test_bad_size_and_repeats_are_refused():
    with pytest.raises(ConfigError, match="size"):
        hf_train.hf_train_rows(CPU, repeats=1, size="huge")
    with pytest.raises(ConfigError, match="repeats"):
        hf_train.hf_train_rows(CPU, repeats=0, size="tiny")
