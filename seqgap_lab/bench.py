"""Side-by-side benchmark on the current device: training throughput, greedy decoding, cache speed-up, memory.

Timings on shared 2-core machines swing 2-4x between runs, so what we compare are ratios measured in
one process with the two variants interleaved (A, B, A, B, ...) and the median of the paired ratios.
"""
from __future__ import annotations

import statistics
import time
from typing import Callable

import torch
from tqdm.auto import tqdm

from seqgap_lab.config import ModelConfig, check_choice, check_int
from seqgap_lab.data.batching import Batch
from seqgap_lab.data.tokenize import BOS, EOS
from seqgap_lab.decoding.search import greedy
from seqgap_lab.models import build_model
from seqgap_lab.runtime import autocast, device_description, get_device, peak_memory_mb, seed_everything
from seqgap_lab.strategies import get_strategy
from seqgap_lab.strategies.scheduled_sampling import ScheduledSampling
from seqgap_lab.strategies.schedules import constant

# "peer" matches the peer baselines in NOTES.md (HF MarianMT of the same size); "small" is quick on a CPU;
# "tiny" only checks that every row runs (tests). ss_lengths: the longer target lengths of the
# scheduled-sampling rows (ss_length_rows).
SIZES = {
    "tiny": dict(d_model=32, num_heads=2, num_layers=1, ffn_dim=64, vocab=50, batch=4, src_len=6,
                 tgt_len=6, decode_steps=6, ss_lengths=(8, 12)),
    "small": dict(d_model=128, num_heads=4, num_layers=2, ffn_dim=512, vocab=1000, batch=32, src_len=20,
                  tgt_len=20, decode_steps=20, ss_lengths=(40, 100)),
    "peer": dict(d_model=256, num_heads=4, num_layers=3, ffn_dim=1024, vocab=8000, batch=64, src_len=40,
                 tgt_len=40, decode_steps=50, ss_lengths=(40, 100)),
}
# Scheduled sampling: exact incremental (the GRU's default, also valid for the Transformer), parallel
# two-pass (the Transformer's default), and the naive O(T^2) loop.
SS_MODES = ("two_pass", "naive", "sequential")
# At the longer lengths: each kind's default mode, and the naive loop for the Transformer (the issue's
# "two-pass at most 1.4x a TF step at T=100; naive ~33x"). The GRU's naive loop is left out (as slow,
# and its sequential mode is already exact).
SS_LENGTH_MODES = {"transformer": ("two_pass", "naive"), "gru": ("sequential",)}
# The naive loop costs about T/2 teacher-forced steps, so at the longer lengths it runs on at most
# this many target tokens a step (fewer sentences than the batch) and this many timed repeats, with no
# warm-up of its own, against teacher-forcing steps on the same sentences. Each row's note says so.
NAIVE_MAX_TOKENS = 400
NAIVE_MAX_REPEATS = 2


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn: Callable[[], object], device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def _batch(size: dict, device: torch.device) -> Batch:
    g = torch.Generator().manual_seed(0)
    src = torch.randint(3, size["vocab"], (size["batch"], size["src_len"]), generator=g)
    tgt = torch.randint(3, size["vocab"], (size["batch"], size["tgt_len"] + 1), generator=g)
    tgt[:, 0] = BOS
    return Batch(src, tgt[:, :-1].contiguous(), tgt[:, 1:].contiguous()).to(device)


def _model_note(size: dict) -> str:
    return (f"d_model {size['d_model']}, {size['num_layers']}+{size['num_layers']} layers, "
            f"ffn {size['ffn_dim']}, vocab {size['vocab']}")


def naive_greedy(model, src: torch.Tensor, steps: int) -> torch.Tensor:
    """Greedy decoding without incremental state: the whole prefix is re-run at every step (reference)."""
    prefix = torch.full((src.shape[0], 1), BOS, dtype=torch.long, device=src.device)
    memory = model.encode(src, src != 0)
    for _ in range(steps):
        logits = model.decode_forward(memory, src != 0, prefix)[:, -1].float()  # (B, V)
        logits[:, EOS] = float("-inf")  # as greedy(min_len=steps): both run exactly `steps` steps
        prefix = torch.cat([prefix, logits.argmax(-1, keepdim=True)], 1)
    return prefix[:, 1:]


def _train_step_fn(model, batch: Batch, device: torch.device, strategy=None) -> Callable[[], None]:
    strategy = strategy or get_strategy("teacher_forcing")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step() -> None:
        with autocast(device):
            loss, _ = strategy.loss(model, batch, 0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def _interleaved(fns: dict[str, Callable[[], object]], repeats: int, device: torch.device) -> dict[str, list]:
    for fn in fns.values():  # warm-up: first calls pay for allocation and kernel selection
        fn()
    times: dict[str, list] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(_time(fn, device))
    return times


def bench_model(kind: str, size: dict, device: torch.device, repeats: int) -> list[dict]:
    """Rows for one model kind: train tokens/s, greedy sentences/s, the KV-cache speed-up, SS/TF step ratios."""
    seed_everything(0)
    cfg = ModelConfig(kind=kind, d_model=size["d_model"], num_heads=size["num_heads"],
                      num_layers=size["num_layers"], ffn_dim=size["ffn_dim"], dropout=0.0)
    model = build_model(cfg, size["vocab"]).to(device)
    batch = _batch(size, device)
    model.train()
    train_times = _interleaved({"train": _train_step_fn(model, batch, device)}, repeats, device)["train"]
    model.eval()
    steps, mask = size["decode_steps"], batch.src_mask

    def cached():
        with torch.no_grad(), autocast(device):
            greedy(model, batch.src, mask, steps, min_len=steps)

    def uncached():
        with torch.no_grad(), autocast(device):
            naive_greedy(model, batch.src, steps)
    t = _interleaved({"cached": cached, "uncached": uncached}, repeats, device)
    ratio = statistics.median(u / c for u, c in zip(t["uncached"], t["cached"]))
    n = size["batch"]
    rows = [
        _row(kind, "train_tgt_tokens_per_s", batch.num_tgt_tokens / statistics.median(train_times), "tok/s"),
        _row(kind, "greedy_sentences_per_s", n / statistics.median(t["cached"]), "sent/s",
             f"{n} sentences x {steps} steps, KV cache / hidden state"),
        _row(kind, "greedy_no_cache_sentences_per_s", n / statistics.median(t["uncached"]), "sent/s",
             "prefix re-run every step"),
        _row(kind, "greedy_cache_speedup", ratio, "x", "median paired ratio uncached/cached, same outputs"),
    ]
    model.train()
    rows += scheduled_sampling_rows(kind, model, batch, device, repeats)
    return rows + ss_length_rows(kind, model, size, device, repeats)


def scheduled_sampling_rows(kind: str, model, batch: Batch, device: torch.device, repeats: int,
                            modes: tuple = SS_MODES, suffix: str = "", note: str = "") -> list[dict]:
    """Training-step time of each scheduled-sampling mode over a teacher-forcing step, same batch, interleaved.

    Rows are named ss_<mode>_over_tf<suffix>; `note` (default: the target length) is each row's note.
    """
    # p_use_gt=0.5 below 1 so no step takes the teacher-forcing short-cut; the cost does not depend on p.
    fns = {"tf": _train_step_fn(model, batch, device)}
    for mode in modes:
        fns[mode] = _train_step_fn(model, batch, device, ScheduledSampling(schedule=constant(0.5), mode=mode))
    t = _interleaved(fns, repeats, device)
    rows = []
    for mode in modes:
        ratio = statistics.median(m / tf for m, tf in zip(t[mode], t["tf"]))
        rows.append(_row(kind, f"ss_{mode}_over_tf{suffix}", ratio, "x",
                         note or f"median paired step-time ratio, target length {batch.tgt_in.shape[1]}"))
    return rows


def ss_length_rows(kind: str, model, size: dict, device: torch.device, repeats: int,
                   lengths: tuple | None = None) -> list[dict]:
    """ss_<mode>_over_tf_t<T> rows: scheduled-sampling / teacher-forcing step time at longer targets.

    Source length = target length = T (default: the size's ss_lengths), same model and random tokens;
    modes from SS_LENGTH_MODES. The naive loop runs on a sub-batch (NAIVE_MAX_TOKENS), see above.
    """
    rows = []
    for tgt_len in size["ss_lengths"] if lengths is None else lengths:
        batch = _batch(dict(size, src_len=tgt_len, tgt_len=tgt_len), device)
        modes = SS_LENGTH_MODES.get(kind, ())
        plain = tuple(m for m in modes if m != "naive")
        if plain:
            note = (f"median paired step-time ratio; T={tgt_len} (target and source length), batch "
                    f"{size['batch']}, {_model_note(size)}; {repeats} repeats")
            rows += scheduled_sampling_rows(kind, model, batch, device, repeats, plain, f"_t{tgt_len}", note)
        if "naive" in modes:
            num = max(1, min(size["batch"], NAIVE_MAX_TOKENS // tgt_len))
            reps = min(repeats, NAIVE_MAX_REPEATS)
            sub = Batch(batch.src[:num], batch.tgt_in[:num], batch.tgt_out[:num])
            note = (f"median naive step time / median TF step time; T={tgt_len} (target and source length), "
                    f"batch {num}, {_model_note(size)}; naive is O(T^2): fewer sentences, {reps} repeats "
                    f"and no warm-up, between {max(repeats, reps)} TF steps on the same sentences")
            rows.append(_row(kind, f"ss_naive_over_tf_t{tgt_len}", _naive_ratio(model, sub, device, repeats, reps),
                             "x", note))
    return rows


def _naive_ratio(model, batch: Batch, device: torch.device, repeats: int, naive_repeats: int) -> float:
    """Median naive scheduled-sampling step time over the median teacher-forcing step time.

    The cheap TF step is timed `repeats` times (after a warm-up), the naive loop `naive_repeats` times
    in between: with only a couple of long naive runs, pairing each with one short TF run would let a
    single slow TF run decide the ratio.
    """
    tf = _train_step_fn(model, batch, device)
    naive = _train_step_fn(model, batch, device, ScheduledSampling(schedule=constant(0.5), mode="naive"))
    tf()
    t_tf, t_naive = [], []
    for i in range(max(repeats, naive_repeats)):
        t_tf.append(_time(tf, device))
        if i < naive_repeats:
            t_naive.append(_time(naive, device))
    return statistics.median(t_naive) / statistics.median(t_tf)


def _row(model: str, metric: str, value: float, unit: str, note: str = "") -> dict:
    return {"model": model, "metric": metric, "value": round(float(value), 3), "unit": unit, "note": note}


def memory_rows(device: torch.device) -> list[dict]:
    """Peak resident memory of this process, and peak GPU memory on CUDA."""
    return [_row("all", name, value, "MB") for name, value in peak_memory_mb(device).items()]


def decoding_rows(size: str, device: torch.device, repeats: int) -> list[dict]:
    """Beam-5 and greedy against HuggingFace generate (same size, built from a config), and contrastive
    decoding over expert greedy; HF rows become one note row where transformers is not installed."""
    from seqgap_lab.bench_contrastive import contrastive_rows
    from seqgap_lab.bench_hf import hf_rows
    return hf_rows(device, repeats, size, adapter=False) + contrastive_rows(device, repeats, SIZES[size])


def run_bench(size: str = "small", device: str | None = None, repeats: int = 5,
              kinds=("transformer", "gru"), progress: bool = True) -> dict:
    """Run every row on one device; returns {'device', 'size', 'rows': [...]}."""
    check_choice("bench", "size", size, tuple(SIZES))
    check_int("bench", "repeats", repeats, 1, 1000)  # a ConfigError (a ValueError), also for "5" or 2.5
    dev = get_device(device)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    from seqgap_lab.bench_bleu import bench_sentence_bleu  # CPU-only row: text scoring, not the model
    from seqgap_lab.bench_mrt import mrt_rows

    # The sentence-BLEU rows are timed first (listed after the model rows): after the model rows (the
    # naive scheduled-sampling loop at T=100 frees ~1 GB of autograd buffers) the batched scorer runs
    # ~15% slower while sacrebleu's loop does not, so that order would time the heap they left behind.
    bleu_rows = bench_sentence_bleu(n_hyps=8 if size != "tiny" else 2, repeats=repeats)
    rows = []
    for kind in tqdm(kinds, desc="bench", disable=not progress):
        rows += bench_model(kind, SIZES[size], dev, repeats)
        rows += mrt_rows(kind, SIZES[size], dev, repeats)
    rows += decoding_rows(size, dev, repeats)
    rows += bleu_rows + memory_rows(dev)
    return {"device": device_description(dev), "size": size, "config": SIZES[size], "repeats": repeats,
            "torch": torch.__version__, "rows": rows}
