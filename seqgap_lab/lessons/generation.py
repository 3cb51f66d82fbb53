"""What the LM generation lessons share (notebooks 07 and 10): decodings, LM pairs, generation rows.

The compared decodings, the expert/amateur LM pair and its prompts, per-generation rows and their metrics, their cache
in data/generations/, and the paired comparison over prompts.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from seqgap_lab.core import paths
from seqgap_lab.core.cache import cached_json_rows, config_hash
from seqgap_lab.core.stats import paired_bootstrap
from seqgap_lab.data.batching import collate
from seqgap_lab.metrics.generation import generation_metrics, parses, rep_n
from seqgap_lab.zoo import lms as lm

CACHE_VERSION = 1


LOOP_N = 4


REFERENCE = "reference"


# The compared decodings: label -> DecodeConfig fields (max_len and seed are set per run).
DECODINGS = {
    "greedy": dict(method="greedy"),
    "beam-5": dict(method="beam", beam_size=5),
    "top-p 0.9": dict(method="sample", top_p=0.9),
    "contrastive li2022": dict(method="contrastive", contrastive_form="li2022", contrastive_weight=1.0,
                               plausibility=0.1, amateur_temperature=1.0),
    "contrastive plain": dict(method="contrastive", contrastive_form="plain", contrastive_weight=1.0),
}


ORDER = (*DECODINGS, REFERENCE)  # how tables and takeaways list the decodings


SAMPLED = "top-p 0.9"


CONTRASTIVE = "contrastive li2022"


@dataclass
class LMPair:
    """The expert and amateur LM of one corpus (one tokenizer) and the prompts the study decodes."""

    corpus: str
    expert: lm.LMRun
    amateur: lm.LMRun
    prompts: list = field(default_factory=list)  # lm.EvalPrompt
    prompt_ids: list = field(default_factory=list)


def coherent_length(tokens, n: int = LOOP_N) -> int:
    """Longest prefix length of tokens in which no n-gram occurs twice (all of it if none repeats)."""
    seen: set = set()
    for i in range(len(tokens) - n + 1):
        gram = tuple(tokens[i:i + n])
        if gram in seen:
            return i + n - 1
        seen.add(gram)
    return len(tokens)


def pair_key(pair: LMPair) -> dict:
    """What identifies a pair's generations: both checkpoints' bytes and the prompts."""
    sha = lambda data: hashlib.sha256(data).hexdigest()
    return {"corpus": pair.corpus, "profile": pair.expert.profile, "expert": sha(pair.expert.checkpoint.read_bytes()),
            "amateur": sha(pair.amateur.checkpoint.read_bytes()),
            "prompts": sha(json.dumps([p.prompt for p in pair.prompts]).encode())}


def cached_rows(name: str, key: dict, compute) -> tuple[list[dict], bool]:
    """Rows stored under data/generations/<name>-<hash>.json for key, else compute() written atomically.

    A file that is unreadable or made for another key is recomputed and replaced (it is derived data); two
    processes asking at once compute once (cache.cached_json_rows). Bump CACHE_VERSION when what a row holds
    changes (e.g. the metrics stored per generation)."""
    key = json.loads(json.dumps({"version": CACHE_VERSION, **key}, default=str))
    path = paths.data_dir() / "generations" / f"{name}-{config_hash(key)}.json"
    return cached_json_rows(path, key, compute, f"generating {name}")


@torch.no_grad()
def expert_nll(pair: LMPair, continuations: list[list[int]], batch_size: int = 64) -> list[float]:
    """Summed -log P_expert of each continuation's tokens given its prompt (no <eos>)."""
    model = pair.expert.model
    device, was_training = next(model.parameters()).device, model.training
    model.eval()
    out = []
    try:
        for start in range(0, len(continuations), batch_size):
            chunk = list(zip(pair.prompt_ids[start:start + batch_size], continuations[start:start + batch_size]))
            batch = collate(chunk).to(device)
            log_probs = model(batch.src, batch.tgt_in, batch.src_mask).float().log_softmax(-1)  # (B, T, V)
            nll = -log_probs.gather(-1, batch.tgt_out[..., None])[..., 0]  # (B, T)
            keep = torch.arange(nll.shape[1], device=device)[None, :] < torch.tensor(
                [len(c) for _, c in chunk], device=device)[:, None]  # generated tokens only, not the <eos>
            out += (nll * keep).sum(1).tolist()
    finally:
        model.train(was_training)
    return out


def generation_rows(pair: LMPair, continuations: list[list[int]], tag: dict, max_len: int) -> list[dict]:
    """One row per prompt: the completion text and its per-generation numbers."""
    vocab, code = pair.expert.vocab, pair.corpus == "code"
    nll = expert_nll(pair, continuations)
    rows = []
    for i, (p, ids, cont) in enumerate(zip(pair.prompts, pair.prompt_ids, continuations)):
        text = lm.completion_text(vocab, ids, cont)
        words = text.split()
        rows.append({**tag, "max_len": max_len, "prompt_index": i, "completion": text, "tokens": len(cont),
                     "stopped": len(cont) < max_len, "words": len(words), "coherent_words": coherent_length(words),
                     "rep_4": rep_n([words], 4), "nll_sum": nll[i],
                     "parses": parses(p.prompt + text) if code else None})
    return rows


def reference_ids(pair: LMPair) -> list[list[int]]:
    """Each reference continuation's ids as the LM reads it after the prompt."""
    vocab, out = pair.expert.vocab, []
    for p, ids in zip(pair.prompts, pair.prompt_ids):
        whole = vocab.encode(p.prompt + p.reference)
        out.append(whole[len(ids):] if whole[:len(ids)] == ids else vocab.encode(p.reference))
    return out


def group_metrics(rows: pd.DataFrame, references: pd.DataFrame | None = None) -> dict:
    """Pooled numbers of one group of generations (rows in prompt order; references aligned to them)."""
    row = generation_metrics(list(rows["completion"]),
                             None if references is None else list(references["completion"]))
    row.update(coherent_words=rows["coherent_words"].mean(), mean_tokens=rows["tokens"].mean(),
               empty_share=(rows["tokens"] == 0).mean(), stopped_share=rows["stopped"].mean(),
               expert_nll=rows["nll_sum"].sum() / max(rows["tokens"].sum(), 1))
    if rows["parses"].notna().all():
        # parses() drops the cut last line, so a completion with no newline (or none at all) is judged by the
        # prompt alone, which parses: report the share of those and the rate over the completions it reads
        checked = rows["completion"].str.contains("\n", regex=False)
        row.update(parse_rate=rows["parses"].astype(bool).mean(), unchecked_share=1.0 - checked.mean(),
                   parse_rate_checked=rows.loc[checked, "parses"].astype(bool).mean())
    return {k: float(v) for k, v in row.items()}


# The smallest per-prompt difference of a generation score (rep-4, parse rate, topic similarity) the lessons
# count, fixed before measuring: 'no clear difference' needs the 95% interval inside ±0.01.
SMALLEST_GENERATION = 0.01


PAIRED_PROMPTS_NOTE = ("Paired over the same prompts: a bootstrap of the mean per-prompt difference (95% interval, "
                       f"two-sided p), 'no clear difference' only when the interval lies inside ±{SMALLEST_GENERATION:g}, "
                       "no verdict under 100 prompts.")


def paired_comparison(diff: Sequence[float], better: str | None, smallest: float = SMALLEST_GENERATION) -> dict:
    """The mean per-prompt difference new - base compared with core/stats' paired bootstrap (interval, p-value,
    verdict), as a dict for summary.json (`stats.sentence` prints it). better = 'lower' (rep-4) or 'higher' (parse
    rate, topic similarity) turns the verdict into helps / hurts in that direction; None words it higher / lower."""
    d = np.asarray(diff, dtype=float)
    d = d[np.isfinite(d)]
    n = max(len(d), 1)
    comparison = paired_bootstrap({"d": d}, lambda totals: totals["d"] / n, smallest)
    rise, fall = {"lower": ("hurts", "helps"), "higher": ("helps", "hurts"), None: ("higher", "lower")}[better]
    verdict = {"helps": rise, "hurts": fall}.get(comparison.verdict, comparison.verdict)
    return dataclasses.replace(comparison, verdict=verdict).as_dict()
