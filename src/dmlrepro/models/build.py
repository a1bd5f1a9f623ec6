"""Build the model a cell describes."""

from __future__ import annotations

from dmlrepro.cells import DS_BRANCHES, REID_MODELS, landmarks_at_input
from dmlrepro.errors import UserError
from dmlrepro.models.attention_framework import AttentionResNet, AttentionSpec
from dmlrepro.models.pcb import PCB
from dmlrepro.models.resnet import ResNetBackbone, load_imagenet_weights


def attention_kwargs(cell: dict) -> dict:
    """Module hyper-parameters at this cell's input size (landmark counts are scaled)."""
    params = dict(cell["attention_params"])
    if cell["attention"] == "csalr" and "samples" in params:
        params["samples"] = landmarks_at_input(params["samples"], tuple(cell["training"]["input_size"]))
    return params


def build_reid_model(cell: dict, num_classes: int, load_pretrained: bool = True) -> PCB:
    """PCB or PCB-RPP with the cell's attention framework (the RPP switch happens in training)."""
    if cell["model"] not in REID_MODELS:
        raise UserError(f"model: unknown re-ID model {cell['model']!r}; choose one of {REID_MODELS}")
    training = cell["training"]
    backbone_cfg = training["backbone"]
    backbone = ResNetBackbone(tuple(backbone_cfg["blocks"]), backbone_cfg["width"], last_stride=1)
    if load_pretrained and backbone_cfg["pretrained"] != "none":
        load_imagenet_weights(backbone, backbone_cfg["pretrained"])
    kwargs = attention_kwargs(cell)
    spec = AttentionSpec(
        name=cell["attention"],
        stages=tuple(cell["stages"]),
        kwargs_per_stage={stage: kwargs for stage in cell["stages"]},
    )
    body = AttentionResNet(backbone, spec, num_classes, deep_supervision=cell["deep_supervision"],
                           ds_branch=cell.get("ds_branch", DS_BRANCHES[0]))
    return PCB(body, num_classes, parts=training["parts"], reduced_dim=training["reduced_dim"])
