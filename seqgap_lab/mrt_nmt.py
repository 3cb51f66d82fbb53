"""Notebook 04's translation part: MRT fine-tuning of notebook 02's teacher-forced es->en Transformer with
the risk 1 - sentence-BLEU on detokenized text (the batched sacrebleu-equal implementation), against teacher
forcing continued for the same steps from the same checkpoint; dev BLEU over steps; test BLEU and chrF
overall and by source-length bucket."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pandas as pd
import torch

from seqgap_lab import nmt
from seqgap_lab.config import DecodeConfig, TrainConfig, check_profile
from seqgap_lab.decoding import decode_sequences
from seqgap_lab.experiments import cached_train
from seqgap_lab.metrics import text as tm
from seqgap_lab.models import build_model
from seqgap_lab.runtime import get_device
from seqgap_lab.strategies import get_strategy

BASELINE = "teacher forcing (continued)"
# Fine-tuning budgets per profile (MRT is ~n+1 times a TF step's decoder work plus the sampling).
NMT_FINETUNE = {
    "smoke": dict(steps=4, batch_size=8, lr=1e-4, log_every=2, num_samples=2, alpha=5e-3, num_dev=20),
    "default": dict(steps=150, batch_size=16, lr=1e-4, log_every=25, num_samples=4, alpha=5e-3, num_dev=200),
    "full": dict(steps=3000, batch_size=32, lr=5e-5, log_every=250, num_samples=8, alpha=5e-3, num_dev=500),
}


LONGER_NOTE = (" MRT made the translations longer than the baseline's: smoothed sentence-BLEU punishes a short "
               "hypothesis through its brevity penalty but a long one only through lower n-gram precision, so "
               "lengthening is a cheap way to lower the sampled risk, and corpus BLEU pays for it.")


@dataclass
class NMTMRTTables:
    """Dev BLEU over steps, test scores overall and by bucket, per label (parent, baseline, MRT)."""

    curves: pd.DataFrame
    overall: pd.DataFrame
    by_bucket: pd.DataFrame
    runs: dict = field(default_factory=dict)


def mrt_label(profile: str) -> str:
    """The MRT run's label in a profile."""
    f = NMT_FINETUNE[check_profile(profile)]
    return f"MRT (1 - BLEU) alpha={f['alpha']:g} n={f['num_samples']}"


def finetune_config(profile: str, seed: int, mrt: bool) -> TrainConfig:
    """The fine-tuning TrainConfig: MRT with BLEU risk, or teacher forcing (label smoothing as the parent)."""
    f = NMT_FINETUNE[check_profile(profile)]
    _, _, parent = nmt.configs(profile, "transformer", seed)
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


def finetune(data: nmt.NMTData, parent: nmt.NMTRun, profile: str, train_cfg: TrainConfig, seed: int, device,
             progress: bool = True) -> nmt.NMTRun:
    """Fine-tune a copy of the parent translation model with train_cfg (cached under the parent's key)."""
    f = NMT_FINETUNE[profile]
    kind = parent.model.kind
    _, model_cfg, _ = nmt.configs(profile, kind, seed)
    model = build_model(model_cfg, len(parent.vocab))
    model.load_state_dict(parent.model.state_dict())
    args = dict(train_cfg.strategy_args)
    if train_cfg.strategy == "mrt":
        args["detokenize"] = parent.vocab.decode
    strategy = get_strategy(train_cfg.strategy, label_smoothing=train_cfg.label_smoothing, **args)
    key = {**nmt.run_key(data, profile, kind, seed), "finetune": train_cfg.to_dict()}
    run = cached_train(f"nmt-bible-{kind}-ft-{train_cfg.strategy}", key, model,
                       lambda: nmt.encode_pairs(parent.vocab, data.train), nmt.encode_pairs(parent.vocab, data.dev),
                       train_cfg, device, progress=progress, strategy=strategy,
                       monitor=dev_bleu_monitor(parent.vocab, data.dev[: f["num_dev"]]))
    return nmt.NMTRun(run.model, parent.vocab, run.history, run.train_seconds, run.from_cache)


def run_study(profile: str, seed: int = 0, device=None, progress: bool = True) -> NMTMRTTables:
    """Load/train notebook 02's Transformer, fine-tune it both ways, and score all three on the test split."""
    device = device if isinstance(device, torch.device) else get_device(device)
    data = nmt.load_data(profile, seed=0)
    parent = nmt.train_run(data, profile, "transformer", seed, device, progress)
    f = NMT_FINETUNE[profile]
    start = {"step": 0, **dev_bleu_monitor(parent.vocab, data.dev[: f["num_dev"]])(parent.model)}
    runs = {"teacher forcing (start)": parent}
    curves = []
    for label, is_mrt in ((BASELINE, False), (mrt_label(profile), True)):
        runs[label] = finetune(data, parent, profile, finetune_config(profile, seed, is_mrt), seed, device, progress)
        curves.append(pd.concat([pd.DataFrame([start]), runs[label].history], ignore_index=True).assign(label=label))
    overall, buckets, hyps = [], [], {}
    sources, refs = [s for s, _ in data.test], [t for _, t in data.test]
    for label, run in runs.items():
        hyps[label], seconds = nmt.translate(run, sources)
        overall.append({**tm.corpus_scores(hyps[label], refs), "label": label, "decode_seconds": seconds,
                        "train_seconds": run.train_seconds, "test_sentences": len(sources)})
        buckets.append(tm.scores_by_bucket(hyps[label], refs, nmt.source_words(sources), nmt.BUCKET_EDGES)
                       .assign(label=label))
    test = tm.paired_bleu_test(hyps[BASELINE], hyps[mrt_label(profile)], refs)
    overall = pd.DataFrame(overall)
    overall["p_value_vs_baseline"] = [test["p_value"] if lab == mrt_label(profile) else float("nan")
                                      for lab in overall["label"]]
    overall["bleu_ci95"] = [test["system_ci"] if lab == mrt_label(profile) else test["baseline_ci"] if lab == BASELINE
                            else float("nan") for lab in overall["label"]]
    return NMTMRTTables(pd.concat(curves, ignore_index=True), overall, pd.concat(buckets, ignore_index=True), runs)


def headline(tables: NMTMRTTables) -> dict:
    """BLEU/chrF per label, overall and in the shortest and longest bucket, and the dev BLEU curve's ends."""
    out = {}
    for label, row in tables.overall.set_index("label").iterrows():
        b = tables.by_bucket[tables.by_bucket["label"] == label]
        out[label] = {"bleu": float(row["bleu"]), "chrf": float(row["chrf"]), "length_ratio": float(row["length_ratio"]),
                      "bleu_shortest_bucket": float(b["bleu"].iloc[0]), "bleu_longest_bucket": float(b["bleu"].iloc[-1]),
                      "shortest_bucket": str(b["bucket"].iloc[0]), "longest_bucket": str(b["bucket"].iloc[-1]),
                      "train_seconds": float(row["train_seconds"]), "bleu_ci95": float(row["bleu_ci95"]),
                      "p_value_vs_baseline": float(row["p_value_vs_baseline"])}
        curve = tables.curves[tables.curves["label"] == label]
        if len(curve):
            out[label].update(dev_bleu_start=float(curve["dev_bleu"].iloc[0]), dev_bleu_end=float(curve["dev_bleu"].iloc[-1]))
    return out


def takeaway(head: dict, steps: int) -> str:
    """The translation part's takeaway as Markdown, every number read from `head`."""
    mrt = next((k for k in head if k.startswith("MRT")), None)
    if mrt is None or BASELINE not in head:
        return "- The table lacks the MRT run or the baseline."
    m, b, s = head[mrt], head[BASELINE], head.get("teacher forcing (start)", head[BASELINE])
    delta, p = m["bleu"] - b["bleu"], m["p_value_vs_baseline"]
    call = "a significant difference" if p < 0.05 else "not a significant difference"
    return (f"- **es->en, {mrt}**, {steps} fine-tuning steps: test BLEU {m['bleu']:.2f} ± {m['bleu_ci95']:.2f} vs "
            f"{b['bleu']:.2f} ± {b['bleu_ci95']:.2f} for teacher forcing continued ({delta:+.2f}, paired bootstrap "
            f"p = {p:.3f}: {call} at 0.05; the checkpoint started at {s['bleu']:.2f}); chrF {m['chrf']:.1f} vs "
            f"{b['chrf']:.1f}; length ratio {m['length_ratio']:.2f} vs {b['length_ratio']:.2f}. Longest bucket "
            f"({m['longest_bucket']} words): {m['bleu_longest_bucket']:.2f} vs {b['bleu_longest_bucket']:.2f}; "
            f"shortest ({m['shortest_bucket']}): {m['bleu_shortest_bucket']:.2f} vs {b['bleu_shortest_bucket']:.2f}."
            + (LONGER_NOTE if m["length_ratio"] > b["length_ratio"] + 0.05 else ""))
