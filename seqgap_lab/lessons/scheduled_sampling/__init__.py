"""Notebook 03 (scheduled sampling): study, summary, figures and the live explorer."""
