"""Frozen, validated configuration dataclasses: errors are raised where a value enters."""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

PROFILES = ("smoke", "default", "full")
PREFIX_TASKS = ("running_sum", "counter")  # each output follows from the previous output
TASKS = ("copy", "reverse", "sort", "addition", "running_sum", "counter", "dialects")
# Tasks whose test targets are the only right answers: the exact-match studies, sweeps and `train` score against
# one target; "dialects" has two valid targets per source and needs Task.is_valid.
ONE_TARGET_TASKS = tuple(t for t in TASKS if t != "dialects")
MODELS = ("gru", "transformer", "lm")
POSITIONS = ("sinusoidal", "rotary")  # how a Transformer encodes positions (models/transformer.py)  # lm: decoder-only, the source is its prompt (models/lm.py)
DECODE_METHODS = ("greedy", "sample", "beam", "contrastive")


class ConfigError(ValueError):
    """A configuration value is unknown, of the wrong type or out of range; the message names it."""


def _fail(owner: str, name: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"{owner}.{name} = {value!r} is not allowed: expected {allowed}")


def check_int(owner: str, name: str, value: Any, lo: int | None = None, hi: int | None = None) -> None:
    """Raise ConfigError unless value is an int in [lo, hi] (bools are rejected)."""
    allowed = f"an integer{'' if lo is None else f' >= {lo}'}{'' if hi is None else f' and <= {hi}'}"
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(owner, name, value, allowed)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        _fail(owner, name, value, allowed)


def check_float(owner: str, name: str, value: Any, lo: float, hi: float,
                lo_open: bool = False, hi_open: bool = False) -> None:
    """Raise ConfigError unless value is a finite number in the interval [lo, hi] (open ends optional)."""
    allowed = f"a number in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _fail(owner, name, value, allowed)
    if value < lo or value > hi or (lo_open and value == lo) or (hi_open and value == hi):
        _fail(owner, name, value, allowed)


def check_choice(owner: str, name: str, value: Any, choices: tuple[str, ...]) -> None:
    """Raise ConfigError unless value is one of choices."""
    if value not in choices:
        _fail(owner, name, value, "one of " + " | ".join(choices))


def check_bool(owner: str, name: str, value: Any) -> bool:
    """Return value if it is True or False, else raise ConfigError (1, 0 and "yes" are not booleans)."""
    if not isinstance(value, bool):
        _fail(owner, name, value, "True or False")
    return value


def check_names(owner: str, name: str, value: Any, choices: tuple[str, ...]) -> list[str]:
    """Parse a comma-separated subset of choices (a notebook parameter) into a list, else raise ConfigError."""
    allowed = f"a comma-separated, non-empty subset of {', '.join(choices)} (as one string)"
    names = [n.strip() for n in value.split(",") if n.strip()] if isinstance(value, str) else None
    if not names or any(n not in choices for n in names) or len(set(names)) != len(names):
        _fail(owner, name, value, allowed)
    return names


def check_profile(value: Any) -> str:
    """Validate a notebook/CLI profile name and return it."""
    if value not in PROFILES:
        raise ConfigError(f"profile = {value!r} is not allowed: expected one of {' | '.join(PROFILES)}")
    return value


class _Config:
    """Mixin: strict construction from dicts and a plain-dict view for hashing."""

    # Fields added after caches were keyed by these configs, with the value that means "as before": to_dict leaves
    # them out at that value, so every existing cache key (config_hash of to_dict) stays valid.
    NEW_DEFAULTS: ClassVar[dict[str, Any]] = {}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]):
        """Build from a mapping, rejecting keys that are not fields of this config."""
        if not isinstance(values, Mapping):
            raise ConfigError(f"{cls.__name__} expects a mapping, got {type(values).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigError(f"{cls.__name__}: unknown key(s) {unknown}; allowed keys: {sorted(names)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the fields (JSON-serialisable), those of NEW_DEFAULTS left out at their old value."""
        return {k: v for k, v in dataclasses.asdict(self).items()
                if not (k in self.NEW_DEFAULTS and v == self.NEW_DEFAULTS[k])}

    def replace(self, **changes):
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class TaskConfig(_Config):
    """A synthetic task with a known oracle: train on lengths [min_len, train_max_len], test up to test_max_len."""

    name: str = "reverse"
    min_len: int = 2
    train_max_len: int = 12
    test_max_len: int = 20
    num_symbols: int = 10
    num_train: int = 20000
    num_dev: int = 500
    num_test: int = 1000
    seed: int = 0
    label_noise: float = 0.0  # share of training targets with one token replaced (dev and test stay clean)

    NEW_DEFAULTS: ClassVar[dict[str, Any]] = {"label_noise": 0.0}

    def __post_init__(self) -> None:
        o = "TaskConfig"
        check_choice(o, "name", self.name, TASKS)
        check_int(o, "min_len", self.min_len, 1, 1000)
        check_int(o, "train_max_len", self.train_max_len, self.min_len, 1000)
        check_int(o, "test_max_len", self.test_max_len, self.train_max_len, 1000)
        # Addition needs the 10 digits; the running sum and the counter count modulo num_symbols digits; the
        # others use letters.
        check_int(o, "num_symbols", self.num_symbols, 2, 10 if self.name in ("addition", *PREFIX_TASKS) else 26)
        if self.name == "dialects" and self.num_symbols < 4:
            _fail(o, "num_symbols", self.num_symbols, ">= 4 for the dialects task (dialect B swaps at least one pair)")
        if self.name == "addition" and self.num_symbols != 10:
            _fail(o, "num_symbols", self.num_symbols, "10 for the addition task (decimal digits)")
        for field in ("num_train", "num_dev", "num_test"):
            check_int(o, field, getattr(self, field), 1, 10_000_000)
        check_int(o, "seed", self.seed, 0)
        check_float(o, "label_noise", self.label_noise, 0.0, 1.0, hi_open=True)


@dataclass(frozen=True)
class ModelConfig(_Config):
    """Architecture of a model: GRU with attention, pre-LN Transformer, or decoder-only Transformer LM ("lm")."""

    kind: str = "transformer"
    d_model: int = 128
    num_heads: int = 4
    num_layers: int = 2
    ffn_dim: int = 256
    dropout: float = 0.1
    max_positions: int = 1024
    positions: str = "sinusoidal"  # "rotary": relative positions in self-attention (Transformer only)
    # Transformer and LM only. `dropout` acts on the embeddings and on every sub-layer's output (the residual
    # branches); these two act on the attention probabilities and on the FFN's hidden activations. None: the same
    # rate as `dropout` (this suite's first recipe); fairseq's Transformer and HF Marian default both to 0.0.
    attention_dropout: float | None = None
    activation_dropout: float | None = None

    NEW_DEFAULTS: ClassVar[dict[str, Any]] = {"positions": "sinusoidal", "attention_dropout": None,
                                              "activation_dropout": None}

    def __post_init__(self) -> None:
        o = "ModelConfig"
        check_choice(o, "kind", self.kind, MODELS)
        check_int(o, "d_model", self.d_model, 8, 8192)
        if self.kind == "gru" and self.d_model % 2:
            _fail(o, "d_model", self.d_model, "an even number for the GRU (two encoder directions of d_model/2)")
        check_int(o, "num_heads", self.num_heads, 1, 128)
        if self.d_model % self.num_heads:
            _fail(o, "num_heads", self.num_heads, f"a divisor of d_model={self.d_model}")
        check_int(o, "num_layers", self.num_layers, 1, 48)
        check_int(o, "ffn_dim", self.ffn_dim, 8, 65536)
        check_float(o, "dropout", self.dropout, 0.0, 1.0, hi_open=True)
        for name in ("attention_dropout", "activation_dropout"):
            value = getattr(self, name)
            if value is not None:
                check_float(o, name, value, 0.0, 1.0, hi_open=True)
                if self.kind == "gru":
                    _fail(o, name, value, "None for kind 'gru' (the GRU has one dropout rate, `dropout`)")
        check_int(o, "max_positions", self.max_positions, 16, 100_000)
        check_choice(o, "positions", self.positions, POSITIONS)
        if self.positions != "sinusoidal" and self.kind != "transformer":
            _fail(o, "positions", self.positions, f"'sinusoidal' for kind {self.kind!r} (rotary is built for the "
                  "encoder-decoder Transformer)")
        if self.positions == "rotary" and (self.d_model // self.num_heads) % 2:
            _fail(o, "positions", self.positions, f"'sinusoidal' when the head size d_model/num_heads = "
                  f"{self.d_model // self.num_heads} is odd (rotary turns pairs of dimensions)")

    @property
    def attention_rate(self) -> float:
        """Dropout on attention probabilities: attention_dropout, or dropout where it is None."""
        return self.dropout if self.attention_dropout is None else self.attention_dropout

    @property
    def activation_rate(self) -> float:
        """Dropout on the FFN's hidden activations: activation_dropout, or dropout where it is None."""
        return self.dropout if self.activation_dropout is None else self.activation_dropout


@dataclass(frozen=True)
class TrainConfig(_Config):
    """Optimisation settings shared by every model and strategy."""

    strategy: str = "teacher_forcing"
    steps: int = 2000
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 200
    grad_clip: float = 1.0
    label_smoothing: float = 0.0
    seed: int = 0
    log_every: int = 50
    # Keyword arguments of the strategy's constructor, e.g. {"mode": "two_pass", "schedule": {"name":
    # "constant", "p": 0.75}}; plain JSON so the cache key can hash it. Unknown keys fail at train().
    strategy_args: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        o = "TrainConfig"
        if not isinstance(self.strategy, str) or not self.strategy:

            _fail(o, "strategy", self.strategy, "a non-empty strategy name such as 'teacher_forcing' (seqgap_lab.strategies.available() lists them)")
        # A private JSON copy: validates it, and the caller's dict can no longer change a frozen config.
        object.__setattr__(self, "strategy_args", _json_dict(o, "strategy_args", self.strategy_args))
        if "label_smoothing" in self.strategy_args:
            _fail(o, "strategy_args", self.strategy_args, "no 'label_smoothing' key (set TrainConfig.label_smoothing)")
        check_int(o, "steps", self.steps, 1, 10_000_000)
        check_int(o, "batch_size", self.batch_size, 1, 1_000_000)
        check_float(o, "lr", self.lr, 0.0, 10.0, lo_open=True)
        check_float(o, "weight_decay", self.weight_decay, 0.0, 10.0)
        check_int(o, "warmup_steps", self.warmup_steps, 0, self.steps)
        check_float(o, "grad_clip", self.grad_clip, 0.0, 1e6)
        check_float(o, "label_smoothing", self.label_smoothing, 0.0, 1.0, hi_open=True)
        check_int(o, "seed", self.seed, 0)
        check_int(o, "log_every", self.log_every, 1)

    def __hash__(self) -> int:
        # The generated hash would fail on the dict field; equal configs have equal JSON.
        return hash(json.dumps(self.to_dict(), sort_keys=True))


def _json_dict(owner: str, name: str, value: Any) -> dict:
    """A deep copy of a dict with string keys and JSON values (finite numbers), else ConfigError."""
    allowed = "a dict with string keys and JSON-serialisable values (str, finite number, bool, None, list, dict)"
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        _fail(owner, name, value, allowed)
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        _fail(owner, name, value, allowed)


@dataclass(frozen=True)
class DecodeConfig(_Config):
    """How to decode: the method by name (greedy | sample | beam | contrastive), its limits and its knobs.

    Lengths count the <eos>. Knobs of other methods are validated but ignored. alpha defaults to 0, so the
    length penalty is off and beam_size=1 is exactly greedy; GNMT uses alpha ~0.6-1.0 and beta ~0.2.
    contrastive needs an amateur model passed to decode(); its search uses beam_size and num_return.
    """

    method: str = "greedy"
    max_len: int = 100
    batch_size: int = 256
    min_len: int = 0  # every method: no <eos> before this length
    beam_size: int = 5  # beam
    alpha: float = 0.0  # beam: length-penalty exponent
    length_penalty: str = "gnmt"  # beam: gnmt ((5+|Y|)/6)**alpha | hf |Y|**alpha | none
    num_return: int = 1  # beam: hypotheses returned per source, best first
    num_samples: int = 1  # sample: sequences drawn per source
    temperature: float = 1.0  # sample
    top_k: int = 0  # sample: 0 = off
    top_p: float = 1.0  # sample: 1 = off
    repetition_penalty: float = 1.0  # sample and beam: CTRL penalty, 1 = off
    no_repeat_ngram: int = 0  # sample and beam: 0 = off
    seed: int = 0  # sample: seeds the torch.Generator of a decode call
    beta: float = 0.0  # beam: GNMT coverage-penalty weight, 0 = off
    contrastive_form: str = "li2022"  # contrastive: li2022 (plausibility mask, amateur temperature) | plain
    contrastive_weight: float = 1.0  # contrastive: w in log p_expert - w log p_amateur; 0 = expert alone
    plausibility: float = 0.1  # contrastive li2022: keep x with p_expert(x) >= a * max p_expert
    amateur_temperature: float = 1.0  # contrastive li2022: tau of the amateur's softmax
    contrastive_search: str = "greedy"  # contrastive: greedy | beam

    _LENGTH_PENALTIES = ("gnmt", "hf", "none")  # not a field (no annotation); mirrors decoding.penalties
    _CONTRASTIVE_FORMS = ("li2022", "plain")  # mirrors decoding.contrastive
    _CONTRASTIVE_SEARCHES = ("greedy", "beam")

    def __post_init__(self) -> None:
        o = "DecodeConfig"
        check_choice(o, "method", self.method, DECODE_METHODS)
        check_int(o, "max_len", self.max_len, 1, 100_000)
        check_int(o, "batch_size", self.batch_size, 1, 1_000_000)
        check_int(o, "min_len", self.min_len, 0, self.max_len)
        check_int(o, "beam_size", self.beam_size, 1, 1000)
        check_float(o, "alpha", self.alpha, 0.0, math.inf)
        check_choice(o, "length_penalty", self.length_penalty, self._LENGTH_PENALTIES)
        check_int(o, "num_return", self.num_return, 1, self.beam_size)
        check_int(o, "num_samples", self.num_samples, 1, 100_000)
        check_float(o, "temperature", self.temperature, 0.0, math.inf, lo_open=True)
        check_int(o, "top_k", self.top_k, 0)
        check_float(o, "top_p", self.top_p, 0.0, 1.0, lo_open=True)
        check_float(o, "repetition_penalty", self.repetition_penalty, 1.0, math.inf)
        check_int(o, "no_repeat_ngram", self.no_repeat_ngram, 0)
        check_int(o, "seed", self.seed, 0)
        check_float(o, "beta", self.beta, 0.0, math.inf)
        check_choice(o, "contrastive_form", self.contrastive_form, self._CONTRASTIVE_FORMS)
        check_float(o, "contrastive_weight", self.contrastive_weight, 0.0, math.inf)
        check_float(o, "plausibility", self.plausibility, 0.0, 1.0)
        check_float(o, "amateur_temperature", self.amateur_temperature, 0.0, math.inf, lo_open=True)
        check_choice(o, "contrastive_search", self.contrastive_search, self._CONTRASTIVE_SEARCHES)


SUBWORD_MODEL_TYPES = ("bpe", "unigram")
# nmt_nfkc: NFKC, whitespace runs collapsed (prose); identity: text kept byte for byte, e.g. code indentation.
SUBWORD_NORMALIZATIONS = ("nmt_nfkc", "identity")


@dataclass(frozen=True)
class SubwordConfig(_Config):
    """A joint sentencepiece model: type, vocabulary size, character coverage and training subsample."""

    model_type: str = "bpe"
    vocab_size: int = 8000
    character_coverage: float = 1.0
    max_sentences: int = 0  # 0 trains on every sentence; otherwise a seeded subsample of this many
    seed: int = 0
    normalization: str = "nmt_nfkc"  # one of SUBWORD_NORMALIZATIONS

    def __post_init__(self) -> None:
        o = "SubwordConfig"
        check_choice(o, "model_type", self.model_type, SUBWORD_MODEL_TYPES)
        check_int(o, "vocab_size", self.vocab_size, 100, 64000)
        # sentencepiece suggests 0.9995 (large alphabets) to 1.0 (small); far lower turns real words into <unk>.
        check_float(o, "character_coverage", self.character_coverage, 0.9, 1.0, lo_open=True)
        check_int(o, "max_sentences", self.max_sentences, 0)
        check_int(o, "seed", self.seed, 0)
        check_choice(o, "normalization", self.normalization, SUBWORD_NORMALIZATIONS)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the fields; `normalization` only when not the default, so older cache keys stay valid."""
        out = super().to_dict()
        if out["normalization"] == "nmt_nfkc":
            del out["normalization"]
        return out


DECODE_BATCH = 64  # sources per decode call (x beam rows)


@dataclass(frozen=True)
class DecodeSetting:
    """One decoding cell: greedy, or beam of a size with a length penalty (none | gnmt | hf), alpha and beta."""

    beam_size: int = 1
    penalty: str = "greedy"
    alpha: float = 0.0
    beta: float = 0.0

    @property
    def label(self) -> str:
        """A readable, unique name of the cell."""
        if self.penalty == "greedy":
            return "greedy"
        lp = "no penalty" if self.penalty == "none" else f"{self.penalty} alpha={self.alpha:g}"
        return f"beam {self.beam_size}, {lp}" + (f", beta={self.beta:g}" if self.beta else "")

    def config(self, max_len: int) -> DecodeConfig:
        """The DecodeConfig of this cell for one batch."""
        if self.penalty == "greedy":
            return DecodeConfig(max_len=max_len, batch_size=DECODE_BATCH)
        return DecodeConfig(method="beam", max_len=max_len, batch_size=DECODE_BATCH, beam_size=self.beam_size,
                            length_penalty=self.penalty, alpha=self.alpha, beta=self.beta)


def beam_setting(beam_size: int, penalty: str, alpha: float, beta: float = 0.0) -> DecodeSetting:
    """A beam cell with alpha 0 written as 'no penalty' (the same search for either kind)."""
    return DecodeSetting(int(beam_size), "none" if alpha == 0 else penalty, float(alpha), float(beta))
