"""Scheduled sampling (Bengio et al. 2015), token level: feed the gold token with probability p_use_gt,
else the model's own prediction for that position.

Three ways to compute it, all through the model interface only:
- "sequential": exact. One `model.step` per position with gradient; the logits of position t-1, already
  computed for the loss, choose the input of position t (no second decoder call per step).
- "two_pass": parallel (Mihaylova & Martins 2019; Duckworth et al. 2019). The encoder runs once; a
  teacher-forced pass without gradient predicts every position, the predictions are mixed into the
  decoder input, and a second pass with gradient gives the loss. Optional extra passes re-predict
  from the previous mixed input. An approximation of sequential: a prediction is made from the gold
  (or previous pass's) prefix, not from the current mixed one. The two agree at p_use_gt=1, and at
  p_use_gt=0 once passes >= T-1 (each pass makes one more position of the greedy prefix exact).
- "naive": the textbook loop. At every position the whole mixed prefix is re-run through
  `decode_forward` with gradient: O(T^2) compute and memory, kept for the lesson and the benchmark.
  It computes the same thing as "sequential".
The prediction used for mixing is detached (argmax or a sample from the softmax), as in Bengio et al.
"""
from __future__ import annotations

from typing import Any

import torch

from seqgap_lab.core.config import ConfigError, check_choice, check_float, check_int
from seqgap_lab.data.vocab import PAD
from seqgap_lab.strategies.base import register
from seqgap_lab.strategies.schedules import Schedule, default_schedule, make_schedule
from seqgap_lab.strategies.teacher_forcing import token_nll

MODES = ("auto", "sequential", "two_pass", "naive")
MAX_PASSES = 16
_OWNER = "ScheduledSampling"


def draw_coins(tgt_in: torch.Tensor, p_use_gt: float) -> torch.Tensor:
    """(B, T) bool, True where the decoder reads the gold token: Bernoulli(p_use_gt) per token from the
    torch RNG; always True at BOS (position 0) and on padding, so only real choices are random."""
    coins = torch.rand(tgt_in.shape, device=tgt_in.device) < p_use_gt  # (B, T)
    coins |= tgt_in == PAD
    coins[:, 0] = True
    return coins


def predict(logits: torch.Tensor, sample: bool) -> torch.Tensor:
    """The model's own token from logits (..., V): argmax, or a draw from the softmax; no gradient."""
    logits = logits.detach().float()
    if not sample:
        return logits.argmax(-1)
    flat = logits.reshape(-1, logits.shape[-1]).softmax(-1)  # (N, V)
    return torch.multinomial(flat, 1).view(logits.shape[:-1])


def mix_shifted(tgt_in: torch.Tensor, predictions: torch.Tensor, coins: torch.Tensor) -> torch.Tensor:
    """Decoder input for a parallel pass: BOS, then gold or the prediction of the previous position."""
    shifted = torch.cat([tgt_in[:, :1], predictions[:, :-1]], dim=1)  # (B, T): position t reads pred t-1
    return torch.where(coins, tgt_in, shifted)


def sequential_logits(model, batch, coins: torch.Tensor, sample: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact scheduled sampling with one incremental decoder step per position -> (logits (B,T,V), fed (B,T))."""
    memory = model.encode(batch.src, batch.src_mask)
    state = model.init_state(memory, batch.src_mask)
    tokens, steps = batch.tgt_in[:, 0], []
    fed = [tokens]
    for t in range(batch.tgt_in.shape[1]):
        if t:
            tokens = torch.where(coins[:, t], batch.tgt_in[:, t], predict(steps[-1], sample))  # (B,)
            fed.append(tokens)
        logits, state = model.step(tokens, state)  # (B, V)
        steps.append(logits)
    return torch.stack(steps, dim=1), torch.stack(fed, dim=1)  # (B, T, V), (B, T)


def two_pass_logits(model, batch, coins: torch.Tensor, sample: bool = False,
                    passes: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Parallel scheduled sampling: `passes` prediction passes without gradient, then one with it."""
    memory = model.encode(batch.src, batch.src_mask)  # (B, S, D), shared by every pass
    fed = batch.tgt_in
    # The prediction passes run in the model's current mode (dropout on while training), as the
    # sequential mode's predictions come from the training logits themselves.
    with torch.no_grad():
        for _ in range(passes):
            predictions = predict(model.decode_forward(memory, batch.src_mask, fed), sample)  # (B, T)
            fed = mix_shifted(batch.tgt_in, predictions, coins)
    return model.decode_forward(memory, batch.src_mask, fed), fed  # (B, T, V), (B, T)


def naive_logits(model, batch, coins: torch.Tensor, sample: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Textbook scheduled sampling: the whole mixed prefix re-run at each position, with gradient (O(T^2))."""
    memory = model.encode(batch.src, batch.src_mask)
    fed, steps = batch.tgt_in[:, :1], []
    num_positions = batch.tgt_in.shape[1]
    for t in range(num_positions):
        logits = model.decode_forward(memory, batch.src_mask, fed)[:, -1]  # (B, V): the last position
        steps.append(logits)
        if t + 1 < num_positions:
            nxt = torch.where(coins[:, t + 1], batch.tgt_in[:, t + 1], predict(logits, sample))  # (B,)
            fed = torch.cat([fed, nxt[:, None]], dim=1)  # (B, t + 2)
    return torch.stack(steps, dim=1), fed  # (B, T, V), (B, T)


def _as_schedule(schedule: Any) -> Schedule:
    if schedule is None:
        return default_schedule()
    if isinstance(schedule, dict):
        params = dict(schedule)
        if "name" not in params:
            raise ConfigError(f"{_OWNER}.schedule = {schedule!r} is not allowed: a dict needs a 'name' key")
        return make_schedule(params.pop("name"), **params)
    if callable(schedule):
        return schedule
    raise ConfigError(f"{_OWNER}.schedule = {schedule!r} is not allowed: expected None, a callable "
                      "step -> p_use_gt, or a dict with 'name' and the schedule's parameters")


@register("scheduled_sampling")
class ScheduledSampling:
    """Token-level scheduled sampling; p_use_gt comes from `schedule(step)` (default: 1,000 steps of
    teacher forcing, then inverse-sigmoid decay)."""

    def __init__(self, schedule: Schedule | dict | None = None, mode: str = "auto", sample: bool = False,
                 passes: int = 1, label_smoothing: float = 0.0):
        check_choice(_OWNER, "mode", mode, MODES)
        if not isinstance(sample, bool):
            raise ConfigError(f"{_OWNER}.sample = {sample!r} is not allowed: expected True or False")
        check_int(_OWNER, "passes", passes, 1, MAX_PASSES)
        check_float(_OWNER, "label_smoothing", label_smoothing, 0.0, 1.0, hi_open=True)
        self.schedule = _as_schedule(schedule)
        self.mode, self.sample, self.passes, self.label_smoothing = mode, sample, passes, label_smoothing

    def resolve_mode(self, model) -> str:
        """The mode used for this model: "auto" is exact sequential for GRUs, parallel two-pass otherwise."""
        if self.mode != "auto":
            return self.mode
        return "sequential" if getattr(model, "kind", None) == "gru" else "two_pass"

    def mixed_logits(self, model, batch, coins: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B, T, V) and the tokens fed (B, T) for given coin flips, in this strategy's mode."""
        mode = self.resolve_mode(model)
        if mode == "sequential":
            return sequential_logits(model, batch, coins, self.sample)
        if mode == "naive":
            return naive_logits(model, batch, coins, self.sample)
        return two_pass_logits(model, batch, coins, self.sample, self.passes)

    def loss(self, model, batch, step):
        """Cross-entropy of the mixed-input pass; logs p_use_gt, token_acc, the fraction of decoder inputs that were
        the model's own, and of those that were its own and wrong (what can teach recovery)."""
        p_use_gt = self.schedule(step)
        check_float(_OWNER, "schedule(step) -> p_use_gt", p_use_gt, 0.0, 1.0)
        if p_use_gt >= 1.0:
            # Every coin would be gold: one teacher-forced call is the same loss (e.g. during the warmup).
            coins = torch.ones_like(batch.tgt_in, dtype=torch.bool)
            logits, fed = model(batch.src, batch.tgt_in, batch.src_mask), batch.tgt_in  # (B, T, V), (B, T)
        else:
            coins = draw_coins(batch.tgt_in, p_use_gt)
            logits, fed = self.mixed_logits(model, batch, coins)
        loss = token_nll(logits, batch.tgt_out, self.label_smoothing)
        return loss, _logs(logits, batch, coins, fed, p_use_gt)


def _logs(logits: torch.Tensor, batch, coins: torch.Tensor, fed: torch.Tensor, p_use_gt: float) -> dict:
    with torch.no_grad():
        mask = batch.tgt_mask
        acc = ((logits.argmax(-1) == batch.tgt_out) & mask).sum() / mask.sum()
        choices = batch.tgt_in[:, 1:] != PAD  # positions where a coin was really flipped
        count = choices.sum().clamp(min=1)
        model_fed = (~coins[:, 1:] & choices).sum() / count
        wrong = (~coins[:, 1:] & choices & (fed[:, 1:] != batch.tgt_in[:, 1:])).sum() / count
    # 0-d tensors, not floats: the training loop reads them at log points, so no host sync per step
    return {"p_use_gt": float(p_use_gt), "token_acc": acc, "model_token_frac": model_fed,
            "model_wrong_frac": wrong}

