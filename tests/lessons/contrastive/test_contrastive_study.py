"""The contrastive-decoding study (notebook 07): coherent length, metrics, headline and takeaway on hand-made
generation tables, the atomic generation cache, and the explorer's value checks and redraws (its observers
fire synchronously in plain pytest)."""
from __future__ import annotations

import json
import math

import matplotlib
import pandas as pd
import pytest
import traitlets

from seqgap_lab.lessons.contrastive import study as cs
from seqgap_lab.lessons.contrastive import explorer as cw
from seqgap_lab.core import paths
from seqgap_lab.core.config import ConfigError
from seqgap_lab.metrics.generation import rep_n
from seqgap_lab.lessons.contrastive import figures as contrastive_figures
from seqgap_lab.lessons.contrastive import summary as contrastive_summary
from seqgap_lab.lessons import generation

matplotlib.use("Agg")

LOOP = "the cat the cat the cat the cat"  # 8 words: 5 word 4-grams, 2 distinct -> rep-4 0.6
FRESH = ["a b c d e f g h", "i j k l m n o p"]
CODE = ["a b\nc d e f g h", "i j k l\nm n o p"]  # the same words, with a complete line for the parse check


def _rows(corpus, decoding, texts, seed=0, max_len=16, parsed=None, nll=2.0) -> list[dict]:
    out = []
    for i, text in enumerate(texts):
        words = text.split()
        out.append({"corpus": corpus, "decoding": decoding, "seed": seed, "max_len": max_len, "prompt_index": i,
                    "completion": text, "tokens": len(words), "stopped": len(words) < max_len, "words": len(words),
                    "coherent_words": generation.coherent_length(words), "rep_4": rep_n([words], 4),
                    "nll_sum": nll * len(words), "parses": None if parsed is None else parsed[i]})
    return out


def _tables() -> cs.ContrastiveTables:
    rows = []
    for max_len in (8, 16):
        rows += _rows("prose", generation.REFERENCE, FRESH, max_len=max_len, nll=4.0)
        rows += _rows("prose", "greedy", [LOOP, LOOP], max_len=max_len, nll=1.0)
        rows += _rows("prose", generation.CONTRASTIVE, FRESH, max_len=max_len, nll=3.0)
        rows += _rows("prose", generation.SAMPLED, FRESH, seed=0, max_len=max_len, nll=5.0)
        rows += _rows("prose", generation.SAMPLED, [LOOP, FRESH[1]], seed=1, max_len=max_len, nll=5.0)
        rows += _rows("code", generation.REFERENCE, CODE, max_len=max_len, parsed=[True, True])
        rows += _rows("code", "greedy", [LOOP.replace(" ", "\n", 1), LOOP], max_len=max_len, parsed=[True, True])
        broken = [True, False] if max_len == 8 else [False, False]
        rows += _rows("code", generation.CONTRASTIVE, CODE, max_len=max_len, parsed=broken)
        rows += _rows("code", "beam-5", ["", CODE[0]], max_len=max_len, parsed=[True, False])
    gens = pd.DataFrame(rows)
    info = {"seeds": [0, 1], "lengths": {"prose": [8, 16], "code": [8, 16]},
            "corpora": {"prose": {"num_prompts": 2}, "code": {"num_prompts": 2}}}
    return cs.ContrastiveTables(gens, cs.metrics_table(gens), {}, info)


def test_coherent_length_is_the_longest_prefix_without_a_repeated_4gram():
    assert generation.coherent_length("a b c d a b c d".split()) == 7
    assert generation.coherent_length(LOOP.split()) == 5  # "the cat the cat the" holds each 4-gram once
    assert generation.coherent_length("a b c".split()) == 3 and generation.coherent_length([]) == 0
    assert generation.coherent_length(list("abcdefg")) == 7
    assert generation.coherent_length([1, 1, 1, 1, 1]) == 4


def test_metrics_table_is_tidy_and_pools_over_prompts():
    m = _tables().metrics
    assert list(m.columns) == ["corpus", "decoding", "seed", "max_len", "metric", "value"]
    pick = lambda **kw: m.loc[(m[list(kw)] == pd.Series(kw)).all(axis=1), "value"].squeeze()
    assert pick(corpus="prose", decoding="greedy", max_len=16, metric="rep_4") == pytest.approx(0.6)
    assert pick(corpus="prose", decoding="greedy", max_len=16, metric="coherent_words") == pytest.approx(5.0)
    assert pick(corpus="prose", decoding="greedy", max_len=16, metric="expert_nll") == pytest.approx(1.0)
    assert pick(corpus="prose", decoding=generation.REFERENCE, max_len=8, metric="length_ratio") == pytest.approx(1.0)
    assert pick(corpus="code", decoding=generation.CONTRASTIVE, max_len=8, metric="parse_rate") == pytest.approx(0.5)
    assert pick(corpus="code", decoding="beam-5", max_len=8, metric="parse_rate") == pytest.approx(0.5)
    assert pick(corpus="code", decoding="beam-5", max_len=8, metric="parse_rate_checked") == pytest.approx(0.0)
    assert pick(corpus="code", decoding="greedy", max_len=8, metric="unchecked_share") == pytest.approx(0.5)
    assert pick(corpus="code", decoding="greedy", max_len=8, metric="parse_rate_checked") == pytest.approx(1.0)
    assert pick(corpus="code", decoding="beam-5", max_len=8, metric="empty_share") == pytest.approx(0.5)
    assert "parse_rate" not in set(m.loc[m["corpus"] == "prose", "metric"])


def test_headline_reads_the_tables():
    head = contrastive_summary.headline(_tables(), {"code": {"weights": [0.0, 1.0], "rep_4": [0.6, 0.0]}})
    prose, code = head["prose"], head["code"]
    assert prose["longest"] == 16 and prose["num_prompts"] == 2
    assert list(prose["decodings"]) == ["greedy", generation.SAMPLED, generation.CONTRASTIVE, generation.REFERENCE]
    sampled = prose["decodings"][generation.SAMPLED]
    assert sampled["rep_4"] == pytest.approx(0.15) and sampled["rep_4_sd"] == pytest.approx(0.3 / 2 ** 0.5)
    assert "rep_4_sd" not in prose["decodings"]["greedy"]
    assert prose["contrastive_vs_greedy_rep_4"]["delta"] == pytest.approx(-0.6)
    assert prose["contrastive_vs_greedy_rep_4"]["test"] == "paired bootstrap"
    assert code["by_length"]["parse_rate"][generation.CONTRASTIVE] == {"8": 0.5, "16": 0.0}
    assert code["weight_effect"]["rep_4"] == [0.6, 0.0] and "weight_effect" not in prose


def test_takeaway_says_what_the_numbers_say():
    tables = _tables()
    head = contrastive_summary.headline(tables, {"code": {"weights": [0.0, 1.0], "rep_4": [0.6, 0.0], "diversity": [0.1, 1.0],
                                         "expert_nll": [1.0, 3.0], "parse_rate": [1.0, 0.0], "parse_rate_checked": [1.0, 0.5],
                                         "num_prompts": 2,
                                         "plausibility": 0.1, "amateur_temperature": 1.0}})
    text = contrastive_summary.takeaway(head, tables.info, "smoke")
    assert "top-p sample seeds [0, 1]" in text and "budgets (LM tokens) prose [8, 16], code [8, 16]" in text
    assert "greedy 0.600; top-p 0.9 0.150 ± 0.212; contrastive li2022 0.000; reference 0.000" in text
    assert "rep-4 per prompt: is not judged (n = 2 < 100 examples; difference -0.600)" in text
    assert "expert NLL 3.00 vs 1.00" in text
    assert ("parse rate at 8/16 tokens: greedy 1.00/1.00; beam-5 0.50/0.50; contrastive li2022 0.50/0.00; "
            "reference 1.00/1.00") in text
    assert ("share of those: greedy 0.50/0.50; beam-5 0.50/0.50; contrastive li2022 0.00/0.00; reference "
            "0.00/0.00; parse rate over the completions with at least one complete line: greedy 1.00/1.00; beam-5 "
            "0.00/0.00; contrastive li2022 0.50/0.00; reference 1.00/1.00") in text
    assert "empty continuations (<eos> first): beam-5 50%" in text
    # Two prompts are far too few for a verdict: the paired test says so instead of calling a harm.
    assert "contrastive vs greedy parse rate 0.000 vs 1.000: contrastive is not judged (n = 2 < 100 examples; " \
           "difference -1.000) (2 prompts, McNemar on the same prompts); over checked completions 0.000 vs 1.000: " \
           "on the prompts where both are checked, contrastive is not judged (n = 1 < 100 examples; difference " \
           "-1.000)." in text
    assert "w = 0 -> 1: rep-4 0.600 -> 0.000" in text
    assert "parse rate 1.000 -> 0.000 (over checked completions 1.000 -> 0.500)." in text
    same = contrastive_summary.takeaway(contrastive_summary.headline(cs.ContrastiveTables(
        tables.generations.assign(completion=LOOP, rep_4=0.6), tables.metrics, {}, tables.info)), tables.info, "smoke")
    assert "rep-4 per prompt: is not judged (n = 2 < 100 examples; difference +0.000)" in same


def test_cached_rows_write_atomically_reuse_and_recompute_a_corrupt_file():
    calls = []
    compute = lambda: calls.append(1) or [{"a": 1}]
    rows, hit = generation.cached_rows("07-test", {"x": 1}, compute)
    assert rows == [{"a": 1}] and not hit
    rows, hit = generation.cached_rows("07-test", {"x": 1}, compute)
    assert rows == [{"a": 1}] and hit and len(calls) == 1
    files = list((paths.data_dir() / "generations").glob("07-test-*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["key"]["x"] == 1
    files[0].write_text("{not json")
    assert generation.cached_rows("07-test", {"x": 1}, compute) == ([{"a": 1}], False) and len(calls) == 2
    generation.cached_rows("07-test", {"x": 2}, compute)
    assert len(list((paths.data_dir() / "generations").glob("07-test-*.json"))) == 2


def line_grid() -> pd.DataFrame:
    rows = []
    for corpus in ("prose", "code"):
        for w in (0.0, 1.0):
            for a in (0.0, 0.1):
                texts = [LOOP, LOOP] if w == 0 else [f"{corpus} w{w} a{a} {t}" for t in CODE]
                for r in _rows(corpus, generation.CONTRASTIVE, texts, parsed=[True, w == 0] if corpus == "code" else None):
                    rows.append(dict(r, weight=w, plausibility=a, amateur_temperature=1.0,
                                     prompt=f"prompt {r['prompt_index']}", source=f"src{r['prompt_index']}"))
    return pd.DataFrame(rows)


def test_check_setting_accepts_only_cached_values():
    grid = line_grid()
    assert contrastive_summary.check_setting(grid, 1, 0.1, 1) == {"weight": 1.0, "plausibility": 0.1, "amateur_temperature": 1.0}
    with pytest.raises(ConfigError, match=r"weight = 0.5 is not allowed: expected one of 0 \| 1 \(the cached grid\)"):
        contrastive_summary.check_setting(grid, 0.5, 0.1, 1.0)
    with pytest.raises(ConfigError, match="plausibility = True"):
        contrastive_summary.check_setting(grid, 1.0, True, 1.0)
    with pytest.raises(ConfigError, match="amateur_temperature = '1'"):
        contrastive_summary.check_setting(grid, 1.0, 0.1, "1")
    with pytest.raises(ConfigError, match="amateur_temperature = nan"):
        contrastive_summary.check_setting(grid, 1.0, 0.1, float("nan"))


def test_explorer_offers_the_cached_values_and_redraws():
    box = cw.contrastive_explorer(line_grid())
    assert [v for _, v in box.sliders["weight"].options] == [0.0, 1.0]
    assert [v for _, v in box.sliders["plausibility"].options] == [0.0, 0.1]
    assert box.setting == {"weight": 1.0, "plausibility": 0.1, "amateur_temperature": 1.0}
    assert "prose w1.0 a0.1 a b\nc d" in box.text.value and len(box.output.outputs) == 1
    box.sliders["weight"].value = 0.0
    assert "the cat the cat" in box.text.value and "rep-4 0.600" in box.text.value
    with pytest.raises(traitlets.TraitError):
        box.sliders["weight"].value = 0.5
    assert box.show(1.0, 0.0, 1.0, "code", 1) == {"weight": 1.0, "plausibility": 0.0, "amateur_temperature": 1.0}
    assert "code w1.0 a0.0 i j k l\nm" in box.text.value and "parse-rate 0.000" in box.text.value
    box.corpus.value = "prose"
    assert "prose w1.0 a0.0" in box.text.value
    with pytest.raises(ConfigError, match="weight = 3"):
        box.show(3, 0.1, 1.0)
    with pytest.raises(ConfigError, match=r"corpus = 'bible' is not allowed: expected one of prose \| code"):
        box.show(1.0, 0.1, 1.0, "bible")
    with pytest.raises(ConfigError, match=r"prompt_index = 7 is not allowed: expected one of 0 \| 1"):
        box.show(1.0, 0.1, 1.0, "code", 7)


def test_weight_effect_and_static_grid():
    grid = line_grid()
    effect = contrastive_summary.weight_effect(grid, "code")
    assert effect["weights"] == [0.0, 1.0] and effect["rep_4"] == pytest.approx([0.6, 0.0])
    assert effect["parse_rate"] == pytest.approx([1.0, 0.5]) and effect["num_prompts"] == 2
    assert math.isnan(effect["parse_rate_checked"][0]) and effect["parse_rate_checked"][1] == pytest.approx(0.5)
    assert effect["unchecked_share"] == pytest.approx([1.0, 0.0])  # the w = 0 loops hold no complete line
    fig = contrastive_figures.static_grid(grid)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 2 * 4 + 1  # prose has no parse-rate panel
    assert len(visible[0].get_lines()) == 2  # one line per (a, tau)


def test_plots_draw_the_tidy_tables():
    m = _tables().metrics
    assert len(contrastive_figures.generation_by_length(m).axes) == 8
    assert len(contrastive_figures.parse_rate_by_length(m[m["corpus"] == "code"]).axes) == 1
