"""The re-ID datasets AiA-Net adds to the task (tasks/reid.py): CUHK03-NP labeled, the vanilla
CUHK03 boxes, MSMT17, CUHK01 and Market-1501's gt_bbox, each generated and read back."""

from __future__ import annotations

import pytest

from dmlrepro.errors import UserError
from dmlrepro.tasks.reid import ReIDTask, load_reid_data

TASK = ReIDTask()
SIZES = {"train_ids": 4, "test_ids": 4}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("aia_data")
    for dataset in ("cuhk03np_labeled", "cuhk03", "market1501"):
        TASK.make_data(dataset, root, 0, SIZES)
    return root


def test_labeled_and_detected_are_different_datasets(root):
    labeled = load_reid_data("cuhk03np_labeled", root)
    assert labeled.root.parts[-2:] == ("cuhk03-np", "labeled") and labeled.num_train_pids == 4
    detected, vanilla_labeled = load_reid_data("cuhk03", root), load_reid_data("cuhk03_labeled", root)
    assert detected.name == "cuhk03_classic_detected" and vanilla_labeled.name == "cuhk03_classic_labeled"
    assert TASK.check_data("cuhk03np_labeled", root)["train_ids"] == 4


def test_market_gt_bbox_holds_every_query_identity_camera(root):
    from dmlrepro.data.market1501_gt_bbox import read_gt_bbox

    market = load_reid_data("market1501", root)
    items = read_gt_bbox(market.root)
    assert {(p, c) for _, p, c in market.query} <= {(p, c) for _, p, c in items}
    assert len(items) > len(market.query)


def test_missing_gt_bbox_is_one_line_naming_the_folder(tmp_path):
    from dmlrepro.data.market1501_gt_bbox import read_gt_bbox

    with pytest.raises(UserError, match=r"gt_bbox: missing folder .*unpack gt_bbox/"):
        read_gt_bbox(tmp_path)


def test_labeled_layout_missing_is_reported(tmp_path):
    with pytest.raises(UserError, match="cuhk03np_labeled"):
        load_reid_data("cuhk03np_labeled", tmp_path)
