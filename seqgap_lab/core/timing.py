"""Interleaved timing for benchmarks and step-cost tables: every candidate timed in turn, in one process.

Why interleaved: on a shared machine the speed drifts over seconds, so timing A's repeats and then B's would
compare two different machines; alternating them and taking the median of paired ratios does not.
"""
from __future__ import annotations

import time
from typing import Callable

import torch


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously); a no-op elsewhere."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device) -> float:
    """Wall seconds of one call of fn, the device synchronised before and after."""
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def interleaved(fns: dict[str, Callable[[], object]], repeats: int, device: torch.device) -> dict[str, list]:
    """{name: [seconds per repeat]}: one warm-up call each, then the functions called in turn `repeats` times."""
    for fn in fns.values():  # warm-up: first calls pay for allocation and kernel selection
        fn()
    times: dict[str, list] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(timed(fn, device))
    return times


def bench_row(model: str, metric: str, value: float, unit: str, note: str = "") -> dict:
    """One benchmark row in the format every row of `seqgap-lab bench` shares."""
    return {"model": model, "metric": metric, "value": round(float(value), 3), "unit": unit, "note": note}
