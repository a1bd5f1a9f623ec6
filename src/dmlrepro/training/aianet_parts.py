"""The training parts of an AiA-Net cell (002_e585b7ac4801a221.txt, Sec. 4.3-4.4) for the one
engine (`dmlrepro.training.engine`).

* data: the cell's re-ID dataset (`dmlrepro.tasks.reid.load_reid_data`); training images resized
  to `input_size` (256x128, Sec. 4.4) with a random horizontal flip; random erasing [76] from
  epoch `random_erasing_from_epoch` on ("we also apply random erasing after 50 epochs of
  training"), switched on by an engine callback before that epoch, so a resumed run switches it
  exactly where an uninterrupted one does;
* batches: the P x K identity sampler (`dmlrepro.data.samplers.identity_sampler`), P =
  `identities_per_batch`, K = `images_per_identity`, P*K = 64 at paper scale, a function of
  (seed, epoch) alone;
* model: `dmlrepro.models.aianet.build_aianet` on the preset's BN-GoogLeNet (`backbone`), or the
  preset's shape of the cell's other backbone (`resnet`; `densenet121`, `mobilenet_v2`,
  `shufflenet_v2` of Sec. 5.6 / Fig. 11, `dmlrepro.models.torchvision_backbones`);
* loss: "we pose the ranking task and classification task in both the appearance and part
  feature extractors separately" — the triplet loss of Eq. 18 (one hard positive and 5 hard
  negatives per anchor, margin tau from the cell) and the cross-entropy of Eq. 19 on f_a and on
  f_p, summed with the cell's weights: L = w_ce (CE_a + CE_p) + w_tri (J_a + J_p);
* optimizer: Adam (beta 0.9, 0.999), weight decay 1e-4, the dataset's lr (1e-3 CUHK03/CUHK01,
  5e-4 otherwise) x gamma (0.1) at each milestone reached (150/200/250);
* evaluation: the test feature f = [f_a/|f_a|, f_p/|f_p|] (1024-d), squared Euclidean distances,
  and every protocol the family evaluates on the dataset (`dmlrepro.families.aianet`), computed
  by `dmlrepro.training.aianet_eval`.
"""

from __future__ import annotations

import logging

import torch
from torch import nn
from torch.nn import functional as F

from dmlrepro.data import ImageDataset, build_transforms
from dmlrepro.data.samplers.identity_sampler import PKIdentitySampler
from dmlrepro.errors import UserError
from dmlrepro.losses.hard_triplet_loss import HardTripletLoss
from dmlrepro.models.aianet import AiANet, AiANetOutput, build_aianet
from dmlrepro.training.engine import TrainingParts

log = logging.getLogger("dmlrepro.train")


def base_learning_rate(training: dict, dataset: str) -> float:
    """The initial lr of `dataset` (Sec. 4.4): `lr_by_dataset[dataset]`, else `optimizer.lr`."""
    return float(training["lr_by_dataset"].get(dataset, training["optimizer"]["lr"]))


def learning_rate(epoch: int, training: dict, dataset: str) -> float:
    """lr of the 0-based `epoch`: the base lr times gamma per milestone reached (MultiStepLR)."""
    schedule = training["lr_schedule"]
    decays = sum(1 for milestone in schedule["milestones"] if epoch >= milestone)
    return base_learning_rate(training, dataset) * schedule["gamma"] ** decays


def model_config(cell: dict) -> dict:
    """The `build_aianet` cell of a resolved AiA-Net cell (its model keys and the preset backbone)."""
    backbone = cell["training"]["backbone"]
    config = dict(cell["model"])
    if config.get("backbone", "googlenet") in ("googlenet", "googlenet_bn"):
        config["backbone_kwargs"] = {"variant": backbone["variant"], "width_divisor": backbone["width_divisor"]}
    elif config["backbone"] == "resnet50":  # Table 2
        config["backbone_kwargs"] = {"blocks": tuple(cell["training"]["resnet"]["blocks"]),
                                     "width": cell["training"]["resnet"]["width"]}
    else:  # densenet121, mobilenet_v2, shufflenet_v2 (Sec. 5.6, Fig. 11): the preset's shape of it
        shape = cell["training"].get(config["backbone"])
        if shape is None:
            raise UserError(f"config/presets/aianet.yaml ({cell['scale']}): no `{config['backbone']}:` entry (the "
                            f"shape of backbone {config['backbone']}); add one as the paper preset has")
        config["backbone_kwargs"] = {k: tuple(v) if isinstance(v, list) else v for k, v in shape.items()}
    config["pretrained"] = backbone["pretrained"]
    return config


def build_model(cell: dict, num_classes: int, load_pretrained: bool) -> AiANet:
    """The cell's AiA-Net; on a thin backbone (width_divisor > 1: smoke, tiny) an r that does not
    divide a block's channels reduces to ⌊C / r⌋ (`dmlrepro.attention.aia_base.rounded_reduction`),
    and so it does on the torchvision backbones of Fig. 11 at every scale (ShuffleNet-V2's Blk 1 has
    116 channels, which CUHK03's r = 8 does not divide: c̄ = 14; the paper does not say).  A
    torchvision backbone refuses an input side below its output stride (32) in one line."""
    import contextlib

    from dmlrepro.attention.aia_base import rounded_reduction
    from dmlrepro.models.torchvision_backbones import TORCHVISION_BACKBONES, check_input_size

    config = model_config(cell)
    if not load_pretrained:
        config["pretrained"] = "none"
    torchvision_backbone = config.get("backbone") in TORCHVISION_BACKBONES
    if torchvision_backbone:
        check_input_size(config["backbone"], cell["training"]["input_size"],
                         f"config/presets/aianet.yaml ({cell.get('scale')})")
    thin = cell["training"]["backbone"]["width_divisor"] > 1 or torchvision_backbone
    with rounded_reduction() if thin else contextlib.nullcontext():
        return build_aianet(config, num_classes)


def train_transform(training: dict, erasing: bool):
    height, width = training["input_size"]
    return build_transforms(height, width, train=True, random_erasing=training["random_erasing"] if erasing else None)


class AiANetLoss(nn.Module):
    """Sec. 4.4's multi-task loss on both branches: w_ce sum_b CE(logits_b, y) + w_tri sum_b
    J_rank(f_b, y) (Eqs. 18-19); `last` holds the terms of the last call."""

    def __init__(self, weights: dict, margin: float, triplet: dict) -> None:
        super().__init__()
        self.w_ce = float(weights.get("cross_entropy", 0.0))
        self.w_tri = float(weights.get("triplet", 0.0))
        self.triplet = HardTripletLoss(margin=margin, mining=triplet["mining"],
                                       num_negatives=triplet["num_negatives"], reduction=triplet["reduction"])
        self.last: dict[str, float] = {}

    def forward(self, output: AiANetOutput, labels: torch.Tensor) -> torch.Tensor:
        total = output.embeddings[0].new_zeros(())
        logs: dict[str, float] = {}
        triplets = 0
        for name, logits, embedding in zip(("a", "p"), output.logits, output.embeddings):
            ce = F.cross_entropy(logits, labels)
            tri = self.triplet(embedding, labels)
            triplets += self.triplet.last_num_triplets
            total = total + self.w_ce * ce + self.w_tri * tri
            logs[f"ce_{name}"], logs[f"triplet_{name}"] = ce.item(), tri.item()
        logs["triplets"] = float(triplets)
        self.last = logs
        return total


def build_optimizer(model: nn.Module, training: dict) -> torch.optim.Adam:
    optimizer_cfg = training["optimizer"]
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.Adam([{"params": params, "lr_mult": 1.0, "name": "model"}], lr=optimizer_cfg["lr"],
                            betas=tuple(optimizer_cfg["betas"]), weight_decay=optimizer_cfg["weight_decay"])


def check_sampler(training: dict, where: str) -> None:
    sampler = training["sampler"]
    if sampler["identities_per_batch"] * sampler["images_per_identity"] != training["batch_size"]:
        raise UserError(f"{where}: sampler identities_per_batch x images_per_identity "
                        f"({sampler['identities_per_batch']} x {sampler['images_per_identity']}) must equal "
                        f"batch_size {training['batch_size']}; fix config/presets/aianet.yaml")


def aianet_parts(cell: dict, device: torch.device, load_pretrained: bool, num_workers: int = 0,
                 eval_batch_size: int | None = None, data=None, evaluate=None) -> TrainingParts:
    """The engine parts of an AiA-Net cell; `data` (default: the cell's re-ID dataset) needs
    `train`, `num_train_pids` and `summary()`; `evaluate(model, data, cell, device, batch_size)`
    defaults to the image protocols (AiA-Net-V passes its frame data and tracklet evaluation)."""
    from dmlrepro.tasks.reid import load_cell_data
    from dmlrepro.training.aianet_eval import evaluate_protocols

    training = cell["training"]
    check_sampler(training, f"training preset of aianet ({cell['scale']})")
    evaluate_fn = evaluate or evaluate_protocols
    if data is None:
        data = load_cell_data(cell)
    log.info("%s", data.summary())
    from dmlrepro.families.aianet import protocols_for

    if "multi_query" in protocols_for(cell["dataset"]):  # fail before training, not after it
        from dmlrepro.data.market1501_gt_bbox import read_gt_bbox

        read_gt_bbox(data.root)
    train_set = ImageDataset(data.train, train_transform(training, erasing=False))
    model = build_model(cell, data.num_train_pids, load_pretrained).to(device)
    loss_fn = AiANetLoss(cell["loss"], cell["triplet_margin"], training["triplet"])
    sampler_cfg = training["sampler"]
    pids = [pid for _, pid, _ in data.train]

    def batch_sampler(dataset, seed: int, epoch: int):
        return PKIdentitySampler(pids, num_identities=sampler_cfg["identities_per_batch"],
                                 num_instances=sampler_cfg["images_per_identity"], seed=seed, epoch=epoch,
                                 mode=sampler_cfg["mode"], small_identities=sampler_cfg["small_identities"])

    def loss_step(batch):
        images, labels, _camids = batch
        labels = labels.to(device)
        loss = loss_fn(model(images.to(device)), labels)
        return loss, {"loss": loss.item(), **loss_fn.last}

    def switch_random_erasing(epoch: int) -> None:
        """Sec. 4.4: random erasing from epoch `random_erasing_from_epoch` (0-based) on."""
        train_set.transform = train_transform(training, erasing=epoch >= training["random_erasing_from_epoch"])

    def evaluate_cell():
        return evaluate_fn(model, data, cell, device, eval_batch_size or training["eval_batch_size"])

    return TrainingParts(
        model=model,
        train_set=train_set,
        batch_size=training["batch_size"],
        epochs=training["epochs"],
        batch_sampler=batch_sampler,
        loss_step=loss_step,
        build_optimizer=lambda: build_optimizer(model, training),
        learning_rate=lambda epoch: learning_rate(epoch, training, cell["dataset"]),
        callbacks=[switch_random_erasing],
        evaluate=evaluate_cell,
        model_record=lambda: {"num_classes": data.num_train_pids},
        grad_clip_norm=training["grad_clip_norm"],
        num_workers=num_workers,
        divergence_hint=f"lower optimizer.lr in config/presets/aianet.yaml (scale {cell['scale']}) or check the data",
        record_extra=lambda history: {"sampler": {"P": sampler_cfg["identities_per_batch"],
                                                  "K": sampler_cfg["images_per_identity"],
                                                  "mode": sampler_cfg["mode"]}},
    )
