"""The synthesized speech corpus: plan utterances, synthesize them in parallel, cache features + manifest.

Layout: data/corpora/speech/<profile>-<hash>/ holds features.pt (all utterances' log-mel frames
concatenated, float16, with offsets; loaded with weights_only=True) and manifest.json (config, counts and
one row per utterance: id, text, kind, voice, speed, pitch, snr_db, noise, n_samples, n_frames, bucket,
split). The manifest is written last, atomically: a folder without it is incomplete and is rebuilt.
Splits are by transcript length: train/dev/test hold short and medium transcripts (BUCKETS), test_long
the long ones, past the training range.
"""
from __future__ import annotations

import datetime as dt
import io
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from seqgap_lab.core import paths
from seqgap_lab.core.cache import CacheError, atomic_write_bytes, atomic_write_json, config_hash, file_lock
from seqgap_lab.data.speech.config import SPEECH_SPLITS, SpeechConfig
from seqgap_lab.data.speech.features import FeatureConfig, log_mel
from seqgap_lab.data.speech.synth import SAMPLE_RATE, add_noise, check_espeak, resample, synthesize
from seqgap_lab.data.speech.text import BUCKETS, TRAIN_BUCKETS, char_vocab, digit_phrase, prose_phrase, text_words
from seqgap_lab.data.text import corpora
from seqgap_lab.data.vocab import Vocab

FORMAT = 1
MANIFEST_FIELDS = ("id", "text", "kind", "voice", "speed", "pitch", "snr_db", "noise", "n_samples", "n_frames",
                   "bucket", "split")
PhraseSource = Callable[[str], Sequence[str]]  # prose split name -> passages


def _prose_passages(split: str) -> list[str]:

    return corpora.load_prose(split)


def _split_buckets(split: str, rng: np.random.Generator, n: int) -> list[str]:
    """Buckets of a split's utterances: long only for test_long; else short and medium in equal shares."""
    if split == "test_long":
        return ["long"] * n
    return [TRAIN_BUCKETS[i] for i in rng.permutation(np.arange(n) % len(TRAIN_BUCKETS))]


def plan(config: SpeechConfig, prose: PhraseSource | None = None) -> list[dict]:
    """Every utterance's transcript and synthesis settings, repeatable from config.seed (no audio yet).

    prose(split) -> passages is where phrases are cut from (default: the prose corpus, prepared if missing).
    """
    prose = prose or _prose_passages
    rng = np.random.default_rng([config.seed, 7])
    pools = {"train": text_words(prose("train")), "test": text_words(prose("test"))}
    rows = []
    for split, count in config.split_counts().items():
        words = pools["train" if split in ("train", "dev") else "test"]
        for bucket in _split_buckets(split, rng, count):
            if rng.random() < config.digit_fraction:
                kind, text = "digits", digit_phrase(bucket, rng)[1]
            else:
                kind, text = "prose", prose_phrase(words, bucket, rng)
            rows.append({"id": f"{split}-{len(rows):06d}", "text": text, "kind": kind, "bucket": bucket,
                         "split": split, "voice": str(rng.choice(config.voices)),
                         "speed": int(rng.integers(config.speed_range[0], config.speed_range[1] + 1)),
                         "pitch": int(rng.integers(config.pitch_range[0], config.pitch_range[1] + 1)),
                         "snr_db": config.snr_db, "noise": str(rng.choice(config.noise_kinds))})
    return rows


def render(row: dict, index: int, config: SpeechConfig) -> tuple[torch.Tensor, int]:
    """One utterance: synthesize, resample to 16 kHz, add noise (seeded by corpus seed and index),
    log-mel -> (features (frames, n_mels) float16, number of samples)."""
    samples, rate = synthesize(row["text"], row["voice"], row["speed"], row["pitch"])
    samples = resample(samples, rate, SAMPLE_RATE)
    if row["snr_db"] is not None:
        samples = add_noise(samples, row["snr_db"], row["noise"], np.random.default_rng([config.seed, 11, index]))
    return log_mel(samples, FeatureConfig(n_mels=config.n_mels)).half(), len(samples)


def corpus_dir(config: SpeechConfig) -> Path:
    """data/corpora/speech/<profile>-<hash of the config, feature parameters and format>/."""
    key = {"format": FORMAT, "speech": config.to_dict(), "features": FeatureConfig(n_mels=config.n_mels).__dict__}
    return paths.data_dir() / "corpora" / "speech" / f"{config.profile}-{config_hash(key)}"


def available(config: SpeechConfig) -> bool:
    """True when this corpus is built and complete (its manifest exists)."""
    return (corpus_dir(config) / "manifest.json").is_file()


def _workers(workers: int | None) -> int:
    return workers or min(4, os.cpu_count() or 1)


def build(config: SpeechConfig, progress: bool = True, workers: int | None = None,
          prose: PhraseSource | None = None) -> Path:
    """Synthesize the corpus into its folder (threads: espeak-ng runs as a subprocess, torch releases the GIL)."""
    check_espeak()
    rows = plan(config, prose)
    with ThreadPoolExecutor(_workers(workers)) as pool:
        jobs = pool.map(lambda i: render(rows[i], i, config), range(len(rows)))
        results = list(tqdm(jobs, total=len(rows), desc="synthesize speech", disable=not progress, leave=False))
    for row, (feats, n_samples) in zip(rows, results):
        row.update(n_samples=n_samples, n_frames=int(feats.shape[0]))
    folder = corpus_dir(config)
    offsets = torch.tensor([0] + [f.shape[0] for f, _ in results]).cumsum(0)  # (N + 1,)
    buf = io.BytesIO()
    torch.save({"format": FORMAT, "features": torch.cat([f for f, _ in results]), "offsets": offsets}, buf)
    atomic_write_bytes(folder / "features.pt", buf.getvalue())
    counts = {s: sum(r["split"] == s for r in rows) for s in SPEECH_SPLITS}
    manifest = {"format": FORMAT, "config": config.to_dict(), "created": _now(), "counts": counts,
                "buckets": {k: list(v) for k, v in BUCKETS.items()}, "sample_rate": SAMPLE_RATE,
                "features": FeatureConfig(n_mels=config.n_mels).__dict__,
                "utterances": [{k: r[k] for k in MANIFEST_FIELDS} for r in rows]}
    atomic_write_json(folder / "manifest.json", manifest)  # last: marks the folder complete
    return folder


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class SpeechCorpus:
    """A loaded corpus: manifest rows, per-utterance features (frames, n_mels) float16, character vocab."""

    config: SpeechConfig
    rows: list[dict]
    features: list[torch.Tensor]
    vocab: Vocab
    folder: Path

    def split(self, name: str) -> list[tuple[torch.Tensor, list[int]]]:
        """(features (frames, n_mels), target char ids) of one split, in manifest order."""
        return [(self.features[i], self.vocab.encode(r["text"])) for i, r in enumerate(self.rows)
                if r["split"] == _check_split(name)]

    def split_rows(self, name: str) -> list[dict]:
        """Manifest rows of one split (text, bucket, voice, ...), aligned with split(name)."""
        return [r for r in self.rows if r["split"] == _check_split(name)]


def _check_split(name: str) -> str:
    if name not in SPEECH_SPLITS:
        raise ValueError(f"split = {name!r} is not allowed: expected one of {' | '.join(SPEECH_SPLITS)}")
    return name


def load(config: SpeechConfig) -> SpeechCorpus:
    """Load a built corpus; CacheError if its files are corrupt or disagree with the manifest."""
    folder = corpus_dir(config)
    manifest = json.loads((folder / "manifest.json").read_text())
    if manifest.get("format") != FORMAT or manifest.get("config") != config.to_dict():
        raise CacheError(f"speech corpus {folder} was made for another config or format; delete it to rebuild")
    try:
        blob = torch.load(folder / "features.pt", map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated or garbled file
        raise CacheError(f"corrupt speech features {folder / 'features.pt'}: {type(exc).__name__}; "
                         "delete the folder to rebuild") from None
    rows, offsets = manifest["utterances"], blob["offsets"].tolist()
    if len(offsets) != len(rows) + 1 or any(b - a != r["n_frames"] for a, b, r in zip(offsets, offsets[1:], rows)):
        raise CacheError(f"speech corpus {folder}: features.pt does not match manifest.json; delete it to rebuild")
    feats = [blob["features"][a:b] for a, b in zip(offsets, offsets[1:])]
    return SpeechCorpus(config, rows, feats, char_vocab(), folder)


def ensure(config: SpeechConfig | None = None, progress: bool = True, force: bool = False,
           workers: int | None = None, prose: PhraseSource | None = None) -> SpeechCorpus:
    """The corpus for config (default: the default profile), building it first when missing or force=True."""
    config = config or SpeechConfig()
    if force or not available(config):
        with file_lock(corpus_dir(config), f"synthesizing the {config.profile} speech corpus"):
            if force or not available(config):  # another process may have built it while this one waited
                build(config, progress, workers, prose)
    return load(config)
