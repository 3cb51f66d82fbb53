"""Shared helpers of the test suite, one module: `from helpers import ...` (tests/ is on sys.path because
tests/conftest.py lives there; fixtures that must be fixtures live in tests/conftest.py). Sections:

  paths        the tests folder, the repository root, tests/fixtures and the checkout's data folder
  decoding     small random seq2seq models and padded sources shared by the tests under decoding/
  study tables hand-made tables of notebooks 03 (scheduled sampling), 04 (MRT) and 08 (lengths), shared by
               the lesson tests and core/test_seeds.py / lessons/decision_guide/test_decision_guide.py
  bad input    the tables of the bad-input matrix (hardening/test_bad_input.py): every public config field,
               every papermill parameter and every CLI option, with the bad values each is tried with and what
               its error must say
"""
from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from seqgap_lab.metrics.text import sentence_stats
import torch

from seqgap_lab.core.config import (DECODE_METHODS, MODELS, POSITIONS, PROFILES, SUBWORD_MODEL_TYPES, SUBWORD_NORMALIZATIONS, TASKS, ONE_TARGET_TASKS, DecodeConfig, ModelConfig, SubwordConfig, TaskConfig, TrainConfig)
from seqgap_lab.data.speech.config import SpeechConfig
from seqgap_lab.data.speech.synth import NOISE_KINDS, VOICES
from seqgap_lab.data.vocab import BOS, EOS, PAD
from seqgap_lab.decoding import decode
from seqgap_lab.lessons import common
from seqgap_lab.lessons.mrt import study as mrt_study
from seqgap_lab.models import Seq2SeqModel, build_model
from seqgap_lab.models.speech.encoder import SPEECH_MODELS, SpeechModelConfig
from seqgap_lab.strategies.mrt import RISKS
from seqgap_lab.strategies.scheduled_sampling import MAX_PASSES, MODES
from seqgap_lab.sweeps.cells import DECODINGS, STRATEGIES
from seqgap_lab.sweeps.runner import SweepSpec
from seqgap_lab.zoo import mrt
from seqgap_lab.zoo.distillation import SIZES

# ---- paths ---------------------------------------------------------------------------------------------------

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
FIXTURES = TESTS_DIR / "fixtures"
CHECKOUT_DATA = REPO_ROOT / "data"  # the checkout's data folder (conftest points SEQGAP_DATA_DIR elsewhere)


# ---- decoding: small random seq2seq models (decoding/) ---------------------------------------------------

V = 11  # vocabulary of lively_model and random_sources
KINDS = ["gru", "transformer"]
MAX_LEN = 8


def shift_output_logits(model: Seq2SeqModel, bias: torch.Tensor) -> None:
    """Add `bias` (V,) to every output logit of a model, exactly, by editing its final layer."""
    with torch.no_grad():
        if model.kind == "gru":
            model.out.bias += bias
        else:  # logits = dec_ln(x) @ E^T: shift dec_ln.bias by u with E u = bias
            u = torch.linalg.lstsq(model.embed.weight, bias[:, None]).solution[:, 0]
            model.dec_ln.bias += u


def random_sources(n=16, seed=2) -> torch.Tensor:
    """n padded random sources of lengths 1..6 (the first one 6 long) over symbols 3..V-1."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(3, V, (n, 6), generator=g)
    lengths = torch.randint(1, 7, (n,), generator=g)
    lengths[0] = 6
    for i, length in enumerate(lengths):
        src[i, length:] = PAD
    return src


def lively_model(kind: str) -> Seq2SeqModel:
    """A random model made 'lively' (larger weights) whose EOS wins at some steps of some rows only."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind=kind, d_model=16, num_heads=2, num_layers=2, ffn_dim=32,
                                    dropout=0.0), V).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    bias = torch.zeros(V)
    bias[[PAD, BOS, EOS]] = -20.0  # never emit specials ...
    shift_output_logits(model, bias)
    src = random_sources()
    tokens = decode(model, src, DecodeConfig(max_len=MAX_LEN)).tokens
    with torch.no_grad():
        logits = model(src, torch.cat([torch.full((len(src), 1), BOS), tokens[:, :-1]], 1))
    others = logits.clone()
    others[..., EOS] = float("-inf")
    margins = (others.max(-1).values - logits[..., EOS]).flatten().sort().values
    k = len(margins) // 5
    bias = torch.zeros(V)
    bias[EOS] = float(margins[k] + margins[k + 1]) / 2  # ... except EOS about 20% of the time, no tie
    shift_output_logits(model, bias)
    return model


# Exhaustive search on a tiny vocabulary (decoding/test_beam.py, test_coverage.py, test_contrastive.py).
TINY_V, TINY_LEN = 5, 4


def lp_value(n: int, kind: str, alpha: float) -> float:
    """The length penalty `kind` ("none", "gnmt", "hf") of a hypothesis of n tokens, by its formula."""
    return {"none": 1.0, "gnmt": ((5 + n) / 6) ** alpha, "hf": n ** alpha}[kind]


def tiny_model(kind):
    """A random model over TINY_V symbols, less peaked than lively_model's: many hypotheses of every length score
    alike."""
    torch.manual_seed(1)
    model = build_model(ModelConfig(kind=kind, d_model=8, num_heads=2, num_layers=1, ffn_dim=16, dropout=0.0),
                        TINY_V).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2.0 if kind == "gru" else 1.0)
    bias = torch.zeros(TINY_V)
    bias[EOS] = 1.0
    shift_output_logits(model, bias)
    return model


def all_hypotheses(v: int, max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every sequence the search can return: ends in <eos> at length <= max_len, or is cut at max_len."""
    others = [i for i in range(v) if i != EOS]
    seqs = [list(p) + [EOS] for n in range(max_len) for p in itertools.product(others, repeat=n)]
    seqs += [list(p) for p in itertools.product(others, repeat=max_len)]
    tokens = torch.tensor([s + [PAD] * (max_len - len(s)) for s in seqs])
    return tokens, torch.tensor([len(s) for s in seqs])


# ---- study tables: hand-made tables of notebooks 03, 04 and 08 -----------------------------------------------

# Notebook 03 (scheduled sampling): label -> (schedule, p_use_gt, free-running error within / beyond, exact match
# within / beyond).
SS_CELLS = {
    "teacher forcing (p=1)": ("constant", 1.0, 0.2, 0.8, 0.6, 0.1),
    "constant p=0.75": ("constant", 0.75, 0.1, 0.6, 0.7, 0.3),
    "constant p=0.5": ("constant", 0.5, 0.3, 0.9, 0.5, 0.0),
    "inverse sigmoid (to 0.33)": ("inverse_sigmoid", 0.33, 0.25, 0.85, 0.55, 0.05),
}
SS_LIMIT = 4  # train_positions: positions 1..4 in range


def ss_tables(models=("gru",), shift: dict | None = None) -> common.LengthTables:
    """Notebook 03's tables for SS_CELLS; `shift` adds to a (model, label)'s exact match within the training range."""
    within, beyond = common.EXAMPLES
    pp, bl, ex = [], [], []
    for model in models:
        for label, (sched, p, fr_in, fr_out, em_in, em_out) in SS_CELLS.items():
            em_in += (shift or {}).get((model, label), 0.0)
            tag = dict(model=model, schedule=sched, p_use_gt=p, label=label, baseline=label.startswith("teacher"))
            for pos in range(1, 7):
                group = within if pos <= SS_LIMIT else beyond
                fr = fr_in if pos <= SS_LIMIT else fr_out
                pp.append(dict(examples=group, position=pos, mode="teacher-forced", error_rate=0.05, count=50, **tag))
                pp.append(dict(examples=group, position=pos, mode="free-running", error_rate=fr, count=50, **tag))
            for length in (2, 3):
                bl.append(dict(src_length=length, examples=within, exact_match=em_in, count=50, **tag))
            bl.append(dict(src_length=5, examples=beyond, exact_match=em_out, count=100, **tag))
            ex += _nested_examples(tag, em_in, em_out)
    return common.LengthTables(pd.DataFrame(pp), pd.DataFrame(bl), pd.DataFrame(), SS_LIMIT, per_example=pd.DataFrame(ex))


def _nested_examples(tag: dict, within: float, beyond: float, n: int = 100) -> list[dict]:
    """Per-example exact match rows (lessons/common.py measure): examples 0..n-1 within the training lengths and
    n..2n-1 beyond, the first round(rate * n) of each right, so two cells' successes nest."""
    groups = ((0, within, common.EXAMPLES[0]), (n, beyond, common.EXAMPLES[1]))
    return [dict(tag, example=offset + i, examples=group, correct=i < round(rate * n))
            for offset, rate, group in groups for i in range(n)]


# Notebook 04 (MRT): the smoke profile's main MRT cell against the teacher-forcing baseline.
MRT_MAIN = mrt_study.mrt_label(*mrt.FINETUNE["smoke"]["main"])


def mrt_tables() -> mrt_study.MRTTables:
    """Notebook 04's tables: baseline 0.5 within, 0.0 beyond; MRT_MAIN 0.9 within, 0.1 beyond; 100 examples each."""
    rows_pp, rows_bl, rows_curve, rows_ex = [], [], [], []
    for label, within, beyond in ((mrt_study.BASELINE, 0.5, 0.0), (MRT_MAIN, 0.9, 0.1)):
        rows_ex += _nested_examples({"model": "gru", "label": label}, within, beyond)
        for group, em in ((common.EXAMPLES[0], within), (common.EXAMPLES[1], beyond)):
            rows_bl.append({"model": "gru", "label": label, "src_length": 3 if group == common.EXAMPLES[0] else 9,
                            "examples": group, "exact_match": em, "count": 100})
            for pos in (1, 2, 3, 9):
                for mode, err in (("teacher-forced", 0.1), ("free-running", 0.2 if label == MRT_MAIN else 0.4)):
                    rows_pp.append({"model": "gru", "label": label, "examples": group, "position": pos,
                                    "mode": mode, "error_rate": err, "count": 50})
        for step, dev, risk in ((0, 0.40, np.nan), (4, 0.45, 0.30), (8, 0.60 if label == MRT_MAIN else 0.42, 0.20)):
            rows_curve.append({"model": "gru", "label": label, "step": step, "dev_exact_match": dev,
                               "dev_token_error": 1 - dev, "risk": risk if label == MRT_MAIN else np.nan})
    return mrt_study.MRTTables(pd.DataFrame(rows_curve), pd.DataFrame(rows_pp), pd.DataFrame(rows_bl),
                               pd.DataFrame(), train_positions=5, per_example=pd.DataFrame(rows_ex))


# Notebook 08 (strategies across lengths): the sweep tables.
def _sweep_rows(strategy: str, decoding: str, seed: int, within: float, beyond: float, n: int = 100) -> list[dict]:
    base = dict(task="reverse", model="gru", strategy=strategy, decoding=decoding, seed=seed)
    rows = [dict(base, bucket="4-9", bucket_lo=4, bucket_hi=9, beyond_training=False, metric="exact_match",
                 value=within, count=n),
            dict(base, bucket="17-24", bucket_lo=17, bucket_hi=24, beyond_training=True, metric="exact_match",
                 value=beyond, count=n),
            dict(base, bucket="all", bucket_lo=4, bucket_hi=24, beyond_training=False, metric="train_seconds",
                 value=10.0 if strategy == "tf" else 30.0, count=1000),
            dict(base, bucket="all", bucket_lo=4, bucket_hi=24, beyond_training=False, metric="decode_seconds",
                 value=1.0 if decoding == "greedy" else 4.0, count=2 * n)]
    # Per-example rows (sweeps/cells.py): examples 0..n-1 within, n..2n-1 beyond the training lengths; the first
    # round(rate * n) of each group are right, so two cells' successes nest (the smaller set inside the larger).
    for offset, rate, beyond_range, bucket in ((0, within, False, "4-9"), (n, beyond, True, "17-24")):
        rows += [dict(base, bucket=f"example:{bucket}", bucket_lo=offset + i, bucket_hi=offset + i,
                      beyond_training=beyond_range, metric="correct", value=float(i < round(rate * n)), count=1)
                 for i in range(n)]
    if decoding == "greedy":
        rows += [dict(base, bucket="len 16", bucket_lo=16, bucket_hi=16, beyond_training=False,
                      metric="exaccerr_pct", value=20.0, count=n),
                 dict(base, bucket="len 24", bucket_lo=24, bucket_hi=24, beyond_training=True,
                      metric="exaccerr_pct", value=80.0, count=n)]
    return rows


def lengths_synthetic_table(ss_beyond: float = 0.40, seeds=(0,), ss_beyond_by_seed: dict | None = None,
                            beam_within: float = 0.91) -> pd.DataFrame:
    """Notebook 08's synthetic sweep table (reverse/gru): tf greedy and beam, ss greedy (`ss_beyond` beyond range,
    or per seed from `ss_beyond_by_seed`)."""
    rows = []
    for seed in seeds:
        rows += _sweep_rows("tf", "greedy", seed, 0.90, 0.10) + _sweep_rows("tf", "beam", seed, beam_within, 0.12)
        rows += _sweep_rows("ss", "greedy", seed, 0.60, (ss_beyond_by_seed or {}).get(seed, ss_beyond))
    return pd.DataFrame(rows)


def lengths_translation_table(ss_bleu=(12.0,), tf_bleu=(10.0,)) -> pd.DataFrame:
    """Notebook 08's translation sweep table (es-en/transformer, greedy): one BLEU per seed for tf and ss."""
    rows = []
    for strategy, scores in (("tf", tf_bleu), ("ss", ss_bleu)):
        for seed, bleu in enumerate(scores):
            base = dict(task="es-en", model="transformer", strategy=strategy, decoding="greedy", seed=seed,
                        beyond_training=False)
            for bucket, lo, value in (("1-10", 1, bleu + 5), ("41+", 41, bleu - 5), ("all", 1, bleu)):
                rows.append(dict(base, bucket=bucket, bucket_lo=lo, bucket_hi=60, metric="bleu", value=value, count=50))
                rows.append(dict(base, bucket=bucket, bucket_lo=lo, bucket_hi=60, metric="chrf", value=3 * value,
                                 count=50))
                rows.append(dict(base, bucket=bucket, bucket_lo=lo, bucket_hi=60, metric="length_ratio", value=1.0,
                                 count=50))
            for metric in ("train_seconds", "decode_seconds"):
                rows.append(dict(base, bucket="all", bucket_lo=1, bucket_hi=60, metric=metric, value=5.0, count=50))
            rows += _sentence_stat_rows(base, wrong_words=round(30 / bleu))  # 10 -> 3, 12 -> 2, 24 -> 1 of 12
    return pd.DataFrame(rows)


def _sentence_stat_rows(base: dict, wrong_words: int, n: int = 240) -> list[dict]:
    """Per-sentence sacrebleu BLEU statistics rows (sweeps/nmt.py) of n made-up 12-word sentences with
    `wrong_words` words replaced: fewer wrong words, higher corpus BLEU. Half the sentences are long (41+)."""
    words = "in the beginning god created heaven and earth the earth was without form".split()
    refs = [" ".join(words[i % 3:] + words[: i % 3]) for i in range(n)]
    hyps = [" ".join("x" if j % 12 < wrong_words else w for j, w in enumerate(r.split())) for r in refs]
    stats = sentence_stats(hyps, refs)
    return [dict(base, bucket=f"example:{'41+' if i % 2 else '1-10'}", bucket_lo=i, bucket_hi=i,
                 metric=f"bleu_stat_{k}", value=float(v), count=1)
            for i, row in enumerate(stats) for k, v in enumerate(row)]


# ---- bad input: the tables of the bad-input matrix (hardening/test_bad_input.py) ----------------------------

class Case(NamedTuple):
    """One bad input: the value tried, and the words its error message must contain (besides the value)."""

    id: str
    value: Any
    allowed: tuple[str, ...]
    shown: str | None = None  # the text naming the bad value; None: "= <repr of value>"

    def expected_value(self) -> str:
        """The text the message must hold to name the bad value."""
        return f"= {self.value!r}" if self.shown is None else self.shown


class Int(NamedTuple):
    """An integer field in [lo, hi] (hi None: no upper bound)."""

    lo: int
    hi: int | None = None
    none_ok: bool = False  # None is a valid value (e.g. "as the profile says")


class Float(NamedTuple):
    """A finite number in [lo, hi]; an open end excludes the bound itself."""

    lo: float
    hi: float
    lo_open: bool = False
    hi_open: bool = False
    none_ok: bool = False


class Choice(NamedTuple):
    """One name out of a fixed list."""

    choices: tuple


class Names(NamedTuple):
    """A notebook parameter: a comma-separated subset of names, as one string."""

    choices: tuple


class Bool(NamedTuple):
    """True or False, nothing else."""


class Custom(NamedTuple):
    """Fields with a shape of their own (tuples, lists, dicts): explicit (value, allowed words) pairs."""

    cases: tuple


def _num(x) -> str:
    return str(int(x)) if float(x).is_integer() and not isinstance(x, float) else str(x)


def cases_for(name: str, rule) -> list[Case]:
    """Wrong types, each side out of range, and unknown names, for one field or parameter."""
    if isinstance(rule, Int):
        bounds = tuple(_num(b) for b in (rule.lo, rule.hi) if b is not None)
        out = [Case(f"{name}-str", "3", ("integer",)), Case(f"{name}-float", 1.5, ("integer",)),
               Case(f"{name}-bool", True, ("integer",)),
               Case(f"{name}-below", rule.lo - 1, ("integer", f">= {rule.lo}"))]
        out += [] if rule.none_ok else [Case(f"{name}-None", None, ("integer",))]
        if rule.hi is not None:
            out.append(Case(f"{name}-above", rule.hi + 1, ("integer", f"<= {rule.hi}")))
        return out
    if isinstance(rule, Float):
        rng = f"{rule.lo}, {rule.hi}"
        out = [Case(f"{name}-str", "0.5", (rng,)), Case(f"{name}-nan", math.nan, (rng,)),
               Case(f"{name}-bool", False, (rng,)),
               Case(f"{name}-below", rule.lo if rule.lo_open else rule.lo - 1, (rng,))]
        out += [] if rule.none_ok else [Case(f"{name}-None", None, (rng,))]
        if math.isfinite(rule.hi):
            out.append(Case(f"{name}-above", rule.hi if rule.hi_open else rule.hi + 1, (rng,)))
        return out
    if isinstance(rule, Choice):
        return [Case(f"{name}-{tag}", v, tuple(map(str, rule.choices))) for tag, v in
                (("unknown", "nope"), ("int", 3), ("None", None), ("case", str(rule.choices[0]).upper()))]
    if isinstance(rule, Names):
        return [Case(f"{name}-{tag}", v, rule.choices) for tag, v in
                (("unknown", "nope"), ("one-unknown", f"{rule.choices[0]},nope"), ("empty", ""), ("commas", " , "),
                 ("repeat", f"{rule.choices[0]},{rule.choices[0]}"), ("list", list(rule.choices)), ("int", 3),
                 ("None", None))]
    if isinstance(rule, Bool):
        return [Case(f"{name}-{tag}", v, ("True or False",)) for tag, v in
                (("int", 1), ("zero", 0), ("str", "False"), ("None", None))]
    return [Case(f"{name}-{i}", *case) for i, case in enumerate(rule.cases)]


PROFILE = Choice(PROFILES)
TASK_FIELDS = {"name": Choice(TASKS), "min_len": Int(1, 1000), "train_max_len": Int(2, 1000),
               "test_max_len": Int(12, 1000), "num_symbols": Int(2, 26), "num_train": Int(1, 10_000_000),
               "num_dev": Int(1, 10_000_000), "num_test": Int(1, 10_000_000), "seed": Int(0),
               "label_noise": Float(0.0, 1.0, hi_open=True)}
MODEL_FIELDS = {"kind": Choice(MODELS), "d_model": Int(8, 8192), "num_heads": Int(1, 128), "num_layers": Int(1, 48),
                "ffn_dim": Int(8, 65536), "dropout": Float(0.0, 1.0, hi_open=True),
                "max_positions": Int(16, 100_000), "positions": Choice(POSITIONS),
                "attention_dropout": Float(0.0, 1.0, hi_open=True, none_ok=True),
                "activation_dropout": Float(0.0, 1.0, hi_open=True, none_ok=True)}
TRAIN_FIELDS = {
    "strategy": Custom(((3, ("teacher_forcing",)), ("", ("teacher_forcing",)), (None, ("teacher_forcing",)))),
    "steps": Int(1, 10_000_000), "batch_size": Int(1, 1_000_000), "lr": Float(0.0, 10.0, lo_open=True),
    "weight_decay": Float(0.0, 10.0), "warmup_steps": Int(0, 2000), "grad_clip": Float(0.0, 1e6),
    "label_smoothing": Float(0.0, 1.0, hi_open=True), "seed": Int(0), "log_every": Int(1),
    "strategy_args": Custom((("x", ("a dict",)), ({1: 2}, ("string keys",)), ({"p": math.nan}, ("finite",)),
                             ({"label_smoothing": 0.1}, ("TrainConfig.label_smoothing",)),
                             ({"f": print}, ("JSON",))))}
DECODE_FIELDS = {
    "method": Choice(DECODE_METHODS), "max_len": Int(1, 100_000), "batch_size": Int(1, 1_000_000),
    "min_len": Int(0, 100), "beam_size": Int(1, 1000), "alpha": Float(0.0, math.inf),
    "length_penalty": Choice(("gnmt", "hf", "none")), "num_return": Int(1, 5), "num_samples": Int(1, 100_000),
    "temperature": Float(0.0, math.inf, lo_open=True), "top_k": Int(0), "top_p": Float(0.0, 1.0, lo_open=True),
    "repetition_penalty": Float(1.0, math.inf), "no_repeat_ngram": Int(0), "seed": Int(0),
    "beta": Float(0.0, math.inf), "contrastive_form": Choice(("li2022", "plain")),
    "contrastive_weight": Float(0.0, math.inf), "plausibility": Float(0.0, 1.0),
    "amateur_temperature": Float(0.0, math.inf, lo_open=True), "contrastive_search": Choice(("greedy", "beam"))}
SUBWORD_FIELDS = {"model_type": Choice(SUBWORD_MODEL_TYPES), "vocab_size": Int(100, 64000),
                  "character_coverage": Float(0.9, 1.0, lo_open=True), "max_sentences": Int(0), "seed": Int(0),
                  "normalization": Choice(SUBWORD_NORMALIZATIONS)}
_SEL = ("non-empty selection",)
SPEECH_FIELDS = {
    "profile": PROFILE, "num_utterances": Int(8, 1_000_000, none_ok=True), "digit_fraction": Float(0.0, 1.0),
    "voices": Custom(((("nope",), VOICES), ((), _SEL), ("en-us", _SEL), (3, _SEL), (None, _SEL))),
    "speed_range": Custom((((79, 200), ("80 <= low <= high <= 450",)), ((140, 451), ("450",)),
                           ((200, 140), ("low <= high",)), ((140.0, 200), ("integers",)), (150, ("(low, high)",)),
                           ((140, 160, 180), ("(low, high)",)), (None, ("(low, high)",)))),
    "pitch_range": Custom((((-1, 50), ("0 <= low <= high <= 99",)), ((30, 100), ("99",)),
                           (("30", "70"), ("integers",)), (50, ("(low, high)",)))),
    "snr_db": Float(-10.0, 60.0, none_ok=True),
    "noise_kinds": Custom(((("brown",), NOISE_KINDS), ((), _SEL), (1, _SEL))),
    "n_mels": Custom(((64, ("40 or 80",)), (80.0, ("40 or 80",)), ("80", ("40 or 80",)), (None, ("40 or 80",)))),
    "seed": Int(0)}
SPEECH_MODEL_FIELDS = {
    "kind": Choice(SPEECH_MODELS),
    "n_mels": Custom(((64, ("40 or 80",)), (80.0, ("40 or 80",)), ("80", ("40 or 80",)), (True, ("40 or 80",)))),
    "conv_channels": Int(1, 1024), "d_model": Int(8, 4096), "num_heads": Int(1, 64), "encoder_layers": Int(0, 48),
    "ffn_dim": Int(8, 65536), "dropout": Float(0.0, 1.0, hi_open=True), "decoder_layers": Int(1, 48),
    "pred_dim": Int(8, 4096), "joint_dim": Int(8, 4096), "ctc_weight": Float(0.0, 1.0, hi_open=True)}
_LIST = ("non-empty list",)
SWEEP_FIELDS = {
    "name": Custom((("", ("letters, digits",)), ("my sweep", ("letters, digits",)), ("../x", ("letters, digits",)),
                    (3, ("letters, digits",)), (None, ("letters, digits",)))),
    "profile": PROFILE,
    "tasks": Custom(((["nope"], ONE_TARGET_TASKS, "= 'nope'"), ("reverse", _LIST), ([], _LIST),
                     (["reverse", "reverse"], ("repeated",)), ([["reverse"]], ONE_TARGET_TASKS, "= ['reverse']"),
                     (None, _LIST), (["dialects"], ONE_TARGET_TASKS, "= 'dialects'"))),
    "models": Custom(((["lm"], ("gru", "transformer"), "= 'lm'"),
                      (["gru", {"kind": "gru"}], ("gru", "transformer"), "= {'kind': 'gru'}"), ({"gru": 1}, _LIST))),
    "strategies": Custom(((["nope"], STRATEGIES, "= 'nope'"), ([3], STRATEGIES, "= 3"),
                          ([None], STRATEGIES, "= None"))),
    "decodings": Custom(((["sample"], DECODINGS, "= 'sample'"), ("greedy", _LIST))),
    "seeds": Custom((([-1], (">= 0",), "= -1"), ([10_001], ("<= 10000",), "= 10001"), ([1.5], ("integer",), "= 1.5"),
                     (["0"], ("integer",), "= '0'"), ([True], ("integer",), "= True"), ([0, 0], ("repeated",)),
                     (0, _LIST)))}
# Dependent bounds and cross-field rules: (config, base values, field, bad value, allowed words[, shown]).
CROSS_FIELD = [
    (TaskConfig, {"min_len": 5}, "train_max_len", 4, (">= 5",)),
    (TaskConfig, {"train_max_len": 20}, "test_max_len", 19, (">= 20",)),
    (TaskConfig, {"name": "addition"}, "num_symbols", 12, ("<= 10",)),
    (TaskConfig, {"name": "addition"}, "num_symbols", 9, ("10 for the addition task",)),
    (ModelConfig, {"kind": "gru", "num_heads": 1}, "d_model", 129, ("an even number",)),
    (ModelConfig, {"d_model": 128}, "num_heads", 3, ("a divisor of d_model=128",)),
    (TrainConfig, {"steps": 500}, "warmup_steps", 501, ("<= 500",)),
    (DecodeConfig, {"max_len": 10}, "min_len", 11, ("<= 10",)),
    (DecodeConfig, {"beam_size": 2}, "num_return", 3, ("<= 2",)),
    (SpeechModelConfig, {"d_model": 144}, "num_heads", 5, ("a divisor of d_model=144",)),
    (SpeechModelConfig, {"kind": "ctc"}, "ctc_weight", 0.3, ("expected 0",)),
    (SweepSpec, {"tasks": ("es-en",), "strategies": ("tf",)}, "decodings", ("contrastive",), ("no cell",),
     "['contrastive']"),
]
CONFIGS = {TaskConfig: TASK_FIELDS, ModelConfig: MODEL_FIELDS, TrainConfig: TRAIN_FIELDS,
           DecodeConfig: DECODE_FIELDS, SubwordConfig: SUBWORD_FIELDS, SpeechConfig: SPEECH_FIELDS,
           SpeechModelConfig: SPEECH_MODEL_FIELDS, SweepSpec: SWEEP_FIELDS}
# SpeechModelConfig.ctc_weight is a number in [0, 1) for the attention model: its range cases run with that kind.
KIND_FOR = {(SpeechModelConfig, "ctc_weight"): {"kind": "attention"}}

# TrainConfig.strategy_args, checked when train() builds the strategy by name (strategies.get_strategy).
_UNKNOWN_ARG = Custom(((1, ("allowed",), "'nope'"),))
_SCHEDULES = ("constant", "linear", "exponential", "inverse_sigmoid")
STRATEGY_ARGS = {
    "scheduled_sampling": {
        "mode": Choice(MODES), "sample": Bool(), "passes": Int(1, MAX_PASSES), "nope": _UNKNOWN_ARG,
        "schedule": Custom((("x", ("None, a callable",)), (3, ("None, a callable",)), ({"p": 0.5}, ("'name' key",)),
                            ({"name": "nope"}, _SCHEDULES, "= 'nope'"),
                            ({"name": "constant", "p": 1.5}, ("[0.0, 1.0]",), "= 1.5"),
                            ({"name": "constant", "p": 0.5, "q": 1}, ("unknown", "'p'", "warmup_steps"), "['q']"),
                            ({"name": "constant"}, ("missing",), "['p']"),
                            ({"name": "constant", "p": 0.5, "warmup_steps": -1}, (">= 0",), "= -1")))},
    "mrt": {"num_samples": Int(0, 1024), "alpha": Float(0.0, 100.0, lo_open=True), "risk": Choice(RISKS),
            "include_reference": Bool(), "temperature": Float(0.0, 100.0, lo_open=True),
            "max_len_ratio": Float(1.0, 10.0), "mle_weight": Float(0.0, 100.0), "beam_candidates": Int(0, 64),
            "nope": _UNKNOWN_ARG},
    "word_kd": {"temperature": Float(0.0, 100.0, lo_open=True), "kd_weight": Float(0.0, 1.0), "nope": _UNKNOWN_ARG},
    "on_policy_kd": {"temperature": Float(0.0, 100.0, lo_open=True), "student_share": Float(0.0, 1.0),
                     "sample_temperature": Float(0.0, 100.0, lo_open=True), "max_len_ratio": Float(1.0, 10.0),
                     "nope": _UNKNOWN_ARG},
}

# Papermill parameters of every notebook (the `parameters` cell) and the rule each is validated with.
_SEED, _SEEDS = Int(0), Int(0, 20)
_PAIR = Names(("gru", "transformer"))
NOTEBOOK_PARAMETERS = {
    "01_error_compounding": {"profile": PROFILE, "seed": _SEED, "num_seeds": Int(0, 100), "tasks": Names(ONE_TARGET_TASKS),
                             "models": _PAIR, "inject_at": Int(0, 1000), "inject_k": Int(1, 1000)},
    "02_nmt_long_sentences": {"profile": PROFILE, "seed": _SEED, "models": _PAIR},
    "03_scheduled_sampling": {"profile": PROFILE, "seed": _SEED, "num_seeds": _SEEDS, "models": _PAIR,
                              "cost_repeats": Int(0, 1000), "regime_seeds": _SEEDS},
    "04_minimum_risk_training": {"profile": PROFILE, "seed": _SEED, "num_seeds": _SEEDS, "models": _PAIR,
                                 "translation": Bool(), "cost_repeats": Int(0, 1000)},
    "05_self_distillation": {"profile": PROFILE, "seed": _SEED, "num_seeds": _SEEDS, "sizes": Names(SIZES),
                             "regime_seeds": _SEEDS},
    "06_beam_search_length_penalty": {"profile": PROFILE, "seed": _SEED, "num_sentences": Int(-1)},
    "07_contrastive_decoding": {"profile": PROFILE, "seed": _SEED, "corpora": Names(("prose", "code")),
                                "num_prompts": Int(0, 100_000), "top_p_seeds": Int(0, 100)},
    "08_strategies_across_lengths": {"profile": PROFILE, "seed": _SEED, "num_seeds": _SEEDS, "models": _PAIR,
                                     "tasks": Names(ONE_TARGET_TASKS), "translation": Bool(), "length_seeds": _SEEDS},
    "09_decision_guide": {"profile": PROFILE, "seed": _SEED, "num_seeds": _SEEDS, "translation": Bool()},
    "10_applications": {"profile": PROFILE, "seed": _SEED, "num_prompts": Int(0, 100_000), "translation": Bool()},
    "11_speech_ctc_vs_transducer": {"profile": PROFILE, "seed": _SEED, "ctc_steps": Int(0, 1_000_000),
                                    "transducer_steps": Int(0, 1_000_000), "attention_steps": Int(0, 1_000_000),
                                    "beam_size": Int(1, 64), "transducer_beam_subset": Int(0, 100_000)},
}
