"""Named, cached runs: a trained model is looked up by a hash of its full config, else trained and saved."""
from __future__ import annotations

import time
from typing import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from seqgap_lab import paths
from seqgap_lab.cache import config_hash, file_lock, load_checkpoint, save_checkpoint
from seqgap_lab.config import ConfigError, DecodeConfig, ModelConfig, TaskConfig, TrainConfig
from seqgap_lab.data.tasks import Splits, Task, make_task
from seqgap_lab.models import Seq2SeqModel, build_model
from seqgap_lab.runtime import get_device, seed_everything
from seqgap_lab.strategies import Strategy, accepts, get_strategy
from seqgap_lab.strategies.distill import teacher_targets
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


def trained_model(task_cfg: TaskConfig, model_cfg: ModelConfig, train_cfg: TrainConfig,
                  device: torch.device | str | None = None, retrain: bool = False, progress: bool = True, *,
                  init: TrainConfig | None = None, teacher: tuple[ModelConfig, TrainConfig] | None = None,
                  targets: DecodeConfig | None = None,
                  monitor: Callable[[Seq2SeqModel, Splits], dict] | None = None) -> TrainedModel:
    """Load the cached model for a synthetic task's configs, or train it and cache it (see cached_train).

    init: fine-tune from the model trained with (task_cfg, model_cfg, init) (e.g. MRT from teacher forcing).
    teacher: (model config, train config) of a teacher trained on the same task, handed to strategies that
    take one (word_kd); targets: train on the teacher's outputs for the training sources, decoded with this
    DecodeConfig, instead of the gold targets (sequence-level KD). Parents and teachers are cached too.
    monitor(model, splits) -> dict: numbers added to the history at every log point (e.g. dev accuracy).
    """
    device = device if isinstance(device, torch.device) else get_device(device)
    if targets is not None and teacher is None:
        raise ConfigError("trained_model: targets= (teacher outputs) needs teacher=(model config, train config)")
    task = make_task(task_cfg)
    splits = task.make_splits()
    parent = trained_model(task_cfg, model_cfg, init, device, progress=progress) if init else None
    tutor = trained_model(task_cfg, *teacher, device, progress=progress) if teacher else None
    seed_everything(train_cfg.seed)  # the initial weights depend on the seed alone
    model = build_model(model_cfg, len(task.vocab))
    if parent is not None:
        model.load_state_dict(parent.model.state_dict())
    config, prefix = run_config(task_cfg, model_cfg, train_cfg), _prefix(task_cfg, model_cfg, train_cfg)
    config.update(_lineage(init, teacher, targets))  # no new keys for a plain run: its cache key is unchanged
    prefix += "-ft" * bool(init) + "-seqkd" * bool(targets)
    strategy = None
    if tutor is not None and accepts(train_cfg.strategy, "teacher"):
        strategy = get_strategy(train_cfg.strategy, label_smoothing=train_cfg.label_smoothing, teacher=tutor.model,
                                **train_cfg.strategy_args)
    pairs = splits.train
    if targets is not None:
        def pairs():
            outputs = teacher_targets(tutor.model, [s for s, _ in splits.train], targets, device, progress=progress)
            return [(s, y) for (s, _), y in zip(splits.train, outputs)]
    watch = (lambda m: monitor(m, splits)) if monitor else None
    run = cached_train(prefix, config, model, pairs, splits.dev, train_cfg, device, retrain, progress, strategy, watch)
    return TrainedModel(run.model, task, splits, run.history, run.checkpoint, run.from_cache, run.train_seconds)


def _lineage(init: TrainConfig | None, teacher: tuple | None, targets: DecodeConfig | None) -> dict:
    """The cache-key entries of a run's parent, teacher and teacher-output targets (only those that are set)."""
    out: dict = {}
    if init is not None:
        out["init"] = init.to_dict()
    if teacher is not None:
        out["teacher"] = {"model": teacher[0].to_dict(), "train": teacher[1].to_dict()}
    if targets is not None:
        out["targets"] = targets.to_dict()
    return out
