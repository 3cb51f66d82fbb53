"""Notebook 05: distill_study's headline and takeaway read their numbers from the tables (hand-made here)."""
from __future__ import annotations

import pandas as pd
import pytest

from seqgap_lab.lessons.common import EXAMPLES
from seqgap_lab.lessons.distillation import study as distill_study
from seqgap_lab.lessons.distillation import summary as distillation_summary
from seqgap_lab.zoo import distillation


def _distill_tables() -> distill_study.DistillTables:
    rows = []
    # TF: greedy 0.5, beam 0.7; seq-KD: greedy 0.68, beam 0.70 (the gap narrows); 200 examples per decoding
    for label, greedy, beam in ((distillation.TF, 0.5, 0.7), ("seq-KD (beam 5)", 0.68, 0.70)):
        for dec, em in (("greedy", greedy), ("beam", beam)):
            for group in EXAMPLES:
                rows.append({"size": "small", "label": label, "decoding": dec, "src_length": 4, "examples": group,
                             "exact_match": em, "greedy_equals_beam": 0.8, "count": 100, "params": 1000})
    # Per example (greedy): TF right on examples 0-99 of 200, seq-KD on 0-99 and 100-135 (36 gained, none lost).
    per_example = pd.DataFrame([{"size": "small", "label": label, "decoding": "greedy", "example": i,
                                 "examples": EXAMPLES[i % 2], "correct": i < right}
                                for label, right in ((distillation.TF, 100), ("seq-KD (beam 5)", 136))
                                for i in range(200)])
    return distill_study.DistillTables(pd.DataFrame(rows), pd.DataFrame(), pd.DataFrame(), 5, per_example=per_example)


def test_distill_headline_and_takeaway_read_the_tables():
    head = distillation_summary.headline(_distill_tables())
    c = head["small"]["seq-KD (beam 5)"]
    assert c["greedy_exact_match"] == pytest.approx(0.68) and c["beam_minus_greedy"] == pytest.approx(0.02)
    assert head["small"][distillation.TF]["beam_minus_greedy"] == pytest.approx(0.2)
    text = distillation_summary.takeaway(head, [0])
    assert "a smaller student" in text and "1000 parameters" in text
    assert "greedy helps (+0.180 [+0.127, +0.233], McNemar p = 2.91e-11, n = 200) (0.680)" in text
    assert "beam - greedy +0.020 vs +0.200" in text
    # beyond the training lengths: the 100 odd examples (18 gained), just enough for a verdict
    assert c["greedy_vs_tf"]["beyond"]["n"] == 100 and c["greedy_vs_tf"]["beyond"]["verdict"] == "helps"
