"""lessons.speech: TODO docstring."""
