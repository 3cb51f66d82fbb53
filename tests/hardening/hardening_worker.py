"""The subprocess side of the hardening tests (run as a script): hold a file lock, or train a tiny cached model.

    python tests/hardening/hardening_worker.py lock TARGET HELD_FLAG
        take cache.file_lock(TARGET), touch HELD_FLAG, sleep
    python tests/hardening/hardening_worker.py train STEPS [READY GO]
        trained_model of the tiny config (cached under $SEQGAP_DATA_DIR); with READY/GO: touch READY, wait for GO,
        so that several workers ask at the same moment
Prints one JSON line: {"from_cache", "digest", "checkpoint"} for train. The tests next to it (test_file_lock.py,
test_kill_resume.py, test_safety.py) import its tiny config and state_digest; it imports nothing from tests/helpers.py
(whose imports add about half a second), so that it starts as fast as the package allows: test_kill_resume.py kills
it at points measured from the package's import time.
"""
from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

from seqgap_lab.core.config import ModelConfig, TaskConfig, TrainConfig
from seqgap_lab.zoo import synthetic

TASK = TaskConfig(name="copy", min_len=2, train_max_len=6, test_max_len=8, num_symbols=6,
                  num_train=200, num_dev=20, num_test=20)
MODEL = ModelConfig(kind="gru", d_model=32, num_heads=2, num_layers=1, ffn_dim=64, dropout=0.0, max_positions=64)


def train_config(steps: int) -> TrainConfig:
    """The tiny training config; `steps` sets how long training takes."""
    return TrainConfig(steps=steps, batch_size=16, warmup_steps=2, log_every=max(1, steps // 4))


def state_digest(state_dict: dict) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in key order: equal weights <=> equal digests."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        h.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        h.update(tensor.numpy().tobytes())
    return h.hexdigest()


def _wait_for(path: Path) -> None:
    while not path.exists():
        time.sleep(0.005)


def _lock(target: str, held_flag: str) -> None:
    from seqgap_lab.core.cache import file_lock

    with file_lock(target, "building the test target"):
        Path(held_flag).touch()
        time.sleep(3600)  # held until the test kills this process


def _train(steps: str, ready: str | None = None, go: str | None = None) -> None:
    import torch


    torch.set_num_threads(1)  # as in the test session: a tiny model, and the same numbers in every process
    if ready and go:
        Path(ready).touch()
        _wait_for(Path(go))
    run = synthetic.trained_model(TASK, MODEL, train_config(int(steps)), device="cpu", progress=False)
    print(json.dumps({"from_cache": run.from_cache, "digest": state_digest(run.model.state_dict()),
                      "checkpoint": str(run.checkpoint)}), flush=True)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"lock": _lock, "train": _train}[command](*args)
