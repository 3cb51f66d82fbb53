"""Notebook 04's translation part: MRT fine-tuning of notebook 02's teacher-forced es->en Transformer with
the risk 1 - sentence-BLEU on detokenized text (the batched sacrebleu-equal implementation), against teacher
forcing continued for the same steps from the same checkpoint; dev BLEU over steps; test BLEU and chrF
overall and by source-length bucket."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import torch

from seqgap_lab.core.config import check_profile
from seqgap_lab.core.runtime import get_device
from seqgap_lab.metrics import text as tm
from seqgap_lab.zoo import translation
from seqgap_lab.zoo.translation_mrt import NMT_FINETUNE, dev_bleu_monitor, finetune, finetune_config

BASELINE = "teacher forcing (continued)"


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


def run_study(profile: str, seed: int = 0, device=None, progress: bool = True) -> NMTMRTTables:
    """Load/train notebook 02's Transformer, fine-tune it both ways, and score all three on the test split."""
    device = device if isinstance(device, torch.device) else get_device(device)
    data = translation.load_data(profile, seed=0)
    parent = translation.train_run(data, profile, "transformer", seed, device, progress)
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
        hyps[label], seconds = translation.translate(run, sources)
        overall.append({**tm.corpus_scores(hyps[label], refs), "label": label, "decode_seconds": seconds,
                        "train_seconds": run.train_seconds, "test_sentences": len(sources)})
        buckets.append(tm.scores_by_bucket(hyps[label], refs, translation.source_words(sources), translation.BUCKET_EDGES)
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
