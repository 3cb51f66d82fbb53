"""Benchmark rows for minimum risk training: the step time of MRT (sampling n candidates per source with the
incremental state, then one teacher-forced pass with gradient over every candidate) over a teacher-forcing
step on the same batch, interleaved in one process (median of paired ratios, as in bench/run.py)."""
from __future__ import annotations

import torch

from seqgap_lab.core.config import ModelConfig
from seqgap_lab.core.runtime import seed_everything
from seqgap_lab.core.timing import bench_row
from seqgap_lab.models import build_model
from seqgap_lab.training.step_cost import MRT_SAMPLES, mrt_step_ratios, random_batch


def mrt_rows(kind: str, size: dict, device: torch.device, repeats: int, samples=MRT_SAMPLES) -> list[dict]:
    """mrt_n<N>_over_tf rows for one model kind at a bench size (random weights: samples run to max length)."""
    seed_everything(0)
    cfg = ModelConfig(kind=kind, d_model=size["d_model"], num_heads=size["num_heads"],
                      num_layers=size["num_layers"], ffn_dim=size["ffn_dim"], dropout=0.0)
    model = build_model(cfg, size["vocab"]).to(device).train()
    batch = random_batch(size, device)
    # max_len_ratio 1: candidates as long as the targets, so the ratio is the work of n + 1 sequences.
    ratios = mrt_step_ratios(model, batch, device, repeats, samples)
    note = (f"median paired step-time ratio; batch {size['batch']} x target length {batch.tgt_in.shape[1]}, "
            f"candidates up to the target length (random weights rarely stop early)")
    return [bench_row(kind, f"mrt_n{n}_over_tf", ratios[n][0], "x", note) for n in samples]
