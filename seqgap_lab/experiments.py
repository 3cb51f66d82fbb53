"""Named, cached runs: a trained model is looked up by a hash of its full config, else trained and saved."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from seqgap_lab import paths
from seqgap_lab.cache import config_hash, load_checkpoint, save_checkpoint
from seqgap_lab.config import ModelConfig, TaskConfig, TrainConfig
from seqgap_lab.data.tasks import Splits, Task, make_task
from seqgap_lab.models import Seq2SeqModel, build_model
from seqgap_lab.runtime import get_device, seed_everything
from seqgap_lab.train import train


@dataclass
class TrainedModel:
    """A model with the task it was trained on, its data splits, history and cache provenance."""

    model: Seq2SeqModel
    task: Task
    splits: Splits
    history: pd.DataFrame
    checkpoint: Path
    from_cache: bool
    train_seconds: float


def run_config(task: TaskConfig, model: ModelConfig, train_cfg: TrainConfig) -> dict:
    """The full config that identifies a trained model (what the cache key hashes)."""
    return {"task": task.to_dict(), "model": model.to_dict(), "train": train_cfg.to_dict()}


def checkpoint_path(task: TaskConfig, model: ModelConfig, train_cfg: TrainConfig) -> Path:
    """Where the checkpoint for this config lives: data/checkpoints/<task>-<model>-<strategy>-<hash>.pt."""
    return _path(_prefix(task, model, train_cfg), run_config(task, model, train_cfg))


def _prefix(task: TaskConfig, model: ModelConfig, train_cfg: TrainConfig) -> str:
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
                 device: torch.device, retrain: bool = False, progress: bool = True) -> CachedRun:
    """Load `model`'s weights from the checkpoint keyed by `config`, or train it and save atomically.

    `config` must identify everything that shaped the weights (data, tokenizer, model, training).
    A corrupt checkpoint, or one whose stored config differs, raises CacheError (never used silently);
    retrain=True overwrites it.
    """
    path = _path(prefix, config)
    if path.exists() and not retrain:
        payload = load_checkpoint(path, config)
        model.load_state_dict(payload["state_dict"])
        extra = payload["extra"]
        return CachedRun(model.to(device).eval(), pd.DataFrame(extra.get("history", [])), path, True,
                         float(extra.get("train_seconds", 0.0)))
    start = time.perf_counter()
    history = train(model, train_pairs, train_cfg, device, dev_pairs=dev_pairs, progress=progress)
    seconds = time.perf_counter() - start
    save_checkpoint(path, config, model.state_dict(), {"history": history.to_dict("records"), "train_seconds": seconds})
    return CachedRun(model.eval(), history, path, False, seconds)


def trained_model(task_cfg: TaskConfig, model_cfg: ModelConfig, train_cfg: TrainConfig,
                  device: torch.device | str | None = None, retrain: bool = False,
                  progress: bool = True) -> TrainedModel:
    """Load the cached model for a synthetic task's configs, or train it and cache it (see cached_train)."""
    device = device if isinstance(device, torch.device) else get_device(device)
    task = make_task(task_cfg)
    splits = task.make_splits()
    seed_everything(train_cfg.seed)  # the initial weights depend on the seed alone
    model = build_model(model_cfg, len(task.vocab))
    run = cached_train(_prefix(task_cfg, model_cfg, train_cfg), run_config(task_cfg, model_cfg, train_cfg),
                       model, splits.train, splits.dev, train_cfg, device, retrain, progress)
    return TrainedModel(run.model, task, splits, run.history, run.checkpoint, run.from_cache, run.train_seconds)
