"""One training loop for every model and strategy: AdamW, warmup, clipping, AMP on CUDA, tqdm, history."""
from __future__ import annotations

import math
import time
from typing import Callable, Sequence

import pandas as pd
import torch
from tqdm.auto import tqdm

from seqgap_lab.core.config import TrainConfig
from seqgap_lab.core.runtime import autocast, seed_everything
from seqgap_lab.data.batching import bucketed_batches, infinite_batches
from seqgap_lab.models.base import Seq2SeqModel
from seqgap_lab.strategies import Strategy, get_strategy
from seqgap_lab.strategies.teacher_forcing import token_nll

Callback = Callable[[int, dict], None]


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warmup to 1, then cosine decay to 0.1 at the last step."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


@torch.no_grad()
def evaluate_loss(model: Seq2SeqModel, pairs: Sequence, device: torch.device, batch_size: int = 256) -> dict:
    """Teacher-forced loss and token accuracy on pairs (model left in its previous mode)."""
    was_training = model.training
    model.eval()
    total, correct, tokens = 0.0, 0, 0
    for batch in bucketed_batches(pairs, batch_size):
        batch = batch.to(device)
        with autocast(device):
            logits = model(batch.src, batch.tgt_in, batch.src_mask)
        n = batch.num_tgt_tokens
        total += float(token_nll(logits, batch.tgt_out)) * n
        correct += int(((logits.argmax(-1) == batch.tgt_out) & batch.tgt_mask).sum())
        tokens += n
    model.train(was_training)
    return {"dev_loss": total / tokens, "dev_token_acc": correct / tokens}


# Devices with torch's fused AdamW kernel (one kernel over every parameter instead of ~10 ops per tensor: 5x
# faster on the CPU for our model sizes; the same update to float rounding, tests/training/test_training_fast_paths.py).
FUSED_ADAMW_DEVICES = ("cpu", "cuda")


def adamw(module: torch.nn.Module, lr: float, weight_decay: float = 0.01) -> torch.optim.AdamW:
    """AdamW over the module's trainable parameters, fused where their device has the kernel. Build it after
    moving the module to its device."""
    params = [p for p in module.parameters() if p.requires_grad]
    fused = bool(params) and all(p.device.type in FUSED_ADAMW_DEVICES and p.is_floating_point() for p in params)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused or None)


def make_optimizer(model: torch.nn.Module, config: TrainConfig):
    """AdamW (`adamw`) and its schedule (linear warmup, then cosine decay to 0.1; lr_factor), shared by every
    training loop."""
    opt = adamw(model, config.lr, config.weight_decay)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, config.warmup_steps, config.steps))


def check_finite(loss: torch.Tensor, config: TrainConfig, steps: str) -> None:
    """Stop training with a hint when the loss is not finite (a host sync: called every step on the CPU, where
    it is free, and at log points on accelerators, where a per-step sync would stall the queue)."""
    if not torch.isfinite(loss):
        raise FloatingPointError(f"loss became {float(loss)} at step {steps}; lower TrainConfig.lr={config.lr}")


def optimizer_step(model: torch.nn.Module, loss: torch.Tensor, opt, sched, config: TrainConfig,
                   step: int) -> torch.Tensor:
    """One optimiser step with gradient clipping. On the CPU a non-finite loss stops training before the step.
    Returns the grad norm as a 0-d tensor (no host sync)."""
    if loss.device.type == "cpu":
        check_finite(loss.detach(), config, str(step))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip or float("inf"))
    opt.step()
    sched.step()
    return grad_norm.detach()


def train(model: Seq2SeqModel, train_pairs: Sequence, config: TrainConfig, device: torch.device,
          dev_pairs: Sequence | None = None, strategy: Strategy | None = None,
          callbacks: Sequence[Callback] = (), progress: bool = True) -> pd.DataFrame:
    """Train in place for config.steps steps; returns the history (one row per log point)."""
    seed_everything(config.seed)
    # Every strategy takes label_smoothing: it shapes the token-level loss they all build on.
    strategy = strategy or get_strategy(config.strategy, label_smoothing=config.label_smoothing,
                                        **config.strategy_args)
    model.to(device).train()
    opt, sched = make_optimizer(model, config)
    batches = infinite_batches(train_pairs, config.batch_size, config.seed)
    history, window = [], Window()
    bar = tqdm(range(config.steps), desc=f"train {model.kind}/{strategy.name}", disable=not progress, leave=False)
    for step in bar:
        batch = next(batches)
        tokens = batch.num_tgt_tokens  # counted on the host, before the copy
        batch = batch.to(device)
        with autocast(device):
            loss, logs = strategy.loss(model, batch, step)
        grad_norm = optimizer_step(model, loss, opt, sched, config, step)
        window.add(loss.detach(), tokens, logs)
        if (step + 1) % config.log_every == 0 or step + 1 == config.steps:
            row = window.flush(step + 1, sched.get_last_lr()[0], grad_norm, config)
            if dev_pairs is not None and step + 1 == config.steps:
                row.update(evaluate_loss(model, dev_pairs, device))
            history.append(row)
            bar.set_postfix(loss=f"{row['loss']:.3f}")
            for cb in callbacks:
                cb(step + 1, row)
    model.eval()
    return pd.DataFrame(history)


class Window:
    """Running means between two log points, and throughput. Values may be 0-d device tensors: they are summed
    on the device and read once per window (the only host syncs of a training loop on an accelerator)."""

    def __init__(self, throughput: bool = True):
        self.throughput = throughput  # False: no tokens_per_s column (a loop that counts no tokens, e.g. speech)
        self.start, self.sums, self.count, self.tokens = time.perf_counter(), {}, 0, 0

    def add(self, loss: torch.Tensor | float, tokens: int, logs: dict) -> None:
        """Accumulate one step."""
        self.count += 1
        self.tokens += tokens
        for key, value in {"loss": loss, **logs}.items():
            value = value.detach().float() if isinstance(value, torch.Tensor) else float(value)
            self.sums[key] = self.sums.get(key, 0.0) + value

    def flush(self, step: int, lr: float, grad_norm: torch.Tensor | float, config: TrainConfig) -> dict:
        """One history row of means since the last flush (non-finite loss: FloatingPointError); starts a new window."""
        sums = {k: float(v) for k, v in self.sums.items()}  # the window's one host sync
        check_finite(torch.tensor(sums["loss"]), config, f"{step - self.count + 1}-{step}")
        elapsed = time.perf_counter() - self.start
        row = {"step": step, "lr": lr, "grad_norm": float(grad_norm)}
        if self.throughput:
            row["tokens_per_s"] = self.tokens / max(elapsed, 1e-9)
        row.update({k: v / self.count for k, v in sums.items()})
        self.__init__(self.throughput)
        return row
