"""The synthesized speech corpus: transcripts, synthesis, noise, features, manifest and cache."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from seqgap_lab.core.cache import CacheError
from seqgap_lab.core.config import ConfigError
from seqgap_lab.data.speech import corpus as speech, synth as speech_synth
from seqgap_lab.data.speech.config import SpeechConfig
from seqgap_lab.data.speech.features import FeatureConfig, log_mel, mel_filterbank
from seqgap_lab.data.speech.text import (BUCKETS, bucket_of, char_vocab, check_transcript, digits_to_words, normalize_text, number_to_words)

needs_espeak = pytest.mark.skipif(not speech_synth.espeak_available(),
                                  reason="espeak-ng is not installed (apt-get install espeak-ng, or make system-deps)")
PROSE = {"train": ["In the beginning, God created the heavens and the earth. The earth was formless and empty. "
                   "Darkness was on the surface of the deep and God's Spirit was hovering over the waters. "
                   "There were 12 tribes and 70 elders who went up to the mountain with them."] * 3,
         "test": ["Jesus wept. The Jews therefore said, See how much affection he had for him! Some of them "
                  "said, Couldn't this man, who opened the eyes of him who was blind, have also kept this man "
                  "from dying? Jesus therefore, again groaning in himself, came to the tomb."] * 3}


def test_text_normalisation_spells_numbers_and_keeps_inner_apostrophes():
    assert normalize_text("God\u2019s 12 tribes, 'ten' -- 2024!") == "god's twelve tribes ten two thousand twenty four"
    assert number_to_words(0) == "zero" and number_to_words(105) == "one hundred five"
    assert number_to_words(1_000_017) == "one million seventeen"
    assert digits_to_words("4071") == "four zero seven one"
    assert char_vocab().encode("a b'") == [3, 29, 4, 30]


def test_text_errors_name_the_value():
    with pytest.raises(ValueError, match="-1"):
        number_to_words(-1)
    with pytest.raises(ValueError, match="'12a'"):
        digits_to_words("12a")
    with pytest.raises(ValueError, match="non-empty"):
        check_transcript("  ")
    with pytest.raises(ValueError, match="normalize_text"):
        check_transcript("Hello, World")
    assert [bucket_of("x" * n) for n in (8, 30, 31, 60, 61, 100)] == ["short"] * 2 + ["medium"] * 2 + ["long"] * 2


def test_mel_filterbank_and_feature_shape():
    fb = mel_filterbank(80, 400, 16000)
    # n_fft 400 as in Whisper: the lowest bands are narrower than a 40 Hz bin, yet none is empty; triangles
    # sharing their edges sum to 1 at every bin between the first and last centre
    assert fb.shape == (201, 80) and (fb.sum(0) > 0).all() and 0 <= fb.min() and fb.max() <= 1.0
    assert torch.allclose(fb[2:190].sum(1), torch.ones(188), atol=1e-5)
    cfg = FeatureConfig()
    for n in (1234, 16000, 16001):
        feats = log_mel(np.random.default_rng(0).standard_normal(n).astype(np.float32), cfg)
        assert feats.shape == (1 + n // cfg.hop_length, 80) == (cfg.num_frames(n), 80)
    assert log_mel(np.ones(800, np.float32) * 0.1, FeatureConfig(n_mels=40)).shape == (6, 40)
    with pytest.raises(ValueError, match="n_mels = 64"):
        FeatureConfig(n_mels=64)


def test_resample_keeps_a_tone_frequency():
    t = np.arange(22050) / 22050
    out = speech_synth.resample(np.sin(2 * np.pi * 440 * t).astype(np.float32), 22050, 16000)
    assert len(out) == 16000
    assert abs(np.argmax(np.abs(np.fft.rfft(out))) - 440) <= 1  # 1 s at 16 kHz: bin k is k Hz


def test_noise_hits_the_stated_snr_and_is_seeded():
    signal = np.sin(np.linspace(0, 400, 32000)).astype(np.float32)
    for kind in ("white", "pink"):
        noisy = speech_synth.add_noise(signal, 20.0, kind, np.random.default_rng(3))
        snr = 10 * np.log10(np.mean(signal.astype(np.float64) ** 2) / np.mean((noisy - signal).astype(np.float64) ** 2))
        assert snr == pytest.approx(20.0, abs=0.05)
        again = speech_synth.add_noise(signal, 20.0, kind, np.random.default_rng(3))
        assert np.array_equal(noisy, again)
    pink = np.abs(np.fft.rfft(speech_synth.noise(2 ** 16, "pink", np.random.default_rng(0)))) ** 2
    assert pink[100:200].mean() > 5 * pink[10000:20000].mean()  # power falls with frequency
    with pytest.raises(ValueError, match=r"snr_db = 75.*\[-10.0, 60.0\]"):
        speech_synth.add_noise(signal, 75, "white", np.random.default_rng(0))
    with pytest.raises(ValueError, match="'brown'"):
        speech_synth.noise(10, "brown", np.random.default_rng(0))


def test_bad_voice_speed_and_text_are_rejected_before_synthesis():
    with pytest.raises(ValueError, match="voice = 'klingon'.*en-us"):
        speech_synth.synthesize("hello", voice="klingon")
    with pytest.raises(ValueError, match=r"speed = 10 .*\[80, 450\]"):
        speech_synth.synthesize("hello", speed=10)
    with pytest.raises(ValueError, match="text = ''"):
        speech_synth.synthesize("")


@needs_espeak
def test_synthesis_rate_and_duration_follow_the_text():
    texts = ["one", "one two three", "one two three four five six seven eight nine"]
    durations = []
    for text in texts:
        samples, rate = speech_synth.synthesize(text, "en-us", 175, 50)
        assert rate == speech_synth.ESPEAK_RATE == 22050 and samples.dtype == np.float32
        assert np.abs(samples).max() <= 1.0
        durations.append(len(samples) / rate)
    assert durations == sorted(durations) and 0.2 < durations[0] < 1.5 and durations[-1] < 6.0
    fast, _ = speech_synth.synthesize(texts[-1], "en-us", 300, 50)
    assert len(fast) < durations[-1] * 22050  # a faster speed gives shorter audio


def test_missing_espeak_is_a_clear_corpus_unavailable(monkeypatch):
    monkeypatch.setattr(speech_synth.shutil, "which", lambda name: None)
    with pytest.raises(speech_synth.SpeechUnavailable, match="apt-get install -y espeak-ng"):
        speech_synth.synthesize("hello")


def test_speech_config_errors_name_value_and_range():
    with pytest.raises(ConfigError, match="'tiny'"):
        SpeechConfig(profile="tiny")
    with pytest.raises(ConfigError, match="snr_db = 99"):
        SpeechConfig(snr_db=99)
    with pytest.raises(ConfigError, match="'klingon'"):
        SpeechConfig(voices=("en-us", "klingon"))
    with pytest.raises(ConfigError, match=r"speed_range = \(300, 200\)"):
        SpeechConfig(speed_range=(300, 200))
    assert SpeechConfig(profile="smoke").num_utterances == 40
    assert sum(SpeechConfig(profile="default").split_counts().values()) == SpeechConfig().num_utterances


@pytest.fixture
def smoke_corpus(tmp_path, monkeypatch):
    if not speech_synth.espeak_available():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng, or make system-deps)")
    monkeypatch.setenv("SEQGAP_DATA_DIR", str(tmp_path))
    config = SpeechConfig(profile="smoke", num_utterances=24)
    return speech.ensure(config, progress=False, workers=2, prose=PROSE.__getitem__)


def test_smoke_corpus_manifest_round_trip_and_length_splits(smoke_corpus):
    corpus, folder = smoke_corpus, smoke_corpus.folder
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["counts"] == corpus.config.split_counts() and len(manifest["utterances"]) == 24
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]  # atomic writes left no temp files
    for row, feats in zip(corpus.rows, corpus.features):
        assert set(speech.MANIFEST_FIELDS) <= set(row) and row["snr_db"] == 20.0
        assert feats.shape == (FeatureConfig().num_frames(row["n_samples"]), 80) == (row["n_frames"], 80)
        assert bucket_of(row["text"]) == row["bucket"] and check_transcript(row["text"])
        lo, hi = BUCKETS[row["bucket"]]
        assert lo <= len(row["text"]) <= hi
        assert (row["bucket"] == "long") == (row["split"] == "test_long")
    reloaded = speech.load(corpus.config)
    assert all(torch.equal(a, b) for a, b in zip(reloaded.features, corpus.features))
    feats, ids = reloaded.split("test_long")[0]
    assert "".join(reloaded.vocab.decode(ids)) == reloaded.split_rows("test_long")[0]["text"]
    # the same seed plans the same utterances; another seed another corpus folder
    assert speech.plan(corpus.config, PROSE.__getitem__)[0]["text"] == corpus.rows[0]["text"]
    assert speech.corpus_dir(SpeechConfig(profile="smoke", num_utterances=24, seed=1)) != folder


def test_corrupt_or_foreign_cache_is_refused(smoke_corpus):
    folder = smoke_corpus.folder
    (folder / "features.pt").write_bytes(b"garbage")
    with pytest.raises(CacheError, match="corrupt"):
        speech.load(smoke_corpus.config)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["config"]["seed"] = 5
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CacheError, match="another config"):
        speech.load(smoke_corpus.config)
    with pytest.raises(ValueError, match="'valid'"):
        smoke_corpus.split("valid")


def test_cli_prepares_the_smoke_speech_corpus(tmp_path, monkeypatch, capsys):
    from seqgap_lab.app import cli

    if not speech_synth.espeak_available():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng, or make system-deps)")
    monkeypatch.setenv("SEQGAP_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(speech, "_prose_passages", PROSE.__getitem__)
    assert cli.main(["data", "prepare", "speech", "--profile", "smoke"]) == 0
    assert "speech (smoke): train 32 | dev 2 | test 3 | test_long 3 utterances" in capsys.readouterr().out
    assert cli.main(["data", "prepare", "speech", "--profile", "smoke", "--if-missing"]) == 0
    assert cli.main(["data", "prepare", "speech", "--profile", "huge"]) == 2
    assert "profile = 'huge'" in capsys.readouterr().err


def test_cli_without_espeak_skips_speech_only_with_if_missing(tmp_path, monkeypatch, capsys):
    from seqgap_lab.app import cli

    monkeypatch.setenv("SEQGAP_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(speech_synth.shutil, "which", lambda name: None)
    assert cli.main(["data", "prepare", "speech", "--profile", "smoke", "--if-missing"]) == 0
    assert "skipping speech" in capsys.readouterr().err
    assert cli.main(["data", "prepare", "speech", "--profile", "smoke"]) == 2
    assert "espeak-ng" in capsys.readouterr().err
