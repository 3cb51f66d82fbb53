"""Schedules for scheduled sampling: plain callables `step -> p_use_gt`, each with a teacher-forcing warmup.

Bengio et al. (2015) decay the probability of feeding the gold token from 1 (teacher forcing) towards
a floor. A schedule here is a `functools.partial` over a pure function: callable, picklable, and its
repr names the schedule and its parameters (useful in logs and notebooks).
"""
from __future__ import annotations

import inspect
import math
from functools import partial
from typing import Any, Callable

from seqgap_lab.core.config import ConfigError, check_choice, check_float, check_int

Schedule = Callable[[int], float]

# Default: teacher forcing for 1,000 steps (docs/scope.md), then inverse sigmoid with k=500. With k=500,
# p_use_gt(s) = 500 / (500 + exp(s / 500)) is 0.998 at s=0, 0.9 at s~2,000, 0.5 at s~3,100 and 0.1 at
# s~4,200 steps after the warmup: a gradual decay over a few thousand steps.
DEFAULT_WARMUP_STEPS = 1000
DEFAULT_INVERSE_SIGMOID_K = 500.0


def _constant(step: int, p: float) -> float:
    return p


def _linear(step: int, k: float, c: float, eps_min: float) -> float:
    return max(eps_min, k - c * step)


def _exponential(step: int, k: float) -> float:
    return k ** step


def _inverse_sigmoid(step: int, k: float) -> float:
    z = step / k
    # exp overflows a float past ~709; the value there is already below 1e-300.
    return 0.0 if z > 700 else k / (k + math.exp(z))


def _warm(step: int, schedule: Schedule, warmup_steps: int) -> float:
    return 1.0 if step < warmup_steps else schedule(step - warmup_steps)


def constant(p: float) -> Schedule:
    """p_use_gt = p at every step."""
    check_float("constant", "p", p, 0.0, 1.0)
    return partial(_constant, p=float(p))


def linear(c: float, k: float = 1.0, eps_min: float = 0.0) -> Schedule:
    """p_use_gt = max(eps_min, k - c * step)."""
    check_float("linear", "k", k, 0.0, 1.0)
    check_float("linear", "c", c, 0.0, 1.0)
    check_float("linear", "eps_min", eps_min, 0.0, k)
    return partial(_linear, k=float(k), c=float(c), eps_min=float(eps_min))


def exponential(k: float) -> Schedule:
    """p_use_gt = k ** step, 0 < k < 1."""
    check_float("exponential", "k", k, 0.0, 1.0, lo_open=True, hi_open=True)
    return partial(_exponential, k=float(k))


def inverse_sigmoid(k: float = DEFAULT_INVERSE_SIGMOID_K) -> Schedule:
    """p_use_gt = k / (k + exp(step / k)), k >= 1 (larger k decays later and more slowly)."""
    check_float("inverse_sigmoid", "k", k, 1.0, 1e9)
    return partial(_inverse_sigmoid, k=float(k))


def with_warmup(schedule: Schedule, warmup_steps: int) -> Schedule:
    """1.0 (teacher forcing) for the first warmup_steps steps, then schedule(step - warmup_steps)."""
    check_int("with_warmup", "warmup_steps", warmup_steps, 0)
    if not callable(schedule):
        raise ConfigError(f"with_warmup.schedule = {schedule!r} is not allowed: expected a callable step -> p_use_gt")
    return partial(_warm, schedule=schedule, warmup_steps=warmup_steps)


SCHEDULES: dict[str, Callable[..., Schedule]] = {
    "constant": constant, "linear": linear, "exponential": exponential, "inverse_sigmoid": inverse_sigmoid,
}


def make_schedule(name: str, warmup_steps: int = 0, **params: Any) -> Schedule:
    """A named schedule with its parameters, wrapped in a teacher-forcing warmup; bad values raise ConfigError."""
    check_choice("schedule", "name", name, tuple(SCHEDULES))
    factory = SCHEDULES[name]
    signature = inspect.signature(factory).parameters
    unknown = sorted(set(params) - set(signature))
    if unknown:
        raise ConfigError(f"schedule {name!r}: unknown parameter(s) {unknown}; allowed: "
                          f"{sorted(signature) + ['warmup_steps']}")
    missing = [p for p, spec in signature.items() if spec.default is inspect.Parameter.empty and p not in params]
    if missing:
        raise ConfigError(f"schedule {name!r}: missing parameter(s) {missing}")
    return with_warmup(factory(**params), warmup_steps)


def default_schedule() -> Schedule:
    """Teacher forcing for 1,000 steps, then inverse-sigmoid decay with k=500 (see the module constants)."""
    return make_schedule("inverse_sigmoid", warmup_steps=DEFAULT_WARMUP_STEPS, k=DEFAULT_INVERSE_SIGMOID_K)
