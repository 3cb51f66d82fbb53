"""Headline numbers, verdicts and the generated takeaway of the speech study (notebook 11).

CER by bucket and decoding, and teacher-forced vs free-running error by position.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from seqgap_lab.core.stats import sentence
from seqgap_lab.lessons.speech.study import AR_MODELS, BUCKET_SPLITS, CER_TOLERANCE, GROWTH_MARGIN
from seqgap_lab.probes import speech_exposure as exposure

LABELS = {"ctc": "CTC", "transducer": "RNN transducer", "attention_tf": "attention (TF)",
          "attention_ss": "attention (SS)"}


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


def verdicts(cer_head: dict, exp_head: dict, ss_tests: dict | None = None) -> dict:
    """Plain-word findings computed from the headline numbers; SS vs TF from study.ss_vs_tf_tests (paired over
    the same utterances; without them SS vs TF is not judged)."""
    out = {}
    for model in AR_MODELS:
        row = exp_head.get(model, {})
        if "short" in row and "long" in row and "gap" in row["short"]:
            out[f"{model}_gap_short_to_long"] = _change(row["long"]["gap"] - row["short"]["gap"], GROWTH_MARGIN,
                                                        "grows", "shrinks", "stays flat")
    ctc = exp_head.get("ctc", {}).get("long")
    if ctc is not None:
        out["ctc_error_along_long_utterances"] = _change(ctc["fr_growth"], GROWTH_MARGIN, "grows", "falls", "is flat")
    for bucket, test in (ss_tests or {}).items():
        out[f"ss_vs_tf_{bucket}"] = sentence(test, 3)
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
            f"CER difference TF - SS, positive when SS helps, 95% paired-bootstrap interval over the same utterances; "
            f"'no clear difference' excludes ±{CER_TOLERANCE}): " + "; ".join(parts) + "."]
