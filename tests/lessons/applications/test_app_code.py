"""Notebook 10's code-completion study (app_code): the signature + docstring prompt rule on hand-made functions,
headline and takeaway on a hand-made generation table, and a smoke-profile run end to end (corpus-backed)."""
from __future__ import annotations

import matplotlib
import pandas as pd
import pytest

from seqgap_lab.lessons.applications import code as app_code, runs as app_runs, figures as app_figures
from seqgap_lab.core.config import ConfigError
from seqgap_lab.metrics.generation import parses, rep_n
from seqgap_lab.lessons import generation

matplotlib.use("Agg")

SIMPLE = 'def f(x):\n    """Double x."""\n    y = 2 * x\n    return y\n'
MULTI = ('def g(a,\n      b=1,\n      *rest):\n    """Sum things.\n\n    Long text.\n    """\n'
         '    # a comment\n    return a + b\n')
DECORATED = '@cache\nasync def h(self) -> int:\n    \'\'\'Doc.\'\'\'\n    return 1\n'


def test_split_function_cuts_signature_docstring_and_body():
    parts = app_code.split_function(SIMPLE)
    assert parts == app_code.FunctionParts("def f(x):\n", '    """Double x."""\n', "    y = 2 * x\n    return y\n")
    multi = app_code.split_function(MULTI)
    assert multi.signature == "def g(a,\n      b=1,\n      *rest):\n"
    assert multi.docstring == '    """Sum things.\n\n    Long text.\n    """\n'
    assert multi.body == "    # a comment\n    return a + b\n"
    assert app_code.split_function(DECORATED).signature == "@cache\nasync def h(self) -> int:\n"
    for code in (SIMPLE, MULTI, DECORATED):
        p = app_code.split_function(code)
        assert p.signature + p.docstring + p.body == code and parses(p.signature + p.docstring)


@pytest.mark.parametrize("code", [
    "def f(x):\n    return x\n",  # no docstring
    "def f(x):\n    x = 'not a docstring'\n    return x\n",
    'def f(x):\n    """Only a docstring."""\n',  # nothing to complete
    'def f(x): """Same line."""; return x\n',
    'def f(\n        x): """On the closing line."""\n    return x\n',
    'def f(x):\n    """Doc."""; return x\n',  # the body starts on the docstring's line
    "x = 1\n", "def broken(:\n",
])
def test_split_function_skips_what_has_no_usable_docstring(code):
    assert app_code.split_function(code) is None


def test_function_prompts_keep_only_documented_functions():
    funcs = [{"code": SIMPLE, "file": "a.py", "line": 3, "name": "f"},
             {"code": "def f(x):\n    return x\n", "file": "a.py", "line": 9, "name": "f"},
             {"code": MULTI, "file": "b/c.py", "line": 1, "name": "g"}]
    prompts = app_code.function_prompts(funcs)
    assert [p.source for p in prompts] == ["a.py:3 f", "b/c.py:1 g"]
    assert prompts[0].prompt == 'def f(x):\n    """Double x."""\n' and prompts[0].reference.startswith("    y =")


def test_budgets_are_checked():
    assert app_runs.check_budgets("app_code", [32, 8, 16, 8], 64) == [8, 16, 32]
    with pytest.raises(ConfigError, match=r"app_code.budgets = 64 .* <= 63"):
        app_runs.check_budgets("app_code", [8, 64], 64)
    with pytest.raises(ConfigError, match="budgets = \\[\\]"):
        app_runs.check_budgets("app_code", [], 64)


def _rows(strategy, decoding, texts, parsed, seed=0, max_len=16):
    out = []
    for i, (text, ok) in enumerate(zip(texts, parsed)):
        words = text.split()
        out.append({"strategy": strategy, "decoding": decoding, "seed": seed, "max_len": max_len, "prompt_index": i,
                    "completion": text, "tokens": len(words), "stopped": False, "words": len(words),
                    "coherent_words": generation.coherent_length(words), "rep_4": rep_n([words], 4), "nll_sum": 2.0,
                    "parses": ok})
    return out


def _run(distilled_greedy_parses) -> app_runs.AppRun:
    texts = [f"    x{i} = {i}\n    return x{i}\n" for i in range(8)]
    rows = []
    for max_len in (8, 16):
        rows += _rows(generation.REFERENCE, generation.REFERENCE, texts, [True] * 8, max_len=max_len)
        for strategy in app_runs.STRATEGIES:
            for decoding in app_runs.DECODINGS:
                ok = [True] * 8
                if strategy == app_runs.DISTILLED and decoding == "greedy" and max_len == 16:
                    ok = distilled_greedy_parses
                for seed in ((0, 1) if decoding == generation.SAMPLED else (0,)):
                    rows += _rows(strategy, decoding, texts, ok, seed=seed, max_len=max_len)
    gens = pd.DataFrame(rows)
    info = {"profile": "smoke", "budgets": [8, 16], "seeds": [0, 1], "num_prompts": 8}
    return app_runs.AppRun(gens, app_runs.metrics_table(gens), {}, info)


def test_headline_and_takeaway_read_the_table_and_the_verdict_follows_it():
    same = app_code.headline(_run([True] * 8))
    assert same["longest"] == 16 and same["num_prompts"] == 8 and same["reference"]["parse_rate"] == 1.0
    assert same["cells"][app_runs.DISTILLED]["greedy"]["parse_rate"] == 1.0
    assert "parse_rate_sd" in same["cells"]["TF"][generation.SAMPLED]
    assert same["parse_curves"]["TF"]["greedy"] == {"8": 1.0, "16": 1.0}
    assert same["distill_effect"]["greedy"]["parses"]["diff"] == 0.0
    text = app_code.takeaway(same)
    # 8 prompts: the paired comparison gives the difference but no verdict (core/stats.MIN_EXAMPLES)
    assert "greedy is not judged (n = 8 < 100 examples; difference +0.000)" in text and "1.000" in text
    worse = app_code.headline(_run([False] * 6 + [True] * 2))
    assert worse["cells"][app_runs.DISTILLED]["greedy"]["parse_rate"] == 0.25
    effect = worse["distill_effect"]["greedy"]["parses"]
    assert effect["diff"] == pytest.approx(-0.75) and effect["n"] == 8
    text = app_code.takeaway(worse)
    assert "greedy is not judged (n = 8 < 100 examples; difference -0.750)" in text and "greedy 0.250" in text
    assert effect["comparison"]["delta"] == pytest.approx(-0.75)
    assert "greedy 1.00/0.25" in text  # the self-distilled curve over 8/16 tokens


def test_parse_rate_plot_draws_every_strategy(tmp_path):
    fig = app_figures.parse_rate_by_budget(_run([True] * 8).metrics)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert {"TF", app_runs.DISTILLED, "greedy", "human reference"} <= set(labels)


def test_smoke_code_study_end_to_end(data_dir):
    with pytest.raises(ConfigError, match="profile = 'huge'"):
        app_code.run_study("huge")
    run = app_code.run_study("smoke")
    g = run.generations
    assert {"strategy", "decoding", "seed", "max_len", "prompt_index", "completion", "parses", "rep_4",
            "coherent_words"} <= set(g.columns)
    assert set(g["strategy"]) == {*app_runs.STRATEGIES, generation.REFERENCE} and set(g["max_len"]) == {8, 16}
    assert len(g) == 4 * 2 * (1 + 2 * 4)  # prompts x budgets x (reference + strategies x decodings), one seed
    assert g["parses"].map(lambda v: isinstance(v, bool)).all()
    m = run.metrics
    assert set(m.columns) == {"strategy", "decoding", "seed", "max_len", "metric", "value"}
    assert {"parse_rate", "parse_rate_checked", "unchecked_share", "rep_4", "coherent_words"} <= set(m["metric"])
    head = app_code.headline(run)
    assert set(head["cells"]) == set(app_runs.STRATEGIES) and "parse rate" in app_code.takeaway(head)
    assert not run.info["from_cache"] and app_code.run_study("smoke").info["from_cache"]
    with pytest.raises(ConfigError, match="app_code.budgets = 70"):
        app_code.run_study("smoke", budgets=(8, 70))
