"""Device choice (cuda > mps > cpu), autocast dtype, seeding and determinism."""
from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch

from seqgap_lab.core.config import ConfigError

DEVICES = ("auto", "cpu", "cuda", "mps")


def get_device(name: str | None = None) -> torch.device:
    """Pick a device: `name` or $SEQGAP_DEVICE if given, else cuda > mps > cpu."""
    name = name or os.environ.get("SEQGAP_DEVICE") or "auto"
    if name not in DEVICES and not name.startswith("cuda:"):
        raise ConfigError(f"device = {name!r} is not allowed: expected one of {' | '.join(DEVICES)} or cuda:N")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device = {name!r} was asked for but CUDA is not available here")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device = 'mps' was asked for but MPS is not available here")
    return torch.device(name)


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """bf16 on CUDA (where supported), otherwise None: CPU runs stay fp32 for exactness."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def autocast(device: torch.device):
    """Context manager: bf16 autocast on CUDA, a no-op elsewhere."""
    dtype = autocast_dtype(device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) so CPU runs repeat exactly."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def device_description(device: torch.device) -> str:
    """Human-readable device name, e.g. 'cuda (NVIDIA H200)' or 'cpu (2 threads)'."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type


def peak_memory_mb(device: torch.device | None = None) -> dict:
    """Peak resident memory of this process in MB, plus peak GPU memory allocated on CUDA."""
    import resource

    out = {"peak_ram_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if device is not None and device.type == "cuda":
        out["peak_gpu_mem_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return out
