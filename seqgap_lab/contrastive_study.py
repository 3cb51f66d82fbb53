"""The contrastive-decoding study (notebook 07): greedy, beam, top-p and contrastive decoding of held-out
prompts (lm.eval_prompts) by the prose and code LMs at several generation budgets L (max_len, LM tokens; each
(decoding, L) its own run), measured as repetition, diversity, coherent length, expert NLL, code parse rate.

Prompts have at most window - max(L) tokens, so prompt + continuation stays in the LM's training window (a
seed-0 subset). "reference" rows are the human continuation cut at the same L tokens. Coherent length (a proxy,
defined here): the longest prefix of a continuation, in whitespace words, in which no word 4-gram occurs
twice, i.e. where the first verbatim loop begins. Length ratio: generated words / reference words at the same
budget. expert_nll: -log P_expert per generated token. Generations are cached as JSON in data/generations/
(atomic, keyed by the checkpoints' sha256 and every setting), so reruns and the explorer are instant.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from seqgap_lab import lm, paths
from seqgap_lab.cache import cached_json_rows, config_hash
from seqgap_lab.config import ConfigError, DecodeConfig, check_choice, check_profile
from seqgap_lab.data.batching import collate
from seqgap_lab.decoding import decode_sequences
from seqgap_lab.metrics.generation import generation_metrics, parses, rep_n
from seqgap_lab.stats import verdict

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
# lengths: generation budgets (LM tokens) per corpus; prompts keep <= window - the longest. Code gets shorter
# budgets: its 4-line prompts are long in tokens (indentation), and with prompts <= 32 tokens (window 128 - 96)
# only tiny functions fit (median reference 13 tokens, measured); <= 64 keeps 483 of 583 (median 45 tokens).
# grid: the explorer's (w, a, tau) values, decoded at the longest budget on the first grid_prompts prompts.
PROFILES = {
    "smoke": dict(lengths={"prose": (8, 16), "code": (8, 16)}, num_prompts=6, top_p_seeds=2,
                  grid_prompts=3, weights=(0.0, 1.0), plausibilities=(0.0, 0.1), temperatures=(1.0,)),
    "default": dict(lengths={"prose": (32, 64, 96), "code": (16, 32, 64)}, num_prompts=100, top_p_seeds=3,
                    grid_prompts=16, weights=(0.0, 0.25, 0.5, 1.0, 2.0), plausibilities=(0.0, 0.05, 0.1, 0.3),
                    temperatures=(0.5, 1.0, 2.0)),
    "full": dict(lengths={"prose": (64, 128, 192), "code": (32, 64, 128)}, num_prompts=300, top_p_seeds=5,
                 grid_prompts=40, weights=(0.0, 0.25, 0.5, 1.0, 2.0, 4.0),
                 plausibilities=(0.0, 0.05, 0.1, 0.3, 0.5), temperatures=(0.5, 1.0, 2.0)),
}


@dataclass
class LMPair:
    """The expert and amateur LM of one corpus (one tokenizer) and the prompts the study decodes."""

    corpus: str
    expert: lm.LMRun
    amateur: lm.LMRun
    prompts: list = field(default_factory=list)  # lm.EvalPrompt
    prompt_ids: list = field(default_factory=list)


@dataclass
class ContrastiveTables:
    """Per-generation rows, the tidy metric table, the LM pairs (kept for the explorer) and run facts."""

    generations: pd.DataFrame
    metrics: pd.DataFrame
    pairs: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)


def coherent_length(tokens, n: int = LOOP_N) -> int:
    """Longest prefix length of tokens in which no n-gram occurs twice (all of it if none repeats)."""
    seen: set = set()
    for i in range(len(tokens) - n + 1):
        gram = tuple(tokens[i:i + n])
        if gram in seen:
            return i + n - 1
        seen.add(gram)
    return len(tokens)


def load_pair(corpus: str, profile: str, seed: int = 0, device=None, num_prompts: int = 0,
              progress: bool = False) -> LMPair:
    """Both LMs of a corpus (cached or trained) and its seeded held-out prompts that fit the budget."""
    check_choice("contrastive_study", "corpus", corpus, lm.LM_CORPORA)
    spec = PROFILES[check_profile(profile)]
    expert = lm.trained_lm(corpus, "expert", profile, seed, device, progress)
    amateur = lm.trained_lm(corpus, "amateur", profile, seed, device, progress)
    budget = expert.window - max(spec["lengths"][corpus])
    found = lm.eval_prompts(corpus)
    sizes = [len(ids) for ids in expert.vocab.encode_batch([p.prompt for p in found])]
    fit = [p for p, n in zip(found, sizes) if 0 < n <= budget]
    num = num_prompts or spec["num_prompts"]
    if len(fit) < min(num, 2):
        raise ConfigError(f"contrastive_study.num_prompts = {num} is not allowed: only {len(fit)} {corpus} "
                          f"prompts have <= {budget} tokens (window {expert.window} - longest budget)")
    if num < len(fit):
        fit = [fit[i] for i in sorted(np.random.default_rng(0).choice(len(fit), num, replace=False))]
    return LMPair(corpus, expert, amateur, fit, expert.vocab.encode_batch([p.prompt for p in fit]))


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


def decode_runs(pair: LMPair, lengths, seeds) -> list[dict]:
    """Every decoding x budget (x top-p seed), plus the reference cut at each budget, as rows."""
    rows, refs = [], reference_ids(pair)
    amateur = pair.amateur.model
    for max_len in lengths:
        rows += generation_rows(pair, [r[:max_len] for r in refs], {"decoding": REFERENCE, "seed": 0}, max_len)
        for label, knobs in DECODINGS.items():
            for seed in (seeds if knobs["method"] == "sample" else (0,)):
                config = DecodeConfig(max_len=max_len, seed=seed, **knobs)
                start = time.perf_counter()
                outs = decode_sequences(pair.expert.model, pair.prompt_ids, config,
                                        amateur=amateur if knobs["method"] == "contrastive" else None)
                tag = {"decoding": label, "seed": seed, "decode_seconds": time.perf_counter() - start}
                rows += generation_rows(pair, outs, tag, max_len)
    return rows


def run_study(profile: str, corpora=lm.LM_CORPORA, seed: int = 0, device=None, top_p_seeds: int = 0,
              num_prompts: int = 0, progress: bool = False) -> ContrastiveTables:
    """Decode (or load from the cache) every corpus's study; metrics computed from the generation rows."""
    spec = PROFILES[check_profile(profile)]
    seeds = [seed + i for i in range(top_p_seeds or spec["top_p_seeds"])]
    gens, pairs, info = [], {}, {"seeds": seeds, "lengths": {}, "corpora": {}}
    for corpus in corpora:
        start = time.perf_counter()
        pair = pairs[corpus] = load_pair(corpus, profile, seed, device, num_prompts, progress)
        lengths = info["lengths"][corpus] = list(spec["lengths"][corpus])
        key = dict(pair_key(pair), lengths=lengths, seeds=seeds, decodings=DECODINGS)
        rows, hit = cached_rows(f"07-{corpus}-study", key, lambda: decode_runs(pair, lengths, seeds))
        gens.append(pd.DataFrame(rows).assign(corpus=corpus))
        info["corpora"][corpus] = {"num_prompts": len(pair.prompts), "window": pair.expert.window,
                                   "max_prompt_tokens": max(map(len, pair.prompt_ids)), "from_cache": hit,
                                   "seconds": round(time.perf_counter() - start, 1)}
    generations = pd.concat(gens, ignore_index=True)
    return ContrastiveTables(generations, metrics_table(generations), pairs, info)


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


def metrics_table(generations: pd.DataFrame) -> pd.DataFrame:
    """Tidy metrics: one row per (corpus, decoding, seed, max_len, metric); length ratio vs the cut reference."""
    out = []
    for (corpus, decoding, seed, max_len), rows in generations.groupby(["corpus", "decoding", "seed", "max_len"],
                                                                       sort=False):
        rows = rows.sort_values("prompt_index")
        refs = generations[(generations["corpus"] == corpus) & (generations["decoding"] == REFERENCE)
                           & (generations["max_len"] == max_len)].sort_values("prompt_index")
        tag = {"corpus": corpus, "decoding": decoding, "seed": int(seed), "max_len": int(max_len)}
        out += [dict(tag, metric=k, value=v) for k, v in group_metrics(rows, refs).items()]
    return pd.DataFrame(out)


def _paired(generations: pd.DataFrame, corpus: str, max_len: int, a: str, b: str, column: str) -> tuple:
    """Mean and standard error over prompts of (a - b) in a per-generation column."""
    g = generations[(generations["corpus"] == corpus) & (generations["max_len"] == max_len)]
    pick = lambda label: g[(g["decoding"] == label) & (g["seed"] == g[g["decoding"] == label]["seed"].min())]
    diff = (pick(a).set_index("prompt_index")[column].astype(float)
            - pick(b).set_index("prompt_index")[column].astype(float)).dropna()
    return float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else float("nan")


def headline(tables: ContrastiveTables, weight_effects: dict | None = None) -> dict:
    """Per corpus: every decoding at the longest budget (top-p: mean and sd over seeds), curves vs budget,
    contrastive li2022 vs greedy paired over prompts, and the effect of w per corpus if given
    (contrastive_widgets.weight_effect on the explorer grid)."""
    m, out = tables.metrics, {}
    for corpus in m["corpus"].drop_duplicates():
        mc = m[m["corpus"] == corpus]
        longest = int(mc["max_len"].max())
        at = mc[mc["max_len"] == longest].groupby(["decoding", "metric"])["value"]
        stats = at.mean().unstack("metric")
        spread = at.std(ddof=1).unstack("metric")
        decodings = {}
        for label in [d for d in ORDER if d in stats.index]:
            row = stats.loc[label].dropna().to_dict()
            if label == SAMPLED:
                row.update({f"{k}_sd": v for k, v in spread.loc[label].dropna().items()})
            decodings[label] = row
        by_length = {}
        for k in ("rep_4", "parse_rate", "parse_rate_checked", "unchecked_share", "coherent_words"):
            part = mc[mc["metric"] == k]
            curves = part.groupby(["decoding", "max_len"])["value"].mean()
            by_length[k] = {d: {str(L): v for L, v in curves[d].items()} for d in ORDER if d in curves.index}
        diff, se = _paired(tables.generations, corpus, longest, CONTRASTIVE, "greedy", "rep_4")
        row = {"longest": longest, "num_prompts": tables.info.get("corpora", {}).get(corpus, {}).get("num_prompts"),
               "decodings": decodings, "by_length": by_length,
               "contrastive_minus_greedy_rep_4": diff, "contrastive_minus_greedy_rep_4_se": se}
        if weight_effects and corpus in weight_effects:
            row["weight_effect"] = weight_effects[corpus]
        out[corpus] = row
    return out


def compare(diff: float, se: float, min_delta: float = 0.01) -> str:
    """'lower' / 'higher' only past two standard errors of a paired difference (and min_delta); None (a NaN
    read back from summary.json) counts as NaN."""
    se = float("nan") if se is None else se
    tol = max(min_delta, 2 * se) if se == se else min_delta
    if diff is None or diff != diff:
        return "could not be compared"
    word = "lower" if diff < -tol else "higher" if diff > tol else "no clear difference"
    return f"{word} ({diff:+.3f}, noise ±{tol:.3f})"


def _listing(d: dict, key: str) -> str:
    """'label value[ ± sd]; ...' over the decodings of a headline row."""
    out = []
    for label, r in ((label, r) for label, r in d.items() if key in r):
        sd = r.get(f"{key}_sd")
        out.append(f"{label} {r[key]:.3f}" + (f" ± {sd:.3f}" if sd is not None and sd == sd else ""))
    return "; ".join(out)


def _corpus_lines(corpus: str, h: dict) -> list[str]:
    """The takeaway bullets of one corpus, every number read from its headline row."""
    d, L = h["decodings"], h["longest"]
    lines = [f"- **{corpus}**, {L}-token budget, rep-4: {_listing(d, 'rep_4')}. Diversity: "
             f"{_listing(d, 'diversity')}. Coherent words: {_listing(d, 'coherent_words')}."]
    c, g = d.get(CONTRASTIVE), d.get("greedy")
    if c and g:
        said = compare(h["contrastive_minus_greedy_rep_4"], h["contrastive_minus_greedy_rep_4_se"])
        lines.append(f"- {corpus}: {CONTRASTIVE} (w = 1, a = 0.1, tau = 1) against greedy, rep-4 per "
                     f"prompt: {said}; expert NLL {c['expert_nll']:.2f} vs {g['expert_nll']:.2f} nats/token.")
    plain = d.get("contrastive plain")
    if plain and c:
        lines.append(f"- {corpus}: the plain form (no plausibility mask) has rep-4 {plain['rep_4']:.3f}, distinct-1 "
                     f"{plain['distinct_1']:.3f} and expert NLL {plain['expert_nll']:.2f} nats/token "
                     f"(li2022: {c['rep_4']:.3f}, {c['distinct_1']:.3f}, {c['expert_nll']:.2f}).")
    empty = {label: r["empty_share"] for label, r in d.items() if r.get("empty_share", 0) >= 0.05}
    if empty:
        lines.append(f"- {corpus}: empty continuations (<eos> first): "
                     + "; ".join(f"{k} {v:.0%}" for k, v in empty.items()) + ".")
    return lines + _parse_lines(corpus, h) + _weight_lines(corpus, h)


def _parse_lines(corpus: str, h: dict) -> list[str]:
    curves = h["by_length"].get("parse_rate") or {}
    if not curves:
        return []
    series = lambda c: "/".join(f"{v:.2f}" for v in c.values())
    listing = lambda k: "; ".join(f"{label} {series(c)}" for label, c in h["by_length"].get(k, {}).items())
    out = [f"- {corpus}: parse rate at {'/'.join(next(iter(curves.values())))} tokens: {listing('parse_rate')}. "
           "The check drops the cut last line, so a completion without a newline (empty included) is judged by the "
           f"prompt alone; share of those: {listing('unchecked_share')}; parse rate over the completions with at "
           f"least one complete line: {listing('parse_rate_checked')}."]
    d, n = h["decodings"], h.get("num_prompts") or 0
    if CONTRASTIVE in d and "greedy" in d:
        c, g = d[CONTRASTIVE], d["greedy"]
        # the checked subsets differ in size: judge on the smaller one (conservative)
        m = round(n * (1 - max(c["unchecked_share"], g["unchecked_share"])))
        out.append(f"- {corpus}: at {h['longest']} tokens contrastive vs greedy parse rate {c['parse_rate']:.3f} vs "
                   f"{g['parse_rate']:.3f}: contrastive {verdict(c['parse_rate'], g['parse_rate'], n)} ({n} prompts); "
                   f"over checked completions {c['parse_rate_checked']:.3f} vs {g['parse_rate_checked']:.3f}: "
                   f"contrastive {verdict(c['parse_rate_checked'], g['parse_rate_checked'], m)} (>= {m} each).")
    return out


def _weight_lines(corpus: str, h: dict) -> list[str]:
    w = h.get("weight_effect")
    if not w or not w["weights"]:
        return []
    series = lambda k: " -> ".join(f"{v:.3f}" for v in w[k])
    text = (f"- {corpus}, explorer grid ({w['num_prompts']} prompts, a = {w['plausibility']:g}, tau = "
            f"{w['amateur_temperature']:g}), w = {' -> '.join(f'{x:g}' for x in w['weights'])}: rep-4 "
            f"{series('rep_4')}, diversity {series('diversity')}, expert NLL {series('expert_nll')}")
    if "parse_rate" in w:
        text += f", parse rate {series('parse_rate')}"
    if "parse_rate_checked" in w:
        text += f" (over checked completions {series('parse_rate_checked')})"
    return [text + "."]


def takeaway(head: dict, info: dict, profile: str) -> str:
    """The notebook's takeaway as Markdown, every number read from `head` (see headline())."""
    seeds, lengths = info.get("seeds", []), info.get("lengths", {})
    budgets = ", ".join(f"{c} {v}" for c, v in lengths.items())
    lines = [f"Profile `{profile}`; generation budgets (LM tokens) {budgets}; top-p sample seeds {seeds} "
             "(top-p numbers are the mean ± sd over those seeds; the other decodings are deterministic). "
             "rep-4 = share of a continuation's word 4-grams that repeat one of its own; coherent words = the "
             "longest prefix with no repeated word 4-gram (a proxy for where the first loop starts); the "
             "`reference` row is the human continuation cut at the same budget. A difference is called lower "
             "or higher only beyond two standard errors."]
    for corpus, h in head.items():
        lines += _corpus_lines(corpus, h)
    return "\n".join(lines)

