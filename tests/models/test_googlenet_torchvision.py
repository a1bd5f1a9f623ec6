"""torchvision's GoogLeNet weights mapped onto AiA-Net's backbone (variant torchvision): every
weight has its place and the mapped layers compute what torchvision's compute."""

from __future__ import annotations

import pytest
import torch
import torchvision

from dmlrepro.errors import UserError
from dmlrepro.models.googlenet_bn import GoogLeNetBN
from dmlrepro.models.googlenet_torchvision import load_torchvision_googlenet, map_torchvision_state


@pytest.fixture(scope="module")
def pair():
    torch.manual_seed(0)
    tv = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True, transform_input=True).eval()
    for m in tv.modules():  # non-trivial BN statistics, so that a mis-mapped BN shows
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.normal_()
            m.bias.data.normal_()
    ours = GoogLeNetBN(variant="torchvision").eval()
    load_torchvision_googlenet(ours, tv.state_dict())
    return tv, ours


def test_mapped_layers_equal_torchvisions(pair):
    tv, ours = pair
    x = torch.randn(2, 3, 64, 32)
    with torch.no_grad():
        ref, out = tv.conv1(tv._transform_input(x)), ours.blk1.conv1(x)
        # the folded input normalisation is exact away from the zero-padded border
        assert torch.allclose(ref[:, :, 2:-2, 2:-2], out[:, :, 2:-2, 2:-2], atol=1e-5)
        for name, block, channels, size in (("inception3a", ours.blk2, 192, (16, 8)),
                                            ("inception4a", ours.blk3, 480, (8, 4)),
                                            ("inception5a", ours.blk4, 832, (8, 4))):
            y = torch.randn(2, channels, *size)
            assert torch.allclose(getattr(tv, name)(y), getattr(block, name)(y), atol=1e-5), name


def test_every_torchvision_weight_is_used_and_the_code_variant_is_refused(pair):
    tv, _ = pair
    mapped = map_torchvision_state(tv.state_dict())
    assert len([k for k in tv.state_dict() if not k.startswith("fc.")]) == len([k for k in mapped if not k.endswith(".conv.bias")])
    with pytest.raises(UserError, match="variant torchvision"):
        load_torchvision_googlenet(GoogLeNetBN(), tv.state_dict())
    with pytest.raises(UserError, match="has no place"):
        map_torchvision_state({"head.weight": torch.zeros(1)})
