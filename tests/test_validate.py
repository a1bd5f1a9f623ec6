"""Start-up validation: impossible cells fail before any job runs, naming the parameter."""

from __future__ import annotations

import pytest

from dmlrepro.validate import validate_cell


def test_valid_cells_pass(tiny_cell):
    for cell in (tiny_cell(), tiny_cell(attention="sa"), tiny_cell(attention="csa", bases=8, groups=2),
                 tiny_cell(attention="none"), tiny_cell(model="pcb_rpp")):
        validate_cell(cell)


def test_groups_not_dividing_the_channels_fail(tiny_cell):
    with pytest.raises(ValueError, match="groups"):
        validate_cell(tiny_cell(groups=3))


def test_more_landmarks_than_positions_fail(tiny_cell):
    # tiny input 64x32: stage 3 has 4x2 = 8 positions; 1000 paper samples scale to 42 landmarks
    with pytest.raises(ValueError, match="samples"):
        validate_cell(tiny_cell(samples=1000))


def test_an_rpp_schedule_longer_than_training_fails(tiny_cell):
    cell = tiny_cell(model="pcb_rpp")
    cell["training"]["pcb_rpp"] = {"pcb_epochs": 5, "rpp_classifier_epochs": 5}
    with pytest.raises(ValueError, match="pcb_epochs"):
        validate_cell(cell)


class _Plan:
    def __init__(self, cells: dict):
        self.cells = cells


def test_validate_plan_turns_a_check_into_one_user_error_line(tiny_cell):
    from dmlrepro.errors import UserError
    from dmlrepro.validate import validate_plan

    with pytest.raises(UserError) as info:
        validate_plan(_Plan({"bad-cell": tiny_cell(groups=3)}))
    message = str(info.value)
    assert message.startswith("cell bad-cell (scale tiny): ") and "groups" in message and "\n" not in message


def test_validate_plan_lets_a_bug_keep_its_traceback(tiny_cell, monkeypatch):
    """Issue 8, defect 7: a RuntimeError (or KeyError) is a bug, not a user error."""
    from dmlrepro import validate

    def broken(*args, **kwargs):
        raise RuntimeError("shape mismatch inside the model")

    monkeypatch.setattr(validate, "build_reid_model", broken)
    with pytest.raises(RuntimeError, match="shape mismatch inside the model"):
        validate.validate_plan(_Plan({"cell": tiny_cell()}))
