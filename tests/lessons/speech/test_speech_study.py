"""Notebook 11's study logic: per-position alignment errors by hand, teacher forcing on the model's own output
equals free running, budgets and schedules, and headline / verdicts / takeaway read from hand-made tables."""
from __future__ import annotations

import pandas as pd
import pytest
import torch

from seqgap_lab.probes import speech_exposure as exposure
from seqgap_lab.zoo import speech as runs
from seqgap_lab.core.config import ConfigError
from seqgap_lab.models.speech.encoder import SpeechModelConfig
from seqgap_lab.probes.speech_eval import transcribe
from seqgap_lab.training.speech import build_speech_model
from seqgap_lab.strategies.schedules import make_schedule
from seqgap_lab.lessons.speech import study
from seqgap_lab.lessons.speech import summary as speech_summary

VOCAB = 31
TINY = dict(n_mels=40, conv_channels=4, d_model=16, num_heads=2, encoder_layers=1, ffn_dim=32, dropout=0.0,
            pred_dim=8, joint_dim=8)


def test_aligned_errors_by_hand():
    assert exposure.aligned_errors("abcd", "abcd") == [False] * 4
    assert exposure.aligned_errors("abxd", "abcd") == [False, False, True, False]  # substitution
    assert exposure.aligned_errors("abd", "abcd") == [False, False, True, False]  # deletion: no shift
    assert exposure.aligned_errors("abxcd", "abcd") == [False, False, True, False]  # insertion before c
    assert exposure.aligned_errors("abcdxx", "abcd") == [False, False, False, True]  # insertions at the end
    assert exposure.aligned_errors("", "ab") == [True, True]


def _pairs(n: int = 4):
    gen = torch.Generator().manual_seed(0)
    return [(torch.randn(40 + 9 * i, 40, generator=gen), [3 + (i + j) % 26 for j in range(3 + i)]) for i in range(n)]


@pytest.mark.parametrize("kind", ["attention", "transducer"])
def test_teacher_forcing_on_the_models_own_output_is_free_running(kind):
    torch.manual_seed(1)
    model = build_speech_model(SpeechModelConfig(kind=kind, **TINY), VOCAB).eval()
    pairs = _pairs()
    own = [(f, h) for (f, _), h in zip(pairs, transcribe(model, pairs)) if h]
    assert own, "the tiny model emitted nothing to check"
    tf = exposure.attention_teacher_forced if kind == "attention" else exposure.transducer_teacher_forced
    errors = tf(model, own)
    assert [len(e) for e in errors] == [len(t) for _, t in own]
    assert not any(any(e) for e in errors)


def test_budget_and_schedule():
    b = runs.budget("default", seed=3, attention_steps=40)
    assert (b.ctc_steps, b.transducer_steps, b.attention_steps, b.seed) == (500, 600, 40, 3)
    assert b.transducer_beam_subset == runs.BEAM_SUBSET["default"]
    for bad in (dict(profile="fast"), dict(profile="smoke", ctc_steps=-1), dict(profile="smoke", seed=1.5)):
        with pytest.raises(ConfigError):
            runs.budget(**bad)
    with pytest.raises(ConfigError, match="'rnn'"):
        runs.configs("rnn", b)
    params = dict(runs.ss_schedule(1000))
    schedule = make_schedule(params.pop("name"), **params)
    assert schedule(0) == schedule(499) == 1.0 and schedule(999) == pytest.approx(runs.SS_FLOOR, abs=1e-3)
    model_cfg, train_cfg = runs.configs("attention_ss", b)
    assert model_cfg.ctc_weight == runs.configs("attention_tf", b)[0].ctc_weight == runs.CTC_WEIGHT
    assert train_cfg.strategy == "scheduled_sampling" and train_cfg.strategy_args["mode"] == "two_pass"


def _cer_table(ss_long: float = 0.9) -> pd.DataFrame:
    values = {"ctc": (0.2, 0.22, 0.25), "transducer": (0.25, 0.27, 0.3), "attention_tf": (0.3, 0.32, 0.95),
              "attention_ss": (0.3, 0.32, ss_long)}
    rows = []
    for model, cers in values.items():
        for decoding in ("greedy", "beam"):
            for bucket, c in zip(("short", "medium", "long"), cers):
                rows.append({"model": model, "decoding": decoding, "bucket": bucket, "utterances": 10,
                             "cer": c - 0.01 * (decoding == "beam"), "seconds": 1.0 if decoding == "greedy" else 3.0})
    return pd.DataFrame(rows)


def _errors(ctc_late: bool = False, attention_late_gap: bool = True) -> pd.DataFrame:
    """Hand-made per-position errors: 30 positions per utterance, error where the rule says."""
    rows = []
    for model in ("ctc", "attention_tf", "transducer"):
        modes = ("free-running",) if model == "ctc" else ("teacher-forced", "free-running")
        for mode in modes:
            for bucket in ("short", "long"):
                for pos in range(1, 31):
                    late = pos > 20
                    err = late and (ctc_late if model == "ctc" else
                                    mode == "free-running" and bucket == "long" and attention_late_gap)
                    rows.append({"model": model, "mode": mode, "bucket": bucket, "example": 0, "length": 30,
                                 "position": pos, "error": err})
    return pd.DataFrame(rows)


def _ss_tests(ss_long_errors: int = 8) -> dict:
    """study.ss_vs_tf_tests on made-up transcripts: 120 utterances of 10 characters per bucket; TF gets 3 wrong
    characters on short and 9 on long ones, SS 3 on short and `ss_long_errors` on long ones."""
    ref = list(range(3, 13))
    wrong = lambda k: [0] * k + ref[k:]  # noqa: E731
    sets = {b: {"pairs": [(None, ref)] * 120} for b in ("short", "long")}
    hyps = {("attention_tf", "greedy"): {"short": [wrong(3)] * 120, "long": [wrong(9)] * 120},
            ("attention_ss", "greedy"): {"short": [wrong(3)] * 120, "long": [wrong(ss_long_errors)] * 120}}
    return study.ss_vs_tf_tests(hyps, sets)


def test_headline_and_verdicts_read_the_tables():
    cer_head = speech_summary.cer_headline(_cer_table())
    assert cer_head["cer"]["attention_tf"]["greedy"]["long"] == 0.95
    assert cer_head["seconds_per_utterance"]["ctc"] == pytest.approx({"greedy": 0.1, "beam": 0.3})
    exp_head = speech_summary.exposure_headline(_errors())
    assert exp_head["attention_tf"]["long"]["gap"] == pytest.approx(10 / 30)
    assert "gap" not in exp_head["ctc"]["long"]
    v = speech_summary.verdicts(cer_head, exp_head, _ss_tests())
    assert v["attention_tf_gap_short_to_long"] == "grows" and v["ctc_error_along_long_utterances"] == "is flat"
    assert v["ss_vs_tf_long"].startswith("helps (+0.100 [+0.100, +0.100], paired bootstrap of CER")
    assert v["ss_vs_tf_short"].startswith("makes no clear difference (+0.000")
    # change the tables, the verdicts follow
    v2 = speech_summary.verdicts(speech_summary.cer_headline(_cer_table(ss_long=0.99)), speech_summary.exposure_headline(
        _errors(ctc_late=True, attention_late_gap=False)), _ss_tests(ss_long_errors=10))
    assert v2["attention_tf_gap_short_to_long"] == "stays flat" and v2["ctc_error_along_long_utterances"] == "grows"
    assert v2["ss_vs_tf_long"].startswith("hurts (-0.100")
    assert "ss_vs_tf_long" not in speech_summary.verdicts(cer_head, exp_head)  # no paired test, no verdict


def test_takeaway_states_the_numbers_and_seed():
    cer_head = speech_summary.cer_headline(_cer_table())
    exp_head = speech_summary.exposure_headline(_errors())
    text = speech_summary.takeaway(cer_head, exp_head, speech_summary.verdicts(cer_head, exp_head, _ss_tests()), [7],
                                   0.3, 20)
    assert "seed(s) [7]" in text and "0.950" in text and "first 20 utterances" in text
    assert "**grows**" in text and "short 0.300 -> 0.300: makes no clear difference" in text
    assert "long 0.950 -> 0.900: helps" in text
    assert "CTC weight 0.3" in text and "from 0.000 (first third of positions) to 0.000 (last third)" in text
    other = speech_summary.takeaway(speech_summary.cer_headline(_cer_table(0.99)), exp_head,
                           speech_summary.verdicts(speech_summary.cer_headline(_cer_table(0.99)), exp_head,
                                                   _ss_tests(ss_long_errors=10)), [7], 0.3, 20)
    assert "long 0.950 -> 0.990: hurts" in other and other != text
