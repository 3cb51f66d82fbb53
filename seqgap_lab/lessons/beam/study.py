"""The beam-search study (notebook 06): greedy vs beam sizes, the short-hypothesis bias without a length
penalty and its correction (GNMT and HF-style length penalties over alpha, the GNMT coverage penalty beta),
on notebook 02's es->en Transformer and on notebook 01's reverse Transformer.

Every decoded cell is cached on disk (data/decodes/), keyed by the model's weights, the sources, the
setting and the max-length rule, so a rerun and the explorer read it instantly. Tables are tidy with one
row per cell: label, beam_size, penalty (greedy | none | gnmt | hf), alpha, beta and the metrics.
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

from seqgap_lab.core.cache import config_hash
from seqgap_lab.core.config import DecodeSetting, beam_setting, check_profile
from seqgap_lab.metrics import text as tm
from seqgap_lab.probes.decode_cells import GRIDS, cached_cell, fixed_subset, weights_digest
from seqgap_lab.zoo import synthetic, translation
from seqgap_lab.zoo.synthetic import trained_model

SHORT = 0.5  # a translation is "very short" below this fraction of its reference's tokens (13a)


def settings(grid: dict) -> list[DecodeSetting]:
    """Every cell of an NMT grid: greedy; beams x GNMT alphas x betas; beams x HF alphas (beta 0)."""
    out = [DecodeSetting()]
    for k in grid["beams"]:
        out += [beam_setting(k, "gnmt", a, b) for b in grid["betas"] for a in grid["gnmt_alphas"]]
        out += [beam_setting(k, "hf", a) for a in grid["hf_alphas"] if a > 0]
    return out


@dataclass
class BeamTables:
    """The decoded grid of one task: metrics per cell (grid), outputs per cell label, sources, references."""

    grid: pd.DataFrame
    outputs: dict
    sources: list
    refs: list
    values: dict
    info: dict = field(default_factory=dict)


def text_metrics(hyps: list[str], refs: list[str]) -> dict:
    """sacrebleu BLEU, chrF and length ratio, plus the counts of empty and very short translations."""
    scores = tm.corpus_scores(hyps, refs)
    words = Tokenizer13a()  # sacrebleu's own tokens, so "short" agrees with its length ratio
    short = sum(len(words(h).split()) < SHORT * len(words(r).split()) for h, r in zip(hyps, refs))
    return {k: scores[k] for k in ("bleu", "chrf", "length_ratio", "bleu_signature")} | {
        "empty": sum(not h.strip() for h in hyps), "short": short}


def _run_grid(model, sources: list, cells: list[DecodeSetting], measure, key: dict, device) -> tuple[pd.DataFrame, dict]:
    """Decode (or load) every cell: the metrics table and the outputs by label."""
    rows, outputs = [], {}
    for s in cells:
        cell = cached_cell(model, sources, s, measure, key, device)
        outputs[s.label] = pd.DataFrame({"ids": cell["ids"], "raw": cell["raw"], "score": cell["score"]})
        rows.append({"label": s.label, **asdict(s), **cell["metrics"], "decode_seconds": cell["seconds"],
                     "from_cache": cell["from_cache"]})
    return pd.DataFrame(rows), outputs


def run_nmt(profile: str, seed: int = 0, num_sentences: int | None = None, device=None,
            progress: bool = True) -> BeamTables:
    """Notebook 02's Transformer (loaded from the cache, or trained) decoded over the profile's grid."""
    grid = GRIDS[check_profile(profile)]
    data = translation.load_data(profile, seed=0)
    run = translation.train_run(data, profile, "transformer", seed, device, progress)
    test = fixed_subset(data.test, grid["num_sentences"] if num_sentences is None else num_sentences)
    sources, refs = [s for s, _ in test], [t for _, t in test]
    key = {"task": "nmt-bible", "model": weights_digest(run.model), "short": SHORT,
           "data": hashlib.sha256("\n".join(f"{s}\t{t}" for s, t in test).encode()).hexdigest()}

    def measure(ids: list) -> dict:
        return text_metrics([run.vocab.decode(o) for o in ids], refs)

    table, outputs = _run_grid(run.model, run.vocab.encode_batch(sources), settings(grid), measure, key, device)
    for label, frame in outputs.items():
        frame["hypothesis"] = [run.vocab.decode(o) for o in frame["ids"]]
        frame["tokens"] = frame["ids"].map(len)
    info = {"sentences": len(test), "test_split": len(data.test), "from_cache": bool(run.from_cache),
            "bleu_signature": str(table["bleu_signature"].iloc[0])}
    return BeamTables(table.drop(columns="bleu_signature"), outputs, sources, refs, grid, info)


def run_synthetic(profile: str, seed: int = 0, device=None, progress: bool = True) -> BeamTables:
    """Notebook 01's reverse Transformer on its test split: greedy, beams x (no penalty, GNMT alphas)."""
    grid = GRIDS[check_profile(profile)]
    run = trained_model(*synthetic.configs(profile, "reverse", "transformer", seed), device=device,
                        progress=progress)
    sources, refs = [s for s, _ in run.splits.test], [t for _, t in run.splits.test]
    key = {"task": "reverse", "model": weights_digest(run.model), "data": config_hash([sources, refs])}

    def measure(ids: list) -> dict:
        out_len, ref_len = sum(map(len, ids)), sum(map(len, refs))
        return {"exact_match": float(np.mean([o == r for o, r in zip(ids, refs)])),
                "length_ratio": out_len / ref_len, "short": sum(len(o) < len(r) for o, r in zip(ids, refs)),
                "empty": sum(not o for o in ids)}

    cells = [DecodeSetting()] + [beam_setting(k, "gnmt", a) for k in grid["beams"] for a in grid["syn_alphas"]]
    table, outputs = _run_grid(run.model, sources, cells, measure, key, device)
    values = {"beams": grid["beams"], "gnmt_alphas": grid["syn_alphas"], "hf_alphas": (0.0,), "betas": (0.0,)}
    return BeamTables(table, outputs, sources, refs, values, {"sentences": len(sources)})

