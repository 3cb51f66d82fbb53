"""lessons.applications: TODO docstring."""
