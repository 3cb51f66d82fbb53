"""lessons.translation: TODO docstring."""
