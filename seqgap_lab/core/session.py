"""One notebook session: the device, the thread policy, the timer and summary.json, the same in every notebook.

Every notebook starts with `session.start(STEM, profile)` and ends with `sess.write_summary({...})`, so the
lines each notebook used to copy (device choice, thread count, timer, memory peaks, the summary file) live here
once, with one thread rule for all of them (`cpu_threads`).
"""
from __future__ import annotations

import math
import numbers
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from seqgap_lab.core import budget, paths
from seqgap_lab.core.cache import atomic_write_json
from seqgap_lab.core.config import ConfigError, check_bool, check_profile
from seqgap_lab.core.runtime import device_description, get_device, peak_memory_mb

STEM_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def cpu_threads(profile: str, step_bound: bool = False) -> int | None:
    """The intra-op thread count a notebook uses on the CPU, or None to keep torch's default (all cores).

    One rule for every notebook: the smoke profile's models are tiny, and so are the ones of notebooks whose time
    goes to step-by-step decoding of small models (`step_bound`: 06 and 07) in every profile but full; for them
    extra threads only add synchronisation (measured on the shared 2-core machine: notebook 06 default took
    8.6 min with 1 thread and 13.8 min with 2). Everything else keeps all cores, or as many as a Ray task was
    given ($SEQGAP_TORCH_THREADS).
    """
    profile = check_profile(profile)
    check_bool("session", "step_bound", step_bound)
    cap = _thread_cap()
    if profile == "smoke" or (step_bound and profile != "full"):
        return 1
    return cap


THREADS_ENV = "SEQGAP_TORCH_THREADS"


def _thread_cap() -> int | None:
    """$SEQGAP_TORCH_THREADS (checked), the CPUs a Ray task was given: a notebook run there uses no more; else None."""
    raw = os.environ.get(THREADS_ENV)
    if raw in (None, ""):
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{THREADS_ENV} = {raw!r} is not allowed: expected an integer >= 1")
    return int(raw)


@dataclass
class Session:
    """What a running notebook knows about itself: stem, profile, device and when it started."""

    stem: str
    profile: str
    device: torch.device
    started: float = field(default_factory=time.perf_counter)

    @property
    def device_name(self) -> str:
        """The device in words, e.g. 'cpu (1 threads)' or 'cuda (NVIDIA H200)'."""
        return device_description(self.device)

    def elapsed_s(self) -> float:
        """Seconds since the session started, rounded to 0.1 s."""
        return round(time.perf_counter() - self.started, 1)

    def write_summary(self, summary: Mapping[str, Any]) -> Path:
        """Write reports/<stem>/summary.json: the notebook's numbers plus profile, device, run time and peak memory."""
        if not isinstance(summary, Mapping):
            raise TypeError(f"summary must be a dict, got {type(summary).__name__}")
        scale = budget.budget_scale()  # stated only when it is not 1, so ordinary summaries are as before
        full = {"profile": self.profile, **({"budget_scale": scale} if scale != 1.0 else {}),
                "device": self.device_name, **summary, "elapsed_s": self.elapsed_s(), **peak_memory_mb(self.device)}
        return write_summary(self.stem, full)


def start(stem: str, profile: str, step_bound: bool = False, device: str | None = None) -> Session:
    """Begin a notebook: check the stem and profile, pick the device, apply the thread rule, start the timer."""
    check_stem(stem)
    profile = check_profile(profile)
    dev = get_device(device)
    threads = cpu_threads(profile, step_bound)
    if dev.type == "cpu" and threads is not None:
        torch.set_num_threads(threads)
    return Session(stem, profile, dev)


def check_stem(stem: str) -> str:
    """The stem, if it is a plain notebook stem; ValueError otherwise (it becomes a folder name)."""
    if not isinstance(stem, str) or not STEM_RE.match(stem):
        # Why: the stem becomes a folder name; a path separator would write outside reports/.
        raise ValueError(f"stem = {stem!r} is not a plain notebook stem such as '03_scheduled_sampling'")
    return stem


def write_summary(stem: str, summary: Mapping[str, Any]) -> Path:
    """Atomically write a notebook's headline numbers to reports/<stem>/summary.json."""
    check_stem(stem)
    if not isinstance(summary, Mapping):
        raise TypeError(f"summary must be a dict, got {type(summary).__name__}")
    clean = {str(key): jsonable(value, str(key)) for key, value in summary.items()}
    return atomic_write_json(paths.reports_dir(stem) / "summary.json", clean)


def jsonable(value: Any, key: str) -> Any:
    """Plain-JSON copy of value; numpy/torch scalars become Python numbers, NaN/inf become null."""
    if getattr(value, "ndim", None) == 0 and callable(getattr(value, "item", None)):
        value = value.item()  # numpy scalars and 0-d numpy arrays / torch tensors
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        # Why null: json would write NaN/Infinity, which strict readers (browsers, jq) reject.
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, f"{key}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, f"{key}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"summary value {key!r} is a {type(value).__name__}, which is not JSON-serialisable; "
                    "pass numbers, strings, bools, None, lists or dicts of them")
