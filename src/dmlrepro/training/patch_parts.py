"""The training parts of a local-descriptor cell (CSA, 001_5fbd5da13318fd56.txt, "Local Descriptor
Learning", Implementation Details; Tables 7-8) for the one engine (`dmlrepro.training.engine`).

* data: the cell's Brown subset read at 32×32 (HardNet's cv2 INTER_LINEAR resize,
  ``phototour.resize_patches``), held in memory as uint8;
* batches: every epoch draws ``pairs_per_epoch`` new matching pairs (HardNet's sampling, no 3-D
  point twice within a batch: ``training_pairs.sample_pairs``), a function of (seed, epoch)
  alone, in windows of ``batch_size[model]`` pairs (HardNet's loader: no shuffle); a last window
  of fewer pairs is kept (HardNet's loader does not drop it) unless it is a single pair;
* augmentation: ``flip_rotate`` (HardNet's ``--fliprot``: "random flipping and 90° rotation"),
  one draw per pair for both patches, from the global torch RNG (checkpointed by the engine);
* model: L2-Net (``dmlrepro.models.l2net``) with SA or CSA after its 3rd conv block;
* loss: ``hardnet`` (HardNet's hardest-in-batch triplet margin) or ``ral`` (RAL-Net's robust
  angular loss) on (anchors, positives);
* optimizer: SGD with the preset's momentum, dampening and weight decay; the learning rate
  decays linearly to 0 after every step, as HardNet's ``adjust_learning_rate``:
  ``lr_k = lr · (1 − k · B / (pairs_per_epoch · epochs))`` for the k-th step (0-based);
* evaluation (every protocol of the cell, ``metrics["protocols"]``): ``test@<brown subset>`` —
  FPR95 (percent) on that subset's 100K-pair list (``m50_100000_100000_0.txt``) for every Brown
  subset but the training one; ``hpatches`` — verification, matching and retrieval mAP (percent)
  on split ``full`` with the benchmark's Python protocol (``evaluation.hpatches_protocol``:
  trapezoid AP; verification the mean of the six imbalanced APs; matching the mean over noise
  levels of the mean over sequences and targets; retrieval the mean over noise levels and pool
  sizes), HPatches' 65×65 patches resized to 32 the same way.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from dmlrepro.errors import UserError
from dmlrepro.losses import build_loss
from dmlrepro.models.l2net import L2Net
from dmlrepro.tasks.patch import MODEL_LOSSES
from dmlrepro.training.engine import TrainingParts

log = logging.getLogger("dmlrepro.train")

#: Where the pairs of an HPatches evaluation come from: the benchmark's split (dmlrepro.data.patches.hpatches).
HPATCHES_PROTOCOL = "python"


def build_l2net(model: dict, dropout: float) -> L2Net:
    """The cell's L2-Net: ``model = {name, attention, attention_after, bases?}``."""
    params = {"bases": model["bases"]} if model["attention"] == "csa" else {}
    return L2Net(model["attention"], attention_params=params, attention_after=model["attention_after"],
                 dropout=dropout)


def build_optimizer(model: torch.nn.Module, optimizer: dict) -> torch.optim.SGD:
    sgd = torch.optim.SGD([{"params": [p for p in model.parameters() if p.requires_grad], "lr_mult": 1.0,
                            "name": "model"}], lr=optimizer["lr"], momentum=optimizer["momentum"],
                          dampening=optimizer["dampening"], weight_decay=optimizer["weight_decay"])
    return sgd


def step_learning_rate(base: float, step: int, batch_size: int, pairs_per_epoch: int, epochs: int) -> float:
    """HardNet's linear decay: the rate of the `step`-th optimizer step (0-based), never negative."""
    return max(0.0, base * (1.0 - step * batch_size / (pairs_per_epoch * epochs)))


def steps_per_epoch(pairs_per_epoch: int, batch_size: int) -> int:
    full, rest = divmod(pairs_per_epoch, batch_size)
    return full + (rest >= 2)


class PairIndices(Dataset):
    """Items are ``(anchor, positive)`` patch indices as the batch sampler yields them; a batch
    collates to a ``[B, 2]`` index tensor (the patches are gathered in the loss step)."""

    def __init__(self, num_pairs: int) -> None:
        self.num_pairs = num_pairs

    def __len__(self) -> int:
        return self.num_pairs

    def __getitem__(self, pair):
        return torch.as_tensor(pair, dtype=torch.int64)

    def __getitems__(self, pairs):
        return list(torch.as_tensor(np.asarray(pairs), dtype=torch.int64))


class EpochPairs(Sampler):
    """The batches of one epoch: HardNet's pairs drawn with a generator seeded by (seed, epoch)."""

    def __init__(self, labels: np.ndarray, num_pairs: int, batch_size: int, seed: int, epoch: int) -> None:
        rng = np.random.default_rng([seed, epoch, 17])
        from dmlrepro.data.patches.training_pairs import sample_pairs

        self.pairs = sample_pairs(labels, num_pairs, batch_size, rng)
        self.batch_size = batch_size

    def __iter__(self):
        for start in range(0, len(self.pairs), self.batch_size):
            batch = self.pairs[start:start + self.batch_size]
            if len(batch) >= 2:
                yield [tuple(row) for row in batch.tolist()]

    def __len__(self) -> int:
        return steps_per_epoch(len(self.pairs), self.batch_size)


def as_input(patches: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 ``[B, 32, 32]`` → float ``[B, 1, 32, 32]`` in [0, 1] (HardNet's ToTensor)."""
    return (patches.to(device, non_blocking=True).float() / 255.0)[:, None]


@torch.no_grad()
def describe(model: torch.nn.Module, patches: np.ndarray | torch.Tensor, device: torch.device,
             batch_size: int) -> np.ndarray:
    """Descriptors ``[N, 128]`` float32 of uint8 ``[N, 32, 32]`` patches, in eval mode."""
    model.eval()
    patches = torch.as_tensor(patches)
    out = [model(as_input(patches[start:start + batch_size], device)).float().cpu()
           for start in range(0, patches.shape[0], batch_size)]
    return torch.cat(out).numpy() if out else np.empty((0, 128), dtype=np.float32)


def evaluate_brown(model, subset, device: torch.device, batch_size: int) -> dict:
    """FPR95 (percent) on a subset's test pairs, describing only the patches the pairs name."""
    from dmlrepro.evaluation.fpr95 import fpr95

    used, inverse = np.unique(subset.matches[:, :2], return_inverse=True)
    descriptors = describe(model, subset.patches[used], device, batch_size)
    ends = inverse.reshape(-1, 2)
    diff = descriptors[ends[:, 0]].astype(np.float64) - descriptors[ends[:, 1]]
    distances = np.sqrt((diff * diff).sum(axis=1))
    labels = subset.matches[:, 2]
    return {"fpr95": 100.0 * fpr95(distances, labels), "pairs": int(labels.size),
            "matching_pairs": int(labels.sum())}


def evaluate_hpatches_tasks(model, data_root: str, device: torch.device, batch_size: int) -> dict:
    """Table 8's three numbers (percent) on split ``full``, plus what they average."""
    from dmlrepro.data.patches.hpatches import TABLE8_SPLIT, HPatchesRelease, read_hpatches_tasks, split_sequences
    from dmlrepro.data.patches.phototour import resize_patches
    from dmlrepro.evaluation.hpatches_protocol import evaluate_hpatches
    from dmlrepro.tasks.patch import hpatches_folders

    release_dir, tasks_dir = hpatches_folders(data_root)
    release = HPatchesRelease(release_dir)
    sequences = split_sequences(release, TABLE8_SPLIT, tasks_dir)
    verification, retrieval = read_hpatches_tasks(tasks_dir, TABLE8_SPLIT, release)
    named = set(sequences) | set(verification.positives.seq1) | set(verification.inter.seq2) \
        | set(retrieval.query_seq) | set(retrieval.distractor_seq)
    descriptors = {}
    for seq in sorted(named):
        images = release.load(seq)
        descriptors[seq] = {image: describe(model, resize_patches(patches, 32), device, batch_size)
                            for image, patches in images.items()}
    result = evaluate_hpatches(descriptors, verification, retrieval, sequences, protocol=HPATCHES_PROTOCOL)
    return {"verification_map": 100.0 * result.verification, "matching_map": 100.0 * result.matching,
            "retrieval_map": 100.0 * result.retrieval, "split": TABLE8_SPLIT, "sequences": len(sequences),
            "protocol": result.protocol,
            "verification_ap": {f"{noise}.{negs}": 100.0 * v for (noise, negs), v in result.verification_ap.items()},
            "retrieval_map_by": {f"{noise}.{k}": 100.0 * v for (noise, k), v in result.retrieval_map.items()}}


def evaluate_cell(model, cell: dict, device: torch.device, batch_size: int) -> dict:
    """Every protocol the cell's family lists (`cell["test_datasets"]`), by protocol name."""
    from dmlrepro.data.patches.phototour import read_phototour
    from dmlrepro.tasks.patch import BROWN_SUBSETS, HPATCHES

    protocols = {}
    for dataset in cell["test_datasets"]:
        if dataset == HPATCHES:
            protocols[HPATCHES] = evaluate_hpatches_tasks(model, cell["data_root"], device, batch_size)
        else:
            subset = read_phototour(cell["data_root"], BROWN_SUBSETS[dataset], size=32)
            protocols[f"test@{dataset}"] = evaluate_brown(model, subset, device, batch_size)
        log.info("evaluated %s", dataset)
    return {"protocols": protocols, "train_dataset": cell["dataset"]}


def patch_parts(cell: dict, seed: int, device: torch.device, load_pretrained: bool,
                eval_batch_size: int | None = None) -> TrainingParts:
    from dmlrepro.data.patches.phototour import read_phototour
    from dmlrepro.data.patches.training_pairs import flip_rotate
    from dmlrepro.tasks.patch import BROWN_SUBSETS

    training = cell["training"]
    model_cfg = cell["model"]
    batch_size = int(training["batch_size"][model_cfg["name"]])
    pairs_per_epoch, epochs = int(training["pairs_per_epoch"]), int(training["epochs"])
    if pairs_per_epoch < 2:
        raise UserError(f"training preset of {cell['paper']} ({cell['scale']}): pairs_per_epoch must be at least 2")
    subset = read_phototour(cell["data_root"], BROWN_SUBSETS[cell["dataset"]], size=32)
    log.info("%s", subset.summary())
    patches = torch.from_numpy(subset.patches)
    labels = subset.labels
    model = build_l2net(model_cfg, training["dropout"]).to(device)
    loss_fn = build_loss(cell["loss"]).to(device)
    optimizer_cfg = training["optimizer"]
    per_epoch = steps_per_epoch(pairs_per_epoch, batch_size)
    state = {"optimizer": None, "epoch": 0, "iteration": 0}

    def batch_sampler(dataset, seed_: int, epoch: int):
        return EpochPairs(labels, pairs_per_epoch, batch_size, seed_, epoch)

    def on_epoch_start(epoch: int) -> None:
        state["epoch"], state["iteration"] = epoch, 0

    def loss_step(batch):
        pairs = batch
        step = state["epoch"] * per_epoch + state["iteration"]
        state["iteration"] += 1
        lr = step_learning_rate(optimizer_cfg["lr"], step, batch_size, pairs_per_epoch, epochs)
        for group in state["optimizer"].param_groups:
            group["lr"] = lr * group.get("lr_mult", 1.0)
        anchors, positives = patches[pairs[:, 0]][:, None], patches[pairs[:, 1]][:, None]
        if training["augmentation"] == "flip_rotate":
            anchors, positives = flip_rotate(anchors, positives)  # on the CPU, from the global RNG
        loss = loss_fn(model(as_input(anchors[:, 0], device)), model(as_input(positives[:, 0], device)))
        return loss, {"loss": loss.item(), "lr_last": lr}

    def build():
        state["optimizer"] = build_optimizer(model, optimizer_cfg)
        return state["optimizer"]

    def evaluate():
        return evaluate_cell(model, cell, device, eval_batch_size or training["eval_batch_size"])

    return TrainingParts(
        model=model,
        train_set=PairIndices(pairs_per_epoch),
        batch_size=batch_size,
        epochs=epochs,
        batch_sampler=batch_sampler,
        loss_step=loss_step,
        build_optimizer=build,
        learning_rate=lambda epoch: step_learning_rate(optimizer_cfg["lr"], epoch * per_epoch, batch_size,
                                                       pairs_per_epoch, epochs),
        callbacks=[on_epoch_start],
        evaluate=evaluate,
        model_record=lambda: {"model": dict(model_cfg)},
        grad_clip_norm=training["grad_clip_norm"],
        divergence_hint=(f"lower optimizer.lr in config/presets/{cell['paper']}.patch_descriptor.yaml "
                         f"(scale {cell['scale']}) or check the data"),
    )


def paper_steps(training: dict, model: str) -> int:
    """Optimizer steps of a whole run (for messages and tests)."""
    return training["epochs"] * steps_per_epoch(training["pairs_per_epoch"], training["batch_size"][model])


__all__ = ["MODEL_LOSSES", "build_l2net", "build_optimizer", "describe", "evaluate_brown", "evaluate_cell",
           "evaluate_hpatches_tasks", "patch_parts", "paper_steps", "step_learning_rate", "steps_per_epoch"]
