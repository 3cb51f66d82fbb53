"""Device choice, autocast and seeding."""
from __future__ import annotations

import contextlib

import pytest
import torch

from seqgap_lab.core.config import ConfigError
from seqgap_lab.core.runtime import autocast, autocast_dtype, get_device, peak_memory_mb, seed_everything


def test_explicit_and_env_device(monkeypatch):
    assert get_device("cpu").type == "cpu"
    monkeypatch.setenv("SEQGAP_DEVICE", "cpu")
    assert get_device().type == "cpu"


def test_auto_prefers_cuda_then_cpu(monkeypatch):
    monkeypatch.delenv("SEQGAP_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device().type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert get_device().type == "cpu"


def test_bad_device_names(monkeypatch):
    with pytest.raises(ConfigError, match="'tpu'"):
        get_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="CUDA is not available"):
        get_device("cuda")


def test_autocast_is_a_no_op_on_cpu():
    cpu = torch.device("cpu")
    assert autocast_dtype(cpu) is None
    assert isinstance(autocast(cpu), contextlib.nullcontext)
    with autocast(cpu):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_seeding_repeats():
    seed_everything(7)
    a = torch.rand(3), torch.randn(2)
    seed_everything(7)
    b = torch.rand(3), torch.randn(2)
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_peak_memory_reports_ram():
    mem = peak_memory_mb(torch.device("cpu"))
    assert mem["peak_ram_mb"] > 10 and "peak_gpu_mem_mb" not in mem
