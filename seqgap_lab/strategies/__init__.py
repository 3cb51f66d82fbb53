"""Training strategies, constructed by name."""
from seqgap_lab.strategies import scheduled_sampling, teacher_forcing  # noqa: F401  (register themselves)
from seqgap_lab.strategies.base import Strategy, available, get_strategy, register

__all__ = ["Strategy", "available", "get_strategy", "register"]
