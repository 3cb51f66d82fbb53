"""models/: one interface, incremental decoding exactly matching the teacher-forced pass, padding
invariance, state reordering, beams, KV cache growth, attention weights, position limit."""
from __future__ import annotations

import pytest
import torch

from seqgap_lab.core.config import ModelConfig
from seqgap_lab.data.vocab import BOS, PAD
from seqgap_lab.models import GRUSeq2Seq, Seq2SeqModel, TransformerSeq2Seq, build_model

V = 11
KINDS = ["gru", "transformer", "transformer_rotary"]  # the last: ModelConfig(positions="rotary")
ATOL = 1e-5


def _model(kind: str, max_positions: int = 64) -> Seq2SeqModel:
    torch.manual_seed(0)
    positions = "rotary" if kind.endswith("_rotary") else "sinusoidal"
    cfg = ModelConfig(kind=kind.removesuffix("_rotary"), d_model=16, num_heads=2, num_layers=2, ffn_dim=32,
                      dropout=0.1, max_positions=max_positions, positions=positions)
    return build_model(cfg, V).eval()


def _src() -> torch.Tensor:
    """Three sources of lengths 5, 2, 4, right-padded."""
    return torch.tensor([[3, 4, 5, 6, 7],
                         [8, 9, PAD, PAD, PAD],
                         [10, 3, 5, 4, PAD]])


def _tgt_in() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    t = torch.randint(3, V, (3, 6), generator=g)
    t[:, 0] = BOS
    return t


def _leaves(value):
    if value is None:
        return []
    if isinstance(value, torch.Tensor):
        return [value]
    return [x for v in value for x in _leaves(v)]


def _step_all(model, src, tgt_in, need_weights=False):
    mask = src != PAD
    state = model.init_state(model.encode(src, mask), mask)
    logits, states = [], []
    for t in range(tgt_in.shape[1]):
        out, state = model.step(tgt_in[:, t], state, need_weights=need_weights)
        logits.append(out)
        states.append(state)
    return torch.stack(logits, 1), states


def test_build_model_kinds():
    assert isinstance(_model("gru"), GRUSeq2Seq) and _model("gru").kind == "gru"
    assert isinstance(_model("transformer"), TransformerSeq2Seq)
    assert _model("gru").num_parameters() > 0


@pytest.mark.parametrize("kind", KINDS)
@torch.no_grad()
def test_forward_shape(kind):
    model = _model(kind)
    out = model(_src(), _tgt_in())
    assert out.shape == (3, 6, V)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


@pytest.mark.parametrize("kind", KINDS)
@torch.no_grad()
def test_incremental_steps_match_forward(kind):
    model = _model(kind)
    src, tgt_in = _src(), _tgt_in()
    full = model(src, tgt_in)
    stepped, states = _step_all(model, src, tgt_in)
    assert stepped.shape == full.shape
    torch.testing.assert_close(stepped, full, atol=ATOL, rtol=0)
    assert [s.step for s in states] == list(range(1, tgt_in.shape[1] + 1))
    assert states[-1].batch_size == 3


@pytest.mark.parametrize("kind", KINDS)
@torch.no_grad()
def test_train_mode_dropout_is_active(kind):
    # Guards the eval-mode comparisons above: in train mode dropout must change the output.
    model = _model(kind).train()
    a, b = model(_src(), _tgt_in()), model(_src(), _tgt_in())
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("kind", KINDS)
@torch.no_grad()
def test_padding_invariance(kind):
    model = _model(kind)
    src, tgt_in = _src(), _tgt_in()
    base = model(src, tgt_in)
    wider = torch.cat([src, torch.full((3, 4), PAD)], 1)
    torch.testing.assert_close(model(wider, tgt_in), base, atol=ATOL, rtol=0)
    # each source alone, unpadded, gives the same logits as inside the padded batch
    for i, n in enumerate([5, 2, 4]):
        alone = model(src[i:i + 1, :n], tgt_in[i:i + 1])
        torch.testing.assert_close(alone[0], base[i], atol=ATOL, rtol=0)
    # and the content of padded positions is irrelevant only if masked: changing a real token matters
    changed = src.clone()
    changed[1, 0] = 5
    assert not torch.allclose(model(changed, tgt_in)[1], base[1], atol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
@torch.no_grad()
def test_reorder_then_step_equals_reordered_batch(kind):
    model = _model(kind)
    src, tgt_in = _src(), _tgt_in()
    _, states = _step_all(model, src, tgt_in[:, :3])
    state = states[-1]
    idx = torch.tensor([2, 0, 0, 1])
    reordered = state.reorder(idx)
    assert reordered.step == state.step == 3
    assert reordered.batch_size == 4
    # the reordered state holds exactly the selected rows of the old tensors (nothing recomputed)
    for key, value in state.tensors.items():
        for old, new in zip(_leaves(value), _leaves(reordered.tensors[key]), strict=True):
            assert torch.equal(new, old.index_select(0, idx))
    # and the original state is untouched
    assert state.batch_size == 3
    nxt = tgt_in[idx, 3]
    got, _ = model.step(nxt, reordered)
    scratch, _ = _step_all(model, src[idx], tgt_in[idx, :4])
    torch.testing.assert_close(got, scratch[:, 3], atol=ATOL, rtol=0)


@pytest.mark.parametrize("kind", KINDS)
@torch.no_grad()
def test_init_state_beam_repeats_rows(kind):
    model = _model(kind)
    src = _src()
    mask = src != PAD
    memory = model.encode(src, mask)
    one, three = model.init_state(memory, mask), model.init_state(memory, mask, beam=3)
    assert three.batch_size == 9 and one.batch_size == 3
    assert set(one.tensors) == set(three.tensors)
    for key in one.tensors:
        a, b = _leaves(one.tensors[key]), _leaves(three.tensors[key])
        assert len(a) == len(b)
        for x, y in zip(a, b):
            torch.testing.assert_close(y, x.repeat_interleave(3, dim=0), atol=1e-6, rtol=0)
    # row-major: rows 0,1,2 are copies of source 0
    assert torch.equal(three["src_mask"][:3], mask[:1].expand(3, -1))
    # stepping the beam state gives each source's logits three times
    prev = torch.full((9,), BOS)
    logits3, _ = model.step(prev, three)
    logits1, _ = model.step(torch.full((3,), BOS), one)
    torch.testing.assert_close(logits3, logits1.repeat_interleave(3, dim=0), atol=ATOL, rtol=0)


@torch.no_grad()
def test_transformer_kv_cache_grows_one_per_step():
    model = _model("transformer")
    src, tgt_in = _src(), _tgt_in()
    mask = src != PAD
    state = model.init_state(model.encode(src, mask), mask)
    assert state.tensors["self"][0][0].shape[2] == 0
    for t in range(4):
        _, state = model.step(tgt_in[:, t], state)
        for layer_k, layer_v in state.tensors["self"]:
            assert layer_k.shape == (3, 2, t + 1, 8)
            assert layer_v.shape == (3, 2, t + 1, 8)
    # cross-attention keys/values are computed once and carried over unchanged
    cross0 = model.init_state(model.encode(src, mask), mask).shared["cross"]
    for (k0, v0), (k, v) in zip(cross0, state.shared["cross"]):
        assert torch.equal(k0, k) and torch.equal(v0, v)


def test_transformer_beams_share_cross_attention_until_a_source_is_dropped():
    model = _model("transformer")
    src = _src()
    mask = src != PAD
    state = model.init_state(model.encode(src, mask), mask, beam=4)
    assert state.shared["cross"][0][0].shape[0] == 3 and state.batch_size == 12 and state.beams_per_source() == 4
    shuffled = state.reorder(torch.tensor([3, 0, 0, 1, 7, 7, 4, 5, 8, 8, 8, 9]))  # beams stay within sources
    assert shuffled.shared["cross"][0][0].data_ptr() == state.shared["cross"][0][0].data_ptr(), "no copy"
    assert shuffled.beams_per_source() == 4
    dropped = shuffled.reorder(torch.tensor([8, 9, 10, 11, 0, 1, 2, 3]))  # source 1 gone, order swapped
    assert dropped.num_sources == 2 and dropped.rows.tolist() == [1, 1, 1, 1, 0, 0, 0, 0]
    assert dropped.beams_per_source() is None  # not grouped in order: the step gathers per row


@pytest.mark.parametrize("kind", KINDS)
@torch.no_grad()
def test_attention_weights_rows_sum_to_one_and_skip_padding(kind):
    model = _model(kind)
    src, tgt_in = _src(), _tgt_in()
    mask = src != PAD
    _, states = _step_all(model, src, tgt_in[:, :3], need_weights=True)
    for state in states:
        att = state["attention"]
        assert att is not None and att.shape == (3, 5)
        torch.testing.assert_close(att.sum(-1), torch.ones(3), atol=1e-5, rtol=0)
        assert (att[~mask] == 0).all()
        assert (att[mask] > 0).all()
    # need_weights leaves the logits unchanged
    with_w, _ = _step_all(model, src, tgt_in, need_weights=True)
    without, _ = _step_all(model, src, tgt_in, need_weights=False)
    torch.testing.assert_close(with_w, without, atol=ATOL, rtol=0)


@torch.no_grad()
def test_transformer_attention_is_none_without_need_weights():
    model = _model("transformer")
    _, states = _step_all(model, _src(), _tgt_in()[:, :2])
    assert states[-1]["attention"] is None


@torch.no_grad()
def test_transformer_raises_beyond_max_positions():
    model = _model("transformer", max_positions=16)
    src = _src()
    mask = src != PAD
    model(src, torch.full((3, 16), BOS))  # exactly at the limit is fine
    with pytest.raises(ValueError, match="max_positions"):
        model(src, torch.full((3, 17), BOS))
    with pytest.raises(ValueError, match="max_positions"):
        model(torch.full((1, 17), 3), torch.full((1, 2), BOS))
    state = model.init_state(model.encode(src, mask), mask)
    prev = torch.full((3,), BOS)
    for _ in range(16):
        _, state = model.step(prev, state)
    with pytest.raises(ValueError, match="17"):
        model.step(prev, state)


def test_gru_rejects_odd_d_model():
    with pytest.raises(ValueError, match="d_model"):
        build_model(ModelConfig(kind="gru", d_model=9, num_heads=1), V)


def test_rotary_attention_sees_relative_positions_only():
    """Shifting query and key positions by the same amount leaves every attention score as it was; the rotary
    model has the sinusoidal model's parameters and adds no position to its embeddings."""
    from seqgap_lab.models.rotary import Rotary
    rope, g = Rotary(8, 64), torch.Generator().manual_seed(2)
    q, k = torch.randn(2, 3, 5, 8, generator=g), torch.randn(2, 3, 7, 8, generator=g)
    qp, kp = torch.tensor([0, 3, 4, 9, 10]), torch.arange(7)
    scores = rope(q, qp) @ rope(k, kp).transpose(-2, -1)
    assert torch.allclose(scores, rope(q, qp + 20) @ rope(k, kp + 20).transpose(-2, -1), atol=1e-5)
    assert not torch.allclose(scores, rope(q, qp + 1) @ rope(k, kp).transpose(-2, -1), atol=1e-3)
    rotary, plain = _model("transformer_rotary"), _model("transformer")
    assert set(rotary.state_dict()) == set(plain.state_dict())
    ids = torch.tensor([[3, 4]])
    assert torch.allclose(rotary._embed(ids), rotary.embed(ids) * 4.0)  # sqrt(d_model): no position added


def test_rotary_is_refused_where_it_is_not_built():
    with pytest.raises(ValueError, match=r"ModelConfig.positions = 'rotary' .*'sinusoidal' for kind 'gru'"):
        ModelConfig(kind="gru", positions="rotary")
    with pytest.raises(ValueError, match=r"head size d_model/num_heads = 3 is odd"):
        ModelConfig(kind="transformer", d_model=12, num_heads=4, positions="rotary")
    with pytest.raises(ValueError, match=r"ModelConfig.positions = 'alibi' .*sinusoidal \| rotary"):
        ModelConfig(positions="alibi")


def _sites(model) -> dict[str, set[float]]:
    """The dropout rates of a Transformer, by site: attention probabilities, FFN activations, the rest."""
    from seqgap_lab.models.dropout import Dropout
    from seqgap_lab.models.transformer import Attention, FeedForward
    attention = {m.dropout for m in model.modules() if isinstance(m, Attention)}
    ffn = {m[2].p for m in model.modules() if isinstance(m, FeedForward)}
    inner = {id(m[2]) for m in model.modules() if isinstance(m, FeedForward)}
    rest = {m.p for m in model.modules() if isinstance(m, Dropout) and id(m) not in inner}
    return {"attention": attention, "ffn": ffn, "rest": rest}


@pytest.mark.parametrize("kind", ["transformer", "lm"])
def test_attention_and_activation_dropout_set_their_own_sites(kind):
    base = dict(kind=kind, d_model=16, num_heads=2, num_layers=2, ffn_dim=32, dropout=0.1)
    assert _sites(build_model(ModelConfig(**base), V)) == {"attention": {0.1}, "ffn": {0.1}, "rest": {0.1}}
    residual_only = ModelConfig(**base, attention_dropout=0.0, activation_dropout=0.0)  # fairseq's / Marian's
    assert _sites(build_model(residual_only, V)) == {"attention": {0.0}, "ffn": {0.0}, "rest": {0.1}}


@torch.no_grad()
def test_unset_rates_build_the_same_model_as_before():
    # None (the default) is the first recipe: the same weights from the same seed and the same train-mode draws
    cfg = ModelConfig(kind="transformer", d_model=16, num_heads=2, num_layers=2, ffn_dim=32, dropout=0.1)
    same = cfg.replace(attention_dropout=0.1, activation_dropout=0.1)
    outs = []
    for c in (cfg, same):
        torch.manual_seed(0)
        model = build_model(c, V).train()
        outs.append(model(_src(), _tgt_in()))
    assert torch.equal(outs[0], outs[1])
