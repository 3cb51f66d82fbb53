"""Step-cost tables: a scheduled-sampling or MRT step over a teacher-forcing step; benchmark sizes.

Ratios are medians of interleaved paired timings on the same batch. Used by notebooks 03 and 04 and by `seqgap-lab
bench`.
"""
from __future__ import annotations

import statistics
from typing import Callable

import torch

from seqgap_lab.core.runtime import autocast
from seqgap_lab.core.timing import bench_row, interleaved, timed
from seqgap_lab.data.batching import Batch
from seqgap_lab.data.vocab import BOS, EOS
from seqgap_lab.strategies import get_strategy
from seqgap_lab.strategies.scheduled_sampling import ScheduledSampling
from seqgap_lab.strategies.schedules import constant
from seqgap_lab.training.loop import adamw

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


def random_batch(size: dict, device: torch.device) -> Batch:
    g = torch.Generator().manual_seed(0)
    src = torch.randint(3, size["vocab"], (size["batch"], size["src_len"]), generator=g)
    tgt = torch.randint(3, size["vocab"], (size["batch"], size["tgt_len"] + 1), generator=g)
    tgt[:, 0] = BOS
    return Batch(src, tgt[:, :-1].contiguous(), tgt[:, 1:].contiguous()).to(device)


def model_note(size: dict) -> str:
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


def train_step_fn(model, batch: Batch, device: torch.device, strategy=None) -> Callable[[], None]:
    """One training step of `strategy` (default teacher forcing) on the batch: loss, backward, the training loop's
    AdamW (training/loop.adamw: fused where available)."""
    strategy = strategy or get_strategy("teacher_forcing")
    opt = adamw(model, lr=1e-4)

    def step() -> None:
        with autocast(device):
            loss, _ = strategy.loss(model, batch, 0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def scheduled_sampling_rows(kind: str, model, batch: Batch, device: torch.device, repeats: int,
                            modes: tuple = SS_MODES, suffix: str = "", note: str = "") -> list[dict]:
    """Training-step time of each scheduled-sampling mode over a teacher-forcing step, same batch, interleaved.

    Rows are named ss_<mode>_over_tf<suffix>; `note` (default: the target length) is each row's note.
    """
    # p_use_gt=0.5 below 1 so no step takes the teacher-forcing short-cut; the cost does not depend on p.
    fns = {"tf": train_step_fn(model, batch, device)}
    for mode in modes:
        fns[mode] = train_step_fn(model, batch, device, ScheduledSampling(schedule=constant(0.5), mode=mode))
    t = interleaved(fns, repeats, device)
    rows = []
    for mode in modes:
        ratio = statistics.median(m / tf for m, tf in zip(t[mode], t["tf"]))
        rows.append(bench_row(kind, f"ss_{mode}_over_tf{suffix}", ratio, "x",
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
        batch = random_batch(dict(size, src_len=tgt_len, tgt_len=tgt_len), device)
        modes = SS_LENGTH_MODES.get(kind, ())
        plain = tuple(m for m in modes if m != "naive")
        if plain:
            note = (f"median paired step-time ratio; T={tgt_len} (target and source length), batch "
                    f"{size['batch']}, {model_note(size)}; {repeats} repeats")
            rows += scheduled_sampling_rows(kind, model, batch, device, repeats, plain, f"_t{tgt_len}", note)
        if "naive" in modes:
            num = max(1, min(size["batch"], NAIVE_MAX_TOKENS // tgt_len))
            reps = min(repeats, NAIVE_MAX_REPEATS)
            sub = Batch(batch.src[:num], batch.tgt_in[:num], batch.tgt_out[:num])
            note = (f"median naive step time / median TF step time; T={tgt_len} (target and source length), "
                    f"batch {num}, {model_note(size)}; naive is O(T^2): fewer sentences, {reps} repeats "
                    f"and no warm-up, between {max(repeats, reps)} TF steps on the same sentences")
            rows.append(bench_row(kind, f"ss_naive_over_tf_t{tgt_len}", _naive_ratio(model, sub, device, repeats, reps),
                             "x", note))
    return rows


def _naive_ratio(model, batch: Batch, device: torch.device, repeats: int, naive_repeats: int) -> float:
    """Median naive scheduled-sampling step time over the median teacher-forcing step time.

    The cheap TF step is timed `repeats` times (after a warm-up), the naive loop `naive_repeats` times
    in between: with only a couple of long naive runs, pairing each with one short TF run would let a
    single slow TF run decide the ratio.
    """
    tf = train_step_fn(model, batch, device)
    naive = train_step_fn(model, batch, device, ScheduledSampling(schedule=constant(0.5), mode="naive"))
    tf()
    t_tf, t_naive = [], []
    for i in range(max(repeats, naive_repeats)):
        t_tf.append(timed(tf, device))
        if i < naive_repeats:
            t_naive.append(timed(naive, device))
    return statistics.median(t_naive) / statistics.median(t_tf)


MRT_SAMPLES = (4, 8)


def mrt_step_ratios(model, batch, device: torch.device, repeats: int, samples=MRT_SAMPLES,
                    max_len_ratio: float = 1.0) -> dict:
    """{n: (median paired MRT-step / TF-step time ratio, median TF step in ms)} on one batch, interleaved."""
    fns = {"tf": train_step_fn(model, batch, device)}
    for n in samples:
        fns[n] = train_step_fn(model, batch, device,
                                get_strategy("mrt", num_samples=n, max_len_ratio=max_len_ratio))
    times = interleaved(fns, repeats, device)
    tf_ms = statistics.median(times["tf"]) * 1e3
    return {n: (statistics.median(m / t for m, t in zip(times[n], times["tf"])), tf_ms) for n in samples}


# "peer" is the size of the HF MarianMT peer baselines measured on these machines (d_model 256, 3+3 layers,
# 4 heads, ffn 1024, vocab 8000); "small" is quick on a CPU;
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
