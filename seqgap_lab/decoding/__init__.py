"""Decoding: one entry point, the method chosen by name."""
from __future__ import annotations

import torch

from seqgap_lab.config import DecodeConfig
from seqgap_lab.data.batching import pad
from seqgap_lab.data.tokenize import EOS, PAD
from seqgap_lab.decoding.search import DecodeOutput, greedy
from seqgap_lab.models.base import Seq2SeqModel

__all__ = ["DecodeOutput", "decode", "decode_sequences", "greedy"]


def decode(model: Seq2SeqModel, src: torch.Tensor, config: DecodeConfig = DecodeConfig()) -> DecodeOutput:
    """Decode a padded source batch (B, S) with the method named in config."""
    src_mask = src != PAD
    if config.method == "greedy":
        return greedy(model, src, src_mask, config.max_len)
    raise NotImplementedError(config.method)  # unreachable: DecodeConfig validates the name


def decode_sequences(model: Seq2SeqModel, sources: list[list[int]], config: DecodeConfig = DecodeConfig(),
                     device: torch.device | None = None) -> list[list[int]]:
    """Decode many sources in length-sorted batches; returns token ids without <eos>, in input order."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    out: list[list[int]] = [[] for _ in sources]
    for start in range(0, len(order), config.batch_size):
        idx = order[start:start + config.batch_size]
        result = decode(model, pad([sources[i] for i in idx]).to(device), config)
        for row, i in enumerate(idx):
            seq = result.tokens[row, : int(result.lengths[row])].tolist()
            out[i] = seq[:-1] if seq and seq[-1] == EOS else seq
    model.train(was_training)
    return out
