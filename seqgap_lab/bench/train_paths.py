"""Our training step against its own eager baseline, for the Transformer and the GRU, timed interleaved.

The baseline is the step as it was before the fast paths (issue 21): torch's dropout (F.dropout, and SDPA's
dropout_p, which leaves the fused kernel on the CPU), AdamW without the fused kernel, and a host sync per step
for the loss, the grad norm and the logs. The fast step is the training loop's own (training/loop.py): the CPU
dropout mask of models/dropout.py, fused AdamW, logs kept on the device until a log point. Both run dropout 0.1
(the lessons' models) on the same model and batch; each has its own optimiser. The loss surfaces agree (tests:
tests/training/test_training_fast_paths.py); the dropout draws differ, so the two are timed, not compared number by number.
"""
from __future__ import annotations

import statistics
from typing import Callable

import torch

from seqgap_lab.bench.hf import peer_parser, print_rows
from seqgap_lab.core.config import ModelConfig, TrainConfig, check_choice, check_int
from seqgap_lab.core.runtime import autocast, get_device, seed_everything
from seqgap_lab.core.timing import bench_row, interleaved
from seqgap_lab.data.batching import Batch
from seqgap_lab.models import build_model
from seqgap_lab.models.dropout import torch_dropout
from seqgap_lab.strategies import get_strategy
from seqgap_lab.training.loop import Window, make_optimizer, optimizer_step
from seqgap_lab.training.step_cost import SIZES, random_batch

DROPOUT = 0.1
KINDS = ("transformer", "gru")


def fast_step_fn(model, batch: Batch, device: torch.device, config: TrainConfig) -> Callable[[], None]:
    """One step of the training loop as it runs now (loop.train's body, without the batch iterator)."""
    strategy = get_strategy("teacher_forcing")
    opt, sched = make_optimizer(model, config)
    window, tokens = Window(), batch.num_tgt_tokens

    def step() -> None:
        with autocast(device):
            loss, logs = strategy.loss(model, batch, 0)
        optimizer_step(model, loss, opt, sched, config, 0)
        window.add(loss.detach(), tokens, logs)
    return step


def baseline_step_fn(model, batch: Batch, device: torch.device, config: TrainConfig) -> Callable[[], None]:
    """The same step as before the fast paths: torch's dropout, unfused AdamW, host syncs every step."""
    strategy = get_strategy("teacher_forcing")
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)

    def step() -> None:
        with torch_dropout(), autocast(device):
            loss, logs = strategy.loss(model, batch, 0)
        if not torch.isfinite(loss):
            raise FloatingPointError("baseline loss is not finite")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        opt.step()
        float(loss.detach()), float(grad_norm), {k: float(v) for k, v in logs.items()}
    return step


def train_path_rows(device: torch.device | str, repeats: int, size: str = "small") -> list[dict]:
    """Per kind: target tokens/s of the baseline and the fast step, and the median paired speed-up."""
    check_choice("train_path_rows", "size", size, tuple(SIZES))
    check_int("train_path_rows", "repeats", repeats, 1, 1000)
    dev = torch.device(device) if isinstance(device, str) else device
    spec, rows = SIZES[size], []
    config = TrainConfig(steps=1000, batch_size=spec["batch"], lr=1e-4, warmup_steps=0)
    for kind in KINDS:
        seed_everything(0)
        cfg = ModelConfig(kind=kind, d_model=spec["d_model"], num_heads=spec["num_heads"],
                          num_layers=spec["num_layers"], ffn_dim=spec["ffn_dim"], dropout=DROPOUT)
        model = build_model(cfg, spec["vocab"]).to(dev).train()
        batch = random_batch(spec, dev)
        times = interleaved({"baseline": baseline_step_fn(model, batch, dev, config),
                             "fast": fast_step_fn(model, batch, dev, config)}, repeats, dev)
        note = (f"dropout {DROPOUT}, grad clipping, batch {spec['batch']} x {spec['tgt_len']}, d_model "
                f"{spec['d_model']}, {spec['num_layers']}+{spec['num_layers']} layers, vocab {spec['vocab']}")
        for name, t in times.items():
            rows.append(bench_row(kind, f"train_{name}_tokens_per_s", batch.num_tgt_tokens / statistics.median(t),
                                  "tok/s", note))
        ratio = statistics.median(b / f for b, f in zip(times["baseline"], times["fast"]))
        rows.append(bench_row(kind, "train_fast_over_baseline_speedup", ratio, "x",
                              f"median paired time ratio baseline / fast over {repeats} repeats; {note}"))
    return rows


def dropout_site_rows(device: torch.device | str, repeats: int, size: str = "small") -> list[dict]:
    """The Transformer's fast step with dropout 0.1 at every site (this suite's first recipe: embeddings, residual
    branches, attention probabilities, FFN activations) against residual-only dropout 0.1 (attention_dropout =
    activation_dropout = 0, fairseq's and HF Marian's defaults), interleaved: target tokens/s of each and the
    median paired speed-up. Fewer masks, and attention without dropout keeps SDPA's fused kernel on the CPU."""
    check_choice("dropout_site_rows", "size", size, tuple(SIZES))
    check_int("dropout_site_rows", "repeats", repeats, 1, 1000)
    dev = torch.device(device) if isinstance(device, str) else device
    spec = SIZES[size]
    config = TrainConfig(steps=1000, batch_size=spec["batch"], lr=1e-4, warmup_steps=0)
    base = ModelConfig(kind="transformer", d_model=spec["d_model"], num_heads=spec["num_heads"],
                       num_layers=spec["num_layers"], ffn_dim=spec["ffn_dim"], dropout=DROPOUT)
    recipes = {"all_sites": base, "residual_only": base.replace(attention_dropout=0.0, activation_dropout=0.0)}
    batch, fns = random_batch(spec, dev), {}
    for name, cfg in recipes.items():
        seed_everything(0)
        fns[name] = fast_step_fn(build_model(cfg, spec["vocab"]).to(dev).train(), batch, dev, config)
    times = interleaved(fns, repeats, dev)
    note = (f"dropout {DROPOUT} at every site vs on embeddings and residual branches only; batch {spec['batch']} x "
            f"{spec['tgt_len']}, d_model {spec['d_model']}, {spec['num_layers']}+{spec['num_layers']} layers")
    rows = [bench_row("transformer", f"train_dropout_{name}_tokens_per_s", batch.num_tgt_tokens / statistics.median(t),
                      "tok/s", note) for name, t in times.items()]
    ratio = statistics.median(a / r for a, r in zip(times["all_sites"], times["residual_only"]))
    rows.append(bench_row("transformer", "train_residual_only_dropout_speedup", ratio, "x",
                          f"median paired time ratio all sites / residual only over {repeats} repeats; {note}"))
    return rows


def main(argv: list[str] | None = None) -> int:
    """`python -m seqgap_lab.bench.train_paths [--size small] [--repeats 5] [--device cpu]`: print the rows."""
    parser = peer_parser(__doc__)
    parser.set_defaults(size="small")
    args = parser.parse_args(argv)
    dev = get_device(args.device)
    rows = train_path_rows(dev, args.repeats, args.size) + dropout_site_rows(dev, args.repeats, args.size)
    return print_rows(dev, args.size, rows)


if __name__ == "__main__":
    raise SystemExit(main())
