"""Notebook 11 (speech: CTC vs transducer vs attention): study, summary, figures and listening examples."""
