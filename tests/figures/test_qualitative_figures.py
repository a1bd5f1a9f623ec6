"""MHDML Figure 4 (top-4 retrievals) and Figure 6 (SOA maps of four locations), 003_72cd4b33cee60b89.txt,
drawn from model.pt files of small untrained multi-head models on generated datasets: the
rankings are the cosine rankings of the evaluation (query left out, ties to the lower index,
In-Shop against its gallery), the maps are rows of the SOA matrix (Eq. 1), and a missing model
is one line naming the point."""

from __future__ import annotations

import pytest
import torch

from dmlrepro.errors import UserError
from dmlrepro.figures import ranking_examples, soa_maps
from dmlrepro.figures.manifest import figure_manifest
from dmlrepro.plan import FigurePlan, FigurePoint
from dmlrepro.tasks import get_task

PAPER_CELL = {"model": "mhdml", "backbone": "resnet50", "attention": "soa", "descriptors": ["global", "local"],
              "attention_heads": "multi", "pooling": "gap+gmp", "embedding_dim": 16,
              "loss": {"ms": 1.0, "proxy_anchor": 0.03}}
PNG = b"\x89PNG"


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    from dmlrepro.data.retrieval.synthetic_retrieval import generate_retrieval_dataset

    root = tmp_path_factory.mktemp("retrieval")
    for name in ("cars196", "cub200", "inshop"):
        generate_retrieval_dataset(root, name, seed=0, num_train_classes=3, num_test_classes=4,
                                   images_min=3, images_max=4)
    return root


def saved_models(tmp_path, tiny_scale, data_root, datasets, **paper_cell) -> dict[str, str]:
    """dataset → cell id, each with an untrained tiny model in <tmp>/cells/<cell>/seed0/model.pt."""
    from dmlrepro.models.multi_head_embedding import build_multi_head_model

    task = get_task("image_retrieval")
    ids = {}
    for dataset in datasets:
        cell = task.resolve_cell({**PAPER_CELL, **paper_cell}, dataset, tiny_scale, str(data_root), "mhdml")
        torch.manual_seed(0)
        model = build_multi_head_model({**cell["model"], "backbone": cell["training"]["backbone"]}, load_pretrained=False)
        if model.heads["global" if "global" in model.heads else next(iter(model.heads))].soa is not None:
            for head in model.heads.values():  # a trained SOA's φ is not zero: give the maps something to show
                torch.nn.init.normal_(head.soa.phi.weight, std=0.1)
        cid = task.cell_id(cell)
        path = tmp_path / "cells" / cid / "seed0" / "model.pt"
        path.parent.mkdir(parents=True)
        torch.save({"cell": cell, "num_classes": 3, "model": model.state_dict()}, path)
        ids[dataset] = cid
    return ids


def manifest(tmp_path, figure: str, kind: str, renderer: str, ids: dict[str, str]) -> dict:
    spec = {"number": int(figure[3:]), "caption": "a caption", "kind": kind, "datasets": list(ids), "cell": {}}
    plan = FigurePlan("mhdml", figure, spec, renderer, {FigurePoint(None, None, d): cid for d, cid in ids.items()})
    return figure_manifest(plan, {"source": "003_72cd4b33cee60b89.txt"}, "tiny", [0], str(tmp_path / "cells"))


def test_top_k_ranks_by_cosine_leaves_the_query_out_and_breaks_ties_by_index():
    torch.manual_seed(0)
    references = torch.randn(30, 8)
    references[7] = references[3] * 2.0  # same direction: a tie in cosine with item 3
    query = references[3].clone()
    top = ranking_examples.top_k(query, references, self_index=3, k=4)
    assert 3 not in top and top[0] == 7
    similarity = torch.nn.functional.normalize(references, dim=1) @ torch.nn.functional.normalize(query, dim=0)
    similarity[3] = -2
    assert top == sorted(range(30), key=lambda i: (-similarity[i].item(), i))[:4]
    tied = torch.ones(5, 2)
    assert ranking_examples.top_k(torch.ones(2), tied, self_index=None, k=3) == [0, 1, 2]


def test_the_queries_are_spread_over_those_with_a_positive():
    labels = [0, 0, 1, 2, 2, 3, 3, 3, 4]  # 1 and 4 have a single image: no positive without themselves
    chosen = ranking_examples.chosen_queries(labels, labels, exclude_self=True, count=3)
    assert chosen == [0, 4, 7]
    assert ranking_examples.chosen_queries([5, 1], [1, 1], exclude_self=False, count=2) == [1]


def test_rankings_of_every_dataset_follow_its_protocol(tmp_path, tiny_scale, data_root):
    ids = saved_models(tmp_path, tiny_scale, data_root, ("cars196", "inshop"))
    found = ranking_examples.rankings(manifest(tmp_path, "fig4", "ranking_examples", "ranking_examples", ids))
    assert [f["dataset"] for f in found] == ["cars196", "inshop"]
    from dmlrepro.data.retrieval import build_retrieval_dataset

    for entry in found:
        queries, references, exclude_self = build_retrieval_dataset(entry["dataset"], data_root).retrieval_sets()
        assert exclude_self == (entry["dataset"] != "inshop")
        assert len(entry["rows"]) == ranking_examples.QUERIES_PER_DATASET
        for row in entry["rows"]:
            indices = [i for i, _, _ in row["retrieved"]]
            assert len(indices) == ranking_examples.TOP_K == len(set(indices))
            if exclude_self:
                assert row["query"] not in indices
            assert [c for _, _, c in row["retrieved"]] == [references[i][1] == queries[row["query"]][1] for i in indices]


def test_figure4_is_a_png_with_a_row_per_query(tmp_path, tiny_scale, data_root):
    ids = saved_models(tmp_path, tiny_scale, data_root, ("cars196", "cub200"))
    figure, summary = ranking_examples.draw(manifest(tmp_path, "fig4", "ranking_examples", "ranking_examples", ids))
    assert len(figure.axes) == 2 * ranking_examples.QUERIES_PER_DATASET * (ranking_examples.TOP_K + 1)
    out = tmp_path / "fig4.png"
    figure.savefig(out, format="png")
    assert out.read_bytes()[:4] == PNG and len(summary) == 4


def test_soa_maps_are_rows_of_the_attention_matrix(tmp_path, tiny_scale, data_root):
    ids = saved_models(tmp_path, tiny_scale, data_root, ("cars196",))
    from dmlrepro.figures.retrieval_model import load_retrieval_cell

    model, _ = load_retrieval_cell(tmp_path / "cells" / ids["cars196"] / "seed0" / "model.pt")
    torch.manual_seed(1)
    image = torch.randn(3, 64, 64)
    maps = soa_maps.soa_maps(model, image)
    assert set(maps) == {"local", "global"}
    assert maps["local"].shape == (4, 4, 4, 4) and maps["global"].shape == (2, 2, 2, 2)  # 64 / 16 and / 32
    for a in maps.values():
        torch.testing.assert_close(a.sum(dim=(2, 3)), torch.ones(a.shape[:2]))
    assert soa_maps.location_index((0.1, 0.1), 4, 4) == (0, 0)
    assert soa_maps.location_index((0.65, 0.35), 4, 4) == (2, 1)
    assert soa_maps.location_index((1.0, 1.0), 2, 2) == (1, 1)


def test_figure6_draws_a_row_per_head_and_dataset(tmp_path, tiny_scale, data_root):
    ids = saved_models(tmp_path, tiny_scale, data_root, ("cars196", "cub200"))
    figure, summary = soa_maps.draw(manifest(tmp_path, "fig6", "attention_maps", "soa_maps", ids))
    assert len(figure.axes) == 2 * 2 * (len(soa_maps.LOCATIONS) + 1)
    out = tmp_path / "fig6.png"
    figure.savefig(out, format="png")
    assert out.read_bytes()[:4] == PNG
    assert [line.split(" ")[:2] for line in summary] == [["cars196", "local"], ["cars196", "global"],
                                                         ["cub200", "local"], ["cub200", "global"]]


def test_maps_of_a_model_without_soa_are_refused(tmp_path, tiny_scale, data_root):
    ids = saved_models(tmp_path, tiny_scale, data_root, ("cars196",), attention="none")
    with pytest.raises(UserError, match="no second-order attention"):
        soa_maps.draw(manifest(tmp_path, "fig6", "attention_maps", "soa_maps", ids))


@pytest.mark.parametrize("module", [ranking_examples, soa_maps])
def test_a_missing_model_is_one_line_naming_the_point(tmp_path, module):
    ids = {"cars196": "cars196-mhdml-d512-both-soa-ms1pa0.03-00000000"}
    with pytest.raises(UserError) as info:
        module.draw(manifest(tmp_path, "fig6", "attention_maps", "soa_maps", ids))
    message = str(info.value)
    assert "\n" not in message and "mhdml fig6 on cars196" in message and "seed0/model.pt is missing" in message
