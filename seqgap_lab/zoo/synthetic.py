"""Models on the synthetic tasks, trained through the cache: notebook 01's configs and trained_model.

`trained_model` can fine-tune from a parent, learn from a teacher or from its outputs, and keeps that lineage in the
cache key.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
import torch

from seqgap_lab.core.config import ConfigError, DecodeConfig, ModelConfig, TaskConfig, TrainConfig, check_profile
from seqgap_lab.core.runtime import get_device, seed_everything
from seqgap_lab.data.synthetic.tasks import Splits, Task, make_task
from seqgap_lab.models import Seq2SeqModel, build_model
from seqgap_lab.strategies import accepts, get_strategy
from seqgap_lab.strategies.distill import teacher_targets
from seqgap_lab.training.runs import cached_train, run_config, run_prefix


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
    config, prefix = run_config(task_cfg, model_cfg, train_cfg), run_prefix(task_cfg, model_cfg, train_cfg)
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


# Sizes per profile. smoke: seconds on a CPU (CI); default: minutes on a laptop CPU; full: a GPU.
PROFILE_SIZES = {
    "smoke": dict(min_len=2, train_max_len=5, test_max_len=8, num_train=600, num_test=64, d_model=32,
                  num_layers=1, ffn_dim=64, steps=80, batch_size=32, seeds=1),
    "default": dict(min_len=4, train_max_len=16, test_max_len=24, num_train=20000, num_test=600, d_model=64,
                    num_layers=2, ffn_dim=256, steps=1500, batch_size=64, seeds=1),
    "full": dict(min_len=4, train_max_len=24, test_max_len=40, num_train=100000, num_test=2000, d_model=256,
                 num_layers=3, ffn_dim=1024, steps=8000, batch_size=128, seeds=3),
}


def configs(profile: str, task: str, kind: str, seed: int) -> tuple[TaskConfig, ModelConfig, TrainConfig]:
    """The three configs of one run in a profile."""
    s = PROFILE_SIZES[check_profile(profile)]
    lengths = {k: s[k] for k in ("min_len", "train_max_len", "test_max_len")}
    task_cfg = TaskConfig(name=task, num_train=s["num_train"], num_dev=min(500, s["num_test"]),
                          num_test=s["num_test"], seed=0, **lengths)
    heads = 4 if s["d_model"] >= 64 else 2
    model_cfg = ModelConfig(kind=kind, d_model=s["d_model"], num_heads=heads, num_layers=s["num_layers"],
                            ffn_dim=s["ffn_dim"], dropout=0.1 if profile != "smoke" else 0.0)
    train_cfg = TrainConfig(steps=s["steps"], batch_size=s["batch_size"], lr=2e-3 if s["d_model"] < 256 else 7e-4,
                            warmup_steps=max(10, s["steps"] // 10), seed=seed, log_every=max(10, s["steps"] // 30))
    return task_cfg, model_cfg, train_cfg
