"""Peer benchmark of training: one teacher-forced step (forward, backward, AdamW) of our Transformer against an
HF MarianMT of the same size on the same batch, and our two-pass scheduled-sampling and MRT steps, all in target
tokens per second and timed interleaved in one process.

Both models have random weights (built from configs, never downloaded); each side computes the token-level
cross-entropy over the non-pad targets and takes one AdamW step with the same optimiser (fused where the device
has the kernel, as our training loop and HF's Trainer default). Two settings: no dropout (the same arithmetic on
both sides) and dropout 0.1 on both (what the lessons train with: embeddings, residuals, attention probabilities,
FFN activations). The speed-up is the median of the paired (interleaved) time ratios HF / ours, as every ratio
of `seqgap-lab bench` (core/timing.py). On CUDA, our step also runs compiled (torch.compile, and with CUDA
graphs: mode "reduce-overhead") against the same eager HF step.
"""
from __future__ import annotations

import copy
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
from seqgap_lab.training.loop import adamw
from seqgap_lab.training.step_cost import SIZES, random_batch, train_step_fn

MRT_SAMPLES = 4  # candidates per source in the MRT step (the smallest of the MRT rows of bench/mrt.py)
DROPOUT = 0.1  # the dropout of the lessons' models (zoo configs), for the second pair of rows
COMPILE_MODES = {"compiled": None, "cudagraphs": "reduce-overhead"}  # name -> torch.compile mode (CUDA only)
COMPILE_WARMUP = 3  # calls before timing: the first compiles, CUDA graphs are recorded on a later one


def hf_train_step_fn(hf, batch: Batch, device: torch.device) -> Callable[[], None]:
    """One teacher-forced training step of an HF seq2seq model: its own label loss (pad targets ignored), AdamW."""
    opt = adamw(hf, lr=1e-4)
    mask = batch.src != PAD  # (B, S)
    labels = batch.tgt_out.masked_fill(batch.tgt_out == PAD, -100)  # (B, T): -100 is HF's ignore index

    def step() -> None:
        with autocast(device):
            loss = hf(input_ids=batch.src, attention_mask=mask, decoder_input_ids=batch.tgt_in, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def _ours(size: dict, device: torch.device, dropout: float):
    """Our Transformer of the benchmark size, seeded, in training mode with this dropout."""
    seed_everything(0)
    cfg = ModelConfig(kind="transformer", d_model=size["d_model"], num_heads=size["num_heads"],
                      num_layers=size["num_layers"], ffn_dim=size["ffn_dim"], dropout=dropout)
    return build_model(cfg, size["vocab"]).to(device).train()


def _models(size: dict, device: torch.device, dropout: float):
    """Our Transformer and an HF Marian of the same size, both in training mode with this dropout."""
    ours = _ours(size, device, dropout)
    hf = build_marian(size["vocab"], size["d_model"], size["num_layers"], size["num_heads"], size["ffn_dim"],
                      max_positions=max(512, size["src_len"], size["tgt_len"] + 1), dropout=dropout)
    return ours, hf.to(device).train()


def step_fns(size: dict, device: torch.device, dropout: float = 0.0,
             others: bool = True) -> tuple[dict[str, Callable[[], None]], Batch]:
    """Name -> one training step on the benchmark batch: ours (TF; with `others` also two-pass SS and MRT) and HF
    Marian (TF)."""
    ours, hf = _models(size, device, dropout)
    batch = random_batch(size, device)
    fns = {"transformer/tf": train_step_fn(ours, batch, device), f"{HF_MODEL}/tf": hf_train_step_fn(hf, batch, device)}
    if others:
        ss = get_strategy("scheduled_sampling", mode="two_pass", schedule={"name": "constant", "p": 0.5})
        mrt = get_strategy("mrt", num_samples=MRT_SAMPLES, max_len_ratio=1.0)
        fns.update({"transformer/ss_two_pass": train_step_fn(ours, batch, device, ss),
                    "transformer/mrt": train_step_fn(ours, batch, device, mrt)})
    return fns, batch


def compiled_fns(size: dict, device: torch.device, batch: Batch) -> tuple[dict, list[str]]:
    """On CUDA: name -> our teacher-forced step with the model compiled (COMPILE_MODES), each warmed up; and
    notes for modes that failed to compile (the rows say so instead of stopping the benchmark)."""
    fns, failed = {}, []
    ours = _ours(size, device, 0.0)  # the compiled rows need no HF model
    for name, mode in COMPILE_MODES.items():
        model = copy.deepcopy(ours)
        model.forward = torch.compile(model.forward, mode=mode)  # the instance attribute shadows the method
        step = train_step_fn(model, batch, device)
        try:
            for _ in range(COMPILE_WARMUP):
                step()
        except Exception as error:  # noqa: BLE001 - a backend failure is reported as a row, not raised
            failed.append(f"transformer/tf_{name}: {type(error).__name__}: {str(error).splitlines()[0][:200]}")
            continue
        fns[f"transformer/tf_{name}"] = step
    return fns, failed


def _rows(times: dict, tokens: int, note: str, suffix: str = "") -> list[dict]:
    """tok/s of every step and the speed-up of each of our TF steps over HF's (median paired ratio)."""
    rows = [bench_row(name.split("/")[0], f"train_{name.split('/')[1]}{suffix}_tokens_per_s",
                      tokens / statistics.median(t), "tok/s", note) for name, t in times.items()]
    hf = times[f"{HF_MODEL}/tf"]
    for name, t in times.items():
        if name.startswith("transformer/tf"):
            variant = name.split("/")[1][len("tf"):]
            rows.append(bench_row(f"transformer_vs_{HF_MODEL}", f"train_step{variant}{suffix}_speedup",
                                  statistics.median(h / o for h, o in zip(hf, t)), "x",
                                  f"median paired time ratio HF / ours over {len(t)} interleaved repeats; {note}"))
    return rows


def hf_train_rows(device: torch.device | str, repeats: int, size: str = "peer",
                  with_compile: bool | None = None) -> list[dict]:
    """Target tokens/s of every step and the speed-ups of our TF step over HF's, without and with dropout (and
    compiled, on CUDA by default); without transformers, one note row saying so."""
    check_choice("hf_train_rows", "size", size, tuple(SIZES))
    check_int("hf_train_rows", "repeats", repeats, 1, 1000)
    if not transformers_available():
        return [bench_row(HF_MODEL, "hf_train_rows_skipped", 0.0, "", NO_TRANSFORMERS)]
    dev = torch.device(device) if isinstance(device, str) else device
    spec = SIZES[size]
    fns, batch = step_fns(spec, dev)
    failed = []
    if dev.type == "cuda" if with_compile is None else with_compile:
        extra, failed = compiled_fns(spec, dev, batch)
        fns.update(extra)
    tokens = int((batch.tgt_out != PAD).sum())
    note = (f"batch {spec['batch']} x {batch.tgt_out.shape[1]} targets, src_len {spec['src_len']}; d_model "
            f"{spec['d_model']}, {spec['num_layers']}+{spec['num_layers']} layers, vocab {spec['vocab']}; "
            f"AdamW step included; random weights; MRT with {MRT_SAMPLES} samples")
    rows = _rows(interleaved(fns, repeats, dev), tokens, f"no dropout; {note}")
    drop_fns, _ = step_fns(spec, dev, DROPOUT, others=False)
    rows += _rows(interleaved(drop_fns, repeats, dev), tokens, f"dropout {DROPOUT} on both; {note}", "_dropout")
    return rows + [bench_row("transformer", "train_compile_failed", 0.0, "", why) for why in failed]


def main(argv: list[str] | None = None) -> int:
    """`python -m seqgap_lab.bench.hf_train [--size peer] [--repeats 5] [--device cpu] [--[no-]compile]`: print the
    rows as JSON (the compiled rows are on by default on CUDA only)."""
    parser = peer_parser(__doc__)
    parser.add_argument("--compile", action="store_true", default=None, help="compiled rows (default: on CUDA)")
    parser.add_argument("--no-compile", action="store_false", dest="compile", help="no compiled rows")
    args = parser.parse_args(argv)
    dev = get_device(args.device)
    return print_rows(dev, args.size, hf_train_rows(dev, args.repeats, args.size, args.compile))


if __name__ == "__main__":
    raise SystemExit(main())
