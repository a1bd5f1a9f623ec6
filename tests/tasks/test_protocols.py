"""Evaluation by protocol (dmlrepro.tasks.family): a column may name a protocol its row's family
evaluates; an unknown name is refused at planning in one line that lists the known ones, and a
column reads its number from that protocol's entry of the cell's metrics.json."""

from __future__ import annotations

import copy

import pytest
import yaml

from dmlrepro.plan import REPO_ROOT, build_plan
from dmlrepro.specs import PaperSpecError
from dmlrepro.tasks import get_task


def _spec_dir_with(tmp_path, paper: str, edit) -> str:
    for path in (REPO_ROOT / "paper_tables").glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text())
    spec = yaml.safe_load((tmp_path / f"{paper}.yaml").read_text())
    edit(spec)
    (tmp_path / f"{paper}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return tmp_path


@pytest.mark.parametrize("paper, table", [("csalr", "table2"), ("mhdml", "table2")])
def test_an_unknown_protocol_on_a_computed_column_is_refused_naming_the_known_ones(tmp_path, paper, table):
    def edit(spec):
        spec["tables"][table]["columns"][0]["protocol"] = "no_such_protocol"

    with pytest.raises(PaperSpecError) as error:
        build_plan({"scale": "tiny", "seeds": [0], "device": "auto", "pretrained": "auto", "data_root": None, "papers": [paper]}, spec_dir=_spec_dir_with(tmp_path, paper, edit))
    message = str(error.value)
    assert "\n" not in message
    assert "protocol 'no_such_protocol' is not evaluated by the" in message and "it evaluates:" in message


def test_a_column_reads_its_protocols_number_and_the_plain_one_the_standard_protocol():
    task = get_task("image_retrieval")
    record = {"metrics": {"recall@1": 50.0, "protocols": {"dims@1-16": {"recall@1": 20.0}}}}
    assert task.metric(record, {"metric": "recall@1"}) == 50.0
    assert task.metric(record, {"metric": "recall@1", "protocol": "dims@1-16"}) == 20.0
    assert task.metric(record, {"metric": "recall@1", "protocol": "dims@17-32"}) is None


def test_columns_differing_only_in_protocol_share_the_cell_of_their_training_dataset():
    from dmlrepro.plan import trained_on

    assert trained_on({"dataset": "brown_notredame", "train_dataset": "brown_liberty"}) == "brown_liberty"
    assert trained_on({"dataset": "sop", "protocol": "dims@1-16"}) == trained_on({"dataset": "sop"}) == "sop"
