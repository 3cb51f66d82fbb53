"""decoding/: greedy search against a naive full-recompute reference, output layout, input order,
and agreement with metrics.exposure.rollout."""
from __future__ import annotations

import pytest
import torch
from helpers import KINDS, MAX_LEN, lively_model, random_sources

from seqgap_lab.core.config import ConfigError, DecodeConfig
from seqgap_lab.data.batching import collate
from seqgap_lab.data.vocab import BOS, EOS, PAD
from seqgap_lab.decoding import DecodeOutput, decode, decode_nbest, decode_sequences
from seqgap_lab.probes.exposure import rollout, stop_after_eos
from seqgap_lab.models import Seq2SeqModel

@torch.no_grad()
def naive_greedy(model: Seq2SeqModel, src: torch.Tensor, max_len: int):
    """Reference: re-run the full teacher-forced forward on the growing prefix, no cache."""
    b = src.shape[0]
    prefix = torch.full((b, 1), BOS)
    tokens = torch.full((b, max_len), PAD)
    scores = torch.zeros(b)
    lengths = torch.full((b,), max_len)
    done = torch.zeros(b, dtype=torch.bool)
    for t in range(max_len):
        log_probs = model(src, prefix)[:, -1].log_softmax(-1)
        choice = log_probs.argmax(-1)
        for i in range(b):
            if done[i]:
                continue
            tokens[i, t] = choice[i]
            scores[i] += log_probs[i, choice[i]]
            if choice[i] == EOS:
                done[i] = True
                lengths[i] = t + 1
        prefix = torch.cat([prefix, torch.where(done, PAD, choice)[:, None]], 1)
        if done.all():
            break
    return tokens, scores, lengths


@pytest.mark.parametrize("kind", KINDS)
def test_greedy_matches_naive_reference(kind):
    model = lively_model(kind)
    src = random_sources()
    out = decode(model, src, DecodeConfig(method="greedy", max_len=MAX_LEN))
    assert isinstance(out, DecodeOutput)
    ref_tokens, ref_scores, ref_lengths = naive_greedy(model, src, MAX_LEN)
    # the fixture must exercise both early stops at different steps and rows that never stop
    lengths = set(ref_lengths.tolist())
    assert MAX_LEN in lengths and len(lengths) >= 3, lengths
    assert out.tokens.shape == (len(src), MAX_LEN)
    assert torch.equal(out.tokens, ref_tokens)
    assert torch.equal(out.lengths, ref_lengths)
    torch.testing.assert_close(out.scores, ref_scores, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_greedy_output_layout(kind):
    model = lively_model(kind)
    src = random_sources()
    out = decode(model, src, DecodeConfig(max_len=MAX_LEN))
    for row, length in zip(out.tokens, out.lengths.tolist()):
        assert 1 <= length <= MAX_LEN
        eos = (row == EOS).nonzero()[:, 0].tolist()
        if eos:
            assert eos[0] == length - 1, "length counts the EOS"
            assert (row[length:] == PAD).all(), "tokens after EOS must be PAD"
        else:
            assert length == MAX_LEN
        assert (row[:length] != PAD).all()
    # scores are the sums of the chosen tokens' log-probs: recompute them teacher-forced
    with torch.no_grad():
        tgt_in = torch.cat([torch.full((len(src), 1), BOS), out.tokens[:, :-1]], 1)
        log_probs = model(src, tgt_in).log_softmax(-1)
    chosen = log_probs.gather(2, out.tokens[..., None])[..., 0]
    mask = torch.arange(MAX_LEN)[None] < out.lengths[:, None]
    torch.testing.assert_close(out.scores, (chosen * mask).sum(1), atol=1e-4, rtol=1e-5)
    assert (out.scores < 0).all()


@pytest.mark.parametrize("kind", KINDS)
def test_decode_sequences_keeps_input_order(kind):
    model = lively_model(kind)
    src = random_sources(12, seed=5)
    sources = [row[row != PAD].tolist() for row in src]
    assert len({len(s) for s in sources}) > 2  # lengths differ, so the length sort reorders them
    model.train()
    got = decode_sequences(model, sources, DecodeConfig(max_len=MAX_LEN, batch_size=5))
    assert model.training, "decode_sequences restores the training mode"
    model.eval()
    assert len(got) == len(sources)
    for s, g in zip(sources, got):
        alone = decode(model, torch.tensor([s]), DecodeConfig(max_len=MAX_LEN))
        expect = alone.tokens[0, : int(alone.lengths[0])].tolist()
        if expect[-1] == EOS:
            expect = expect[:-1]
        assert g == expect
        assert EOS not in g
    assert any(len(g) < MAX_LEN for g in got) and any(len(g) == MAX_LEN for g in got)


def test_decode_sequences_empty_list():
    assert decode_sequences(lively_model("gru"), []) == []


@pytest.mark.parametrize("kind", KINDS)
def test_rollout_without_forcing_equals_greedy(kind):
    model = lively_model(kind)
    src = random_sources()
    sources = [row[row != PAD].tolist() for row in src]
    steps = 7
    pairs = [(s, [3] * (steps - 1 if i == 0 else 1 + i % (steps - 1))) for i, s in enumerate(sources)]
    batch = collate(pairs)
    assert batch.tgt_out.shape[1] == steps
    with torch.no_grad():
        written = rollout(model, batch)["written"]
    greedy = decode(model, batch.src, DecodeConfig(max_len=steps))
    assert torch.equal(stop_after_eos(written), greedy.tokens)
    # without stop_after_eos the rollout keeps writing after EOS
    assert (written != PAD).all()


# ---- DecodeConfig knobs and dispatch (greedy | sample | beam) -------------------------------------

def test_decode_config_keeps_old_defaults_and_round_trips():
    cfg = DecodeConfig()
    assert (cfg.method, cfg.max_len, cfg.batch_size, cfg.min_len, cfg.alpha) == ("greedy", 100, 256, 0, 0.0)
    full = DecodeConfig(method="beam", beam_size=4, alpha=0.7, length_penalty="hf", num_return=4, min_len=100,
                        temperature=0.5, top_k=3, top_p=0.9, num_samples=2, repetition_penalty=1.3,
                        no_repeat_ngram=3, seed=5)
    assert DecodeConfig.from_dict(full.to_dict()) == full
    from seqgap_lab.decoding import LENGTH_PENALTIES
    assert set(DecodeConfig._LENGTH_PENALTIES) == set(LENGTH_PENALTIES)


@pytest.mark.parametrize("kwargs, field, bad", [
    ({"method": "viterbi"}, "method", "viterbi"),
    ({"beam_size": 0}, "beam_size", 0), ({"beam_size": 1001}, "beam_size", 1001),
    ({"alpha": -0.5}, "alpha", -0.5), ({"alpha": float("inf")}, "alpha", float("inf")),
    ({"length_penalty": "wu"}, "length_penalty", "wu"),
    ({"num_return": 6}, "num_return", 6), ({"num_return": 0}, "num_return", 0),
    ({"temperature": 0.0}, "temperature", 0.0), ({"temperature": "1"}, "temperature", "1"),
    ({"top_k": -1}, "top_k", -1), ({"top_p": 0.0}, "top_p", 0.0), ({"top_p": 1.5}, "top_p", 1.5),
    ({"min_len": -1}, "min_len", -1), ({"max_len": 5, "min_len": 6}, "min_len", 6),
    ({"num_samples": 0}, "num_samples", 0), ({"seed": -1}, "seed", -1),
    ({"repetition_penalty": 0.9}, "repetition_penalty", 0.9), ({"no_repeat_ngram": -1}, "no_repeat_ngram", -1),
])
def test_decode_config_rejects_bad_knobs(kwargs, field, bad):
    with pytest.raises(ConfigError) as exc:
        DecodeConfig(**kwargs)
    msg = str(exc.value)
    assert f"DecodeConfig.{field}" in msg and repr(bad) in msg and "expected" in msg, msg
    with pytest.raises(ConfigError):
        DecodeConfig.from_dict({**kwargs, "beam": 3})  # unknown keys still rejected


@pytest.mark.parametrize("method", ["greedy", "sample", "beam"])
def test_decode_sequences_for_every_method(method):
    model = lively_model("gru")
    sources = [row[row != PAD].tolist() for row in random_sources(7, seed=3)]
    cfg = DecodeConfig(method=method, max_len=MAX_LEN, batch_size=3, num_return=2, num_samples=2, top_k=3)
    got = decode_sequences(model, sources, cfg)
    assert len(got) == len(sources) and all(EOS not in g and len(g) <= MAX_LEN for g in got)
    assert got == decode_sequences(model, sources, cfg), "deterministic (sample: seeded)"
    per_source = 1 if method == "greedy" else 2
    nbest = decode_nbest(model, sources, cfg)
    assert [len(h) for h in nbest] == [per_source] * len(sources) and got == [h[0] for h in nbest]


@pytest.mark.parametrize("method", ["greedy", "beam", "sample"])
def test_history_processors_from_config(method):
    model, src = lively_model("transformer"), random_sources()
    plain = decode(model, src, DecodeConfig(method=method, max_len=MAX_LEN, beam_size=3, top_k=2))
    out = decode(model, src, DecodeConfig(method=method, max_len=MAX_LEN, beam_size=3, top_k=2, no_repeat_ngram=2))
    repeats = lambda o: sum(len(r) - len(set(r)) for r in (list(zip(s[:n], s[1:n]))
                            for s, n in zip(o.tokens.tolist(), o.lengths.tolist())))
    assert repeats(plain) > 0 and repeats(out) == 0
