"""A ``torch.utils.data.Dataset`` over retrieval ``(img_path, label)`` items; images are read by
``dmlrepro.data.image_dataset.read_image``, which refuses truncated or unreadable files."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PIL import Image
from torch.utils.data import Dataset

from dmlrepro.data.image_dataset import read_image
from dmlrepro.data.retrieval.retrieval_dataset import Item


class RetrievalImageDataset(Dataset):
    """``(transform(image), label)`` for each ``(img_path, label)`` in ``items``."""

    def __init__(self, items: Sequence[Item], transform: Callable[[Image.Image], Any] | None = None):
        self.items = list(items)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.items)

    @property
    def labels(self) -> list[int]:
        """The label of every item, in order (for class-balanced samplers)."""
        return [label for _, label in self.items]

    def __getitem__(self, index: int) -> tuple[Any, int]:
        path, label = self.items[index]
        image = read_image(path)
        if self.transform is not None:
            image = self.transform(image)
        return image, label
