"""The decision guide's verdicts are computed from the measurements: changing the sweep table (or notebook 06 /
07's headline) changes the verdict; nothing is marked without a measurement."""
from __future__ import annotations

import numpy as np
import pandas as pd

from helpers import lengths_synthetic_table, lengths_translation_table

from seqgap_lab.core.stats import Comparison
from seqgap_lab.lessons import generation
from seqgap_lab.lessons.decision_guide import study as dg
from seqgap_lab.lessons.lengths import summary as lengths_summary


def _lengths(ss_beyond: float = 0.40, ss_bleu: float = 12.0) -> dict:
    return {"synthetic": lengths_summary.synthetic_headline(lengths_synthetic_table(ss_beyond=ss_beyond)),
            "translation": lengths_summary.translation_headline(lengths_translation_table(ss_bleu=(ss_bleu,)))}


def _beam(p_beam: float = 0.001, cover_bleu: float = 9.0) -> dict:
    d = cover_bleu - 12.0  # notebook 06's paired bootstrap of the coverage weight, hand-made: +-0.5 BLEU interval
    verdict = "helps" if d > 0.5 else "hurts" if d < -0.5 else "makes no clear difference"
    test = Comparison(d, d - 0.5, d + 0.5, 0.001 if abs(d) > 0.5 else 0.5, 500, 0.7, 1.0, "paired bootstrap", verdict)
    return {"largest_beam": 5, "greedy": {"bleu": 10.0}, "no_penalty": {"5": {"bleu": 11.0}},
            "gnmt": {"best_alpha": 1.0, "bleu": 12.0}, "p_value_beam_vs_greedy": p_beam,
            "p_value_best_gnmt_vs_no_penalty": 0.01,
            "coverage": {"alpha=0 beta=0": {"bleu": 11.0}, "alpha=1 beta=0": {"bleu": 12.0},
                         "alpha=1 beta=0.2": {"bleu": cover_bleu}},
            "tests": {"coverage alpha=1 beta=0.2 vs beta=0": test.as_dict()}}


def _rep4(diff: float, sd: float = 0.2, n: int = 100) -> dict:
    """A paired rep-4 comparison over n prompts (generation.paired_comparison) with this mean difference."""
    rng = np.random.default_rng(0)
    per_prompt = rng.normal(0, sd, n)
    return generation.paired_comparison(per_prompt - per_prompt.mean() + diff, better="lower")


def _contrastive(diff: float = -0.5) -> dict:
    return {"prose": {"longest": 96, "contrastive_vs_greedy_rep_4": _rep4(diff)}}


def _verdicts(**kw) -> dict:
    frame = dg.guide(kw.get("lengths"), kw.get("beam"), kw.get("contrastive"))
    assert list(frame["situation"]) == [s for s, _ in dg.ROWS]
    return dict(zip(frame["situation"], frame["verdict"]))


def test_judge_rules():
    assert dg.judge([("a", "helps"), ("b", "helps")]) == dg.SUPPORTED
    assert dg.judge([("a", "helps"), ("b", None)]) == dg.PARTLY  # an unmeasured part caps the row
    assert dg.judge([("a", "helps"), ("b", "hurts")]) == dg.PARTLY
    assert dg.judge([("a", "none"), ("b", "hurts")]) == dg.NOT_SUPPORTED
    assert dg.judge([("a", None)]) == dg.UNMEASURED


def test_nothing_is_marked_without_a_measurement():
    assert set(_verdicts().values()) == {dg.UNMEASURED}
    frame = dg.guide(None, None, None)
    assert frame["evidence"].str.contains("not measured").all()


def test_long_sequence_row_follows_the_sweep_table():
    # ss helps beyond the training lengths (+0.30) and in the longest translation bucket (+2 BLEU).
    assert _verdicts(lengths=_lengths())["long sequences"] == dg.SUPPORTED
    # The same table with the gain beyond the training lengths gone: only translation backs the claim.
    assert _verdicts(lengths=_lengths(ss_beyond=0.10))["long sequences"] == dg.PARTLY
    assert _verdicts(lengths=_lengths(ss_beyond=0.10, ss_bleu=10.2))["long sequences"] == dg.NOT_SUPPORTED


def test_short_sequence_row_is_not_supported_when_a_remedy_wins_within_range():
    row = "short sequences (< 32 tokens)"
    assert _verdicts(lengths={"synthetic": lengths_summary.synthetic_headline(lengths_synthetic_table())})[row] \
        == dg.SUPPORTED
    within_win = lengths_synthetic_table(beam_within=1.0)  # beam now beats TF greedy within range (0.90)
    assert _verdicts(lengths={"synthetic": lengths_summary.synthetic_headline(within_win)})[row] == dg.NOT_SUPPORTED


def test_nmt_and_longform_rows_follow_notebooks_06_and_07():
    assert _verdicts(beam=_beam())["production NMT"] == dg.PARTLY  # coverage 9.0 vs 12.0 BLEU hurts
    assert _verdicts(beam=_beam(cover_bleu=13.5))["production NMT"] == dg.SUPPORTED
    assert _verdicts(beam=_beam(p_beam=0.4, cover_bleu=11.8))["production NMT"] == dg.PARTLY
    # Contrastive cuts repetition, but self-distillation for LM generation has no measurement: partly at best.
    assert _verdicts(contrastive=_contrastive())["long-form LM generation"] == dg.PARTLY
    assert _verdicts(contrastive=_contrastive(diff=0.3))["long-form LM generation"] == dg.NOT_SUPPORTED
    longform = {"longest": 96, "distill_effect": {"greedy": {"rep_4": {"comparison": _rep4(-0.05, sd=0.1)}}}}
    frame = dg.guide(None, None, _contrastive(), longform)
    assert frame.iloc[3]["verdict"] == dg.SUPPORTED and "self-distilled minus TF rep-4" in frame.iloc[3]["evidence"]
    assert "helps (-0.050 [" in frame.iloc[3]["evidence"]
    longform["distill_effect"]["greedy"]["rep_4"]["comparison"] = _rep4(-0.01, sd=0.1)  # inside the interval
    frame = dg.guide(None, None, _contrastive(), longform)
    assert frame.iloc[3]["verdict"] == dg.PARTLY and "is underpowered" in frame.iloc[3]["evidence"]


def test_default_row_reads_the_overall_verdict_of_scheduled_sampling():
    verdicts = _verdicts(lengths=_lengths())
    # ss: overall exact match (0.60 + 0.40) / 2 = 0.50 vs TF 0.50, 30 examples gained and 30 lost of 200 -> the
    # interval (±0.076) is too wide to call it no difference: underpowered; BLEU (fewer wrong words) -> helps.
    assert verdicts["default"] == dg.PARTLY
    frame = dg.guide(_lengths(), None, None)
    assert "reverse/gru overall exact match: ss/greedy is underpowered" in frame.iloc[4]["evidence"]
    assert isinstance(frame, pd.DataFrame) and frame.iloc[4]["verdict"] == dg.PARTLY
