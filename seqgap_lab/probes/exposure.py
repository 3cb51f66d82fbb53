"""Error compounding, measured against a task's oracle: per-position error under teacher forcing vs
free running, error conditioned on an earlier error, error injection, and ExAccErr (Arora et al. 2022).

Positions are 1-based over the target followed by <eos> (position len(tgt)+1 is the stop decision).
Free-running output is scored after aligning it to the reference by minimum edit distance
(metrics/alignment.py): one skipped token is one error, not an error at every later position. The
positional score (token t against gold token t) is kept beside it as `fr_error_positional`, to show
what it would have claimed. Teacher-forced scoring needs no alignment: every step reads the gold prefix.

The oracle's correct next token after a prefix the model wrote itself: for tasks whose output is fixed
by the source (copy, reverse, sort, addition), the reference token that follows the alignment the
prefix implies (metrics.alignment.oracle_continuation): after a skipped token the oracle goes on from
where the model now is, after a substituted one from the next position. On the gold prefix it is the
gold token.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch

from seqgap_lab.data.batching import Batch, collate
from seqgap_lab.data.vocab import BOS, EOS, PAD
from seqgap_lab.metrics.alignment import align, aligned_errors, consumed, oracle_continuation
from seqgap_lab.models.base import Seq2SeqModel

FREE = -1  # in a forcing matrix: feed the model's own prediction at this step
SCORINGS = ("aligned", "positional")  # injection_errors: by edit-distance alignment, or token t against token t


@torch.no_grad()
def rollout(model: Seq2SeqModel, batch: Batch, forced: torch.Tensor | None = None,
            sample: bool = False, generator: torch.Generator | None = None, keep_log_probs: bool = False) -> dict:
    """Run the decoder for T = tgt_out.shape[1] steps, never stopping at <eos>.

    forced (B, T): the token written at step t (the next step's input), or FREE to write the
    model's own choice (argmax, or a sample when sample=True). Returns (B, T) tensors:
    `pred` the argmax at each step, `written` the tokens actually written, and `gold_nll`
    = -log p_model(gold token | written prefix); with keep_log_probs also `log_probs` (B, T, V).
    """
    src_mask = batch.src_mask
    b, steps = batch.tgt_out.shape
    forced = torch.full((b, steps), FREE, dtype=torch.long, device=batch.src.device) if forced is None else forced
    state = model.init_state(model.encode(batch.src, src_mask), src_mask)
    prev = torch.full((b,), BOS, dtype=torch.long, device=batch.src.device)
    pred, written, gold_nll, kept = [], [], [], []
    for t in range(steps):
        logits, state = model.step(prev, state)
        log_probs = logits.float().log_softmax(-1)  # (B, V)
        choice = log_probs.argmax(-1)
        pred.append(choice)
        if keep_log_probs:
            kept.append(log_probs)
        gold_nll.append(-log_probs.gather(1, batch.tgt_out[:, t:t + 1].clamp(min=0))[:, 0])
        if sample:
            choice = torch.multinomial(log_probs.exp(), 1, generator=generator)[:, 0]
        prev = torch.where(forced[:, t] == FREE, choice, forced[:, t])
        written.append(prev)
    stack = lambda xs: torch.stack(xs, 1)  # noqa: E731  list of (B,) -> (B, T)
    out = {"pred": stack(pred), "written": stack(written), "gold_nll": stack(gold_nll)}
    if keep_log_probs:
        out["log_probs"] = stack(kept)  # (B, T, V)
    return out


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


def output_rows(written: torch.Tensor) -> list[list[int]]:
    """Each row's output up to and including its first <eos> (the whole row without one): (B, T) -> lists."""
    out = []
    for row in written.tolist():
        out.append(row[: row.index(EOS) + 1] if EOS in row else row)
    return out


def reference_rows(batch: Batch) -> list[list[int]]:
    """Each row's reference: the target followed by <eos>, padding dropped."""
    return [[t for t in row if t != PAD] for row in batch.tgt_out.tolist()]


@torch.no_grad()
def token_errors(model: Seq2SeqModel, pairs: Sequence, batch_size: int = 256,
                 free_running: bool = True) -> pd.DataFrame:
    """One row per (example, position): teacher-forced and free-running correctness.

    Columns: example, length (target tokens), position, tf_error; with free running (greedy, stopping at
    <eos>) also fr_error (aligned: substituted, deleted or preceded by insertions), fr_substituted,
    fr_deleted, fr_inserted (extra tokens charged to the position) and fr_error_positional (output token t
    differs from gold token t; positions never reached count as errors).
    """
    model.eval()
    rows = []
    for idx, batch in _batches(pairs, batch_size, _device(model)):
        tf_pred = model(batch.src, batch.tgt_in, batch.src_mask).argmax(-1)  # (B, T)
        mask = batch.tgt_mask
        tf_err = (tf_pred != batch.tgt_out) & mask
        lengths = mask.sum(1) - 1
        b_idx, pos = mask.nonzero(as_tuple=True)  # row-major: each row's positions in order
        part = pd.DataFrame({"example": np.asarray(idx)[b_idx.cpu().numpy()], "length": lengths[b_idx].cpu().numpy(),
                             "position": pos.cpu().numpy() + 1, "tf_error": tf_err[b_idx, pos].cpu().numpy()})
        if free_running:
            written = rollout(model, batch)["written"]  # (B, T)
            aligned = [align(h, r) for h, r in zip(output_rows(written), reference_rows(batch))]
            part["fr_substituted"] = np.concatenate([a.substituted for a in aligned]).astype(bool)
            part["fr_deleted"] = np.concatenate([a.deleted for a in aligned]).astype(bool)
            part["fr_inserted"] = np.concatenate([a.inserted for a in aligned]).astype(int)
            part["fr_error"] = part["fr_substituted"] | part["fr_deleted"] | (part["fr_inserted"] > 0)
            positional = (stop_after_eos(written) != batch.tgt_out) & mask
            part["fr_error_positional"] = positional[b_idx, pos].cpu().numpy()
        rows.append(part)
    return pd.concat(rows, ignore_index=True)


@torch.no_grad()
def injection_errors(model: Seq2SeqModel, pairs: Sequence, wrong_ids: Sequence[int], at: int, k: int,
                     seed: int = 0, batch_size: int = 256, scoring: str = "aligned") -> pd.DataFrame:
    """Force k wrong tokens at positions at+1..at+k (gold before), then let the model run free.

    Compared, example by example, with a clean run fed the gold prefix up to the same point. Both outputs are
    aligned to the reference (metrics/alignment.py) and scored at the reference positions after the injected
    ones. Only examples whose target (with <eos>) extends past the injection are used. Columns: example,
    offset (1 = the first free step), condition ('injected' | 'clean'), error.
    scoring="positional" compares token t with reference token t instead: for tasks where every position is
    fixed (the counter), alignment would credit a wrong run that happens to match a shifted stretch.
    """
    if scoring not in SCORINGS:
        raise ValueError(f"injection_errors: scoring = {scoring!r} is not allowed: expected one of {SCORINGS}")
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    wrong = torch.as_tensor(sorted(set(wrong_ids)))
    if len(wrong) < 2:
        raise ValueError(f"wrong_ids needs at least 2 distinct ids, got {list(wrong_ids)}")
    keep = [i for i, p in enumerate(pairs) if len(p[1]) + 1 > at + k]
    rows = []
    for idx, batch in _batches([pairs[i] for i in keep], batch_size, _device(model)):
        gold = batch.tgt_out
        forced = torch.full_like(gold, FREE)
        forced[:, : at + k] = gold[:, : at + k]
        clean = rollout(model, batch, forced)["written"]
        draws = wrong[torch.randint(len(wrong), (gold.shape[0], k), generator=gen)].to(gold.device)
        # A draw equal to gold is not an error: shift it to the next wrong id.
        same = draws == gold[:, at:at + k]
        draws[same] = wrong.to(gold.device)[(torch.searchsorted(wrong.to(gold.device), draws[same]) + 1) % len(wrong)]
        forced[:, at:at + k] = draws
        injected = rollout(model, batch, forced)["written"]
        refs = reference_rows(batch)
        for name, out in (("clean", clean), ("injected", injected)):
            for i, hyp, ref in zip(idx, output_rows(out), refs):
                errs = aligned_errors(hyp, ref) if scoring == "aligned" else _positional_errors(hyp, ref)
                rows += [(keep[i], t - at - k + 1, name, errs[t]) for t in range(at + k, len(ref))]
    return pd.DataFrame(rows, columns=["example", "offset", "condition", "error"])


def _positional_errors(hyp: Sequence[int], ref: Sequence[int]) -> list[bool]:
    """Per reference position: True unless the output has the same token at the same position."""
    return [t >= len(hyp) or hyp[t] != r for t, r in enumerate(ref)]


def injection(errors: pd.DataFrame) -> pd.DataFrame:
    """Error rate by offset and condition from injection_errors(): offset, condition, error_rate, count."""
    g = errors.groupby(["offset", "condition"])["error"]
    return pd.DataFrame({"error_rate": g.mean(), "count": g.size()}).reset_index()


@torch.no_grad()
def step_errors(model: Seq2SeqModel, pairs: Sequence, prefix: str = "greedy", seed: int = 0,
                batch_size: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-step errors eps = -log p_model(oracle's next token | prefix) for each example, padded with NaN.

    Returns (eps_model, eps_oracle, lengths): eps over the model's own prefixes ('greedy' or 'sample'), where
    the oracle's next token follows the alignment of that prefix (module docstring), and over oracle (gold)
    prefixes, each (N, T); and the lengths incl. <eos>.
    """
    if prefix not in ("greedy", "sample"):
        raise ValueError(f"prefix = {prefix!r} is not allowed: expected 'greedy' | 'sample'")
    model.eval()
    gen = torch.Generator(device=_device(model)).manual_seed(seed)
    width = max(len(t) for _, t in pairs) + 1
    eps_model, eps_oracle = np.full((len(pairs), width), np.nan), np.full((len(pairs), width), np.nan)
    for idx, batch in _batches(pairs, batch_size, _device(model)):
        own = rollout(model, batch, sample=prefix == "sample", generator=gen, keep_log_probs=True)
        gold = torch.full_like(batch.tgt_out, FREE)
        gold[batch.tgt_mask] = batch.tgt_out[batch.tgt_mask]
        oracle = rollout(model, batch, forced=gold)["gold_nll"]
        written, log_probs = own["written"].tolist(), own["log_probs"].cpu()
        for row, (i, ref) in enumerate(zip(idx, reference_rows(batch))):
            n = len(ref)
            target = torch.as_tensor(oracle_continuation(written[row], ref, n, EOS))  # (n,)
            eps_model[i, :n] = -log_probs[row, torch.arange(n), target].numpy()
            eps_oracle[i, :n] = oracle[row, :n].cpu().numpy()
    lengths = (~np.isnan(eps_model)).sum(1)
    return eps_model, eps_oracle, lengths


@torch.no_grad()
def continuation_loss(model: Seq2SeqModel, pairs: Sequence, ks: Sequence[int], batch_size: int = 128) -> pd.DataFrame:
    """Loss on the reference continuation after a k-token prefix written by the model itself (greedy) vs after
    the gold prefix that covers the same reference tokens: the real-data compounding curve, no oracle needed.

    The model's prefix is aligned to the reference (metrics.alignment.consumed): if it accounts for the first j
    reference tokens, both prefixes are scored on the same continuation y_{j+1..}<eos>, the gold one after
    y_1..y_j. (Scoring y_{k+1..} after a prefix that skipped a word would charge the shift to compounding.)
    Only examples whose target (with <eos>) is longer than k count at that k. Columns: k, prefix
    ('model' | 'gold'), loss (mean nll per continuation token), tokens, examples.
    """
    model.eval()
    sums: dict = {}
    for _, batch in _batches(pairs, batch_size, _device(model)):
        written, refs = rollout(model, batch)["written"].tolist(), reference_rows(batch)  # greedy, (B, T)
        for k in ks:
            own = [(r, w[:k], int(consumed([w[:k]], ref)[0]))
                   for r, (w, ref) in enumerate(zip(written, refs)) if len(ref) > k]
            for name, prefixes in (("model", own), ("gold", [(r, refs[r][:j], j) for r, _, j in own])):
                total, tokens = _continuation_nll(model, batch, refs, prefixes)
                acc = sums.setdefault((k, name), [0.0, 0, 0])
                acc[0], acc[1], acc[2] = acc[0] + total, acc[1] + tokens, acc[2] + len(prefixes)
    rows = [(k, name, s / max(n, 1), n, e) for (k, name), (s, n, e) in sorted(sums.items())]
    return pd.DataFrame(rows, columns=["k", "prefix", "loss", "tokens", "examples"])


def _continuation_nll(model: Seq2SeqModel, batch: Batch, refs: list, prefixes: list) -> tuple[float, int]:
    """Sum of -log p(ref[j:] | src, prefix) over (row, prefix, j) triples, by one teacher-forced forward."""
    if not prefixes:
        return 0.0, 0
    rows = torch.as_tensor([r for r, _, _ in prefixes], device=batch.src.device)
    seqs = [[BOS, *p, *refs[r][j:]] for r, p, j in prefixes]
    width = max(map(len, seqs))
    tgt = torch.full((len(seqs), width), PAD, dtype=torch.long)
    scored = torch.zeros((len(seqs), width - 1), dtype=torch.bool)  # (P, W - 1): positions holding ref[j:]
    for row, (seq, (_, p, _)) in enumerate(zip(seqs, prefixes)):
        tgt[row, : len(seq)] = torch.as_tensor(seq)
        scored[row, len(p): len(seq) - 1] = True
    tgt, scored = tgt.to(batch.src.device), scored.to(batch.src.device)
    src = batch.src.index_select(0, rows)
    log_probs = model(src, tgt[:, :-1], src != PAD).float().log_softmax(-1)  # (P, W - 1, V)
    nll = -log_probs.gather(2, tgt[:, 1:, None])[..., 0]
    return float(nll[scored].sum()), int(scored.sum())
