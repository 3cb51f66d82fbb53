"""Side-by-side benchmark on the current device: training throughput, greedy decoding, cache speed-up, memory.

Timings on shared 2-core machines swing 2-4x between runs, so what we compare are ratios measured in
one process with the two variants interleaved (A, B, A, B, ...) and the median of the paired ratios.
"""
from __future__ import annotations

import statistics

import torch
from tqdm.auto import tqdm

from seqgap_lab.bench.bleu import bench_sentence_bleu
from seqgap_lab.bench.contrastive import contrastive_rows
from seqgap_lab.bench.hf import hf_rows
from seqgap_lab.bench.hf_train import hf_train_rows
from seqgap_lab.bench.mrt import mrt_rows
from seqgap_lab.bench.train_paths import dropout_site_rows, train_path_rows
from seqgap_lab.core.config import ModelConfig, check_choice, check_int
from seqgap_lab.core.runtime import autocast, device_description, get_device, peak_memory_mb, seed_everything
from seqgap_lab.core.timing import bench_row, interleaved
from seqgap_lab.decoding.search import greedy
from seqgap_lab.models import build_model
from seqgap_lab.training.step_cost import (
    SIZES,
    naive_greedy,
    random_batch,
    scheduled_sampling_rows,
    ss_length_rows,
    train_step_fn,
)


def bench_model(kind: str, size: dict, device: torch.device, repeats: int) -> list[dict]:
    """Rows for one model kind: train tokens/s, greedy sentences/s, the KV-cache speed-up, SS/TF step ratios."""
    seed_everything(0)
    cfg = ModelConfig(kind=kind, d_model=size["d_model"], num_heads=size["num_heads"],
                      num_layers=size["num_layers"], ffn_dim=size["ffn_dim"], dropout=0.0)
    model = build_model(cfg, size["vocab"]).to(device)
    batch = random_batch(size, device)
    model.train()
    train_times = interleaved({"train": train_step_fn(model, batch, device)}, repeats, device)["train"]
    model.eval()
    steps, mask = size["decode_steps"], batch.src_mask

    def cached():
        with torch.no_grad(), autocast(device):
            greedy(model, batch.src, mask, steps, min_len=steps)

    def uncached():
        with torch.no_grad(), autocast(device):
            naive_greedy(model, batch.src, steps)
    t = interleaved({"cached": cached, "uncached": uncached}, repeats, device)
    ratio = statistics.median(u / c for u, c in zip(t["uncached"], t["cached"]))
    n = size["batch"]
    rows = [
        bench_row(kind, "train_tgt_tokens_per_s", batch.num_tgt_tokens / statistics.median(train_times), "tok/s"),
        bench_row(kind, "greedy_sentences_per_s", n / statistics.median(t["cached"]), "sent/s",
             f"{n} sentences x {steps} steps, KV cache / hidden state"),
        bench_row(kind, "greedy_no_cache_sentences_per_s", n / statistics.median(t["uncached"]), "sent/s",
             "prefix re-run every step"),
        bench_row(kind, "greedy_cache_speedup", ratio, "x", "median paired ratio uncached/cached, same outputs"),
    ]
    model.train()
    rows += scheduled_sampling_rows(kind, model, batch, device, repeats)
    return rows + ss_length_rows(kind, model, size, device, repeats)


def memory_rows(device: torch.device) -> list[dict]:
    """Peak resident memory of this process, and peak GPU memory on CUDA."""
    return [bench_row("all", name, value, "MB") for name, value in peak_memory_mb(device).items()]


def decoding_rows(size: str, device: torch.device, repeats: int) -> list[dict]:
    """Beam-5 and greedy against HuggingFace generate (same size, built from a config), and contrastive
    decoding over expert greedy; HF rows become one note row where transformers is not installed."""
    return hf_rows(device, repeats, size, adapter=False) + contrastive_rows(device, repeats, SIZES[size])


def run_bench(size: str = "small", device: str | None = None, repeats: int = 5,
              kinds=("transformer", "gru"), progress: bool = True) -> dict:
    """Run every row on one device; returns {'device', 'size', 'rows': [...]}."""
    check_choice("bench", "size", size, tuple(SIZES))
    check_int("bench", "repeats", repeats, 1, 1000)  # a ConfigError (a ValueError), also for "5" or 2.5
    dev = get_device(device)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)

    # The sentence-BLEU rows are timed first (listed after the model rows): after the model rows (the
    # naive scheduled-sampling loop at T=100 frees ~1 GB of autograd buffers) the batched scorer runs
    # ~15% slower while sacrebleu's loop does not, so that order would time the heap they left behind.
    bleu_rows = bench_sentence_bleu(n_hyps=8 if size != "tiny" else 2, repeats=repeats)
    rows = []
    for kind in tqdm(kinds, desc="bench", disable=not progress):
        rows += bench_model(kind, SIZES[size], dev, repeats)
        rows += mrt_rows(kind, SIZES[size], dev, repeats)
    rows += train_path_rows(dev, repeats, size) + dropout_site_rows(dev, repeats, size)
    rows += hf_train_rows(dev, repeats, size) + decoding_rows(size, dev, repeats)
    rows += bleu_rows + memory_rows(dev)
    return {"device": device_description(dev), "size": size, "config": SIZES[size], "repeats": repeats,
            "torch": torch.__version__, "rows": rows}
