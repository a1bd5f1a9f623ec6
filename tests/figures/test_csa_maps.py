"""CSA Figure 5 (001_5fbd5da13318fd56.txt, "Visualization of Attention Maps"): base attention maps
B (Eq. 3) and reconstructed maps A_i = Σ_k W_ki B_k (Eq. 4) of the first CSA module, drawn from a
tiny trained cell through the workflow's manifest; the maps equal a float64 recomputation from the
module's M, and the selection helpers pick what their docstrings say (most used bases; nearest base by correlation)."""

from __future__ import annotations

import pytest
import torch

from dmlrepro.errors import UserError
from dmlrepro.figures import csa_maps
from dmlrepro.figures.attention_maps import first_module_input, load_trained
from dmlrepro.figures.manifest import figure_manifest
from dmlrepro.models.build import build_reid_model
from dmlrepro.plan import FigurePlan, FigurePoint

PNG = b"\x89PNG"
CSA_CELL = {"attention": "csa", "bases": 4, "groups": 2, "stages": [1, 2, 3], "ds_branch": "response"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_scale, tiny_market):
    """A tiny CSA cell trained by the re-ID trainer (tiny preset: 3 epochs at 64×32) into
    <tmp>/cells/<cell>/seed0/, as the workflow lays it out."""
    from dmlrepro.cells import cell_id, resolve_reid_cell
    from dmlrepro.training.reid_trainer import train_reid_cell

    cell = resolve_reid_cell(dict(CSA_CELL), "market1501", tiny_scale, str(tiny_market), "csa")
    cells = tmp_path_factory.mktemp("fig5") / "cells"
    cid = cell_id(cell)
    out = cells / cid / "seed0"
    train_reid_cell(cell, seed=0, out_dir=out, checkpoint_dir=cells.parent / "ckpt", threads=1, progress=False)
    return cells, cid


def manifest_of(cells, cid) -> dict:
    spec = {"number": 5, "caption": "Visualization of the base attention maps and the reconstructed attention maps.",
            "kind": "attention_maps", "dataset": "market1501", "cell": {}}
    plan = FigurePlan("csa", "fig5", spec, "csa_maps", {FigurePoint(None, None, "market1501"): cid})
    return figure_manifest(plan, {"source": "001_5fbd5da13318fd56.txt"}, "tiny", [0], str(cells))


def test_figure5_is_drawn_from_a_trained_cell_a_row_per_image(trained, tmp_path):
    cells, cid = trained
    figure, summary = csa_maps.draw(manifest_of(cells, cid))
    columns = 1 + csa_maps.BASE_MAPS + len(csa_maps.POSITIONS)
    assert columns == 9  # the image, "two base attention maps and six reconstructed attention maps"
    assert len(figure.axes) == csa_maps.IMAGES * columns
    out = tmp_path / "fig5.png"
    figure.savefig(out, format="png")
    assert out.read_bytes()[:4] == PNG
    assert len(summary) == csa_maps.IMAGES and all(cid in line for line in summary)
    assert summary[0].startswith("market1501 query 0: base maps [")


def test_the_maps_are_the_modules_b_w_and_their_product(trained):
    """B sums to 1 over positions, W over the D maps, and every A_i equals Σ_k W_ki B_k recomputed
    in float64 from the module's M = maps(x) (Eq. 3–4)."""
    cells, cid = trained
    model, cell = load_trained(cells / cid / "seed0" / "model.pt", attention="csa")
    torch.manual_seed(0)
    image = torch.randn(3, *cell["training"]["input_size"])
    maps = csa_maps.csa_maps(model, image)
    module, x = first_module_input(model, image)
    assert (maps.height, maps.width) == x.shape[2:] == (16, 8)  # stage 1 of a 64×32 input
    d = module.bases
    m = module.maps(x).double().flatten(2).unflatten(1, (module.groups, d))[0, csa_maps.GROUP]  # [D, HW]
    b, w = m.softmax(dim=1), m.softmax(dim=0)
    torch.testing.assert_close(maps.bases.double().flatten(1), b, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(maps.weights.double().flatten(1), w, atol=1e-6, rtol=1e-5)
    reference = torch.einsum("ki,kj->ij", w, b).reshape(maps.reconstructed.shape)
    torch.testing.assert_close(maps.reconstructed.double(), reference, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(maps.reconstructed.sum(dim=(2, 3)), torch.ones(16, 8), atol=1e-5, rtol=0)


def _maps(weights: torch.Tensor, bases: torch.Tensor, reconstructed: torch.Tensor) -> csa_maps.CSAMaps:
    return csa_maps.CSAMaps(bases.shape[1], bases.shape[2], bases, weights, reconstructed)


def test_the_shown_bases_are_the_most_used_and_each_map_is_matched_to_its_nearest_base():
    h, w = 2, 3
    bases = torch.zeros(4, h, w)
    for k in range(4):
        bases[k].view(-1)[k] = 1.0  # base k attends to position k only
    weights = torch.zeros(4, h, w)
    weights[2] = 0.6  # base 2 carries most weight everywhere, then 0, then 1 and 3 (a tie)
    weights[0] = 0.2
    weights[1] = weights[3] = 0.1
    reconstructed = torch.zeros(h, w, h, w)
    reconstructed[0, 0] = 0.7 * bases[3] + 0.3 * bases[1]
    maps = _maps(weights, bases, reconstructed)
    assert csa_maps.most_used_bases(maps) == [2, 0]
    assert csa_maps.most_used_bases(maps, count=4) == [2, 0, 1, 3]  # a tie goes to the lower index
    k, r = csa_maps.nearest_base(maps, 0, 0)
    pearson = torch.corrcoef(torch.stack([reconstructed[0, 0].flatten(), bases[3].flatten()]).double())[0, 1]
    assert k == 3 and r == pytest.approx(float(pearson))
    assert r == pytest.approx((0.7 - 1 / 6) / ((0.7 ** 2 + 0.3 ** 2 - 1 / 6) * (5 / 6)) ** 0.5)  # by hand
    assert csa_maps.position_index((0.12, 0.5), 16, 8) == (1, 4)
    assert csa_maps.position_index((1.0, 1.0), 16, 8) == (15, 7)


def test_a_cell_without_csa_is_refused(tmp_path, tiny_cell):
    cell = tiny_cell(attention="csalr")
    model = build_reid_model(cell, 5, load_pretrained=False)
    path = tmp_path / "model.pt"
    torch.save({"cell": cell, "num_classes": 5, "model": model.state_dict()}, path)
    with pytest.raises(UserError, match="CSA Figure 5 needs a CSA cell, this one has attention='csalr'"):
        load_trained(path, attention="csa")


def test_a_missing_model_is_one_line_naming_the_point(tmp_path):
    with pytest.raises(UserError) as info:
        csa_maps.draw(manifest_of(tmp_path / "cells", "market1501-pcb-csa-d32g2-st123-dsresp-00000000"))
    message = str(info.value)
    assert "\n" not in message and "csa fig5 on market1501" in message and "seed0/model.pt is missing" in message
