"""Notebook 04 (minimum risk training): the synthetic study, the translation part, summary and figures."""
