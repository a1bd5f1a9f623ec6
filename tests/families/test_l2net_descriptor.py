"""The L2-Net descriptor family (CSA Tables 7-8): readable cell ids that change with what the cell
varies, the paper-scale probe at the paper's stated input and L2-Net's parameter count, and the
protocols it lists per dataset."""

from __future__ import annotations

import pytest

from dmlrepro.models.l2net import L2NET_PARAMETERS
from dmlrepro.tasks.family import family_named

ROW = {"model": "hardnet", "backbone": "l2net", "attention": "none", "groups": 1, "layers": [3],
       "deep_supervision": False, "loss": {"hardnet": 1.0}}


@pytest.fixture(scope="module")
def family():
    return family_named("patch_descriptor", "l2net_descriptor")


def test_cell_ids_name_what_varies(family, tiny_scale):
    plain = family.resolve_cell(ROW, "brown_liberty", tiny_scale, "data", "csa")
    csa = family.resolve_cell({**ROW, "attention": "csa", "bases": 16}, "brown_notredame", tiny_scale, "data", "csa")
    ral = family.resolve_cell({**ROW, "model": "ralnet", "loss": {"ral": 1.0}}, "brown_liberty", tiny_scale, "data", "csa")
    assert family.cell_id(plain).startswith("brown_liberty-hardnet-none-")
    assert family.cell_id(csa).startswith("brown_notredame-hardnet-csa-d16-l3-")
    assert family.cell_id(ral).startswith("brown_liberty-ralnet-none-") and ral["loss"] == "ral"
    assert plain["family"] == "l2net_descriptor" and plain["task"] == "patch_descriptor"
    assert plain["test_datasets"] == ["brown_notredame", "brown_yosemite", "hpatches"]
    assert csa["test_datasets"] == ["brown_liberty", "brown_yosemite"]
    assert plain["training"]["backbone"]["pretrained"] == "none"


def test_the_pretrained_override_does_not_reach_l2net(family, tiny_scale):
    cell = family.resolve_cell(ROW, "brown_liberty", {**tiny_scale, "pretrained_override": "imagenet"}, "d", "csa")
    assert cell["training"]["backbone"]["pretrained"] == "none"


def test_protocols_per_dataset(family):
    assert family.protocols("brown_yosemite") == ("test@brown_yosemite",)
    assert family.protocols("hpatches") == ("hpatches",)
    assert family.protocols("market1501") == ()


def test_the_paper_probe_is_the_papers_l2net_at_32x32(family):
    result = family.paper_probe(batch_size=2)
    assert result["input_size"] == result["expected_input_size"] == [32, 32]
    assert result["expected_parameters"] == L2NET_PARAMETERS
    assert result["parameters"] > L2NET_PARAMETERS  # the CSA module on top
