"""Error compounding, measured against a task's oracle: per-position error under teacher forcing vs
free running, error conditioned on an earlier error, error injection, and ExAccErr (Arora et al. 2022).

Positions are 1-based over the target followed by <eos> (position len(tgt)+1 is the stop decision).
The oracle's correct token at position t is the gold target token t: for these tasks the correct
output is fixed by the source, whatever prefix the model has written.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch

from seqgap_lab.data.batching import Batch, collate
from seqgap_lab.data.vocab import BOS, EOS, PAD
from seqgap_lab.models.base import Seq2SeqModel

FREE = -1  # in a forcing matrix: feed the model's own prediction at this step


@torch.no_grad()
def rollout(model: Seq2SeqModel, batch: Batch, forced: torch.Tensor | None = None,
            sample: bool = False, generator: torch.Generator | None = None) -> dict:
    """Run the decoder for T = tgt_out.shape[1] steps, never stopping at <eos>.

    forced (B, T): the token written at step t (the next step's input), or FREE to write the
    model's own choice (argmax, or a sample when sample=True). Returns (B, T) tensors:
    `pred` the argmax at each step, `written` the tokens actually written, and `gold_nll`
    = -log p_model(gold token | written prefix).
    """
    src_mask = batch.src_mask
    b, steps = batch.tgt_out.shape
    forced = torch.full((b, steps), FREE, dtype=torch.long, device=batch.src.device) if forced is None else forced
    state = model.init_state(model.encode(batch.src, src_mask), src_mask)
    prev = torch.full((b,), BOS, dtype=torch.long, device=batch.src.device)
    pred, written, gold_nll = [], [], []
    for t in range(steps):
        logits, state = model.step(prev, state)
        log_probs = logits.float().log_softmax(-1)  # (B, V)
        choice = log_probs.argmax(-1)
        pred.append(choice)
        gold_nll.append(-log_probs.gather(1, batch.tgt_out[:, t:t + 1].clamp(min=0))[:, 0])
        if sample:
            choice = torch.multinomial(log_probs.exp(), 1, generator=generator)[:, 0]
        prev = torch.where(forced[:, t] == FREE, choice, forced[:, t])
        written.append(prev)
    stack = lambda xs: torch.stack(xs, 1)  # noqa: E731  list of (B,) -> (B, T)
    return {"pred": stack(pred), "written": stack(written), "gold_nll": stack(gold_nll)}


def stop_after_eos(tokens: torch.Tensor) -> torch.Tensor:
    """Replace everything after each row's first <eos> by <pad>: what a decoder that stops outputs."""
    seen = (tokens == EOS).long().cumsum(1)
    after = (seen - (tokens == EOS).long()) > 0
    return tokens.masked_fill(after, PAD)


def _batches(pairs: Sequence, batch_size: int, device: torch.device):
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][1]))
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        yield idx, collate([pairs[i] for i in idx]).to(device)


def _device(model: Seq2SeqModel) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def token_errors(model: Seq2SeqModel, pairs: Sequence, batch_size: int = 256,
                 free_running: bool = True) -> pd.DataFrame:
    """One row per (example, position): teacher-forced and free-running correctness.

    Columns: example, length (target tokens), position, tf_error, fr_error (bools). Free running is
    greedy decoding that stops at <eos>; positions it never reaches count as errors. With
    free_running=False that decoding is skipped and fr_error is left out.
    """
    model.eval()
    rows = []
    for idx, batch in _batches(pairs, batch_size, _device(model)):
        tf_pred = model(batch.src, batch.tgt_in, batch.src_mask).argmax(-1)  # (B, T)
        mask = batch.tgt_mask
        tf_err = (tf_pred != batch.tgt_out) & mask
        lengths = mask.sum(1) - 1
        b_idx, pos = mask.nonzero(as_tuple=True)
        part = pd.DataFrame({"example": np.asarray(idx)[b_idx.cpu().numpy()], "length": lengths[b_idx].cpu().numpy(),
                             "position": pos.cpu().numpy() + 1, "tf_error": tf_err[b_idx, pos].cpu().numpy()})
        if free_running:
            fr_pred = stop_after_eos(rollout(model, batch)["written"])  # (B, T)
            part["fr_error"] = ((fr_pred != batch.tgt_out) & mask)[b_idx, pos].cpu().numpy()
        rows.append(part)
    return pd.concat(rows, ignore_index=True)


def per_position_error(errors: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """Tidy error rate by position (and any `by` columns) for both modes.

    Columns: *by, position, mode ('teacher-forced' | 'free-running'), error_rate, count.
    """
    keys = [*by, "position"]
    g = errors.groupby(keys)
    out = []
    for mode, col in (("teacher-forced", "tf_error"), ("free-running", "fr_error")):
        part = pd.DataFrame({"error_rate": g[col].mean(), "count": g[col].size()}).reset_index()
        part.insert(len(keys), "mode", mode)
        out.append(part)
    return pd.concat(out, ignore_index=True)


def conditional_error(errors: pd.DataFrame) -> pd.DataFrame:
    """Free-running error at position t given whether an earlier position was already wrong.

    Columns: position, condition ('clean prefix' | 'after an error'), error_rate, count. The gap
    between the two curves is the compounding signature.
    """
    e = errors.sort_values(["example", "position"]).copy()
    earlier = e.groupby("example")["fr_error"].cumsum() - e["fr_error"]
    e["condition"] = np.where(earlier > 0, "after an error", "clean prefix")
    e = e[e["position"] > 1]
    g = e.groupby(["position", "condition"])["fr_error"]
    out = pd.DataFrame({"error_rate": g.mean(), "count": g.size()}).reset_index()
    return out[["position", "condition", "error_rate", "count"]]


@torch.no_grad()
def injection(model: Seq2SeqModel, pairs: Sequence, wrong_ids: Sequence[int], at: int, k: int,
              seed: int = 0, batch_size: int = 256) -> pd.DataFrame:
    """Force k wrong tokens at positions at+1..at+k (gold before), then let the model run free.

    Compared with a clean run that is fed the gold prefix up to the same point. Only examples whose
    target (with <eos>) extends past the injection are used. Columns: offset (steps after the last
    injected token, 1 = the first free step), condition ('injected' | 'clean'), error_rate, count.
    """
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    wrong = torch.as_tensor(sorted(set(wrong_ids)))
    if len(wrong) < 2:
        raise ValueError(f"wrong_ids needs at least 2 distinct ids, got {list(wrong_ids)}")
    keep = [p for p in pairs if len(p[1]) + 1 > at + k]
    rows = []
    for _, batch in _batches(keep, batch_size, _device(model)):
        gold = batch.tgt_out
        forced = torch.full_like(gold, FREE)
        forced[:, : at + k] = gold[:, : at + k]
        clean = stop_after_eos(rollout(model, batch, forced)["written"])
        draws = wrong[torch.randint(len(wrong), (gold.shape[0], k), generator=gen)].to(gold.device)
        # A draw equal to gold is not an error: shift it to the next wrong id.
        same = draws == gold[:, at:at + k]
        draws[same] = wrong.to(gold.device)[(torch.searchsorted(wrong.to(gold.device), draws[same]) + 1) % len(wrong)]
        forced[:, at:at + k] = draws
        injected = stop_after_eos(rollout(model, batch, forced)["written"])
        for name, out in (("clean", clean), ("injected", injected)):
            err = (out != gold) & batch.tgt_mask
            for t in range(at + k, gold.shape[1]):
                valid = batch.tgt_mask[:, t]
                rows.append((t - at - k + 1, name, int(err[valid, t].sum()), int(valid.sum())))
    df = pd.DataFrame(rows, columns=["offset", "condition", "errors", "count"])
    df = df.groupby(["offset", "condition"], as_index=False)[["errors", "count"]].sum()
    df["error_rate"] = df["errors"] / df["count"]
    return df[df["count"] > 0][["offset", "condition", "error_rate", "count"]].reset_index(drop=True)


@torch.no_grad()
def step_errors(model: Seq2SeqModel, pairs: Sequence, prefix: str = "greedy", seed: int = 0,
                batch_size: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-step errors eps = -log p_model(oracle token) for each example, padded with NaN.

    Returns (eps_model, eps_oracle, lengths): eps over the model's own prefixes ('greedy' or
    'sample') and over oracle (gold) prefixes, each (N, T), and the lengths incl. <eos>.
    """
    if prefix not in ("greedy", "sample"):
        raise ValueError(f"prefix = {prefix!r} is not allowed: expected 'greedy' | 'sample'")
    model.eval()
    gen = torch.Generator(device=_device(model)).manual_seed(seed)
    width = max(len(t) for _, t in pairs) + 1
    eps_model, eps_oracle = np.full((len(pairs), width), np.nan), np.full((len(pairs), width), np.nan)
    for idx, batch in _batches(pairs, batch_size, _device(model)):
        own = rollout(model, batch, sample=prefix == "sample", generator=gen)["gold_nll"]
        gold = torch.full_like(batch.tgt_out, FREE)
        gold[batch.tgt_mask] = batch.tgt_out[batch.tgt_mask]
        oracle = rollout(model, batch, forced=gold)["gold_nll"]
        mask = batch.tgt_mask.cpu().numpy()
        for row, i in enumerate(idx):
            n = int(mask[row].sum())
            eps_model[i, :n] = own[row, :n].cpu().numpy()
            eps_oracle[i, :n] = oracle[row, :n].cpu().numpy()
    lengths = (~np.isnan(eps_model)).sum(1)
    return eps_model, eps_oracle, lengths


def exaccerr(eps_model: np.ndarray, eps_oracle: np.ndarray, lengths: np.ndarray) -> pd.DataFrame:
    """ExAccErr(l) = (R(l) - l*eps_bar(l)) / (l*eps_bar(l)) * 100% (Arora et al. 2022).

    R(l): expected sum of eps over the first l steps of model-generated prefixes; l*eps_bar(l): the
    same sum over oracle prefixes. At each l only examples at least l steps long are averaged.
    Columns: length, regret (R), oracle_sum (l*eps_bar), exaccerr_pct, count.
    """
    rows = []
    cum_model, cum_oracle = np.nancumsum(eps_model, 1), np.nancumsum(eps_oracle, 1)
    for l in range(1, eps_model.shape[1] + 1):
        sel = lengths >= l
        if not sel.any():
            continue
        r, base = cum_model[sel, l - 1].mean(), cum_oracle[sel, l - 1].mean()
        pct = (r - base) / base * 100.0 if base > 0 else float("nan")
        rows.append((l, r, base, pct, int(sel.sum())))
    return pd.DataFrame(rows, columns=["length", "regret", "oracle_sum", "exaccerr_pct", "count"])


@torch.no_grad()
def continuation_loss(model: Seq2SeqModel, pairs: Sequence, ks: Sequence[int], batch_size: int = 128) -> pd.DataFrame:
    """Loss on the reference continuation y_{k+1..} after a k-token prefix written by the model itself
    (greedy) vs after the gold k-token prefix: the real-data compounding curve, no oracle needed.

    Only examples whose target (with <eos>) is longer than k count at that k. Columns: k, prefix
    ('model' | 'gold'), loss (mean nll per continuation token), tokens, examples.
    """
    model.eval()
    sums: dict = {}
    for _, batch in _batches(pairs, batch_size, _device(model)):
        gold = torch.full_like(batch.tgt_out, FREE)
        gold[batch.tgt_mask] = batch.tgt_out[batch.tgt_mask]
        gold_nll = rollout(model, batch, forced=gold)["gold_nll"]  # (B, T)
        for k in ks:
            if k >= batch.tgt_out.shape[1]:
                continue
            forced = gold.clone()
            forced[:, :k] = FREE  # the model writes its own first k tokens, then reads the reference
            own_nll = rollout(model, batch, forced=forced)["gold_nll"]
            cont = batch.tgt_mask.clone()
            cont[:, :k] = False  # (B, T) continuation tokens only
            n_examples = int(cont.any(1).sum())
            for name, nll in (("model", own_nll), ("gold", gold_nll)):
                acc = sums.setdefault((k, name), [0.0, 0, 0])
                acc[0] += float(nll[cont].sum())
                acc[1] += int(cont.sum())
                acc[2] += n_examples
    rows = [(k, name, s / max(n, 1), n, e) for (k, name), (s, n, e) in sorted(sums.items())]
    return pd.DataFrame(rows, columns=["k", "prefix", "loss", "tokens", "examples"])
