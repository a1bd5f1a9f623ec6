"""The P x K identity sampler for triplet training: every batch holds K images of each of P
identities (002_e585b7ac4801a221.txt, Sec. 4.3-4.4: triplets are mined within a mini-batch of
N_batch = 64; the paper gives neither P nor K).

Defaults P = 16, K = 4 (16 x 4 = 64): K = 4 is the released AiA-Net code's ``--num-instances``
default and torchreid's, and its batch of 64 then holds 16 identities (shared/notes/
implementation-facts.md §3).

Two ways to fill an epoch (``SAMPLER_MODES``):

``identity`` (default): every identity once per epoch, in a random order, with K of its images
    drawn without replacement; consecutive groups of P identities are the batches and a last
    group smaller than P is dropped. An epoch is floor(num_identities / P) batches (46 on
    Market-1501's 751 identities). This is the sampler the AiA-Net training script uses:
    ``RandomIdentitySampler(dataset.train, num_instances=4)`` with no batch-size argument, the
    open-reid / early deep-person-reid sampler, under a ``DataLoader(batch_size=64,
    drop_last=True)`` (``train_imgreid_xent_semitri.py``; its ``samplers.py`` is shipped only as
    a .pyc, so the body is inferred from that signature).
``all_images``: every image once per epoch, torchreid's current ``RandomIdentitySampler``: each
    identity's images are shuffled and cut into chunks of K (a last chunk smaller than K is
    dropped), and batches take the next chunk of P identities drawn at random among those with
    chunks left, until fewer than P remain (about num_images / 64 batches, ~200 on Market-1501).

An identity with fewer than K images (``SMALL_IDENTITY_RULES``): ``replace`` (default, as both
samplers above do) draws its K images with replacement, so an identity with one image contributes
K copies of it (identical without augmentation: the triplet loss then sees positives at distance
0); ``drop`` leaves such identities out of training; ``error`` raises a one-line UserError.

Determinism: the batches of an epoch are a function of (seed, epoch) alone, drawn from
``numpy.random.default_rng([seed, epoch])``, never from global random state, so a run resumed at
epoch e sees exactly the batches an uninterrupted run sees. Use it as
``DataLoader(dataset, batch_sampler=PKIdentitySampler(pids, seed=seed, epoch=epoch))`` or call
:meth:`set_epoch` before each epoch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Final

import numpy as np
from torch.utils.data import Sampler

from dmlrepro.errors import UserError

SAMPLER_MODES: Final[tuple[str, ...]] = ("identity", "all_images")
SMALL_IDENTITY_RULES: Final[tuple[str, ...]] = ("replace", "drop", "error")
DEFAULT_NUM_IDENTITIES: Final[int] = 16
DEFAULT_NUM_INSTANCES: Final[int] = 4


class PKIdentitySampler(Sampler[list[int]]):
    """Batches of ``num_identities`` (P) x ``num_instances`` (K) dataset indices.

    Args:
        pids: the training label of every dataset item, in dataset order (``[pid for _, pid, _
            in dataset.train]``; :meth:`from_items` does this).
        num_identities: P (16).
        num_instances: K (4).
        seed, epoch: the batches are a function of these two alone.
        mode: ``identity`` or ``all_images`` (module docstring).
        small_identities: ``replace``, ``drop`` or ``error`` for identities with fewer than K
            images.
    """

    def __init__(self, pids: Sequence[int], num_identities: int = DEFAULT_NUM_IDENTITIES,
                 num_instances: int = DEFAULT_NUM_INSTANCES, *, seed: int = 0, epoch: int = 0,
                 mode: str = "identity", small_identities: str = "replace") -> None:
        self.num_identities = _check_int(num_identities, "num_identities", 2)
        self.num_instances = _check_int(num_instances, "num_instances", 2)
        self.seed = _check_int(seed, "seed", 0)
        self.epoch = _check_int(epoch, "epoch", 0)
        if mode not in SAMPLER_MODES:
            raise UserError(f"unknown identity-sampler mode {mode!r}; valid: {', '.join(SAMPLER_MODES)}")
        if small_identities not in SMALL_IDENTITY_RULES:
            raise UserError(f"unknown small_identities rule {small_identities!r}; valid: "
                            f"{', '.join(SMALL_IDENTITY_RULES)}")
        self.mode, self.small_identities = mode, small_identities
        self.index_by_pid = _group(pids)
        small = [pid for pid, idx in self.index_by_pid.items() if len(idx) < self.num_instances]
        if small and small_identities == "error":
            raise UserError(
                f"{len(small)} identities have fewer than num_instances={self.num_instances} images "
                f"(pid {small[0]} has {len(self.index_by_pid[small[0]])}); set small_identities to "
                "'replace' (sample with replacement) or 'drop', or lower num_instances")
        if small_identities == "drop":
            dropped = set(small)
            self.index_by_pid = {p: i for p, i in self.index_by_pid.items() if p not in dropped}
        self.num_small_identities = len(small)
        if len(self.index_by_pid) < self.num_identities:
            raise UserError(
                f"only {len(self.index_by_pid)} training identities can be sampled, fewer than "
                f"num_identities={self.num_identities} per batch; lower num_identities")
        self._cache: tuple[int, list[list[int]]] | None = None

    @classmethod
    def from_items(cls, items: Sequence[tuple], **kwargs) -> PKIdentitySampler:
        """From ``(img_path, pid, camid)`` items (or tracklets), e.g. ``dataset.train``."""
        return cls([item[1] for item in items], **kwargs)

    @property
    def batch_size(self) -> int:
        return self.num_identities * self.num_instances

    def set_epoch(self, epoch: int) -> None:
        self.epoch = _check_int(epoch, "epoch", 0)

    def batches(self, epoch: int | None = None) -> list[list[int]]:
        """Every batch of ``epoch`` (default: the current one), in order."""
        epoch = self.epoch if epoch is None else _check_int(epoch, "epoch", 0)
        if self._cache is not None and self._cache[0] == epoch:
            return [list(b) for b in self._cache[1]]
        rng = np.random.default_rng([self.seed, epoch])
        batches = self._identity_batches(rng) if self.mode == "identity" else self._all_image_batches(rng)
        self._cache = (epoch, batches)
        return [list(b) for b in batches]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        if self.mode == "identity":
            return len(self.index_by_pid) // self.num_identities
        return len(self.batches())

    def _draw(self, rng: np.random.Generator, indices: np.ndarray) -> np.ndarray:
        return rng.choice(indices, size=self.num_instances, replace=len(indices) < self.num_instances)

    def _identity_batches(self, rng: np.random.Generator) -> list[list[int]]:
        pids = list(self.index_by_pid)
        order = rng.permutation(len(pids))
        batches, current = [], []
        for position in order:
            current.extend(int(i) for i in self._draw(rng, self.index_by_pid[pids[position]]))
            if len(current) == self.batch_size:
                batches.append(current)
                current = []
        return batches

    def _all_image_batches(self, rng: np.random.Generator) -> list[list[int]]:
        chunks: dict[int, list[list[int]]] = {}
        for pid, indices in self.index_by_pid.items():
            if len(indices) < self.num_instances:
                indices = rng.choice(indices, size=self.num_instances, replace=True)
            indices = rng.permutation(indices)
            usable = len(indices) - len(indices) % self.num_instances
            chunks[pid] = [[int(i) for i in indices[k:k + self.num_instances]]
                           for k in range(0, usable, self.num_instances)]
        available = list(chunks)  # insertion order = sorted pids, so the draw is reproducible
        batches = []
        while len(available) >= self.num_identities:
            chosen = rng.choice(len(available), size=self.num_identities, replace=False)
            batch = []
            for position in chosen:
                batch.extend(chunks[available[position]].pop(0))
            batches.append(batch)
            available = [pid for pid in available if chunks[pid]]
        return batches


def _group(pids: Sequence[int]) -> dict[int, np.ndarray]:
    """Dataset indices per pid, pids sorted."""
    array = np.asarray(pids)
    if array.ndim != 1 or len(array) == 0 or not np.issubdtype(array.dtype, np.integer):
        raise UserError("the identity sampler needs a non-empty list of integer pids, one per training item")
    return {int(pid): np.flatnonzero(array == pid) for pid in np.unique(array)}


def _check_int(value: object, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise UserError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)
