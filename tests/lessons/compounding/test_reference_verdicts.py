"""The measures of notebook 01 prove themselves on the hand-made yardsticks: every aligned headline measure calls
the constant-hazard model 'no compounding', the rising-hazard one 'compounding', the perfect one 'no compounding',
and attributes the length failure to length, not to compounding. Positional scoring is shown to fail."""
import pytest

from seqgap_lab.lessons.compounding import study, summary

COMPOUNDING_MEASURES = ("fr_excess", "after_error_excess", "injection_excess", "exaccerr_pct_at_train_length")


@pytest.fixture(scope="module")
def head():
    return summary.headline(study.reference_study())


def test_each_yardstick_lands_on_its_side(head):
    expected = {"reverse/perfect": "no compounding", "reverse/constant hazard (no compounding)": "no compounding",
                "reverse/rising hazard (compounding)": "compounding",
                "reverse/fails past training lengths": "no compounding"}
    for name, verdict in expected.items():
        for slug in COMPOUNDING_MEASURES:
            assert head[name][f"{slug}_verdict"].split(" (")[0] == verdict, (name, slug, head[name][slug])
    for name in expected:
        want = "fails past the training lengths" if name.endswith("training lengths") else "no length failure"
        assert head[name]["length_effect_verdict"] == want, (name, head[name]["length_effect"])
        # every yardstick treats the early positions of a long input like those of a short one
        assert head[name]["matched_length_effect_verdict"].split(" (")[0] == "no length failure", name


def test_the_numbers_are_where_the_construction_puts_them(head):
    rising, flat = head["reverse/rising hazard (compounding)"], head["reverse/constant hazard (no compounding)"]
    assert rising["after_error_excess_ci"][0] > 0.05  # hazard 3% -> 30% after a mistake
    assert abs(flat["after_error_excess"]) < 0.02 and abs(flat["fr_excess"]) < 0.01
    assert head["reverse/fails past training lengths"]["length_effect"] == pytest.approx(0.5, abs=0.12)


def test_positional_scoring_would_call_a_slip_compounding(head):
    """Why the curves are aligned: scored token by token, the model that never compounds looks like one that does."""
    flat = head["reverse/constant hazard (no compounding)"]
    assert flat["fr_excess_positional_verdict"] == "compounding" and flat["fr_excess_positional"] > 0.05
    assert flat["fr_error_positional_last_in_range"] > 5 * flat["fr_error_last_in_range"]


def test_takeaway_prints_the_verdicts(head):
    text = summary.takeaway(head, [0])
    assert "*compounding*" in text and "*fails past the training lengths*" in text
