"""bench/hf_train.py: the training-step rows against HF MarianMT (tiny size, CPU; the peer numbers are in README)."""
from __future__ import annotations

import pytest
import torch

pytest.importorskip("transformers")

from seqgap_lab.bench import hf_train  # noqa: E402
from seqgap_lab.core.config import ConfigError  # noqa: E402
from seqgap_lab.training.step_cost import SIZES  # noqa: E402

CPU = torch.device("cpu")


def test_rows_cover_every_step_and_the_speedup():
    rows = hf_train.hf_train_rows(CPU, repeats=1, size="tiny")
    metrics = {(r["model"], r["metric"]) for r in rows}
    assert metrics == {("transformer", "train_tf_tokens_per_s"), ("hf_marian", "train_tf_tokens_per_s"),
                       ("transformer", "train_ss_two_pass_tokens_per_s"), ("transformer", "train_mrt_tokens_per_s"),
                       ("transformer_vs_hf_marian", "train_step_speedup")}
    assert all(r["value"] > 0 for r in rows)


def test_each_step_trains_its_model():
    """Every timed call is a whole step: the weights of both models move, on the same batch."""
    fns, batch = hf_train.step_fns(SIZES["tiny"], CPU)
    assert batch.tgt_out.shape == (SIZES["tiny"]["batch"], SIZES["tiny"]["tgt_len"])
    for name in ("transformer/tf", "hf_marian/tf"):
        model = fns[name].__closure__  # the step closes over its optimiser; read the params through it
        opt = next(c.cell_contents for c in model if isinstance(c.cell_contents, torch.optim.Optimizer))
        before = [p.detach().clone() for p in opt.param_groups[0]["params"]]
        fns[name]()
        after = opt.param_groups[0]["params"]
        assert any(not torch.equal(a, b) for a, b in zip(after, before)), name


def test_bad_size_and_repeats_are_refused():
    with pytest.raises(ConfigError, match="size"):
        hf_train.hf_train_rows(CPU, repeats=1, size="huge")
    with pytest.raises(ConfigError, match="repeats"):
        hf_train.hf_train_rows(CPU, repeats=0, size="tiny")
