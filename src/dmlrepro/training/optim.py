"""Optimiser and learning-rate schedule of CSALR Sec. 4.2 (000_6bea8c3e96cdf0f5.txt): SGD with
momentum, step decay, and a smaller learning rate for the (pre-trained) backbone."""

from __future__ import annotations

import torch
from torch import nn

from dmlrepro.models.pcb import PCB


def build_optimizer(model: PCB, training: dict) -> torch.optim.SGD:
    """Three parameter groups, each with an `lr_mult`: backbone, attention modules, the rest."""
    opt = training["optimizer"]
    backbone = list(model.body.backbone.parameters())
    attention = model.body.attention_parameters()
    taken = {id(p) for p in backbone + attention}
    rest = [p for p in model.parameters() if id(p) not in taken]
    groups = [
        {"params": backbone, "lr_mult": training["backbone_lr_mult"], "name": "backbone"},
        {"params": attention, "lr_mult": training["attention_lr_mult"], "name": "attention"},
        {"params": rest, "lr_mult": 1.0, "name": "head"},
    ]
    groups = [g for g in groups if g["params"]]
    return torch.optim.SGD(
        groups, lr=opt["lr"], momentum=opt["momentum"], weight_decay=opt["weight_decay"], nesterov=opt["nesterov"]
    )


def learning_rate(epoch: int, training: dict) -> float:
    """Base learning rate in `epoch` (0-based): lr · gamma^⌊epoch / step⌋."""
    schedule = training["lr_schedule"]
    return training["optimizer"]["lr"] * schedule["gamma"] ** (epoch // schedule["step"])


def set_learning_rate(optimizer: torch.optim.Optimizer, base_lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = base_lr * group["lr_mult"]


def freeze_all_but(model: nn.Module, trainable: nn.Module) -> None:
    """Train `trainable` alone; everything else is fixed (RPP's induced training, Sun et al. 2018).

    Fixed means a fixed function: frozen parameters get no gradient and frozen modules run in eval
    mode, so BN normalises with, and keeps, its running statistics and dropout is off.  `model`
    itself stays in training mode (its forward returns the training logits), and so does
    `trainable` with everything inside it.
    """
    keep = {id(p) for p in trainable.parameters()}
    for p in model.parameters():
        p.requires_grad_(id(p) in keep)
    inside = {id(m) for m in trainable.modules()}
    for module in model.modules():
        module.training = module is model or id(module) in inside  # this module only, not its children


def unfreeze(model: nn.Module) -> None:
    """Every parameter trainable, every module in training mode."""
    for p in model.parameters():
        p.requires_grad_(True)
    model.train()
