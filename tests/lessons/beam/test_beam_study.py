"""beam_study reads its headline from the tables (hand-made here) and its takeaway says what the numbers
say; decoded cells are cached and checked; the explorer accepts only the decoded grid's values."""
from __future__ import annotations

import json

import matplotlib
import pandas as pd
import pytest
import torch

from seqgap_lab.lessons.beam import study as bs
from seqgap_lab.lessons.beam import summary as summ
from seqgap_lab.lessons.beam import explorer as bw
from seqgap_lab.core.cache import CacheError
from seqgap_lab.core.config import ConfigError, ModelConfig
from seqgap_lab.models import build_model
from seqgap_lab.lessons.beam import figures as beam_figures
from seqgap_lab.lessons.beam import summary as beam_summary
from seqgap_lab.core import config
from seqgap_lab.probes import decode_cells

matplotlib.use("Agg")
BEAMS = (1, 2, 4)
NUM = 3  # sentences


def _metrics(s: config.DecodeSetting, shrink: bool) -> dict:
    """Hand-made numbers: without a penalty the length ratio falls with the beam (when shrink); GNMT alpha 1
    restores it and scores best; HF alpha 1 over-lengthens; coverage beta 0.2 costs 1 BLEU."""
    if s.penalty == "greedy":
        return {"bleu": 10.0, "chrf": 30.0, "length_ratio": 1.00, "empty": 0, "short": 1}
    lr = 1.0 - (0.05 * (s.beam_size - 1) if shrink else 0.0)
    bleu = 10.0 + s.beam_size * 0.5
    if s.penalty == "gnmt":
        lr, bleu = min(1.0, lr + 0.2 * s.alpha), bleu + 2.0 * s.alpha
    if s.penalty == "hf":
        lr, bleu = lr + 0.3, bleu - 1.0
    return {"bleu": bleu - 5.0 * s.beta, "chrf": 30.0, "length_ratio": lr + s.beta, "empty": 0,
            "short": 2 if s.penalty == "none" and s.beam_size > 1 else 1}


def _tables(shrink: bool = True) -> bs.BeamTables:
    values = dict(num_sentences=NUM, beams=BEAMS, gnmt_alphas=(0.0, 0.6, 1.0), hf_alphas=(0.0, 1.0), betas=(0.0, 0.2))
    rows, outputs = [], {}
    for s in bs.settings(values):
        rows.append({"label": s.label, **s.__dict__, **_metrics(s, shrink), "decode_seconds": 0.1, "from_cache": True})
        tokens = [3, 2, 4] if s.penalty == "none" and s.beam_size == 4 else [3, 3, 4]
        outputs[s.label] = pd.DataFrame({"hypothesis": [" ".join(["w"] * t) for t in tokens], "tokens": tokens,
                                         "raw": [-1.0, -2.0, -3.0], "score": [-0.5, -1.0, -1.5]})
    return bs.BeamTables(pd.DataFrame(rows), outputs, ["s0", "s1", "s2"], ["r0", "r1", "r2"], values,
                         {"sentences": NUM})


def test_settings_cover_the_grid_once():
    cells = bs.settings(decode_cells.GRIDS["smoke"])
    labels = [c.label for c in cells]
    assert len(labels) == len(set(labels)) == 1 + 3 * (2 * 2 + 1)
    assert config.beam_setting(5, "gnmt", 0.0).penalty == "none" and config.beam_setting(5, "hf", 0.0) == config.DecodeSetting(5, "none")
    assert config.DecodeSetting().config(20).method == "greedy" and config.DecodeSetting(3, "hf", 1.0).config(20).length_penalty == "hf"
    assert decode_cells.max_len_for(10) == 25 and decode_cells.max_len_for(11) == 27


def test_nmt_headline_reads_the_tables():
    head = summ.nmt_headline(_tables(), bootstrap=0)
    assert head["largest_beam"] == 4 and head["sentences"] == NUM
    assert head["greedy"]["bleu"] == 10.0
    assert head["no_penalty"]["1"]["length_ratio"] == pytest.approx(1.0)
    assert head["no_penalty"]["4"]["length_ratio"] == pytest.approx(0.85)
    assert head["gnmt"]["best_alpha"] == 1.0 and head["gnmt"]["bleu"] == pytest.approx(14.0)
    assert head["gnmt"]["best_alpha_by_beam"] == {"1": 1.0, "2": 1.0, "4": 1.0}
    assert head["hf"]["best_alpha"] == 0.0  # HF alpha 1 loses a point: no penalty wins
    assert set(head["coverage"]) == {"alpha=0 beta=0", "alpha=0 beta=0.2", "alpha=1 beta=0", "alpha=1 beta=0.2"}
    assert head["coverage"]["alpha=1 beta=0.2"]["bleu"] == pytest.approx(13.0)
    assert head["best_cell"]["label"] == "beam 4, gnmt alpha=1"
    assert "p_value_beam_vs_greedy" not in head


def test_nmt_takeaway_states_the_numbers():
    text = summ.nmt_takeaway(summ.nmt_headline(_tables(), bootstrap=0))
    assert "greedy BLEU 10.00, length ratio 1.000" in text
    assert "1: 1.000, 2: 0.950, 4: 0.850: it falls as the beam grows" in text
    assert "very short outputs (under 0.5 x the reference's tokens) go 1 -> 2" in text
    assert ("the best alpha is 1, BLEU 14.00 vs 12.00 without (+2.00, 95% interval not computed); length ratio 1.000 "
            "vs 0.850, closer to 1") in text
    assert "HF-style |Y|^alpha length penalty at beam 4: no alpha of the grid beats no penalty" in text
    assert "alpha=1 beta=0.2: BLEU 13.00 (-1.00 vs beta 0: could not be compared)" in text
    assert "*beam 4, gnmt alpha=1*, BLEU 14.00" in text


def test_takeaway_when_beam_does_not_shorten():
    text = summ.takeaway(summ.nmt_headline(_tables(shrink=False), bootstrap=0), None, [0])
    assert "stays within ±0.01 as the beam grows" in text and "Measured with seed(s) [0]" in text


def test_paired_bootstrap_enters_the_headline():
    tables = _tables()
    tables.refs = ["w w w", "w w w", "w w w w"]
    head = summ.nmt_headline(tables, bootstrap=50)
    assert 0.0 <= head["p_value_beam_vs_greedy"] <= 1.0 and 0.0 <= head["p_value_best_gnmt_vs_no_penalty"] <= 1.0
    assert head["p_value_best_hf_vs_no_penalty"] == 1.0  # HF's best is no penalty itself: identical outputs
    tests = head["tests"]  # every comparison with its interval: 3 sentences are too few for a verdict
    assert set(tests) == {"beam_vs_greedy", "best_gnmt_vs_no_penalty", "best_hf_vs_no_penalty",
                          "coverage alpha=0 beta=0.2 vs beta=0", "coverage alpha=1 beta=0.2 vs beta=0"}
    assert tests["best_hf_vs_no_penalty"]["delta"] == 0.0 and tests["beam_vs_greedy"]["n"] == 3
    assert tests["beam_vs_greedy"]["verdict"].startswith("is not judged (n = 3")
    assert "paired bootstrap p = " in summ.nmt_takeaway(head)


def _synthetic(shrink: bool) -> bs.BeamTables:
    rows = [{"label": "greedy", **config.DecodeSetting().__dict__, "exact_match": 0.5, "length_ratio": 1.0, "short": 10,
             "empty": 0}]
    for k in BEAMS:
        for a in (0.0, 1.0):
            s = config.beam_setting(k, "gnmt", a)
            lr = 1.0 - (0.02 * k if shrink and a == 0 else 0.0)
            rows.append({"label": s.label, **s.__dict__, "exact_match": 0.5 + 0.01 * k, "length_ratio": lr, "short": 10,
                         "empty": k})
    return bs.BeamTables(pd.DataFrame(rows), {}, [], [], {}, {"sentences": 100})


@pytest.mark.parametrize("shrink", [True, False])
def test_synthetic_headline_and_takeaway(shrink):
    head = summ.synthetic_headline(_synthetic(shrink))
    assert head["largest_beam"] == 4 and head["alpha=1"]["4"]["exact_match"] == pytest.approx(0.54)
    text = summ.synthetic_takeaway(head)
    assert "greedy exact match 0.500" in text
    if shrink:
        assert "falls (0.980 -> 0.920): the short-hypothesis bias appears here too" in text
        assert "alpha 0: exact match 0.540, length ratio 0.920, 10 outputs shorter than the reference (4 empty)" in text
    else:
        assert "no short-hypothesis bias here" in text


def test_cached_cell_roundtrip_and_checks(tmp_path):
    torch.manual_seed(0)
    model = build_model(ModelConfig(d_model=16, num_heads=2, num_layers=1, ffn_dim=32, dropout=0.0), 12).eval()
    sources, key = [[4, 5, 6], [7, 8], [9, 10, 11, 5]], {"task": "t", "model": decode_cells.weights_digest(model)}
    calls = []

    def measure(ids):
        calls.append(1)
        return {"n": len(ids)}

    setting = config.DecodeSetting(2, "gnmt", 1.0, 0.2)
    first = decode_cells.cached_cell(model, sources, setting, measure, key)
    again = decode_cells.cached_cell(model, sources, setting, measure, key)
    assert not first["from_cache"] and again["from_cache"] and len(calls) == 1
    assert again["ids"] == first["ids"] and again["metrics"] == {"n": 3} and len(again["score"]) == 3
    path = next((tmp_path / "data" / "decodes").glob("beam-*.json"))
    cell = json.loads(path.read_text())
    cell["key"]["task"] = "other"
    path.write_text(json.dumps(cell))
    with pytest.raises(CacheError, match="another cell"):
        decode_cells.cached_cell(model, sources, setting, measure, key)
    path.write_text("{not json")
    with pytest.raises(CacheError, match="corrupt decode cache"):
        decode_cells.cached_cell(model, sources, setting, measure, key)


def test_widget_accepts_only_the_decoded_values():
    tables = _tables()
    values = beam_summary.grid_values(tables)
    assert values == {"beams": BEAMS, "alphas": {"gnmt": (0.0, 0.6, 1.0), "hf": (0.0, 1.0)},
                      "betas": {"gnmt": (0.0, 0.2), "hf": (0.0,)}}
    assert bw.check_setting(tables, "gnmt", 0.0, 0.2, 4) == config.DecodeSetting(4, "none", 0.0, 0.2)
    for kwargs, msg in (({"alpha": 0.3}, "alpha = 0.3 is not allowed: expected one of 0 | 0.6 | 1"),
                        ({"beam_size": 3}, "beam_size = 3 is not allowed: expected one of 1 | 2 | 4"),
                        ({"penalty": "hf", "beta": 0.2}, "beta = 0.2 is not allowed: expected one of 0 "),
                        ({"penalty": "none"}, "penalty = 'none' is not allowed: expected one of gnmt | hf")):
        args = {"penalty": "gnmt", "alpha": 0.0, "beta": 0.0, "beam_size": 4, **kwargs}
        with pytest.raises(ConfigError, match=msg.replace("|", r"\|")):
            bw.check_setting(tables, **args)
    with pytest.raises(ConfigError, match="beam_size = True"):
        bw.beam_explorer(tables, beam_size=True)


def test_explorer_redraws_and_selects():
    tables = _tables()
    box = bw.beam_explorer(tables)
    assert box.setting == config.DecodeSetting(4, "none") and box.figure_title.startswith("beam 4, no penalty: BLEU 12.00")
    assert "s1" in box.examples.value.split("</tr>")[1]  # the sentence that shrinks most comes first
    box.sliders["alpha"].value = 1.0
    assert box.setting == config.DecodeSetting(4, "gnmt", 1.0) and "BLEU 14.00" in box.numbers.value
    assert box.select(penalty="hf", alpha=1.0, beta=0.0, beam_size=2) == config.DecodeSetting(2, "hf", 1.0)
    assert box.sliders["beta"].disabled and [v for _, v in box.sliders["alpha"].options] == [0.0, 1.0]
    with pytest.raises(ConfigError, match="alpha = 0.6"):
        box.select(alpha=0.6)  # HF was decoded at alpha 1 only
    box.dropdown.value = "gnmt"
    assert box.setting == config.DecodeSetting(2, "gnmt", 1.0) and not box.sliders["beta"].disabled
    assert len(box.output.outputs) == 1


def test_static_grid_draws_every_panel():
    fig = beam_figures.static_grid(_tables())
    assert len(fig.axes) == 6
    assert len(fig.axes[0].lines) == 3 + 1 and len(fig.axes[4].lines) == 4 + 1  # cells + greedy line
