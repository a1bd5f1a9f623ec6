"""AiA-Net's attention heat maps (dmlrepro.figures.aianet_maps, Fig. 9) from a tiny trained cell."""

from __future__ import annotations

import pytest
import torch

from dmlrepro.config import resolve_scale
from dmlrepro.errors import UserError
from dmlrepro.families.aianet import AiANetFamily
from dmlrepro.figures.aianet_maps import attention_input_output, draw, heat, load_aianet_cell


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from dmlrepro.data import build_reid_dataset
    from dmlrepro.data.market1501_gt_bbox import write_synthetic_gt_bbox
    from dmlrepro.data.synthetic import generate_reid_dataset

    root = tmp_path_factory.mktemp("maps")
    generate_reid_dataset(root, "market1501", seed=0, num_train_ids=8, num_test_ids=8)
    data = build_reid_dataset("market1501", root)
    write_synthetic_gt_bbox(data.root, data.query, data.gallery)
    cell = AiANetFamily().resolve_cell({"model": "aianet", "attention": "gau", "stages": [1, 2]}, "market1501",
                                       resolve_scale({"scale": "tiny"}), str(root), "aianet")
    cell["training"]["epochs"] = 1
    AiANetFamily().train_cell(cell, 0, root / "out", root / "ck", threads=1, progress=False)
    return root / "out" / "model.pt"


def test_the_block_after_blk2_is_drawn_and_its_output_is_the_masked_input(trained):
    model, cell = load_aianet_cell(trained)
    image = torch.randn(3, *cell["training"]["input_size"])
    stage, x, xz = attention_input_output(model, image)
    assert stage == 2 and x.shape == xz.shape and x.shape[0] == model.backbone.stage_channels[1]
    # Gau-attention w/ AiA is a sigmoid mask times X: |X^z| <= |X| everywhere
    assert bool((xz.abs() <= x.abs() + 1e-6).all())
    h = heat(x, (16, 8))
    assert h.shape == (16, 8) and float(h.min()) >= 0 and float(h.max()) <= 1


def test_draws_one_row_per_dataset_and_refuses_a_model_without_attention(trained, tmp_path):
    manifest = {"paper": "aianet", "figure": "fig9", "number": 9, "kind": "attention_maps", "caption": "c",
                "scale": "tiny", "seeds": [0],
                "panels": [{"panel": None, "series": [{"label": None, "points": [
                    {"dataset": "market1501", "cell": "x", "model": str(trained)}]}]}]}
    figure, summary = draw(manifest)
    assert len(figure.axes) == 3 and "Blk 2" in summary[0]
    model, _ = load_aianet_cell(trained)
    model.attention.clear()
    with pytest.raises(UserError, match="no attention block"):
        attention_input_output(model, torch.randn(3, 64, 32))


def test_a_split_cell_draws_its_own_split_and_says_which(trained, monkeypatch):
    """A figure is one model: on CUHK03 vanilla it reads the query image of the split its cell
    trained on (not split 0's) and names that split."""
    import dmlrepro.figures.aianet_maps as maps
    import dmlrepro.tasks.reid as reid

    model, cell = load_aianet_cell(trained)
    market = reid.load_reid_data(cell["dataset"], cell["data_root"])
    asked = []
    monkeypatch.setattr(maps, "load_aianet_cell", lambda path, device: (model, {**cell, "dataset": "cuhk03", "split": 3}))
    monkeypatch.setattr(reid, "load_reid_data", lambda dataset, root, split=0: asked.append((dataset, split)) or market)
    manifest = {"paper": "aianet", "figure": "fig9", "number": 9, "kind": "attention_maps", "caption": "c",
                "scale": "tiny", "seeds": [0],
                "panels": [{"panel": None, "series": [{"label": None, "points": [
                    {"dataset": "cuhk03", "cell": "x", "model": str(trained)}]}]}]}
    figure, summary = draw(manifest)
    assert asked == [("cuhk03", 3)] and summary[0].startswith("cuhk03 (split 3): ")
    assert "(split 3)" in figure.axes[0].get_title()
