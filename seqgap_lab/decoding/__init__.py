"""Decoding: one entry point, the method chosen by name."""
from __future__ import annotations

import torch

from seqgap_lab.core.config import DecodeConfig
from seqgap_lab.data.batching import pad
from seqgap_lab.data.vocab import EOS, PAD
from seqgap_lab.decoding.beam import beam_search
from seqgap_lab.decoding.contrastive import (
    CONTRASTIVE_FORMS,
    CONTRASTIVE_SEARCHES,
    ContrastiveScore,
    check_amateur,
    contrastive,
)
from seqgap_lab.decoding.penalties import (
    LENGTH_PENALTIES,
    BeamScorer,
    CoveragePenalty,
    best_coverage_penalty,
    coverage_penalty,
    length_penalty,
)
from seqgap_lab.decoding.processors import (
    MinLength,
    NoRepeatNGram,
    Processor,
    RepetitionPenalty,
    Temperature,
    TopK,
    TopP,
    apply_processors,
    build_processors,
)
from seqgap_lab.decoding.sampling import sample
from seqgap_lab.decoding.search import DecodeOutput, greedy
from seqgap_lab.models.base import Seq2SeqModel

__all__ = ["DecodeOutput", "decode", "decode_sequences", "decode_nbest", "greedy", "sample", "beam_search",
           "contrastive", "ContrastiveScore", "CONTRASTIVE_FORMS", "CONTRASTIVE_SEARCHES", "BeamScorer",
           "CoveragePenalty", "coverage_penalty", "best_coverage_penalty", "LENGTH_PENALTIES", "length_penalty",
           "Processor", "Temperature", "TopK", "TopP", "MinLength", "RepetitionPenalty", "NoRepeatNGram",
           "apply_processors", "build_processors"]


def _history_processors(config: DecodeConfig) -> list[Processor]:
    """The processors that read the generated ids (shared by sample and beam)."""
    return build_processors(repetition_penalty=config.repetition_penalty, no_repeat_ngram=config.no_repeat_ngram)


def decode(model: Seq2SeqModel, src: torch.Tensor, config: DecodeConfig = DecodeConfig(),
           generator: torch.Generator | None = None, amateur: Seq2SeqModel | None = None) -> DecodeOutput:
    """Decode a padded source batch (B, S) with the method named in config.

    Rows are grouped by source: greedy gives 1 per source, beam config.num_return (best first), sample
    config.num_samples, contrastive 1 (greedy) or num_return (beam). sample draws from `generator`, by
    default a fresh one seeded with config.seed. `amateur` (same vocabulary) is read by contrastive only.
    """
    src_mask = src != PAD
    history = _history_processors(config)
    if config.method == "greedy":
        return greedy(model, src, src_mask, config.max_len, min_len=config.min_len, processors=history)
    if config.method == "beam":
        scorer = CoveragePenalty(config.alpha, config.length_penalty, config.beta) if config.beta > 0 else None
        return beam_search(model, src, src_mask, config.max_len, beam_size=config.beam_size, alpha=config.alpha,
                           length_penalty=config.length_penalty, num_return=config.num_return,
                           min_len=config.min_len, processors=history, scorer=scorer)
    if config.method == "contrastive":
        check_amateur(model, amateur, "decode")
        return contrastive(model, amateur, src, src_mask, config.max_len, form=config.contrastive_form,
                           weight=config.contrastive_weight, plausibility=config.plausibility,
                           amateur_temperature=config.amateur_temperature, search=config.contrastive_search,
                           beam_size=config.beam_size, num_return=config.num_return, min_len=config.min_len,
                           processors=history)
    if config.method == "sample":
        if generator is None:
            generator = torch.Generator(device=src.device).manual_seed(config.seed)
        return sample(model, src, src_mask, config.max_len, num_samples=config.num_samples,
                      temperature=config.temperature, top_k=config.top_k, top_p=config.top_p,
                      min_len=config.min_len, generator=generator, processors=history)
    raise NotImplementedError(config.method)  # unreachable: DecodeConfig validates the name


def _per_source(out: DecodeOutput, num_sources: int) -> list[list[list[int]]]:
    """Rows grouped by source -> per source, its hypotheses as id lists without <eos>."""
    per = out.tokens.shape[0] // max(num_sources, 1)
    rows = [seq[:n] for seq, n in zip(out.tokens.tolist(), out.lengths.tolist())]
    rows = [seq[:-1] if seq and seq[-1] == EOS else seq for seq in rows]
    return [rows[i * per:(i + 1) * per] for i in range(num_sources)]


def decode_nbest(model: Seq2SeqModel, sources: list[list[int]], config: DecodeConfig = DecodeConfig(),
                 device: torch.device | None = None, amateur: Seq2SeqModel | None = None) -> list[list[list[int]]]:
    """Decode many sources in length-sorted batches; per source (input order) all its hypotheses
    (beam: num_return best first; sample: num_samples draws; greedy: one), token ids without <eos>.
    Both models run in eval mode and get their training modes back."""
    device = device or next(model.parameters()).device
    if config.method == "contrastive":
        check_amateur(model, amateur, "decode_nbest")
    models = [m for m in (model, amateur) if m is not None]
    was_training = [m.training for m in models]
    for m in models:
        m.eval()
    # one generator for the whole run: seeding each batch anew would correlate the batches' draws
    generator = torch.Generator(device=device).manual_seed(config.seed) if config.method == "sample" else None
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    out: list[list[list[int]]] = [[] for _ in sources]
    try:
        for start in range(0, len(order), config.batch_size):
            idx = order[start:start + config.batch_size]
            result = decode(model, pad([sources[i] for i in idx]).to(device), config, generator, amateur)
            for i, hyps in zip(idx, _per_source(result, len(idx))):
                out[i] = hyps
    finally:
        for m, mode in zip(models, was_training):
            m.train(mode)
    return out


def decode_sequences(model: Seq2SeqModel, sources: list[list[int]], config: DecodeConfig = DecodeConfig(),
                     device: torch.device | None = None, amateur: Seq2SeqModel | None = None) -> list[list[int]]:
    """Decode many sources in length-sorted batches; returns token ids without <eos>, in input order
    (for beam and contrastive beam the best hypothesis, for sample the first draw)."""
    return [hyps[0] for hyps in decode_nbest(model, sources, config, device, amateur)]
