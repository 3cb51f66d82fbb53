"""Fine-tuning of notebook 02's translation model: MRT (1 - sentence-BLEU) or TF continued.

Both run for the same steps (notebook 04); the es-en sweep cells and notebook 10's hallucination study reuse them.
"""
from __future__ import annotations

import dataclasses

from seqgap_lab.core.config import DecodeConfig, TrainConfig, check_profile
from seqgap_lab.decoding import decode_sequences
from seqgap_lab.metrics import text as tm
from seqgap_lab.models import build_model
from seqgap_lab.strategies import get_strategy
from seqgap_lab.training.runs import cached_train
from seqgap_lab.zoo import translation

# Fine-tuning budgets per profile (MRT is ~n+1 times a TF step's decoder work plus the sampling).
NMT_FINETUNE = {
    "smoke": dict(steps=4, batch_size=8, lr=1e-4, log_every=2, num_samples=2, alpha=5e-3, num_dev=20),
    "default": dict(steps=150, batch_size=16, lr=1e-4, log_every=25, num_samples=4, alpha=5e-3, num_dev=200),
    "full": dict(steps=3000, batch_size=32, lr=5e-5, log_every=250, num_samples=8, alpha=5e-3, num_dev=500),
}


def finetune_config(profile: str, seed: int, mrt: bool) -> TrainConfig:
    """The fine-tuning TrainConfig: MRT with BLEU risk, or teacher forcing (label smoothing as the parent)."""
    f = NMT_FINETUNE[check_profile(profile)]
    _, _, parent = translation.configs(profile, "transformer", seed)
    cfg = TrainConfig(steps=f["steps"], batch_size=f["batch_size"], lr=f["lr"], warmup_steps=max(1, f["steps"] // 10),
                      seed=seed, log_every=f["log_every"], label_smoothing=parent.label_smoothing)
    if not mrt:
        return cfg
    return dataclasses.replace(cfg, strategy="mrt", label_smoothing=0.0, strategy_args={
        "num_samples": f["num_samples"], "alpha": f["alpha"], "risk": "bleu"})


def dev_bleu_monitor(vocab, dev: list, max_len: int = 256):
    """A monitor(model) -> {"dev_bleu", "dev_chrf"}: greedy corpus scores on the given dev pairs."""
    sources, refs = vocab.encode_batch([s for s, _ in dev]), [t for _, t in dev]

    def monitor(model) -> dict:
        hyps = [vocab.decode(o) for o in decode_sequences(model, sources, DecodeConfig(max_len=max_len, batch_size=64))]
        scores = tm.corpus_scores(hyps, refs)
        return {"dev_bleu": scores["bleu"], "dev_chrf": scores["chrf"]}
    return monitor


def finetune(data: translation.NMTData, parent: translation.NMTRun, profile: str, train_cfg: TrainConfig, seed: int, device,
             progress: bool = True) -> translation.NMTRun:
    """Fine-tune a copy of the parent translation model with train_cfg (cached under the parent's key)."""
    f = NMT_FINETUNE[profile]
    kind = parent.model.kind
    _, model_cfg, _ = translation.configs(profile, kind, seed)
    model = build_model(model_cfg, len(parent.vocab))
    model.load_state_dict(parent.model.state_dict())
    args = dict(train_cfg.strategy_args)
    if train_cfg.strategy == "mrt":
        args["detokenize"] = parent.vocab.decode
    strategy = get_strategy(train_cfg.strategy, label_smoothing=train_cfg.label_smoothing, **args)
    key = {**translation.run_key(data, profile, kind, seed), "finetune": train_cfg.to_dict()}
    run = cached_train(f"nmt-bible-{kind}-ft-{train_cfg.strategy}", key, model,
                       lambda: translation.encode_pairs(parent.vocab, data.train), translation.encode_pairs(parent.vocab, data.dev),
                       train_cfg, device, progress=progress, strategy=strategy,
                       monitor=dev_bleu_monitor(parent.vocab, data.dev[: f["num_dev"]]))
    return translation.NMTRun(run.model, parent.vocab, run.history, run.train_seconds, run.from_cache)
