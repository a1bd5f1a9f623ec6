"""AiA-Net's BN-GoogLeNet (002_e585b7ac4801a221.txt Sec. 4.4; implementation-facts §3)."""

from __future__ import annotations

import pytest
import torch

from dmlrepro.models.googlenet_bn import GoogLeNetBN, stage_strides


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_block_shapes_at_256x128_follow_the_paper_and_the_public_code():
    # Blk 1 (stem) 192×32×16; Blk 2 (3a, 3b, pool) 480×16×8 — Table 8's "480 × 16 × 8";
    # Blk 3 (4a–4e, pool) 832×8×4; Blk 4 (5a, 5b, no pool) 1024×8×4.
    with torch.device("meta"):
        backbone = GoogLeNetBN()
        outputs = backbone(torch.empty(1, 3, 256, 128))
    assert [tuple(o.shape[1:]) for o in outputs] == [(192, 32, 16), (480, 16, 8), (832, 8, 4), (1024, 8, 4)]
    assert backbone.stage_channels == (192, 480, 832, 1024)
    assert [256 // s for s in stage_strides()] == [o.shape[2] for o in outputs]


def test_stem_and_stages_walk_gives_the_forward_outputs():
    # The ResNetBackbone interface (stem + stages) is what AiANet walks.
    backbone = GoogLeNetBN(width_divisor=8).eval()
    x = torch.randn(1, 3, 64, 32)
    with torch.no_grad():
        y = backbone.stem(x)
        walked = []
        for stage in backbone.stages():
            y = stage(y)
            walked.append(y)
        outputs = backbone(x)
    assert backbone.blocks() == backbone.stages()
    assert all(torch.equal(a, b) for a, b in zip(walked, outputs))


def test_inception_4a_uses_the_public_codes_204_wide_3x3_branch_by_default():
    code = GoogLeNetBN()
    standard = GoogLeNetBN(inception_4a_3x3=208)
    assert code.blk3.inception4a.out_channels == 508  # 192 + 204 + 48 + 64
    assert code.blk3.inception4b.branch1.conv.in_channels == 508
    assert standard.blk3.inception4a.out_channels == 512
    # Nothing after 4a changes: 4e still outputs 832.
    assert code.stage_channels == standard.stage_channels


def test_parameter_count_of_the_backbone_is_documented():
    # No paper row is the bare backbone; these exact counts (convolutions with bias, as in the
    # public code) feed the F_a / F_p comparisons in test_aianet.py.
    backbone = GoogLeNetBN()
    assert [_count(s) for s in backbone.stages()] == [125_056, 554_448, 2_811_588, 2_556_672]
    assert _count(backbone) == 6_047_764
    assert _count(GoogLeNetBN(inception_4a_3x3=208)) == 6_052_672


def test_every_convolution_is_followed_by_batch_norm_and_relu():
    backbone = GoogLeNetBN(width_divisor=8)
    convs = [name for name, m in backbone.named_modules() if isinstance(m, torch.nn.Conv2d)]
    for name in convs:
        parent = backbone.get_submodule(name.rsplit(".", 1)[0])
        assert isinstance(parent.bn, torch.nn.BatchNorm2d) and isinstance(parent.relu, torch.nn.ReLU), name
    assert len(convs) == 3 + 9 * 6  # stem + six convolutions per inception module


def test_width_divisor_thins_the_network_and_rejects_nonsense():
    thin = GoogLeNetBN(width_divisor=8)
    assert thin.stage_channels == (24, 60, 104, 128)
    assert _count(thin) < _count(GoogLeNetBN()) / 50
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="width_divisor"):
            GoogLeNetBN(width_divisor=bad)
