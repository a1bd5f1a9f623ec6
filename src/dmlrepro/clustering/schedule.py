"""When Divide and Conquer clusters, re-clusters and fine-tunes (004_82c542c12fef7e00.txt, §1; the
main paper's Sec. 3.3 is not in the folder; the public code's ``train.py`` / ``experiment.py``).

Epochs are 0-based, and each event happens at the *start* of its epoch, before any batch:

* epoch 0: the first clustering (of the initial, ImageNet-initialised network);
* every epoch e > 0 with e % T == 0, while e < ``finetune_epoch``: re-clustering (§1, "every T
  epochs"; T = 2 in the code);
* from ``finetune_epoch`` on: the final fine-tuning, in which one learner, the full embedding
  (the concatenated learners re-normalised as a whole), trains on all the data.  The code's README
  runs 200 epochs with ``finetune_epoch = 190`` (its ``config.json`` says 100).

``full_embedding_from`` says from when the *loss* sees the full embedding: ``finetune`` (default)
from ``finetune_epoch``, together with the switch to all data; ``code`` from epoch
``finetune_epoch · 8/19`` (epoch 80 of 190), while the data is still clustered and every learner's
batches train the full embedding (``train.py``'s ``train_batch``).

The baseline (K = 1) never clusters; its one learner is the full embedding throughout.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Final

from dmlrepro.errors import UserError

FULL_EMBEDDING_FROM: Final[tuple[str, ...]] = ("finetune", "code")


def _int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < minimum:
        raise UserError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class DivideAndConquerSchedule:
    """Args: ``num_epochs``; ``num_learners`` K; ``recluster_every`` T (``None``: cluster once, at
    epoch 0); ``finetune_epoch`` (``None``: no fine-tuning phase); ``full_embedding_from``."""

    num_epochs: int
    num_learners: int
    recluster_every: int | None = 2
    finetune_epoch: int | None = None
    full_embedding_from: str = "finetune"

    def __post_init__(self) -> None:
        _int(self.num_epochs, "num_epochs", 1)
        _int(self.num_learners, "num_learners", 1)
        if self.full_embedding_from not in FULL_EMBEDDING_FROM:
            raise UserError(f"full_embedding_from: unknown choice {self.full_embedding_from!r}; "
                            f"valid: {', '.join(FULL_EMBEDDING_FROM)}")
        if self.finetune_epoch is not None:
            _int(self.finetune_epoch, "finetune_epoch", 0)
            if self.finetune_epoch > self.num_epochs:
                raise UserError(f"finetune_epoch {self.finetune_epoch} is after the last of {self.num_epochs} epochs; "
                                f"set finetune_epoch <= {self.num_epochs} or null")
        elif self.full_embedding_from == "code":
            raise UserError("full_embedding_from: code switches at finetune_epoch·8/19; set a finetune_epoch")
        if self.recluster_every is not None:
            period = _int(self.recluster_every, "recluster_every (T)", 1)
            clustered = self.clustered_epochs
            if self.num_learners > 1 and period >= clustered:
                raise UserError(
                    f"recluster_every T={period} is not below the {clustered} clustered epoch(s) "
                    f"(before fine-tuning), so no re-clustering would happen; set T < {clustered}, "
                    "or recluster_every: null to cluster once"
                )

    @property
    def clustered_epochs(self) -> int:
        """Epochs before the fine-tuning phase (all of them without one)."""
        return self.num_epochs if self.finetune_epoch is None else self.finetune_epoch

    def clusters_at(self, epoch: int) -> bool:
        """Whether the data is (re-)clustered at the start of ``epoch``."""
        if self.num_learners == 1 or epoch >= self.clustered_epochs:
            return False
        if epoch == 0:
            return True
        return self.recluster_every is not None and epoch % self.recluster_every == 0

    def cluster_epochs(self) -> list[int]:
        return [e for e in range(self.num_epochs) if self.clusters_at(e)]

    def in_finetune(self, epoch: int) -> bool:
        """Whether ``epoch`` belongs to the final fine-tuning (one learner, all data)."""
        return self.num_learners > 1 and self.finetune_epoch is not None and epoch >= self.finetune_epoch

    def learners_at(self, epoch: int) -> int:
        """How many data partitions (and learners' losses) ``epoch`` trains: K, or 1 in fine-tuning."""
        return 1 if self.num_learners == 1 or self.in_finetune(epoch) else self.num_learners

    def loss_on_full_embedding(self, epoch: int) -> bool:
        """Whether the loss of ``epoch``'s batches takes the full embedding instead of a learner's slice."""
        if self.num_learners == 1 or self.in_finetune(epoch):
            return True
        if self.full_embedding_from == "code":
            return epoch >= math.ceil(self.finetune_epoch * 8 / 19)
        return False
