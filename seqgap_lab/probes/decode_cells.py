"""Cached decoding cells: a model decoded under one DecodeSetting, stored in data/decodes/.

A cell is greedy, or beam with a length penalty, alpha and beta, over fixed sources; it is keyed by the model's weights,
the sources and the setting. Also the grids per profile. Notebook 06's study and the es-en sweep cells decode through
it.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from seqgap_lab.core import paths
from seqgap_lab.core.cache import CacheError, atomic_write_json, config_hash, file_lock
from seqgap_lab.core.config import DECODE_BATCH, DecodeSetting
from seqgap_lab.data.batching import pad
from seqgap_lab.data.vocab import EOS
from seqgap_lab.decoding import decode

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


CELL_FORMAT = 1  # part of every cell's cache key: bump when what a cell stores or measures changes


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
def decode_setting(model, sources: list[list[int]], setting: DecodeSetting, device=None) -> dict:
    """Decode sources (token ids) in length-sorted batches: ids (no <eos>), raw log-probs, scores, seconds."""
    device = device or next(model.parameters()).device
    model.eval()
    ids, raw, score = [None] * len(sources), [0.0] * len(sources), [0.0] * len(sources)
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    start = time.perf_counter()
    for lo in range(0, len(order), DECODE_BATCH):
        idx = order[lo:lo + DECODE_BATCH]
        cfg = setting.config(max_len_for(max(len(sources[i]) for i in idx)))
        out = decode(model, pad([sources[i] for i in idx]).to(device), cfg)
        raws = out.extras.get("raw_scores", out.scores)  # greedy: the scores are the log-probs
        for j, i in enumerate(idx):
            seq = out.tokens[j, :int(out.lengths[j])].tolist()
            ids[i] = seq[:-1] if seq and seq[-1] == EOS else seq
            raw[i], score[i] = float(raws[j]), float(out.scores[j])
    return {"ids": ids, "raw": raw, "score": score, "seconds": time.perf_counter() - start}


def cached_cell(model, sources: list[list[int]], setting: DecodeSetting, measure, key: dict, device=None) -> dict:
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


def fixed_subset(pairs: list, n: int) -> list:
    """A fixed subset of n pairs (seed 0, in corpus order); all when n is 0 or too large."""
    if not n or n >= len(pairs):
        return list(pairs)
    return [pairs[i] for i in sorted(np.random.default_rng(0).choice(len(pairs), n, replace=False))]
