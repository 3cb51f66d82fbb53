"""Greedy and beam search with every shape fixed, so that one decoder step is captured once in a CUDA graph and
replayed (on a CPU, or with graphs=False, the same steps run eagerly).

The searches of decoding.search.greedy and decoding.beam.beam_search (tests check the same outputs), for models
with a fixed-shape state (TransformerSeq2Seq.static_state). What differs, for fixed shapes: finished rows and
sentences keep stepping with their results frozen instead of leaving the batch, and the host asks whether all
are done only every `check_every` steps (a read-back stalls the GPU). Not here: logits processors and the
coverage penalty; use the dynamic searches for those.
Why: on a GPU these small models are launch-bound (our beam-5 run on an H200: 37 ms of kernels in ~200 ms; a
greedy step replayed as a CUDA graph ran 64 sentences x 50 steps at 3,137 sent/s there vs 912 eagerly).
"""
from __future__ import annotations

import contextlib
from typing import Callable, Sequence

import torch

from seqgap_lab.core.config import ConfigError, check_int
from seqgap_lab.data.vocab import BOS, EOS, PAD
from seqgap_lab.decoding.beam import _Finished, _output, _take, _top_candidates
from seqgap_lab.decoding.penalties import BeamScorer, length_penalty
from seqgap_lab.decoding.search import DecodeOutput
from seqgap_lab.models.base import Seq2SeqModel

NEG_INF = float("-inf")


def _autocast_for_graphs(device: torch.device):
    """The caller's autocast, with its weight-cast cache off: a graph must not keep casts the cache frees."""
    if device.type == "cuda" and torch.is_autocast_enabled("cuda"):
        return torch.autocast("cuda", dtype=torch.get_autocast_dtype("cuda"), cache_enabled=False)
    return contextlib.nullcontext()


class Replay:
    """Runs `step` (no arguments, updates tensors in place) eagerly, or as a CUDA graph captured on the first
    call. Capture needs one warm-up run first (cuBLAS setup, kernel choice); `state` lists every tensor the
    step mutates, restored after the warm-up so that the first replay starts from the initial values."""

    def __init__(self, step: Callable[[], None], state: Sequence[torch.Tensor], graphs: bool):
        self.step, self.state, self.graphs, self.graph = step, list(state), graphs, None

    def __call__(self) -> None:
        if not self.graphs:
            self.step()
            return
        if self.graph is None:
            self.graph = self._capture()
        self.graph.replay()

    def _capture(self) -> "torch.cuda.CUDAGraph":
        device = self.state[0].device
        initial = [t.clone() for t in self.state]
        with _autocast_for_graphs(device):
            side = torch.cuda.Stream(device)
            side.wait_stream(torch.cuda.current_stream(device))
            with torch.cuda.stream(side):
                self.step()  # warm-up
            torch.cuda.current_stream(device).wait_stream(side)
            for t, value in zip(self.state, initial):
                t.copy_(value)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self.step()  # recorded, not run
        return graph


def _use_graphs(graphs: bool | None, device: torch.device) -> bool:
    if graphs is None:
        return device.type == "cuda"
    if graphs and device.type != "cuda":
        raise ConfigError(f"graphs = True needs a CUDA device, got {device.type!r}: pass graphs=None or False")
    return bool(graphs)


def _check(max_len: int, min_len: int, check_every: int) -> None:
    check_int("static decoding", "max_len", max_len, 1)
    check_int("static decoding", "min_len", min_len, 0)
    check_int("static decoding", "check_every", check_every, 1, 10_000)


def _mask_eos(log_probs: torch.Tensor, t: torch.Tensor, min_len: int) -> None:
    """In place: -inf on <eos> while position t (0-d tensor) would end a sequence shorter than min_len."""
    if min_len > 1:
        log_probs.select(1, EOS).masked_fill_(t < min_len - 1, NEG_INF)


@torch.no_grad()
def static_greedy(model: Seq2SeqModel, src: torch.Tensor, src_mask: torch.Tensor, max_len: int, min_len: int = 0,
                  graphs: bool | None = None, check_every: int = 8) -> DecodeOutput:
    """decoding.greedy (no processors) with fixed shapes; graphs None: a CUDA graph on CUDA, eager elsewhere."""
    _check(max_len, min_len, check_every)
    b, device = src.shape[0], src.device
    st = model.static_state(model.encode(src, src_mask), src_mask, 1, max_len)
    tokens = torch.full((b, max_len), PAD, dtype=torch.long, device=device)
    scores = torch.zeros(b, device=device)
    lengths = torch.full((b,), max_len, dtype=torch.long, device=device)
    done = torch.zeros(b, dtype=torch.bool, device=device)
    prev = torch.full((b,), BOS, dtype=torch.long, device=device)

    def step() -> None:
        t = st.pos.clone()
        log_probs = model.static_step(prev, st).float().log_softmax(-1)  # (B, V)
        choice = log_probs.clone()
        _mask_eos(choice, t, min_len)
        tok = choice.argmax(-1).masked_fill(done, PAD)  # (B,)
        tokens.index_copy_(1, t.view(1), tok[:, None])
        scores.add_(log_probs.gather(1, tok[:, None])[:, 0].masked_fill(done, 0.0))
        new = (tok == EOS) & ~done
        lengths.copy_(torch.where(new, t + 1, lengths))
        done.logical_or_(new)
        prev.copy_(tok)

    run = Replay(step, [tokens, scores, lengths, done, prev, st.kv, st.pos], _use_graphs(graphs, device))
    for t in range(max_len):
        run()
        if (t + 1) % check_every == 0 and bool(done.all()):
            break
    return DecodeOutput(tokens, scores, lengths, {})


class _Beams:
    """Fixed-shape beam-search tensors: B sentences x k beams, flat row b*k + j (as in decoding.beam)."""

    def __init__(self, b: int, k: int, max_len: int, device: torch.device):
        self.tokens = torch.full((b, k, max_len), PAD, dtype=torch.long, device=device)
        self.raw = torch.full((b, k), NEG_INF, device=device)
        self.raw[:, 0] = 0.0  # identical start: only the first beam may expand
        self.prev = torch.full((b * k,), BOS, dtype=torch.long, device=device)
        self.done = torch.zeros(b, dtype=torch.bool, device=device)  # sentence finished searching
        self.was_done = self.done.clone()  # done before the latest step (the final step needs it)
        self.fin = _Finished(b, k, max_len, device)

    def tensors(self) -> list[torch.Tensor]:
        """Every tensor a step mutates."""
        f = self.fin
        return [self.tokens, self.raw, self.prev, self.done, self.was_done, f.scores, f.raw, f.lengths, f.tokens]


def _merge(fin: _Finished, tokens: torch.Tensor, raw: torch.Tensor, lengths: torch.Tensor,
           scores: torch.Tensor) -> None:
    """_Finished.add for every sentence, in place with fixed shapes: candidates tokens (B, C, T); raw, lengths,
    scores (B, C); a -inf score never displaces a finished hypothesis."""
    top = torch.cat([fin.scores, scores], 1).topk(fin.scores.shape[1], dim=1).indices  # (B, k) best first
    for old, new in ((fin.scores, scores), (fin.raw, raw), (fin.lengths, lengths), (fin.tokens, tokens)):
        old.copy_(_take(torch.cat([old, new], 1), top))


def _beam_step(model, st, s: _Beams, scorer: BeamScorer, lp_max: torch.Tensor, min_len: int) -> None:
    """One expansion of every sentence, as decoding.beam._advance and _done, with finished sentences frozen."""
    b, k = s.raw.shape
    t = st.pos.clone()
    s.was_done.copy_(s.done)
    log_probs = model.static_step(s.prev, st).float().log_softmax(-1)  # (B*k, V)
    _mask_eos(log_probs, t, min_len)
    v = log_probs.shape[-1]
    values, idx = _top_candidates(s.raw, log_probs, min(2 * k, k * v))  # (B, 2k) best first
    parent, token = idx // v, idx % v
    is_eos = token == EOS
    rank = torch.arange(values.shape[1], device=values.device)
    eligible = is_eos & (rank < k) & values.isfinite() & ~s.done[:, None]
    cand = _take(s.tokens, parent).index_fill_(2, t.view(1), EOS)  # (B, 2k, T)
    lengths = (t + 1).expand_as(parent)
    _merge(s.fin, cand, values, lengths, scorer.score(values, lengths).masked_fill(~eligible, NEG_INF))
    raw, pos = values.masked_fill(is_eos, NEG_INF).topk(k, dim=1)  # (B, k) best non-<eos>
    parent, token = parent.gather(1, pos), token.gather(1, pos)
    s.tokens.copy_(_take(s.tokens, parent).index_copy_(2, t.view(1), token[..., None]))
    s.raw.copy_(raw)
    s.prev.copy_(token.flatten())
    st.reorder_((parent + torch.arange(b, device=parent.device)[:, None] * k).flatten())
    worst = s.fin.scores[:, -1]
    s.done.logical_or_((worst > NEG_INF) & (worst >= (s.raw / lp_max).amax(1)))


@torch.no_grad()
def static_beam_search(model: Seq2SeqModel, src: torch.Tensor, src_mask: torch.Tensor, max_len: int,
                       beam_size: int = 5, alpha: float = 0.0, length_penalty_kind: str = "gnmt",
                       num_return: int = 1, min_len: int = 0, graphs: bool | None = None,
                       check_every: int = 8) -> DecodeOutput:
    """decoding.beam_search (no processors, no coverage penalty) with fixed shapes; same output format and
    stopping rule. graphs None: a CUDA graph on CUDA, eager elsewhere."""
    _check(max_len, min_len, check_every)
    check_int("static_beam_search", "beam_size", beam_size, 1, 1000)
    check_int("static_beam_search", "num_return", num_return, 1, beam_size)
    scorer = BeamScorer(alpha, length_penalty_kind)
    b, k, device = src.shape[0], beam_size, src.device
    st = model.static_state(model.encode(src, src_mask), src_mask, k, max_len)
    s = _Beams(b, k, max_len, device)
    lp_max = length_penalty(torch.tensor(float(max_len)), alpha, length_penalty_kind).to(device)
    run = Replay(lambda: _beam_step(model, st, s, scorer, lp_max, min_len), s.tensors() + [st.kv, st.pos],
                 _use_graphs(graphs, device))
    for t in range(max_len):
        run()
        if t == max_len - 1:  # live beams of the sentences still searching are scored as finished
            lengths = torch.full_like(s.raw, max_len, dtype=torch.long)
            scores = scorer.score(s.raw, lengths).masked_fill(s.was_done[:, None], NEG_INF)
            _merge(s.fin, s.tokens, s.raw, lengths, scores)
        elif (t + 1) % check_every == 0 and bool(s.done.all()):
            break
    return _output(s.fin, num_return)
