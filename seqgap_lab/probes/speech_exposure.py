"""Error by output position on speech: teacher-forced vs free-running, for the attention decoder, the transducer
and CTC (notebook 11's compounding curves).

Free-running error of reference position t (every model): the greedy transcript is aligned to the reference by
a minimum edit-distance path (metrics/alignment.py, rapidfuzz); position t is an error when its character is
substituted or deleted, or when insertions come right before it (insertions past the end go to the last position). Aligning first keeps one
dropped character from counting every later position wrong (that would measure a shift, not compounding).
Teacher-forced error of position t (autoregressive models only), one prediction per reference position:
- attention: the argmax at step t given the gold prefix y_<t (the teacher-forced forward pass);
- transducer: greedy decoding over the frames with the prediction network fed the gold labels y_<t instead of its
  own; the first label emitted at context y_<t is the prediction for t (no emission before the frames run out is
  an error). The same search as free running: only the label context differs.
CTC has no label context, so it has no teacher-forced counterpart: its free-running curve alone shows whether its
error grows along the utterance.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch

from seqgap_lab.data.speech.batching import SpeechPair, collate_speech
from seqgap_lab.data.vocab import BOS
from seqgap_lab.metrics.alignment import aligned_errors

BLANK = 0
__all__ = ["BLANK", "aligned_errors", "free_running", "teacher_forced", "by_position", "gap_table",
           "attention_teacher_forced", "transducer_teacher_forced"]


def _rows(kind: str, mode: str, hyps_errors: Sequence[Sequence[bool]], buckets: Sequence[str]) -> pd.DataFrame:
    """Tidy rows: model, mode, bucket, example, length, position (1-based), error."""
    rows = [(kind, mode, b, i, len(errs), t + 1, bool(e))
            for i, (errs, b) in enumerate(zip(hyps_errors, buckets)) for t, e in enumerate(errs)]
    return pd.DataFrame(rows, columns=["model", "mode", "bucket", "example", "length", "position", "error"])


def free_running(model_name: str, hyps: Sequence[Sequence[int]], pairs: Sequence[SpeechPair],
                 buckets: Sequence[str]) -> pd.DataFrame:
    """Free-running (greedy) error by reference position, from transcripts already decoded."""
    return _rows(model_name, "free-running", [aligned_errors(h, t) for h, (_, t) in zip(hyps, pairs)], buckets)


def _batches(pairs: Sequence[SpeechPair], batch_size: int, device: torch.device):
    for start in range(0, len(pairs), batch_size):
        idx = list(range(start, min(start + batch_size, len(pairs))))
        yield idx, collate_speech([pairs[i] for i in idx]).to(device)


@torch.no_grad()
def attention_teacher_forced(model, pairs: Sequence[SpeechPair], batch_size: int = 64) -> list[list[bool]]:
    """Per utterance, per reference position: the teacher-forced argmax differs from the gold character."""
    model.eval()
    out: list[list[bool]] = [[] for _ in pairs]
    for idx, batch in _batches(pairs, batch_size, next(model.parameters()).device):
        pred = model(batch.src, batch.tgt_in, batch.src_mask).argmax(-1)  # (B, U + 1)
        for row, i in enumerate(idx):
            n = len(pairs[i][1])
            out[i] = (pred[row, :n] != batch.tgt_out[row, :n]).tolist()
    return out


@torch.no_grad()
def transducer_teacher_forced(model, pairs: Sequence[SpeechPair], max_symbols: int = 5,
                              batch_size: int = 64) -> list[list[bool]]:
    """Per utterance, per reference position: greedy search with gold label context mispredicts it."""
    model.eval()
    out: list[list[bool]] = [[] for _ in pairs]
    for idx, batch in _batches(pairs, batch_size, next(model.parameters()).device):
        enc, out_lengths = model.encoder(batch.src, batch.lengths)
        f = model.enc_proj(enc)  # (B, T', J)
        targets = batch.targets.clamp(min=0)  # (B, U)
        pred, _ = model.predict(torch.cat([torch.full_like(targets[:, :1], BOS), targets], 1))
        g = model.pred_proj(pred)  # (B, U + 1, J): prediction output after each gold prefix
        b, u_max = targets.shape
        u = torch.zeros(b, dtype=torch.long, device=f.device)
        guess = torch.full((b, u_max + 1), -1, dtype=torch.long, device=f.device)  # -1: never emitted
        rows = torch.arange(b, device=f.device)
        for t in range(f.shape[1]):
            for _ in range(max_symbols):
                best = model.joint(f[:, t], g[rows, u]).argmax(-1)  # (B,)
                emit = (t < out_lengths) & (best != BLANK) & (u < batch.target_lengths)
                if not emit.any():
                    break
                guess[rows[emit], u[emit]] = best[emit]
                u = u + emit.long()
        for row, i in enumerate(idx):
            n = len(pairs[i][1])
            out[i] = (guess[row, :n] != targets[row, :n]).tolist()
    return out


def teacher_forced(model_name: str, errors: Sequence[Sequence[bool]], buckets: Sequence[str]) -> pd.DataFrame:
    """Tidy rows of teacher-forced errors computed by one of the functions above."""
    return _rows(model_name, "teacher-forced", errors, buckets)


def by_position(errors: pd.DataFrame, bins: int = 10) -> pd.DataFrame:
    """Error rate per model, mode, bucket and relative position decile (1..bins) of the reference."""
    e = errors.assign(decile=np.minimum(bins, ((errors["position"] - 1) * bins // errors["length"]) + 1))
    g = e.groupby(["model", "mode", "bucket", "decile"])["error"]
    return pd.DataFrame({"error_rate": g.mean(), "count": g.size()}).reset_index()


def gap_table(errors: pd.DataFrame) -> pd.DataFrame:
    """Per model, mode and bucket: error overall, in the first and last third of positions, and the growth."""
    e = errors.assign(third=np.minimum(3, ((errors["position"] - 1) * 3 // errors["length"]) + 1))
    g = e.groupby(["model", "mode", "bucket"])
    out = pd.DataFrame({"error_rate": g["error"].mean(),
                        "first_third": e[e["third"] == 1].groupby(["model", "mode", "bucket"])["error"].mean(),
                        "last_third": e[e["third"] == 3].groupby(["model", "mode", "bucket"])["error"].mean(),
                        "positions": g.size()}).reset_index()
    out["growth"] = out["last_third"] - out["first_third"]
    return out
