"""Named, cached runs: a trained model is looked up by a hash of its full config, else trained and saved."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
import torch

from seqgap_lab.core import budget, paths
from seqgap_lab.core.cache import config_hash, file_lock, load_checkpoint, save_checkpoint
from seqgap_lab.core.config import ModelConfig, TaskConfig, TrainConfig
from seqgap_lab.models import Seq2SeqModel
from seqgap_lab.strategies import Strategy
from seqgap_lab.training.loop import train


def run_config(task: TaskConfig, model: ModelConfig, train_cfg: TrainConfig) -> dict:
    """The full config that identifies a trained model (what the cache key hashes)."""
    return {"task": task.to_dict(), "model": model.to_dict(), "train": train_cfg.to_dict()}


def checkpoint_path(task: TaskConfig, model: ModelConfig, train_cfg: TrainConfig) -> Path:
    """Where the checkpoint for this config lives: data/checkpoints/<task>-<model>-<strategy>-<hash>.pt."""
    return _path(run_prefix(task, model, train_cfg), run_config(task, model, train_cfg))


def run_prefix(task: TaskConfig, model: ModelConfig, train_cfg: TrainConfig) -> str:
    return f"{task.name}-{model.kind}-{train_cfg.strategy}"


def _path(prefix: str, config: dict) -> Path:
    return paths.data_dir() / "checkpoints" / f"{prefix}-{config_hash(config)}.pt"


@dataclass
class CachedRun:
    """What cached_train returns: the model (eval mode, on the device) and its provenance."""

    model: Seq2SeqModel
    history: pd.DataFrame
    checkpoint: Path
    from_cache: bool
    train_seconds: float


def cached_train(prefix: str, config: dict, model: Seq2SeqModel, train_pairs, dev_pairs, train_cfg: TrainConfig,
                 device: torch.device, retrain: bool = False, progress: bool = True,
                 strategy: Strategy | None = None, monitor: Callable[[Seq2SeqModel], dict] | None = None) -> CachedRun:
    """Load `model`'s weights from the checkpoint keyed by `config`, or train it and save atomically.

    `config` must identify everything that shaped the weights (data, tokenizer, model, training, and the
    parent or teacher if any). `train_pairs` may be a callable returning the pairs: it is then called only
    when training is needed (teacher outputs are costly). A corrupt checkpoint, or one whose stored config
    differs, raises CacheError (never used silently); retrain=True overwrites it. Two processes asking for
    the same uncached model train it once: the second waits on a file lock, then loads (cache.file_lock).
    `monitor(model) -> dict` is called at every log point while training and its numbers join the history
    (so the cache keeps them).
    """
    # budget_scale (core/budget.py): fewer steps, and a key of their own so they never pass for a full run.
    config, train_cfg = budget.keyed(config), budget.scaled(train_cfg)
    path = _path(prefix, config)
    if path.exists() and not retrain:
        return _load_run(path, config, model, device)
    # Two processes asking for the same model (a notebook open during `make report`) train it once: the
    # second waits for the lock, then finds the checkpoint the first one saved.
    with file_lock(path, f"training {path.stem}"):
        if path.exists() and not retrain:
            return _load_run(path, config, model, device)
        start = time.perf_counter()
        if callable(train_pairs):
            train_pairs = train_pairs()
        callbacks = [lambda step, row: row.update(monitor(model))] if monitor else []
        history = train(model, train_pairs, train_cfg, device, dev_pairs=dev_pairs, strategy=strategy,
                        callbacks=callbacks, progress=progress)
        seconds = time.perf_counter() - start
        save_checkpoint(path, config, model.state_dict(),
                        {"history": history.to_dict("records"), "train_seconds": seconds})
    return CachedRun(model.eval(), history, path, False, seconds)


def _load_run(path: Path, config: dict, model: Seq2SeqModel, device: torch.device) -> CachedRun:
    """The cached run at `path` (verified against `config`), its weights loaded into `model`."""
    payload = load_checkpoint(path, config)
    model.load_state_dict(payload["state_dict"])
    extra = payload["extra"]
    return CachedRun(model.to(device).eval(), pd.DataFrame(extra.get("history", [])), path, True,
                     float(extra.get("train_seconds", 0.0)))


