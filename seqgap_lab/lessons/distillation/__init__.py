"""lessons.distillation: TODO docstring."""
