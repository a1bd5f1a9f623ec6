"""DenseNet-121, MobileNet-V2, ShuffleNet-V2 as AiA-Net backbones (002 Sec. 5.6, Fig. 11;
dmlrepro.models.torchvision_backbones): torchvision's networks, cut into Blk 1-4 at strides 8, 16,
32, 32, loading torchvision state dicts, refusing inputs below the output stride."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from dmlrepro.errors import UserError
from dmlrepro.models.resnet import PretrainedWeightsError
from dmlrepro.models.torchvision_backbones import (
    TORCHVISION_BACKBONES,
    build_torchvision_backbone,
    check_input_size,
    load_imagenet_weights,
)

#: The block outputs at 256x128 (the paper's input, Sec. 4.4): BN-GoogLeNet's spatial sizes.
PAPER_SHAPES = {
    "densenet121": [(128, 32, 16), (256, 16, 8), (512, 8, 4), (1024, 8, 4)],
    "mobilenet_v2": [(32, 32, 16), (96, 16, 8), (320, 8, 4), (1280, 8, 4)],
    "shufflenet_v2": [(116, 32, 16), (232, 16, 8), (464, 8, 4), (1024, 8, 4)],
}
THIN = {
    "densenet121": {"growth_rate": 8, "block_config": (2, 2, 2, 2), "num_init_features": 16, "bn_size": 2},
    "mobilenet_v2": {"width_mult": 0.25, "repeats": (1, 1, 1, 1, 1, 1, 1)},
    "shufflenet_v2": {"stages_repeats": (1, 1, 1), "stages_out_channels": (8, 32, 64, 128, 256)},
}


@pytest.mark.parametrize("name", sorted(PAPER_SHAPES))
def test_paper_shape_blocks_at_256x128_have_googlenets_strides(name):
    with torch.device("meta"):
        backbone = build_torchvision_backbone(name)
        outputs = backbone(torch.empty(2, 3, 256, 128))
    assert [tuple(o.shape[1:]) for o in outputs] == PAPER_SHAPES[name]
    assert list(backbone.stage_channels) == [c for c, _, _ in PAPER_SHAPES[name]]


@pytest.mark.parametrize("name", sorted(THIN))
def test_thin_shapes_run_at_the_smoke_size_and_report_their_channels(name):
    backbone = build_torchvision_backbone(name, **THIN[name]).eval()
    outputs = backbone(torch.randn(2, 3, 64, 32))
    assert [o.shape[1] for o in outputs] == list(backbone.stage_channels)
    assert [tuple(o.shape[2:]) for o in outputs] == [(8, 4), (4, 2), (2, 1), (2, 1)]


def _reference_output(name: str, net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """torchvision's own forward up to the last map before pooling."""
    if name == "densenet121":
        return F.relu(net.features(x))
    if name == "mobilenet_v2":
        return net.features(x)
    x = net.maxpool(net.conv1(x))
    return net.conv5(net.stage4(net.stage3(net.stage2(x))))


@pytest.mark.parametrize("name", sorted(PAPER_SHAPES))
def test_a_torchvision_state_dict_loads_and_blocks_compute_torchvisions_network(name, tmp_path):
    import torchvision.models as tvm

    torch.manual_seed(0)
    net = {"densenet121": tvm.densenet121, "mobilenet_v2": tvm.mobilenet_v2,
           "shufflenet_v2": tvm.shufflenet_v2_x1_0}[name]().eval()
    state = net.state_dict()
    if name == "densenet121":  # the released checkpoints' old key names (norm.1 for norm1)
        state = {k.replace(".norm1.", ".norm.1.").replace(".conv2.", ".conv.2."): v for k, v in state.items()}
        assert any(".norm.1." in k for k in state)
    path = tmp_path / f"{name}.pth"
    torch.save(state, path)
    backbone = build_torchvision_backbone(name).eval()
    load_imagenet_weights(backbone, str(path))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(backbone(x)[-1], _reference_output(name, net, x), rtol=1e-5, atol=1e-5)


def test_weights_are_refused_for_a_thin_shape_and_a_missing_file(tmp_path):
    with pytest.raises(PretrainedWeightsError, match="exist only for torchvision's shufflenet_v2"):
        load_imagenet_weights(build_torchvision_backbone("shufflenet_v2", **THIN["shufflenet_v2"]), "imagenet")
    with pytest.raises(PretrainedWeightsError, match="does not exist"):
        load_imagenet_weights(build_torchvision_backbone("shufflenet_v2"), str(tmp_path / "missing.pth"))


def test_an_input_below_the_output_stride_is_one_line_and_32_runs():
    with pytest.raises(UserError) as error:
        check_input_size("densenet121", [64, 28], "config/presets/aianet.yaml (smoke)")
    assert "\n" not in str(error.value) and "at least 32" in str(error.value)
    check_input_size("densenet121", [32, 32], "here")
    backbone = build_torchvision_backbone("densenet121", **THIN["densenet121"]).eval()
    assert backbone(torch.randn(1, 3, 32, 32))[-1].shape[2:] == (1, 1)
    with pytest.raises(RuntimeError):  # why the check exists: DenseNet's 2x2 average pools fail below it
        backbone(torch.randn(1, 3, 28, 28))


def test_a_bad_name_lists_the_known_backbones():
    with pytest.raises(ValueError, match="densenet121.*mobilenet_v2.*shufflenet_v2"):
        build_torchvision_backbone("vgg16")
    assert set(TORCHVISION_BACKBONES) == set(PAPER_SHAPES)
