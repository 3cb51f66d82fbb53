"""Declarative sweeps over task, model, training strategy, decoding and seed (notebooks 08 and 09)."""
