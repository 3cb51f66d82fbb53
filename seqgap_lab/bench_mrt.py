"""Benchmark rows for minimum risk training: the step time of MRT (sampling n candidates per source with the
incremental state, then one teacher-forced pass with gradient over every candidate) over a teacher-forcing
step on the same batch, interleaved in one process (median of paired ratios, as in bench.py)."""
from __future__ import annotations

import statistics

import torch

from seqgap_lab.bench import _batch, _interleaved, _row, _train_step_fn
from seqgap_lab.config import ModelConfig
from seqgap_lab.models import build_model
from seqgap_lab.runtime import seed_everything
from seqgap_lab.strategies import get_strategy

MRT_SAMPLES = (4, 8)


def mrt_step_ratios(model, batch, device: torch.device, repeats: int, samples=MRT_SAMPLES,
                    max_len_ratio: float = 1.0) -> dict:
    """{n: (median paired MRT-step / TF-step time ratio, median TF step in ms)} on one batch, interleaved."""
    fns = {"tf": _train_step_fn(model, batch, device)}
    for n in samples:
        fns[n] = _train_step_fn(model, batch, device,
                                get_strategy("mrt", num_samples=n, max_len_ratio=max_len_ratio))
    times = _interleaved(fns, repeats, device)
    tf_ms = statistics.median(times["tf"]) * 1e3
    return {n: (statistics.median(m / t for m, t in zip(times[n], times["tf"])), tf_ms) for n in samples}


def mrt_rows(kind: str, size: dict, device: torch.device, repeats: int, samples=MRT_SAMPLES) -> list[dict]:
    """mrt_n<N>_over_tf rows for one model kind at a bench size (random weights: samples run to max length)."""
    seed_everything(0)
    cfg = ModelConfig(kind=kind, d_model=size["d_model"], num_heads=size["num_heads"],
                      num_layers=size["num_layers"], ffn_dim=size["ffn_dim"], dropout=0.0)
    model = build_model(cfg, size["vocab"]).to(device).train()
    batch = _batch(size, device)
    # max_len_ratio 1: candidates as long as the targets, so the ratio is the work of n + 1 sequences.
    ratios = mrt_step_ratios(model, batch, device, repeats, samples)
    note = (f"median paired step-time ratio; batch {size['batch']} x target length {batch.tgt_in.shape[1]}, "
            f"candidates up to the target length (random weights rarely stop early)")
    return [_row(kind, f"mrt_n{n}_over_tf", ratios[n][0], "x", note) for n in samples]
