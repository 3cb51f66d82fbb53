"""Speech models: encoder masking, the attention adapter under the project's interface, strategies and
decoding, the training helper and its cache, and the CER metric."""
from __future__ import annotations

import pytest
import torch

from seqgap_lab.core.config import ConfigError, DecodeConfig, TrainConfig
from seqgap_lab.data.speech.batching import collate_speech
from seqgap_lab.decoding import decode
from seqgap_lab.metrics.cer import cer, edit_distance
from seqgap_lab.models.speech.encoder import SpeechModelConfig, subsampled_lengths
from seqgap_lab.probes.speech_eval import evaluate_cer, transcribe
from seqgap_lab.training.speech import build_speech_model, train_speech, trained_speech_model
from seqgap_lab.strategies import get_strategy

VOCAB = 31  # <pad> <bos> <eos> + 28 characters
TINY = dict(n_mels=40, conv_channels=4, d_model=16, num_heads=2, encoder_layers=1, ffn_dim=32, dropout=0.0,
            pred_dim=8, joint_dim=8)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _pairs(n: int = 6, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    return [(torch.randn(20 + 7 * i, 40, generator=gen), [3 + (i + j) % 26 for j in range(2 + i % 4)]) for i in range(n)]


def _model(kind: str, seed: int = 0):
    torch.manual_seed(seed)
    return build_speech_model(SpeechModelConfig(kind=kind, **TINY), VOCAB).eval()


def test_subsampled_lengths_match_the_convolutions_and_padding_is_ignored():
    model = _model("ctc")
    for frames in (1, 2, 5, 8, 9, 33):
        out = model.encoder.conv(torch.zeros(1, 1, frames, 40))
        assert out.shape[2] == int(subsampled_lengths(torch.tensor([frames])))
    pairs = _pairs(2)
    batch = collate_speech(pairs)
    both, _ = model(batch.src, batch.lengths)
    alone, n = model(pairs[0][0][None], torch.tensor([pairs[0][0].shape[0]]))
    assert torch.allclose(both[0, : int(n)], alone[0], atol=1e-5)


def test_attention_adapter_step_equals_forward_and_decodes():
    model, batch = _model("attention"), collate_speech(_pairs(3))
    logits = model(batch.src, batch.tgt_in, batch.src_mask)  # (B, U, V)
    memory = model.encode(batch.src, batch.src_mask)
    state = model.init_state(memory, batch.src_mask)
    for t in range(batch.tgt_in.shape[1]):
        step_logits, state = model.step(batch.tgt_in[:, t], state)
        assert torch.allclose(step_logits, logits[:, t], atol=1e-5)
    # decode() masks features with src != PAD, a (B, T, n_mels) mask: the adapter reduces it to frames
    greedy = decode(model, batch.src, DecodeConfig(method="greedy", max_len=12))
    beam1 = decode(model, batch.src, DecodeConfig(method="beam", beam_size=1, max_len=12))
    assert torch.equal(greedy.tokens, beam1.tokens)
    assert decode(model, batch.src, DecodeConfig(method="beam", beam_size=3, max_len=12)).tokens.shape[0] == 3


def test_scheduled_sampling_at_p1_is_teacher_forcing_on_speech():
    model, batch = _model("attention"), collate_speech(_pairs(4))
    tf, _ = get_strategy("teacher_forcing").loss(model, batch, 0)
    for mode in ("two_pass", "sequential"):
        ss = get_strategy("scheduled_sampling", schedule={"name": "constant", "p": 1.0}, mode=mode)
        assert torch.allclose(ss.loss(model, batch, 0)[0], tf)
        half = get_strategy("scheduled_sampling", schedule={"name": "constant", "p": 0.5}, mode=mode)
        assert torch.isfinite(half.loss(model, batch, 0)[0])


@pytest.mark.parametrize("kind", ["ctc", "attention", "transducer"])
def test_training_lowers_the_loss_and_transcribes(kind):
    pairs = _pairs(4)
    model = _model(kind)
    cfg = TrainConfig(steps=30, batch_size=4, lr=3e-3, warmup_steps=3, log_every=10)
    history = train_speech(model, pairs, cfg, torch.device("cpu"), progress=False)
    assert list(history.step) == [10, 20, 30] and history.loss.iloc[-1] < history.loss.iloc[0]
    for method in ("greedy", "beam"):
        hyps = transcribe(model, pairs, method, beam_size=2)
        assert len(hyps) == 4 and all(all(3 <= c < VOCAB for c in h) for h in hyps)
    assert 0.0 <= evaluate_cer(model, pairs, _vocab())["cer"]


def _vocab():
    from seqgap_lab.data.speech.text import char_vocab

    return char_vocab()


def test_time_budget_and_strategy_checks():
    model = _model("ctc")
    cfg = TrainConfig(steps=1000, batch_size=2, warmup_steps=0, log_every=500)
    history = train_speech(model, _pairs(2), cfg, torch.device("cpu"), progress=False, time_budget_s=0.0)
    assert list(history.step) == [1]
    with pytest.raises(ConfigError, match="'scheduled_sampling' is not allowed for a ctc model"):
        train_speech(model, _pairs(2), cfg.replace(strategy="scheduled_sampling"), torch.device("cpu"), progress=False)


def test_trained_speech_model_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQGAP_DATA_DIR", str(tmp_path))
    args = ({"corpus": "tiny"}, SpeechModelConfig(kind="transducer", **TINY),
            TrainConfig(steps=2, batch_size=2, warmup_steps=0, log_every=1), _pairs(2), VOCAB, torch.device("cpu"))
    first = trained_speech_model(*args, progress=False)
    second = trained_speech_model(*args, progress=False)
    assert not first.from_cache and second.from_cache and first.checkpoint == second.checkpoint
    assert all(torch.equal(a, b) for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values()))


def test_edit_distance_and_cer_by_hand():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3 and edit_distance("abc", "") == 3 and edit_distance("ab", "ab") == 0
    assert edit_distance([1, 2, 3], [1, 3]) == 1
    assert cer(["the cat", "dog"], ["the hat", "dogs"]) == pytest.approx(2 / 11)
    with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
        cer(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="no characters"):
        cer([""], [""])


def test_speech_model_config_errors_name_the_value():
    with pytest.raises(ConfigError, match="'rnn'"):
        SpeechModelConfig(kind="rnn")
    with pytest.raises(ValueError, match="n_mels = 64"):
        SpeechModelConfig(n_mels=64)
    with pytest.raises(ValueError, match="num_heads = 5"):
        SpeechModelConfig(num_heads=5)


def test_joint_ctc_attention_reuses_the_encoder_output():
    torch.manual_seed(0)
    model = build_speech_model(SpeechModelConfig(kind="attention", ctc_weight=0.3, **TINY), VOCAB).train()
    batch = collate_speech(_pairs(3))
    model(batch.src, batch.tgt_in, batch.src_mask)  # a strategy's forward: the encoder output is kept
    reused = model.ctc_loss(batch)
    fresh = model.ctc_loss(batch)  # nothing kept any more: encodes again (dropout is 0 here)
    assert torch.allclose(reused, fresh) and reused.requires_grad
    history = train_speech(model, _pairs(4), TrainConfig(steps=4, batch_size=2, warmup_steps=0, log_every=2),
                           torch.device("cpu"), progress=False)
    assert {"ce_loss", "ctc_loss"} <= set(history.columns)
    with pytest.raises(ConfigError, match="ctc_weight = 0.3 is not allowed for kind 'ctc'"):
        SpeechModelConfig(kind="ctc", ctc_weight=0.3)
