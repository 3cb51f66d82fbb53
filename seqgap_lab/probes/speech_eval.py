"""Transcribe speech with any of the three models (CTC, attention, transducer) and score the CER."""
from __future__ import annotations

from typing import Sequence

import torch

from seqgap_lab.core.config import DecodeConfig
from seqgap_lab.data.speech.batching import SpeechPair, collate_speech
from seqgap_lab.data.vocab import EOS, Vocab
from seqgap_lab.decoding import decode
from seqgap_lab.decoding.ctc import ctc_beam_decode, ctc_greedy
from seqgap_lab.decoding.transducer import transducer_beam, transducer_greedy
from seqgap_lab.metrics.cer import cer

METHODS = ("greedy", "beam")


def _attention(model, batch, method: str, beam_size: int, max_len: int) -> list[list[int]]:
    config = DecodeConfig(method=method, beam_size=beam_size, max_len=max_len)
    out = decode(model, batch.src, config)  # rows follow the batch (beam: num_return=1 best)
    rows = [seq[:n] for seq, n in zip(out.tokens.tolist(), out.lengths.tolist())]
    return [r[:-1] if r and r[-1] == EOS else r for r in rows]


@torch.no_grad()
def transcribe_batch(model, batch, method: str = "greedy", beam_size: int = 4, max_len: int = 160) -> list[list[int]]:
    """Char ids per utterance of a SpeechBatch (no specials), decoded by the model's kind and the method."""
    if method not in METHODS:
        raise ValueError(f"method = {method!r} is not allowed: expected one of {' | '.join(METHODS)}")
    if model.kind == "ctc":
        log_probs, out_lengths = model(batch.src, batch.lengths)
        if method == "greedy":
            return ctc_greedy(log_probs, out_lengths)
        return ctc_beam_decode(log_probs, out_lengths, beam_size)
    if model.kind == "transducer":
        if method == "greedy":
            return transducer_greedy(model, batch.src, batch.lengths)
        return [nbest[0][0] for nbest in transducer_beam(model, batch.src, batch.lengths, beam_size)]
    return _attention(model, batch, method, beam_size, max_len)


def transcribe(model, pairs: Sequence[SpeechPair], method: str = "greedy", beam_size: int = 4,
               batch_size: int = 64, device: torch.device | None = None) -> list[list[int]]:
    """Char ids per utterance, in input order (the model runs in eval mode and gets its mode back)."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    order = sorted(range(len(pairs)), key=lambda i: pairs[i][0].shape[0])
    out: list[list[int]] = [[] for _ in pairs]
    try:
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            batch = collate_speech([pairs[i] for i in idx]).to(device)
            for i, hyp in zip(idx, transcribe_batch(model, batch, method, beam_size)):
                out[i] = hyp
    finally:
        model.train(was_training)
    return out


def evaluate_cer(model, pairs: Sequence[SpeechPair], vocab: Vocab, method: str = "greedy", beam_size: int = 4,
                 batch_size: int = 64) -> dict:
    """CER of the model's transcripts, with a few examples (strings)."""
    hyps = transcribe(model, pairs, method, beam_size, batch_size)
    hyp_text = ["".join(vocab.decode(h)) for h in hyps]
    ref_text = ["".join(vocab.decode(t)) for _, t in pairs]
    return {"cer": cer(hyp_text, ref_text), "examples": list(zip(ref_text[:3], hyp_text[:3]))}
