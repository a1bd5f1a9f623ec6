"""The training parts of a class-split image-retrieval cell (Multi-Head DML, 003_72cd4b33cee60b89.txt
Sec. 3.4 and 4.2) for the one engine (`dmlrepro.training.engine`).

* data: the dataset's train split; resize to `input.resize`² then a random `input.crop`² crop and
  a horizontal flip (Sec. 4.2); test images resized and centre-cropped;
* batches: `classes_per_batch` × `images_per_class` (the P×K sampler in its every-image-once
  mode: an epoch is a pass over the training images), a function of (seed, epoch) alone;
* model: `dmlrepro.models.multi_head_embedding` (local/global heads, SOA, D-dim embedding);
* loss: the cell's `loss` — {ms: 1, proxy_anchor: λ} is Eq. 7's hybrid, either one alone its
  ablation (Figure 7); the loss module (its proxies) is saved and resumed with the model;
* optimizer: AdamW at `lr` for the network and `proxy_lr` for the proxies (Sec. 4.2), constant;
* evaluation: Recall@K of the test set against itself (query excluded) or, for In-Shop, of the
  query set against the gallery; queries without a positive are excluded and counted.  With the
  cell's `eval_every_epoch` the same evaluation also runs after every epoch (the engine's
  `epoch_evaluate`, kept as `history[i]["eval"]`): MHDML Figure 1's Recall@1 against epochs.
"""

from __future__ import annotations

import logging

import torch
from torch.utils.data import DataLoader
from torchvision import transforms as T

from dmlrepro.data.retrieval import RetrievalImageDataset, build_retrieval_dataset
from dmlrepro.data.samplers.identity_sampler import PKIdentitySampler
from dmlrepro.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from dmlrepro.errors import UserError
from dmlrepro.evaluation.recall_at_k import LEAVE_ONE_OUT, QUERY_GALLERY, recall_at_k
from dmlrepro.losses import build_loss
from dmlrepro.models.multi_head_embedding import build_multi_head_model
from dmlrepro.training.engine import TrainingParts

log = logging.getLogger("dmlrepro.train")

#: Every K any retrieval table reports (MHDML Tables 1-3; DCES Fig. S2); all are computed at once.
RECALL_KS = (1, 2, 4, 8, 10, 16, 20, 30, 32, 40, 100, 1000)


def retrieval_transforms(training: dict, train: bool) -> T.Compose:
    size, crop = training["input"]["resize"], training["input"]["crop"]
    if train:
        steps = [T.Resize((size, size)), T.RandomCrop(crop), T.RandomHorizontalFlip(p=0.5)]
    else:
        steps = [T.Resize((size, size)), T.CenterCrop(crop)]
    return T.Compose(steps + [T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def build_retrieval_loss(loss: dict, num_classes: int, embedding_dim: int) -> torch.nn.Module:
    """Eq. 5-7 from the cell's {loss name: weight}: ms + proxy_anchor is the hybrid ℓ_m + λ ℓ_p."""
    names = set(loss)
    if names == {"ms", "proxy_anchor"}:
        if loss["ms"] != 1.0:
            raise UserError(f"loss {loss}: the hybrid of Eq. 7 weights the MS term by 1; give ms: 1.0 and proxy_anchor: λ")
        return build_loss("hybrid", num_classes=num_classes, embedding_size=embedding_dim, lam=loss["proxy_anchor"])
    if names == {"proxy_anchor"} and loss["proxy_anchor"] == 1.0:
        return build_loss("proxy_anchor", num_classes=num_classes, embedding_size=embedding_dim)
    if names == {"ms"} and loss["ms"] == 1.0:
        return build_loss("multi_similarity")
    raise UserError(f"loss {loss}: the retrieval trainer computes {{ms: 1.0, proxy_anchor: λ}} (Eq. 7), "
                    "{proxy_anchor: 1.0} or {ms: 1.0}")


@torch.no_grad()
def embed(model, items, training: dict, device: torch.device, batch_size: int) -> torch.Tensor:
    dataset = RetrievalImageDataset(items, retrieval_transforms(training, train=False))
    model.eval()
    return torch.cat([model(images.to(device)).float().cpu() for images, _ in DataLoader(dataset, batch_size=batch_size)])


def evaluate_retrieval(model, data, training: dict, device: torch.device, batch_size: int) -> dict:
    """Recall@K (percent) for every K of `RECALL_KS` under the dataset's protocol."""
    queries, references, exclude_self = data.retrieval_sets()
    query_embeddings = embed(model, queries, training, device, batch_size)
    query_labels = [label for _, label in queries]
    if exclude_self:
        result = recall_at_k(query_embeddings, query_labels, ks=RECALL_KS, protocol=LEAVE_ONE_OUT)
    else:
        reference_embeddings = embed(model, references, training, device, batch_size)
        result = recall_at_k(query_embeddings, query_labels, reference_embeddings,
                             [label for _, label in references], ks=RECALL_KS, protocol=QUERY_GALLERY)
    metrics = {f"recall@{k}": 100.0 * value for k, value in result.recall.items()}
    metrics.update(num_queries=result.num_queries, num_excluded_queries=result.num_excluded, protocol=result.protocol)
    return metrics


def build_retrieval_optimizer(model: torch.nn.Module, loss_fn: torch.nn.Module, optimizer_cfg: dict) -> torch.optim.AdamW:
    """AdamW (Sec. 4.2): the network at `lr`, the loss's proxies (if any) at `proxy_lr`."""
    groups = [{"params": [p for p in model.parameters() if p.requires_grad], "lr_mult": 1.0, "name": "model"}]
    proxies = [p for p in loss_fn.parameters() if p.requires_grad]
    if proxies:
        groups.append({"params": proxies, "lr_mult": optimizer_cfg["proxy_lr"] / optimizer_cfg["lr"], "name": "proxies"})
    optimizer = torch.optim.AdamW(groups, lr=optimizer_cfg["lr"], weight_decay=optimizer_cfg["weight_decay"])
    for group in optimizer.param_groups:
        group["lr"] = optimizer_cfg["lr"] * group["lr_mult"]
    return optimizer


def retrieval_parts(cell: dict, seed: int, device: torch.device, load_pretrained: bool,
                    num_workers: int = 0, eval_batch_size: int | None = None) -> TrainingParts:
    training = cell["training"]
    data = build_retrieval_dataset(cell["dataset"], cell["data_root"])
    log.info("%s", data.summary())
    train_set = RetrievalImageDataset(data.train, retrieval_transforms(training, train=True))
    model_config = {**cell["model"], "backbone": training["backbone"], "freeze_bn": training["freeze_bn"]}
    model = build_multi_head_model(model_config, load_pretrained=load_pretrained).to(device)
    loss_fn = build_retrieval_loss(cell["loss"], data.num_train_classes, cell["model"]["embedding_dim"]).to(device)
    optimizer_cfg = training["optimizer"]
    labels = [label for _, label in data.train]
    sampler_cfg = training["sampler"]
    if sampler_cfg["classes_per_batch"] * sampler_cfg["images_per_class"] != training["batch_size"]:
        raise UserError(f"training preset: classes_per_batch x images_per_class must equal batch_size "
                        f"({sampler_cfg} vs {training['batch_size']})")

    def batch_sampler(dataset, seed_: int, epoch: int):
        return PKIdentitySampler(labels, num_identities=sampler_cfg["classes_per_batch"],
                                 num_instances=sampler_cfg["images_per_class"], seed=seed_, epoch=epoch,
                                 mode="all_images")

    def loss_step(batch):
        images, targets = batch
        embeddings = model(images.to(device))
        loss = loss_fn(embeddings, targets.to(device))
        return loss, {"loss": loss.item()}

    def build_optimizer():
        return build_retrieval_optimizer(model, loss_fn, optimizer_cfg)

    def evaluate():
        return evaluate_retrieval(model, data, training, device, eval_batch_size or training["eval_batch_size"])

    return TrainingParts(
        model=model,
        extra_modules={"loss": loss_fn},
        train_set=train_set,
        batch_size=training["batch_size"],
        epochs=training["epochs"],
        batch_sampler=batch_sampler,
        loss_step=loss_step,
        build_optimizer=build_optimizer,
        learning_rate=lambda epoch: optimizer_cfg["lr"],
        evaluate=evaluate,
        epoch_evaluate=evaluate if cell.get("eval_every_epoch") else None,
        model_record=lambda: {"num_classes": data.num_train_classes},
        grad_clip_norm=training["grad_clip_norm"],
        num_workers=num_workers,
        divergence_hint=f"lower optimizer.lr in config/presets/{cell['paper']}.yaml (scale {cell['scale']}) or check the data",
    )
