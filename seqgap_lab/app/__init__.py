"""The application layer: the `seqgap-lab` command line, the papermill report and the explorer app.

Nothing imports it but `python -m seqgap_lab` (seqgap_lab/__main__.py).
"""
