"""CSALR Figure 4 (000_6bea8c3e96cdf0f5.txt Sec. 4.8): the maps come from the first CSALR module."""

from __future__ import annotations

import pytest
import torch

from dmlrepro.errors import UserError
from dmlrepro.figures.attention_maps import attention_at_first_module, load_trained
from dmlrepro.models.build import build_reid_model


def saved(tmp_path, cell, num_classes: int = 5):
    model = build_reid_model(cell, num_classes, load_pretrained=False)
    path = tmp_path / "model.pt"
    torch.save({"cell": cell, "num_classes": num_classes, "model": model.state_dict()}, path)
    return path


def test_maps_of_the_first_module_are_row_stochastic(tmp_path, tiny_cell):
    """A (Eq. 10) and W·B (Eq. 14) of the first stage's module; both rows sum to 1."""
    torch.manual_seed(0)
    model, _ = load_trained(saved(tmp_path, tiny_cell(stages=[2, 3])))
    original, reconstructed, height, width = attention_at_first_module(model, torch.randn(3, 64, 32))
    n = height * width
    assert (height, width) == (8, 4)  # stage 2 of a 64×32 input
    assert original.shape == reconstructed.shape == (n, n)
    torch.testing.assert_close(original.sum(-1), torch.ones(n))
    torch.testing.assert_close(reconstructed.sum(-1), torch.ones(n), atol=1e-4, rtol=0)


def test_a_cell_without_csalr_is_a_user_error(tmp_path, tiny_cell):
    with pytest.raises(UserError, match="CSALR"):
        load_trained(saved(tmp_path, tiny_cell(attention="sa")))


def test_the_workflow_manifest_names_the_one_cell_whose_maps_are_drawn(tmp_path):
    """The workflow calls every renderer with a manifest; CSALR's maps read its single point."""
    import argparse
    import json

    from dmlrepro.figures.attention_maps import _from_manifest

    point = {"dataset": "market1501", "x": None, "cell": "c", "metrics": [], "model": str(tmp_path / "model.pt")}
    manifest = {"paper": "csalr", "figure": "fig4", "caption": "maps",
                "panels": [{"panel": None, "series": [{"label": None, "points": [point]}]}]}
    (tmp_path / "model.pt").write_bytes(b"")
    args = argparse.Namespace(manifest_json=json.dumps(manifest), manifest=None)
    assert _from_manifest(args) == (tmp_path / "model.pt", "maps")
    manifest["panels"][0]["series"][0]["points"].append(dict(point, dataset="dukemtmc"))
    with pytest.raises(UserError, match="draw one cell, the manifest names 2"):
        _from_manifest(argparse.Namespace(manifest_json=json.dumps(manifest), manifest=None))
