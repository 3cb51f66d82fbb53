"""Headline numbers and the generated takeaway of notebook 01, on hand-made tables."""
from __future__ import annotations

import pandas as pd
import pytest

from seqgap_lab.zoo.synthetic import PROFILE_SIZES, configs
from seqgap_lab.lessons.compounding.study import StudyResult
from seqgap_lab.lessons.compounding.summary import SLUGS, headline, takeaway
from seqgap_lab.core.config import ConfigError


def _result() -> StudyResult:
    rows = []
    for pos in (1, 2, 3, 4):
        group = "within training lengths" if pos <= 3 else "longer than training"
        tf, fr = 0.1, 0.1 + (0.2 if pos <= 3 else 0.6)
        rows += [(group, pos, "teacher-forced", tf, 50), (group, pos, "free-running", fr, 50),
                 (group, pos, "free-running, scored by position", fr + 0.3, 50)]
    pp = pd.DataFrame(rows, columns=["examples", "position", "mode", "error_rate", "count"])
    pp = pp.assign(task="reverse", model="gru", seed=0)
    exa = pd.DataFrame({"length": [1, 2, 3], "regret": [1, 3, 7], "oracle_sum": [1, 2, 3],
                        "exaccerr_pct": [0.0, 50.0, 133.3], "count": [50, 50, 10]})
    exa = exa.assign(task="reverse", model="gru", seed=0)
    inj = pd.DataFrame({"offset": [1, 1, 2, 2, 6, 6], "condition": ["clean", "injected"] * 3,
                        "error_rate": [0.0, 0.8, 0.2, 0.4, 0.0, 1.0], "count": [20] * 6})
    inj = inj.assign(task="reverse", model="gru", seed=0)
    evidence = pd.DataFrame([(measure, 0.01 * i, 0.01 * i - 0.005, 0.01 * i + 0.005, f"verdict {i}")
                             for i, measure in enumerate(SLUGS)],
                            columns=["measure", "estimate", "ci_low", "ci_high", "verdict"])
    evidence = evidence.assign(task="reverse", model="gru")
    return StudyResult(pp, pd.DataFrame(), inj, exa, pd.DataFrame(), evidence=evidence,
                       train_positions={"reverse": 4})


def test_headline_numbers():
    h = headline(_result(), min_count=20)["reverse/gru"]
    # the last target position of in-range examples is 3 (position 4 would be the <eos> of the longest)
    assert h["last_in_range_position"] == 3
    assert h["tf_error_last_in_range"] == pytest.approx(0.1)
    assert h["fr_error_last_in_range"] == pytest.approx(0.3)
    assert h["fr_error_positional_last_in_range"] == pytest.approx(0.6)
    # length 3 has only 10 examples, under min_count: the longest reported length is 2
    assert h["injected_error_next5"] == pytest.approx(0.6)  # offsets 1-5 only: offset 6 is left out
    assert h["clean_error_next5"] == pytest.approx(0.1)
    assert h["exaccerr_longest_length"] == 2 and h["exaccerr_pct_longest"] == pytest.approx(50.0)
    for i, slug in enumerate(SLUGS.values()):  # every verdict row, with its interval
        assert h[slug] == pytest.approx(0.01 * i) and h[f"{slug}_verdict"] == f"verdict {i}"
        assert h[f"{slug}_ci"] == pytest.approx([0.01 * i - 0.005, 0.01 * i + 0.005])


def test_takeaway_reads_the_numbers():
    text = takeaway(headline(_result(), min_count=20), seeds=[0])
    assert "**reverse/gru**" in text and "0.300 vs 0.100" in text and "would read 0.600" in text
    assert "0.010 [0.005, 0.015]: *verdict 1*" in text and "*verdict 4*" in text


def test_profiles_build_valid_configs():
    for profile in PROFILE_SIZES:
        for task in ("reverse", "addition", "copy", "sort"):
            for kind in ("gru", "transformer"):
                t, m, tr = configs(profile, task, kind, seed=1)
                assert t.train_max_len < t.test_max_len and tr.seed == 1 and m.kind == kind
    with pytest.raises(ConfigError, match="'fast'"):
        configs("fast", "reverse", "gru", 0)
