"""The training-strategy interface and its registry: strategies are small named pieces."""
from __future__ import annotations

import inspect
from typing import Callable, Protocol

import torch

from seqgap_lab.core.config import ConfigError
from seqgap_lab.data.batching import Batch
from seqgap_lab.models.base import Seq2SeqModel


class Strategy(Protocol):
    """A training strategy: loss(model, batch, step) -> (scalar loss, logs of plain floats)."""

    name: str

    def loss(self, model: Seq2SeqModel, batch: Batch, step: int) -> tuple[torch.Tensor, dict]:
        """Loss for one batch at a given optimisation step."""
        ...


_REGISTRY: dict[str, Callable[..., Strategy]] = {}


def register(name: str):
    """Class decorator: make a strategy constructible by name."""
    def deco(cls):
        cls.name = name
        _REGISTRY[name] = cls
        return cls
    return deco


def available() -> list[str]:
    """Registered strategy names."""
    return sorted(_REGISTRY)


def get_strategy(name: str, **kwargs) -> Strategy:
    """Build a registered strategy; an unknown name raises ConfigError listing the known ones."""
    if name not in _REGISTRY:
        raise ConfigError(f"strategy = {name!r} is not allowed: expected one of {' | '.join(available())}")
    cls = _REGISTRY[name]
    try:  # check the arguments before calling, so a TypeError raised inside the constructor stays one
        inspect.signature(cls).bind(**kwargs)
    except TypeError as err:
        raise ConfigError(f"strategy {name!r}: arguments {sorted(kwargs)} are not allowed ({err}); "
                          f"allowed: {sorted(inspect.signature(cls).parameters)}") from None
    return cls(**kwargs)


def accepts(name: str, argument: str) -> bool:
    """Whether the registered strategy `name` takes a constructor argument (e.g. 'teacher', 'detokenize')."""
    if name not in _REGISTRY:
        raise ConfigError(f"strategy = {name!r} is not allowed: expected one of {' | '.join(available())}")
    return argument in inspect.signature(_REGISTRY[name]).parameters
