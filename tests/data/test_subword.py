"""Subword tokenizer: config validation, reserved ids, round trip, cache reuse, determinism, size errors."""
from __future__ import annotations

import random

import pytest

from seqgap_lab.core import paths
from seqgap_lab.core.cache import CacheError
from seqgap_lab.core.config import ConfigError, SubwordConfig
from seqgap_lab.data.text import subword
from seqgap_lab.data.text.subword import load_subword, train_subword
from seqgap_lab.data.vocab import BOS, EOS, PAD

# Genesis 1:1-10 in the Reina-Valera 1909 and the World English Bible (both public domain).
SPANISH = """\
En el principio crió Dios los cielos y la tierra.
Y la tierra estaba desordenada y vacía, y las tinieblas estaban sobre la haz del abismo, y el Espíritu de Dios se movía sobre la haz de las aguas.
Y dijo Dios: Sea la luz: y fué la luz.
Y vió Dios que la luz era buena: y apartó Dios la luz de las tinieblas.
Y llamó Dios á la luz Día, y á las tinieblas llamó Noche: y fué la tarde y la mañana un día.
Y dijo Dios: Haya expansión en medio de las aguas, y separe las aguas de las aguas.
E hizo Dios la expansión, y apartó las aguas que estaban debajo de la expansión, de las aguas que estaban sobre la expansión: y fué así.
Y llamó Dios á la expansión Cielos: y fué la tarde y la mañana el día segundo.
Y dijo Dios: Júntense las aguas que están debajo de los cielos en un lugar, y descúbrase la seca: y fué así.
Y llamó Dios á la seca Tierra, y á la reunión de las aguas llamó Mares: y vió Dios que era bueno."""
ENGLISH = """\
In the beginning, God created the heavens and the earth.
The earth was formless and empty. Darkness was on the surface of the deep and God's Spirit was hovering over the surface of the waters.
God said, "Let there be light," and there was light.
God saw the light, and saw that it was good. God divided the light from the darkness.
God called the light "day", and the darkness he called "night". There was evening and there was morning, the first day.
God said, "Let there be an expanse in the middle of the waters, and let it divide the waters from the waters."
God made the expanse, and divided the waters which were under the expanse from the waters which were above the expanse; and it was so.
God called the expanse "sky". There was evening and there was morning, a second day.
God said, "Let the waters under the sky be gathered together to one place, and let the dry land appear"; and it was so.
God called the dry land "earth", and the gathering together of the waters he called "seas". God saw that it was good."""

SMALL = SubwordConfig(vocab_size=150)


def make_corpus(num: int = 300, seed: int = 0) -> list[str]:
    """Real verses plus sentences recombined from their clauses: both languages, accents, quotes, punctuation."""
    rng = random.Random(seed)
    verses = SPANISH.splitlines() + ENGLISH.splitlines()
    clauses = [c.strip() for v in verses for c in v.replace(";", ",").replace(":", ",").split(",") if c.strip()]
    made = [", ".join(rng.sample(clauses, rng.randint(1, 4))) + "." for _ in range(num - len(verses))]
    return verses + made


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return make_corpus()


@pytest.mark.parametrize("kwargs, field, allowed", [
    ({"model_type": "wordpiece"}, "model_type", "one of bpe | unigram"),
    ({"vocab_size": 99}, "vocab_size", ">= 100 and <= 64000"),
    ({"vocab_size": 64001}, "vocab_size", ">= 100 and <= 64000"),
    ({"vocab_size": 8000.0}, "vocab_size", "an integer"),
    ({"character_coverage": 0.9}, "character_coverage", "(0.9, 1.0]"),
    ({"character_coverage": 1.01}, "character_coverage", "(0.9, 1.0]"),
    ({"max_sentences": -1}, "max_sentences", ">= 0"),
    ({"seed": -1}, "seed", ">= 0"),
])
def test_config_errors_name_field_and_range(kwargs, field, allowed):
    with pytest.raises(ConfigError) as err:
        SubwordConfig(**kwargs)
    message = str(err.value)
    assert f"SubwordConfig.{field} = {next(iter(kwargs.values()))!r}" in message and allowed in message


def test_config_from_dict_rejects_unknown_keys():
    with pytest.raises(ConfigError, match="unknown key"):
        SubwordConfig.from_dict({"vocab": 100})
    assert SubwordConfig.from_dict({"model_type": "unigram"}).model_type == "unigram"


@pytest.mark.parametrize("model_type", ["bpe", "unigram"])
def test_reserved_ids_and_round_trip(corpus, model_type):
    vocab = train_subword(corpus, SMALL.replace(model_type=model_type), progress=False)
    assert len(vocab) == 150
    assert [vocab.id_to_piece(i) for i in range(4)] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    tricky = ["<pad> <bos> <eos> <s> </s> <unk>", "Día ½ ﬁ Æ", ""]
    for text in corpus + tricky:
        ids = vocab.encode(text)
        assert not {PAD, BOS, EOS} & set(ids), text
    for text in corpus:  # normalised text over seen characters round-trips exactly
        assert vocab.decode(vocab.encode(text)) == text
    assert vocab.encode_batch(corpus[:5]) == [vocab.encode(t) for t in corpus[:5]]


def test_round_trip_up_to_normalisation(corpus):
    vocab = train_subword(corpus, SMALL, progress=False)
    messy = "  Y dijo\tDios:\n  Sea   la luz.  "
    assert vocab.normalize(messy) == "Y dijo Dios: Sea la luz."
    assert vocab.decode(vocab.encode(messy)) == vocab.normalize(messy)
    assert vocab.decode(vocab.encode("ﬁ")) == "fi"  # NFKC
    assert 3 in vocab.encode("ø"), "a character never seen in training is <unk>"


def test_decode_strips_specials_like_vocab(corpus):
    vocab = train_subword(corpus, SMALL, progress=False)
    ids = vocab.encode("la luz")
    assert vocab.decode([BOS, *ids, EOS, *vocab.encode("aguas"), PAD]) == "la luz"
    assert vocab.decode([BOS, *ids, PAD, PAD]) == "la luz"
    with pytest.raises(ValueError, match="id 5000 is out of range"):
        vocab.decode([5000])
    assert vocab.pieces("la luz")[0].startswith("\u2581")


def test_cache_reuse_and_keying(corpus, monkeypatch):
    first = train_subword(corpus, SMALL, progress=False)
    assert first.path.parent == paths.data_dir() / "tokenizers" and first.path.suffix == ".model"
    assert first.config == SMALL
    mtime = first.path.stat().st_mtime_ns

    def no_training(*args, **kwargs):
        raise AssertionError("retrained although a cached model exists")

    monkeypatch.setattr(subword, "_train_model_bytes", no_training)
    again = train_subword(list(corpus), SMALL, progress=False)
    assert again.path == first.path and first.path.stat().st_mtime_ns == mtime
    assert again.encode(corpus[0]) == first.encode(corpus[0])
    monkeypatch.undo()
    others = {train_subword(corpus, SMALL.replace(vocab_size=120), progress=False).path,
              train_subword(corpus, SMALL.replace(model_type="unigram"), progress=False).path,
              train_subword(corpus[:-1], SMALL, progress=False).path}
    assert first.path not in others and len(others) == 3
    assert load_subword(first.path).config == SMALL  # the config comes back from the sidecar


def test_training_is_deterministic(corpus, tmp_path, monkeypatch):
    for model_type in ("bpe", "unigram"):
        config = SMALL.replace(model_type=model_type)
        a = subword._train_model_bytes(list(corpus), config, progress=False)
        b = subword._train_model_bytes(list(corpus), config, progress=False)
        assert a == b, model_type
    # The cached file equals a fresh training in another data directory.
    first = train_subword(corpus, SMALL, progress=False).path.read_bytes()
    monkeypatch.setenv("SEQGAP_DATA_DIR", str(tmp_path / "elsewhere"))
    assert train_subword(corpus, SMALL, progress=False).path.read_bytes() == first


def test_max_sentences_subsample_is_seeded(corpus):
    config = SMALL.replace(max_sentences=150)
    picked = subword._subsample(corpus, config)
    assert len(picked) == 150 and picked == subword._subsample(corpus, config)
    assert picked != subword._subsample(corpus, config.replace(seed=1))
    assert subword._subsample(corpus, SMALL) == corpus
    assert train_subword(corpus, config, progress=False).path != train_subword(corpus, SMALL, progress=False).path


def test_vocab_too_large_or_too_small_is_a_config_error(corpus):
    with pytest.raises(ConfigError, match=r"SubwordConfig\.vocab_size = 64000 .*<= \d+"):
        train_subword(corpus, SubwordConfig(vocab_size=64000), progress=False)
    many_chars = ["".join(chr(0x4E00 + (7 * i + j) % 300) for j in range(20)) for i in range(300)]
    with pytest.raises(ConfigError, match=r"SubwordConfig\.vocab_size = 100 .*>= \d+"):
        train_subword(many_chars, SubwordConfig(vocab_size=100), progress=False)
    with pytest.raises(ValueError, match="no non-empty sentence"):
        train_subword(["", ""], SMALL, progress=False)
    with pytest.raises(TypeError, match=r"texts\[1\] is a int"):
        train_subword(["a", 3], SMALL, progress=False)


def test_corrupt_cache_is_retrained_and_explicit_load_raises(corpus):
    path = train_subword(corpus, SMALL, progress=False).path
    good = path.read_bytes()
    for broken in (b"", b"not a model", good[: len(good) // 2]):
        path.write_bytes(broken)
        with pytest.raises(CacheError, match=str(path.name)):
            load_subword(path)
        with pytest.warns(UserWarning, match="retraining"):
            vocab = train_subword(corpus, SMALL, progress=False)
        assert path.read_bytes() == good and vocab.decode(vocab.encode(corpus[0])) == corpus[0]
    with pytest.raises(CacheError, match="another config"):
        load_subword(path, SMALL.replace(vocab_size=120))
