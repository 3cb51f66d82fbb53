"""Notebook 02 (NMT on long sentences): study, summary and figures."""
