"""Notebook 10 (applications): code completion, long-form prose and hallucination under domain shift."""
