"""data.speech: TODO docstring."""
