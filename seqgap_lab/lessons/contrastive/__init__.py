"""lessons.contrastive: TODO docstring."""
