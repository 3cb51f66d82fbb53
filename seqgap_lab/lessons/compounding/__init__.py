"""Notebook 01 (error compounding): study, summary and figures."""
