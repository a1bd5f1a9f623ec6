"""Training pairs and augmentation for the local-descriptor rows (001_5fbd5da13318fd56.txt,
Implementation Details: "We apply data augmentation by random flipping and 90° rotation ... We use
the same positive pairs and negative pairs sampling strategy and extract 5000K pairs").

The sampling strategy of HardNet and RAL-Net (``DagnyT/hardnet`` ``code/HardNet.py``
``TripletPhotoTour.generate_triplets``; ``xuyanwu/RAL-Net`` ``Get_data.py``, the same; read, not
copied): pair k draws a 3-D point uniformly among those not yet drawn in its window of
``batch_size`` consecutive pairs (the window restarts every ``batch_size`` pairs), then two
different patches of that point uniformly. Negatives are not sampled: the loss takes them from
the other pairs of the batch, which is why no point may repeat within a batch. Drawing a point
uniformly until it is new is drawing without replacement, which is what ``sample_pairs`` does per
window. Points with a single patch cannot form a pair and are left out (every Brown point has at
least two; HardNet's loop would not terminate on one).

Batches are the windows in order (HardNet's loader does not shuffle); RAL-Net's loader shuffles the
pairs (``shuffle=True``), which breaks the one-pair-per-point guarantee within a batch — noted, not
followed. HardNet draws new pairs for every epoch (its loaders are rebuilt after each one);
``sample_pairs`` with an epoch-specific generator does the same.

``flip_rotate`` is HardNet's ``--fliprot``: per pair, with probability 1/2 each and the same for
anchor and positive, transpose the patch and mirror it left-right; transpose then mirror is a
90° rotation, so a patch stays itself, is transposed, mirrored, or rotated by 90°.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import torch

from dmlrepro.errors import UserError

#: The paper's "5000K" pairs per epoch and HardNet's batch (RAL-Net's is 512).
PAPER_PAIRS: Final[int] = 5_000_000
HARDNET_BATCH: Final[int] = 1024
RALNET_BATCH: Final[int] = 512


def sample_pairs(labels: np.ndarray, num_pairs: int, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """``[num_pairs, 2]`` patch indices; no 3-D point twice within a window of ``batch_size``."""
    labels = np.asarray(labels)
    if num_pairs < 1 or batch_size < 2:
        raise UserError(f"need num_pairs >= 1 and batch_size >= 2, got {num_pairs} and {batch_size}")
    order = np.argsort(labels, kind="stable")
    points, starts, counts = np.unique(labels[order], return_index=True, return_counts=True)
    usable = counts >= 2
    starts, counts = starts[usable], counts[usable]
    if counts.size < batch_size:
        raise UserError(f"a batch of {batch_size} pairs needs {batch_size} 3-D points with two or more patches; "
                        f"the training subset has {counts.size}: lower the batch size")
    pairs = np.empty((num_pairs, 2), dtype=np.int64)
    for begin in range(0, num_pairs, batch_size):
        size = min(batch_size, num_pairs - begin)
        chosen = rng.choice(counts.size, size=size, replace=False)
        n = counts[chosen]
        first = rng.integers(0, n)
        second = rng.integers(0, n - 1)
        second = second + (second >= first)
        pairs[begin:begin + size, 0] = order[starts[chosen] + first]
        pairs[begin:begin + size, 1] = order[starts[chosen] + second]
    return pairs


def flip_rotate(anchors: torch.Tensor, positives: torch.Tensor, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """HardNet's flip-and-rotate of ``[B, 1, H, H]`` pair batches, one draw per pair for both."""
    if anchors.shape != positives.shape or anchors.ndim != 4 or anchors.shape[-1] != anchors.shape[-2]:
        raise UserError(f"flip_rotate takes two (batch, 1, H, H) tensors of one shape, got "
                        f"{tuple(anchors.shape)} and {tuple(positives.shape)}")
    batch = anchors.shape[0]
    rotate = torch.rand(batch, generator=generator) < 0.5
    flip = torch.rand(batch, generator=generator) < 0.5
    out = []
    for x in (anchors, positives):
        x = torch.where(rotate[:, None, None, None], x.transpose(-1, -2), x)
        out.append(torch.where(flip[:, None, None, None], x.flip(-1), x))
    return out[0], out[1]
