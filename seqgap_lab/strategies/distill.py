"""Knowledge distillation (Kim & Rush 2016): word-level KD against a frozen teacher, and the data side of
sequence-level KD (the teacher's own outputs as training targets).

Word-level KD: KL(teacher_T || student_T) per target token at temperature T, scaled by T^2 so that its
gradient keeps the scale of the NLL as T changes (Hinton et al. 2015). Trained on the teacher's own
generated sequences (see `teacher_targets`) it is the self-distillation of docs/scope.md.
Sequence-level KD is plain teacher forcing on those sequences: no extra strategy, only other data.
Self-distillation: the teacher is a trained model of the student's own architecture.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from seqgap_lab.core.config import ConfigError, DecodeConfig, check_float
from seqgap_lab.data.vocab import PAD
from seqgap_lab.decoding import decode_sequences
from seqgap_lab.models.base import Seq2SeqModel
from seqgap_lab.strategies.base import register
from seqgap_lab.strategies.teacher_forcing import token_nll


def kd_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, tgt_out: torch.Tensor,
          temperature: float = 1.0) -> torch.Tensor:
    """T^2 x mean over non-pad target tokens of KL(softmax(teacher/T) || softmax(student/T)); logits (B, T, V)."""
    s = (student_logits.float() / temperature).log_softmax(-1)  # (B, T, V)
    t = (teacher_logits.float() / temperature).log_softmax(-1)
    kl = F.kl_div(s, t, log_target=True, reduction="none").sum(-1)  # (B, T)
    mask = tgt_out != PAD
    return temperature ** 2 * (kl * mask).sum() / mask.sum().clamp(min=1)


@register("word_kd")
class WordKD:
    """kd_weight x T^2 KL(teacher || student) + (1 - kd_weight) x NLL of the batch targets; teacher frozen."""

    def __init__(self, teacher: Seq2SeqModel | None = None, temperature: float = 1.0, kd_weight: float = 1.0,
                 label_smoothing: float = 0.0):
        if teacher is None:
            raise ConfigError("word_kd needs teacher= a trained model (zoo.synthetic.trained_model(..., teacher=...) "
                              "passes it)")
        check_float("word_kd", "temperature", temperature, 0.0, 100.0, lo_open=True)
        check_float("word_kd", "kd_weight", kd_weight, 0.0, 1.0)
        self.teacher, self.temperature, self.kd_weight = teacher, temperature, kd_weight
        self.label_smoothing = label_smoothing

    def loss(self, model, batch, step):
        """Student forward with gradient, teacher forward without, on the same batch."""
        logits = model(batch.src, batch.tgt_in, batch.src_mask)  # (B, T, V)
        was_training = self.teacher.training
        self.teacher.eval()
        with torch.no_grad():
            teacher_logits = self.teacher(batch.src, batch.tgt_in, batch.src_mask)
        self.teacher.train(was_training)
        kl = kd_kl(logits, teacher_logits, batch.tgt_out, self.temperature)
        loss = self.kd_weight * kl
        logs = {"kl": kl.detach()}  # 0-d tensors, read by the training loop at log points
        if self.kd_weight < 1.0:
            nll = token_nll(logits, batch.tgt_out, self.label_smoothing)
            loss = loss + (1.0 - self.kd_weight) * nll
            logs["nll"] = nll.detach()
        return loss, logs


def teacher_targets(teacher: Seq2SeqModel, sources: Sequence[Sequence[int]], config: DecodeConfig,
                    device: torch.device | None = None, chunk: int = 1024, progress: bool = True) -> list[list[int]]:
    """The teacher's output (no EOS) for every source, decoded with `config` (beam, top-p sample, greedy)."""
    out: list[list[int]] = []
    bar = tqdm(total=len(sources), desc=f"teacher {config.method} outputs", disable=not progress, leave=False)
    for start in range(0, len(sources), chunk):
        part = list(sources[start:start + chunk])
        out.extend(decode_sequences(teacher, part, config, device=device))
        bar.update(len(part))
    bar.close()
    return out
