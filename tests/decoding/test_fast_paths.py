"""Fast paths equal the simple ones: the Transformer's BeamKV self-attention cache against per-row tensors
grown by torch.cat (the path under autograd), beam search's chunked top-k against a plain topk, and its
in-place <eos> mask against the MinLength processor."""
from __future__ import annotations

import pytest
import torch

from seqgap_lab.core.config import ModelConfig
from seqgap_lab.data.vocab import BOS, PAD
from seqgap_lab.decoding import MinLength, beam_search
from seqgap_lab.decoding.beam import _top_candidates
from seqgap_lab.models import build_model
from seqgap_lab.models.kvcache import BeamKV

V, ATOL = 600, 1e-5  # V >= 512: beam search takes the chunked top-k


def _model(vocab: int = 13, positions: str = "sinusoidal"):
    torch.manual_seed(0)
    cfg = ModelConfig(kind="transformer", d_model=16, num_heads=2, num_layers=2, ffn_dim=32, dropout=0.0,
                      positions=positions)
    return build_model(cfg, vocab).eval()


def _src() -> torch.Tensor:
    return torch.tensor([[3, 4, 5, 6, 7], [8, 9, PAD, PAD, PAD], [10, 3, 5, 4, PAD]])


# Reorders applied after successive steps of 3 sources x 2 beams: within the groups (no copy), a source
# dropped (buffer compacted), an irregular one that breaks the groups (histories copied out), duplicates.
REORDERS = [[1, 1, 2, 3, 5, 4], [0, 0, 1, 0, 3, 2], [4, 5, 0, 1], [2, 0, 0, 1, 3], [4, 4, 1, 0, 2]]


def _run(model, src, with_grad: bool, capacity: int | None = None) -> list[torch.Tensor]:
    """Logits of every step through REORDERS, on the cache init_state picks with or without autograd."""
    mask = src != PAD
    with torch.set_grad_enabled(with_grad):
        state = model.init_state(model.encode(src, mask), mask, beam=2)
        if capacity is not None:  # a tiny buffer, to exercise growth
            h, dh = model.config.num_heads, model.config.d_model // model.config.num_heads
            state.tensors["self"] = BeamKV.empty(2, 3, 2, h, dh, model.embed.weight, capacity)
        assert isinstance(state["self"], BeamKV) != with_grad
        g = torch.Generator().manual_seed(0)
        prev, out = torch.full((6,), BOS), []
        for idx in REORDERS + [None]:
            logits, state = model.step(prev, state)
            out.append(logits.detach())
            if idx is not None:
                state = state.reorder(torch.tensor(idx))
                prev = torch.randint(3, 13, (len(idx),), generator=g)
    return out


@pytest.mark.parametrize("positions", ["sinusoidal", "rotary"])
@pytest.mark.parametrize("capacity", [None, 1])
def test_beam_kv_cache_equals_per_row_cache(capacity, positions):
    model, src = _model(positions=positions), _src()
    for fast, simple in zip(_run(model, src, False, capacity), _run(model, src, True), strict=True):
        torch.testing.assert_close(fast, simple, atol=ATOL, rtol=0)


@torch.no_grad()
def test_beam_kv_states_stay_values():
    """Stepping one state twice (different tokens) gives what two separate runs give: the second step copies."""
    model, src = _model(), _src()
    mask = src != PAD
    state = model.init_state(model.encode(src, mask), mask, beam=2)
    _, state = model.step(torch.full((6,), BOS), state)
    a, b = torch.arange(3, 9), torch.arange(4, 10)
    _, after_a = model.step(a, state)
    _, after_b = model.step(b, state)  # same position again: must not overwrite after_a's keys
    nxt = torch.full((6,), 5)
    got_a, got_b = model.step(nxt, after_a)[0], model.step(nxt, after_b)[0]
    with torch.enable_grad():
        ref = model.init_state(model.encode(src, mask), mask, beam=2)
        _, ref = model.step(torch.full((6,), BOS), ref)
        ref_a = model.step(nxt, model.step(a, ref)[1])[0]
        ref_b = model.step(nxt, model.step(b, ref)[1])[0]
    torch.testing.assert_close(got_a, ref_a.detach(), atol=ATOL, rtol=0)
    torch.testing.assert_close(got_b, ref_b.detach(), atol=ATOL, rtol=0)


def test_chunked_top_candidates_equal_plain_topk():
    g = torch.Generator().manual_seed(0)
    for k, v in [(5, 8000), (3, 600), (4, 1000), (2, 601)]:  # 601: no divisor in [16, 64], plain path
        raw = torch.randn(7, k, generator=g) * 3
        raw[0, 1:] = float("-inf")  # a first step: only beam 0 is alive
        log_probs = torch.randn(7 * k, v, generator=g).log_softmax(-1)
        log_probs[:, 2] = float("-inf")  # a masked <eos>
        values, idx = _top_candidates(raw, log_probs, 2 * k)
        ref = (raw.reshape(-1, 1) + log_probs).view(7, k * v).topk(2 * k, dim=1)
        assert torch.equal(values, ref.values) and torch.equal(idx, ref.indices)


@pytest.mark.parametrize("beam", [1, 4])
def test_beam_fast_paths_equal_processor_path(beam):
    """Chunked top-k and the in-place <eos> mask against plain topk (narrow rows) and the MinLength processor."""
    model, src = _model(V), _src()
    out = beam_search(model, src, src != PAD, 8, beam_size=beam, min_len=5, num_return=beam)
    ref = beam_search(model, src, src != PAD, 8, beam_size=beam, processors=[MinLength(5)], num_return=beam)
    assert torch.equal(out.tokens, ref.tokens) and torch.equal(out.lengths, ref.lengths)
    torch.testing.assert_close(out.scores, ref.scores, atol=0, rtol=0)
    assert (out.lengths >= 5).all()


def test_beam_kv_state_stepped_with_autograd_switches_to_per_row_tensors():
    model, src = _model(), _src()
    mask = src != PAD
    tokens = [torch.full((3,), BOS), torch.tensor([4, 5, 6]), torch.tensor([7, 8, 9])]
    with torch.no_grad():
        state = model.init_state(model.encode(src, mask), mask)
        for tok in tokens[:2]:
            _, state = model.step(tok, state)
    logits, after = model.step(tokens[2], state)  # grad enabled: copies the histories out, then torch.cat
    assert logits.requires_grad and isinstance(after["self"], tuple)
    with torch.no_grad():
        ref = model.init_state(model.encode(src, mask), mask)
        for tok in tokens:
            want, ref = model.step(tok, ref)
    torch.testing.assert_close(logits.detach(), want, atol=ATOL, rtol=0)
