"""Joint subword vocabulary (sentencepiece BPE or unigram) with the package's special ids, cached by config and text.

Ids 0-3 are <pad>, <bos>, <eos>, <unk>, so PAD/BOS/EOS line up with `data.vocab` and the models.

Round trip: sentencepiece normalises text with its `nmt_nfkc` rule (Unicode NFKC, tabs and newlines
to spaces, runs of spaces collapsed, leading and trailing whitespace removed). So
`decode(encode(s)) == normalize(s)` for any `s` whose characters all occur in the training text, and
`decode(encode(s)) == s` exactly when `s` is already normalised (every cleaned corpus line is).
A character never seen in training becomes <unk> (id 3) and decodes as " ⁇ ".
With `SubwordConfig.normalization="identity"` (code) nothing is normalised: no NFKC, whitespace kept as
is (indentation, newlines), no dummy space in front; then decode(encode(s)) == s for any s whose
characters occur in training, and decoding is compositional: decode(a + b) == decode(a) + decode(b).

Cache: `data_dir()/tokenizers/<hash>.model` (+ `<hash>.json` holding the config and text digest), the
hash covering the config, the sha256 of the texts, the fixed trainer settings and the sentencepiece
version. A corrupt or mismatched cache entry is retrained and overwritten with a warning (the entry
is fully determined by its inputs and takes seconds to rebuild); `load_subword` on an explicit path
raises CacheError naming the file instead.
"""
from __future__ import annotations

import hashlib
import io
import json
import random
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import sentencepiece as spm
from tqdm.auto import tqdm

from seqgap_lab.core import paths
from seqgap_lab.core.cache import CacheError, atomic_write_bytes, atomic_write_json, config_hash, file_lock
from seqgap_lab.core.config import ConfigError, SubwordConfig
from seqgap_lab.data.vocab import BOS, EOS, PAD, SPECIALS

UNK = 3
UNK_PIECE = "<unk>"

# Fixed for every model and part of the cache key, so changing one retrains rather than reuses.
_TRAINER_SETTINGS: dict[str, Any] = {
    "pad_id": PAD, "bos_id": BOS, "eos_id": EOS, "unk_id": UNK,
    # Same spellings as data.vocab.SPECIALS, so both vocabularies print specials alike.
    "pad_piece": SPECIALS[PAD], "bos_piece": SPECIALS[BOS], "eos_piece": SPECIALS[EOS], "unk_piece": UNK_PIECE,
    # Unigram EM splits its sums across threads: 1 and 2 threads give different (each reproducible)
    # models, so the count is a constant, never the machine's core count. BPE does not depend on it.
    "num_threads": 2,
    "normalization_rule_name": "nmt_nfkc",
    # sentencepiece silently skips longer sentences (default 4192 bytes); long examples must count.
    "max_sentence_length": 1 << 15,
    "minloglevel": 2,
}
# What "identity" changes: text byte for byte (indentation runs become pieces of their own).
_IDENTITY_SETTINGS: dict[str, Any] = {"normalization_rule_name": "identity", "remove_extra_whitespaces": False,
                                      "add_dummy_prefix": False, "allow_whitespace_only_pieces": True}
_TOO_HIGH = re.compile(r"Vocabulary size too high \((\d+)\)\. Please set it to a value <= (\d+)")
_TOO_LOW = re.compile(r"Vocabulary size is smaller than required_chars\. (\d+) vs (\d+)")


@dataclass(frozen=True)
class SubwordVocab:
    """A loaded sentencepiece model: text <-> ids with <pad>=0, <bos>=1, <eos>=2, <unk>=3."""

    path: Path
    config: SubwordConfig | None  # None only for a bare .model file without its .json sidecar
    _sp: spm.SentencePieceProcessor = field(repr=False, compare=False)

    def __len__(self) -> int:
        return self._sp.get_piece_size()

    def encode(self, text: str) -> list[int]:
        """Text to ids, without BOS/EOS (batching adds them); never emits PAD, BOS or EOS."""
        return self._sp.encode(_check_text(text), out_type=int)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """Many texts to ids in one sentencepiece call (faster than a loop over encode)."""
        return self._sp.encode([_check_text(t) for t in texts], out_type=int)

    def decode(self, ids: Sequence[int]) -> str:
        """Ids to text: stop at EOS, drop PAD and BOS (as Vocab.decode with strip)."""
        kept = []
        for i in ids:
            i = int(i)
            if i == EOS:
                break
            if i in (PAD, BOS):
                continue
            if not 0 <= i < len(self):
                raise ValueError(f"id {i} is out of range for a subword vocabulary of {len(self)} pieces")
            kept.append(i)
        return self._sp.decode(kept)

    def pieces(self, text: str) -> list[str]:
        """Text to subword pieces ("▁" marks a preceding space)."""
        return self._sp.encode(_check_text(text), out_type=str)

    def normalize(self, text: str) -> str:
        """The text as sentencepiece sees it: what decode(encode(text)) returns when no character is unknown."""
        out = self._sp.normalize(_check_text(text)).replace("\u2581", " ")
        return out if self.config is not None and self.config.normalization == "identity" else out.strip(" ")

    def id_to_piece(self, i: int) -> str:
        """The piece spelled by one id."""
        return self._sp.id_to_piece(int(i))


def train_subword(texts: Sequence[str], config: SubwordConfig, progress: bool = True) -> SubwordVocab:
    """One joint sentencepiece model over texts (train split, both languages), or the cached one."""
    if not isinstance(config, SubwordConfig):
        raise TypeError(f"config must be a SubwordConfig, got {type(config).__name__}")
    digest = texts_sha256(texts)
    path = paths.data_dir() / "tokenizers" / f"{subword_key(config, digest)}.model"
    cached = _cached(path, config, warn=False)
    if cached is not None:
        return cached
    with file_lock(path, "training the subword tokenizer"):  # a second process waits, then loads
        cached = _cached(path, config, warn=True)
        if cached is not None:
            return cached
        sentences = _subsample(texts, config)
        model = _train_model_bytes(sentences, config, progress)
        meta = {"config": config.to_dict(), "texts_sha256": digest, "num_texts": len(texts),
                "num_sentences_trained": len(sentences), "sentencepiece": spm.__version__,
                "trainer": trainer_settings(config)}
        # Sidecar first: a model file on disk then always has its metadata beside it.
        atomic_write_json(path.with_suffix(".json"), meta)
        atomic_write_bytes(path, model)
    return load_subword(path, config)


def _cached(path: Path, config: SubwordConfig, warn: bool) -> SubwordVocab | None:
    """The tokenizer cached at path, or None when absent or unusable (then retrained, with a warning)."""
    if not path.is_file():
        return None
    try:
        return load_subword(path, config)
    except CacheError as exc:
        if warn:
            warnings.warn(f"{exc}; retraining it", stacklevel=3)
        return None


def load_subword(path: str | Path, config: SubwordConfig | None = None) -> SubwordVocab:
    """Load a .model file; raise CacheError naming it if corrupt, not laid out with our ids, or made for another config."""
    path = Path(path)
    data = path.read_bytes()
    sp = spm.SentencePieceProcessor()
    try:
        if not data:  # sentencepiece "loads" empty bytes as an uninitialised model that logs errors
            raise RuntimeError("empty file")
        sp.load_from_serialized_proto(data)
    except RuntimeError:
        raise CacheError(f"corrupt subword model {path}: sentencepiece cannot parse it; delete it to retrain") from None
    expected = (SPECIALS[PAD], SPECIALS[BOS], SPECIALS[EOS], UNK_PIECE)
    # An empty or truncated file can parse as a valid, smaller model: check the layout, not only parsing.
    if sp.get_piece_size() <= UNK or tuple(sp.id_to_piece(i) for i in range(4)) != expected:
        raise CacheError(f"subword model {path} does not have ids 0-3 = {expected}; delete it to retrain")
    stored = _read_sidecar(path)
    if config is not None and (sp.get_piece_size() != config.vocab_size
                               or (stored is not None and stored != config)):
        raise CacheError(f"subword model {path} was made for another config "
                         f"({sp.get_piece_size()} pieces, {stored}); delete it to retrain")
    return SubwordVocab(path=path, config=config or stored, _sp=sp)


def texts_sha256(texts: Sequence[str]) -> str:
    """sha256 over the texts, each length-prefixed so that ["ab", "c"] and ["a", "bc"] differ."""
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, got one str")
    h = hashlib.sha256()
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] is a {type(text).__name__}, expected str")
        try:
            blob = text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"texts[{i}] is not valid Unicode (lone surrogate): {text[:40]!r}") from None
        h.update(len(blob).to_bytes(8, "little"))
        h.update(blob)
    return h.hexdigest()


def subword_key(config: SubwordConfig, texts_digest: str) -> str:
    """Cache key of a model: config, text digest, fixed trainer settings and sentencepiece version."""
    return config_hash({"kind": "subword", "config": config.to_dict(), "texts_sha256": texts_digest,
                        "trainer": trainer_settings(config), "sentencepiece": spm.__version__})


def trainer_settings(config: SubwordConfig) -> dict[str, Any]:
    """The fixed sentencepiece settings, with the normalization overrides of config (identity: none)."""
    if config.normalization == "identity":
        return {**_TRAINER_SETTINGS, **_IDENTITY_SETTINGS}
    return _TRAINER_SETTINGS


def _subsample(texts: Sequence[str], config: SubwordConfig) -> list[str]:
    """All texts, or a seeded subsample of max_sentences of them in their original order."""
    if not any(texts):
        raise ValueError(f"texts holds no non-empty sentence ({len(texts)} given); cannot train a subword model")
    if not config.max_sentences or config.max_sentences >= len(texts):
        return list(texts)
    keep = sorted(random.Random(config.seed).sample(range(len(texts)), config.max_sentences))
    return [texts[i] for i in keep]


def _train_model_bytes(sentences: list[str], config: SubwordConfig, progress: bool) -> bytes:
    """Train in memory and return the serialised model; sentencepiece's errors become one clear line."""
    buf = io.BytesIO()
    # One step, not one per sentence: reading takes milliseconds and training is a single opaque C++ call.
    bar = tqdm(total=1, desc=f"subword {config.model_type} {config.vocab_size} on {len(sentences)} sentences",
               disable=not progress, leave=False)
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences), model_writer=buf, model_type=config.model_type,
            vocab_size=config.vocab_size, character_coverage=config.character_coverage, **trainer_settings(config))
    except RuntimeError as exc:
        raise _training_error(str(exc), config, len(sentences)) from None
    finally:
        bar.update(1)
        bar.close()
    return buf.getvalue()


def _training_error(message: str, config: SubwordConfig, num_sentences: int) -> Exception:
    """Map sentencepiece's vocabulary-size failures to ConfigError naming vocab_size and its bound."""
    v = config.vocab_size
    if m := _TOO_HIGH.search(message):
        return ConfigError(f"SubwordConfig.vocab_size = {v} is not allowed: expected an integer <= {m.group(2)}, "
                           f"the most sentencepiece ({config.model_type}) can build from these {num_sentences} sentences")
    if m := _TOO_LOW.search(message):
        return ConfigError(f"SubwordConfig.vocab_size = {v} is not allowed: expected an integer >= {m.group(2)}, "
                           f"the characters to cover plus specials (or lower character_coverage)")
    first = message.strip().splitlines()[0] if message.strip() else "no message"
    return RuntimeError(f"sentencepiece training failed on {num_sentences} sentences: {first}")


def _read_sidecar(path: Path) -> SubwordConfig | None:
    """The config stored beside a model by train_subword, or None when there is no readable sidecar."""
    try:
        meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        return SubwordConfig.from_dict(meta["config"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _check_text(text: Any) -> str:
    if not isinstance(text, str):
        raise TypeError(f"expected a str, got {type(text).__name__}")
    return text
