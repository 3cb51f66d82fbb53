"""Notebook 06 (beam search and the length penalty): study, summary, figures and the live explorer."""
