"""Translation models on the es->en Bible corpus (notebook 02; reused by notebooks 04, 06, 08, 10).

The data and subword vocabulary per profile, cached Transformer and GRU training, and greedy translation.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from seqgap_lab.core.config import DecodeConfig, ModelConfig, SubwordConfig, TrainConfig, check_profile
from seqgap_lab.core.runtime import get_device, seed_everything
from seqgap_lab.data.text import corpora
from seqgap_lab.data.text.subword import SubwordVocab, train_subword
from seqgap_lab.decoding import decode_sequences
from seqgap_lab.models import Seq2SeqModel, build_model
from seqgap_lab.training.runs import cached_train

# smoke: seconds (CI); default: under 15 minutes for both models on 2 CPU cores; full: a GPU, all data.
PROFILE_SIZES = {
    "smoke": dict(num_train=400, num_eval=60, vocab_size=400, d_model=32, num_layers=1, ffn_dim=64,
                  steps=60, batch_size=32, lr=2e-3, num_compounding=30, seeds=1),
    # default: all 21.5k training pairs but a small model and ~3 epochs (measured 0.28 s/step for the
    # Transformer, 0.22 for the GRU on 2 cores), so both models train in about 8 minutes.
    "default": dict(num_train=0, num_eval=0, vocab_size=4000, d_model=96, num_layers=2, ffn_dim=384,
                    steps=1000, batch_size=64, lr=2e-3, num_compounding=300, seeds=1),
    "full": dict(num_train=0, num_eval=0, vocab_size=8000, d_model=256, num_layers=3, ffn_dim=1024,
                 steps=30000, batch_size=128, lr=7e-4, num_compounding=1000, seeds=1),
}


BUCKET_EDGES = (10, 20, 30, 40)  # source words: 1-10, 11-20, 21-30, 31-40, 41+


@dataclass
class NMTRun:
    """One trained translation model with its tokenizer and provenance."""

    model: Seq2SeqModel
    vocab: SubwordVocab
    history: pd.DataFrame
    train_seconds: float
    from_cache: bool


@dataclass
class NMTData:
    """Raw text pairs of each split used by the study (subsets per the profile)."""

    train: list
    dev: list
    test: list
    sha256: str = ""
    counts: dict = field(default_factory=dict)


def load_data(profile: str, seed: int = 0) -> NMTData:
    """The bible es->en splits, subsampled by the profile (0 = all), with a content hash for the cache key."""
    size = PROFILE_SIZES[check_profile(profile)]
    corpora.ensure("bible")
    rng = np.random.default_rng(seed)

    def subset(pairs: list, n: int) -> list:
        if not n or n >= len(pairs):
            return pairs
        return [pairs[i] for i in sorted(rng.choice(len(pairs), n, replace=False))]

    train = subset(corpora.load_parallel("bible", "train"), size["num_train"])
    dev = subset(corpora.load_parallel("bible", "dev"), min(500, size["num_eval"] or 500))
    test = subset(corpora.load_parallel("bible", "test"), size["num_eval"])
    digest = hashlib.sha256("\n".join(f"{s}\t{t}" for s, t in train).encode()).hexdigest()
    return NMTData(train, dev, test, digest, {"train": len(train), "dev": len(dev), "test": len(test)})


def configs(profile: str, kind: str, seed: int) -> tuple[SubwordConfig, ModelConfig, TrainConfig]:
    """Tokenizer, model and training configs of one run in a profile."""
    s = PROFILE_SIZES[check_profile(profile)]
    sub = SubwordConfig(model_type="bpe", vocab_size=s["vocab_size"])
    model = ModelConfig(kind=kind, d_model=s["d_model"], num_heads=4 if s["d_model"] >= 64 else 2,
                        num_layers=s["num_layers"], ffn_dim=s["ffn_dim"], dropout=0.1 if profile != "smoke" else 0.0)
    train = TrainConfig(steps=s["steps"], batch_size=s["batch_size"], lr=s["lr"],
                        warmup_steps=max(10, s["steps"] // 10), seed=seed, log_every=max(10, s["steps"] // 40),
                        label_smoothing=0.1 if profile != "smoke" else 0.0)
    return sub, model, train


def encode_pairs(vocab: SubwordVocab, pairs: list) -> list:
    """Text pairs -> id pairs (no specials; batching adds BOS/EOS)."""
    sources, targets = vocab.encode_batch([s for s, _ in pairs]), vocab.encode_batch([t for _, t in pairs])
    return list(zip(sources, targets))


def run_key(data: NMTData, profile: str, kind: str, seed: int = 0) -> dict:
    """What identifies a trained translation model: data hash, tokenizer, model and training configs."""
    sub_cfg, model_cfg, train_cfg = configs(profile, kind, seed)
    return {"corpus": "bible", "train_sha256": data.sha256, "subword": sub_cfg.to_dict(),
            "model": model_cfg.to_dict(), "train": train_cfg.to_dict()}


def train_run(data: NMTData, profile: str, kind: str, seed: int = 0, device=None,
              progress: bool = True) -> NMTRun:
    """Train (or load from cache) one translation model and its tokenizer."""
    sub_cfg, model_cfg, train_cfg = configs(profile, kind, seed)
    texts = [s for s, _ in data.train] + [t for _, t in data.train]
    vocab = train_subword(texts, sub_cfg, progress=progress)
    seed_everything(seed)
    model = build_model(model_cfg, len(vocab))
    key = run_key(data, profile, kind, seed)
    device = device if isinstance(device, torch.device) else get_device(device)
    run = cached_train(f"nmt-bible-{kind}", key, model, encode_pairs(vocab, data.train),
                       encode_pairs(vocab, data.dev), train_cfg, device, progress=progress)
    return NMTRun(run.model, vocab, run.history, run.train_seconds, run.from_cache)


def translate(run: NMTRun, sources: list[str], max_len: int = 256) -> tuple[list[str], float]:
    """Greedy translations of source sentences and the decoding time in seconds."""
    ids = [run.vocab.encode(s) for s in sources]
    start = time.perf_counter()
    out = decode_sequences(run.model, ids, DecodeConfig(max_len=max_len, batch_size=128))
    return [run.vocab.decode(o) for o in out], time.perf_counter() - start


def source_words(sentences: list[str]) -> list[int]:
    """Whitespace word counts: the length the buckets are defined on."""
    return [len(s.split()) for s in sentences]
