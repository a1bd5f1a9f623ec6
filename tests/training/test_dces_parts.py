"""Divide and Conquer's training parts (training/dces_parts.py, 004_82c542c12fef7e00.txt §1-2) through
the one engine at tiny scale: a run killed after a re-clustering resumes on the same assignment and
ends bitwise equal to an uninterrupted run (and would not without the checkpointed assignment);
batches come from one learner's cluster and train its slice; bad input never crashes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dmlrepro.errors import UserError
from dmlrepro.tasks.family import family_named
from dmlrepro.training.dces_parts import ClusterBatchSampler, dces_parts, evaluate_dces_retrieval, slice_protocols
from dmlrepro.training.engine import prepare_run, run_training


class Killed(Exception):
    """Stands for SIGKILL at the start of an epoch (after the previous epoch's checkpoint)."""


@pytest.fixture(scope="module")
def tiny_sop(tmp_path_factory) -> Path:
    from dmlrepro.data.retrieval.synthetic_retrieval import generate_retrieval_dataset

    root = tmp_path_factory.mktemp("sop")
    generate_retrieval_dataset(root, "sop", seed=0, num_train_classes=8, num_test_classes=6)
    return root


@pytest.fixture(scope="module")
def cell(tiny_sop, tiny_scale) -> dict:
    family = family_named("image_retrieval", "dces")
    resolved = family.resolve_cell({"model": "dces", "learners": 4, "embedding_dim": 16, "recluster_every": 2},
                                   "sop", tiny_scale, str(tiny_sop), "dces")
    # 5 epochs, no fine-tuning: (re-)clustering at the starts of epochs 0, 2 and 4 (0-based).
    resolved["training"] = {**resolved["training"], "epochs": 5, "finetune_epoch": 5, "eval_slices": 4,
                            "sampler": {"classes_per_batch": 2, "images_per_class": 2}, "batch_size": 4}
    family.validate_cell(resolved)
    return resolved


def train(cell: dict, out: Path, ckpt: Path, kill_at: int | None = None, forget_assignment: bool = False) -> dict:
    device, flags = prepare_run(1, "cpu", 0)

    def build(device_, fresh):
        parts = dces_parts(cell, 0, device_, fresh)
        if kill_at is not None:
            def kill(epoch):
                if epoch == kill_at:
                    raise Killed(epoch)
            parts.callbacks.append(kill)
        if forget_assignment:
            parts.load_extra_state = lambda state: None
        return parts

    return run_training(cell, 0, out, ckpt, build, device, flags, 0.0, progress=False)


def _comparable(record: dict) -> dict:
    return {"metrics": record["metrics"], "history": record["history"], "clustering": record["clustering"]}


@pytest.fixture(scope="module")
def uninterrupted(cell, tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("uninterrupted")
    return train(cell, tmp / "out", tmp / "ckpt")


def test_resume_after_a_reclustering_is_exact(cell, uninterrupted, tmp_path):
    rounds = uninterrupted["clustering"]["rounds"]
    assert [r["epoch"] for r in rounds] == [0, 2, 4]
    assert rounds[1]["matching"]["cost"] == "iou"
    with pytest.raises(Killed):
        train(cell, tmp_path / "out", tmp_path / "ckpt", kill_at=3)  # killed after epoch 2's re-clustering
    saved = torch.load(tmp_path / "ckpt" / "last.pt", map_location="cpu", weights_only=False)
    assert saved["epoch"] == 3 and len(saved["extra_state"]["assignment"]["rounds"]) == 2
    resumed = train(cell, tmp_path / "out", tmp_path / "ckpt")
    assert resumed["provenance"]["start"] == "resume" and resumed["provenance"]["resumed_from_epoch"] == 3
    assert json.dumps(_comparable(resumed), sort_keys=True) == json.dumps(_comparable(uninterrupted), sort_keys=True)


def test_resume_without_the_checkpointed_assignment_differs(cell, uninterrupted, tmp_path):
    """The control: the same kill and resume, with the assignment not loaded back, trains epoch 3 on
    no cluster at all (every sample unassigned), so the exactness above rests on the checkpoint."""
    with pytest.raises(Killed):
        train(cell, tmp_path / "out", tmp_path / "ckpt", kill_at=3)
    resumed = train(cell, tmp_path / "out", tmp_path / "ckpt", forget_assignment=True)
    assert resumed["history"][3]["learner_batches"] == [0, 0, 0, 0]
    assert resumed["history"][3] != uninterrupted["history"][3]


def test_each_batch_comes_from_one_cluster_and_trains_its_learner(cell):
    device, _ = prepare_run(1, "cpu", 0)
    parts = dces_parts(cell, 0, device, True)
    parts.callbacks[0](0)  # the first clustering
    labels = np.array([label for _, label in parts.train_set.dataset.items])
    sampler = parts.batch_sampler(parts.train_set, 0, 0)
    assignment = parts.extra_state()["assignment"]
    clusters, trained = assignment["clusters"].numpy(), assignment["trained"].numpy()
    assert len(sampler) > 0
    for batch in sampler:
        assert len(set(clusters[batch])) == 1 and trained[batch].all()
        assert len(set(labels[batch])) >= 2  # positives and negatives
    # A batch's gradient reaches only its learner's rows of the embedding layer.
    batch = next(iter(torch.utils.data.DataLoader(parts.train_set, batch_sampler=sampler)))
    learner = int(clusters[int(batch[2][0])])
    loss, _ = parts.loss_step(batch)
    loss.backward()
    grad = parts.model.embedding.weight.grad.abs().sum(dim=1)
    rows = parts.model.slices[learner]
    assert grad[rows].sum() > 0
    assert torch.count_nonzero(torch.cat([grad[: rows.start], grad[rows.stop:]])) == 0


def test_an_empty_cluster_or_singleton_classes_give_no_batch_and_are_counted():
    labels = np.array([0, 0, 1, 2, 2, 3, 4, 4])
    groups = [np.array([0, 1, 3, 4]), np.array([], dtype=np.int64), np.array([2, 5]), np.array([6, 7])]
    sampler = ClusterBatchSampler(groups, labels, classes_per_batch=2, images_per_class=2, seed=0, epoch=0)
    # group 0: classes 0 and 2 with two images each -> one batch; group 1 empty; group 2 two
    # single-image classes; group 3 one class only (no negative): no batch, no error.
    assert [len(b) for b in sampler.per_learner] == [1, 0, 0, 0]
    assert sorted(sampler.batches[0]) == [0, 1, 3, 4]


def test_sampler_is_a_function_of_seed_and_epoch():
    labels = np.repeat(np.arange(6), 4)
    groups = [np.arange(12), np.arange(12, 24)]
    a = ClusterBatchSampler(groups, labels, 2, 2, seed=3, epoch=1).batches
    assert a == ClusterBatchSampler(groups, labels, 2, 2, seed=3, epoch=1).batches
    assert a != ClusterBatchSampler(groups, labels, 2, 2, seed=3, epoch=2).batches
    # round-robin: learner 0's batches alternate with learner 1's
    owners = [0 if max(b) < 12 else 1 for b in a]
    assert owners[:4] == [0, 1, 0, 1]


def test_evaluation_protocols_from_one_embedding():
    """Slices, prefixes and the mean equal Recall@1 computed on the cut embeddings by hand."""
    from dmlrepro.evaluation.recall_at_k import recall_at_k

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(40, 32, generator=gen)
    labels = torch.arange(40) // 4
    metrics = evaluate_dces_retrieval(x, labels.tolist(), None, None, 4, (1, 10))
    assert list(metrics["protocols"]) == slice_protocols(32, 4)
    for name, (a, b) in {"dims@9-16": (8, 16), "dims@1-24": (0, 24)}.items():
        expected = 100 * recall_at_k(x[:, a:b], labels, ks=(1,)).recall[1]
        assert metrics["protocols"][name]["recall@1"] == pytest.approx(expected)
    mean = np.mean([metrics["protocols"][f"dims@{8 * k + 1}-{8 * k + 8}"]["recall@1"] for k in range(4)])
    assert metrics["protocols"]["slices_mean"]["recall@1"] == pytest.approx(mean)
    assert metrics["recall@1"] == pytest.approx(metrics["protocols"]["dims@1-32"]["recall@1"])
    assert 0 < metrics["corr_coeff"] < 1
    assert len(metrics["learner_examples"]["queries"]) == 4


def test_t_not_below_the_clustered_epochs_is_one_line(cell):
    bad = {**cell, "recluster_every": 5}
    with pytest.raises(UserError) as info:
        family_named("image_retrieval", "dces").validate_cell(bad)
    assert "recluster_every T=5" in str(info.value) and "\n" not in str(info.value)


def test_fig_s1_rows_start_with_the_queries_the_text_admits():
    """learner_candidates: those of specialised_queries (R@1 = 1 here, R@30 = 0 elsewhere) first, in
    its order, then the next hardest with R@1 = 1 here."""
    from dmlrepro.evaluation.embedding_slices import specialised_queries
    from dmlrepro.training.dces_parts import learner_candidates

    ranks = np.array([[1, 1, 1, 5, 1, 1], [40, 2, 31, 1, 50, 0], [35, 60, 31, 1, 3, 9]])
    rows = [learner_candidates(ranks, k, 10).tolist() for k in range(3)]
    strict = [s.tolist() for s in specialised_queries(list(ranks), 10, 1, 30)]
    assert strict[0] == [0, 2] and rows[0] == [0, 2, 4, 1]  # 5 is excluded (rank 0: no positive)
    assert rows[1] == rows[2] == [3] and strict[1] == strict[2] == []


@pytest.mark.parametrize("epoch", range(5))
def test_an_epoch_sees_each_image_at_most_once_and_leaves_out_one_class_at_most(epoch):
    labels = np.array([0] * 5 + [1] * 2 + [2] * 7 + [3] * 3 + [4])
    sampler = ClusterBatchSampler([np.arange(len(labels))], labels, classes_per_batch=2, images_per_class=4,
                                  seed=0, epoch=epoch)
    seen = [i for b in sampler.batches for i in b]
    assert len(seen) == len(set(seen))
    left = sorted(set(range(len(labels) - 1)) - set(seen))  # class 4's single image is never drawn
    assert len(set(labels[left])) <= 1  # chunks left when only one class still has some
    for batch in sampler.batches:
        counts = np.bincount(labels[batch])
        assert len(set(labels[batch])) == 2 and counts[counts > 0].min() >= 2 and counts.max() <= 4
