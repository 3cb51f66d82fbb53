"""Hand-made models of the copy and reverse tasks whose failure mode is known by construction: the yardsticks
that prove a compounding measure measures compounding (notebook 01, tests/probes).

Each model reads its own prefix like a real decoder: it keeps a pointer j into the correct output and moves it
by what it reads (the expected token: one step; the token after it: two, i.e. a skip; anything else: one step,
and the prefix now holds a mistake). At every step it writes the token at j, except where it *slips*:
- `hazard`: the chance of a slip at each step while the prefix is clean;
- `hazard_after_error`: the chance once the prefix holds a mistake (None: the same as `hazard`, so a mistake
  never causes another: errors do not compound);
- `fail_after`, `fail_rate`: past output position `fail_after` (1-based) the chance is `fail_rate` whatever the
  prefix (a model that only fails past the training lengths);
- `slip`: 'skip' writes the token after j (one token left out: a shift that positional scoring counts at every
  later position), 'substitute' writes a wrong symbol in j's place.
Slips are drawn from a hash of (source, step), not a random generator, so greedy decoding slips (the argmax is
the slipped token) and the same step slips the same way under teacher forcing and free running. The written
token gets probability `confidence`; the rest share what is left.
"""
from __future__ import annotations

from typing import Sequence

import torch

from seqgap_lab.data.vocab import EOS, PAD
from seqgap_lab.models.base import DecoderState, Seq2SeqModel

ORDERS = ("copy", "reverse")
SLIPS = ("skip", "substitute")
_MASK31 = 0x7FFFFFFF


def _check(name: str, value: float, lo: float, hi: float) -> None:
    if not lo <= value <= hi:
        raise ValueError(f"ReferenceModel: {name} = {value!r} is out of range: expected {lo} <= {name} <= {hi}")


def uniform_hash(key: torch.Tensor, step: int, salt: int) -> torch.Tensor:
    """A deterministic value in [0, 1) per row from (key, step, salt): (B,) int64 -> (B,) float."""
    x = (key * 1000003 + step * 7919 + salt * 104729) & _MASK31
    for _ in range(2):  # integer mixing (the 0x45d9f3b hash); every product stays below 2**59
        x = (((x >> 16) ^ x) * 0x45D9F3B) & _MASK31
    return ((x >> 16) ^ x).double() / 2.0**31


class ReferenceModel(Seq2SeqModel):
    """A copy/reverse 'model' with a slip rule set by hand (see the module docstring); no trainable weights."""

    kind = "reference"

    def __init__(self, vocab_size: int, symbol_ids: Sequence[int], order: str = "reverse", hazard: float = 0.0,
                 hazard_after_error: float | None = None, slip: str = "skip", fail_after: int | None = None,
                 fail_rate: float = 0.5, confidence: float = 0.97, salt: int = 0):
        super().__init__(vocab_size)
        if order not in ORDERS or slip not in SLIPS:
            raise ValueError(f"ReferenceModel: order = {order!r}, slip = {slip!r}; expected order in {ORDERS} "
                             f"and slip in {SLIPS}")
        for name, value in (("hazard", hazard), ("fail_rate", fail_rate), ("confidence", confidence),
                            ("hazard_after_error", hazard if hazard_after_error is None else hazard_after_error)):
            _check(name, value, 0.0, 1.0)
        if len(symbol_ids) < 2:
            raise ValueError(f"ReferenceModel needs at least 2 symbol ids, got {list(symbol_ids)}")
        self.order, self.slip, self.salt = order, slip, salt
        self.hazard, self.fail_after, self.fail_rate = hazard, fail_after, fail_rate
        self.hazard_after_error = hazard if hazard_after_error is None else hazard_after_error
        self.register_buffer("symbols", torch.as_tensor(list(symbol_ids), dtype=torch.long))
        # A frozen parameter only so that next(model.parameters()) names the device, as for every model.
        self.anchor = torch.nn.Parameter(torch.zeros(1), requires_grad=False)
        logp = torch.full((vocab_size,), float(torch.log(torch.tensor((1 - confidence) / (vocab_size - 1)))))
        self.register_buffer("rest_logp", logp)
        self.confident_logp = float(torch.log(torch.tensor(confidence)))

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor) -> torch.Tensor:
        """(B, S) ids -> 'memory' (B, S, 1): the source ids themselves, all a hand-made model needs."""
        return src.unsqueeze(-1).float()

    def init_state(self, memory: torch.Tensor, src_mask: torch.Tensor, beam: int = 1) -> DecoderState:
        """The correct output (B, S + 2, <eos> after the end), pointer j = 0, clean prefix, a hash key per source."""
        src = memory[..., 0].long() * src_mask  # (B, S)
        n = src_mask.sum(1)  # (B,)
        width = src.shape[1] + 2
        k = torch.arange(width, device=src.device).expand(src.shape[0], width)  # (B, S + 2)
        idx = (n[:, None] - 1 - k if self.order == "reverse" else k).clamp(0, src.shape[1] - 1)
        target = torch.where(k < n[:, None], src.gather(1, idx), torch.full_like(k, EOS))
        weights = torch.arange(1, src.shape[1] + 1, device=src.device) * 2654435 % 1048573 + 1  # (S,)
        key = ((src + 1) * weights).sum(1) & _MASK31  # (B,)
        tensors = {"target": target, "n": n, "j": torch.zeros_like(n), "err": torch.zeros_like(n, dtype=torch.bool),
                   "key": key, "src_mask": src_mask}
        return DecoderState({name: self.repeat_beam(v, beam) for name, v in tensors.items()})

    def step(self, prev_tokens: torch.Tensor, state: DecoderState) -> tuple[torch.Tensor, DecoderState]:
        """Read prev_tokens (B,), move the pointer, write the token at it or slip: logits (B, V)."""
        t, target, j, err = state.step, state["target"], state["j"], state["err"]
        last = target.shape[1] - 1
        if t > 0:  # the first input is <bos>: nothing to read yet
            expected = target.gather(1, j[:, None])[:, 0]
            after = target.gather(1, (j + 1).clamp(max=last)[:, None])[:, 0]
            skipped = (prev_tokens != expected) & (prev_tokens == after) & (j < state["n"])
            err = err | (prev_tokens != expected)
            j = (j + 1 + skipped.long()).clamp(max=last)
        hazard = torch.where(err, torch.full_like(j, 0, dtype=torch.double) + self.hazard_after_error,
                             torch.full_like(j, 0, dtype=torch.double) + self.hazard)
        if self.fail_after is not None and t + 1 > self.fail_after:
            hazard = torch.full_like(hazard, self.fail_rate)
        slips = (uniform_hash(state["key"], t, self.salt) < hazard) & (j < state["n"])
        choice = torch.where(slips, self._slipped(target, j, state["key"], t), target.gather(1, j[:, None])[:, 0])
        logits = self.rest_logp.expand(len(choice), -1).clone()  # (B, V)
        logits.scatter_(1, choice[:, None], self.confident_logp)
        tensors = {**state.tensors, "j": j, "err": err}
        return logits, DecoderState(tensors, t + 1)

    def _slipped(self, target: torch.Tensor, j: torch.Tensor, key: torch.Tensor, t: int) -> torch.Tensor:
        """The token a slip writes at pointer j: the next correct token (skip) or another symbol (substitute)."""
        if self.slip == "skip":
            return target.gather(1, (j + 1).clamp(max=target.shape[1] - 1)[:, None])[:, 0]
        correct = target.gather(1, j[:, None])[:, 0]
        count = len(self.symbols)
        index = (self.symbols[None, :] == correct[:, None]).long().argmax(1)  # (B,) position of correct symbol
        shift = 1 + (key + t) % (count - 1)  # never 0: always a different symbol
        return self.symbols[(index + shift) % count]

    def decode_forward(self, memory: torch.Tensor, src_mask: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (B, T, V): the step rule over the given prefix (so it equals step-by-step)."""
        return stepwise_forward(self, memory, src_mask, tgt_in)


def stepwise_forward(model: Seq2SeqModel, memory: torch.Tensor, src_mask: torch.Tensor,
                     tgt_in: torch.Tensor) -> torch.Tensor:
    """Teacher-forced logits (B, T, V) of a hand-made model by running its step rule over the given prefix;
    zero at padding."""
    state, out = model.init_state(memory, src_mask), []
    for t in range(tgt_in.shape[1]):
        logits, state = model.step(tgt_in[:, t], state)
        out.append(logits)
    return torch.stack(out, 1).masked_fill((tgt_in == PAD)[..., None], 0.0)


def reference_models(vocab_size: int, symbol_ids: Sequence[int], train_positions: int,
                     order: str = "reverse") -> dict[str, ReferenceModel]:
    """The four yardsticks of notebook 01, settings fixed before any measurement:
    a perfect model; a constant 3% hazard of skipping a token that never compounds; one whose hazard rises from
    3% to 30% once its prefix holds a mistake (compounds); one perfect within `train_positions` that substitutes
    half the tokens past them (fails on length, not on its prefix)."""
    make = lambda **kw: ReferenceModel(vocab_size, symbol_ids, order, **kw)  # noqa: E731
    return {"perfect": make(),
            "constant hazard (no compounding)": make(hazard=0.03),
            "rising hazard (compounding)": make(hazard=0.03, hazard_after_error=0.3),
            "fails past training lengths": make(fail_after=train_positions, fail_rate=0.5, slip="substitute")}
