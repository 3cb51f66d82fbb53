"""The long-sentence NMT study (notebook 02): es->en Bible verses, subword tokens, Transformer and GRU,
greedy decoding scored with sacrebleu by source-length bucket, and the real-data compounding curve."""
from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from seqgap_lab.config import ConfigError, DecodeConfig, ModelConfig, SubwordConfig, TrainConfig, check_profile
from seqgap_lab.data import corpora
from seqgap_lab.data.subword import SubwordVocab, train_subword
from seqgap_lab.decoding import decode_sequences
from seqgap_lab.experiments import cached_train
from seqgap_lab.metrics import exposure as ex
from seqgap_lab.metrics import text as tm
from seqgap_lab.models import Seq2SeqModel, build_model
from seqgap_lab.runtime import get_device, seed_everything

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
COMPOUNDING_KS = (0, 1, 2, 4, 8, 16, 24)
WEAK_BLEU = 5.0  # below this a model translates too little for a length trend to mean much
WEAK_NOTE = (f" With BLEU under {WEAK_BLEU:.0f} this model is still too weak for its length trend to carry weight: "
             "train longer (the `full` profile) before reading it.")


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


def evaluate(run: NMTRun, data: NMTData, num_compounding: int, seed: int = 0) -> dict:
    """Scores, per-bucket scores, per-position teacher-forced accuracy, compounding curve, examples."""
    sources, refs = [s for s, _ in data.test], [t for _, t in data.test]
    hyps, seconds = translate(run, sources)
    lengths = source_words(sources)
    pairs = encode_pairs(run.vocab, data.test)
    rng = np.random.default_rng(seed)
    sample = [pairs[i] for i in rng.choice(len(pairs), min(num_compounding, len(pairs)), replace=False)]
    errors = ex.token_errors(run.model, pairs, free_running=False)
    tf_acc = (1 - errors.groupby("position")["tf_error"].mean()).rename("tf_accuracy").reset_index()
    tf_acc["count"] = errors.groupby("position").size().values
    return {"overall": tm.corpus_scores(hyps, refs), "decode_seconds": seconds,
            "by_bucket": tm.scores_by_bucket(hyps, refs, lengths, BUCKET_EDGES),
            "tf_accuracy": tf_acc, "compounding": ex.continuation_loss(run.model, sample, COMPOUNDING_KS),
            "examples": worst_long_examples(sources, refs, hyps), "hypotheses": hyps}


def repeated_ngram_rate(text: str, n: int = 3) -> float:
    """Fraction of word n-grams that already occurred earlier in the same text (repetition)."""
    words = re.findall(r"\w+", text.lower())
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    return 0.0 if not grams else 1 - len(set(grams)) / len(grams)


def worst_long_examples(sources: list[str], refs: list[str], hyps: list[str], k: int = 3,
                        longest_fraction: float = 0.1) -> pd.DataFrame:
    """The rule: among the longest `longest_fraction` of sources, the k lowest sentence chrF."""
    if not 0 < longest_fraction <= 1:
        raise ConfigError(f"longest_fraction = {longest_fraction!r} is not allowed: expected a number in (0, 1]")
    lengths = np.array(source_words(sources))
    cut = np.quantile(lengths, 1 - longest_fraction)
    idx = [i for i in range(len(sources)) if lengths[i] >= cut]
    chrf = tm.sentence_chrf([hyps[i] for i in idx], [refs[i] for i in idx])
    order = [idx[j] for j in np.argsort(chrf, kind="stable")[:k]]
    by_index = dict(zip(idx, chrf))
    return pd.DataFrame([{"source_words": int(lengths[i]), "chrf": by_index[i], "source": sources[i],
                          "reference": refs[i], "hypothesis": hyps[i],
                          "repeated_3gram_rate": repeated_ngram_rate(hyps[i])} for i in order])


@dataclass
class StudyResult:
    """Tidy tables over models (column `model`), plus the runs and raw evaluations."""

    overall: pd.DataFrame
    by_bucket: pd.DataFrame
    tf_accuracy: pd.DataFrame
    compounding: pd.DataFrame
    examples: pd.DataFrame
    training: pd.DataFrame
    runs: dict = field(default_factory=dict)


def run_study(profile: str, kinds=("transformer", "gru"), seed: int = 0, device=None,
              progress: bool = True) -> StudyResult:
    """Train/load each model on the profile's data, evaluate on the in-domain test split."""
    if not kinds:
        raise ConfigError("run_study needs at least one model kind")
    data = load_data(profile, seed=0)  # the data subset is fixed; `seed` varies the training only
    num_comp = PROFILE_SIZES[profile]["num_compounding"]
    parts: dict[str, list] = {k: [] for k in ("overall", "by_bucket", "tf_accuracy", "compounding", "examples",
                                               "training")}
    runs = {}
    for kind in kinds:
        run = train_run(data, profile, kind, seed, device, progress)
        runs[kind] = run
        ev = evaluate(run, data, num_comp, seed)
        overall = {k: v for k, v in ev["overall"].items()}
        parts["overall"].append(pd.DataFrame([{**overall, "decode_seconds": ev["decode_seconds"],
                                               "test_sentences": len(data.test)}]).assign(model=kind))
        for name in ("by_bucket", "tf_accuracy", "compounding", "examples"):
            parts[name].append(ev[name].assign(model=kind))
        last = run.history.iloc[-1] if len(run.history) else {}
        parts["training"].append(pd.DataFrame([{
            "model": kind, "train_seconds": run.train_seconds, "from_cache": run.from_cache,
            "parameters": run.model.num_parameters(), "vocab_size": len(run.vocab),
            "final_loss": float(last.get("loss", np.nan)), "dev_loss": float(last.get("dev_loss", np.nan)),
            **{f"{k}_pairs": v for k, v in data.counts.items()}}]))
    return StudyResult(*(pd.concat(parts[k], ignore_index=True) for k in parts), runs=runs)


def headline(result: StudyResult) -> dict:
    """Per-model headline numbers for summary.json."""
    out = {}
    for kind, ov in result.overall.groupby("model"):
        buckets = result.by_bucket[result.by_bucket["model"] == kind]
        comp = result.compounding[result.compounding["model"] == kind].pivot(index="k", columns="prefix",
                                                                              values="loss")
        k_max = int(comp.index.max())
        out[kind] = {
            "bleu": float(ov["bleu"].iloc[0]), "chrf": float(ov["chrf"].iloc[0]),
            "length_ratio": float(ov["length_ratio"].iloc[0]),
            **{f"{m}_{end}_bucket": float(buckets[m].iloc[i])
               for m in ("bleu", "chrf") for end, i in (("shortest", 0), ("longest", -1))},
            "shortest_bucket": str(buckets["bucket"].iloc[0]), "longest_bucket": str(buckets["bucket"].iloc[-1]),
            "compounding_k": k_max, "continuation_loss_gold_prefix": float(comp.loc[k_max, "gold"]),
            "continuation_loss_model_prefix": float(comp.loc[k_max, "model"]),
        }
    return out


def takeaway(head: dict, signature: str) -> str:
    """Markdown takeaway with every number read from `head`."""
    lines = [f"sacrebleu: `{signature}`"]
    for kind, h in head.items():
        trend = "fall" if h["bleu_longest_bucket"] < h["bleu_shortest_bucket"] else "do not fall"
        lines.append(
            f"- **{kind}**: BLEU {h['bleu']:.1f}, chrF {h['chrf']:.1f} (length ratio {h['length_ratio']:.2f}). "
            f"From the shortest ({h['shortest_bucket']} words) to the longest ({h['longest_bucket']}) source bucket "
            f"BLEU goes {h['bleu_shortest_bucket']:.1f} -> {h['bleu_longest_bucket']:.1f} and chrF "
            f"{h['chrf_shortest_bucket']:.1f} -> {h['chrf_longest_bucket']:.1f}: scores {trend} with length. "
            f"After {h['compounding_k']} tokens written by the model itself, its loss on the reference continuation "
            f"is {h['continuation_loss_model_prefix']:.2f} nats/token vs {h['continuation_loss_gold_prefix']:.2f} "
            "after the gold prefix." + (WEAK_NOTE if h["bleu"] < WEAK_BLEU else ""))
    return "\n".join(lines)
