"""data.synthetic: TODO docstring."""
