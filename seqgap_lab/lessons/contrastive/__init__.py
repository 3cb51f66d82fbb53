"""Notebook 07 (contrastive decoding): study, summary, figures and the live explorer."""
