"""Seq2seq models and decoder-only LMs behind one interface (encode / init_state / step / forward)."""
from __future__ import annotations

from seqgap_lab.core.config import ModelConfig
from seqgap_lab.models.base import DecoderState, Seq2SeqModel
from seqgap_lab.models.gru import GRUSeq2Seq
from seqgap_lab.models.lm import TransformerLM
from seqgap_lab.models.transformer import TransformerSeq2Seq

__all__ = ["DecoderState", "Seq2SeqModel", "GRUSeq2Seq", "TransformerSeq2Seq", "TransformerLM", "build_model"]


def build_model(config: ModelConfig, vocab_size: int) -> Seq2SeqModel:
    """Instantiate the model named by config.kind."""
    cls = {"gru": GRUSeq2Seq, "transformer": TransformerSeq2Seq, "lm": TransformerLM}[config.kind]
    return cls(config, vocab_size)
