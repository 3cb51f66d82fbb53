"""models/reference.py: the hand-made yardsticks behave as built (their verdicts: tests/lessons/compounding)."""
import pytest
import torch

from seqgap_lab.core.config import TaskConfig
from seqgap_lab.data.batching import collate
from seqgap_lab.data.synthetic.tasks import make_task
from seqgap_lab.models.reference import ReferenceModel, reference_models, uniform_hash
from seqgap_lab.probes.exposure import rollout, token_errors

TASK = make_task(TaskConfig(name="reverse", num_train=10, num_dev=10, num_test=400, min_len=4, train_max_len=10,
                            test_max_len=16))
TEST = TASK.make_splits().test
MODELS = reference_models(len(TASK.vocab), TASK.output_symbol_ids(), train_positions=11)


@pytest.mark.parametrize("name", list(MODELS))
def test_step_by_step_equals_the_teacher_forced_forward(name):
    model, batch = MODELS[name], collate(TEST[:50])
    forward = model(batch.src, batch.tgt_in, batch.src_mask)
    gold = batch.tgt_out.masked_fill(~batch.tgt_mask, 0)
    stepped = rollout(model, batch, forced=gold, keep_log_probs=True)["log_probs"]
    mask = batch.tgt_mask
    assert torch.allclose(forward.log_softmax(-1)[mask], stepped[mask])


def test_perfect_model_writes_the_oracle_and_copy_works():
    errors = token_errors(MODELS["perfect"], TEST)
    assert not errors["tf_error"].any() and not errors["fr_error"].any()
    copy = make_task(TaskConfig(name="copy", num_train=5, num_dev=5, num_test=50, min_len=3, train_max_len=8,
                                test_max_len=8))
    model = ReferenceModel(len(copy.vocab), copy.output_symbol_ids(), order="copy")
    assert not token_errors(model, copy.make_splits().test)["fr_error"].any()


def test_hazards_are_the_rates_they_were_set_to():
    # Teacher-forced, every step reads a clean prefix: the slip rate is the clean hazard (3%), within noise.
    errors = token_errors(MODELS["constant hazard (no compounding)"], TEST, free_running=False)
    symbols = errors[errors["position"] <= errors["length"]]
    assert symbols["tf_error"].mean() == pytest.approx(0.03, abs=0.01)
    past = token_errors(MODELS["fails past training lengths"], TEST, free_running=False)
    assert not past[past["position"] <= 11]["tf_error"].any()
    beyond = past[(past["position"] > 11) & (past["position"] <= past["length"])]
    assert beyond["tf_error"].mean() == pytest.approx(0.5, abs=0.08)


def test_uniform_hash_is_uniform_and_deterministic():
    keys = torch.arange(20000)
    u = uniform_hash(keys, 3, 0)
    assert torch.equal(u, uniform_hash(keys, 3, 0)) and not torch.equal(u, uniform_hash(keys, 4, 0))
    assert 0 <= u.min() and u.max() < 1 and abs(float(u.mean()) - 0.5) < 0.01
    assert abs(float((u < 0.03).double().mean()) - 0.03) < 0.005


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="hazard = 1.5"):
        ReferenceModel(10, [3, 4], hazard=1.5)
    with pytest.raises(ValueError, match="order = 'sideways'"):
        ReferenceModel(10, [3, 4], order="sideways")
    with pytest.raises(ValueError, match="at least 2 symbol ids"):
        ReferenceModel(10, [3])
