"""Training strategies, constructed by name."""
from seqgap_lab.strategies import distill, mrt, scheduled_sampling, teacher_forcing  # noqa: F401  (register themselves)
from seqgap_lab.strategies.base import Strategy, accepts, available, get_strategy, register

__all__ = ["Strategy", "accepts", "available", "get_strategy", "register"]
