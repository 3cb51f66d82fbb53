"""TODO docstring."""
from __future__ import annotations

import time
from typing import Callable

import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def interleaved(fns: dict[str, Callable[[], object]], repeats: int, device: torch.device) -> dict[str, list]:
    for fn in fns.values():  # warm-up: first calls pay for allocation and kernel selection
        fn()
    times: dict[str, list] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(timed(fn, device))
    return times


def bench_row(model: str, metric: str, value: float, unit: str, note: str = "") -> dict:
    return {"model": model, "metric": metric, "value": round(float(value), 3), "unit": unit, "note": note}
