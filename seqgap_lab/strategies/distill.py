"""Knowledge distillation (Kim & Rush 2016): word-level KD against a frozen teacher, and the data side of
sequence-level KD (the teacher's own outputs as training targets).

Word-level KD: KL(teacher_T || student_T) per target token at temperature T, scaled by T^2 so that its
gradient keeps the scale of the NLL as T changes (Hinton et al. 2015). Trained on the teacher's own
generated sequences (see `teacher_targets`) it is the self-distillation of docs/scope.md.
Sequence-level KD is plain teacher forcing on those sequences: no extra strategy, only other data.
Self-distillation: the teacher is a trained model of the student's own architecture.
On-policy distillation (Agarwal et al. 2024, GKD): the student samples its own outputs and the teacher labels every
position of them, so the student learns on the prefixes it meets at inference (`on_policy_kd`).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from seqgap_lab.core.config import ConfigError, DecodeConfig, check_float
from seqgap_lab.data.batching import Batch
from seqgap_lab.data.vocab import BOS, EOS, PAD
from seqgap_lab.decoding import decode_sequences, sample
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
        kl = kd_kl(logits, _teacher_logits(self.teacher, batch), batch.tgt_out, self.temperature)
        loss = self.kd_weight * kl
        logs = {"kl": kl.detach()}  # 0-d tensors, read by the training loop at log points
        if self.kd_weight < 1.0:
            nll = token_nll(logits, batch.tgt_out, self.label_smoothing)
            loss = loss + (1.0 - self.kd_weight) * nll
            logs["nll"] = nll.detach()
        return loss, logs


def _teacher_logits(teacher: Seq2SeqModel, batch: Batch) -> torch.Tensor:
    """The frozen teacher's logits (B, T, V) on a batch, in eval mode, without gradient."""
    was_training = teacher.training
    teacher.eval()
    with torch.no_grad():
        logits = teacher(batch.src, batch.tgt_in, batch.src_mask)
    teacher.train(was_training)
    return logits


@register("on_policy_kd")
class OnPolicyKD:
    """On-policy distillation (Agarwal et al. 2024, GKD with the forward KL): with probability `student_share`
    (their lambda) a step trains on one sequence the student samples for each source of the batch (at
    `sample_temperature`, up to max_len_ratio x the gold length), else on the gold targets; on either, the loss is
    T^2 KL(teacher_T || student_T) at every position. student_share = 0 is word-KD on gold data."""

    def __init__(self, teacher: Seq2SeqModel | None = None, temperature: float = 1.0, student_share: float = 1.0,
                 sample_temperature: float = 1.0, max_len_ratio: float = 1.5, label_smoothing: float = 0.0):
        if teacher is None:
            raise ConfigError("on_policy_kd needs teacher= a trained model (zoo.synthetic.trained_model(..., "
                              "teacher=...) passes it)")
        o = "on_policy_kd"
        check_float(o, "temperature", temperature, 0.0, 100.0, lo_open=True)
        check_float(o, "student_share", student_share, 0.0, 1.0)
        check_float(o, "sample_temperature", sample_temperature, 0.0, 100.0, lo_open=True)
        check_float(o, "max_len_ratio", max_len_ratio, 1.0, 10.0)
        self.teacher, self.temperature, self.student_share = teacher, temperature, student_share
        self.sample_temperature, self.max_len_ratio = sample_temperature, max_len_ratio
        self.label_smoothing = label_smoothing  # unused: the targets are the teacher's distributions

    def student_batch(self, model: Seq2SeqModel, batch: Batch) -> Batch:
        """The batch's sources with one sequence the student samples for each as targets (no gradient)."""
        was_training = model.training
        model.eval()  # samples from the model itself, not a dropout-perturbed one
        with torch.no_grad():
            out = sample(model, batch.src, batch.src_mask, math.ceil(self.max_len_ratio * batch.tgt_out.shape[1]),
                         temperature=self.sample_temperature)
        model.train(was_training)
        width = int(out.lengths.max())
        tgt_out = out.tokens[:, :width]  # (B, L): the sample, <eos> included where it ended, PAD after
        tgt_in = torch.cat([torch.full_like(tgt_out[:, :1], BOS), tgt_out[:, :-1]], 1)
        tgt_in = tgt_in.masked_fill(tgt_in == EOS, PAD)  # nothing is read after <eos>
        return Batch(batch.src, tgt_in, tgt_out)

    def loss(self, model, batch, step):
        """Teacher-labelled KL on the student's own samples (or on the gold batch, by the step's coin)."""
        if self.student_share in (0.0, 1.0):  # no coin (and no RNG draw) when the answer is fixed
            on_policy = self.student_share == 1.0
        else:
            on_policy = bool(torch.rand(()) < self.student_share)
        used = self.student_batch(model, batch) if on_policy else batch
        logits = model(used.src, used.tgt_in, used.src_mask)  # (B, L, V)
        kl = kd_kl(logits, _teacher_logits(self.teacher, used), used.tgt_out, self.temperature)
        return kl, {"kl": kl.detach(), "on_policy": float(on_policy)}


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
