"""Padded batches of (log-mel features, character ids), bucketed by frame count."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch

from seqgap_lab.data.batching import Batch, pad
from seqgap_lab.data.vocab import BOS, EOS

SpeechPair = tuple[torch.Tensor, list[int]]  # (features (frames, n_mels), char ids without specials)


@dataclass
class SpeechBatch(Batch):
    """A Batch whose src is float features (B, T, n_mels), zero-padded, with `lengths` (B,) real frames.

    tgt_in / tgt_out are <bos>+y / y+<eos> (attention decoders); `targets` (B, U) and `target_lengths` (B,)
    are y alone, PAD-padded (CTC and transducer).
    """

    lengths: torch.Tensor = None
    targets: torch.Tensor = None
    target_lengths: torch.Tensor = None

    @property
    def src_mask(self) -> torch.Tensor:
        """(B, T) bool, True on real frames."""
        return torch.arange(self.src.shape[1], device=self.src.device)[None, :] < self.lengths[:, None]

    def to(self, device: torch.device) -> "SpeechBatch":
        """Move every tensor to a device."""
        return SpeechBatch(*(getattr(self, k).to(device) for k in
                             ("src", "tgt_in", "tgt_out", "lengths", "targets", "target_lengths")))


def pad_features(feats: Sequence[torch.Tensor]) -> torch.Tensor:
    """(frames_i, F) tensors -> (B, max_frames, F) float32, zero-padded."""
    width = max(f.shape[0] for f in feats)
    out = torch.zeros(len(feats), width, feats[0].shape[1])
    for i, f in enumerate(feats):
        out[i, : f.shape[0]] = f.float()
    return out


def collate_speech(pairs: Sequence[SpeechPair]) -> SpeechBatch:
    """(features, char ids) pairs -> a SpeechBatch."""
    if not pairs:
        raise ValueError("collate_speech: no utterances to batch")
    ids = [list(t) for _, t in pairs]
    return SpeechBatch(pad_features([f for f, _ in pairs]), pad([[BOS] + t for t in ids]),
                       pad([t + [EOS] for t in ids]), torch.tensor([f.shape[0] for f, _ in pairs]), pad(ids),
                       torch.tensor([len(t) for t in ids]))


def speech_batches(pairs: Sequence[SpeechPair], batch_size: int, rng: np.random.Generator | None = None,
                   pool: int = 50) -> list[SpeechBatch]:
    """One epoch of batches of similar frame counts; shuffled when rng is given."""
    order = np.arange(len(pairs))
    if rng is not None:
        rng.shuffle(order)
    batches, chunk = [], batch_size * pool  # sort within large random chunks: little padding, still random
    for start in range(0, len(order), chunk):
        part = sorted(order[start:start + chunk], key=lambda i: pairs[i][0].shape[0])
        batches += [collate_speech([pairs[i] for i in part[j:j + batch_size]]) for j in range(0, len(part), batch_size)]
    if rng is not None:
        rng.shuffle(batches)
    return batches


def infinite_speech_batches(pairs: Sequence[SpeechPair], batch_size: int, seed: int) -> Iterator[SpeechBatch]:
    """Endless shuffled, bucketed batches, repeatable from the seed."""
    rng = np.random.default_rng(seed)
    while True:
        yield from speech_batches(pairs, batch_size, rng)
