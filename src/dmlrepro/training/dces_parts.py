"""The training parts of a Divide and Conquer cell (004_82c542c12fef7e00.txt, §1-3) for the one
engine (`dmlrepro.training.engine`), shared by the image-retrieval family (SOP: Tab. S1, Figs.
S1-S2; ``families/dces.py``) and the re-ID family (Market-1501: Tab. S2; ``families/dces_reid.py``).

* model: ``models.divide_and_conquer`` — ResNet → GAP → dropout → linear to d = 128, cut into K
  contiguous slices, each L2-normalised on its own (one learner each); K = 1 is the baseline;
* schedule (``clustering.schedule``): the data is clustered at the start of epoch 0 and re-clustered
  at the start of every T-th epoch (§1, "every T epochs"; T is the cell's ``recluster_every``)
  until ``finetune_epoch``; from there one learner, the full embedding, trains on all the data
  (the state the model has at that epoch, same optimizer: fine-tuning continues the run).  The
  code's schedule, where the loss already sees the full embedding from ``finetune_epoch·8/19``,
  is ``full_embedding_from: code``;
* re-clustering (an engine callback): k-means into K clusters of the training set's embeddings
  (the test-time transform, eval mode), each new cluster matched to a learner by the linear
  assignment on the IoU of memberships (``clustering.assignment``; the code's penultimate features,
  Hamming cost and inverse mapping are preset options).  The training RNG is saved and restored
  around it, so clustering never shifts the random stream of the training;
* batches (``ClusterBatchSampler``): every batch comes from ONE learner's cluster, classes_per_batch
  classes × images_per_class images, learners interleaved round-robin (the code's per-cluster
  loaders); the batch trains that learner's slice only.  A class with a single image in a cluster
  is dropped there (the code's rule, ``drop_singleton_classes``); a cluster that comes out empty or
  with fewer than two classes of two images gives no batch that epoch — never an error — and is
  counted (``history[i]["idle_learners"]``, ``metrics.json`` ``clustering``);
* loss: one Margin loss per learner (``losses.margin_loss``; text: distance-weighted sampling and a
  learnable β; ``margin.variant: code``: closest negatives beyond 0.5, β fixed); in fine-tuning the
  full embedding with learner 0's loss (the code's K = 1 criterion);
* optimizer: Adam over backbone and embedding at ``lr`` (weight decay), the learnable β at
  ``beta_lr`` without decay; constant learning rate (the code's);
* state: the cluster assignment (every round's record) is ``extra_state``, so a run killed after a
  re-clustering resumes on exactly the same partition; the losses' sampling generators are saved
  with them (``extra_modules``);
* evaluation: one embedding pass of the test set (``evaluate_dces_retrieval``, ``evaluate_dces_reid``).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from dmlrepro.clustering import ClusterAssignment, DivideAndConquerSchedule, drop_singleton_classes
from dmlrepro.errors import UserError
from dmlrepro.training.determinism import restore_rng_state, rng_state
from dmlrepro.training.engine import TrainingParts

log = logging.getLogger("dmlrepro.train")

#: Fig. S1 (§2): "R@1 = 1" for one learner, "R@30 = 0" for every other, 10 queries per learner.
FIG_S1_HIT_RANK, FIG_S1_MISS_BEYOND, FIG_S1_PER_LEARNER = 1, 30, 10


# --------------------------------------------------------------------------------- the sampler


class ClusterBatchSampler(Sampler[list[int]]):
    """One epoch's batches: for every learner k, batches drawn from ``groups[k]`` (the indices it
    trains on) only; the learners' batch lists interleaved round-robin (k = 0, 1, …, K−1, 0, …).

    Within a group, each class's n images are shuffled and cut into min(⌈n/m⌉, ⌊n/2⌋) nearly equal
    chunks (m = ``images_per_class``): every chunk holds at least 2 and at most m images (3 when
    m = 2), so a class of 5 gives chunks of 3 and 2, and an image is seen at most once (SOP's
    classes have 2-12 images; the code's class-balanced sampler draws 4 per class, how it treats
    the rest is not reproduced); then, while at least two classes have chunks left, up to
    ``classes_per_batch`` of them are drawn at random and give one chunk each (the chunks of a class
    left alone at the end are not seen that epoch).  A group with fewer than two classes of two images gives no batch (the
    margin loss needs a positive and a negative).  A function of (seed, epoch) alone.
    """

    def __init__(self, groups: Sequence[np.ndarray], labels: np.ndarray, classes_per_batch: int,
                 images_per_class: int, seed: int, epoch: int) -> None:
        rng = np.random.default_rng([int(seed), int(epoch), 0xDC])
        labels = np.asarray(labels)
        self.per_learner = [self._group_batches(rng, np.asarray(g, dtype=np.int64), labels,
                                                classes_per_batch, images_per_class) for g in groups]
        self.batches: list[list[int]] = []
        for i in range(max((len(b) for b in self.per_learner), default=0)):
            for b in self.per_learner:
                if i < len(b):
                    self.batches.append(b[i])

    @staticmethod
    def _group_batches(rng: np.random.Generator, indices: np.ndarray, labels: np.ndarray, p: int, m: int) -> list[list[int]]:
        by_class: dict[int, list[np.ndarray]] = {}
        order = indices[np.argsort(labels[indices], kind="stable")]
        classes, starts = np.unique(labels[order], return_index=True)
        for label, members in zip(classes, np.split(order, starts[1:])):
            members = rng.permutation(members)
            if len(members) < 2:
                continue
            by_class[int(label)] = np.array_split(members, min(-(-len(members) // m), len(members) // 2))
        batches = []
        while sum(1 for c in by_class.values() if c) >= 2:
            available = sorted(k for k, c in by_class.items() if c)
            chosen = rng.choice(available, size=min(p, len(available)), replace=False)
            batches.append([int(i) for label in chosen for i in by_class[int(label)].pop()])
        return batches

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class IndexedDataset(Dataset):
    """(image, label, dataset index) of a dataset whose items start with (image, label, …): the
    index tells the loss step which learner's cluster a batch came from."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        item = self.dataset[index]
        return item[0], item[1], index


# ------------------------------------------------------------------------------ the pieces


def build_schedule(cell: dict) -> DivideAndConquerSchedule:
    """The cell's schedule; a T not below the clustered epochs is a one-line error."""
    training = cell["training"]
    k = cell["model"]["num_learners"]
    try:
        return DivideAndConquerSchedule(
            num_epochs=training["epochs"], num_learners=k,
            recluster_every=cell.get("recluster_every") if k > 1 else None,
            finetune_epoch=training["finetune_epoch"] if k > 1 else None,
            full_embedding_from=training["full_embedding_from"] if k > 1 else "finetune")
    except UserError as exc:
        raise UserError(f"{cell['paper']} cell on {cell['dataset']} (scale {cell['scale']}): {exc} "
                        f"(recluster_every is the spec's, epochs/finetune_epoch config/presets/{cell['paper']}*.yaml)") from None


def model_config(cell: dict) -> dict:
    training = cell["training"]
    return {**cell["model"], "backbone": training["backbone"], "dropout": training["dropout"],
            "freeze_bn": training["freeze_bn"], "init": training["init"]}


def build_losses(cell: dict, seed: int) -> torch.nn.ModuleList:
    """One Margin loss per learner (§2, [7]), each with its own seeded sampling generator."""
    from dmlrepro.losses.margin_loss import MarginLoss

    m = cell["training"]["margin"]
    return torch.nn.ModuleList(
        MarginLoss(margin=m["margin"], beta=m["beta"], variant=m["variant"], cutoff=m["cutoff"],
                   nonzero_loss_cutoff=m["nonzero_loss_cutoff"], seed=seed * 1009 + k)
        for k in range(cell["model"]["num_learners"]))


def build_optimizer(model, losses: torch.nn.ModuleList, training: dict) -> torch.optim.Adam:
    """Adam (the code's): backbone and embedding at lr with weight decay; learnable β's at beta_lr."""
    opt = training["optimizer"]
    groups = [{"params": params, "lr_mult": 1.0, "name": name, "weight_decay": opt["weight_decay"]}
              for name, params in model.parameter_groups().items() if params]
    betas = [p for p in losses.parameters() if p.requires_grad]
    if betas:
        groups.append({"params": betas, "lr_mult": training["margin"]["beta_lr"] / opt["lr"], "name": "beta",
                       "weight_decay": 0.0})
    optimizer = torch.optim.Adam(groups, lr=opt["lr"])
    for group in optimizer.param_groups:
        group["lr"] = opt["lr"] * group["lr_mult"]
    return optimizer


@torch.no_grad()
def embed(model, dataset: Dataset, device: torch.device, batch_size: int, features: str = "embedding") -> torch.Tensor:
    """Every item's embedding (``forward``: the K unit-norm learners concatenated) or the code's
    normalised penultimate features, in eval mode, in dataset order."""
    was_training = model.training
    model.eval()
    out = []
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        images = batch[0].to(device)
        out.append((model(images) if features == "embedding" else model.penultimate(images)).float().cpu())
    model.train(was_training)
    return torch.cat(out)


# ------------------------------------------------------------------------------ evaluation


def slice_protocols(dim: int, num_slices: int) -> list[str]:
    """The protocol names of one cell's evaluation: ``dims@a-b`` (1-based, inclusive) for each of
    the ``num_slices`` slices and for each first-m prefix (m = d/S, 2d/S, …, d), and
    ``slices_mean``."""
    width = dim // num_slices
    names = [f"dims@{k * width + 1}-{(k + 1) * width}" for k in range(num_slices)]
    names += [f"dims@1-{m}" for m in range(2 * width, dim + 1, width)]
    return names + ["slices_mean"]


def learner_candidates(ranks: np.ndarray, k: int, count: int) -> np.ndarray:
    """Fig. S1's row of learner k: up to ``count`` queries with R@1 = 1 in slice k, those hardest for
    the other slices first (largest smallest first-positive rank among them), then by index.  The
    queries the text's rule admits (R@30 = 0 in every other slice) come first, in the order of
    ``embedding_slices.specialised_queries``; when fewer than ``count`` qualify (small test sets)
    the row goes on with the next hardest, which ``meets_rule`` marks as not qualifying."""
    evaluated = (ranks > 0).all(axis=0)
    chosen = np.flatnonzero(evaluated & (ranks[k] <= FIG_S1_HIT_RANK))
    others = np.delete(ranks, k, axis=0)[:, chosen].min(axis=0)
    return chosen[np.lexsort((chosen, -others))][:count]


def evaluate_dces_retrieval(query: torch.Tensor, query_labels: Sequence[int], reference: torch.Tensor | None,
                            reference_labels: Sequence[int] | None, num_slices: int, ks: Sequence[int],
                            query_paths: Sequence[str] | None = None) -> dict:
    """Tab. S1, Figs. S1 and S2 from one embedding of the test set.

    Flat metrics (the standard protocol, "All together"): Recall@K of the whole embedding;
    ``corr_coeff``: the mean |Pearson| between dimensions of different slices over the query set
    (``evaluation.embedding_slices.learner_correlation``; ``corr_coeff_rv`` the RV alternative).
    ``protocols``: ``dims@a-b`` — Recall@K of dimensions a..b alone (re-normalised: ranked by that
    slice's own cosine), for each slice (Tab. S1's learners) and each first-m prefix (Fig. S2);
    ``slices_mean`` — the mean over the slices (Tab. S1's "Mean").  ``learner_examples``: per slice
    the queries with R@1 = 1 there and R@30 = 0 in every other slice (Fig. S1; ``learner_candidates``)."""
    from dmlrepro.evaluation.embedding_slices import embedding_slices, learner_correlation, specialised_queries
    from dmlrepro.evaluation.recall_at_k import LEAVE_ONE_OUT, QUERY_GALLERY, recall_at_k

    dim = query.shape[1]
    slices = embedding_slices(dim, num_slices)
    protocol = LEAVE_ONE_OUT if reference is None else QUERY_GALLERY

    def run(first: int, last: int):
        ref = None if reference is None else reference[:, first:last]
        return recall_at_k(query[:, first:last], query_labels, ref, reference_labels, ks=tuple(ks), protocol=protocol)

    def percent(result) -> dict:
        return {f"recall@{k}": 100.0 * v for k, v in result.recall.items()}

    per_slice = [run(s.start, s.stop) for s in slices]
    protocols = {f"dims@{s.start + 1}-{s.stop}": percent(r) for s, r in zip(slices, per_slice)}
    width = slices[0].stop
    whole = None
    for m in range(2 * width, dim + 1, width):
        result = run(0, m)
        protocols[f"dims@1-{m}"] = percent(result)
        whole = result
    whole = whole or per_slice[0]
    protocols["slices_mean"] = {key: float(np.mean([protocols[f"dims@{s.start + 1}-{s.stop}"][key] for s in slices]))
                                for key in protocols[f"dims@1-{width}"]}
    metrics: dict[str, Any] = dict(percent(whole))
    correlation = learner_correlation(query, num_slices)
    metrics.update(corr_coeff=correlation.value, corr_coeff_rv=learner_correlation(query, num_slices, "rv").value,
                   corr_constant_dims=correlation.constant_dims, num_queries=whole.num_queries,
                   num_excluded_queries=whole.num_excluded, protocol=whole.protocol, protocols=protocols)
    ranks = np.stack([r.first_positive_rank for r in per_slice])
    qualifying = specialised_queries(list(ranks), len(query_labels), FIG_S1_HIT_RANK, FIG_S1_MISS_BEYOND)
    shown = [learner_candidates(ranks, k, FIG_S1_PER_LEARNER) for k in range(len(slices))]
    metrics["learner_examples"] = {
        "hit_rank": FIG_S1_HIT_RANK, "miss_beyond": FIG_S1_MISS_BEYOND, "per_learner": FIG_S1_PER_LEARNER,
        "queries": [[int(q) for q in c] for c in shown],
        "paths": [[str(query_paths[q]) for q in c] for c in shown] if query_paths is not None else None,
        "ranks": [[[int(v) for v in ranks[:, q]] for q in c] for c in shown],
        "meets_rule": [[bool(np.delete(ranks[:, q], k).min() > FIG_S1_MISS_BEYOND) for q in c] for k, c in enumerate(shown)],
        "qualifying": [int(len(c)) for c in qualifying],
    }
    return metrics


def evaluate_dces_reid(model, data, query_set, gallery_set, device, batch_size: int) -> dict:
    """Tab. S2: Market-1501 single-query CMC rank-1/5/10 and mAP (percent) on the full embedding
    (the concatenated learners re-normalised as a whole; squared Euclidean = cosine ranking)."""
    from dmlrepro.evaluation import evaluate_market1501, pairwise_distance

    q = torch.nn.functional.normalize(embed(model, query_set, device, batch_size), dim=1)
    g = torch.nn.functional.normalize(embed(model, gallery_set, device, batch_size), dim=1)
    distances = pairwise_distance(q, g, metric="sqeuclidean").numpy()
    result = evaluate_market1501(distances, [pid for _, pid, _ in data.query], [pid for _, pid, _ in data.gallery],
                                 [cam for _, _, cam in data.query], [cam for _, _, cam in data.gallery])
    metrics = result.as_percent_dict(ranks=(1, 5, 10))
    metrics["num_valid_queries"] = result.num_valid_queries
    return metrics


# ------------------------------------------------------------------------------ the data


def _retrieval_data(cell: dict, batch_size: int):
    from dmlrepro.data.retrieval import RetrievalImageDataset, build_retrieval_dataset
    from dmlrepro.training.retrieval_parts import RECALL_KS, retrieval_transforms

    training = cell["training"]
    data = build_retrieval_dataset(cell["dataset"], cell["data_root"])
    log.info("%s", data.summary())
    train = RetrievalImageDataset(data.train, retrieval_transforms(training, train=True))
    train_eval = RetrievalImageDataset(data.train, retrieval_transforms(training, train=False))
    labels = np.asarray([label for _, label in data.train], dtype=np.int64)

    def evaluate(model, device):
        queries, references, exclude_self = data.retrieval_sets()
        test = retrieval_transforms(training, train=False)
        q = embed(model, RetrievalImageDataset(queries, test), device, batch_size)
        r = None if exclude_self else embed(model, RetrievalImageDataset(references, test), device, batch_size)
        return evaluate_dces_retrieval(q, [lb for _, lb in queries], r,
                                       None if exclude_self else [lb for _, lb in references],
                                       training["eval_slices"], RECALL_KS, [str(p) for p, _ in queries])

    return train, train_eval, labels, data.num_train_classes, evaluate


def _reid_data(cell: dict, batch_size: int):
    from dmlrepro.data import ImageDataset, build_reid_dataset, build_transforms

    training = cell["training"]
    data = build_reid_dataset(cell["dataset"], cell["data_root"])
    log.info("%s", data.summary())
    height, width = training["input"]["height"], training["input"]["width"]
    test = build_transforms(height, width, train=False)
    train = ImageDataset(data.train, build_transforms(height, width, train=True))
    train_eval = ImageDataset(data.train, test)
    labels = np.asarray([pid for _, pid, _ in data.train], dtype=np.int64)

    def evaluate(model, device):
        return evaluate_dces_reid(model, data, ImageDataset(data.query, test), ImageDataset(data.gallery, test),
                                  device, batch_size)

    return train, train_eval, labels, data.num_train_pids, evaluate


# ------------------------------------------------------------------------------ the parts


def dces_parts(cell: dict, seed: int, device: torch.device, load_pretrained: bool, num_workers: int = 0,
               eval_batch_size: int | None = None) -> TrainingParts:
    """The engine's parts for one Divide and Conquer cell (module docstring)."""
    from dmlrepro.models.divide_and_conquer import build_divide_and_conquer_model

    training = cell["training"]
    schedule = build_schedule(cell)
    batch_size = eval_batch_size or training["eval_batch_size"]
    reader = _reid_data if cell["task"] == "reid" else _retrieval_data
    train, train_eval, labels, num_classes, evaluate_fn = reader(cell, batch_size)
    k = cell["model"]["num_learners"]
    model = build_divide_and_conquer_model(model_config(cell), load_pretrained=load_pretrained).to(device)
    losses = build_losses(cell, seed).to(device)
    clustering = training["clustering"]
    assignment = ClusterAssignment(labels, k, cost=clustering["cost"], mapping=clustering["mapping"],
                                   previous=clustering["previous"], niter=clustering["niter"],
                                   backend=clustering["backend"])
    sampler_cfg = training["sampler"]
    if sampler_cfg["classes_per_batch"] * sampler_cfg["images_per_class"] != training["batch_size"]:
        raise UserError(f"config/presets/{cell['paper']}*.yaml (scale {cell['scale']}): classes_per_batch x "
                        f"images_per_class must equal batch_size ({sampler_cfg} vs {training['batch_size']})")
    all_data, _ = drop_singleton_classes(np.zeros(len(labels), dtype=np.int64), labels, 1)
    state: dict[str, Any] = {"epoch": 0}
    counters: dict[str, Any] = defaultdict(int)

    def recluster(epoch: int) -> None:
        state["epoch"] = epoch
        if not schedule.clusters_at(epoch):
            return
        saved = rng_state()
        features = embed(model, train_eval, device, batch_size, clustering["features"])
        record = assignment.recluster(features.numpy(), epoch, clustering["features"])
        restore_rng_state(saved)
        log.info("epoch %d: clustered into %d (sizes %s, dropped %d samples of singleton classes)",
                 epoch + 1, k, record["sizes"], record["dropped_samples"])

    def groups(epoch: int) -> list[np.ndarray]:
        if schedule.learners_at(epoch) == 1:
            return [np.flatnonzero(all_data)]
        return [assignment.learner_indices(j) for j in range(k)]

    def batch_sampler(dataset, seed_: int, epoch: int):
        sampler = ClusterBatchSampler(groups(epoch), labels, sampler_cfg["classes_per_batch"],
                                      sampler_cfg["images_per_class"], seed_, epoch)
        counters["idle_learners"] = sum(1 for b in sampler.per_learner if not b)
        counters["learner_batches"] = [len(b) for b in sampler.per_learner]
        if not sampler.batches:
            log.warning("epoch %d has no batch: no cluster holds two classes of two images (counted, not trained)",
                        epoch + 1)
        return sampler

    def loss_step(batch):
        images, targets, indices = batch
        epoch = state["epoch"]
        learner = 0 if schedule.learners_at(epoch) == 1 else int(assignment.clusters[int(indices[0])])
        embedding = model(images.to(device))
        x = model.full_embedding(embedding) if schedule.loss_on_full_embedding(epoch) else model.learner_embedding(embedding, learner)
        loss_fn = losses[learner]
        loss = loss_fn(x, targets.to(device))
        counters["batches_without_triplets"] += int(loss_fn.last.get("triplets", 0) == 0)
        counters["fallback_anchors"] += int(loss_fn.last.get("fallback_anchors", 0))
        return loss, {"loss": loss.item()}

    def epoch_counters() -> dict:
        out = {"learners": schedule.learners_at(state["epoch"]),
               "full_embedding": schedule.loss_on_full_embedding(state["epoch"]), **counters}
        counters.clear()
        return out

    def record_extra(history: list[dict]) -> dict:
        rounds = assignment.rounds
        return {"clustering": {
            "schedule": {"recluster_every": schedule.recluster_every, "finetune_epoch": schedule.finetune_epoch,
                         "full_embedding_from": schedule.full_embedding_from, "cluster_epochs": schedule.cluster_epochs()},
            "rounds": rounds,
            "dropped_samples": sum(r["dropped_samples"] for r in rounds),
            "dropped_class_pairs": sum(r["dropped_class_pairs"] for r in rounds),
            "empty_learners": sum(r["empty_learners"] for r in rounds),
            "learners_without_pairs": sum(r["learners_without_pairs"] for r in rounds),
            "learners_without_negatives": sum(r["learners_without_negatives"] for r in rounds),
            "idle_learner_epochs": sum(h.get("idle_learners", 0) for h in history),
            "batches_without_triplets": sum(h.get("batches_without_triplets", 0) for h in history),
            "epochs_without_batches": sum(1 for h in history if not h.get("learner_batches") or not any(h["learner_batches"])),
        }}

    return TrainingParts(
        model=model,
        extra_modules={"losses": losses},
        train_set=IndexedDataset(train),
        batch_size=training["batch_size"],
        epochs=training["epochs"],
        batch_sampler=batch_sampler,
        loss_step=loss_step,
        build_optimizer=lambda: build_optimizer(model, losses, training),
        learning_rate=lambda epoch: training["optimizer"]["lr"],
        callbacks=[recluster],
        extra_state=lambda: {"assignment": assignment.state_dict()},
        load_extra_state=lambda saved: assignment.load_state_dict(saved["assignment"]) if "assignment" in saved else None,
        evaluate=lambda: evaluate_fn(model, device),
        model_record=lambda: {"num_classes": num_classes, "num_learners": k},
        grad_clip_norm=training["grad_clip_norm"],
        num_workers=num_workers,
        divergence_hint=f"lower optimizer.lr in config/presets/{cell['paper']}*.yaml (scale {cell['scale']}) or check the data",
        epoch_counters=epoch_counters,
        record_extra=record_extra,
    )
