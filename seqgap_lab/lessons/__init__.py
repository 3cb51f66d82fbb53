"""lessons: TODO docstring."""
