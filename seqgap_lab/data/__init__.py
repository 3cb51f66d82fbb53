"""Data: synthetic tasks with oracles, vocabularies and length-bucketed batching."""
