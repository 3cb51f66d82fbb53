"""Notebook 08 (every strategy across sequence lengths, from sweeps): study, summary and figures."""
