"""AiA-Net on the torchvision backbones of Sec. 5.6 / Fig. 11 (dmlrepro.models.aianet with
dmlrepro.models.torchvision_backbones): the attention is really inserted after each chosen block
(parameters grow by exactly the blocks' count, and each block runs in the forward pass), F_a and
F_a + F_p give the paper's feature sizes."""

from __future__ import annotations

import pytest
import torch

from dmlrepro.attention import build_attention
from dmlrepro.attention.aia_base import rounded_reduction
from dmlrepro.models.aianet import build_aianet

THIN = {
    "densenet121": {"growth_rate": 8, "block_config": (2, 2, 2, 2), "num_init_features": 16, "bn_size": 2},
    "mobilenet_v2": {"width_mult": 0.25, "repeats": (1, 1, 1, 1, 1, 1, 1)},
    "shufflenet_v2": {"stages_repeats": (1, 1, 1), "stages_out_channels": (8, 32, 64, 128, 256)},
}


def _cell(name: str, **keys) -> dict:
    return {"backbone": name, "backbone_kwargs": THIN[name], "part_extractor": False, **keys}


@pytest.mark.parametrize("name", sorted(THIN))
def test_gau_after_blk_1_to_4_adds_exactly_the_four_blocks_and_each_runs(name):
    gau = {"attention": "gau", "aia": True, "stages": [1, 2, 3, 4], "reduction": 8, "c_prime": 48}
    with rounded_reduction():
        torch.manual_seed(0)
        plain = build_aianet(_cell(name), num_classes=6)
        model = build_aianet(_cell(name, **gau), num_classes=6)
        expected = sum(sum(p.numel() for p in build_attention("gau_aia", c, reduction=8, c_prime=48).parameters())
                       for c in plain.backbone.stage_channels)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(model) - count(plain) == expected > 0
    assert sorted(model.attention) == ["1", "2", "3", "4"]
    seen = []
    for key, module in model.attention.items():
        module.register_forward_hook(lambda m, i, o, key=key: seen.append((key, i[0].shape[1])))
    model.train()
    output = model(torch.randn(4, 3, 64, 32))
    assert seen == [(str(k + 1), c) for k, c in enumerate(plain.backbone.stage_channels)]
    assert [tuple(t.shape) for t in output.logits] == [(4, 6)]
    assert [tuple(t.shape) for t in output.embeddings] == [(4, 512)]
    assert tuple(model.eval()(torch.randn(2, 3, 64, 32)).shape) == (2, 512)


@pytest.mark.parametrize("name", sorted(THIN))
def test_the_part_extractor_builds_on_each_backbone(name):
    model = build_aianet({**_cell(name), "part_extractor": True}, num_classes=5).train()
    output = model(torch.randn(2, 3, 64, 32))
    assert [tuple(t.shape) for t in output.embeddings] == [(2, 512), (2, 512)]
    assert len(model.part_streams) == 4 and len(model.part_streams[0]) == 2  # copies of Blk 3 and Blk 4
    assert tuple(model.eval()(torch.randn(2, 3, 64, 32)).shape) == (2, 1024)


def test_an_unknown_backbone_names_every_known_one():
    with pytest.raises(ValueError, match="resnet50.*densenet121.*mobilenet_v2.*shufflenet_v2"):
        build_aianet({"backbone": "vgg16"}, num_classes=3)
