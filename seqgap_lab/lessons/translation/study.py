"""The long-sentence NMT study (notebook 02): es->en Bible verses, subword tokens, Transformer and GRU,
greedy decoding scored with sacrebleu by source-length bucket, and the real-data compounding curve."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from seqgap_lab.core.config import ConfigError
from seqgap_lab.metrics import text as tm
from seqgap_lab.probes import exposure as ex
from seqgap_lab.zoo.translation import (
    BUCKET_EDGES,
    PROFILE_SIZES,
    NMTData,
    NMTRun,
    encode_pairs,
    load_data,
    source_words,
    train_run,
    translate,
)

COMPOUNDING_KS = (0, 1, 2, 4, 8, 16, 24)


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


