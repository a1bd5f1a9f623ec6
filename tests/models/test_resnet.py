"""The backbone: ResNet-50 shape at paper scale (last stride 1), torchvision-compatible names."""

from __future__ import annotations

import pytest
import torch
from torchvision.models import resnet50

from dmlrepro.models.resnet import PretrainedWeightsError, ResNetBackbone, load_imagenet_weights


def test_resnet50_stage_shapes_at_384x128_with_last_stride_1():
    backbone = ResNetBackbone()
    with torch.device("meta"):
        backbone = ResNetBackbone()
        x = backbone.stem(torch.empty(1, 3, 384, 128))
        shapes = []
        for stage in backbone.stages():
            x = stage(x)
            shapes.append(tuple(x.shape[1:]))
    assert shapes == [(256, 96, 32), (512, 48, 16), (1024, 24, 8), (2048, 24, 8)]


def test_state_dict_matches_torchvision_resnet50_so_imagenet_weights_load():
    ours = ResNetBackbone().state_dict()
    theirs = {k: v for k, v in resnet50().state_dict().items() if not k.startswith("fc.")}
    assert ours.keys() == theirs.keys()
    assert all(ours[k].shape == theirs[k].shape for k in ours)


def test_missing_weights_file_names_the_fix(tmp_path):
    with pytest.raises(PretrainedWeightsError, match="does not exist"):
        load_imagenet_weights(ResNetBackbone(), str(tmp_path / "nope.pth"))


def test_weights_from_a_file_load(tmp_path):
    path = tmp_path / "r50.pth"
    torch.save(resnet50().state_dict(), path)
    backbone = ResNetBackbone()
    load_imagenet_weights(backbone, str(path))


def test_imagenet_weights_refused_for_a_thin_backbone():
    with pytest.raises(PretrainedWeightsError, match="only for ResNet-50"):
        load_imagenet_weights(ResNetBackbone((1, 1, 1, 1), 16), "imagenet")
