"""Notebook 05 (self-distillation): study and summary."""
