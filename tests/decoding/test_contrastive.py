"""decoding/contrastive.py: weight 0 (and li2022 with plausibility 1) is the expert's own search, the
plausibility mask on a hand-made row, both states advanced incrementally, scores equal a teacher-forced
recompute, a wide beam is exhaustive search, batch independence, decoder-only pairs, bad values."""
from __future__ import annotations

import math

import pytest
import torch
from helpers import KINDS, MAX_LEN, TINY_LEN, TINY_V, V, all_hypotheses, lively_model, random_sources, tiny_model

from seqgap_lab.training.step_cost import SIZES
from seqgap_lab.bench.contrastive import contrastive_rows
from seqgap_lab.core.config import ConfigError, DecodeConfig, ModelConfig
from seqgap_lab.data.vocab import BOS, EOS, PAD
from seqgap_lab.decoding import (CONTRASTIVE_FORMS, CONTRASTIVE_SEARCHES, ContrastiveScore, beam_search, contrastive, decode, decode_sequences, greedy)
from seqgap_lab.models import build_model


def _amateur(kind: str, vocab: int = V, seed: int = 7, scale: float = 3.0):
    """A smaller random model of the same vocabulary (its specials are not suppressed like the expert's)."""
    torch.manual_seed(seed)
    model = build_model(ModelConfig(kind=kind, d_model=8, num_heads=2, num_layers=1, ffn_dim=16, dropout=0.0),
                        vocab).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)
    return model


def _run(kind, src, **kw):
    expert, amateur = lively_model(kind), _amateur(kind)
    return contrastive(expert, amateur, src, src != PAD, MAX_LEN, **kw)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("form, kw", [("plain", {"weight": 0.0}), ("li2022", {"weight": 0.0}),
                                      ("li2022", {"plausibility": 1.0, "weight": 2.0})])
@pytest.mark.parametrize("min_len", [0, 3])
def test_expert_greedy_equivalences(kind, form, kw, min_len):
    expert, amateur, src = lively_model(kind), _amateur(kind), random_sources()
    ref = greedy(expert, src, src != PAD, MAX_LEN, min_len=min_len)
    out = contrastive(expert, amateur, src, src != PAD, MAX_LEN, form=form, min_len=min_len, **kw)
    assert torch.equal(out.tokens, ref.tokens) and torch.equal(out.lengths, ref.lengths)
    torch.testing.assert_close(out.extras["expert_scores"], ref.scores, atol=1e-4, rtol=1e-5)
    if kw["weight"] == 0.0:  # the contrastive score is then the expert's log-prob itself
        torch.testing.assert_close(out.scores, ref.scores, atol=1e-4, rtol=1e-5)
    assert not torch.equal(contrastive(expert, amateur, src, src != PAD, MAX_LEN, form=form).tokens, ref.tokens)


def test_plausibility_mask_and_scores_hand_made():
    expert_probs = torch.tensor([[0.5, 0.3, 0.04, 0.16]])
    amateur_logits = torch.tensor([[2.0, 0.0, -9.0, 1.0]])  # the implausible token 2 would win unmasked
    expert_lp = expert_probs.log()
    li = ContrastiveScore("li2022", weight=1.0, plausibility=0.1, amateur_temperature=2.0)
    assert li.plausible(expert_lp).tolist() == [[True, True, False, True]]  # p >= 0.1 * 0.5
    expect = expert_lp - (amateur_logits / 2.0).log_softmax(-1)
    expect[0, 2] = -math.inf
    torch.testing.assert_close(li(expert_lp, amateur_logits), expect)
    assert ContrastiveScore("li2022", plausibility=1.0).plausible(expert_lp).tolist() == [[True, False, False, False]]
    plain = ContrastiveScore("plain", weight=0.5, plausibility=0.9, amateur_temperature=9.0)  # a, tau unused
    scores = plain(expert_lp, amateur_logits)
    torch.testing.assert_close(scores, expert_lp - 0.5 * amateur_logits.log_softmax(-1))
    assert int(scores.argmax()) == 2, "plain keeps the implausible token"
    diff = scores - (expert_lp - 0.5 * amateur_logits)  # = logits form up to one constant per row
    torch.testing.assert_close(diff, diff[:, :1].expand_as(diff))
    li_plain = ContrastiveScore("li2022", weight=0.5, plausibility=0.0, amateur_temperature=1.0)
    torch.testing.assert_close(li_plain(expert_lp, amateur_logits), scores)


def _record(model, log, forbid=("forward", "decode_forward")):
    """Log (rows fed, state.step) of every step call; make any recomputation fail loudly."""
    step, encode = model.step, model.encode
    model.step = lambda prev, state, **kw: (log.append((len(prev), state.step)), step(prev, state, **kw))[1]
    model.encode = lambda *a: (log.append(("encode",)), encode(*a))[1]
    for name in forbid:
        setattr(model, name, lambda *a, **kw: pytest.fail(f"{name} recomputes the prefix"))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("search", ["greedy", "beam"])
def test_both_states_advance_once_per_step(kind, search):
    expert, amateur, src = lively_model(kind), _amateur(kind), random_sources()
    logs = {"expert": [], "amateur": []}
    _record(expert, logs["expert"])
    _record(amateur, logs["amateur"])
    contrastive(expert, amateur, src, src != PAD, MAX_LEN, search=search, beam_size=3)
    assert logs["expert"] == logs["amateur"], "same rows at every step, both pruned / reordered alike"
    assert logs["amateur"][0] == ("encode",) and ("encode",) not in logs["amateur"][1:]
    calls = logs["amateur"][1:]
    assert [s for _, s in calls] == list(range(len(calls))), "one incremental step per token"
    if search == "greedy":
        assert calls[0][0] == len(src) and calls[-1][0] < len(src), "finished rows leave both batches"


def _teacher_forced(expert, amateur, src, out, score):
    """Summed contrastive scores of out's rows, recomputed with a full forward of both models."""
    n = out.tokens.shape[0] // src.shape[0]
    src = src.repeat_interleave(n, 0)
    tgt_in = torch.cat([torch.full((len(src), 1), BOS), out.tokens[:, :-1]], 1)
    with torch.no_grad():
        scores = score(expert(src, tgt_in).log_softmax(-1), amateur(src, tgt_in))  # (N, T, V)
    chosen = scores.gather(2, out.tokens[..., None])[..., 0]
    return chosen.where(torch.arange(out.tokens.shape[1])[None] < out.lengths[:, None], 0.0).sum(1)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("search", ["greedy", "beam"])
@pytest.mark.parametrize("form, kw", [("li2022", {"amateur_temperature": 0.5}), ("plain", {"weight": 0.5})])
def test_scores_equal_teacher_forced_recompute(kind, search, form, kw):
    expert, amateur, src = lively_model(kind), _amateur(kind), random_sources()
    out = contrastive(expert, amateur, src, src != PAD, MAX_LEN, form=form, search=search, beam_size=4,
                      num_return=3, **kw)
    # li2022 beams may find fewer than num_return plausible hypotheses: those rows score -inf
    found = out.scores.isfinite()
    assert found.sum() >= len(src) and (out.scores.max() > 0), "contrastive scores can be positive"
    expect = _teacher_forced(expert, amateur, src, out, ContrastiveScore(form, **kw))
    torch.testing.assert_close(out.scores[found], expect[found], atol=1e-3, rtol=1e-5)
    if search == "beam":
        assert (out.scores.view(len(src), 3).diff(dim=1).nan_to_num(0.0) <= 0).all(), "best first"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("min_len", [0, 2])
def test_beam_with_weight_zero_is_expert_beam(kind, min_len):
    expert, amateur, src = lively_model(kind), _amateur(kind), random_sources()
    ref = beam_search(expert, src, src != PAD, MAX_LEN, beam_size=4, num_return=3, min_len=min_len)
    out = contrastive(expert, amateur, src, src != PAD, MAX_LEN, weight=0.0, plausibility=0.0, search="beam",
                      beam_size=4, num_return=3, min_len=min_len)
    assert torch.equal(out.tokens, ref.tokens) and torch.equal(out.lengths, ref.lengths)
    torch.testing.assert_close(out.scores, ref.scores, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_wide_beam_equals_exhaustive_search(kind):
    expert, amateur = tiny_model(kind), _amateur(kind, TINY_V, seed=3, scale=2.0)
    src = torch.tensor([[3, 4, 3], [4, PAD, PAD]])
    tokens, lengths = all_hypotheses(TINY_V, TINY_LEN)
    k = len(tokens)  # every candidate ranks < k: the search is exact
    score = ContrastiveScore("li2022", plausibility=0.1, amateur_temperature=0.5)
    out = contrastive(expert, amateur, src, src != PAD, TINY_LEN, plausibility=0.1, amateur_temperature=0.5,
                      search="beam", beam_size=k, num_return=k)
    for b in range(len(src)):
        hyps = type(out)(tokens, torch.zeros(k), lengths)
        exact = _teacher_forced(expert, amateur, src[b:b + 1].expand(k, -1), hyps, score)
        finite = exact[exact.isfinite()].sort(descending=True).values
        assert 20 < len(finite) < k and exact.max() > 0, "the mask bites, and scores can be positive"
        rows = out.scores[b * k:(b + 1) * k]
        torch.testing.assert_close(rows[:len(finite)], finite, atol=1e-4, rtol=1e-5)
        assert (rows[len(finite):] == -math.inf).all()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("search", ["greedy", "beam"])
def test_independent_of_batch_composition(kind, search):
    expert, amateur, src = lively_model(kind), _amateur(kind), random_sources()
    kw = dict(search=search, beam_size=3, num_return=2, min_len=2)
    batch = contrastive(expert, amateur, src, src != PAD, MAX_LEN, **kw)
    n = batch.tokens.shape[0] // len(src)
    for b in range(len(src)):
        alone = src[b:b + 1][:, src[b] != PAD]
        one = contrastive(expert, amateur, alone, alone != PAD, MAX_LEN, **kw)
        assert torch.equal(one.tokens, batch.tokens[n * b: n * (b + 1)])
        torch.testing.assert_close(one.scores, batch.scores[n * b: n * (b + 1)], atol=1e-4, rtol=1e-5)


def _lm(d_model: int, layers: int, seed: int):
    torch.manual_seed(seed)
    model = build_model(ModelConfig(kind="lm", d_model=d_model, num_heads=2, num_layers=layers, ffn_dim=2 * d_model,
                                    dropout=0.0), V).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    return model


@pytest.mark.parametrize("search", ["greedy", "beam"])
def test_decoder_only_pair(search):
    expert, amateur, prompts = _lm(16, 2, 0), _lm(8, 1, 1), random_sources(6)
    log = []
    _record(amateur, log)
    out = contrastive(expert, amateur, prompts, prompts != PAD, MAX_LEN, search=search, beam_size=3)
    assert [s for _, s in log[1:]] == list(range(len(log) - 1)), "the amateur LM steps its KV cache"
    zero = contrastive(expert, amateur, prompts, prompts != PAD, MAX_LEN, weight=0.0, plausibility=0.0,
                       search=search, beam_size=3)
    ref = (greedy(expert, prompts, prompts != PAD, MAX_LEN) if search == "greedy"
           else beam_search(expert, prompts, prompts != PAD, MAX_LEN, beam_size=3))
    assert torch.equal(zero.tokens, ref.tokens) and not torch.equal(out.tokens, ref.tokens)
    n = out.tokens.shape[0] // len(prompts)
    for b in range(len(prompts)):  # prompts of different lengths, right-padded in the batch
        alone = prompts[b:b + 1][:, prompts[b] != PAD]
        one = contrastive(expert, amateur, alone, alone != PAD, MAX_LEN, search=search, beam_size=3)
        assert torch.equal(one.tokens, out.tokens[n * b: n * (b + 1)])


def test_decode_dispatch_and_sequences():
    expert, amateur, src = lively_model("transformer"), _amateur("transformer"), random_sources(10, seed=4)
    cfg = DecodeConfig(method="contrastive", max_len=MAX_LEN, contrastive_form="plain", contrastive_weight=0.5,
                       contrastive_search="beam", beam_size=3, num_return=2, batch_size=4, no_repeat_ngram=2)
    out = decode(expert, src, cfg, amateur=amateur)
    assert out.tokens.shape == (2 * len(src), MAX_LEN)
    sources = [row[row != PAD].tolist() for row in src]
    amateur.train()
    got = decode_sequences(expert, sources, cfg, amateur=amateur)
    assert amateur.training, "the amateur gets its training mode back"
    for s, g in zip(sources, got):
        alone = decode(expert, torch.tensor([s]), cfg, amateur=amateur.eval())
        expect = alone.tokens[0, :int(alone.lengths[0])].tolist()
        assert g == (expect[:-1] if expect[-1] == EOS else expect)
        pairs = list(zip(g, g[1:]))
        assert len(pairs) == len(set(pairs)), "history processors from the config apply"


@pytest.mark.parametrize("field, bad", [("amateur_temperature", 0.0), ("amateur_temperature", -1.0),
                                        ("plausibility", -0.1), ("plausibility", 1.5),
                                        ("contrastive_weight", -0.5), ("contrastive_form", "dexperts"),
                                        ("contrastive_search", "sample"), ("plausibility", float("nan"))])
def test_bad_values_raise(field, bad):
    with pytest.raises(ConfigError) as exc:
        DecodeConfig(method="contrastive", **{field: bad})
    assert f"DecodeConfig.{field}" in str(exc.value) and "expected" in str(exc.value)
    name = {"contrastive_weight": "weight", "contrastive_form": "form"}.get(field, field)
    if field != "contrastive_search":
        with pytest.raises(ConfigError, match=f"ContrastiveScore.{name}"):
            ContrastiveScore(**{name: bad})


def test_config_choices_mirror_the_module():
    assert DecodeConfig._CONTRASTIVE_FORMS == CONTRASTIVE_FORMS
    assert DecodeConfig._CONTRASTIVE_SEARCHES == CONTRASTIVE_SEARCHES
    cfg = DecodeConfig(method="contrastive", contrastive_form="plain", contrastive_weight=0.3, plausibility=0.2,
                       amateur_temperature=0.7, contrastive_search="beam", beta=0.1)
    assert DecodeConfig.from_dict(cfg.to_dict()) == cfg


def test_missing_or_mismatched_amateur_raises():
    expert, src = lively_model("gru"), random_sources(3)
    cfg = DecodeConfig(method="contrastive", max_len=MAX_LEN)
    with pytest.raises(ConfigError, match="decode.amateur = None"):
        decode(expert, src, cfg)
    with pytest.raises(ConfigError, match="decode_nbest.amateur = None"):
        decode_sequences(expert, [[3, 4]], cfg)
    with pytest.raises(ConfigError, match=r"decode.amateur.vocab_size = 12 .*vocab_size = 11"):
        decode(expert, src, cfg, amateur=_amateur("gru", vocab=V + 1))
    with pytest.raises(ConfigError, match="contrastive.amateur.vocab_size"):
        contrastive(expert, _amateur("gru", vocab=V + 1), src, src != PAD, MAX_LEN)
    assert torch.equal(decode(expert, src, DecodeConfig(max_len=MAX_LEN), amateur=None).tokens,
                       greedy(expert, src, src != PAD, MAX_LEN).tokens), "other methods ignore the amateur"


def test_bench_rows_format():
    rows = contrastive_rows(torch.device("cpu"), 1, SIZES["tiny"])
    assert [r["metric"] for r in rows] == ["contrastive_over_greedy", "contrastive_sentences_per_s"]
    assert all(set(r) == {"model", "metric", "value", "unit", "note"} and r["value"] > 0 for r in rows)
