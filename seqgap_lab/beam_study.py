"""The beam-search study (notebook 06): greedy vs beam sizes, the short-hypothesis bias without a length
penalty and its correction (GNMT and HF-style length penalties over alpha, the GNMT coverage penalty beta),
on notebook 02's es->en Transformer and on notebook 01's reverse Transformer.

Every decoded cell is cached on disk (data/decodes/), keyed by the model's weights, the sources, the
setting and the max-length rule, so a rerun and the explorer read it instantly. Tables are tidy with one
row per cell: label, beam_size, penalty (greedy | none | gnmt | hf), alpha, beta and the metrics.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

from seqgap_lab import compounding, nmt, paths
from seqgap_lab.cache import CacheError, atomic_write_json, config_hash, file_lock
from seqgap_lab.config import DecodeConfig, check_profile
from seqgap_lab.data.batching import pad
from seqgap_lab.data.tokenize import EOS
from seqgap_lab.decoding import decode
from seqgap_lab.experiments import trained_model
from seqgap_lab.metrics import text as tm

# Per profile: translated test verses (a fixed subset, seed 0; 0 = all), the beam sizes, the alpha grids
# (0 = no length penalty, shared by both kinds), the coverage weights (decoded with the GNMT penalty only, as in
# GNMT) and the synthetic task's GNMT alphas. Decoding dominates the notebook's time (a penalised beam rarely
# stops before max_len: up to 2x an unpenalised one): default decodes 500 verses x 56 cells, measured 8 min 38 s
# for the whole notebook from a cold decode cache (469 s of decoding) on the shared 2-core CPU, 12 s from the cache.
GRIDS = {
    "smoke": dict(num_sentences=0, beams=(1, 2, 3), gnmt_alphas=(0.0, 1.0), hf_alphas=(0.0, 1.0),
                  betas=(0.0, 0.2), syn_alphas=(0.0, 1.0)),
    "default": dict(num_sentences=500, beams=(1, 2, 3, 5, 10), gnmt_alphas=(0.0, 0.6, 1.0, 1.5),
                    hf_alphas=(0.0, 0.6, 1.0, 1.5), betas=(0.0, 0.2), syn_alphas=(0.0, 1.0)),
    "full": dict(num_sentences=0, beams=(1, 2, 3, 4, 5, 6, 8, 10), gnmt_alphas=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.5),
                 hf_alphas=(0.0, 0.4, 0.6, 0.8, 1.0, 1.5), betas=(0.0, 0.1, 0.2, 0.4), syn_alphas=(0.0, 0.6, 1.0)),
}
# A hypothesis may run to ceil(1.5 x its batch's longest source) + 10 tokens: longer than every es->en test
# reference (at most 1.82 x the source tokens, 7 tokens over 1.5 x), and it bounds the cost of a penalised
# beam, whose exact stopping rule rarely fires before max_len.
MAX_LEN_RATIO, MAX_LEN_EXTRA = 1.5, 10
BATCH = 64  # sources per decode call (x beam rows)
SHORT = 0.5  # a translation is "very short" below this fraction of its reference's tokens (13a)
CELL_FORMAT = 1  # part of every cell's cache key: bump when what a cell stores or measures changes


@dataclass(frozen=True)
class Setting:
    """One decoding cell: greedy, or beam of a size with a length penalty (none | gnmt | hf), alpha and beta."""

    beam_size: int = 1
    penalty: str = "greedy"
    alpha: float = 0.0
    beta: float = 0.0

    @property
    def label(self) -> str:
        """A readable, unique name of the cell."""
        if self.penalty == "greedy":
            return "greedy"
        lp = "no penalty" if self.penalty == "none" else f"{self.penalty} alpha={self.alpha:g}"
        return f"beam {self.beam_size}, {lp}" + (f", beta={self.beta:g}" if self.beta else "")

    def config(self, max_len: int) -> DecodeConfig:
        """The DecodeConfig of this cell for one batch."""
        if self.penalty == "greedy":
            return DecodeConfig(max_len=max_len, batch_size=BATCH)
        return DecodeConfig(method="beam", max_len=max_len, batch_size=BATCH, beam_size=self.beam_size,
                            length_penalty=self.penalty, alpha=self.alpha, beta=self.beta)


def beam_setting(beam_size: int, penalty: str, alpha: float, beta: float = 0.0) -> Setting:
    """A beam cell with alpha 0 written as 'no penalty' (the same search for either kind)."""
    return Setting(int(beam_size), "none" if alpha == 0 else penalty, float(alpha), float(beta))


def settings(grid: dict) -> list[Setting]:
    """Every cell of an NMT grid: greedy; beams x GNMT alphas x betas; beams x HF alphas (beta 0)."""
    out = [Setting()]
    for k in grid["beams"]:
        out += [beam_setting(k, "gnmt", a, b) for b in grid["betas"] for a in grid["gnmt_alphas"]]
        out += [beam_setting(k, "hf", a) for a in grid["hf_alphas"] if a > 0]
    return out


def max_len_for(longest_source: int) -> int:
    """The max_len of a batch whose longest source has this many tokens."""
    return math.ceil(MAX_LEN_RATIO * longest_source) + MAX_LEN_EXTRA


def weights_digest(model: torch.nn.Module) -> str:
    """sha256 of a model's parameters and buffers: what identifies the checkpoint decoded."""
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@torch.no_grad()
def decode_setting(model, sources: list[list[int]], setting: Setting, device=None) -> dict:
    """Decode sources (token ids) in length-sorted batches: ids (no <eos>), raw log-probs, scores, seconds."""
    device = device or next(model.parameters()).device
    model.eval()
    ids, raw, score = [None] * len(sources), [0.0] * len(sources), [0.0] * len(sources)
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    start = time.perf_counter()
    for lo in range(0, len(order), BATCH):
        idx = order[lo:lo + BATCH]
        cfg = setting.config(max_len_for(max(len(sources[i]) for i in idx)))
        out = decode(model, pad([sources[i] for i in idx]).to(device), cfg)
        raws = out.extras.get("raw_scores", out.scores)  # greedy: the scores are the log-probs
        for j, i in enumerate(idx):
            seq = out.tokens[j, :int(out.lengths[j])].tolist()
            ids[i] = seq[:-1] if seq and seq[-1] == EOS else seq
            raw[i], score[i] = float(raws[j]), float(out.scores[j])
    return {"ids": ids, "raw": raw, "score": score, "seconds": time.perf_counter() - start}


def cached_cell(model, sources: list[list[int]], setting: Setting, measure, key: dict, device=None) -> dict:
    """decode_setting plus measure(ids) -> metrics, loaded from data/decodes/ when this exact cell was decoded
    (key: the model digest and what else shaped the outputs); written atomically otherwise."""
    full = {**key, "setting": asdict(setting), "max_len": [MAX_LEN_RATIO, MAX_LEN_EXTRA], "format": CELL_FORMAT}
    path = paths.data_dir() / "decodes" / f"beam-{config_hash(full)}.json"
    if path.exists():
        return _read_cell(path, full)
    with file_lock(path, f"decoding {setting.label}"):
        if path.exists():  # decoded by another process while this one waited
            return _read_cell(path, full)
        cell = {"key": full, **decode_setting(model, sources, setting, device)}
        cell["metrics"] = measure(cell["ids"])
        atomic_write_json(path, cell)
    return {**cell, "from_cache": False}


def _read_cell(path: Path, full: dict) -> dict:
    """A cached decode cell, checked to be whole and made for `full`; CacheError otherwise."""
    try:
        cell = json.loads(path.read_text())
    except (OSError, ValueError):
        raise CacheError(f"corrupt decode cache {path}; delete it to decode again") from None
    if cell.get("key") != json.loads(json.dumps(full)):
        raise CacheError(f"decode cache {path} was made for another cell; delete it to decode again")
    return {**cell, "from_cache": True}


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


def _run_grid(model, sources: list, cells: list[Setting], measure, key: dict, device) -> tuple[pd.DataFrame, dict]:
    """Decode (or load) every cell: the metrics table and the outputs by label."""
    rows, outputs = [], {}
    for s in cells:
        cell = cached_cell(model, sources, s, measure, key, device)
        outputs[s.label] = pd.DataFrame({"ids": cell["ids"], "raw": cell["raw"], "score": cell["score"]})
        rows.append({"label": s.label, **asdict(s), **cell["metrics"], "decode_seconds": cell["seconds"],
                     "from_cache": cell["from_cache"]})
    return pd.DataFrame(rows), outputs


def _subset(pairs: list, n: int) -> list:
    """A fixed subset of n pairs (seed 0, in corpus order); all when n is 0 or too large."""
    if not n or n >= len(pairs):
        return list(pairs)
    return [pairs[i] for i in sorted(np.random.default_rng(0).choice(len(pairs), n, replace=False))]


def run_nmt(profile: str, seed: int = 0, num_sentences: int | None = None, device=None,
            progress: bool = True) -> BeamTables:
    """Notebook 02's Transformer (loaded from the cache, or trained) decoded over the profile's grid."""
    grid = GRIDS[check_profile(profile)]
    data = nmt.load_data(profile, seed=0)
    run = nmt.train_run(data, profile, "transformer", seed, device, progress)
    test = _subset(data.test, grid["num_sentences"] if num_sentences is None else num_sentences)
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
    run = trained_model(*compounding.configs(profile, "reverse", "transformer", seed), device=device,
                        progress=progress)
    sources, refs = [s for s, _ in run.splits.test], [t for _, t in run.splits.test]
    key = {"task": "reverse", "model": weights_digest(run.model), "data": config_hash([sources, refs])}

    def measure(ids: list) -> dict:
        out_len, ref_len = sum(map(len, ids)), sum(map(len, refs))
        return {"exact_match": float(np.mean([o == r for o, r in zip(ids, refs)])),
                "length_ratio": out_len / ref_len, "short": sum(len(o) < len(r) for o, r in zip(ids, refs)),
                "empty": sum(not o for o in ids)}

    cells = [Setting()] + [beam_setting(k, "gnmt", a) for k in grid["beams"] for a in grid["syn_alphas"]]
    table, outputs = _run_grid(run.model, sources, cells, measure, key, device)
    values = {"beams": grid["beams"], "gnmt_alphas": grid["syn_alphas"], "hf_alphas": (0.0,), "betas": (0.0,)}
    return BeamTables(table, outputs, sources, refs, values, {"sentences": len(sources)})

