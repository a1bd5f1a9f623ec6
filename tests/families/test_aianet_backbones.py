"""The aianet family on Fig. 11's backbones (002 Sec. 5.6): each builds on the meta device at the
paper's 256x128 (the family's paper_probe covers its default BN-GoogLeNet cell only), the preset's
shape of a backbone travels only with that backbone's cells, bad backbones and too-small inputs
are one-line errors, and Fig. 11 plans its ten cells."""

from __future__ import annotations

import copy

import pytest
import yaml

from dmlrepro.config import resolve_scale
from dmlrepro.errors import UserError
from dmlrepro.families.aianet import BACKBONE_PRESET_KEYS, AiANetFamily
from dmlrepro.tasks.registry import _spec_path

FAMILY = AiANetFamily()
NEW = ("densenet121", "mobilenet_v2", "shufflenet_v2")
GAU = {"attention": "gau", "aia": True, "stages": [1, 2, 3, 4], "part_extractor": False}


def _cell(backbone: str, scale: str = "paper", **keys) -> dict:
    config = {"scale": scale, "pretrained": "none"} if scale == "paper" else {"scale": scale}
    return FAMILY.resolve_cell({"backbone": backbone, **GAU, **keys}, "cuhk03np", resolve_scale(config), "unused", "aianet")


@pytest.mark.parametrize("backbone", NEW)
def test_each_new_backbone_with_gau_builds_on_meta_at_the_paper_input(backbone):
    cell = _cell(backbone, part_extractor=True)
    assert cell["training"]["input_size"] == [256, 128]
    assert set(BACKBONE_PRESET_KEYS) & set(cell["training"]) == {backbone}
    FAMILY.validate_cell(cell)  # F_a + F_p with Gau after Blk 1-4, forward on meta at 256x128


def test_a_googlenet_cell_carries_no_other_backbones_shape():
    assert not set(BACKBONE_PRESET_KEYS) & set(_cell("googlenet", scale="smoke")["training"])


def test_a_bad_backbone_is_one_line_listing_the_known_ones():
    problem = FAMILY.cell_problem({"backbone": "vgg16"}, {"backbone": "vgg16"})
    assert "\n" not in problem
    for name in ("googlenet", "resnet50", *NEW):
        assert name in problem


def test_an_input_below_the_output_stride_is_refused_in_one_line():
    cell = _cell("shufflenet_v2", scale="smoke")
    cell = copy.deepcopy(cell)
    cell["training"]["input_size"] = [64, 16]
    with pytest.raises(UserError) as error:
        FAMILY.validate_cell(cell)
    assert "\n" not in str(error.value) and "shufflenet_v2" in str(error.value)


def test_fig11_plans_ten_cells_five_backbones_with_and_without_gau():
    from dmlrepro.plan import Plan, _plan_figure

    spec = yaml.safe_load(_spec_path("aianet").read_text())
    figure = spec["figures"]["fig11"]
    scale = resolve_scale({"scale": "smoke"})
    plan = Plan(config={}, scale=scale, specs={"aianet": spec})
    figure_plan = _plan_figure(plan, "aianet", spec, "fig11", figure, scale, "unused", _spec_path("aianet"))
    cells = [plan.cells[c] for c in figure_plan.cells]
    assert len(cells) == 10 and {c["dataset"] for c in cells} == {"cuhk03np"}
    pairs = {(c["model"]["backbone"], c["model"]["attention"]) for c in cells}
    assert pairs == {(b, a) for b in ("resnet50", "googlenet", *NEW) for a in ("none", "gau")}
    assert all(c["model"]["part_extractor"] is False for c in cells)
    assert all(c["model"]["stages"] == [1, 2, 3, 4] and c["model"]["aia"] is True
               for c in cells if c["model"]["attention"] == "gau")
