"""config.py: defaults, strict from_dict, range/type validation with one-line messages, round trips."""
from __future__ import annotations

import dataclasses

import pytest

from seqgap_lab.core.config import ConfigError, DecodeConfig, ModelConfig, TaskConfig, TrainConfig, check_profile

ALL_CONFIGS = (TaskConfig, ModelConfig, TrainConfig, DecodeConfig)


def _assert_names(exc: pytest.ExceptionInfo, *fragments: str) -> str:
    msg = str(exc.value)
    assert "\n" not in msg, f"message is not one line: {msg!r}"
    for fragment in fragments:
        assert fragment in msg, f"{fragment!r} missing from {msg!r}"
    return msg


@pytest.mark.parametrize("cls", ALL_CONFIGS)
def test_defaults_construct_and_are_frozen(cls):
    cfg = cls()
    assert isinstance(cfg, cls)
    first = dataclasses.fields(cls)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(cfg, first, getattr(cfg, first))


def test_default_values_are_sane():
    t = TaskConfig()
    assert t.min_len <= t.train_max_len <= t.test_max_len
    m = ModelConfig()
    assert m.d_model % m.num_heads == 0
    assert DecodeConfig().method == "greedy"
    assert TrainConfig().strategy == "teacher_forcing"


@pytest.mark.parametrize("cls", ALL_CONFIGS)
def test_from_dict_rejects_unknown_key(cls):
    with pytest.raises(ConfigError) as exc:
        cls.from_dict({"bogus_key": 1})
    _assert_names(exc, "bogus_key", cls.__name__)


def test_from_dict_rejects_non_mapping():
    with pytest.raises(ConfigError) as exc:
        TaskConfig.from_dict([("name", "copy")])
    _assert_names(exc, "TaskConfig", "list")


def test_from_dict_validates_values_too():
    with pytest.raises(ConfigError) as exc:
        ModelConfig.from_dict({"dropout": 1.0})
    _assert_names(exc, "dropout", "1.0")


@pytest.mark.parametrize("cls, kwargs, field, bad", [
    (TaskConfig, {"min_len": -1}, "min_len", -1),
    (TaskConfig, {"min_len": 0}, "min_len", 0),
    (TaskConfig, {"min_len": 5, "train_max_len": 4}, "train_max_len", 4),
    (TaskConfig, {"train_max_len": 12, "test_max_len": 11}, "test_max_len", 11),
    (TaskConfig, {"num_train": True}, "num_train", True),
    (TaskConfig, {"min_len": "3"}, "min_len", "3"),
    (TaskConfig, {"num_dev": 2.0}, "num_dev", 2.0),
    (TaskConfig, {"name": "translate"}, "name", "translate"),
    (TaskConfig, {"name": "copy", "num_symbols": 27}, "num_symbols", 27),
    (TaskConfig, {"name": "addition", "num_symbols": 8}, "num_symbols", 8),
    (TaskConfig, {"seed": -1}, "seed", -1),
    (ModelConfig, {"dropout": 1.0}, "dropout", 1.0),
    (ModelConfig, {"dropout": -0.1}, "dropout", -0.1),
    (ModelConfig, {"dropout": float("nan")}, "dropout", float("nan")),
    (ModelConfig, {"d_model": 30, "num_heads": 4}, "num_heads", 4),
    (ModelConfig, {"kind": "lstm"}, "kind", "lstm"),
    (ModelConfig, {"num_layers": False}, "num_layers", False),
    (ModelConfig, {"d_model": "128"}, "d_model", "128"),
    (ModelConfig, {"max_positions": 8}, "max_positions", 8),
    (ModelConfig, {"attention_dropout": 1.0}, "attention_dropout", 1.0),
    (ModelConfig, {"activation_dropout": -0.5}, "activation_dropout", -0.5),
    (ModelConfig, {"activation_dropout": "0"}, "activation_dropout", "0"),
    (ModelConfig, {"kind": "gru", "attention_dropout": 0.0}, "attention_dropout", 0.0),
    (TrainConfig, {"lr": 0}, "lr", 0),
    (TrainConfig, {"lr": 0.0}, "lr", 0.0),
    (TrainConfig, {"lr": "1e-3"}, "lr", "1e-3"),
    (TrainConfig, {"steps": True}, "steps", True),
    (TrainConfig, {"batch_size": "32"}, "batch_size", "32"),
    (TrainConfig, {"label_smoothing": 1.0}, "label_smoothing", 1.0),
    (TrainConfig, {"strategy": ""}, "strategy", ""),
    (TrainConfig, {"log_every": 0}, "log_every", 0),
    (DecodeConfig, {"method": "viterbi"}, "method", "viterbi"),
    (DecodeConfig, {"max_len": 0}, "max_len", 0),
    (DecodeConfig, {"batch_size": 1.5}, "batch_size", 1.5),
])
def test_bad_values_raise_config_error_naming_field_and_value(cls, kwargs, field, bad):
    with pytest.raises(ConfigError) as exc:
        cls(**kwargs)
    _assert_names(exc, f"{cls.__name__}.{field}", repr(bad))


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


def test_replace_revalidates():
    cfg = TrainConfig()
    assert cfg.replace(lr=0.5).lr == 0.5
    with pytest.raises(ConfigError) as exc:
        cfg.replace(lr=-1.0)
    _assert_names(exc, "lr", "-1.0")


@pytest.mark.parametrize("name", ["smoke", "default", "full"])
def test_check_profile_accepts_known(name):
    assert check_profile(name) == name


def test_check_profile_rejects_unknown():
    with pytest.raises(ConfigError) as exc:
        check_profile("fast")
    _assert_names(exc, "'fast'", "smoke")


@pytest.mark.parametrize("cfg", [
    TaskConfig(), ModelConfig(), TrainConfig(), DecodeConfig(),
    TaskConfig(name="addition", min_len=1, train_max_len=3, test_max_len=5, num_symbols=10, seed=7),
    TaskConfig(name="running_sum", label_noise=0.2),
    ModelConfig(kind="gru", d_model=48, num_heads=3, num_layers=1, dropout=0.0),
    ModelConfig(positions="rotary"),
    ModelConfig(attention_dropout=0.0, activation_dropout=0.05),
    TrainConfig(steps=5, lr=0.5, label_smoothing=0.1, warmup_steps=0),
    DecodeConfig(max_len=7, batch_size=3),
])
def test_round_trip(cfg):
    d = cfg.to_dict()
    fields = {f.name for f in dataclasses.fields(cfg)}
    # a field added after the caches is left out at its old value (NEW_DEFAULTS), so cache keys stay as they were
    assert isinstance(d, dict) and set(d) == fields - {k for k, v in cfg.NEW_DEFAULTS.items() if getattr(cfg, k) == v}
    again = type(cfg).from_dict(d)
    assert again == cfg
    assert again.to_dict() == d


def test_warmup_longer_than_training_is_rejected():
    with pytest.raises(ConfigError, match=r"TrainConfig\.warmup_steps = 300"):
        TrainConfig(steps=100, warmup_steps=300)


def test_gru_needs_even_d_model():
    with pytest.raises(ConfigError, match=r"ModelConfig\.d_model = 9"):
        ModelConfig(kind="gru", d_model=9, num_heads=1)


def test_attention_and_activation_rates_follow_dropout_unless_set():
    old = ModelConfig(dropout=0.3)
    assert (old.attention_rate, old.activation_rate) == (0.3, 0.3)
    # the first recipe's cache key is unchanged: None is left out of to_dict
    assert "attention_dropout" not in old.to_dict() and "activation_dropout" not in old.to_dict()
    new = ModelConfig(dropout=0.3, attention_dropout=0.0, activation_dropout=0.1)
    assert (new.attention_rate, new.activation_rate) == (0.0, 0.1)
    assert new.to_dict()["attention_dropout"] == 0.0 and new.to_dict() != old.to_dict()
