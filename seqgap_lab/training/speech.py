"""Train the three speech models (CTC, attention encoder-decoder, transducer) and cache them by config.

The loop follows training/loop.py (AdamW, linear warmup + cosine via `lr_factor`, clipping, seeded batches, tqdm,
a history row per log point) but feeds SpeechBatches. CTC and transducer models compute their own loss
(`model.loss(batch, step)`); the attention model is trained by a project strategy by name
(TrainConfig.strategy: teacher_forcing | scheduled_sampling, with strategy_args), exactly as text models.
An optional time budget stops training early (the history records where): notebooks use it to fit a profile.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd
import torch
from tqdm.auto import tqdm

from seqgap_lab.core import budget, paths
from seqgap_lab.core.cache import config_hash, file_lock, load_checkpoint, save_checkpoint
from seqgap_lab.core.config import ConfigError, TrainConfig
from seqgap_lab.core.runtime import autocast, seed_everything
from seqgap_lab.data.speech.batching import SpeechPair, infinite_speech_batches
from seqgap_lab.models.speech.attention import SpeechAttentionSeq2Seq
from seqgap_lab.models.speech.ctc import CTCModel
from seqgap_lab.models.speech.encoder import SpeechModelConfig
from seqgap_lab.models.speech.transducer import TransducerModel
from seqgap_lab.strategies import get_strategy
from seqgap_lab.training.loop import Window, make_optimizer, optimizer_step

Callback = Callable[[int, dict], None]
_MODELS = {"ctc": CTCModel, "attention": SpeechAttentionSeq2Seq, "transducer": TransducerModel}


def build_speech_model(config: SpeechModelConfig, vocab_size: int):
    """Instantiate the speech model named by config.kind (ctc | attention | transducer)."""
    return _MODELS[config.kind](config, vocab_size)


def _loss_fn(model, config: TrainConfig):
    """model.loss for CTC/transducer; the named strategy's loss for the attention model."""
    if getattr(model, "kind", None) in ("ctc", "transducer"):
        if config.strategy != "teacher_forcing" or config.strategy_args:
            raise ConfigError(f"TrainConfig.strategy = {config.strategy!r} is not allowed for a {model.kind} model: "
                              "expected teacher_forcing with no strategy_args (its loss sums over alignments)")
        return model.loss, "alignment"
    strategy = get_strategy(config.strategy, label_smoothing=config.label_smoothing, **config.strategy_args)
    weight = model.config.ctc_weight
    if not weight:
        return lambda batch, step: strategy.loss(model, batch, step), strategy.name

    def joint(batch, step):
        """(1 - w) * the strategy's cross-entropy + w * CTC on the same encoder output."""
        loss, logs = strategy.loss(model, batch, step)
        ctc = model.ctc_loss(batch)
        logs = {**logs, "ce_loss": loss.detach(), "ctc_loss": ctc.detach()}
        return (1 - weight) * loss + weight * ctc, logs

    return joint, f"{strategy.name}+ctc{weight:g}"


def train_speech(model, train_pairs: Sequence[SpeechPair], config: TrainConfig, device: torch.device,
                 callbacks: Sequence[Callback] = (), progress: bool = True,
                 time_budget_s: float | None = None) -> pd.DataFrame:
    """Train in place for config.steps steps or until time_budget_s of training (callbacks not counted);
    returns the history (elapsed_s: training seconds so far)."""
    seed_everything(config.seed)
    loss_fn, name = _loss_fn(model, config)
    model.to(device).train()
    opt, sched = make_optimizer(model, config)
    batches = infinite_speech_batches(train_pairs, config.batch_size, config.seed)
    history, window, start, paused = [], Window(throughput=False), time.perf_counter(), 0.0
    bar = tqdm(range(config.steps), desc=f"train speech {model.kind}/{name}", disable=not progress, leave=False)
    for step in bar:
        batch = next(batches).to(device)
        with autocast(device):
            loss, logs = loss_fn(batch, step)
        grad_norm = optimizer_step(model, loss, opt, sched, config, step)
        window.add(loss.detach(), 0, logs)
        elapsed = time.perf_counter() - start - paused  # training time: callbacks (evaluation) excluded
        out_of_time = time_budget_s is not None and elapsed >= time_budget_s
        if (step + 1) % config.log_every == 0 or step + 1 == config.steps or out_of_time:
            row = window.flush(step + 1, sched.get_last_lr()[0], grad_norm, config)
            row = {**{k: row.pop(k) for k in ("step", "lr", "grad_norm")}, "elapsed_s": elapsed, **row}
            history.append(row)
            bar.set_postfix(loss=f"{row['loss']:.3f}")
            pause = time.perf_counter()
            for cb in callbacks:
                cb(step + 1, row)
            paused += time.perf_counter() - pause
        if out_of_time:
            break
    model.eval()
    return pd.DataFrame(history)


@dataclass
class SpeechRun:
    """A trained speech model (eval mode) with its history and cache provenance."""

    model: torch.nn.Module
    history: pd.DataFrame
    checkpoint: Path
    from_cache: bool
    train_seconds: float


def speech_checkpoint(config: dict, kind: str, strategy: str) -> Path:
    """data/checkpoints/speech-<kind>-<strategy>-<hash>.pt."""
    return paths.data_dir() / "checkpoints" / f"speech-{kind}-{strategy}-{config_hash(config)}.pt"


def trained_speech_model(corpus_config: dict, model_cfg: SpeechModelConfig, train_cfg: TrainConfig,
                         train_pairs: Sequence[SpeechPair] | Callable[[], Sequence[SpeechPair]], vocab_size: int,
                         device: torch.device, retrain: bool = False, progress: bool = True,
                         time_budget_s: float | None = None, callbacks: Sequence[Callback] = ()) -> SpeechRun:
    """Load the model cached for (corpus, model, training, budget) configs, or train it and save atomically.

    corpus_config identifies the data (SpeechConfig.to_dict()); train_pairs may be a callable, called only
    when training is needed. A corrupt or mismatched checkpoint raises CacheError; retrain=True overwrites.
    """
    config = budget.keyed({"corpus": corpus_config, "model": model_cfg.to_dict(), "train": train_cfg.to_dict(),
                           "time_budget_s": time_budget_s, "vocab_size": vocab_size})
    train_cfg = budget.scaled(train_cfg)  # budget_scale (core/budget.py); 1 changes nothing
    path = speech_checkpoint(config, model_cfg.kind, train_cfg.strategy)
    seed_everything(train_cfg.seed)  # initial weights depend on the seed alone
    model = build_speech_model(model_cfg, vocab_size)
    if path.exists() and not retrain:
        return _load_run(path, config, model, device)
    with file_lock(path, f"training {path.stem}"):  # a second process waits, then loads (see cache.file_lock)
        if path.exists() and not retrain:
            return _load_run(path, config, model, device)
        pairs = train_pairs() if callable(train_pairs) else train_pairs
        start = time.perf_counter()
        history = train_speech(model, pairs, train_cfg, device, callbacks, progress, time_budget_s)
        seconds = time.perf_counter() - start
        save_checkpoint(path, config, model.state_dict(),
                        {"history": history.to_dict("records"), "train_seconds": seconds})
    return SpeechRun(model.eval(), history, path, False, seconds)


def _load_run(path: Path, config: dict, model: torch.nn.Module, device: torch.device) -> SpeechRun:
    """The cached run at `path` (verified against `config`), its weights loaded into `model`."""
    payload = load_checkpoint(path, config)
    model.load_state_dict(payload["state_dict"])
    extra = payload["extra"]
    return SpeechRun(model.to(device).eval(), pd.DataFrame(extra.get("history", [])), path, True,
                     float(extra.get("train_seconds", 0.0)))
