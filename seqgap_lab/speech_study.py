"""Notebook 11's measurements: CER by length bucket for every model and decoding (with decoding cost), the
teacher-forced vs free-running tables, and the headline and takeaway read from them (never typed).

Buckets: short and medium come from the test split (lengths seen in training), long from test_long (past them).
"""
from __future__ import annotations

import time
from typing import Sequence

import pandas as pd

from seqgap_lab import speech_exposure as exposure
from seqgap_lab.metrics.cer import cer, edit_distance
from seqgap_lab.speech_eval import transcribe
from seqgap_lab.speech_runs import LABELS

BUCKET_SPLITS = {"short": "test", "medium": "test", "long": "test_long"}
AR_MODELS = ("attention_tf", "transducer")
GROWTH_MARGIN = 0.05  # error (or gap) change under this is called flat / no growth
CER_TOLERANCE = 0.01  # one seed, no significance test: CER differences under this are "no clear difference"


def eval_sets(corpus) -> dict[str, dict]:
    """Per bucket: its pairs (features, char ids) and manifest rows."""
    out = {}
    for bucket, split in BUCKET_SPLITS.items():
        keep = [i for i, r in enumerate(corpus.split_rows(split)) if r["bucket"] == bucket]
        pairs, rows = corpus.split(split), corpus.split_rows(split)
        out[bucket] = {"pairs": [pairs[i] for i in keep], "rows": [rows[i] for i in keep], "split": split}
    return out


def _decode_bucket(model, pairs: Sequence, method: str, beam_size: int) -> tuple[list[list[int]], float]:
    start = time.perf_counter()
    hyps = transcribe(model, pairs, method, beam_size) if pairs else []
    return hyps, time.perf_counter() - start


def evaluate(models: dict, sets: dict, beam_size: int = 4,
             transducer_beam_subset: int = 20) -> tuple[pd.DataFrame, dict]:
    """CER and seconds per utterance for every (model, decoding, bucket) -> (table, hypotheses).

    The transducer's beam search decodes one utterance at a time, so it runs on the first
    transducer_beam_subset utterances of each bucket (column `utterances` says how many were decoded).
    hypotheses[(model, decoding)][bucket] holds char-id transcripts aligned with sets[bucket]["pairs"].
    """
    rows, hyps = [], {}
    for name, model in models.items():
        for method in ("greedy", "beam"):
            for bucket, s in sets.items():
                pairs = s["pairs"]
                if name == "transducer" and method == "beam":
                    pairs = pairs[:transducer_beam_subset]
                out, seconds = _decode_bucket(model, pairs, method, beam_size)
                hyps.setdefault((name, method), {})[bucket] = out
                refs = [t for _, t in pairs]
                rows.append({"model": name, "decoding": method, "bucket": bucket, "split": s["split"],
                             "cer": cer(out, refs) if refs else float("nan"), "utterances": len(refs),
                             "errors": sum(edit_distance(h, r) for h, r in zip(out, refs)),
                             "chars": sum(len(r) for r in refs), "seconds": seconds})
    return pd.DataFrame(rows), hyps


def exposure_errors(models: dict, sets: dict, hyps: dict) -> pd.DataFrame:
    """Tidy per-position errors: free-running (greedy) for every model, teacher-forced for the AR models."""
    parts = []
    for name, model in models.items():
        for bucket, s in sets.items():
            buckets = [bucket] * len(s["pairs"])
            parts.append(exposure.free_running(name, hyps[(name, "greedy")][bucket], s["pairs"], buckets))
            forced = exposure.attention_teacher_forced if name.startswith("attention") else \
                exposure.transducer_teacher_forced if name == "transducer" else None
            if forced is not None:
                parts.append(exposure.teacher_forced(name, forced(model, s["pairs"]), buckets))
    return pd.concat(parts, ignore_index=True)


def cer_headline(table: pd.DataFrame) -> dict:
    """CER per model, decoding and bucket; seconds per utterance per model and decoding; beam subset sizes."""
    out: dict = {"cer": {}, "seconds_per_utterance": {}, "utterances": {}}
    for (model, decoding), part in table.groupby(["model", "decoding"], sort=False):
        out["cer"].setdefault(model, {})[decoding] = {b: float(c) for b, c in zip(part["bucket"], part["cer"])}
        out["utterances"].setdefault(model, {})[decoding] = {b: int(n) for b, n in
                                                            zip(part["bucket"], part["utterances"])}
        n = int(part["utterances"].sum())
        out["seconds_per_utterance"].setdefault(model, {})[decoding] = float(part["seconds"].sum() / n) if n else None
    return out


def subset_greedy_cer(hyps: dict, sets: dict, n: int) -> dict:
    """The transducer's greedy CER on the beam subset (the first n utterances per bucket), for a fair comparison."""
    out = {}
    for bucket, s in sets.items():
        refs = [t for _, t in s["pairs"][:n]]
        out[bucket] = cer(hyps[("transducer", "greedy")][bucket][:n], refs) if refs else None
    return out


def exposure_headline(errors: pd.DataFrame) -> dict:
    """Per model and bucket: teacher-forced and free-running error, their gap, and growth along the utterance."""
    gaps = exposure.gap_table(errors)
    out: dict = {}
    for (model, bucket), part in gaps.groupby(["model", "bucket"], sort=False):
        modes = {m: r for m, r in zip(part["mode"], part.to_dict("records"))}
        fr, tf = modes["free-running"], modes.get("teacher-forced")
        row = {"fr_error": fr["error_rate"], "fr_first_third": fr["first_third"], "fr_last_third": fr["last_third"],
               "fr_growth": fr["growth"], "positions": int(fr["positions"])}
        if tf is not None:
            row.update(tf_error=tf["error_rate"], tf_first_third=tf["first_third"], tf_last_third=tf["last_third"],
                       tf_growth=tf["growth"], gap=fr["error_rate"] - tf["error_rate"],
                       gap_growth=fr["growth"] - tf["growth"])
        out.setdefault(model, {})[bucket] = row
    return out


def _change(delta: float, margin: float, up: str, down: str, flat: str) -> str:
    if delta != delta:  # NaN: a bucket without data
        return "not measured"
    return up if delta > margin else down if delta < -margin else flat


def verdicts(cer_head: dict, exp_head: dict) -> dict:
    """Plain-word findings computed from the headline numbers."""
    out = {}
    for model in AR_MODELS:
        row = exp_head.get(model, {})
        if "short" in row and "long" in row and "gap" in row["short"]:
            out[f"{model}_gap_short_to_long"] = _change(row["long"]["gap"] - row["short"]["gap"], GROWTH_MARGIN,
                                                        "grows", "shrinks", "stays flat")
    ctc = exp_head.get("ctc", {}).get("long")
    if ctc is not None:
        out["ctc_error_along_long_utterances"] = _change(ctc["fr_growth"], GROWTH_MARGIN, "grows", "falls", "is flat")
    tf = cer_head["cer"].get("attention_tf", {}).get("greedy")
    ss = cer_head["cer"].get("attention_ss", {}).get("greedy")
    if tf and ss:
        for bucket in tf:
            out[f"ss_vs_tf_{bucket}"] = _change(tf[bucket] - ss[bucket], CER_TOLERANCE, "helps", "hurts",
                                                "makes no clear difference")
    return out


def _fmt(x) -> str:
    return "n/a" if x is None or x != x else f"{x:.3f}"


def takeaway(cer_head: dict, exp_head: dict, verdict: dict, seeds: Sequence[int], ctc_weight: float,
             beam_subset: int) -> str:
    """The notebook's closing Markdown, every number and word read from the headline dicts."""
    c = cer_head["cer"]
    lines = [f"**Measured, seed(s) {list(seeds)}, one run.** CER (greedy) short / medium / long (past training):"]
    for model in c:
        g, beam = c[model]["greedy"], c[model]["beam"]
        subset = f" (transducer beam on the first {beam_subset} utterances per bucket)" if model == "transducer" else ""
        lines.append(f"- {LABELS[model]}: {' / '.join(_fmt(g.get(b)) for b in BUCKET_SPLITS)}; "
                     f"beam: {' / '.join(_fmt(beam.get(b)) for b in BUCKET_SPLITS)}{subset}")
    for model in AR_MODELS:
        row = exp_head.get(model, {})
        if "short" in row and "long" in row and "gap" in row["short"]:
            lines.append(f"- {LABELS[model]}: free-running minus teacher-forced error is {_fmt(row['short']['gap'])} "
                         f"on short and {_fmt(row['long']['gap'])} on long utterances: the gap "
                         f"**{verdict.get(f'{model}_gap_short_to_long', 'not measured')}** with length. On long "
                         f"utterances even its teacher-forced error goes from {_fmt(row['long']['tf_first_third'])} "
                         f"(first third of positions) to {_fmt(row['long']['tf_last_third'])} (last third).")
    lines += _ctc_line(exp_head.get("ctc", {}).get("long"), verdict)
    lines += _ss_line(c, verdict, ctc_weight)
    cost = cer_head["seconds_per_utterance"]
    lines.append("- Decoding cost (s per utterance, greedy / beam): " + "; ".join(
        f"{LABELS[m]} {_fmt(cost[m]['greedy'])} / {_fmt(cost[m]['beam'])}" for m in cost) + ".")
    return "\n".join(lines)


def _ctc_line(ctc: dict | None, verdict: dict) -> list[str]:
    if ctc is None:
        return []
    return [f"- CTC (no label context, so no teacher-forced counterpart): on long utterances its greedy error is "
            f"{_fmt(ctc['fr_first_third'])} in the first third of positions and {_fmt(ctc['fr_last_third'])} in the "
            f"last: it **{verdict.get('ctc_error_along_long_utterances', 'not measured')}** along the utterance."]


def _ss_line(c: dict, verdict: dict, ctc_weight: float) -> list[str]:
    tf, ss = c.get("attention_tf", {}).get("greedy", {}), c.get("attention_ss", {}).get("greedy", {})
    parts = [f"{b} {_fmt(tf.get(b))} -> {_fmt(ss.get(b))}: {verdict[f'ss_vs_tf_{b}']}" for b in BUCKET_SPLITS
             if f"ss_vs_tf_{b}" in verdict]
    if not parts:
        return []
    return [f"- Scheduled sampling vs teacher forcing, greedy CER (same steps, both with CTC weight {ctc_weight:g}; "
            f"differences under {CER_TOLERANCE} count as none): " + "; ".join(parts) + "."]
