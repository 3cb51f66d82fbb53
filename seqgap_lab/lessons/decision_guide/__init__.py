"""Notebook 09 (the decision guide of docs/scope.md, judged by the measurements): study and figures."""
