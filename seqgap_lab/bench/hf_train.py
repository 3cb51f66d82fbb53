"""Peer benchmark of training: one teacher-forced step (forward, backward, AdamW) of our Transformer against an
HF MarianMT of the same size on the same batch, and our two-pass scheduled-sampling and MRT steps, all in target
tokens per second and timed interleaved in one process.

Both models have random weights (built from configs, never downloaded) and no dropout; each side computes the
token-level cross-entropy over the non-pad targets and takes one AdamW step. The speed-up is the median of the
paired (interleaved) time ratios HF / ours, as every ratio of `seqgap-lab bench` (core/timing.py).
"""
from __future__ import annotations

import statistics
from typing import Callable

import torch

from seqgap_lab.bench.hf import HF_MODEL, NO_TRANSFORMERS, peer_parser, print_rows
from seqgap_lab.bench.hf_adapter import build_marian, transformers_available
from seqgap_lab.core.config import ModelConfig, check_choice, check_int
from seqgap_lab.core.runtime import autocast, get_device, seed_everything
from seqgap_lab.core.timing import bench_row, interleaved
from seqgap_lab.data.batching import Batch
from seqgap_lab.data.vocab import PAD
from seqgap_lab.models import build_model
from seqgap_lab.strategies import get_strategy
from seqgap_lab.training.step_cost import SIZES, random_batch, train_step_fn

MRT_SAMPLES = 4  # candidates per source in the MRT step (the smallest of the MRT rows of bench/mrt.py)


def hf_train_step_fn(hf, batch: Batch, device: torch.device) -> Callable[[], None]:
    """One teacher-forced training step of an HF seq2seq model: its own label loss (pad targets ignored), AdamW."""
    opt = torch.optim.AdamW(hf.parameters(), lr=1e-4)
    mask = batch.src != PAD  # (B, S)
    labels = batch.tgt_out.masked_fill(batch.tgt_out == PAD, -100)  # (B, T): -100 is HF's ignore index

    def step() -> None:
        with autocast(device):
            loss = hf(input_ids=batch.src, attention_mask=mask, decoder_input_ids=batch.tgt_in, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def step_fns(size: dict, device: torch.device) -> tuple[dict[str, Callable[[], None]], Batch]:
    """Name -> one training step on the benchmark batch: ours (TF, two-pass SS, MRT) and HF Marian (TF)."""
    seed_everything(0)
    cfg = ModelConfig(kind="transformer", d_model=size["d_model"], num_heads=size["num_heads"],
                      num_layers=size["num_layers"], ffn_dim=size["ffn_dim"], dropout=0.0)
    ours = build_model(cfg, size["vocab"]).to(device).train()
    hf = build_marian(size["vocab"], size["d_model"], size["num_layers"], size["num_heads"], size["ffn_dim"],
                      max_positions=max(512, size["src_len"], size["tgt_len"] + 1)).to(device).train()
    batch = random_batch(size, device)
    ss = get_strategy("scheduled_sampling", mode="two_pass", schedule={"name": "constant", "p": 0.5})
    mrt = get_strategy("mrt", num_samples=MRT_SAMPLES, max_len_ratio=1.0)
    return {"transformer/tf": train_step_fn(ours, batch, device), f"{HF_MODEL}/tf": hf_train_step_fn(hf, batch, device),
            "transformer/ss_two_pass": train_step_fn(ours, batch, device, ss),
            "transformer/mrt": train_step_fn(ours, batch, device, mrt)}, batch


def hf_train_rows(device: torch.device | str, repeats: int, size: str = "peer") -> list[dict]:
    """Target tokens/s of every step and the speed-up of our TF step over HF's (median paired ratio); without
    transformers, one note row saying so."""
    check_choice("hf_train_rows", "size", size, tuple(SIZES))
    check_int("hf_train_rows", "repeats", repeats, 1, 1000)
    if not transformers_available():
        return [bench_row(HF_MODEL, "hf_train_rows_skipped", 0.0, "", NO_TRANSFORMERS)]
    dev = torch.device(device) if isinstance(device, str) else device
    spec = SIZES[size]
    fns, batch = step_fns(spec, dev)
    times = interleaved(fns, repeats, dev)
    tokens = int((batch.tgt_out != PAD).sum())
    note = (f"batch {spec['batch']} x {batch.tgt_out.shape[1]} targets, src_len {spec['src_len']}; d_model "
            f"{spec['d_model']}, {spec['num_layers']}+{spec['num_layers']} layers, vocab {spec['vocab']}; no dropout; "
            f"AdamW step included; random weights; MRT with {MRT_SAMPLES} samples")
    rows = [bench_row(name.split("/")[0], f"train_{name.split('/')[1]}_tokens_per_s",
                      tokens / statistics.median(t), "tok/s", note) for name, t in times.items()]
    ratio = statistics.median(h / o for h, o in zip(times[f"{HF_MODEL}/tf"], times["transformer/tf"]))
    rows.append(bench_row(f"transformer_vs_{HF_MODEL}", "train_step_speedup", ratio, "x",
                          f"median paired time ratio HF / ours over {repeats} interleaved repeats; {note}"))
    return rows


def main(argv: list[str] | None = None) -> int:
    """`python -m seqgap_lab.bench.hf_train [--size peer] [--repeats 5] [--device cpu]`: print the rows as JSON."""
    args = peer_parser(__doc__).parse_args(argv)
    dev = get_device(args.device)
    return print_rows(dev, args.size, hf_train_rows(dev, args.repeats, args.size))


if __name__ == "__main__":
    raise SystemExit(main())
