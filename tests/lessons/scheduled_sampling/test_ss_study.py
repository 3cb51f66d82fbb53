"""The scheduled-sampling study (notebook 03): grid cells, headline and takeaway on hand-made tables
(helpers.ss_tables), and the explorer widget's behaviour (its observers fire synchronously in plain pytest)."""
from __future__ import annotations

import dataclasses

import matplotlib
import matplotlib.colors
import pytest
import traitlets
from helpers import SS_CELLS, SS_LIMIT, ss_tables

from seqgap_lab.lessons.scheduled_sampling import study as ss_study, explorer as ss_explorer
from seqgap_lab.strategies.scheduled_sampling import ScheduledSampling
from seqgap_lab.lessons import common
from seqgap_lab.zoo import scheduled_sampling
from seqgap_lab.lessons.scheduled_sampling import figures as scheduled_sampling_figures
from seqgap_lab.lessons.scheduled_sampling import summary as scheduled_sampling_summary
from seqgap_lab.zoo import synthetic

matplotlib.use("Agg")


def test_cells_start_with_teacher_forcing_and_schedules_decay_within_budget():
    for profile in ("smoke", "default", "full"):
        cells = ss_study.cells(profile)
        assert cells[0].strategy == "teacher_forcing" and cells[0].p_use_gt == 1.0
        assert [c.p_use_gt for c in cells if c.schedule == "constant"] == list(scheduled_sampling.GRIDS[profile]["p_grid"])
        decaying = [c for c in cells if c.schedule != "constant"]
        assert {c.schedule for c in decaying} == {"inverse_sigmoid", "linear"}
        for c in decaying:
            assert c.p_use_gt < 0.6, (profile, c)  # p really decays within the profile's steps
            ScheduledSampling(**c.strategy_args)  # every cell's args build a valid strategy


def test_teacher_forcing_cell_shares_notebook_01_checkpoint():
    tf = ss_study.cells("default")[0]
    assert ss_study.run_configs("default", "gru", tf, 0) == synthetic.configs("default", "reverse", "gru", 0)
    ss = ss_study.run_configs("default", "gru", ss_study.cells("default")[1], 0)[2]
    assert ss.strategy == "scheduled_sampling" and ss.strategy_args["schedule"] == {"name": "constant", "p": 0.9}


def test_schedule_curves_cover_every_cell():
    curves = ss_study.schedule_curves("smoke")
    assert set(curves["label"]) == {c.label for c in ss_study.cells("smoke")}
    tf = curves[curves["label"].str.startswith("teacher forcing")]
    assert (tf["p_use_gt"] == 1.0).all()
    assert curves["p_use_gt"].between(0, 1).all()
    scheduled_sampling_figures.schedules(curves)


def test_headline_picks_the_best_ss_cell_by_exact_match():
    head = scheduled_sampling_summary.headline(ss_tables(), min_count=20)["gru"]
    assert head["best_ss"] == "constant p=0.75"
    assert head["tf_exact_match"] == pytest.approx((0.6 * 100 + 0.1 * 100) / 200)
    assert head["best_ss_exact_match"] == pytest.approx((0.7 * 100 + 0.3 * 100) / 200)
    assert head["best_ss_exact_match_beyond"] == pytest.approx(0.3)
    assert head["tf_fr_error_last_in_range"] == pytest.approx(0.2)
    assert head["best_ss_fr_error_last_in_range"] == pytest.approx(0.1)
    assert head["tf_last_in_range_position"] == SS_LIMIT
    assert head["tf_gap_beyond_range"] == pytest.approx(0.75)
    assert head["best_ss_gap_beyond_range"] == pytest.approx(0.55)


def test_takeaway_reports_help_and_harm_honestly():
    # The p=0.75 cell loses its edge for the transformer: every SS cell is then worse than TF.
    shift = {("transformer", lab): -0.5 for lab in SS_CELLS if not lab.startswith("teacher")}
    shift.update({("transformer", "constant p=0.75"): -0.6})
    head = scheduled_sampling_summary.headline(ss_tables(("gru", "transformer"), shift))
    text = scheduled_sampling_summary.takeaway(head, [0])
    gru, transformer = [line for line in text.splitlines() if line.startswith("- ")]
    assert "helps (+0.150 [" in gru and "0.500 vs 0.350" in gru  # nested successes: 30 gained, none lost
    assert "hurts (-0.150 [" in transformer and head["transformer"]["best_ss_exact_match"] < head["transformer"]["tf_exact_match"]
    equal = scheduled_sampling_summary.headline(ss_tables(shift={("gru", "constant p=0.75"): -0.3}))
    assert "no clear difference" in scheduled_sampling_summary.takeaway(equal, [0])


def test_explorer_slider_offers_only_trained_values_and_redraws():
    tables = ss_tables(("gru", "transformer"))
    box = ss_explorer.ss_explorer(tables)
    assert [v for _, v in box.slider.options] == [1.0, 0.75, 0.5]
    assert box.label == "teacher forcing (p=1)" and "teacher forcing" in box.figure_title
    assert "exact match 0.350" in box.numbers.value
    box.slider.value = 0.75
    assert box.label == "constant p=0.75" and box.figure_title.startswith("constant p=0.75")
    assert "exact match 0.500" in box.numbers.value and "beyond 0.300" in box.numbers.value
    with pytest.raises(traitlets.TraitError):
        box.slider.value = 0.9  # not trained: the slider cannot take it
    box.dropdown.value = "inverse_sigmoid"
    assert box.slider.disabled and box.label == "inverse sigmoid (to 0.33)"
    assert "exact match 0.300" in box.numbers.value
    box.dropdown.value = "constant"
    assert not box.slider.disabled and box.label == "constant p=0.75"


def test_length_grid_draws_every_cell_and_the_baseline_in_black():
    tables = ss_tables(("gru", "transformer"))
    fig = common.length_grid(tables)
    assert len(fig.axes) == 4
    lines = fig.axes[0].get_lines()
    assert len(lines) == len(SS_CELLS) + 1  # one line per cell and the training-range marker
    black = [line.get_label() for line in lines[:-1] if matplotlib.colors.to_hex(line.get_color()) == "#000000"]
    assert black == ["teacher forcing (p=1)"] == common.baseline_labels(tables)
    # the reference is the row marked baseline, not a label that happens to start with "teacher"
    moved = dataclasses.replace(tables, by_length=tables.by_length.assign(
        baseline=tables.by_length["label"] == "constant p=0.5"))
    assert common.baseline_labels(moved) == ["constant p=0.5"]


def test_cost_table_rows():
    frame = ss_study.cost_table("smoke", kinds=("gru",), repeats=1)
    assert set(frame["mode"]) == {"two_pass", "naive", "sequential"}
    assert (frame["step_time_over_tf"] > 0).all()
    scheduled_sampling_figures.ss_cost(frame)
