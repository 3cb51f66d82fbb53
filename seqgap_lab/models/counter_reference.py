"""Hand-made models of the counter task (y_t = y_{t-1} + x_t mod k, x_t in {0, 1}) whose reading of the prefix is
known by construction: the yardsticks that prove the injection measure of notebook 03 (part 2).

- `follows_prefix=True` reads its previous output and adds the current source bit: perfect on gold or its own
  clean prefix, and after one wrong digit every later digit is wrong (what a decoder taught by teacher forcing
  alone is expected to do on this task);
- `follows_prefix=False` recounts the source bits so far and ignores its prefix: a wrong digit fed to it changes
  nothing later (full recovery).
"""
from __future__ import annotations

import torch

from seqgap_lab.data.vocab import EOS
from seqgap_lab.models.base import DecoderState, Seq2SeqModel
from seqgap_lab.models.reference import stepwise_forward


class CounterReference(Seq2SeqModel):
    """A counter 'model' that either follows its own previous output or recounts from the source; no weights."""

    kind = "reference"

    def __init__(self, vocab_size: int, first_id: int, modulus: int = 10, follows_prefix: bool = True,
                 confidence: float = 0.97):
        super().__init__(vocab_size)
        if not 2 <= modulus <= vocab_size - first_id:
            raise ValueError(f"CounterReference: modulus = {modulus} is out of range: expected 2 <= modulus <= "
                             f"{vocab_size - first_id} (the digits after id {first_id})")
        if not 0.0 < confidence < 1.0:
            raise ValueError(f"CounterReference: confidence = {confidence} is out of range: expected 0 < c < 1")
        self.first, self.modulus, self.follows_prefix = first_id, modulus, follows_prefix
        self.anchor = torch.nn.Parameter(torch.zeros(1), requires_grad=False)  # names the device
        rest = torch.log(torch.tensor((1 - confidence) / (vocab_size - 1)))
        self.register_buffer("rest_logp", torch.full((vocab_size,), float(rest)))
        self.confident_logp = float(torch.log(torch.tensor(confidence)))

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor) -> torch.Tensor:
        """(B, S) ids -> 'memory' (B, S, 1): the source ids themselves."""
        return src.unsqueeze(-1).float()

    def init_state(self, memory: torch.Tensor, src_mask: torch.Tensor, beam: int = 1) -> DecoderState:
        """The source bits (B, S) and their running count mod k (B, S), and the source lengths (B,)."""
        bits = ((memory[..., 0].long() - self.first) * src_mask).clamp(min=0)  # (B, S)
        tensors = {"bits": bits, "count": bits.cumsum(1) % self.modulus, "n": src_mask.sum(1)}
        return DecoderState({name: self.repeat_beam(v, beam) for name, v in tensors.items()})

    def step(self, prev_tokens: torch.Tensor, state: DecoderState) -> tuple[torch.Tensor, DecoderState]:
        """Write the next digit from the previous token and the current bit, or from the recount: logits (B, V)."""
        t, bits, n = state.step, state["bits"], state["n"]
        col = min(t, bits.shape[1] - 1)
        if self.follows_prefix:
            # <bos> (t = 0) reads as 0; a non-digit fed later reads as 0 too (it is a mistake either way)
            prev = prev_tokens - self.first
            prev = torch.where((prev >= 0) & (prev < self.modulus) & (t > 0), prev, torch.zeros_like(prev))
            digit = (prev + bits[:, col]) % self.modulus
        else:
            digit = state["count"][:, col]
        choice = torch.where(n > t, digit + self.first, torch.full_like(digit, EOS))  # (B,)
        logits = self.rest_logp.expand(len(choice), -1).clone()  # (B, V)
        logits.scatter_(1, choice[:, None], self.confident_logp)
        return logits, DecoderState(state.tensors, t + 1)

    def decode_forward(self, memory: torch.Tensor, src_mask: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (B, T, V): the step rule over the given prefix (so it equals step-by-step)."""
        return stepwise_forward(self, memory, src_mask, tgt_in)
