"""Fixed-shape (CUDA-graph) decoding equals the dynamic searches: same tokens, lengths and scores.

Run eagerly here (on a CPU the graph path is refused); the GPU check (scripts/gpu_check.sh) compares the
captured graphs with the same eager steps. float64 keeps near-ties from flipping a choice between two paths
that sum attention in a different order.
"""
from __future__ import annotations

import pytest
import torch

from seqgap_lab.core.config import ConfigError, ModelConfig
from seqgap_lab.data.vocab import BOS, EOS, PAD
from seqgap_lab.decoding import beam_search, greedy
from seqgap_lab.decoding.static import static_beam_search, static_greedy
from seqgap_lab.models import build_model


def _model(vocab: int, seed: int = 0, kind: str = "transformer", positions: str = "sinusoidal"):
    torch.manual_seed(seed)
    cfg = ModelConfig(kind=kind, d_model=16, num_heads=2, num_layers=2, ffn_dim=32, dropout=0.0, positions=positions)
    return build_model(cfg, vocab).eval().double()


def _src(vocab: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    src = torch.randint(3, vocab, (5, 7), generator=g)
    src[1, 4:] = PAD
    src[3, 2:] = PAD
    return src


def _same(a, b) -> None:
    assert torch.equal(a.tokens, b.tokens)
    assert torch.equal(a.lengths, b.lengths)
    finite = a.scores.isfinite()
    assert torch.equal(finite, b.scores.isfinite())
    assert torch.allclose(a.scores[finite].double(), b.scores[finite].double(), atol=1e-9)


@pytest.mark.parametrize("positions", ["sinusoidal", "rotary"])
@pytest.mark.parametrize("vocab", [12, 600])  # 600: the chunked top-k path of beam search
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_static_step_logits_equal_dynamic_step(vocab, seed, positions):
    model = _model(vocab, seed, positions=positions)
    src = _src(vocab)
    mask = src != PAD
    with torch.no_grad():
        memory = model.encode(src, mask)
        state, st = model.init_state(memory, mask), model.static_state(memory, mask, 1, 9)
        prev = torch.full((src.shape[0],), BOS)
        for _ in range(9):
            logits, state = model.step(prev, state)
            static = model.static_step(prev, st)
            assert torch.allclose(logits, static, atol=1e-10)
            prev = logits.argmax(-1)


@pytest.mark.parametrize("min_len", [0, 4])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_static_greedy_equals_greedy(seed, min_len):
    model = _model(12, seed)  # 12 words: <eos> is likely enough that rows finish at different steps
    src = _src(12)
    out = static_greedy(model, src, src != PAD, 15, min_len=min_len, check_every=3)
    _same(out, greedy(model, src, src != PAD, 15, min_len=min_len))


CASES = [  # beam, alpha, length penalty, num_return, min_len, max_len
    (1, 0.0, "none", 1, 0, 12), (3, 0.0, "none", 2, 0, 12), (4, 0.7, "gnmt", 3, 0, 14), (5, 1.0, "hf", 5, 3, 10),
    (2, 1.5, "gnmt", 1, 6, 9), (5, 0.6, "gnmt", 1, 0, 30)]


@pytest.mark.parametrize("vocab", [12, 600])
@pytest.mark.parametrize("case", CASES)
def test_static_beam_equals_beam_search(vocab, case):
    beam, alpha, kind, n, min_len, max_len = case
    for seed in range(3):
        model = _model(vocab, seed)
        src = _src(vocab)
        mask = src != PAD
        out = static_beam_search(model, src, mask, max_len, beam_size=beam, alpha=alpha, length_penalty_kind=kind,
                                 num_return=n, min_len=min_len, check_every=2)
        ref = beam_search(model, src, mask, max_len, beam_size=beam, alpha=alpha, length_penalty=kind,
                          num_return=n, min_len=min_len)
        _same(out, ref)
        assert torch.equal(out.extras["raw_scores"].isfinite(), ref.extras["raw_scores"].isfinite())


def _counting(model, name: str) -> list[int]:
    """Count calls of model.<name> (an instance attribute shadows the method)."""
    calls, method = [0], getattr(model, name)

    def counted(*args, **kwargs):
        calls[0] += 1
        return method(*args, **kwargs)
    setattr(model, name, counted)
    return calls


@pytest.mark.parametrize("check_every", [1, 4])
def test_static_beam_stops_early_like_beam_search(check_every):
    """A model that likes <eos> (its output row near <bos>'s, which a random decoder favours): every sentence
    finishes within a few steps of min_len and both searches stop long before max_len, with the same output;
    the static one after at most check_every - 1 frozen steps more."""
    model = _model(12, 0)
    with torch.no_grad():
        model.embed.weight[EOS] = model.embed.weight[BOS] * 0.9
    src, steps, static_steps = _src(12), _counting(model, "step"), _counting(model, "static_step")
    ref = beam_search(model, src, src != PAD, 30, beam_size=3, min_len=3)
    out = static_beam_search(model, src, src != PAD, 30, beam_size=3, min_len=3, check_every=check_every)
    _same(out, ref)
    assert steps[0] < 10
    assert steps[0] <= static_steps[0] < steps[0] + check_every


def test_static_decoding_refuses_what_it_cannot_do():
    model = _model(12, 0)
    src = _src(12)
    with pytest.raises(ConfigError, match="graphs = True needs a CUDA device"):
        static_greedy(model, src, src != PAD, 5, graphs=True)
    with pytest.raises(ConfigError, match="beam_size"):
        static_beam_search(model, src, src != PAD, 5, beam_size=0)
    with pytest.raises(ValueError, match="max_positions"):
        static_greedy(model, src, src != PAD, model.config.max_positions + 1)
    gru = _model(12, 0, kind="gru")
    with pytest.raises(NotImplementedError, match="no fixed-shape decoding state"):
        static_greedy(gru, src, src != PAD, 5)
