"""Cost of contrastive decoding: expert + amateur stepped together, over the expert's greedy search alone.

Same batch, both forced to the full length (min_len = steps, so no row leaves early), timed interleaved in
one process; the row is the median of the paired ratios (see bench/run.py for why ratios, not absolute times).
"""
from __future__ import annotations

import statistics

import torch

from seqgap_lab.core.config import ModelConfig
from seqgap_lab.core.runtime import autocast, seed_everything
from seqgap_lab.core.timing import bench_row, interleaved
from seqgap_lab.decoding.contrastive import contrastive
from seqgap_lab.decoding.search import greedy
from seqgap_lab.models import build_model
from seqgap_lab.training.step_cost import SIZES, random_batch

TARGET_RATIO = 1.5  # issue 5: contrastive decoding at most 1.5x the expert's greedy time


def _pair(size: dict, device: torch.device):
    """The expert (the bench's Transformer of this size) and an amateur of the same vocabulary, ~1/4 wide
    and one layer deep (Li et al. pair GPT-2 XL with GPT-2 small)."""
    seed_everything(0)
    expert_cfg = ModelConfig(kind="transformer", d_model=size["d_model"], num_heads=size["num_heads"],
                             num_layers=size["num_layers"], ffn_dim=size["ffn_dim"], dropout=0.0)
    d = max(16, size["d_model"] // 4)
    amateur_cfg = ModelConfig(kind="transformer", d_model=d, num_heads=2, num_layers=1, ffn_dim=2 * d, dropout=0.0)
    return tuple(build_model(c, size["vocab"]).to(device).eval() for c in (expert_cfg, amateur_cfg))


def contrastive_rows(device: torch.device, repeats: int, size: dict = SIZES["peer"]) -> list[dict]:
    """Rows: contrastive (li2022) greedy time / expert greedy time, median of interleaved paired ratios."""
    expert, amateur = _pair(size, device)
    batch = random_batch(size, device)
    steps, mask = size["decode_steps"], batch.src_mask

    def expert_greedy():
        with torch.no_grad(), autocast(device):
            greedy(expert, batch.src, mask, steps, min_len=steps)

    def contrast():
        with torch.no_grad(), autocast(device):
            contrastive(expert, amateur, batch.src, mask, steps, min_len=steps)
    t = interleaved({"greedy": expert_greedy, "contrastive": contrast}, repeats, device)
    ratio = statistics.median(c / g for c, g in zip(t["contrastive"], t["greedy"]))
    n, params = size["batch"], [m.num_parameters() for m in (expert, amateur)]
    note = (f"{n} sentences x {steps} steps; expert {params[0]:,} / amateur {params[1]:,} parameters; "
            f"median paired ratio, target <= {TARGET_RATIO}")
    return [bench_row("transformer", "contrastive_over_greedy", ratio, "x", note),
            bench_row("transformer", "contrastive_sentences_per_s", n / statistics.median(t["contrastive"]), "sent/s")]
