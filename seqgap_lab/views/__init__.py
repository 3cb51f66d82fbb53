"""views: TODO docstring."""
