"""lessons.beam: TODO docstring."""
