"""What counts as a deviation from the paper's setting: only what changes what a run computes."""

from dmlrepro.tables.comparability import setting_deviations


def test_the_evaluation_batch_is_not_a_deviation_but_the_training_batch_is():
    paper = {"batch_size": 64, "eval_batch_size": 1024}
    assert setting_deviations({"batch_size": 64, "eval_batch_size": 128}, paper) == []
    assert setting_deviations({"batch_size": 32, "eval_batch_size": 1024}, paper) == ["batch 32 (paper 64)"]


def test_a_per_model_setting_compares_only_the_cells_model():
    paper = {"batch_size": {"hardnet": 1024, "ralnet": 512}}
    run = {"batch_size": {"hardnet": 1024, "ralnet": 64}}
    assert setting_deviations(run, paper, {"name": "hardnet"}) == []
    assert setting_deviations(run, paper, "ralnet") == ["batch 64 (paper 512)"]
