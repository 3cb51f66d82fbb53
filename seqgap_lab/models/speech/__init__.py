"""models.speech: TODO docstring."""
